"""Tests of cellpipe.replay: a record checked against the files on disk, and a replay refused or run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellpipe import replay
from cellpipe.provenance import (
    SCHEMA_VERSION,
    check_record,
    package_versions,
)

from .provenance_helpers import (
    CONFIG,
    MOVIE,
    WEIGHTS,
    current_check,
    sha,
    write_record,
)


def test_matching_record_passes(workdir: Path) -> None:
    record = write_record(workdir)
    check = current_check(record, workdir)
    assert check.ok and check.problems == [] and check.notes == []


def test_one_changed_byte_in_an_input_is_refused_naming_the_file(workdir: Path) -> None:
    record = write_record(workdir)
    movie = workdir / "data/movie.tif"
    data = bytearray(movie.read_bytes())
    data[-1] ^= 0x01
    movie.write_bytes(bytes(data))
    check = current_check(record, workdir)
    assert check.problems == [
        f"sample 's1': movie data/movie.tif: recorded sha256 {sha(MOVIE)} (15 bytes), "
        f"found sha256 {sha(bytes(data))} (15 bytes)"
    ]


def test_edited_version_is_refused_naming_the_package(workdir: Path) -> None:
    record = write_record(workdir)
    record["versions"]["scipy"] = "0.1.0"
    record["versions"]["no-such-distribution-xyz"] = "1.0"
    check = current_check(record, workdir)
    assert check.problems == [
        "sample 's1': package no-such-distribution-xyz: recorded 1.0, found not installed",
        f"sample 's1': package scipy: recorded 0.1.0, found {package_versions()['scipy']}",
    ]


def test_missing_changed_and_new_files_are_refused(workdir: Path) -> None:
    record = write_record(workdir)
    (workdir / "models/weights.pth").unlink()
    (workdir / "data/01_GT/TRA/man_track000.tif").write_bytes(b"truth 0, edited")
    (workdir / "data/01_GT/TRA/man_track001.tif").write_bytes(b"an extra frame")
    problems = current_check(record, workdir).problems
    assert len(problems) == 3, problems
    assert problems[0].startswith("sample 's1': ground_truth data/01_GT/TRA/man_track000.tif: recorded sha256 ")
    assert problems[1].startswith("sample 's1': ground_truth data/01_GT/TRA/man_track001.tif: not in the record")
    assert problems[2] == (
        f"sample 's1': model models/weights.pth: missing (recorded sha256 {sha(WEIGHTS)}, 9 bytes)"
    )


def test_a_changed_config_file_is_only_a_note(workdir: Path) -> None:
    """The replay runs with the resolved configuration in the record, so an edited config file does not stop it."""
    record = write_record(workdir)
    (workdir / "config/config.yaml").write_text("results: elsewhere\n")
    check = current_check(record, workdir)
    assert check.ok
    assert len(check.notes) == 1 and "config config/config.yaml: recorded sha256" in check.notes[0]


def test_record_of_a_newer_schema_is_refused() -> None:
    check = check_record({"sample": "s", "schema_version": SCHEMA_VERSION + 1, "inputs": []}, [], {})
    assert not check.ok and "schema_version" in check.problems[0]


def test_replay_refuses_before_running_anything(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A refused replay exits with 1 and one line per problem; snakemake is never started, nothing is written."""
    record = write_record(workdir)
    record["versions"]["numpy"] = "1.0.0"
    (workdir / "edited.json").write_text(json.dumps(record))
    (workdir / "data/movie.tif").write_bytes(b"another movie")

    def no_run(command):
        raise AssertionError("snakemake must not run")

    monkeypatch.setattr(replay, "run_snakemake", no_run)
    assert replay.main(["edited.json", "--results", "replayed"]) == replay.EXIT_REFUSED
    text = caplog.text
    assert "cellpipe replay refused for sample 's1': 2 difference(s)" in text
    assert "sample 's1': movie data/movie.tif: recorded sha256" in text
    assert f"sample 's1': package numpy: recorded 1.0.0, found {np.__version__}" in text
    assert not (workdir / "replayed").exists()


def test_replay_will_not_overwrite_the_original_results(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    write_record(workdir)
    monkeypatch.setattr(replay, "run_snakemake", lambda command: pytest.fail("snakemake must not run"))
    assert replay.main(["results/s1/provenance.json", "--results", "results", "--snakefile", __file__]) == replay.EXIT_REFUSED
    assert "is the recorded results folder" in caplog.text


def test_replay_runs_snakemake_with_the_recorded_config_then_compares_tables(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With everything matching, the replay writes the recorded config (results replaced), runs snakemake
    in the recorded working directory and compares the replayed tables with the recorded sha256."""
    record = write_record(workdir)
    snakefile = workdir / "Snakefile"
    snakefile.write_text("# stand-in\n")
    calls = []

    def fake_snakemake(command):
        calls.append(command)
        out = workdir / "replayed" / "s1"
        out.mkdir(parents=True, exist_ok=True)
        (out / "tracks.parquet").write_bytes(b"PAR1 tracks")
        (out / "counts.tsv").write_bytes(b"frame\tn_cells\n0\t4\n")  # one count differs
        (out / "provenance.json").write_text(json.dumps({**record, "device": "cpu"}))

        return 0

    monkeypatch.setattr(replay, "run_snakemake", fake_snakemake)
    code = replay.main(["results/s1/provenance.json", "--results", "replayed", "--snakefile", str(snakefile),
                        "--cores", "3", "--", "--keep-going"])
    assert code == replay.EXIT_OUTPUTS_DIFFER
    [command] = calls
    configfile = workdir / "replayed" / "replay" / "s1" / "config.yaml"
    assert command[1:] == [
        "--snakefile", str(snakefile), "--directory", str(workdir), "--configfile", str(configfile),
        "--replace-workflow-config", "--cores", "3", "--resources", "gpu=1", "--forceall", "--keep-going",
        "replayed/s1/provenance.json", "replayed/s1/report.html",
    ]
    import yaml

    assert yaml.safe_load(configfile.read_text()) == {**CONFIG, "results": "replayed"}
    assert "sample 's1': result counts.tsv: recorded sha256" in caplog.text
    assert "segmentation ran on cpu, the recorded run on cuda:0" in caplog.text
    comparison = json.loads((workdir / "replayed/replay/s1/comparison.json").read_text())
    assert comparison["identical"] is False and comparison["compared"] == ["counts.tsv", "tracks.parquet"]


def test_replay_helpers() -> None:
    record = {"config": {"results": "out/results/", "x": 1}}
    assert replay.default_results(record) == "out/results-replay"
    assert replay.replay_config(record, "r2") == {"results": "r2", "x": 1}
    assert record["config"]["results"] == "out/results/"  # not modified
    assert replay.replay_targets("r2", "s") == ["r2/s/provenance.json", "r2/s/report.html"]
    recorded = [{"path": "a.tsv", "sha256": "1"}, {"path": "b.tsv", "sha256": "2"}, {"path": "c.tsv", "sha256": "3"}]
    assert replay.output_differences("s", recorded, {"a.tsv": {"sha256": "1"}, "b.tsv": {"sha256": "9"}, "c.tsv": None}) == [
        "sample 's': result b.tsv: recorded sha256 2, replayed 9",
        "sample 's': result c.tsv: not written by the replay",
    ]


def test_replay_of_an_unreadable_record_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    assert replay.main([str(tmp_path / "bad.json")]) == replay.EXIT_USAGE
    assert replay.main([str(tmp_path / "missing.json")]) == replay.EXIT_USAGE
    assert "missing.json is not a readable provenance record" in caplog.text
