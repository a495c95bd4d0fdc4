"""The 3-D demo (bench/configs/demo3d.yaml, issue #27): a simulated z-stack movie end to end on the rules of 2-D
(ingest, normalize, classical 3-D segmentation, 3-D tracking, measurements, exports, evaluation against the 3-D
ground truth, qc, report), its results opened in napari at their voxel size, and the one-line refusal of Cellpose
on a 3-D movie before any job runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
import zarr

from cellpipe.io import omezarr

from conftest import REPO, default_config, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow

# floors under what the demo scores (bench/RESULTS.md, "Classical 3-D: each nucleus at its own level": SEG 0.893, DET 1.0, TRA 1.0)
SEG_FLOOR, DET_FLOOR, TRA_FLOOR = 0.7, 0.9, 0.9


def _demo() -> dict:
    return yaml.safe_load((REPO / "bench" / "configs" / "demo3d.yaml").read_text())


def _workdir(path: Path, demo: dict) -> Path:
    config = {**default_config(), **demo, "simulate": {}, "samples": "config/samples.tsv"}
    return write_workdir(path, config, (REPO / "bench" / "configs" / "demo3d_samples.tsv").read_text())


@pytest.fixture(scope="module")
def demo3d_run(tmp_path_factory) -> Path:
    """The 3-D demo run once (rule all, sockets blocked) for the tests of this module that read its results."""
    workdir = _workdir(tmp_path_factory.mktemp("demo3d") / "work", _demo())
    proc = run_snakemake(workdir, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def test_the_3d_demo_runs_end_to_end(demo3d_run: Path) -> None:
    demo = _demo()
    workdir = demo3d_run
    settings = demo["simulate3d"]["demo3d"]
    n_frames, (z, y, x), voxel = settings["n_frames"], settings["shape_zyx"], settings["voxel_size_um"]

    out = workdir / "results" / "demo3d"
    image = omezarr.open_ome_image(out / "image.ome.zarr")
    assert image.axes == "tczyx" and image.data.shape == (n_frames, 1, z, y, x)
    normalized = omezarr.open_zarr_array(out / "normalized.zarr")
    assert normalized.shape == image.data.shape and normalized.chunks == (1, 1, z, y, x)
    raw = image.data[:].astype(np.float64)
    low, high = np.percentile(raw, (1.0, 99.8))  # per movie, every voxel (far fewer than max_sample_pixels)
    np.testing.assert_allclose(normalized[:], (raw - low) / (high - low), rtol=1e-5, atol=1e-5)

    # labels: (t, z, y, x) with the voxel scale of the image, cells and track ids alike
    for name in ("cells", "tracks"):
        labels = omezarr.open_ome_image(out / "image.ome.zarr" / "labels" / name)
        assert labels.axes == "tzyx" and labels.data.shape == (n_frames, z, y, x), name
        assert labels.pixel_size_z_um == pytest.approx(voxel[0]) and labels.pixel_size_um == pytest.approx(voxel[2])
    cells_labels = omezarr.open_ome_image(out / "image.ome.zarr" / "labels" / "cells").data[:]
    segmentation = json.loads((out / "segmentation.json").read_text())
    assert segmentation["voxel_size_um"] == voxel
    counts = [row["objects"] for row in segmentation["object_filters"]["per_frame"]]
    assert counts == [int(stack.max()) for stack in cells_labels]

    # tracks in 3-D: z in voxels and µm, the tracks label image holds the track ids
    tracks = pd.read_parquet(out / "tracks.parquet")
    np.testing.assert_allclose(tracks["z_um"], tracks["z_px"] * voxel[0])
    tracked = omezarr.open_ome_image(out / "image.ome.zarr" / "labels" / "tracks").data
    for t in range(n_frames):
        assert set(np.unique(tracked[t])) - {0} == set(tracks.loc[tracks["frame"] == t, "track_id"])

    # cells: volumes of the segmented nuclei near those of the simulator's ellipsoids (its 3-D masks)
    cells = pd.read_parquet(out / "cells.parquet")
    assert {"volume_um3", "surface_area_um2", "sphericity", "centroid_z_um", "centroid_y_um", "centroid_x_um",
            "mean_intensity_ch0", "integrated_intensity_ch0"} <= set(cells.columns)
    assert cells["track_id"].notna().all()
    gt_volumes = []
    for path in sorted((workdir / "results" / "simulated" / "demo3d" / "01_GT" / "SEG").glob("man_seg*.tif")):
        truth = tifffile.imread(path)
        assert truth.shape == (z, y, x)
        gt_volumes += list(np.bincount(truth.ravel())[1:] * float(np.prod(voxel)))
    gt_volumes = [v for v in gt_volumes if v > 0]
    ratio = cells["volume_um3"].median() / np.median(gt_volumes)
    assert 0.6 < ratio < 1.6, (cells["volume_um3"].describe(), np.median(gt_volumes))
    # round objects; small ones, and those cut by the stack's top or bottom, come out somewhat above 1
    assert cells["sphericity"].between(0.6, 1.3).all()
    np.testing.assert_allclose(  # mean over the object's voxels of the raw stack
        cells["mean_intensity_ch0"], cells["integrated_intensity_ch0"] / cells["volume_voxels"])
    metrics = pd.read_parquet(out / "track_metrics.parquet")
    assert metrics["mean_volume_um3"].notna().all() and metrics["mean_area_um2"].isna().all()

    # exports: napari tracks and geff with z, CTC masks as (z, y, x) stacks
    napari = pd.read_csv(out / "tracks_napari.csv")
    assert list(napari.columns[:5]) == ["track_id", "t", "z", "y", "x"]
    geff_axes = zarr.open_group(str(out / "tracks.geff"), mode="r").attrs["geff"]["axes"]  # Zarr v2 or v3
    assert [axis["name"] for axis in geff_axes] == ["t", "z", "y", "x"]
    trackmate = (out / "tracks.trackmate.xml").read_text()
    assert f'nslices="{z}"' in trackmate and f'voxeldepth="{voxel[0]}"' in trackmate
    assert 'POSITION_Z="0.0"' not in trackmate  # spots at their z (µm)
    masks = sorted((out / "ctc").glob("mask*.tif"))
    assert len(masks) == n_frames and tifffile.imread(masks[0]).shape == (z, y, x)

    # scores against the simulated 3-D ground truth
    evaluation = json.loads((out / "evaluation.json").read_text())
    ctc = evaluation["ctc"]
    assert ctc["SEG"] > SEG_FLOOR and ctc["DET"] > DET_FLOOR and ctc["TRA"] > TRA_FLOOR, ctc
    report = (out / "report.html").read_text()
    assert "maximum-intensity projections" in report
    assert "orthogonal views of the 8 × 96 × 96 voxel stack" in report  # beside the projection overlay
    qc = json.loads((out / "qc.json").read_text())
    assert qc["filters"]["objects_found"] == len(cells) and qc["filters"]["objects_removed"] == 0


def test_napari_opens_the_3d_results_with_their_voxel_size(demo3d_run: Path, viewer) -> None:
    """cellpipe's napari reader on the 3-D demo's results in a real napari viewer (Xvfb, tests/conftest.py): the
    movie, both label images, the lineage tracks and the cells' points at (minutes, z, y, x) scale with the z step
    (2 µm) apart from the pixel (0.5 µm), in minutes and µm with no unit warning; every track point of several
    stacks and every cell's point on its own 3-D label; points at their measured centroid in µm; a canvas that
    shows something, slice by slice and rendered in 3-D."""
    import warnings

    from napari.layers import Image, Labels, Points, Tracks
    from napari_results import (
        assert_screenshot_shows_something,
        by_name,
        check_cells_fall_in_their_labels,
        check_tracks_fall_in_their_labels,
    )

    settings = _demo()["simulate3d"]["demo3d"]
    n_frames, (n_z, n_y, n_x), voxel = settings["n_frames"], settings["shape_zyx"], settings["voxel_size_um"]
    scale = [settings["frame_interval_min"], *voxel]
    assert voxel[0] != voxel[1] == voxel[2]  # a z scale taken from the pixel, or dropped, would show below
    folder = demo3d_run / "results" / "demo3d"

    with warnings.catch_warnings(record=True) as caught:  # opened as a user does, through cellpipe's manifest
        warnings.simplefilter("always")
        opened = by_name(viewer.open(str(folder), plugin="cellpipe"))
    unit_warnings = [str(w.message) for w in caught if "unit" in str(w.message).lower()]
    assert not unit_warnings, unit_warnings
    assert sorted(opened) == ["cells", "cells (measurements)", "demo3d", "tracks", "tracks (lineage)"]
    assert isinstance(opened["demo3d"], Image) and isinstance(opened["tracks (lineage)"], Tracks)
    assert isinstance(opened["cells"], Labels) and isinstance(opened["tracks"], Labels)
    assert isinstance(opened["cells (measurements)"], Points)
    for layer in opened.values():
        np.testing.assert_allclose(layer.scale, scale, err_msg=layer.name)
        assert [str(u) for u in layer.units] == ["minute", "micrometer", "micrometer", "micrometer"], layer.name
        assert list(layer.axis_labels) == ["t", "z", "y", "x"], layer.name
    assert [str(a) for a in viewer.dims.axis_labels] == ["t", "z", "y", "x"]
    assert opened["demo3d"].data.shape == opened["cells"].data.shape == (n_frames, n_z, n_y, n_x)
    # the stack spans its depth in µm: (planes - 1) z steps between the first and the last plane's centres
    extent = opened["cells"].extent.world
    np.testing.assert_allclose(extent[:, 1], [0.0, (n_z - 1) * voxel[0]])
    np.testing.assert_allclose(extent[:, 3], [0.0, (n_x - 1) * voxel[2]])

    # every track point of the first, a middle and the last stack lies on its own track's 3-D label
    frames = [0, (n_frames - 1) // 2, n_frames - 1]
    tracks = pd.read_parquet(folder / "tracks.parquet")
    n_points = check_tracks_fall_in_their_labels(opened["tracks (lineage)"], opened["tracks"], frames)
    assert n_points == int(tracks["frame"].isin(frames).sum()) > 0
    # every cell's point lies on its own cells label, at its measured centroid (µm) in world coordinates
    cells = pd.read_parquet(folder / "cells.parquet")
    points = opened["cells (measurements)"]
    assert check_cells_fall_in_their_labels(points, opened["cells"]) == len(cells) > 0
    world = np.array([points.data_to_world(row) for row in np.asarray(points.data)])
    np.testing.assert_allclose(world[:, 1:], cells[["centroid_z_um", "centroid_y_um", "centroid_x_um"]].to_numpy())
    np.testing.assert_allclose(world[:, 0], cells["frame"].to_numpy() * scale[0])
    np.testing.assert_allclose(points.features["volume_um3"], cells["volume_um3"])
    track_world = opened["tracks (lineage)"].features[["time_min", "z_um", "y_um", "x_um"]].to_numpy()
    csv = pd.read_csv(folder / "tracks_napari.csv")
    np.testing.assert_allclose(track_world, csv[["t_min", "z_um", "y_um", "x_um"]].to_numpy())

    # a middle stack, sliced at the z (µm) of a cell in it, then the same stack rendered in 3-D
    cell = cells[cells["frame"] == frames[1]].iloc[0]
    viewer.dims.set_point(0, frames[1] * scale[0])
    viewer.dims.set_point(1, float(cell["centroid_z_um"]))
    assert viewer.dims.current_step[:2] == (frames[1], round(cell["centroid_z_um"] / voxel[0]))
    assert_screenshot_shows_something(viewer)
    viewer.dims.ndisplay = 3
    assert_screenshot_shows_something(viewer)


@pytest.mark.parametrize(("segment", "why"), [
    ({"method": "cellpose", "cellpose": {**default_config()["segment"]["cellpose"], "network": "cellpose-sam",
                                         "model": "", "builtin_model": "cpsam"}},
     "Cellpose-SAM does not segment 3-D movies in cellpipe (untested there); use segment.cellpose.network: "
     "cellpose3 (segment.cellpose.mode_3d: stitch or do_3d) or segment.method: classical"),
])
def test_what_3d_segmentation_does_not_take_is_refused_before_any_job(tmp_path: Path, segment: dict, why: str) -> None:
    demo = _demo()
    demo["segment"] = {**demo["segment"], "cellpose": default_config()["segment"]["cellpose"], **segment}
    workdir = _workdir(tmp_path / "work", demo)

    refused = run_snakemake(workdir, "-n", timeout=300)

    said = refused.stdout + refused.stderr  # a dry run reports on stdout
    assert refused.returncode != 0
    assert ("cellpipe: sample 'demo3d' (results/simulated/demo3d/movie.ome.tif): a 3-D movie (8 z-planes per stack, "
            f"ingest.z_projection: keep); {why}") in said, said[-3000:]
    assert "Job stats" not in said  # refused while the DAG was built: no job planned
