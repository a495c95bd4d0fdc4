"""Interruptions and byte-identical reruns (issue #8).

A run of the tiny simulated movie is killed with SIGKILL (snakemake and its job, the whole process
group) while ``segment_frames`` (the segmentation job; with segment.scatter 1 its one part is the label
image that ``segment_cells`` then moves into place) is writing its labels, and the same command is run again.
The killed job must leave nothing under the output's final name, and the rerun must finish the work
without ``--unlock`` and give, byte for byte, the results of a run that was never interrupted.

The interrupted-and-resumed run is also the second of two runs of the same config on this machine:
every job of it ran in its own process, independently of the reference run (every job but
segment_frames only once; segment_frames once killed and once whole), with another Python hash seed
(``PYTHONHASHSEED`` 1 and 2, so set and dict orders of strings differ between the runs). Its tables and
label images must equal the reference run's byte for byte.

Compared byte for byte: every file under ``results/``: the simulated OME-TIFF movie and its CTC
ground truth, every chunk and metadata file of ``image.ome.zarr`` (with ``labels/cells`` and
``labels/tracks``) and of ``normalized.zarr``, ``normalization.tsv``, ``segmentation.json``, the Parquet
tables, ``counts.tsv``, the CTC export (``maskTTT.tif``, ``res_track.txt``), ``ctc_segments.tsv``, the
napari CSV and JSON, ``evaluation.json`` and ``evaluation.tsv``, and the empty ``.snakemake_timestamp``
files Snakemake puts in folder outputs. Left out, and why:

- ``results/logs/`` and ``results/benchmarks/``: log lines carry times, benchmarks measure them;
- ``report.html``, ``summary.html``: the date they were made, the timings and command line of the
  provenance section, the working directory;
- ``provenance.json``: compared without ``created_utc``, ``command``, ``timings`` and ``workdir`` (its
  documented run-dependent keys; the two runs are in different folders);
- ``tracking.json``: compared without its top-level timings (keys ending in ``_s``: ``linking_s``,
  ``optimizer_s``; the settings in it are compared).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    REPO,
    TINY,
    TINY_SAMPLES_TSV,
    snakemake_command,
    snakemake_env,
    tiny_reference_config,
    write_workdir,
)

pytestmark = pytest.mark.workflow

SAMPLES_TSV = TINY_SAMPLES_TSV
PROFILE = REPO / "profiles" / "workstation"
SEGMENTED = re.compile(r"segmented frame (\d+) of (\d+)")
NOT_COMPARED_DIRS = ("logs", "benchmarks")
NOT_COMPARED_FILES = ("report.html", "summary.html", "provenance.json", "tracking.json")
RUN_DEPENDENT_PROVENANCE = ("created_utc", "command", "timings", "workdir")


def tiny_config() -> dict:
    # on the CPU (tiny_reference_config): the masks are compared byte for byte, and on a GPU the 12 frames
    # would be segmented before the test could kill the run
    return tiny_reference_config()


def command(workdir: Path) -> list[str]:
    """What the user runs (README: snakemake --profile profiles/workstation), on the 2 cores here."""
    return snakemake_command(workdir, "--profile", str(PROFILE))


def environment(hash_seed: str) -> dict[str, str]:
    return {**snakemake_env(True), "PYTHONHASHSEED": hash_seed}


def run(workdir: Path, hash_seed: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(workdir), cwd=workdir, env=environment(hash_seed), capture_output=True,
                          text=True, timeout=900)


def frames_segmented(log: Path) -> int:
    """The last frame segment_frames' log says it wrote (0 before the first)."""
    try:
        found = SEGMENTED.findall(log.read_text(errors="replace"))
    except FileNotFoundError:
        return 0
    return int(found[-1][0]) if found else 0


def frame_chunks(partial: Path) -> list[str]:
    """The frames whose label chunk is on disk in segment_frames' temporary part: one folder per frame, s0/<t> in
    Zarr v2 (NGFF 0.4), s0/c/<t> in Zarr v3 (0.5)."""
    folder = next((d for d in (partial / "s0" / "c", partial / "s0") if d.is_dir()), None)
    return sorted(p.name for p in folder.iterdir() if p.name.isdigit()) if folder is not None else []


def partial_parts(workdir: Path) -> list[Path]:
    """segment_frames' temporary part folders (the part's labels before they get their final name)."""
    parts = workdir / "results" / "tiny" / "segment_parts"
    return sorted(p for p in parts.iterdir() if p.name.startswith(".0.zarr.tmp-")) if parts.is_dir() else []


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting for a parent that does not reap them, as
    under a container's minimal init, do not count)."""
    proc_fs = Path("/proc")
    if not (proc_fs / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_fs.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after "pid (comm)": state, ppid, pgrp, ...
            return True
    return False


def kill_while_segmenting(workdir: Path, hash_seed: str, output: Path) -> int:
    """Start the run, SIGKILL snakemake and its jobs (the process group) once segment_frames has written
    at least one frame of its labels and before the last; return how many frames it had segmented.

    Written means on disk: the job's log says a frame was segmented when its labels are handed to the writer
    thread, which writes them a moment later, so the temporary part must also hold a frame's chunk."""
    n_frames = TINY["n_frames"]
    log = workdir / "results" / "logs" / "segment_frames" / "tiny.part0.log"
    with output.open("w") as out:
        proc = subprocess.Popen(command(workdir), cwd=workdir, env=environment(hash_seed), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while True:
            done = frames_segmented(log)
            if 1 <= done < n_frames and any(frame_chunks(p) for p in partial_parts(workdir)):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            assert done < n_frames, "segment_frames finished before the test could kill it"
            assert proc.poll() is None, (
                f"snakemake ended (exit {proc.returncode}) before segment_frames wrote a frame:\n{output.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, "segment_frames did not start within 10 minutes"
            time.sleep(0.05)
    finally:
        if group_alive(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    for _ in range(200):  # the job, orphaned by the kill, is reaped by init
        if not group_alive(proc.pid):
            break
        time.sleep(0.05)
    assert not group_alive(proc.pid), "a process of the killed run survived"
    return done


def result_files(workdir: Path) -> dict[str, str]:
    """sha256 of every compared file under results/, by path (the module docstring says what is left out)."""
    root = workdir / "results"
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0] in NOT_COMPARED_DIRS or path.name in NOT_COMPARED_FILES:
            continue
        files[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def provenance_without_run_details(path: Path) -> dict:
    record = json.loads(path.read_text())
    return {k: v for k, v in record.items() if k not in RUN_DEPENDENT_PROVENANCE}


def tracking_without_timings(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.endswith("_s")}


@pytest.fixture(scope="module")
def reference(tiny_reference_run: Path) -> Path:
    """The tiny workflow, never interrupted: :func:`run` with hash seed 1 in a folder of its own, once per
    session (tests/conftest.py; the SLURM test compares with it too)."""
    return tiny_reference_run


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> dict:
    """The same workflow in a fresh folder, killed in the middle of segment_frames: what it left."""
    workdir = write_workdir(tmp_path_factory.mktemp("interrupted"), tiny_config(), SAMPLES_TSV)
    frames = kill_while_segmenting(workdir, hash_seed="2", output=workdir.parent / "killed_run.txt")
    labels = workdir / "results" / "tiny" / "image.ome.zarr" / "labels"
    parts = workdir / "results" / "tiny" / "segment_parts"
    partial = partial_parts(workdir)
    snakemake_dir = workdir / ".snakemake"
    return {
        "workdir": workdir,
        "frames": frames,
        "labels_left": sorted(p.name for p in labels.iterdir()) if labels.is_dir() else [],
        "parts_left": sorted(p.name for p in parts.iterdir()) if parts.is_dir() else [],
        "info_left": (workdir / "results" / "tiny" / "segmentation.json").exists(),
        "partial": partial,
        "partial_chunks": frame_chunks(partial[0]) if partial else [],
        "incomplete": sorted(
            base64.urlsafe_b64decode(p.name).decode() for p in (snakemake_dir / "incomplete").iterdir()
        ) if (snakemake_dir / "incomplete").is_dir() else [],
        "locks": sorted(p.name for p in (snakemake_dir / "locks").iterdir()) if (snakemake_dir / "locks").is_dir() else [],
    }


@pytest.fixture(scope="module")
def resumed(interrupted: dict) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The same command again, in the folder of the killed run."""
    workdir = interrupted["workdir"]
    return workdir, run(workdir, hash_seed="2")


def test_a_killed_segmentation_leaves_nothing_that_looks_complete(interrupted: dict) -> None:
    """Killed after writing some frames: the part's labels exist only under their temporary name, with
    those frames; neither output of segment_frames nor of segment_cells exists under its final name, and
    Snakemake had marked the job's outputs incomplete and still holds its lock (SIGKILL gave it no chance to
    clean up)."""
    assert 1 <= interrupted["frames"] < TINY["n_frames"]
    # segment_parts/ holds the temporary only (not 0.zarr, not 0.json); the gather never started: no labels
    # group, no labels/cells, no segmentation.json
    assert interrupted["parts_left"] == [p.name for p in interrupted["partial"]]
    assert interrupted["labels_left"] == []
    assert not interrupted["info_left"]
    assert len(interrupted["partial"]) == 1, interrupted["parts_left"]
    assert 1 <= len(interrupted["partial_chunks"]) < TINY["n_frames"], interrupted["partial_chunks"]
    assert "results/tiny/segment_parts/0.json" in interrupted["incomplete"]
    assert {"0.input.lock", "0.output.lock"} <= set(interrupted["locks"])


def test_the_same_command_again_finishes_the_work(interrupted: dict, resumed) -> None:
    """The rerun removes the dead run's lock (no --unlock needed), redoes segmentation and what follows it
    (not what was finished before the kill), and leaves no temporary names behind."""
    workdir, proc = resumed
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout + proc.stderr
    assert "cellpipe: removed the lock of snakemake process" in out
    assert "rule segment_frames:" in out and "rule segment_cells:" in out and "rule report_sample:" in out
    for finished in ("simulate_movie", "ingest_movie", "normalize_movie"):
        assert f"rule {finished}:" not in out, finished
    leftovers = [p.relative_to(workdir).as_posix() for p in (workdir / "results").rglob("*.tmp-*")]
    assert leftovers == [] and not any(p.exists() for p in interrupted["partial"])
    incomplete = workdir / ".snakemake" / "incomplete"
    assert not incomplete.is_dir() or not any(incomplete.iterdir())
    dry = subprocess.run(command(workdir) + ["--dry-run"], cwd=workdir, env=environment("2"), capture_output=True,
                         text=True, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stderr[-2000:]


def test_resumed_run_equals_the_uninterrupted_one_byte_for_byte(reference: Path, resumed) -> None:
    """Every table and label image chunk (and every other result but logs, benchmarks and the HTML pages) of
    the killed-and-resumed run has the bytes of the uninterrupted run; provenance.json and tracking.json
    differ only in their run-dependent keys."""
    workdir, proc = resumed
    assert proc.returncode == 0, proc.stderr[-4000:]
    expected, found = result_files(reference), result_files(workdir)
    assert sorted(found) == sorted(expected)
    different = sorted(name for name in expected if found[name] != expected[name])
    assert different == []
    # the comparison covers the tables and every frame of both label images
    for name in ("tracks.parquet", "lineage.parquet", "cells.parquet", "track_metrics.parquet", "counts.tsv",
                 "normalization.tsv", "ctc/res_track.txt", "ctc/mask000.tif", "ctc_segments.tsv", "tracks_napari.csv"):
        assert f"tiny/{name}" in expected, name
    for labels in ("cells", "tracks"):
        chunks = [n for n in expected if re.fullmatch(rf"tiny/image\.ome\.zarr/labels/{labels}/s0/(c/)?\d+/0/0", n)]
        assert len(chunks) == TINY["n_frames"], (labels, chunks)  # one chunk per frame
    res, ref = workdir / "results" / "tiny", reference / "results" / "tiny"
    assert provenance_without_run_details(res / "provenance.json") == provenance_without_run_details(ref / "provenance.json")
    assert tracking_without_timings(res / "tracking.json") == tracking_without_timings(ref / "tracking.json")
