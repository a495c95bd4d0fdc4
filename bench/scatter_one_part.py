"""What one rule shape costs the default user (segment.scatter 1, issue #25).

    .venv/bin/python -m bench.scatter_one_part [--frames 40] [--side 512] [--repeats 3] [--baseline ../wt-base]

The workflow segments every movie in parts (rule segment_frames, one job per part) and gathers them
(rule segment_cells), also when there is one part.  This times, on one drawn movie (classical
segmentation, the CPU; the network's time would only add to every row alike), the step functions the
jobs run, each side in a fresh Python process with its own source tree on ``PYTHONPATH``:

* ``baseline: segment_cells`` (the named baseline): the whole-movie step of the baseline tree (its ``segment_cells_step``)
  (``--baseline``, a checkout of the commit before one shape), the single GPU job it ran by default.
* ``baseline: segment_frames + gather (copy)``: the baseline tree's one part and gather, which reads
  and writes every frame again: what "always scatter + gather" costs without a cheap one-part gather.
* ``this tree: segment_frames + gather (move)``: this tree's one part (written as the finished label
  image) and its gather, which renames it into place.

Rows give the medians over ``--repeats`` runs in turn (segment step, gather step, total, in s), the
gather's seconds as a ratio to the baseline's segment_cells (what the second step adds), the bytes the
gather wrote (kB, the label store's size where it copies, the metadata it rewrites where it moves) and
the total's ratio to the baseline. The segment step runs the same code on every side, so on a shared
machine the totals differ by the noise of that step; the gather column is the difference. Imports are
not timed: Snakemake starts one process per job on both sides, and the gather job's own start (Python
and cellpipe's imports, about a second) is the remaining cost of the second job, printed apart; on a
cluster that job is a local rule (no queue wait).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from bench.common import REPO, machine, print_table

PIXEL_SIZE_UM, INTERVAL_MIN = 0.5, 5.0
SETTINGS = {"method": "classical", "channel": 0, "diameter_px": 24.0}

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    args = json.loads(sys.argv[1])
    try:
        from cellpipe.steps import segment as s
    except ImportError:  # a tree from before cellpipe.steps became a package (0c803a1): the same functions
        import cellpipe.steps as s
    from cellpipe.io import omezarr
    out = Path(args["out"])
    labels, info = out / "labels" / "cells" / ".zattrs", out / "segmentation.json"
    part, part_info = out / "segment_parts" / "0.zarr", out / "segment_parts" / "0.json"
    t0 = time.perf_counter()
    if args["shape"] == "one":
        # the whole movie in one call: segment_whole_movie, or segment_cells_step in a tree whose gather is gather_segments_step
        whole = s.segment_whole_movie if hasattr(s, "segment_whole_movie") else s.segment_cells_step
        whole(args["normalized"], args["image"], args["settings"], labels, info)
        t1 = t2 = time.perf_counter()
    else:
        s.segment_frames_step(args["normalized"], args["image"], args["settings"], 0, 1, part, part_info)
        t1 = time.perf_counter()
        before = {p: p.stat().st_mtime_ns for p in part.rglob("*") if p.is_file()}
        gather = s.gather_segments_step if hasattr(s, "gather_segments_step") else s.segment_cells_step
        gather(args["normalized"], args["image"], [part], [part_info], labels, info)
        t2 = time.perf_counter()
    store = omezarr.store_path(labels)
    files = [p for p in store.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    if args["shape"] == "one":
        written = size
    else:  # what the gather wrote: every file of the store, or those it rewrote after the part was done
        moved = {store / p.relative_to(part): m for p, m in before.items()}
        written = sum(p.stat().st_size for p in files if moved.get(p) != p.stat().st_mtime_ns)
    print(json.dumps({"segment_s": t1 - t0, "gather_s": t2 - t1, "gather_bytes": written if args["shape"] != "one" else 0,
                      "labels_bytes": size}))
    """
)


def prepare(work: Path, n_frames: int, side: int) -> tuple[Path, Path]:
    """The image (OME-Zarr, NGFF 0.4) and normalized movie a segmentation job reads: drifting bright disks."""
    from skimage.draw import disk

    from bench.common import normalized_movie
    from bench.workflow_memory import drifting_centres
    from cellpipe.io import omezarr

    rng = np.random.default_rng(1)
    frames = np.empty((n_frames, 1, side, side), np.uint16)
    for t, centres in enumerate(drifting_centres(n_frames, side, max(4, side * side // 1500), 0, 12.0)):
        frame = rng.normal(200.0, 20.0, (side, side))
        for y, x in centres:
            rr, cc = disk((y, x), 12.0, shape=(side, side))
            frame[rr, cc] += 1500.0
        frames[t, 0] = np.clip(frame, 0, 65535).astype(np.uint16)
    image = work / "image.ome.zarr" / ".zattrs"  # NGFF 0.4: the one the baseline tree reads
    omezarr.write_ome_image(image, frames, "tcyx", PIXEL_SIZE_UM, INTERVAL_MIN)
    normalized = work / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, frames.shape, "float32", {}) as out:
        out[:, 0] = normalized_movie(frames[:, 0])
    return image, normalized


def run_child(src: Path, shape: str, image: Path, normalized: Path, out: Path) -> dict:
    args = {"shape": shape, "image": str(image), "normalized": str(normalized), "out": str(out), "settings": SETTINGS}
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{shape} with {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_seconds(src: Path) -> float:
    """Wall seconds of a fresh Python that imports the gather's step module (median of 3): the start of the second job."""
    import time

    env = {**os.environ, "PYTHONPATH": str(src)}
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import cellpipe.steps.segment"], env=env, check=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=REPO.parent / "wt-base",
                        help="checkout of the commit before one shape (default: ../wt-base)")
    args = parser.parse_args(argv)
    base_src, this_src = args.baseline.resolve() / "src", REPO / "src"
    if not (base_src / "cellpipe" / "steps.py").is_file() and not (base_src / "cellpipe" / "steps").is_dir():
        raise SystemExit(f"{base_src}: no cellpipe.steps there; give --baseline a checkout of 0c803a1")
    sides = {
        "baseline: segment_cells": (base_src, "one"),
        "baseline: segment_frames + gather (copy)": (base_src, "parts"),
        "this tree: segment_frames + gather (move)": (this_src, "parts"),
    }
    with tempfile.TemporaryDirectory(prefix="scatter-bench-") as tmp:
        work = Path(tmp)
        image, normalized = prepare(work, args.frames, args.side)
        results: dict[str, list[dict]] = {name: [] for name in sides}
        for r in range(args.repeats):
            for i, (name, (src, shape)) in enumerate(sides.items()):
                results[name].append(run_child(src, shape, image, normalized, work / f"run{r}_{i}"))
        imports = import_seconds(this_src)
    base_total = statistics.median(x["segment_s"] + x["gather_s"] for x in results["baseline: segment_cells"])
    base_segment = statistics.median(x["segment_s"] for x in results["baseline: segment_cells"])
    rows = []
    for name, runs in results.items():
        seg = statistics.median(x["segment_s"] for x in runs)
        gather = statistics.median(x["gather_s"] for x in runs)
        total = statistics.median(x["segment_s"] + x["gather_s"] for x in runs)
        written = statistics.median(x["gather_bytes"] for x in runs) / 1e3
        rows.append([name, f"{seg:.2f}", f"{gather:.3f}", f"{gather / base_segment:.4f}x", f"{total:.2f}",
                     f"{written:.1f}", f"{total / base_total:.3f}x"])
    labels_mb = results["baseline: segment_cells"][0]["labels_bytes"] / 1e6
    print_table(f"{machine()}; {args.frames} frames of {args.side}x{args.side} px, classical segmentation, "
                f"label image {labels_mb:.1f} MB; medians of {args.repeats}",
                ["side", "segment s", "gather s", "gather / baseline", "total s", "gather wrote kB", "total / baseline"], rows)
    print(f"a second job's start (python, import cellpipe.steps.segment): {imports:.2f} s")


if __name__ == "__main__":
    main()
