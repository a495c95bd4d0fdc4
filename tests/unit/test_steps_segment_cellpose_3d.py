"""Cellpose 3-D through the segmentation rules' entry points (cellpipe.steps.segment, issue #27): rule
segment_frames / segment_cells on a tiny simulated (t, c, z, y, x) movie with the shipped 2-D model in 'stitch'
mode, scored against the simulator's nuclei, and what segmentation.json records; Cellpose-SAM refused on
stacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_segment_cellpose_3d import SHIPPED, pytestmark  # noqa: F401 (the warning filters of the Cellpose tests)
from test_track import OME_META

from cellpipe.config import NormalizeSettings
from cellpipe.io import omezarr
from cellpipe.normalize import normalize_movie
from cellpipe.simulate3d import Simulation3DSettings, simulate_movie_3d
from cellpipe.steps.segment import segment_cells_step, segment_frames_step, segment_whole_movie

#: 3 stacks of 8 x 64 x 64 voxels of 2 x 0.5 x 0.5 µm, 4 nuclei of about 4 µm largest semi-axis, no division.
SIMULATION = Simulation3DSettings(n_frames=3, shape_zyx=(8, 64, 64), voxel_size_um=(2.0, 0.5, 0.5), n_cells=4,
                                  nucleus_radius_um=4.0, radius_sd_um=0.3, entry_rate=0.0,
                                  division_probability=0.0, seed=3)
DIAMETER_UM = 8.0  # twice the nuclei's largest semi-axis
SETTINGS = {"method": "cellpose", "diameter_um": DIAMETER_UM,
            "cellpose": {"model": str(SHIPPED), "mode_3d": "stitch", "stitch_threshold": 0.25}}


@pytest.fixture(scope="module")
def simulated():
    return simulate_movie_3d(SIMULATION)


@pytest.fixture()
def movie(tmp_path: Path, simulated) -> dict[str, Path]:
    """The simulated movie as rule segment_frames gets it: the (t, c, z, y, x) image and its normalized movie."""
    raw = simulated.image[:, np.newaxis]
    dz, dy, _ = simulated.voxel_size_um
    image = tmp_path / "image.ome.zarr" / OME_META
    omezarr.write_ome_image(image, raw, "tczyx", dy, simulated.frame_interval_min, pixel_size_z_um=dz)
    normalized = tmp_path / "normalized.zarr"
    values, _ = normalize_movie(raw, NormalizeSettings())
    with omezarr.new_zarr_array(normalized, raw.shape, "float32", {}) as out:
        out[:] = np.asarray(values, dtype=np.float32)
    return {"image": image, "normalized": normalized, "root": tmp_path}


def _matched(found: np.ndarray, truth: np.ndarray) -> list[float]:
    """Per true nucleus, the IoU of the found object covering more than half of it (the CTC SEG rule), else 0."""
    ious = []
    for i in np.unique(truth)[1:]:
        mask = truth == i
        hits = np.bincount(found[mask])
        hits[0] = 0
        best = int(hits.argmax())
        if best == 0 or hits[best] <= mask.sum() / 2:
            ious.append(0.0)
            continue
        other = found == best
        ious.append(float((mask & other).sum() / (mask | other).sum()))
    return ious


def test_cellpose_stitch_segments_a_3d_movie_through_the_rules(movie: dict[str, Path], simulated) -> None:
    root = movie["root"]
    part, part_info = root / "parts" / "0.zarr", root / "parts" / "0.json"
    segment_frames_step(movie["normalized"], movie["image"], SETTINGS, 0, 1, part, part_info)
    labels, info = root / "labels" / "cells" / OME_META, root / "segmentation.json"
    segment_cells_step(movie["normalized"], movie["image"], [part], [part_info], labels, info)

    seg = omezarr.open_ome_image(labels)
    n_frames, shape_zyx = SIMULATION.n_frames, SIMULATION.shape_zyx
    assert seg.axes == "tzyx" and seg.data.shape == (n_frames, *shape_zyx) and seg.data.dtype == np.uint32
    assert (seg.pixel_size_z_um, seg.pixel_size_um) == (2.0, 0.5)
    found = np.asarray(seg.data[:])
    per_stack = [int(stack.max()) for stack in found]
    true_counts = [len(np.unique(stack)) - 1 for stack in simulated.labels]
    assert true_counts == [4, 4, 4]
    assert per_stack == true_counts, (per_stack, true_counts)
    for t in range(n_frames):
        # every nucleus is one object spanning several planes (stitched), not a disk per plane
        ious = _matched(found[t], simulated.labels[t])
        assert min(ious) > 0.5, (t, ious)
        for i in range(1, per_stack[t] + 1):
            assert np.flatnonzero((found[t] == i).any(axis=(1, 2))).size >= 2

    record = json.loads(info.read_text())
    assert record["method"] == "cellpose" and record["network"] == "cellpose3" and record["dimensions"] == 3
    assert record["mode_3d"] == "stitch" and record["stitch_threshold"] == 0.25
    assert record["anisotropy"] == 4.0 and record["voxel_size_um"] == [2.0, 0.5, 0.5]
    assert record["diameter_um"] == DIAMETER_UM and record["diameter_px"] == DIAMETER_UM / 0.5
    assert record["diameter_source"] == "settings" and record["n_frames"] == n_frames
    assert record["model_sha256"] == record["inputs_read"]["model"]["sha256"]
    assert record["device"] == "cpu" and record["channel"] == 0
    assert record["network_runtime"] == "torch" and "onnxruntime_version" not in record  # compile auto: too small
    assert [row["objects"] for row in record["object_filters"]["per_frame"]] == per_stack
    assert [row["frame"] for row in record["object_filters"]["per_frame"]] == list(range(n_frames))


def test_cellpose_sam_on_a_3d_movie_is_refused_by_the_job(movie: dict[str, Path]) -> None:
    labels, info = movie["root"] / "labels" / "cells" / OME_META, movie["root"] / "segmentation.json"
    settings = {"method": "cellpose", "cellpose": {"network": "cellpose-sam", "model": "m.pth"}}
    with pytest.raises(ValueError, match="Cellpose-SAM does not segment 3-D movies in cellpipe"):
        segment_whole_movie(movie["normalized"], movie["image"], settings, labels, info)
    assert not omezarr.store_path(labels).exists() and not info.exists()
