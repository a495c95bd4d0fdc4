"""Cellpose 'stitch' mode on z-stacks through the workflow's 2-D path (cellpipe.segment.segment_stack_cellpose,
issues #27 and #28): the stitching rule (cellpipe.segment.stitch_planes) on hand-made per-plane labels and against
Cellpose's own utils.stitch3D, and the whole mode against Cellpose's own CellposeModel.eval(stitch_threshold=...)
on a tiny simulated stack."""

from __future__ import annotations

import numpy as np
import pytest
from test_segment_cellpose_3d import SHIPPED, best_iou, pytestmark  # noqa: F401 (the Cellpose tests' warning filters)

from cellpipe.config import CellposeSettings
from cellpipe.segment import load_cellpose_model, segment_stack_cellpose, stitch_planes


def disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """A boolean disk of ``radius`` px around ``centre`` (y, x px) in a plane of ``shape`` px."""
    y, x = np.ogrid[: shape[0], : shape[1]]
    return (y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius**2


def box(shape: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """A boolean rectangle of rows y0..y1-1 and columns x0..x1-1 (px)."""
    out = np.zeros(shape, dtype=bool)
    out[y0:y1, x0:x1] = True
    return out


def planes_of(*masks_per_plane: list[np.ndarray]) -> np.ndarray:
    """A (z, y, x) stack of per-plane labels: plane z holds its masks numbered 1, 2, ... in the order given."""
    shape = next(m.shape for masks in masks_per_plane for m in masks)
    out = np.zeros((len(masks_per_plane), *shape), dtype=np.uint32)
    for z, masks in enumerate(masks_per_plane):
        for i, mask in enumerate(masks, start=1):
            out[z][mask] = i
    return out


def test_two_planes_join_at_or_above_the_threshold_only() -> None:
    """Two 10 x 10 px squares shifted by 4 px overlap in 60 of 140 px (IoU 3/7 = 0.4286): one object at
    stitch_threshold 0.25 and at exactly 3/7, two objects just above it."""
    shape = (24, 24)
    stack = planes_of([box(shape, 5, 15, 5, 15)], [box(shape, 5, 15, 9, 19)])
    joined = stitch_planes(stack, 0.25)
    assert joined.dtype == np.uint32 and joined.shape == stack.shape
    assert set(np.unique(joined)) == {0, 1}
    np.testing.assert_array_equal(joined > 0, stack > 0)
    assert int(stitch_planes(stack, 3 / 7).max()) == 1  # IoU equal to the threshold joins
    apart = stitch_planes(stack, 3 / 7 + 1e-9)
    assert set(np.unique(apart[0])) == {0, 1} and set(np.unique(apart[1])) == {0, 2}


def test_a_mask_below_continues_into_its_best_match_only() -> None:
    """A wide mask in plane 0 overlapped by two masks of plane 1, both above the threshold: the one of higher IoU
    continues it, the other starts an object; a mask of plane 1 overlapping two of plane 0 takes the one of higher
    IoU; an unmatched mask of plane 0 ends."""
    shape = (40, 40)
    wide = box(shape, 0, 10, 0, 20)  # 200 px
    left, right = box(shape, 0, 10, 0, 12), box(shape, 0, 10, 12, 20)  # IoU 120/200 = 0.6 and 80/200 = 0.4
    low, high = box(shape, 20, 30, 0, 10), box(shape, 20, 30, 10, 30)  # 100 and 200 px
    across = box(shape, 20, 30, 4, 26)  # IoU 60/260 with low, 160/260 with high
    stack = planes_of([wide, low, high, box(shape, 35, 38, 35, 38)], [right, left, across])
    out = stitch_planes(stack, 0.3)
    # plane 0 numbered in order: wide 1, low 2, high 3, the small square 4
    assert [int(out[0][m].max()) for m in (wide, low, high)] == [1, 2, 3]
    assert int(out[1][left].max()) == 1  # the better of the two continues 'wide'
    assert int(out[1][right].max()) == 5  # the other one starts the next object
    assert int(out[1][across].max()) == 3  # 'across' continues 'high' (IoU 0.62), not 'low' (0.23, under 0.3)
    assert int(out.max()) == 5


def test_equal_overlaps_take_the_lower_label_and_an_empty_plane_ends_objects() -> None:
    """A mask of plane 1 overlapping two masks of plane 0 equally takes the lower label; an object does not
    continue across an empty plane, and every object after it gets a label of its own."""
    shape = (20, 30)
    a, b = box(shape, 0, 10, 0, 10), box(shape, 0, 10, 10, 20)
    middle = box(shape, 0, 10, 5, 15)  # 50 px in each: IoU 50/150 with both
    stack = planes_of([a, b], [middle], [], [middle], [middle])
    out = stitch_planes(stack, 0.25)
    assert int(out[1][middle].max()) == 1
    assert not out[2].any()
    assert int(out[3][middle].max()) == 3 and int(out[4][middle].max()) == 3
    assert [int(label) for label in np.unique(out)] == [0, 1, 2, 3]


def test_stitching_agrees_with_cellposes_stitch3d() -> None:
    """On 12 planes of 12 random disks each, drifting and changing size from plane to plane (no empty plane),
    the labels are Cellpose 3.1's utils.stitch3D's, voxel for voxel, at three thresholds."""
    from cellpose.utils import stitch3D

    rng = np.random.default_rng(5)
    shape = (96, 96)
    centres = rng.uniform(10, 86, size=(12, 2))
    radii = rng.uniform(3, 9, size=12)
    planes = []
    for _ in range(12):
        plane = np.zeros(shape, dtype=np.uint32)
        for i, (centre, radius) in enumerate(zip(centres, radii), start=1):
            plane[disk(shape, tuple(centre), radius) & (plane == 0)] = i
        plane = np.unique(plane, return_inverse=True)[1].reshape(shape).astype(np.uint32)  # numbered 1..n
        planes.append(plane)
        centres = centres + rng.normal(0, 2.5, size=centres.shape)
        radii = np.clip(radii + rng.normal(0, 1.5, size=radii.shape), 1.0, 10.0)
    stack = np.stack(planes)
    for threshold in (0.1, 0.25, 0.6):
        ours = stitch_planes(stack, threshold)
        theirs = stitch3D(stack.copy(), stitch_threshold=threshold)
        np.testing.assert_array_equal(ours, theirs)
    assert int(stitch_planes(stack, 0.25).max()) < int(stitch_planes(stack, 0.6).max())


def test_stitch_planes_refuses_what_it_cannot_stitch() -> None:
    with pytest.raises(ValueError, match=r"\(z, y, x\)"):
        stitch_planes(np.zeros((4, 4), dtype=np.uint32), 0.25)
    with pytest.raises(ValueError, match="between 0 and 1"):
        stitch_planes(np.zeros((2, 4, 4), dtype=np.uint32), 1.0)
    with pytest.raises(ValueError, match="negative"):
        stitch_planes(-np.ones((2, 4, 4), dtype=np.int32), 0.25)


# --------------------------------------------------------------------------- against Cellpose's own eval

VOXEL_UM = (2.0, 0.5, 0.5)
DIAMETER_UM = 8.0


@pytest.fixture(scope="module")
def model():
    return load_cellpose_model(SHIPPED, "cpu")


@pytest.fixture(scope="module")
def simulated_stack() -> tuple[np.ndarray, np.ndarray]:
    """One stack of 10 x 56 x 56 voxels of 2 x 0.5 x 0.5 µm with 4 nuclei of about 4 µm largest semi-axis,
    normalized as the workflow does, and its true labels."""
    from cellpipe.config import NormalizeSettings, Simulation3DSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.simulate3d import simulate_movie_3d

    sim = simulate_movie_3d(Simulation3DSettings(
        n_frames=1, shape_zyx=(10, 56, 56), voxel_size_um=VOXEL_UM, n_cells=4, nucleus_radius_um=4.0,
        radius_sd_um=0.3, entry_rate=0.0, division_probability=0.0, seed=1))
    normalized, _ = normalize_movie(sim.image[:, np.newaxis], NormalizeSettings())
    return np.asarray(normalized, dtype=np.float32)[0, 0], np.asarray(sim.labels[0])


def cellpose_own_stitch(image: np.ndarray, settings: CellposeSettings, model, diameter_px: float) -> np.ndarray:
    """Cellpose's own ``CellposeModel.eval`` in stitch mode, with the options the workflow passes it in 2-D.

    ``normalize`` goes as a dict that asks for the whole stack's percentiles (``norm3D``, Cellpose's default):
    given a bool, cellpose 3.1 writes into its module-wide defaults, and once a stack was segmented without
    normalizing, every later stack of the process would be normalized plane by plane.
    """
    import torch

    with torch.no_grad():
        masks = model.eval(image, z_axis=0, stitch_threshold=settings.stitch_threshold, channels=[0, 0],
                           batch_size=1, normalize={"normalize": settings.normalize, "norm3D": True},
                           diameter=diameter_px,
                           flow_threshold=settings.flow_threshold, cellprob_threshold=settings.cellprob_threshold,
                           min_size=settings.min_size_px, tile_overlap=settings.tile_overlap, bsize=settings.tile_px)[0]
    return np.asarray(masks)


def matched_ious(found: np.ndarray, reference: np.ndarray) -> list[float]:
    """Per object of ``reference``, the IoU of the object of ``found`` overlapping it most, and the reverse."""
    return best_iou(found, reference) + best_iou(reference, found)


@pytest.mark.parametrize("normalize", [False, True])
def test_stitch_mode_finds_the_objects_of_cellposes_own_stitch(model, simulated_stack, normalize: bool) -> None:
    """On a simulated stack of 4 nuclei, the objects of the workflow's 'stitch' are those of Cellpose's own
    eval(stitch_threshold=0.25): every true nucleus found (matched at IoU > 0.5), the same number of objects,
    each object matched one to one at IoU > 0.9.  With normalize the stack is given in other units (x 1000 +
    100) and both stretch it between the stack's percentiles."""
    image, truth = simulated_stack
    if normalize:
        image = image * 1000.0 + 100.0
    settings = CellposeSettings(model=str(SHIPPED), normalize=normalize)
    ours = segment_stack_cellpose(image, VOXEL_UM, settings, model, DIAMETER_UM)
    theirs = cellpose_own_stitch(image, settings, model, DIAMETER_UM / VOXEL_UM[1])
    n_true = len(np.unique(truth)) - 1
    assert n_true == 4
    assert int(ours.max()) == int(len(np.unique(theirs)) - 1) >= n_true
    assert min(best_iou(ours, truth)) > 0.5
    assert min(matched_ious(ours, theirs)) > 0.9, matched_ious(ours, theirs)
