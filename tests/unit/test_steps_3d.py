"""The rules' entry points on a 3-D movie (issue #27): segment_frames / segment_cells (classical 3-D, one or several
parts; Cellpose 3-D: test_steps_segment_cellpose_3d.py), track_cells (btrack in 3-D) and measure_cells (volumes,
intensities per channel, per-track metrics with z), chained on a tiny (t, c, z, y, x) movie of two ellipsoids,
one moving along z."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_track import CONFIG_PATH, OME_META

from cellpipe.io import omezarr, tables
from cellpipe.measure import summarize_tracks
from cellpipe.steps.measure import measure_cells_step
from cellpipe.steps.segment import segment_cells_step, segment_frames_step, segment_whole_movie
from cellpipe.steps.track import track_cells_step

VOXEL_UM = (2.0, 0.5, 0.5)
INTERVAL_MIN = 4.0
SHAPE_ZYX = (12, 40, 48)
N_FRAMES = 4
SEMI_AXES_UM = (4.0, 3.5, 3.5)
Z_STEP_UM = 2.0
"""Cell 1 moves this far along z per frame (µm); cell 2 stays."""
SETTINGS = {"method": "classical", "diameter_um": 7.0,
            "classical": {"intensity_transform": "none", "background": "none", "threshold": "otsu",
                          "smoothing_sigma_um": 0.5, "seeds": "distance"}}


def _centres(t: int) -> list[tuple[float, float, float]]:
    return [(8.0 + Z_STEP_UM * t, 10.0, 8.0), (12.0, 10.0, 16.0)]


def _truth() -> np.ndarray:
    """(T, Z, Y, X) labels of the two ellipsoids; voxel centres at (index + 0.5) x voxel size (µm)."""
    z, y, x = (
        (np.arange(n) + 0.5).reshape([-1 if i == axis else 1 for i in range(3)]) * d
        for axis, (n, d) in enumerate(zip(SHAPE_ZYX, VOXEL_UM, strict=True))
    )
    truth = np.zeros((N_FRAMES, *SHAPE_ZYX), dtype=np.uint32)
    for t in range(N_FRAMES):
        for i, centre in enumerate(_centres(t), start=1):
            inside = sum(((c - m) / a) ** 2 for c, m, a in zip((z, y, x), centre, SEMI_AXES_UM, strict=True))
            truth[t][inside <= 1.0] = i
    return truth


@pytest.fixture()
def movie(tmp_path: Path) -> dict[str, Path]:
    """The image (2 channels: the nuclei, and a flat 7 inside cell 2 only) and its normalized movie."""
    truth = _truth()
    nuclei = (truth > 0).astype(np.uint16) * 1000 + 100
    second = np.where(truth == 2, 7, 0).astype(np.uint16)
    raw = np.stack([nuclei, second], axis=1)
    image = tmp_path / "image.ome.zarr" / OME_META
    omezarr.write_ome_image(image, raw, "tczyx", VOXEL_UM[1], INTERVAL_MIN, pixel_size_z_um=VOXEL_UM[0])
    normalized = tmp_path / "normalized.zarr"
    rng = np.random.default_rng(0)
    with omezarr.new_zarr_array(normalized, raw.shape, "float32", {}) as out:
        out[:] = (raw / 1100.0 + rng.normal(0.0, 0.02, raw.shape)).astype(np.float32)
    return {"image": image, "normalized": normalized, "root": tmp_path}


def _segment(movie: dict[str, Path], n_parts: int, name: str) -> tuple[Path, Path]:
    root = movie["root"] / name
    parts = [root / "parts" / f"{p}.zarr" for p in range(n_parts)]
    infos = [root / "parts" / f"{p}.json" for p in range(n_parts)]
    for p in range(n_parts):
        segment_frames_step(movie["normalized"], movie["image"], SETTINGS, p, n_parts, parts[p], infos[p])
    labels, info = root / "labels" / "cells" / OME_META, root / "segmentation.json"
    segment_cells_step(movie["normalized"], movie["image"], parts, infos, labels, info)
    return labels, info


def test_a_3d_movie_is_segmented_into_zyx_labels_with_the_voxel_scale(movie: dict[str, Path]) -> None:
    labels, info = _segment(movie, 1, "one")
    seg = omezarr.open_ome_image(labels)
    assert seg.axes == "tzyx" and seg.data.shape == (N_FRAMES, *SHAPE_ZYX) and seg.data.dtype == np.uint32
    assert (seg.pixel_size_z_um, seg.pixel_size_um) == (VOXEL_UM[0], VOXEL_UM[1])
    truth = _truth()
    for t in range(N_FRAMES):  # each true ellipsoid is one segmented object, IoU well above 0.5
        found = seg.data[t]
        assert int(found.max()) == 2
        for i in (1, 2):
            best = np.bincount(found[truth[t] == i]).argmax()
            overlap = np.logical_and(found == best, truth[t] == i).sum() / np.logical_or(found == best, truth[t] == i).sum()
            assert best > 0 and overlap > 0.7
    record = json.loads(info.read_text())
    assert record["voxel_size_um"] == list(VOXEL_UM) and record["dimensions"] == 3
    assert [row["objects"] for row in record["object_filters"]["per_frame"]] == [2] * N_FRAMES
    assert record["diameter_um"] == 7.0 and record["n_frames"] == N_FRAMES

    # three parts gathered: the same labels as one pass
    scattered, scattered_info = _segment(movie, 3, "three")
    np.testing.assert_array_equal(omezarr.open_ome_image(scattered).data[:], seg.data[:])
    assert omezarr.open_ome_image(scattered).pixel_size_z_um == VOXEL_UM[0]
    merged = json.loads(scattered_info.read_text())
    assert [row["frame"] for row in merged["object_filters"]["per_frame"]] == list(range(N_FRAMES))


def test_the_diameter_of_a_3d_movie_is_estimated_from_its_stacks(movie: dict[str, Path]) -> None:
    """From a poor start (20 µm) to the two ellipsoids' equivalent-sphere diameter, 2 (4 x 3.5 x 3.5)^(1/3) µm,
    recorded in segmentation.json as the 2-D estimate is, and used for the segmentation."""
    labels, info = movie["root"] / "labels" / "cells" / OME_META, movie["root"] / "segmentation.json"
    settings = {**SETTINGS, "diameter_um": 20.0, "estimate_diameter": True, "estimate_frames": 2}
    segment_whole_movie(movie["normalized"], movie["image"], settings, labels, info)
    record = json.loads(info.read_text())
    expected = 2.0 * float(np.prod(SEMI_AXES_UM)) ** (1.0 / 3.0)  # 7.32 µm
    estimate = record["diameter_estimate"]
    assert estimate["frames"] == [0, N_FRAMES - 1] and estimate["passes"][0]["diameter_um"] == 20.0
    assert estimate["diameter_um"] == pytest.approx(expected, rel=0.1)
    assert record["diameter_source"] == "estimate" and record["diameter_um"] == estimate["diameter_um"]
    assert record["diameter_px"] == pytest.approx(estimate["diameter_um"] / VOXEL_UM[1])
    assert [row["objects"] for row in record["object_filters"]["per_frame"]] == [2] * N_FRAMES


def test_3d_labels_are_tracked_and_measured_in_um(movie: dict[str, Path]) -> None:
    root = movie["root"]
    labels, _ = _segment(movie, 1, "seg")
    tracked = root / "seg" / "labels" / "tracks" / OME_META
    track_cells_step(labels, movie["image"], CONFIG_PATH, {}, root / "tracks.parquet", root / "lineage.parquet",
                     tracked, info=root / "tracking.json")
    tracks = pd.read_parquet(root / "tracks.parquet")
    assert tracks["track_id"].nunique() == 2 and len(tracks) == 2 * N_FRAMES
    moving = tracks[tracks["track_id"] == tracks.loc[tracks["x_um"].idxmin(), "track_id"]].sort_values("frame")
    # the voxel centre convention of the drawing (+0.5 voxel) is not the tracker's (voxel index x size)
    np.testing.assert_allclose(moving["z_um"], [c[0][0] - VOXEL_UM[0] / 2 for c in map(_centres, range(N_FRAMES))],
                               atol=0.3)
    relabelled = omezarr.open_ome_image(tracked)
    assert relabelled.axes == "tzyx" and relabelled.pixel_size_z_um == VOXEL_UM[0]
    assert set(np.unique(relabelled.data[:])) == {0, 1, 2}

    cells, metrics, counts = root / "cells.parquet", root / "track_metrics.parquet", root / "counts.tsv"
    msd = root / "msd.parquet"
    measure_cells_step(labels, movie["image"], root / "tracks.parquet", {"measure": {"channel_names": ["nuclei", "marker"]}},
                       cells, metrics, counts, msd)
    table = pd.read_parquet(cells)
    assert len(table) == 2 * N_FRAMES and table["track_id"].notna().all()
    expected_um3 = 4.0 / 3.0 * np.pi * np.prod(SEMI_AXES_UM)
    np.testing.assert_allclose(table["volume_um3"], expected_um3, rtol=0.25)
    np.testing.assert_allclose(table["volume_um3"], table["volume_voxels"] * np.prod(VOXEL_UM))
    marker = table.sort_values("centroid_x_um")["mean_intensity_marker"].to_numpy()
    assert marker[: N_FRAMES].max() < 1.0 and marker[N_FRAMES:].min() > 5.0  # cell 2 only, mean over its voxels
    np.testing.assert_allclose(table["integrated_intensity_marker"],
                               table["mean_intensity_marker"] * table["volume_voxels"])
    summary = pd.read_parquet(metrics).set_index("track_id")
    mover = int(moving["track_id"].iloc[0])
    # the moving cell: 2 µm per frame along z, straight (y, x still); the speed counts z in µm
    assert summary.loc[mover, "displacement_um"] == pytest.approx(Z_STEP_UM * (N_FRAMES - 1), abs=0.5)
    assert summary.loc[mover, "mean_speed_um_per_min"] == pytest.approx(Z_STEP_UM / INTERVAL_MIN, abs=0.15)
    assert summary.loc[mover, "msd_1_um2"] == pytest.approx(Z_STEP_UM**2, rel=0.3)
    assert summary["mean_volume_um3"].notna().all()
    assert len(tables.read_tsv(counts)) == N_FRAMES
    # msd.parquet follows the tracker's positions in 3-D: the mover's lag-1 MSD is its z step squared (µm²)
    lag_1 = pd.read_parquet(msd).query("lag_frames == 1").set_index("track_id")["msd_um2"]
    assert lag_1.loc[mover] == pytest.approx(Z_STEP_UM**2, rel=0.3)
    # the job's one settings value carries track.min_track_frames: tracks shorter than it are flagged short
    assert (summary["excluded"] == "").all()
    measure_cells_step(labels, movie["image"], root / "tracks.parquet", {"min_track_frames": N_FRAMES + 1},
                       root / "cells_b.parquet", root / "metrics_b.parquet", root / "counts_b.tsv", root / "msd_b.parquet")
    assert (pd.read_parquet(root / "metrics_b.parquet")["excluded"] == "short").all()


def test_per_track_metrics_count_z() -> None:
    """A track moving 3 µm per frame along z only: steps, displacement and MSD in 3-D (µm)."""
    tracks = pd.DataFrame({"track_id": [1] * 5, "frame": range(5), "y_um": [5.0] * 5, "x_um": [5.0] * 5,
                           "z_um": 3.0 * np.arange(5), "parent": [0] * 5, "root": [1] * 5, "generation": [0] * 5})
    summary = summarize_tracks(pd.DataFrame(), tracks, 2.0, min_track_frames=1)
    row = summary.iloc[0]
    assert row["displacement_um"] == pytest.approx(12.0) and row["path_length_um"] == pytest.approx(12.0)
    assert row["mean_speed_um_per_min"] == pytest.approx(1.5) and row["msd_1_um2"] == pytest.approx(9.0)
    assert row["msd_exponent"] == pytest.approx(2.0)
    flat = summarize_tracks(pd.DataFrame(), tracks.drop(columns="z_um"), 2.0, min_track_frames=1)
    assert flat.iloc[0]["displacement_um"] == 0.0 and "mean_volume_um3" not in flat


def test_the_report_shows_a_3d_frame_as_its_maximum_intensity_projection() -> None:
    from cellpipe.steps.report import _plane

    stacks = np.zeros((2, 1, 3, 4, 5), dtype=np.float32)  # (t, c, z, y, x)
    stacks[1, 0, 0, 1, 1], stacks[1, 0, 2, 1, 1], stacks[1, 0, 1, 2, 3] = 0.2, 0.9, 0.5
    np.testing.assert_array_equal(_plane(stacks, 1, 0), stacks[1, 0].max(axis=0))
    assert _plane(stacks, 1, 0)[1, 1] == pytest.approx(0.9) and _plane(stacks, 1, 0).shape == (4, 5)
    labels = np.zeros((2, 3, 4, 5), dtype=np.uint32)  # (t, z, y, x): each object where it lies in the plane
    labels[0, 0, :2, :2], labels[0, 2, 2:, 3:] = 1, 2
    assert set(np.unique(_plane(labels, 0))) == {0, 1, 2} and _plane(labels, 0)[3, 4] == 2
    frames = np.arange(2 * 1 * 4 * 5, dtype=np.float32).reshape(2, 1, 4, 5)  # 2-D: the plane itself
    np.testing.assert_array_equal(_plane(frames, 1, 0), frames[1, 0])


def test_a_3d_movie_is_segmented_block_by_block_when_block_size_um_is_set(movie: dict[str, Path]) -> None:
    """segment.classical.block_size_um reaches the step: blocks of 10 µm (smaller than the stack in z, y and x)
    find the same two nuclei per stack as one pass, and segmentation.json records the blocks (µm)."""
    one = omezarr.open_ome_image(_segment(movie, 1, "one")[0]).data[:]
    labels, info = movie["root"] / "blocks" / "labels" / "cells" / OME_META, movie["root"] / "blocks.json"
    settings = {**SETTINGS, "classical": {**SETTINGS["classical"], "block_size_um": 10.0}}
    segment_whole_movie(movie["normalized"], movie["image"], settings, labels, info)
    tiled = omezarr.open_ome_image(labels).data[:]
    for t in range(N_FRAMES):
        assert int(tiled[t].max()) == int(one[t].max()) == 2
        for i in (1, 2):
            best = np.bincount(tiled[t][one[t] == i]).argmax()
            iou = np.logical_and(tiled[t] == best, one[t] == i).sum() / np.logical_or(tiled[t] == best, one[t] == i).sum()
            assert best > 0 and iou >= 0.9
    assert json.loads(info.read_text())["blocks"] == {"core_um": 10.0, "overlap_um": 7.0}
