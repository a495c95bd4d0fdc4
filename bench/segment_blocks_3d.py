"""Block-wise classical 3-D segmentation against one pass: peak memory, time and agreement on one stack.

    PYTHONPATH=src .venv/bin/python -m bench.segment_blocks_3d [--shape 32 256 256] [--blocks 32,16] [--seed 0]

One stack of :mod:`cellpipe.simulate3d` (2 x 0.5 x 0.5 µm voxels, default 32 x 256 x 256, nuclei of up to 5 µm
semi-axis), normalized like the workflow (movie-wide 1 and 99.8 percentiles), is segmented by
:func:`cellpipe.segment.segment_stack_classical` in one pass and by
:func:`cellpipe.segment.segment_stack_classical_blocks` with cores of each ``--blocks`` size (µm) and the
default overlap of one cell diameter (8 µm), with no intensity transform, background 'none', Otsu, 0.5 µm
smoothing and distance seeds (the 3-D demo's settings before the classical defaults cut each nucleus to its own
level, issue #27; ``object_threshold`` at its default) and again with a white top-hat background of 10 µm
(computed per block, the method's approximation).
Peak memory is the largest amount traced by ``tracemalloc`` during the call (MiB, numpy's and scipy's
allocations; the stack itself is allocated before and not counted).  Agreement: objects found, and the
fraction of one-pass objects whose best match in the block-wise labels has IoU >= 0.9 (and the mean IoU).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from bench.common import machine, print_table

DIAMETER_UM = 8.0


def peak(run: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """``run()``'s result, its peak traced memory (MiB) and its wall time (s)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        out = run()
        return out, tracemalloc.get_traced_memory()[1] / 2**20, time.perf_counter() - start
    finally:
        tracemalloc.stop()


def matched(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Fraction of ``reference``'s objects matched at IoU >= 0.9 in ``other``, and their mean best IoU."""
    from scipy import sparse

    n, m = int(reference.max()), int(other.max())
    if n == 0:
        return 1.0, 1.0
    pairs = sparse.coo_matrix((np.ones(reference.size), (reference.ravel(), other.ravel())), shape=(n + 1, m + 1))
    overlap = pairs.toarray()[1:, 1:]
    sizes_a = np.bincount(reference.ravel(), minlength=n + 1)[1:, None]
    sizes_b = np.bincount(other.ravel(), minlength=m + 1)[None, 1:]
    iou = overlap / np.maximum(sizes_a + sizes_b - overlap, 1)
    best = iou.max(axis=1) if m else np.zeros(n)
    return float((best >= 0.9).mean()), float(best.mean())


def main(argv: list[str] | None = None) -> None:
    from cellpipe.config import ClassicalSettings, NormalizeSettings, Simulation3DSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.segment import classical_blocks, segment_stack_classical, segment_stack_classical_blocks
    from cellpipe.simulate3d import simulate_movie_3d

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 256, 256), metavar=("Z", "Y", "X"))
    parser.add_argument("--blocks", default="32,16", help="comma-separated core sizes (µm)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sim = simulate_movie_3d(Simulation3DSettings(n_frames=2, shape_zyx=tuple(args.shape), seed=args.seed))
    normalized, _ = normalize_movie(sim.image[:, np.newaxis], NormalizeSettings())
    stack = np.ascontiguousarray(np.asarray(normalized)[-1, 0], dtype=np.float32)
    voxel = sim.voxel_size_um
    print(f"{machine()}\nstack {stack.shape}, voxel {voxel} µm, {len(np.unique(sim.labels[-1])) - 1} true nuclei")
    demo = ClassicalSettings(intensity_transform="none", background="none", threshold="otsu", smoothing_sigma_um=0.5,
                             seeds="distance")
    variants = {"demo3d (background none)": demo,
                "top-hat 10 µm": demo.model_copy(update={"background": "tophat", "background_um": 10.0})}
    rows = []
    for name, settings in variants.items():
        one, one_mb, one_s = peak(lambda s=settings: segment_stack_classical(stack, voxel, s, DIAMETER_UM))
        rows.append([name, "one pass", 1, int(one.max()), round(one_mb, 1), round(one_s, 1), "", ""])
        for core in (float(b) for b in args.blocks.split(",")):
            tiled_settings = settings.model_copy(update={"block_size_um": core})
            n_blocks = len(classical_blocks(stack.shape, voxel, core, DIAMETER_UM))
            tiled, mb, s = peak(lambda t=tiled_settings: segment_stack_classical_blocks(stack, voxel, t, DIAMETER_UM))
            share, mean_iou = matched(one, tiled)
            rows.append([name, f"cores {core:g} µm", n_blocks, int(tiled.max()), round(mb, 1), round(s, 1),
                         round(share, 3), round(mean_iou, 3)])
    print_table("block-wise classical 3-D against one pass",
                ["settings", "run", "blocks", "objects", "peak MiB", "s", "IoU>=0.9", "mean IoU"], rows)


if __name__ == "__main__":
    main()
