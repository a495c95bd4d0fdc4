"""Peak memory of the 3-D jobs against movie length: is it bounded by one stack?

    PYTHONPATH=src .venv/bin/python -m bench.memory_3d [--stacks 20,100] [--shape 16 128 128] [--cells 10]
        [--until all|normalize] [--work DIR]

For each length the workflow simulates a 3-D movie with the 3-D simulator (``simulate3d`` config, the
settings of ``bench/configs/demo3d.yaml``: 2 µm between planes, 0.5 µm pixels, nuclei of radius 4 µm that
move, divide and enter, with its CTC 3-D ground truth), keeps it in 3-D at ingest, segments it with the
classical 3-D method, tracks it in 3-D, measures, exports, evaluates it against the ground truth, and
writes the QC, provenance and report, all through Snakemake (rule ``all``).

Memory is each job's peak resident set size (``max_rss`` of Snakemake's benchmark records, MB: the job's
process and its children).  The table gives, per rule, the peak at each length and the ratio of the longest
movie's peak to the shortest's: a rule bounded by one stack keeps the ratio near 1, a rule that holds the
whole movie grows with it (a 16 x 128 x 128 float32 stack is 1 MB, so 100 stacks of it are 100 MB more than
1).  ``simulate_movie_3d`` draws the whole movie in memory by design (it is the bench's input, not a stage
of the pipeline), so its row is shown but left out of the verdict.  ``--until normalize`` stops after
normalize_movie (simulate, ingest, normalize only), to follow that rule to longer movies quickly.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import yaml

from bench.common import REPO, benchmark_values, machine, print_table
from bench.track_accuracy import run_workflow
from cellpipe import layout

#: A rule whose peak at the longest movie is within this factor of the shortest's counts as bounded.
GOAL_RATIO = 1.20
#: What each ``--until`` builds (paths in the workflow folder).
TARGETS = {"all": "all", "normalize": layout.path(layout.NORMALIZED, "results", sample="movie3d")}
#: Rules that draw the bench's input rather than process it; reported, not judged.
INPUT_RULES = ("simulate_movie_3d", "simulate_movie")


def _merged(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s keys set on it, nested dictionaries merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def set_up(workdir: Path, n_stacks: int, shape_zyx: tuple[int, int, int], n_cells: int) -> None:
    """A workflow folder whose config simulates one 3-D movie of ``n_stacks`` stacks of ``shape_zyx`` voxels
    (``n_cells`` nuclei at the start) and runs the 3-D path of ``bench/configs/demo3d.yaml`` on it."""
    config = yaml.safe_load((REPO / "bench" / "configs" / "demo3d.yaml").read_text())
    config["samples"] = "config/samples.tsv"
    config["simulate3d"] = {"movie3d": {**config["simulate3d"]["demo3d"], "n_frames": n_stacks,
                                        "shape_zyx": list(shape_zyx), "n_cells": n_cells}}
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    # as ``snakemake --configfile``: the demo's keys over the repository's config, nested sections merged
    base = _merged(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), config)
    base["simulate"] = {}
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    (workdir / "config" / "samples.tsv").write_text(
        "sample\tmovie\tground_truth\n"
        "movie3d\tresults/simulated/movie3d/movie.ome.tif\tresults/simulated/movie3d/01_GT\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", default="20,100", help="movie lengths, comma-separated (stacks)")
    parser.add_argument("--shape", type=int, nargs=3, default=(16, 128, 128), metavar=("Z", "Y", "X"),
                        help="stack size (voxels)")
    parser.add_argument("--cells", type=int, default=10, help="nuclei in the first stack")
    parser.add_argument("--until", default="all", choices=sorted(TARGETS),
                        help="run the whole workflow, or stop after normalize_movie")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.stacks.split(",")]
    shape = tuple(args.shape)
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-memory3d-bench-"))
    print(f"machine: {machine()}")
    peaks: dict[int, dict[str, float]] = {}
    seconds: dict[int, dict[str, float]] = {}
    for n in lengths:
        workdir = work / f"stacks{n}"
        if workdir.exists():
            shutil.rmtree(workdir)
        set_up(workdir, n, shape, args.cells)
        wall = run_workflow(workdir, TARGETS[args.until])
        peaks[n] = {rule: max(v) for rule, v in benchmark_values(workdir / "results", "max_rss").items()}
        seconds[n] = {rule: max(v) for rule, v in benchmark_values(workdir / "results", "s").items()}
        print(f"{n} stacks of {shape[0]} x {shape[1]} x {shape[2]}: the workflow took {wall:.0f} s", flush=True)
    rules = sorted(set().union(*peaks.values()))
    short, long = lengths[0], lengths[-1]
    rows = []
    for rule in rules:
        mbs = [peaks[n].get(rule, float("nan")) for n in lengths]
        ratio = peaks[long].get(rule, float("nan")) / peaks[short].get(rule, float("nan"))
        rows.append([rule, *(f"{mb:.0f}" for mb in mbs), f"{ratio:.2f}",
                     *(f"{seconds[n].get(rule, float('nan')):.1f}" for n in lengths)])
    print_table(f"Peak memory per rule (max_rss, MB) for {' vs '.join(map(str, lengths))} stacks of "
                f"{shape[0]} x {shape[1]} x {shape[2]} voxels",
                ["rule", *(f"{n} stacks MB" for n in lengths), f"{long}/{short}",
                 *(f"{n} stacks s" for n in lengths)], rows)
    if len(lengths) > 1:
        judged = [r for r in rules if r not in INPUT_RULES and r in peaks[short] and r in peaks[long]]
        unbounded = [r for r in judged if peaks[long][r] / peaks[short][r] > GOAL_RATIO]
        largest = max(judged, key=lambda r: peaks[long][r])
        print(f"largest job at {long} stacks: {largest} {peaks[long][largest]:.0f} MB; "
              f"rules above {GOAL_RATIO:.2f}x: {', '.join(unbounded) or 'none'}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
