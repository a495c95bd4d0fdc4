"""Peak memory of the whole workflow against movie length: does it stay bounded?

    .venv/bin/python -m bench.workflow_memory [--frames 100,500] [--side 1024] [--method classical|cellpose]
        [--ground-truth] [--work DIR]

For each length a movie of ``--side`` x ``--side`` px frames (uint16, one multi-page TIFF written
frame by frame) is drawn: 60 nuclei (disks of radius 12 px, bright on a noisy background)
drifting by a persistent random walk (about 1 px per frame) in which two disks closer than a
diameter plus 2 px are pushed apart, as nuclei are, so that disks do not overlap.  The whole
workflow (ingest, normalize, segment, track, measure, exports, provenance, report) runs on it
through Snakemake, by default with the classical segmentation (threshold + watershed) so that a
500-frame movie runs on a CPU in minutes.  ``--method cellpose`` segments with Cellpose and the
shipped model instead: the nuclei are then drawn with a radius of 30 px and segmented at a
diameter of 60 px, so Cellpose rescales the frames by 0.5 (30 px / 60 px) as for the GOWT1
benchmark (8 s per 1024² frame on a 2-core CPU with other work beside it: 500 frames take over an
hour, bench/RESULTS.md).

``--ground-truth`` also writes the movie's CTC ground truth beside it (``01_GT``, frame by frame,
so that the bench itself stays at one frame of memory): ``TRA/man_trackTTT.tif`` with each drawn
disk labelled by its track id 1..60 in every frame, ``TRA/man_track.txt`` (60 tracks spanning the
movie, no divisions) and complete ``SEG/man_segTTT.tif`` masks every 10th frame.  The sample
sheet names it in its ground_truth column, so the workflow runs evaluate_sample too.  Should two
disks still touch (the push apart is not exact in a crowd), each pixel of the overlap goes to the
nearer centre, so every track keeps its label in every frame; the bench prints how many frames
had an overlap (none at 1024², 100 and 500 frames).

Memory is each job's peak resident set size (``max_rss`` of Snakemake's benchmark records, MB:
the job's process and its children).  The table gives, per length, the largest job and its peak,
evaluate_sample's peak and seconds (with ``--ground-truth``), and the ratio of the longest movie's
peak to the shortest's.  The goals: the whole workflow's 500-frame run under 3 GB and within 20 %
of the 100-frame run (issue #7); evaluate_sample at 1024² below 1.5 GB and within 20 % of the
100-frame run (issue #29).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from bench.common import REPO, benchmark_values, machine, print_table
from bench.track_accuracy import run_workflow

PIXEL_SIZE_UM = 0.65
INTERVAL_MIN = 5.0
GOAL_MB = 3000.0
GOAL_RATIO = 1.20
#: Issue #29's goal for the evaluation job at 1024² px: 500 frames below this (MB) and within GOAL_RATIO of 100 frames.
EVALUATION_GOAL_MB = 1500.0
#: Every how many frames the drawn ground truth has a (complete) SEG mask.
SEG_EVERY = 10


def _pushed_apart(position: np.ndarray, spacing: float, low: float, high: float, rounds: int = 10) -> np.ndarray:
    """``position`` (N, 2), px, with every pair closer than ``spacing`` px pushed apart along the line between
    them (half the shortfall each, ``rounds`` times), kept within ``low``..``high`` px."""
    for _ in range(rounds):
        offset = position[:, None, :] - position[None, :, :]
        distance = np.hypot(offset[..., 0], offset[..., 1])
        np.fill_diagonal(distance, spacing)  # a disk does not push itself (and spacing, unlike inf, gives no NaN below)
        close = distance < spacing
        if not close.any():
            break
        # a 0 distance (two identical positions) pushes nothing rather than dividing by zero
        push = np.where(close, (spacing - distance) / 2 / np.maximum(distance, 1e-9), 0.0)
        position = np.clip(position + (push[..., None] * offset).sum(axis=1), low, high)
    return position


def drifting_centres(n_frames: int, side: int, n_cells: int = 60, seed: int = 0, radius: float = 12.0) -> Iterator[np.ndarray]:
    """The disk centres of each frame in turn, (n_cells, 2) float (y, x) px: a persistent random walk (about 1 px
    per frame), ``radius`` + 8 px from the edges, in which disks that come closer than a diameter plus 2 px are
    pushed apart, as nuclei do, so that the drawn disks (nearly) never overlap.  The same ``seed`` gives the same
    centres, so the movie and its ground truth are drawn in two passes of one frame each."""
    rng = np.random.default_rng(seed)
    margin = radius + 8
    spacing = 2 * radius + 2
    position = _pushed_apart(rng.uniform(margin, side - margin, (n_cells, 2)), spacing, margin, side - margin)
    velocity = rng.normal(0, 1.0, (n_cells, 2))
    for _ in range(n_frames):
        yield position.copy()
        velocity = 0.8 * velocity + rng.normal(0, 0.5, velocity.shape)
        position = _pushed_apart(np.clip(position + velocity, margin, side - margin), spacing, margin, side - margin)


def write_movie(path: Path, n_frames: int, side: int, n_cells: int = 60, seed: int = 0, radius: float = 12.0) -> int:
    """A (T, Y, X) uint16 TIFF of drifting bright disks (``radius`` px, :func:`drifting_centres`) on a noisy
    background, written frame by frame.

    Returns the file's size in bytes.  Memory stays at one frame whatever ``n_frames`` is.
    """
    import tifffile
    from skimage.draw import disk

    noise = np.random.default_rng(seed + 1)  # apart from the centres' generator, which the ground truth replays
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for position in drifting_centres(n_frames, side, n_cells, seed, radius):
            frame = noise.normal(200.0, 20.0, (side, side))
            for y, x in position:
                rr, cc = disk((y, x), radius, shape=(side, side))
                frame[rr, cc] += 1500.0
            tif.write(np.clip(frame, 0, 65535).astype(np.uint16), contiguous=True, metadata={"axes": "TYX"})
    return path.stat().st_size


def disk_labels(centres: np.ndarray, radius: float, side: int) -> np.ndarray:
    """(side, side) uint16 label image: the disk of ``radius`` px around ``centres[i]`` ((y, x) px) labelled i + 1.

    A pixel inside two disks goes to the nearer centre, so a disk keeps its own centre pixel (and its
    label stays in the frame) however close another comes; 0 outside every disk.
    """
    from skimage.draw import disk

    labels = np.zeros((side, side), np.uint16)
    nearest = np.full((side, side), np.inf, np.float32)
    for i, (y, x) in enumerate(centres):
        rr, cc = disk((y, x), radius, shape=(side, side))
        d2 = (rr - y) ** 2 + (cc - x) ** 2
        closer = d2 < nearest[rr, cc]
        labels[rr[closer], cc[closer]] = i + 1
        nearest[rr[closer], cc[closer]] = d2[closer]
    return labels


def write_ground_truth(gt_dir: Path, n_frames: int, side: int, n_cells: int = 60, seed: int = 0, radius: float = 12.0,
                       seg_every: int = SEG_EVERY) -> int:
    """The CTC ground truth (01_GT layout) of :func:`write_movie`'s movie with the same arguments, frame by frame.

    ``TRA/man_trackTTT.tif``: every frame, each drawn disk (:func:`disk_labels`) labelled with its track id
    1..``n_cells``; ``TRA/man_track.txt``: one track per disk from frame 0 to the last, no parents (nothing
    divides); ``SEG/man_segTTT.tif``: the same complete masks every ``seg_every``-th frame from frame 0.
    Returns the number of frames in which two disks overlap (their pixels then go to the nearer centre).
    """
    import pandas as pd

    from cellpipe.io.ctc import write_ctc_ground_truth_frames

    tracks = pd.DataFrame({"label": np.arange(1, n_cells + 1), "first_frame": 0, "last_frame": n_frames - 1, "parent": 0})
    overlapping = 0

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        nonlocal overlapping
        for t, centres in enumerate(drifting_centres(n_frames, side, n_cells, seed, radius)):
            offset = centres[:, None, :] - centres[None, :, :]
            distance = np.hypot(offset[..., 0], offset[..., 1])[np.triu_indices(n_cells, 1)]
            overlapping += bool((distance < 2 * radius).any())
            labels = disk_labels(centres, radius, side)
            yield labels, (labels if t % seg_every == 0 else None)

    write_ctc_ground_truth_frames(gt_dir, frames(), n_frames, tracks)
    return overlapping


#: Nucleus radius drawn (px) and diameter given to the segmentation (px), per method.
DRAWN_RADIUS_PX = {"classical": 12.0, "cellpose": 30.0}
DIAMETER_PX = {"classical": None, "cellpose": 60.0}


def set_up(workdir: Path, n_frames: int, side: int, method: str = "classical", ground_truth: bool = False) -> None:
    """A workflow folder: the movie, the repository's config with ``method`` segmentation and no demo; with
    ``ground_truth`` also the movie's CTC ground truth in ``01_GT`` (:func:`write_ground_truth`), named in the
    sample sheet's ground_truth column so that the workflow evaluates the sample."""
    radius = DRAWN_RADIUS_PX[method]
    size = write_movie(workdir / "movie.tif", n_frames, side, radius=radius)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"] = {}
    config["segment"]["method"] = method
    if DIAMETER_PX[method] is not None:
        config["segment"]["diameter_um"] = None
        config["segment"]["diameter_px"] = DIAMETER_PX[method]
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    header, row = "sample\tmovie\taxes\tpixel_size_um\tframe_interval_min", f"movie\tmovie.tif\tTYX\t{PIXEL_SIZE_UM}\t{INTERVAL_MIN:g}"
    if ground_truth:
        header, row = header + "\tground_truth", row + "\t01_GT"
    (workdir / "config" / "samples.tsv").write_text(f"{header}\n{row}\n")
    print(f"{n_frames} frames: wrote {workdir / 'movie.tif'} ({size / 1e6:.0f} MB)", flush=True)
    if ground_truth:
        start = time.perf_counter()
        overlapping = write_ground_truth(workdir / "01_GT", n_frames, side, radius=radius)
        print(f"{n_frames} frames: wrote {workdir / '01_GT'} in {time.perf_counter() - start:.0f} s "
              f"(SEG every {SEG_EVERY}th frame; {overlapping} frame(s) with two disks overlapping)", flush=True)


def peak_rss_by_rule(results: Path) -> dict[str, float]:
    """Peak resident set size of each rule's job(s), MB, from Snakemake's benchmark records."""
    return {rule: max(values) for rule, values in benchmark_values(results, "max_rss").items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="100,500", help="movie lengths, comma-separated (frames)")
    parser.add_argument("--side", type=int, default=1024, help="frame side (px)")
    parser.add_argument("--method", default="classical", choices=sorted(DRAWN_RADIUS_PX),
                        help="segmentation: classical (minutes) or cellpose with the shipped model (hours on a CPU)")
    parser.add_argument("--ground-truth", action="store_true",
                        help="write the movie's CTC ground truth too, so that the workflow runs evaluate_sample")
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
        set_up(workdir, n, args.side, args.method, args.ground_truth)
        seconds = run_workflow(workdir, "all")
        peaks[n] = peak_rss_by_rule(workdir / "results")
        rule, mb = max(peaks[n].items(), key=lambda item: item[1])
        evaluation = peaks[n].get("evaluate_sample", float("nan"))
        eval_s = max(benchmark_values(workdir / "results", "s").get("evaluate_sample", [float("nan")]))
        rows.append([n, f"{args.side}x{args.side}", args.method, f"{seconds:.0f}", rule, f"{mb:.0f}",
                     f"{evaluation:.0f}", f"{eval_s:.0f}"])
    print_table(f"Peak memory of the whole workflow (max_rss of the largest job, MB; goal < {GOAL_MB:.0f})",
                ["frames", "frame px", "segmentation", "wall s", "largest job", "peak MB",
                 "evaluate_sample MB", "evaluate_sample s"], rows)
    rules = sorted(set().union(*peaks.values()))
    print_table("Peak memory per rule (MB)", ["rule", *(f"{n} frames" for n in lengths)],
                [[r, *(f"{peaks[n].get(r, float('nan')):.0f}" for n in lengths)] for r in rules])
    if len(lengths) > 1:
        short, long = lengths[0], lengths[-1]
        ratio = max(peaks[long].values()) / max(peaks[short].values())
        verdict = "meets" if ratio <= GOAL_RATIO and max(peaks[long].values()) < GOAL_MB else "misses"
        print(f"peak {long} frames / peak {short} frames = {ratio:.2f}x ({verdict} the goal: "
              f"< {GOAL_MB:.0f} MB and <= {GOAL_RATIO:.2f}x)")
        if args.ground_truth:
            short_mb, long_mb = peaks[short]["evaluate_sample"], peaks[long]["evaluate_sample"]
            verdict = "meets" if long_mb / short_mb <= GOAL_RATIO and long_mb < EVALUATION_GOAL_MB else "misses"
            print(f"evaluate_sample: {long_mb:.0f} MB at {long} frames / {short_mb:.0f} MB at {short} frames = "
                  f"{long_mb / short_mb:.2f}x ({verdict} issue #29's goal at 1024² px: < {EVALUATION_GOAL_MB:.0f} MB "
                  f"and <= {GOAL_RATIO:.2f}x)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
