"""Peak memory of the whole workflow against movie length: does it stay bounded?

    .venv/bin/python -m bench.workflow_memory [--frames 100,500] [--side 1024] [--method classical|cellpose]
        [--work DIR]

For each length a movie of ``--side`` x ``--side`` px frames (uint16, one multi-page TIFF written
frame by frame) is drawn: about 60 nuclei (disks of radius 12 px, bright on a noisy background)
drifting by a persistent random walk.  The whole workflow (ingest, normalize, segment, track,
measure, exports, provenance, report) runs on it through Snakemake, by default with the classical
segmentation (threshold + watershed) so that a 500-frame movie runs on a CPU in minutes.
``--method cellpose`` segments with Cellpose and the shipped model instead: the nuclei are then
drawn with a radius of 30 px and segmented at a diameter of 60 px, so Cellpose rescales the frames
by 0.5 (30 px / 60 px) as for the GOWT1 benchmark (8 s per 1024² frame on a 2-core CPU with other
work beside it: 500 frames take over an hour, bench/RESULTS.md).

Memory is each job's peak resident set size (``max_rss`` of Snakemake's benchmark records, MB:
the job's process and its children).  The table gives, per length, the largest job and its peak,
and the ratio of the longest movie's peak to the shortest's.  The goal (issue #7): the 500-frame
run under 3 GB and within 20 % of the 100-frame run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from bench.common import REPO, benchmark_values, machine, print_table
from bench.track_accuracy import run_workflow

PIXEL_SIZE_UM = 0.65
INTERVAL_MIN = 5.0
GOAL_MB = 3000.0
GOAL_RATIO = 1.20


def write_movie(path: Path, n_frames: int, side: int, n_cells: int = 60, seed: int = 0, radius: float = 12.0) -> int:
    """A (T, Y, X) uint16 TIFF of drifting bright disks (``radius`` px) on a noisy background, written frame by frame.

    Returns the file's size in bytes.  Memory stays at one frame whatever ``n_frames`` is.
    """
    import tifffile
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    margin = int(radius) + 8
    position = rng.uniform(margin, side - margin, (n_cells, 2))
    velocity = rng.normal(0, 1.0, (n_cells, 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for _ in range(n_frames):
            frame = rng.normal(200.0, 20.0, (side, side))
            for y, x in position:
                rr, cc = disk((y, x), radius, shape=(side, side))
                frame[rr, cc] += 1500.0
            tif.write(np.clip(frame, 0, 65535).astype(np.uint16), contiguous=True, metadata={"axes": "TYX"})
            velocity = 0.8 * velocity + rng.normal(0, 0.5, velocity.shape)
            position = np.clip(position + velocity, margin, side - margin)
    return path.stat().st_size


#: Nucleus radius drawn (px) and diameter given to the segmentation (px), per method.
DRAWN_RADIUS_PX = {"classical": 12.0, "cellpose": 30.0}
DIAMETER_PX = {"classical": None, "cellpose": 60.0}


def set_up(workdir: Path, n_frames: int, side: int, method: str = "classical") -> None:
    """A workflow folder: the movie, the repository's config with ``method`` segmentation and no demo."""
    size = write_movie(workdir / "movie.tif", n_frames, side, radius=DRAWN_RADIUS_PX[method])
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"] = {}
    config["segment"]["method"] = method
    if DIAMETER_PX[method] is not None:
        config["segment"]["diameter_um"] = None
        config["segment"]["diameter_px"] = DIAMETER_PX[method]
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "config" / "samples.tsv").write_text(
        "sample\tmovie\taxes\tpixel_size_um\tframe_interval_min\n"
        f"movie\tmovie.tif\tTYX\t{PIXEL_SIZE_UM}\t{INTERVAL_MIN:g}\n"
    )
    print(f"{n_frames} frames: wrote {workdir / 'movie.tif'} ({size / 1e6:.0f} MB)", flush=True)


def peak_rss_by_rule(results: Path) -> dict[str, float]:
    """Peak resident set size of each rule's job(s), MB, from Snakemake's benchmark records."""
    return {rule: max(values) for rule, values in benchmark_values(results, "max_rss").items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="100,500", help="movie lengths, comma-separated (frames)")
    parser.add_argument("--side", type=int, default=1024, help="frame side (px)")
    parser.add_argument("--method", default="classical", choices=sorted(DRAWN_RADIUS_PX),
                        help="segmentation: classical (minutes) or cellpose with the shipped model (hours on a CPU)")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.frames.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-memory-bench-"))
    print(f"machine: {machine()}")
    peaks: dict[int, dict[str, float]] = {}
    rows = []
    for n in lengths:
        workdir = work / f"frames{n}"
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        set_up(workdir, n, args.side, args.method)
        seconds = run_workflow(workdir, "all")
        peaks[n] = peak_rss_by_rule(workdir / "results")
        rule, mb = max(peaks[n].items(), key=lambda item: item[1])
        rows.append([n, f"{args.side}x{args.side}", args.method, f"{seconds:.0f}", rule, f"{mb:.0f}"])
    print_table(f"Peak memory of the whole workflow (max_rss of the largest job, MB; goal < {GOAL_MB:.0f})",
                ["frames", "frame px", "segmentation", "wall s", "largest job", "peak MB"], rows)
    rules = sorted(set().union(*peaks.values()))
    print_table("Peak memory per rule (MB)", ["rule", *(f"{n} frames" for n in lengths)],
                [[r, *(f"{peaks[n].get(r, float('nan')):.0f}" for n in lengths)] for r in rules])
    if len(lengths) > 1:
        short, long = lengths[0], lengths[-1]
        ratio = max(peaks[long].values()) / max(peaks[short].values())
        verdict = "meets" if ratio <= GOAL_RATIO and max(peaks[long].values()) < GOAL_MB else "misses"
        print(f"peak {long} frames / peak {short} frames = {ratio:.2f}x ({verdict} the goal: "
              f"< {GOAL_MB:.0f} MB and <= {GOAL_RATIO:.2f}x)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
