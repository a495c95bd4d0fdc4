"""What Snakemake costs: the workflow's wall time against the same stage functions called in one process.

    .venv/bin/python -m bench.workflow_overhead [--frames 60] [--side 512] [--method classical] [--work DIR]

One drawn movie (``bench.workflow_memory.write_movie``) goes through the six stages that turn a
movie into numbers: ingest, normalize, segment, track, measure, and the CTC / napari export.

* ``snakemake``: ``snakemake results/movie/cells.parquet results/movie/ctc ...`` with the
  repository's Snakefile, 2 cores, jobs one after the other (each stage needs the one before):
  parsing, the sample sheet's checks, the job graph, one Python process per job (its imports),
  and the stage itself.
* ``direct``: the rule scripts' functions (``cellpipe.steps.<rule file>.*_step``) called one after the other in this process, with
  the same settings and the same files, cellpipe imported before the clock starts.
* ``direct, fresh process``: the same calls in a new Python process, timed from its start to its
  end, so its interpreter start and imports count once, as they would for a script a user writes.

The ratio snakemake / direct is the workflow's overhead (goal, issue #7: at most 1.10); the ratio to
the fresh process is printed beside it.  The three run in turn, ``--repeats`` times each, and the
medians are compared.

A second table says where the difference goes, stage by stage (medians over the repeats): the
stage function's seconds when called directly, the same stage's "done in" seconds in its job's log
(the step inside the job, with the libraries the step imports), and the job's seconds in Snakemake's
benchmark record (the whole job process: Python, Snakemake's script preamble, cellpipe's imports).
What is left of the workflow's wall time after its longest chain of jobs is Snakemake's own start
(parsing, the job graph), the gaps between jobs and its shutdown.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import REPO, benchmark_values, machine, print_table
from bench.track_accuracy import run_workflow
from bench.workflow_memory import INTERVAL_MIN, PIXEL_SIZE_UM, write_movie

TARGETS = ("cells.parquet", "track_metrics.parquet", "counts.tsv", "ctc", "tracks_napari.csv")
STAGES = ("ingest_movie", "normalize_movie", "segment_frames", "segment_cells", "track_cells", "measure_cells",
          "export_tracks")
"""The rules the targets need, in the order the direct side calls their stage functions."""
CHAINS = (("ingest_movie", "normalize_movie", "segment_frames", "segment_cells", "track_cells"),
          ("measure_cells", "export_tracks"))
JOB_NAMES = {"segment_frames": "movie.part0"}
"""The job name (log and benchmark file) of a stage where it is not the sample's: segment.scatter 1 gives one part."""
"""The jobs run one after the other, then measure_cells and export_tracks side by side (2 cores)."""


def set_up(workdir: Path, movie: Path, method: str) -> dict:
    """A workflow folder using ``movie``; returns its config (the repository's, demo removed)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"] = {}
    config["segment"]["method"] = method
    config["segment"]["cellpose"]["model"] = str(REPO / config["segment"]["cellpose"]["model"])
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "config" / "samples.tsv").write_text(
        "sample\tmovie\taxes\tpixel_size_um\tframe_interval_min\n"
        f"movie\t{movie}\tTYX\t{PIXEL_SIZE_UM}\t{INTERVAL_MIN:g}\n"
    )
    return config


def direct(workdir: Path, movie: Path, config: dict, into: str = "direct") -> tuple[float, dict[str, float]]:
    """The six stages called in this process on ``movie``, outputs under ``workdir / into``; seconds
    in all and per stage (rule name -> seconds)."""
    from cellpipe.steps.export import export_tracks_step
    from cellpipe.steps.ingest import ingest_movie_file
    from cellpipe.steps.measure import measure_cells_step
    from cellpipe.steps.normalize import normalize_movie_step
    from cellpipe.steps.segment import segment_cells_step, segment_frames_step
    from cellpipe.steps.track import track_cells_step

    out = workdir / into
    image, labels = out / "image.ome.zarr", out / "image.ome.zarr" / "labels" / "cells"
    tracked = out / "image.ome.zarr" / "labels" / "tracks"
    calls = {
        "ingest_movie": lambda: ingest_movie_file(
            sample="movie", movie=movie, fmt="auto", axes="TYX", pixel_size_um=PIXEL_SIZE_UM,
            frame_interval_min=INTERVAL_MIN, channel_names=[], settings=config["ingest"], image=image),
        "normalize_movie": lambda: normalize_movie_step(
            image=image, settings=config["normalize"], normalized=out / "normalized.zarr",
            percentiles=out / "normalization.tsv"),
        "segment_frames": lambda: segment_frames_step(
            normalized=out / "normalized.zarr", image=image, settings=config["segment"], part=0, n_parts=1,
            labels_part=out / "segment_parts" / "0.zarr", info_part=out / "segment_parts" / "0.json", threads=2,
            batch_divisor=1),
        "segment_cells": lambda: segment_cells_step(
            normalized=out / "normalized.zarr", image=image, parts=[out / "segment_parts" / "0.zarr"],
            part_infos=[out / "segment_parts" / "0.json"], labels=labels, info=out / "segmentation.json"),
        "track_cells": lambda: track_cells_step(
            labels=labels, image=image, tracker_config=REPO / config["track"]["tracker_config"],
            settings=config["track"], tracks=out / "tracks.parquet", lineage=out / "lineage.parquet",
            tracked=tracked, info=out / "tracking.json", labels_group=tracked.parent),
        "measure_cells": lambda: measure_cells_step(
            labels=labels, image=image, tracks=out / "tracks.parquet",
            settings={"measure": config["measure"], "min_track_frames": config["track"]["min_track_frames"]},
            cells=out / "cells.parquet", track_metrics=out / "track_metrics.parquet", counts=out / "counts.tsv",
            msd=out / "msd.parquet"),
        "export_tracks": lambda: export_tracks_step(
            tracked=tracked, tracks=out / "tracks.parquet", ctc_dir=out / "ctc",
            napari_csv=out / "tracks_napari.csv", napari_graph=out / "tracks_napari_graph.json",
            segments=out / "ctc_segments.tsv"),
    }
    steps: dict[str, float] = {}
    start = time.perf_counter()
    for stage in STAGES:
        begin = time.perf_counter()
        calls[stage]()
        steps[stage] = time.perf_counter() - begin
    return time.perf_counter() - start, steps


_DONE_IN = re.compile(r"cellpipe: done in ([0-9.]+) s")


def workflow_stages(workdir: Path) -> dict[str, tuple[float, float]]:
    """Rule name -> (the step's "done in" seconds from its log, the job's seconds from its benchmark record)."""
    jobs = benchmark_values(workdir / "results", "s")
    stages = {}
    for stage in STAGES:
        log = (workdir / "results" / "logs" / stage / f"{JOB_NAMES.get(stage, 'movie')}.log").read_text()
        # a job too short for Snakemake to sample (the one-part gather, a rename) has no seconds: nan
        stages[stage] = (float(_DONE_IN.findall(log)[-1]), jobs.get(stage, [float("nan")])[0])
    return stages


def critical_path(seconds: dict[str, float]) -> float:
    """Seconds of the longest chain of jobs (:data:`CHAINS`: one after the other, then side by side)."""
    serial, side_by_side = CHAINS
    return sum(seconds[s] for s in serial) + max(seconds[s] for s in side_by_side)


FRESH = "direct_process"
"""Output folder of the fresh-process side, under each run's folder."""


def direct_fresh_process(workdir: Path, movie: Path) -> float:
    """:func:`direct` in a new Python process (``--direct-into``); seconds from its start to its end."""
    cmd = [sys.executable, "-m", "bench.workflow_overhead", "--direct-into", str(workdir), "--movie", str(movie)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--direct-into", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--movie", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--method", default="classical", choices=["classical", "cellpose"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    if args.direct_into is not None:  # the fresh-process side, started by direct_fresh_process
        config = yaml.safe_load((args.direct_into / "config" / "config.yaml").read_text())
        direct(args.direct_into, args.movie, config, into=FRESH)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-overhead-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    movie = work / "movie.tif"
    write_movie(movie, args.frames, args.side)
    # imports before the clock, for the direct side
    import cellpipe.steps.export  # noqa: F401
    import cellpipe.steps.ingest  # noqa: F401
    import cellpipe.steps.measure  # noqa: F401
    import cellpipe.steps.normalize  # noqa: F401
    import cellpipe.steps.segment  # noqa: F401
    import cellpipe.steps.track  # noqa: F401

    snake_s, direct_s, fresh_s = [], [], []
    direct_steps: list[dict[str, float]] = []
    snake_stages: list[dict[str, tuple[float, float]]] = []
    for i in range(args.repeats):
        workdir = work / f"run{i}"
        if workdir.exists():
            shutil.rmtree(workdir)
        config = set_up(workdir, movie, args.method)
        snake_s.append(run_workflow(workdir, [f"results/movie/{t}" for t in TARGETS]))
        snake_stages.append(workflow_stages(workdir))
        total, steps = direct(workdir, movie, config)
        direct_s.append(total)
        direct_steps.append(steps)
        fresh_s.append(direct_fresh_process(workdir, movie))
        same = all((workdir / "results" / "movie" / t).read_bytes() == (workdir / side / t).read_bytes()
                   for t in ("cells.parquet", "tracks.parquet", "counts.tsv") for side in ("direct", FRESH))
        print(f"repeat {i + 1}: snakemake {snake_s[-1]:.1f} s, direct {direct_s[-1]:.1f} s, direct in a fresh "
              f"process {fresh_s[-1]:.1f} s; tables byte-identical: {same}", flush=True)
    s, d, f = statistics.median(snake_s), statistics.median(direct_s), statistics.median(fresh_s)
    print_table(
        f"{args.frames} frames of {args.side}², segmentation {args.method}, median of {args.repeats}",
        ["run", "seconds", "snakemake / this"],
        [["direct (stage functions, one process, cellpipe imported)", f"{d:.1f}", f"{s / d:.2f}"],
         ["direct, fresh process (interpreter start and imports)", f"{f:.1f}", f"{s / f:.2f}"],
         ["snakemake (the workflow)", f"{s:.1f}", "1.00"]],
    )
    print(f"overhead snakemake / direct = {s / d:.2f}x (goal <= 1.10); snakemake / fresh process = {s / f:.2f}x")
    med = statistics.median
    rows = []
    for stage in STAGES:
        d_step = med(r[stage] for r in direct_steps)
        step, job = med(r[stage][0] for r in snake_stages), med(r[stage][1] for r in snake_stages)
        rows.append([stage, f"{d_step:.1f}", f"{step:.1f}", f"{job:.1f}", f"{job - d_step:+.1f}"])
    jobs = med(critical_path({k: v[1] for k, v in r.items()}) for r in snake_stages)
    print_table(
        "where the difference goes, median seconds per stage",
        ["stage", "direct: the stage function", "snakemake: its step (log)", "snakemake: its job (benchmark)",
         "job - direct"],
        rows,
    )
    print(f"snakemake outside its jobs (start, job graph, gaps between jobs, shutdown): {s - jobs:.1f} s "
          f"of {s:.1f} s (its longest chain of jobs: {jobs:.1f} s)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
