"""Tests of the block-wise classical 3-D segmentation (cellpipe.segment.segment_stack_classical_blocks) against one
pass of segment_stack_classical on tiny synthetic stacks of ellipsoids with anisotropic voxels."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from cellpipe.segment import classical_blocks, segment_stack_classical, segment_stack_classical_blocks
from tests.unit.test_segment_classical_3d import BASELINE, DIAMETER_UM, ellipsoid_stack

VOXEL = (2.0, 0.5, 0.5)


def grid_cells(size_um: tuple[float, float, float], step_um: float) -> list:
    """Ellipsoids (semi-axes 4 x 3.5 x 3.5 µm) on a grid ``step_um`` µm apart, shifted row to row."""
    cells = []
    for z in np.arange(6.0, size_um[0] - 5.0, 10.0):
        for k, y in enumerate(np.arange(5.0, size_um[1] - 4.0, step_um)):
            for x in np.arange(5.0 + (k % 2) * step_um / 3, size_um[2] - 4.0, step_um):
                cells.append(((float(z), float(y), float(x)), (4.0, 3.5, 3.5)))
    return cells


def best_iou(a: np.ndarray, b: np.ndarray) -> list[float]:
    """For every object of ``a``, the largest IoU with an object of ``b``."""
    out = []
    for i in range(1, int(a.max()) + 1):
        mask = a == i
        j = np.bincount(b[mask]).argmax()
        other = b == j if j else np.zeros_like(mask)
        out.append(float((mask & other).sum() / (mask | other).sum()))
    return out


def test_blocks_tile_the_stack_with_overlap_in_every_axis() -> None:
    blocks = classical_blocks((12, 64, 64), VOXEL, 10.0, 9.0)
    assert len(blocks) == 3 * 4 * 4  # cores of 5 planes (10 µm / 2 µm) and 20 px, as evenly as whole voxels allow
    covered = np.zeros((12, 64, 64), dtype=int)
    for block, core in blocks:
        covered[core] += 1
        for b, c, n in zip(block, core, (12, 64, 64)):
            assert b.start == max(0, c.start - {12: 5, 64: 18}[n]) and b.stop == min(n, c.stop + {12: 5, 64: 18}[n])
    assert (covered == 1).all()


def test_block_labels_match_one_pass() -> None:
    image, _ = ellipsoid_stack(VOXEL, (24.0, 32.0, 32.0), grid_cells((24.0, 32.0, 32.0), 9.0), seed=3)
    one = segment_stack_classical(image, VOXEL, BASELINE, diameter_um=DIAMETER_UM)
    settings = BASELINE.model_copy(update={"block_size_um": 10.0})
    blocks = classical_blocks(image.shape, VOXEL, 10.0, DIAMETER_UM)
    assert all(len({(c.start, c.stop) for _, core in blocks for c in [core[a]]}) > 1 for a in range(3))
    tiled = segment_stack_classical_blocks(image, VOXEL, settings, diameter_um=DIAMETER_UM)
    assert tiled.dtype == np.uint32 and tiled.shape == image.shape
    assert int(one.max()) >= 8
    assert int(tiled.max()) == int(one.max())
    assert sorted(np.unique(tiled)[1:]) == list(range(1, int(tiled.max()) + 1))
    assert min(best_iou(one, tiled)) >= 0.9 and min(best_iou(tiled, one)) >= 0.9
    # with background 'none' and the threshold shared, every object is the one-pass object voxel for voxel
    assert best_iou(one, tiled) == [1.0] * int(one.max())


def test_object_straddling_a_block_border_is_found_once() -> None:
    # one nucleus centred on the border between the first two cores along x (20 px = 10 µm)
    image, truth = ellipsoid_stack(VOXEL, (24.0, 32.0, 32.0), [((12.0, 16.0, 10.0), (5.0, 4.5, 4.5))])
    settings = BASELINE.model_copy(update={"block_size_um": 10.0, "threshold": "li"})
    tiled = segment_stack_classical_blocks(image, VOXEL, settings, diameter_um=DIAMETER_UM)
    assert int(tiled.max()) == 1
    one = segment_stack_classical(image, VOXEL, settings, diameter_um=DIAMETER_UM)
    assert best_iou(tiled, one) == [pytest.approx(1.0, abs=0.1)]
    assert int(np.bincount(truth[tiled == 1]).argmax()) == 1
    # without the overlap the nucleus is cut at the cores' faces (x, and y at 16 µm) and each piece is kept
    no_overlap = settings.model_copy(update={"block_overlap_um": 0.01})
    assert int(segment_stack_classical_blocks(image, VOXEL, no_overlap, diameter_um=DIAMETER_UM).max()) == 4


def test_block_settings_are_checked() -> None:
    image = np.zeros((4, 8, 8), np.float32)
    with pytest.raises(ValueError, match="block_size_um"):
        segment_stack_classical_blocks(image, VOXEL, BASELINE, diameter_um=DIAMETER_UM)
    with pytest.raises(ValueError, match="block_overlap_um"):
        segment_stack_classical_blocks(image, VOXEL, BASELINE.model_copy(update={"block_size_um": 5.0}))
    flat = segment_stack_classical_blocks(image, VOXEL, BASELINE.model_copy(update={"block_size_um": 5.0}), 9.0)
    assert not flat.any()


def peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_block_path_peaks_lower_than_one_pass() -> None:
    size = (24.0, 96.0, 96.0)
    image, _ = ellipsoid_stack(VOXEL, size, grid_cells(size, 12.0), seed=1)
    settings = BASELINE.model_copy(update={"block_size_um": 24.0})
    one = peak_bytes(lambda: segment_stack_classical(image, VOXEL, BASELINE, diameter_um=DIAMETER_UM))
    tiled = peak_bytes(lambda: segment_stack_classical_blocks(image, VOXEL, settings, diameter_um=DIAMETER_UM))
    assert tiled < 0.6 * one, (tiled, one)
