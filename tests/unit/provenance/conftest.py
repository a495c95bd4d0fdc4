"""The working directory the provenance tests run in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .provenance_helpers import (
    BENCHMARK,
    BENCHMARK_UNMEASURED,
    MOVIE,
    WEIGHTS,
    sha,
)


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
