"""How tracking time grows with the number of cells per frame.

    .venv/bin/python -m bench.track_scale [--cells 100,300,500,1000] [--frames 100]

Label movies are drawn directly (no image simulation, no segmentation): N disks of radius 4 px
that move by a persistent random walk (about 1.5 px per frame) in a square field sized for about
one cell per 24 x 24 px, 100 frames, no divisions.  Each movie is tracked by cellpipe's tracking
stage (``track_cells``) with the workflow's default settings; the time covers object extraction,
btrack's linking, its optimiser and the assembly of the tables.  For the largest movie it also
times btrack's approximate update mode (what ``track.dense_objects_per_frame`` switches to) and
prints its ratio to the exact mode, side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import yaml
from skimage.draw import disk

from bench.common import REPO, machine

PIXEL_SIZE_UM = 0.65
INTERVAL_MIN = 5.0


def moving_disks(n_cells: int, n_frames: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """(T, Y, X) uint32 labels of ``n_cells`` moving disks (labels renumbered per frame) and the field side (px)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells) * 24))
    grid = int(np.ceil(np.sqrt(n_cells)))
    cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij"), -1).reshape(-1, 2)[:n_cells]
    position = (cells + 0.5) * (side / grid) + rng.uniform(-3, 3, (n_cells, 2))
    velocity = rng.normal(0, 1.0, (n_cells, 2))
    labels = np.zeros((n_frames, side, side), dtype=np.uint32)
    for t in range(n_frames):
        order = rng.permutation(n_cells) + 1
        for i in range(n_cells):
            rr, cc = disk(tuple(position[i]), 4.0, shape=(side, side))
            labels[t, rr, cc] = order[i]
        velocity = 0.8 * velocity + rng.normal(0, 0.6, velocity.shape)
        position = np.clip(position + velocity, 6, side - 6)
    return labels, side


def time_tracking(labels: np.ndarray, **overrides) -> tuple[float, dict]:
    from cellpipe.config import TrackSettings
    from cellpipe.io import tables
    from cellpipe.track import track_cells

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    settings = TrackSettings.model_validate({**config["track"], **overrides})
    tracker = tables.read_json(REPO / settings.tracker_config)
    start = time.perf_counter()
    result = track_cells(labels, settings, tracker, PIXEL_SIZE_UM, INTERVAL_MIN)
    return time.perf_counter() - start, result.info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default="100,300,500,1000")
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.cells.split(",")]
    print(f"machine: {machine()}")
    print(f"{'cells/frame':>11} {'frames':>6} {'field px':>8} {'objects':>8} {'tracks':>6} {'mode':>11} {'seconds':>8} {'us/object':>9}")
    base = None
    for n in counts:
        labels, side = moving_disks(n, args.frames)
        seconds, info = time_tracking(labels)
        base = base or (seconds, n)
        print(f"{n:>11} {args.frames:>6} {side:>8} {info['n_objects']:>8} {info['n_tracks']:>6} "
              f"{info['update_method']:>11} {seconds:>8.2f} {1e6 * seconds / max(1, info['n_objects']):>9.1f}", flush=True)
    largest, _ = moving_disks(counts[-1], args.frames)
    exact, exact_info = time_tracking(largest, dense_objects_per_frame=10**9)
    approx, approx_info = time_tracking(largest, dense_objects_per_frame=1)
    print(f"{counts[-1]} cells/frame: exact {exact:.2f} s ({exact_info['n_tracks']} tracks), "
          f"approximate {approx:.2f} s ({approx_info['n_tracks']} tracks): exact/approximate = {exact / approx:.2f}x")
    print(f"growth: {counts[-1]} vs {base[1]} cells/frame = {counts[-1] / base[1]:.0f}x objects, time ratio "
          f"(exact) {exact / base[0]:.1f}x")


if __name__ == "__main__":
    main()
