"""Tests of the provenance record: package versions, benchmark timings and build_record (checksums: test_io_checksums.py)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest

from cellpipe.provenance import (
    SCHEMA_VERSION,
    VOLATILE_KEYS,
    benchmark_timings,
    build_record,
    deterministic_part,
    invocation_record,
    package_versions,
)
from cellpipe.steps.provenance import read_benchmarks, record_provenance_step

from .provenance_helpers import (
    CONFIG,
    INPUTS,
    WEIGHTS,
    sha,
    write_record,
)


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


def test_record_holds_the_settings_every_job_got_the_run_infos_winning(workdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """job_settings holds every rule's settings as record_provenance's params received them; where
    segment_frames' run info says it ran with others (its output predates a change that did not rerun it),
    the run info's are recorded and the difference is logged."""
    ran_with = {"method": "cellpose", "diameter_um": 9.5}
    info = workdir / "results/s1/segmentation.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "job_settings": ran_with}))
    given = {
        "report_sample": {"max_track_rows": 20},
        "measure_cells": {"measure": {"channel_names": None}, "min_track_frames": 3},
        "segment_frames": {"method": "cellpose", "diameter_um": 12.0},
        "ingest_movie": {"z_projection": "max"},
        "track_cells": {"tracker_config": "resources/tracker.json"},
    }
    record_provenance_step("s1", INPUTS, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth",
                           job_settings=given)
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    assert record["job_settings"] == {**given, "segment_frames": ran_with}
    assert "segment_frames ran with other settings than the workflow gives it now" in caplog.text
    assert "track_cells ran with" not in caplog.text  # no tracking.json: the params' value, nothing to compare


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


