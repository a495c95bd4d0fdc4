"""Cellpose 'do_3d' block by block against one pass with ``segment.cellpose.normalize``: who stretches the blocks.

    PYTHONPATH=src .venv/bin/python -m bench.do_3d_blocks_normalize

With ``normalize`` Cellpose stretches a stack between its 1st and 99th percentiles before its 3-D flows.  Block by
block, cellpipe stretches the whole stack once and runs the blocks unstretched
(``cellpipe.segment.cellpose_3d._segment_stack_do_3d_blocks``), so every block sees the intensities one pass sees.  This runs,
on 8 x 40 x 70 voxel stacks of 2 x 0.5 x 0.5 µm with the shipped model at its 15 µm (30 px) diameter, cut into
two blocks along x (cores of 20 µm, 8 µm of overlap):

- ``one pass``: :func:`cellpipe.segment.segment_stack_cellpose` without blocks;
- ``blocks``: the same with ``block_size_um`` (the whole stack stretched once);
- ``blocks, each stretched``: the blocks path with Cellpose's own stretch of each block instead (the private
  block function called with ``normalize`` left on in Cellpose's options), what cellpipe does not do.

Stacks: ``two nuclei, raw counts`` (100 + 1000 x two nuclei side by side, one per block core) and ``one nucleus,
empty half`` (one nucleus at the left face, nothing but noise of SD 0.02 on 0 in the right block; nuclei about 1,
as a normalized movie).  The table gives the objects found, their sizes (voxels) and, per object of the one
pass, the IoU of the object that overlaps it most.  One torch thread.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import numpy as np

from bench.common import REPO, machine, print_table

VOXEL_UM = (2.0, 0.5, 0.5)
SHAPE_ZYX = (8, 40, 70)
DIAMETER_UM = 15.0
MODEL = REPO / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"
SEMI_AXES_UM = (6.5, 7.5, 7.5)


def _nuclei(centres_um: list[tuple[float, float, float]], seed: int = 0) -> np.ndarray:
    """A (z, y, x) float32 stack of ellipsoids about 1 on 0 (blurred 0.5 µm, noise SD 0.02) centred at ``centres_um``."""
    from scipy import ndimage as ndi

    z, y, x = (
        (np.arange(n) + 0.5).reshape([-1 if i == axis else 1 for i in range(3)]) * d
        for axis, (n, d) in enumerate(zip(SHAPE_ZYX, VOXEL_UM))
    )
    inside = np.zeros(SHAPE_ZYX, dtype=bool)
    for centre in centres_um:
        inside |= sum(((g - c) / a) ** 2 for g, c, a in zip((z, y, x), centre, SEMI_AXES_UM)) <= 1.0
    image = ndi.gaussian_filter(inside.astype(np.float32), [0.5 / d for d in VOXEL_UM])
    image += np.random.default_rng(seed).normal(0.0, 0.02, SHAPE_ZYX).astype(np.float32)
    return image.astype(np.float32)


@contextmanager
def _each_block_stretched():
    """cellpipe's blocks path with Cellpose's own stretch of every block instead of one of the whole stack."""
    import cellpipe.segment as seg

    whole_stack = seg._segment_stack_do_3d_blocks

    def each_block(image: np.ndarray, blocks: list, settings: Any, model: Any, anisotropy: float, options: dict):
        return whole_stack(image, blocks, settings.model_copy(update={"normalize": False}), model, anisotropy,
                           {**options, "normalize": True})

    seg._segment_stack_do_3d_blocks = each_block
    try:
        yield
    finally:
        seg._segment_stack_do_3d_blocks = whole_stack


def main() -> None:
    import torch

    from cellpipe.config import CellposeSettings
    from cellpipe.metrics import best_match_ious
    from cellpipe.segment import load_cellpose_model, segment_stack_cellpose

    torch.set_num_threads(1)
    print(machine())
    model = load_cellpose_model(MODEL, "cpu")
    stacks = {
        "two nuclei, raw counts": 100.0 + 1000.0 * _nuclei([(8.0, 10.0, 8.5), (8.0, 10.0, 26.0)]),
        "one nucleus, empty half": _nuclei([(8.0, 10.0, 4.0)]),
    }
    rows = []
    for name, stack in stacks.items():
        for normalize in (True, False):
            if not normalize and name.endswith("raw counts"):
                continue  # raw counts unstretched are no input for the network
            settings = CellposeSettings(model=str(MODEL), mode_3d="do_3d", normalize=normalize)
            blocked = settings.model_copy(update={"block_size_um": 20.0, "block_overlap_um": 8.0})
            runs = [("one pass", settings, None), ("blocks", blocked, None)]
            if normalize:
                runs.append(("blocks, each stretched", blocked, _each_block_stretched))
            one_pass = None
            for label, run_settings, patch in runs:
                start = time.perf_counter()
                if patch is None:
                    found = segment_stack_cellpose(stack, VOXEL_UM, run_settings, model, DIAMETER_UM)
                else:
                    with patch():
                        found = segment_stack_cellpose(stack, VOXEL_UM, run_settings, model, DIAMETER_UM)
                seconds = time.perf_counter() - start
                one_pass = found if one_pass is None else one_pass
                sizes = np.bincount(found.ravel())[1:]
                ious = ", ".join(f"{v:.3f}" for v in best_match_ious(one_pass, found))
                rows.append([name, str(normalize).lower(), label, int(found.max()),
                             ", ".join(str(int(n)) for n in sizes), ious or "-", f"{seconds:.1f}"])
    print_table("do_3d with segment.cellpose.normalize: one pass and blocks",
                ["stack", "normalize", "run", "objects", "voxels each", "IoU per one-pass object", "s"], rows)


if __name__ == "__main__":
    main()
