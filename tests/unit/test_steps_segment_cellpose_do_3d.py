"""Cellpose 'do_3d' through the segmentation rules' entry points (cellpipe.steps.segment, issue #27): rule
segment_frames in two parts and segment_cells gathering them, on 2 stacks of 8 x 40 x 70 voxels of 2 x 0.5 x 0.5 µm
with 2 nuclei each, with the shipped 2-D model; what segmentation.json records.

'do_3d' runs the network on every yx, zy and zx plane of the stack stretched to cubic voxels, so its cost grows
with the stretched volume: the nuclei are 30 px across in the plane, the model's own diameter, so Cellpose
neither enlarges nor shrinks the planes, and the stacks hold little more than the nuclei (each stack: 32 x 40 x 70
px after the 4-fold stretch along z, about 6 s of one CPU core; the two jobs and the gather 21 s of CPU).  Stack 0
is also segmented block by block (segment.cellpose.block_size_um, two blocks along x), which must find the
one-pass nuclei."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from test_segment_cellpose_3d import SHIPPED, best_iou, ellipsoids, pytestmark  # noqa: F401 (warning filters)
from test_track import OME_META

from cellpipe.config import CellposeSettings, NormalizeSettings
from cellpipe.io import omezarr
from cellpipe.normalize import normalize_movie
from cellpipe.segment import cellpose_blocks, cellpose_stack_info, load_cellpose_model, segment_stack_cellpose
from cellpipe.steps.segment import segment_cells_step, segment_frames_step

VOXEL_UM = (2.0, 0.5, 0.5)  # z step, y and x pixel (µm): anisotropy 4
SHAPE_ZYX = (8, 40, 70)  # voxels
FRAME_MIN = 5.0
DIAMETER_UM = 15.0  # 30 px of 0.5 µm: the shipped model's diameter (its model card), so no plane is resized
#: Per stack, two nuclei side by side along x: centres (z, y, x) and semi-axes (z, y, x), µm; they move a little.
STACKS = [
    [((8.0, 10.0, 8.5), (6.5, 7.5, 7.5)), ((8.0, 10.0, 26.0), (6.5, 7.5, 7.5))],
    [((7.5, 9.5, 9.5), (6.5, 7.5, 7.5)), ((8.5, 10.5, 25.0), (6.5, 7.5, 7.5))],
]
SETTINGS = {"method": "cellpose", "diameter_um": DIAMETER_UM, "cellpose": {"model": str(SHIPPED), "mode_3d": "do_3d"}}


@pytest.fixture()
def movie(tmp_path: Path) -> dict:
    """The stacks as rule segment_frames gets them: the (t, c, z, y, x) uint16 image and its normalized movie."""
    made = [ellipsoids(cells, VOXEL_UM, SHAPE_ZYX, seed=t) for t, cells in enumerate(STACKS)]
    raw = np.stack([np.clip(100 + 1000 * image, 0, None) for image, _ in made])[:, np.newaxis].astype(np.uint16)
    image = tmp_path / "image.ome.zarr" / OME_META
    omezarr.write_ome_image(image, raw, "tczyx", VOXEL_UM[1], FRAME_MIN, pixel_size_z_um=VOXEL_UM[0])
    normalized = tmp_path / "normalized.zarr"
    values, _ = normalize_movie(raw, NormalizeSettings())
    with omezarr.new_zarr_array(normalized, raw.shape, "float32", {}) as out:
        out[:] = np.asarray(values, dtype=np.float32)
    return {"image": image, "normalized": normalized, "root": tmp_path, "truth": [truth for _, truth in made]}


def test_cellpose_do_3d_segments_a_3d_movie_through_the_rules(movie: dict, caplog: pytest.LogCaptureFixture) -> None:
    root = movie["root"]
    parts = [root / "parts" / f"{p}.zarr" for p in range(2)]
    infos = [root / "parts" / f"{p}.json" for p in range(2)]
    with caplog.at_level(logging.INFO, logger="cellpose"):
        for p in range(2):  # segment.scatter 2: one stack per segment_frames job
            segment_frames_step(movie["normalized"], movie["image"], SETTINGS, p, 2, parts[p], infos[p])
    # Cellpose's own log: each stack reached its network stretched 4-fold along z (8 planes to 32), at its own
    # size in the plane (no resizing for the diameter)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("cellpose")]
    assert said.count("resizing 3D image with rescale=1.00 and anisotropy=4.0") == 2, said
    assert said.count("running ZY: 40 planes of size (32, 70)") == 2, said
    labels, info = root / "labels" / "cells" / OME_META, root / "segmentation.json"
    segment_cells_step(movie["normalized"], movie["image"], parts, infos, labels, info)

    seg = omezarr.open_ome_image(labels)
    assert seg.axes == "tzyx" and seg.data.shape == (2, *SHAPE_ZYX) and seg.data.dtype == np.uint32
    assert (seg.pixel_size_z_um, seg.pixel_size_um) == (VOXEL_UM[0], VOXEL_UM[1])
    found = np.asarray(seg.data[:])
    assert [int(stack.max()) for stack in found] == [2, 2]
    for t, truth in enumerate(movie["truth"]):
        # each nucleus is found as one 3-D object over consecutive planes, filling it: flows followed on the 32
        # stretched planes (resample=False) give IoU about 0.85; followed on the stack's own 8 planes, about 0.5
        # (hollow middle planes)
        ious = best_iou(found[t], truth)
        assert min(ious) > 0.75, (t, ious)
        assert {_owner(found[t], truth == i) for i in (1, 2)} == {1, 2}, t  # each nucleus its own label
        for i in (1, 2):
            planes = np.flatnonzero((found[t] == i).any(axis=(1, 2)))
            assert planes.size >= 4 and np.all(np.diff(planes) == 1), (t, i, planes)

    _blocks_find_the_nuclei_of_one_pass(movie["normalized"], found[0])

    record = json.loads(info.read_text())
    assert record["method"] == "cellpose" and record["network"] == "cellpose3" and record["dimensions"] == 3
    assert record["mode_3d"] == "do_3d" and record["stitch_threshold"] is None
    assert record["anisotropy"] == 4.0 and record["voxel_size_um"] == list(VOXEL_UM)
    assert record["tile_px"] == 224  # Cellpose 3's do_3D tiles at 224 px whatever tile_px says
    assert record["diameter_um"] == DIAMETER_UM and record["diameter_px"] == 30.0
    assert record["n_frames"] == 2 and record["n_parts"] == 2
    assert [part["mode_3d"] for part in record["parts"]] == ["do_3d", "do_3d"]
    assert [row["objects"] for row in record["object_filters"]["per_frame"]] == [2, 2]
    assert [row["frame"] for row in record["object_filters"]["per_frame"]] == [0, 1]


def _owner(found: np.ndarray, mask: np.ndarray) -> int:
    """The label that covers most of ``mask`` (0 when none does)."""
    hits = np.bincount(found[mask])
    hits[0] = 0
    return int(hits.argmax())


def _blocks_find_the_nuclei_of_one_pass(normalized: Path, one_pass: np.ndarray) -> None:
    """'do_3d' block by block (segment.cellpose.block_size_um) finds the nuclei one pass found on stack 0.

    Cores of 20 µm (40 px: two blocks along x, one along y and z) reaching 8 µm (16 px, past the nuclei's 7.5 µm
    radius) past them: each nucleus is kept once, from the block whose core holds its centroid, and matches
    its one-pass object at IoU >= 0.9.  The two blocks of 40 x 51 px cost about 1.5 times the one pass."""
    import zarr

    stack = np.asarray(zarr.open_array(str(normalized), mode="r")[0, 0])
    model = load_cellpose_model(SHIPPED, "cpu")
    settings = CellposeSettings(model=str(SHIPPED), mode_3d="do_3d", block_size_um=20.0, block_overlap_um=8.0)
    blocks = cellpose_blocks(stack.shape, VOXEL_UM, settings, 30.0)
    assert [core for _, core in blocks] == [(slice(0, 8), slice(0, 40), slice(0, 35)),
                                            (slice(0, 8), slice(0, 40), slice(35, 70))]
    assert [block[2] for block, _ in blocks] == [slice(0, 51), slice(19, 70)]
    found = segment_stack_cellpose(stack, VOXEL_UM, settings, model, DIAMETER_UM)
    assert found.dtype == np.uint32 and found.shape == one_pass.shape
    assert int(found.max()) == int(one_pass.max()) == 2
    ious = best_iou(found, one_pass)
    assert min(ious) >= 0.9, ious
    assert {_owner(found, one_pass == i) for i in (1, 2)} == {1, 2}  # each nucleus its own label
    info = cellpose_stack_info(settings, model, VOXEL_UM, DIAMETER_UM)
    assert info["blocks"] == {"core_um": 20.0, "overlap_um": 8.0} and info["mode_3d"] == "do_3d"
    # a stack that fits one core is one pass, as without blocks
    assert len(cellpose_blocks(stack.shape, VOXEL_UM, settings.model_copy(update={"block_size_um": 40.0}), 30.0)) == 1


def test_blocks_find_the_nuclei_of_one_pass_with_cellposes_normalization() -> None:
    """With segment.cellpose.normalize, 'do_3d' block by block stretches the whole stack between its 1st and 99th
    percentiles once, as one pass does, and runs the blocks unstretched: its nuclei are the one pass's (IoU >= 0.99
    each; measured 0.995 and 0.994).  The stack is in raw counts (100 + 1000 x the nuclei), which the network
    segments only once stretched: blocks run with no stretch at all found 73 objects.  Each block stretched by
    Cellpose on its own gave the same nuclei on this stack (0.995, 0.994): every block holds a nucleus and so
    about the stack's percentiles.  One pass and two blocks: 18 s on the 2 shared cores at load 1."""
    raw, _ = ellipsoids(STACKS[0], VOXEL_UM, SHAPE_ZYX, seed=0)
    raw = 100.0 + 1000.0 * raw
    model = load_cellpose_model(SHIPPED, "cpu")
    settings = CellposeSettings(model=str(SHIPPED), mode_3d="do_3d", normalize=True)
    one_pass = segment_stack_cellpose(raw, VOXEL_UM, settings, model, DIAMETER_UM)
    blocked = settings.model_copy(update={"block_size_um": 20.0, "block_overlap_um": 8.0})
    assert len(cellpose_blocks(raw.shape, VOXEL_UM, blocked, 30.0)) == 2
    found = segment_stack_cellpose(raw, VOXEL_UM, blocked, model, DIAMETER_UM)
    assert int(one_pass.max()) == int(found.max()) == 2
    ious = best_iou(found, one_pass)
    assert min(ious) >= 0.99, ious
