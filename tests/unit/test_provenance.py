"""Tests of cellpipe.provenance, cellpipe.io.checksums, rule record_provenance's step and the replay checks."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest

from cellpipe import layout, replay
from cellpipe.io.checksums import describe_path, file_sha256, files_under, tree_digest
from cellpipe.provenance import (
    SCHEMA_VERSION,
    VOLATILE_KEYS,
    benchmark_timings,
    build_record,
    check_record,
    deterministic_part,
    invocation_record,
    package_versions,
)
from cellpipe.steps.provenance import read_benchmarks, record_provenance_step

# A benchmark TSV as Snakemake writes it ("-" where it could not measure).
BENCHMARK = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "12.3456\t0:00:12\t532.41\t2694.51\t942.16\t978.22\t672.74\t1.19\t154.16\t18.444\n"
)
BENCHMARK_UNMEASURED = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n0.5\t0:00:00\t-\t-\t-\t-\t-\t-\t-\t-\n"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MOVIE = b"II*\x00movie bytes"
WEIGHTS = b"\x00\x01weights"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a movie, a CTC ground-truth folder, config files, a model, segmentation.json,
    result tables and benchmark records, laid out as the workflow would (the test runs inside it)."""
    monkeypatch.chdir(tmp_path)
    files = {
        "data/movie.tif": MOVIE,
        "data/01_GT/TRA/man_track000.tif": b"truth 0",
        "data/01_GT/TRA/man_track.txt": b"1 0 0 0\n",
        "data/01_GT/.hidden": b"metadata",
        "data/01_GT/.snakemake_timestamp": b"",
        "config/config.yaml": b"results: results\n",
        "config/samples.tsv": b"sample\tmovie\ns1\tdata/movie.tif\n",
        "resources/tracker.json": b"{}",
        "models/weights.pth": WEIGHTS,
        "results/s1/tracks.parquet": b"PAR1 tracks",
        "results/s1/counts.tsv": b"frame\tn_cells\n0\t3\n",
        "results/benchmarks/segment_cells/s1.tsv": BENCHMARK.encode(),
        "results/benchmarks/track_cells/s1.tsv": BENCHMARK_UNMEASURED.encode(),
    }
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    (tmp_path / "results/s1/segmentation.json").write_text(json.dumps({
        "method": "cellpose", "network": "cellpose3", "device": "cuda:0", "model_path": str(tmp_path / "models/weights.pth"),
        "model_sha256": sha(files["models/weights.pth"]), "builtin_model": None, "cellpose_version": "3.1.1.2",
        "torch_version": "2.13.0+cu128",
    }))
    return tmp_path


INPUTS = {
    "movie": "data/movie.tif",
    "ground_truth": ["data/01_GT"],
    "config": ["config/config.yaml"],
    "sample_sheet": "config/samples.tsv",
    "tracker_config": "resources/tracker.json",
    "model": ["models/weights.pth"],
    "segmentation_info": "results/s1/segmentation.json",
    "outputs": ["results/s1/tracks.parquet", "results/s1/counts.tsv"],
    "timings": ["results/benchmarks/segment_cells/s1.tsv", "results/benchmarks/track_cells/s1.tsv",
                "results/benchmarks/measure_cells/s1.tsv"],  # the last one does not exist
}
CONFIG = {"results": "results", "samples": "config/samples.tsv", "segment": {"method": "cellpose"}}


def write_record(workdir: Path, invocation: Path | None = None) -> dict:
    record_provenance_step("s1", INPUTS, CONFIG, "results/s1/provenance.json", invocation=invocation,
                           model_path="models/weights.pth")
    return json.loads((workdir / "results/s1/provenance.json").read_text())


# --------------------------------------------------------------------------- checksums


def test_file_and_folder_checksums_agree_with_hashlib(workdir: Path) -> None:
    assert file_sha256("data/movie.tif") == sha(MOVIE)
    empty = workdir / "empty.bin"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
    big = workdir / "big.bin"
    payload = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    big.write_bytes(payload)  # more than one 1 MiB block
    assert file_sha256(big) == sha(payload)

    entry = describe_path("movie", "data/movie.tif")
    assert entry == {"role": "movie", "path": "data/movie.tif", "type": "file", "bytes": 15, "sha256": sha(MOVIE)}
    # a folder: every file (hidden ones too, not Snakemake's timestamp), sorted, each with its sha256
    assert files_under("data/01_GT") == [".hidden", "TRA/man_track.txt", "TRA/man_track000.tif"]
    folder = describe_path("ground_truth", "data/01_GT")
    assert folder["type"] == "directory" and folder["bytes"] == len(b"metadata") + len(b"1 0 0 0\n") + len(b"truth 0")
    assert [f["sha256"] for f in folder["files"]] == [sha(b"metadata"), sha(b"1 0 0 0\n"), sha(b"truth 0")]
    lines = "".join(f"{p}\0{sha(d)}\n" for p, d in [(".hidden", b"metadata"), ("TRA/man_track.txt", b"1 0 0 0\n"),
                                                   ("TRA/man_track000.tif", b"truth 0")])
    assert folder["sha256"] == sha(lines.encode())
    renamed = [dict(f, path="TRA/x.tif") if f["path"] == "TRA/man_track000.tif" else f for f in folder["files"]]
    assert tree_digest(renamed) != folder["sha256"]
    # read relative to another working directory; a missing path says so
    assert describe_path("movie", "movie.tif", workdir / "data")["sha256"] == entry["sha256"]
    with pytest.raises(FileNotFoundError, match="no/such.tif"):
        describe_path("movie", "no/such.tif")


def test_package_versions_are_the_installed_ones() -> None:
    versions = package_versions()
    assert versions["python"] == platform.python_version()
    assert versions["numpy"] == np.__version__
    for name in ("cellpipe", "scipy", "pandas", "zarr", "ome-zarr", "torch", "cellpose", "btrack", "snakemake", "tifffile"):
        assert versions[name], name
    assert package_versions(("no-such-distribution-xyz",))["no-such-distribution-xyz"] is None


def test_benchmark_timings_parse_snakemake_benchmark_files(workdir: Path) -> None:
    rows = read_benchmarks(INPUTS["timings"])
    assert sorted(rows) == ["segment_cells", "track_cells"]  # the missing file is left out
    timings = benchmark_timings(rows)
    assert timings["segment_cells"] == {"seconds": 12.35, "max_rss_mb": 532.4, "cpu_seconds": 18.44}
    assert timings["track_cells"] == {"seconds": 0.5, "max_rss_mb": None, "cpu_seconds": None}


# --------------------------------------------------------------------------- the record


def test_record_holds_checksums_config_versions_model_device_command_timings(workdir: Path) -> None:
    invocation = workdir / "results/logs/snakemake_invocation.json"
    invocation.parent.mkdir(parents=True)
    argv = ["snakemake", "--cores", "2", "--config", "note=a b"]
    invocation.write_text(json.dumps(invocation_record(argv, str(workdir), "/wf/Snakefile", "9.27.1", None, "2026-01-01T00:00:00Z")))
    record = write_record(workdir, invocation)

    assert record["schema_version"] == SCHEMA_VERSION and record["sample"] == "s1"
    assert record["workdir"] == str(workdir)
    by_path = {e["path"]: e for e in record["inputs"]}
    assert [e["role"] for e in record["inputs"]] == ["movie", "ground_truth", "config", "sample_sheet", "tracker_config", "model"]
    for rel in ("data/movie.tif", "config/config.yaml", "config/samples.tsv", "resources/tracker.json", "models/weights.pth"):
        data = (workdir / rel).read_bytes()
        assert by_path[rel]["sha256"] == sha(data) and by_path[rel]["bytes"] == len(data), rel
    assert len(by_path["data/01_GT"]["files"]) == 3
    assert record["config"] == CONFIG
    assert record["versions"]["numpy"] == np.__version__ and record["versions"]["python"] == platform.python_version()
    assert record["model"] == {
        "method": "cellpose", "network": "cellpose3", "path": "models/weights.pth", "builtin_model": None,
        "sha256": sha(WEIGHTS), "cellpose_version": "3.1.1.2", "torch_version": "2.13.0+cu128",
    }
    assert record["device"] == "cuda:0"
    assert record["command"]["argv"] == argv
    assert record["command"]["command_line"] == "snakemake --cores 2 --config 'note=a b'"
    assert record["timings"]["segment_cells"]["seconds"] == 12.35
    assert record["outputs"] == [
        {"path": "counts.tsv", "bytes": 18, "sha256": sha(b"frame\tn_cells\n0\t3\n")},
        {"path": "tracks.parquet", "bytes": 11, "sha256": sha(b"PAR1 tracks")},
    ]
    # no invocation file (a run with --no-hooks): no command, and nothing else changes
    again = write_record(workdir, workdir / "results/logs/missing.json")
    assert again["command"] is None
    assert deterministic_part(again) == deterministic_part(record)
    assert set(record) - set(deterministic_part(record)) == set(VOLATILE_KEYS)


def test_build_record_is_deterministic_apart_from_date_command_timings() -> None:
    common = {
        "sample": "s", "workdir": "/w", "config": {"a": 1}, "versions": {"numpy": "2.0.2"},
        "segmentation_info": {"method": "classical"}, "model_path": None, "outputs": [],
        "inputs": [{"role": "model", "path": "b", "sha256": "1"}, {"role": "movie", "path": "a", "sha256": "2"}],
    }
    one = build_record(**common, timings={"x": {"seconds": 1.0}}, command={"argv": ["a"]}, created_utc="2026-01-01")
    two = build_record(**common, timings={"x": {"seconds": 2.0}}, command=None, created_utc="2026-02-02")
    assert one != two and deterministic_part(one) == deterministic_part(two)
    assert [e["role"] for e in one["inputs"]] == ["movie", "model"]  # listed in INPUT_ROLES order
    assert one["device"] == "none (classical)"


def test_record_shows_the_settings_each_job_used(workdir: Path) -> None:
    """job_settings: segment_frames' from segmentation.json (the row's diameter, the model file loaded),
    track_cells' from tracking.json; an output written before they were recorded gives null."""
    segment = {"method": "cellpose", "diameter_um": 9.5, "cellpose": {"model": "models/weights.pth"}}
    track = {"tracker_config": "resources/tracker.json", "max_search_radius_um": 20.0}
    info = workdir / "results/s1/segmentation.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "job_settings": segment}))
    (workdir / "results/s1/tracking.json").write_text(json.dumps({"n_tracks": 3, "settings": track}))
    inputs = {**INPUTS, "tracking_info": "results/s1/tracking.json"}
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    assert record["job_settings"] == {"segment_frames": segment, "track_cells": track}
    assert record["config"]["segment"] == {"method": "cellpose"}  # the configuration, beside what the jobs used
    assert "job_settings" in deterministic_part(record)
    assert write_record(workdir)["job_settings"] == {"segment_frames": segment, "track_cells": None}  # no tracking.json
    info.write_text(json.dumps({k: v for k, v in json.loads(info.read_text()).items() if k != "job_settings"}))
    assert write_record(workdir)["job_settings"] == {"segment_frames": None, "track_cells": None}


# --------------------------------------------------------------------------- replay checks


def current_check(record: dict, workdir: Path):
    return replay.check_against_disk(record, workdir)


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


# --------------------------------------------------------------------------- the movie as ingest read it (#23 item 2)


def ingest(movie: str, image: str, fmt: str = "auto") -> dict:
    """Run ingest_movie's step on ``movie``; returns the image's ``cellpipe`` attributes."""
    from cellpipe.io import omezarr
    from cellpipe.steps.ingest import ingest_movie_step

    ingest_movie_step(sample="s1", movie=movie, fmt=fmt, axes=None, pixel_size_um=0.5, frame_interval_min=5.0,
                      channel_names=[], settings={}, image=image)
    return omezarr.open_ome_image(image).attrs


def real_movie(workdir: Path, seed: int) -> bytes:
    """An OME-TIFF movie at data/movie.tif (3 frames of 32 x 32), its bytes returned."""
    from cellpipe.io.movies import write_ome_tiff

    frames = np.random.default_rng(seed).integers(0, 4000, (3, 32, 32), dtype=np.uint16)
    write_ome_tiff(workdir / "data/movie.tif", frames, 0.5, 5.0)
    return (workdir / "data/movie.tif").read_bytes()


def replace_keeping_mtime(path: Path, data: bytes) -> None:
    """What `cp -p other path` (or `rsync -a` from a backup) does: new bytes, the old modification time."""
    stat = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_ingest_records_the_checksum_of_the_bytes_it_read(workdir: Path) -> None:
    """The image's metadata holds the sha256 of the movie as read: for a TIFF the file's, for a CTC folder its
    frames' with the folder digest provenance uses (other files in the folder were not read)."""
    from cellpipe.io.ctc import write_ctc_movie

    data = real_movie(workdir, 0)
    attrs = ingest("data/movie.tif", "results/s1/image.ome.zarr")
    assert attrs["source_checksum"] == {"type": "file", "bytes": len(data), "sha256": sha(data)}

    write_ctc_movie(workdir / "data/ctc01", np.random.default_rng(1).integers(0, 255, (3, 32, 32), dtype=np.uint8))
    described = describe_path("movie", "data/ctc01")
    attrs = ingest("data/ctc01", "results/s2/image.ome.zarr", fmt="ctc")
    assert attrs["source_checksum"] == {k: described[k] for k in ("type", "bytes", "sha256", "files")}
    assert [f["path"] for f in attrs["source_checksum"]["files"]] == ["t000.tif", "t001.tif", "t002.tif"]
    (workdir / "data/ctc01/README.txt").write_text("not a frame")  # in the folder, never read
    again = ingest("data/ctc01", "results/s3/image.ome.zarr", fmt="ctc")
    assert again["source_checksum"] == attrs["source_checksum"]


def test_a_movie_replaced_with_its_mtime_restored_is_caught(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The scenario of issue #23 item 2: the results come from movie A; A is replaced by B with A's mtime
    (Snakemake reruns nothing); record_provenance then checksums B.  The record says the results do not come
    from B, the report says so, and a replay refuses, naming both checksums."""
    from cellpipe.report import as_read_text

    first = real_movie(workdir, 0)
    ingest("data/movie.tif", "results/s1/image.ome.zarr")
    inputs = {**INPUTS, "image": layout.path(layout.IMAGE, "results", sample="s1")}
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    assert record["as_read"][0] == {"role": "movie", "path": "data/movie.tif", "read_by": "ingest_movie", "sha256": sha(first),
                                    "bytes": len(first), "type": "file", "matches": True, "differences": []}
    assert current_check(record, workdir).ok
    assert "the movie file listed above, byte for byte" in as_read_text(record["as_read"][0])

    second = (workdir / "data/movie.tif").read_bytes()[:-1] + b"\x01"  # another movie, the same size
    replace_keeping_mtime(workdir / "data/movie.tif", second)
    with caplog.at_level("WARNING"):
        record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    movie = next(e for e in record["inputs"] if e["role"] == "movie")
    assert movie["sha256"] == sha(second)  # the file as it is now, as before
    at_ingest = record["as_read"][0]
    assert at_ingest["sha256"] == sha(first) and at_ingest["matches"] is False
    assert at_ingest["differences"] == [
        f"ingest_movie read sha256 {sha(first)} ({len(first)} bytes), the file now has sha256 {sha(second)} ({len(second)} bytes)"
    ]
    assert "movie data/movie.tif is not the file the results were computed from" in caplog.text
    assert as_read_text(at_ingest).startswith(f"MISMATCH: the results were computed from a movie with sha256 {sha(first)}")

    check = current_check(record, workdir)  # the movie on disk is the recorded one: only the ingest check fails
    assert check.problems == [
        f"sample 's1': movie data/movie.tif: the results were computed from other bytes than the movie file the "
        f"record lists (ingest_movie read sha256 {sha(first)}): {at_ingest['differences'][0]}"
    ]
    monkeypatch.setattr(replay, "run_snakemake", lambda command: pytest.fail("snakemake must not run"))
    assert replay.main(["results/s1/provenance.json", "--results", "replayed"]) == replay.EXIT_REFUSED
    assert not (workdir / "replayed").exists()


def test_a_ctc_frame_replaced_since_ingest_is_named() -> None:
    from cellpipe.io.checksums import folder_description
    from cellpipe.provenance import as_read_entry

    def movie_entry(read, now):
        return as_read_entry("movie", "data/ctc01", "ingest_movie", read, now)

    read = folder_description([{"path": "t000.tif", "bytes": 3, "sha256": "a" * 64},
                               {"path": "t001.tif", "bytes": 3, "sha256": "b" * 64}])
    now = {"role": "movie", "path": "data/ctc01", **folder_description(
        [{"path": "t000.tif", "bytes": 3, "sha256": "a" * 64}, {"path": "t001.tif", "bytes": 3, "sha256": "c" * 64},
         {"path": "notes.txt", "bytes": 1, "sha256": "d" * 64}])}
    at_ingest = movie_entry(read, now)
    assert at_ingest["matches"] is False
    assert at_ingest["differences"] == [f"t001.tif: ingest_movie read sha256 {'b' * 64}, the file now has sha256 {'c' * 64}"]
    restored = [f for f in now["files"] if f["path"] != "t001.tif"] + read["files"][1:]
    assert movie_entry(read, {**now, "files": restored})["matches"]  # notes.txt was never read
    assert movie_entry(None, now)["matches"] is None  # an image from before the check: not a mismatch
    assert movie_entry(read, None)["differences"] == ["the file is gone"]


def test_a_tiff_rewritten_while_it_is_read_is_refused(workdir: Path) -> None:
    from cellpipe.io.movies import MovieError, open_movie

    real_movie(workdir, 0)
    with open_movie(workdir / "data/movie.tif", checksum=True) as raw:
        np.asarray(raw.data[0])
        with open(workdir / "data/movie.tif", "r+b") as handle:  # in place, as `cp -p` over it does
            handle.seek(-1, os.SEEK_END)
            handle.write(b"\x07")
        with pytest.raises(MovieError, match="changed while it was being read"):
            raw.source_checksum()
    with open_movie(workdir / "data/movie.tif") as raw:  # not asked for: no extra pass over the file
        assert raw.source_checksum is None


# --------------------------------------------------------------------------- every input as the job that read it read it


def description(path: str) -> dict:
    """An input as a job records what it read: describe_path's entry without role and path."""
    return {k: v for k, v in describe_path("x", path).items() if k not in ("role", "path")}


def write_job_outputs(workdir: Path, model: dict | None, tracker: dict, truth: dict) -> dict:
    """segmentation.json, tracking.json and evaluation.json holding what segment_cells, track_cells and
    evaluate_sample read (``model`` None: segmentation.json as it is); returns record_provenance's inputs."""
    if model is not None:
        info = json.loads((workdir / "results/s1/segmentation.json").read_text())
        (workdir / "results/s1/segmentation.json").write_text(json.dumps({**info, "inputs_read": {"model": model}}))
    (workdir / "results/s1/tracking.json").write_text(json.dumps({"inputs_read": {"tracker_config": tracker}}))
    (workdir / "results/s1/evaluation.json").write_text(json.dumps({"sample": "s1", "inputs_read": {"ground_truth": truth}}))
    return {**INPUTS, "tracking_info": "results/s1/tracking.json", "evaluation": ["results/s1/evaluation.json"]}


def test_a_replaced_model_tracker_config_or_ground_truth_is_caught(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The scenario of issue #23 item 2 for the other inputs: the model, the tracker configuration and a file of
    the ground truth replaced after the jobs that read them ran, their mtime restored.  The record compares
    what each job read with the file now, the report says MISMATCH and a replay refuses, one line per input."""
    from cellpipe.report import as_read_view

    inputs = write_job_outputs(workdir, description("models/weights.pth"), description("resources/tracker.json"),
                               description("data/01_GT"))
    record = write_record_with(workdir, inputs)
    by_role = {e["role"]: e for e in record["as_read"]}
    assert [e["role"] for e in record["as_read"]] == ["movie", "ground_truth", "tracker_config", "model"]
    assert by_role["movie"]["matches"] is None  # no image: ingest's checksum is not known
    assert {r: (by_role[r]["read_by"], by_role[r]["matches"]) for r in ("ground_truth", "tracker_config", "model")} == {
        "ground_truth": ("evaluate_sample", True), "tracker_config": ("track_cells", True), "model": ("segment_frames", True)}
    assert by_role["ground_truth"]["sha256"] == describe_path("ground_truth", "data/01_GT")["sha256"]
    assert current_check(record, workdir).ok

    new_weights, old_lineage, new_lineage = b"\x00\x02weights", b"1 0 0 0\n", b"1 0 0 9\n"
    replace_keeping_mtime(workdir / "models/weights.pth", new_weights)
    replace_keeping_mtime(workdir / "resources/tracker.json", b'{"max_search_radius": 99}')
    replace_keeping_mtime(workdir / "data/01_GT/TRA/man_track.txt", new_lineage)
    with caplog.at_level("WARNING"):
        record = write_record_with(workdir, inputs)
    by_role = {e["role"]: e for e in record["as_read"]}
    assert by_role["model"]["matches"] is False and by_role["model"]["differences"] == [
        f"segment_frames read sha256 {sha(WEIGHTS)} ({len(WEIGHTS)} bytes), the file now has sha256 "
        f"{sha(new_weights)} ({len(WEIGHTS)} bytes)"]
    assert by_role["tracker_config"]["matches"] is False and by_role["tracker_config"]["sha256"] == sha(b"{}")
    assert by_role["ground_truth"]["differences"] == [
        f"TRA/man_track.txt: evaluate_sample read sha256 {sha(old_lineage)}, the file now has sha256 {sha(new_lineage)}"]
    assert "tracker_config resources/tracker.json is not the file the results were computed from" in caplog.text
    shown = as_read_view(record)
    expected = f"MISMATCH: the results were computed from a model with sha256 {sha(WEIGHTS)}"
    assert shown["model as segment_frames read it"].startswith(expected)
    assert shown["ground_truth as evaluate_sample read it"].startswith("MISMATCH")

    # the files on disk are the recorded ones: only the as-read checks fail, one line per input
    problems = current_check(record, workdir).problems
    assert [p.split(":")[1].strip() for p in problems] == ["ground_truth data/01_GT", "tracker_config resources/tracker.json",
                                                           "model models/weights.pth"]
    assert all("the results were computed from other bytes than the" in p for p in problems)
    monkeypatch.setattr(replay, "run_snakemake", lambda command: pytest.fail("snakemake must not run"))
    assert replay.main(["results/s1/provenance.json", "--results", "replayed"]) == replay.EXIT_REFUSED


def write_record_with(workdir: Path, inputs: dict) -> dict:
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    return json.loads((workdir / "results/s1/provenance.json").read_text())


def test_parts_of_segment_frames_that_read_different_models_are_a_mismatch(workdir: Path) -> None:
    """segment.scatter > 1: segment_cells gathers the parts' segmentation.json, where a value the parts disagree
    on becomes the list of their values; a model replaced between two parts is named, even when the file now
    is one of the two."""
    from cellpipe.steps.segment import merge_part_infos

    first = description("models/weights.pth")
    other = {**first, "sha256": "f" * 64}
    info = json.loads((workdir / "results/s1/segmentation.json").read_text())
    parts = [{**info, "inputs_read": {"model": model}, "part": p, "n_parts": 2, "first_frame": 2 * p, "n_frames": 2,
              "movie_frames": 4, "n_objects": 1} for p, model in enumerate((first, other))]
    (workdir / "results/s1/segmentation.json").write_text(json.dumps(merge_part_infos(parts)))  # as segment_cells gathers
    inputs = write_job_outputs(workdir, None, description("resources/tracker.json"), description("data/01_GT"))
    model = next(e for e in write_record_with(workdir, inputs)["as_read"] if e["role"] == "model")
    assert model["read_by"] == "segment_frames" and model["matches"] is False
    assert model["differences"][0] == f"the jobs of segment_frames read 2 different versions (sha256 {first['sha256']}, {'f' * 64})"

    parts[1]["inputs_read"]["model"] = first  # the parts agree, on the file as it is
    (workdir / "results/s1/segmentation.json").write_text(json.dumps(merge_part_infos(parts)))
    model = next(e for e in write_record_with(workdir, inputs)["as_read"] if e["role"] == "model")
    assert model["matches"] and model["read_by"] == "segment_frames"


def test_a_version_2_record_with_a_replaced_movie_is_still_refused(workdir: Path) -> None:
    """Records written before as_read (schema 2) said it in movie_at_ingest: still checked, and shown."""
    from cellpipe.report import as_read_view

    record = write_record_with(workdir, INPUTS)
    del record["as_read"]
    record["schema_version"] = 2
    record["movie_at_ingest"] = {"sha256": "a" * 64, "bytes": 3, "type": "file", "matches_movie": False,
                                 "differences": ["ingest read sha256 aaa, the file now has sha256 bbb"]}
    assert current_check(record, workdir).problems == [
        f"sample 's1': movie data/movie.tif: the results were computed from other bytes than the movie file the record "
        f"lists (ingest_movie read sha256 {'a' * 64}): ingest read sha256 aaa, the file now has sha256 bbb"]
    assert as_read_view(record)["movie as ingest_movie read it"].startswith("MISMATCH")
    record["schema_version"] = SCHEMA_VERSION + 1  # a newer layout: refused whatever it holds
    assert "is not one this cellpipe reads" in current_check(record, workdir).problems[0]


def test_readers_checksum_the_bytes_they_read(workdir: Path) -> None:
    """The three ways a job takes the checksum of what it reads: parsed from the hashed bytes (JSON), a copy
    hashed as it is made (the ground truth, read by libraries that open paths), or a file hashed before a
    library loads it by path and found unchanged after (the model)."""
    from cellpipe.io import tables
    from cellpipe.io.checksums import ChangedWhileRead, copy_as_read, file_as_read

    value, read = tables.read_json_as_read("resources/tracker.json")
    assert value == {} and read == description("resources/tracker.json")

    copy, read = copy_as_read("data/01_GT", workdir / "copies")
    assert read == description("data/01_GT") and copy == workdir / "copies/01_GT"
    assert (copy / "TRA/man_track.txt").read_bytes() == b"1 0 0 0\n" and (copy / ".hidden").is_file()
    copy, read = copy_as_read("data/movie.tif", workdir / "copies")
    assert read == description("data/movie.tif") and copy.read_bytes() == MOVIE

    with file_as_read("models/weights.pth") as read:
        assert read == description("models/weights.pth")
    with pytest.raises(ChangedWhileRead, match="models/weights.pth: changed while it was being read"):
        with file_as_read("models/weights.pth"):  # rewritten in place, its mtime restored: the ctime tells
            replace_keeping_mtime(workdir / "models/weights.pth", b"\x00\x03weights")
    with pytest.raises(ChangedWhileRead):
        with file_as_read("models/weights.pth"):  # replaced by another file, as `mv` does
            (workdir / "other.pth").write_bytes(b"\x00\x03weights")
            os.replace(workdir / "other.pth", workdir / "models/weights.pth")


def test_as_number_reads_numbers_out_of_tables_and_records():
    """cellpipe.numbers.as_number: the one coercion provenance (benchmark timings) and the report use."""
    import math

    import pandas as pd

    from cellpipe.numbers import as_number

    for missing in (None, True, np.bool_(False), "x", [1], float("nan"), pd.NA, pd.NaT, ""):
        assert as_number(missing) is None, missing
    assert as_number("2.5") == 2.5 and as_number(np.float32(2.0)) == 2.0 and as_number(-1) == -1.0
    assert math.isinf(as_number("inf")) and as_number("inf", finite=True) is None
    assert as_number(0, positive=True) is None and as_number(0.1, positive=True) == 0.1


def test_tree_digest_is_the_one_recorded_in_existing_records(tmp_path: Path):
    """Records written before hold this digest of a folder: it must not change. One hashing loop serves
    file_sha256 and copy_as_read (the copy's bytes and checksum are the source's)."""
    from cellpipe.io.checksums import copy_as_read

    listing = [{"path": "b/c.tif", "sha256": "00"}, {"path": "a.txt", "sha256": "ff"}]
    assert tree_digest(listing) == "e53f09830ee033f7b7baf7abe85fec2d2a115177dfc23582c2db70a5fab1a92e"
    source = tmp_path / "src"
    (source / "b").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"a" * 3_000_000)  # more than one 1 MiB block
    (source / "b" / "c.tif").write_bytes(b"c")
    copy, described = copy_as_read(source, tmp_path / "into")
    assert described["sha256"] == describe_path("x", source)["sha256"]
    assert [f["sha256"] for f in described["files"]] == [file_sha256(source / "a.txt"), file_sha256(source / "b" / "c.tif")]
    assert (copy / "a.txt").read_bytes() == (source / "a.txt").read_bytes()
    assert file_sha256(source / "b" / "c.tif") == hashlib.sha256(b"c").hexdigest()


def test_a_folder_read_by_a_job_is_compared_file_by_file():
    """read_differences and the replay's output_differences share one loop (provenance.file_differences)."""
    from cellpipe.provenance import read_differences

    read = {"type": "directory", "files": [{"path": "t000.tif", "sha256": "a"}, {"path": "t001.tif", "sha256": "b"}]}
    now = {"type": "directory", "files": [{"path": "t000.tif", "sha256": "c"}, {"path": "notes.txt", "sha256": "d"}]}
    assert read_differences(read, now) == [
        "t000.tif: ingest_movie read sha256 a, the file now has sha256 c",
        "t001.tif: read by ingest_movie (sha256 b), missing now",
    ]
    assert read_differences(read, {**now, "files": read["files"]}) == []


def test_the_movie_of_a_position_records_which_position_ingest_read(workdir: Path) -> None:
    """A sample that is one position of a multi-position file (sample sheet column positions): the file's sha256
    does not say which position, so the movie's entry names it, as ingest recorded it in the image."""
    import tifffile

    from cellpipe.steps.ingest import ingest_movie_step

    with tifffile.TiffWriter(workdir / "data/plate.ome.tif", ome=True) as tif:
        for name in ("A1", "B2"):
            tif.write(np.zeros((2, 16, 16), np.uint16), metadata={"axes": "TYX", "Name": name})
    image = layout.path(layout.IMAGE, "results", sample="s1")
    ingest_movie_step(sample="s1", movie="data/plate.ome.tif", fmt="auto", axes=None, pixel_size_um=0.5,
                      frame_interval_min=5.0, channel_names=[], settings={}, image=image, scene=1)
    inputs = {**INPUTS, "movie": "data/plate.ome.tif", "image": image}
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    movie = next(e for e in record["inputs"] if e["role"] == "movie")
    assert movie["position"] == {"index": 1, "name": "B2"}
    assert record["as_read"][0]["matches"] is True
    assert all("position" not in e for e in record["inputs"] if e["role"] != "movie")


def test_a_position_of_a_micro_manager_folder_is_recorded_and_replayed_by_its_own_files(workdir: Path) -> None:
    """One position's record describes, compares and replays the files that position reads (its two files), not the
    folder: another position's file changing is no difference, its own later file replaced is."""
    from test_io_movies_micromanager import position_movie, write_mm_dataset

    from cellpipe.steps.ingest import ingest_movie_step

    folder = write_mm_dataset(workdir / "data/run", [position_movie(0), position_movie(1)], frames_per_file=2)
    ingest_movie_step(sample="s1", movie="data/run", fmt="auto", axes=None, pixel_size_um=None, frame_interval_min=None,
                      channel_names=[], settings={}, image="results/s1/image.ome.zarr", scene=1)
    inputs = {**INPUTS, "movie": "data/run", "image": layout.path(layout.IMAGE, "results", sample="s1")}
    record = write_record_with(workdir, inputs)
    movie = next(e for e in record["inputs"] if e["role"] == "movie")
    own = ["exp_MMStack_Pos1.ome.tif", "exp_MMStack_Pos1_1.ome.tif"]
    assert movie["type"] == "directory" and movie["subset"] is True and [f["path"] for f in movie["files"]] == own
    assert record["as_read"][0]["matches"] is True and record["as_read"][0]["sha256"] == movie["sha256"]
    assert current_check(record, workdir).ok

    replace_keeping_mtime(folder / "exp_MMStack_Pos0_1.ome.tif", b"another position's file")
    assert current_check(record, workdir).ok
    later = folder / own[1]
    replace_keeping_mtime(later, later.read_bytes()[:-1] + b"\x07")
    check = current_check(record, workdir)
    assert len(check.problems) == 1 and f"data/run/{own[1]}: recorded sha256 {movie['files'][1]['sha256']}" in check.problems[0]
    rerecorded = write_record_with(workdir, inputs)
    assert rerecorded["as_read"][0]["matches"] is False
    assert rerecorded["as_read"][0]["differences"][0].startswith(f"{own[1]}: ingest_movie read sha256")


def test_the_movie_entry_shows_the_stage_position_where_the_file_gives_one(workdir: Path) -> None:
    """The stage position ingest recorded (µm, from the OME Plane, here in mm) is shown on the movie's entry; a
    position whose file gives none has no such key."""
    import tifffile

    from cellpipe.steps.ingest import ingest_movie_step

    with tifffile.TiffWriter(workdir / "data/plate.ome.tif", ome=True) as tif:
        tif.write(np.zeros((2, 16, 16), np.uint16), metadata={"axes": "TYX", "Name": "A1"})
        tif.write(np.zeros((2, 16, 16), np.uint16), metadata={
            "axes": "TYX", "Name": "B2", "Plane": {"PositionX": [1.5, 1.6], "PositionXUnit": ["mm", "mm"],
                                                   "PositionY": [-0.25, -0.25], "PositionYUnit": ["mm", "mm"]}})
    for scene, expected in ((1, {"x": 1500.0, "y": -250.0, "z": None}), (0, None)):
        image = layout.path(layout.IMAGE, "results", sample="s1")
        ingest_movie_step(sample="s1", movie="data/plate.ome.tif", fmt="auto", axes=None, pixel_size_um=0.5,
                          frame_interval_min=5.0, channel_names=[], settings={}, image=image, scene=scene)
        inputs = {**INPUTS, "movie": "data/plate.ome.tif", "image": image}
        record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
        record = json.loads((workdir / "results/s1/provenance.json").read_text())
        movie = next(e for e in record["inputs"] if e["role"] == "movie")
        assert movie.get("stage_position_um") == (pytest.approx(expected) if expected else None)
        assert all("stage_position_um" not in e for e in record["inputs"] if e["role"] != "movie")
