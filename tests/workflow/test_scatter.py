"""segment.scatter: a movie segmented by several segment_frames jobs and gathered by segment_cells gives the
labels and tracks of one segment_cells job, and with scatter 1 the workflow has no segment_frames job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cellpipe.io.movies import write_ome_tiff

from conftest import default_config, dividing_movie, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow

N_FRAMES = 7
SHEET = "sample\tmovie\na\tdata/a.ome.tif\nb\tdata/b.ome.tif\n"
TARGETS = ("results/a/tracks.parquet",)


def scatter_workdir(workdir: Path, scatter: int) -> Path:
    """Two samples (the same simulated 96x96 px movie with a division, 7 frames), classical segmentation."""
    config = default_config()
    config["simulate"] = {}
    config["segment"]["method"] = "classical"
    config["segment"]["scatter"] = scatter
    write_workdir(workdir, config, SHEET)
    movie = dividing_movie(N_FRAMES)
    for name in ("a", "b"):
        write_ome_tiff(workdir / "data" / f"{name}.ome.tif", movie.image, movie.pixel_size_um, movie.frame_interval_min)
    return workdir


def dry_run(workdir: Path, *targets: str) -> tuple[dict[str, int], str]:
    """Jobs per rule of ``snakemake --dry-run`` (its "Job stats" table), and its output."""
    proc = run_snakemake(workdir, "--dry-run", *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}, out
    table = out[out.index("Job stats:"):].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m[1] != "total"}, out


def job_inputs(out: str, rule: str, sample: str) -> str:
    """The ``input:`` line of the job of ``rule`` for ``sample`` in a dry run's output."""
    for job in out.split(f"rule {rule}:")[1:]:
        line = next(line for line in job.splitlines() if line.strip().startswith("input:"))
        if f"results/{sample}/" in line:
            return line
    raise AssertionError(f"no {rule} job for {sample}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    """Work folders for the same two movies with segment.scatter 3 and 1 (nothing run yet)."""
    return {n: scatter_workdir(tmp_path_factory.mktemp(f"scatter{n}"), n) for n in (3, 1)}


def test_dry_run_plans_one_job_per_part_and_a_gather(runs: dict[int, Path]) -> None:
    (three, out3), (one, out1) = dry_run(runs[3]), dry_run(runs[1])
    assert three["segment_frames"] == 3 * 2 and three["segment_cells"] == 2  # 3 parts and a gather per sample
    assert one["segment_frames"] == 2 and one["segment_cells"] == 2  # the same shape with one part
    # apart from the number of parts the two runs have the same jobs
    assert {rule: n for rule, n in three.items() if rule != "segment_frames"} == {
        rule: n for rule, n in one.items() if rule != "segment_frames"}
    # provenance times every part: record_provenance waits for their benchmark records
    inputs = job_inputs(out3, "record_provenance", "a")
    assert [f"results/benchmarks/segment_frames/a.part{p}.tsv" in inputs for p in range(4)] == [True, True, True, False]
    inputs = job_inputs(out1, "record_provenance", "a")
    assert [f"results/benchmarks/segment_frames/a.part{p}.tsv" in inputs for p in range(2)] == [True, False]


def test_scattered_labels_and_tracks_equal_the_unscattered_ones(runs: dict[int, Path]) -> None:
    from cellpipe.io import omezarr

    for workdir in runs.values():
        proc = run_snakemake(workdir, *TARGETS)
        assert proc.returncode == 0, proc.stderr[-4000:]
    res3, res1 = runs[3] / "results", runs[1] / "results"
    labels3 = omezarr.open_ome_image(res3 / "a" / "image.ome.zarr" / "labels" / "cells")
    labels1 = omezarr.open_ome_image(res1 / "a" / "image.ome.zarr" / "labels" / "cells")
    assert labels1.data.shape == (N_FRAMES, 96, 96) and int(np.asarray(labels1.data).max()) >= 3
    np.testing.assert_array_equal(np.asarray(labels3.data), np.asarray(labels1.data))
    assert (res3 / "a" / "tracks.parquet").read_bytes() == (res1 / "a" / "tracks.parquet").read_bytes()
    assert (res3 / "a" / "lineage.parquet").read_bytes() == (res1 / "a" / "lineage.parquet").read_bytes()

    # segmentation.json: the unscattered record's keys and values, plus the three parts
    info3 = json.loads((res3 / "a" / "segmentation.json").read_text())
    info1 = json.loads((res1 / "a" / "segmentation.json").read_text())
    assert {k: info3[k] for k in info1} == info1 and info3["n_parts"] == 3
    assert [(p["first_frame"], p["n_frames"]) for p in info3["parts"]] == [(0, 3), (3, 2), (5, 2)]
    assert sum(p["n_objects"] for p in info3["parts"]) == sum(int(np.asarray(labels1.data[t]).max()) for t in range(N_FRAMES))
    # one log and benchmark per part; the parts are removed once gathered, and nothing is left to redo
    for p in range(3):
        assert f"frames {sum([3, 2, 2][:p]) + 1}-" in (res3 / "logs" / "segment_frames" / f"a.part{p}.log").read_text()
        assert (res3 / "benchmarks" / "segment_frames" / f"a.part{p}.tsv").is_file()
    assert "gathered part 2 of 3" in (res3 / "logs" / "segment_cells" / "a.log").read_text()
    assert not (res3 / "a" / "segment_parts").exists()
    assert "moved into place" in (res1 / "logs" / "segment_cells" / "a.log").read_text()
    assert not (res1 / "a" / "segment_parts").exists()
    # one part: the label image is the unscattered one, byte for byte (it was written where the part went)
    assert info1.get("n_parts") is None and "parts" not in info1
    assert dry_run(runs[3], *TARGETS)[0] == {}
