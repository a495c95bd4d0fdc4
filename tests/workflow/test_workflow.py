"""End-to-end runs of the real Snakefile on a tiny simulated movie, checked against its ground truth."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from cellpipe import layout
from cellpipe.io.omezarr import ngff_attributes, open_multiscales

import browser
from conftest import BIN, REPO, TINY, TINY_SAMPLES_TSV, default_config, run_snakemake, snakemake_env, write_workdir

OME_META = layout.OME_ZARR_METADATA[layout.DEFAULT_OME_ZARR_VERSION]
"""The metadata file of the run's OME-Zarr stores (the default NGFF version; config/README.md)."""
ARRAY_META = layout.ZARR_ARRAY_METADATA[layout.DEFAULT_OME_ZARR_VERSION]
"""The metadata file of normalized.zarr, a plain Zarr array in the Zarr format of the default version."""


def ngff_attrs(store: Path) -> dict:
    """The NGFF attributes of the OME-Zarr group ``store`` (NGFF 0.5's ``ome`` key unpacked)."""
    import zarr

    return ngff_attributes(dict(zarr.open_group(str(store), mode="r").attrs))


pytestmark = pytest.mark.workflow

# TINY: 96 rows by 160 columns, so a position with y and x swapped, or a label image transposed, lands outside the frame
SAMPLES_TSV = TINY_SAMPLES_TSV


def tiny_config(**overrides) -> dict:
    config = default_config()
    config["simulate"] = {"tiny": dict(TINY)}
    for key, value in overrides.items():
        config[key] = value
    return config


def ground_truth_counts(gt: Path, n_frames: int) -> np.ndarray:
    counts = []
    for t in range(n_frames):
        mask = tifffile.imread(gt / "TRA" / f"man_track{t:03d}.tif")
        counts.append(len(np.unique(mask[mask > 0])))
    return np.array(counts)


def object_centres(masks) -> pd.DataFrame:
    """``frame, value, y, x, area``: each object of each (Y, X) instance mask, its centre the mean row (``y``) and
    column (``x``) of its pixels (px), ``area`` in px; ``frame`` is the mask's index in ``masks``."""
    rows = []
    for frame, mask in enumerate(masks):
        ids = np.asarray(mask).astype(np.int64).ravel()
        rr, cc = np.indices(np.shape(mask))
        n = np.bincount(ids)
        sum_y, sum_x = np.bincount(ids, rr.ravel()), np.bincount(ids, cc.ravel())
        rows += [(frame, v, sum_y[v] / n[v], sum_x[v] / n[v], n[v]) for v in np.flatnonzero(n) if v > 0]
    return pd.DataFrame(rows, columns=["frame", "value", "y", "x", "area"])


def true_nuclei(run: Path) -> pd.DataFrame:
    """The simulator's nuclei (``frame, value, y, x``, px): the objects of its CTC TRA masks, each value a true track id."""
    gt = run / "results" / "simulated" / "tiny" / "01_GT" / "TRA"
    masks = [tifffile.imread(gt / f"man_track{t:03d}.tif") for t in range(TINY["n_frames"])]
    assert {m.shape for m in masks} == {tuple(TINY["shape"])}  # the truth itself is rows x columns
    return object_centres(masks)


def pixel_size_um(run: Path) -> float:
    """Pixel size (µm/px) the run's config gives the simulated movie (simulate.tiny.pixel_size_um)."""
    return float(yaml.safe_load((run / "config" / "config.yaml").read_text())["simulate"]["tiny"]["pixel_size_um"])


# a segmented nucleus' centre lies well within a pixel of the simulator's (0.5 px at most on this movie); a point with
# y and x swapped lies tens of px away, outside the 96 px high frame when its x is beyond 96 px
TOLERANCE_PX = 1.5


def assert_on_the_true_nuclei(found: pd.DataFrame, truth: pd.DataFrame, tolerance: float, what: str) -> None:
    """``found`` and ``truth`` hold ``frame, y, x`` in one unit (px or µm, ``tolerance`` likewise).  In every frame
    each true nucleus has a found point within ``tolerance`` in y and, separately, in x, and each found point a true
    nucleus; the nearest point (in the plane) is the one compared."""
    assert sorted(found["frame"].unique()) == sorted(truth["frame"].unique()), f"{what}: frames"
    assert found["y"].notna().all() and found["x"].notna().all(), what
    misses = []
    for frame, true in truth.groupby("frame"):
        seen = found[found["frame"] == frame]
        for points, others, role in ((true, seen, "true nucleus"), (seen, true, f"{what} point")):
            for y, x in points[["y", "x"]].to_numpy(np.float64):
                near = others.iloc[int(np.argmin(np.hypot(others["y"] - y, others["x"] - x)))]
                if abs(near["y"] - y) > tolerance or abs(near["x"] - x) > tolerance:
                    misses.append(f"frame {frame}: {role} at y {y:.2f}, x {x:.2f}; nearest at y {near['y']:.2f}, x {near['x']:.2f}")
    assert not misses, f"{what}: {len(misses)} point(s) off the true nuclei:\n" + "\n".join(misses[:20])


@pytest.fixture(scope="module")
def tiny_run(tiny_reference_run: Path) -> Path:
    """The whole workflow once on the TINY movie, sockets blocked in every process it starts: the session's
    tiny_reference_run (tests/conftest.py), which the SLURM and interruption tests compare with too."""
    return tiny_reference_run


def test_all_outputs_written(tiny_run: Path) -> None:
    res = tiny_run / "results"
    for rel in [
        f"tiny/image.ome.zarr/{OME_META}", f"tiny/normalized.zarr/{ARRAY_META}", "tiny/normalization.tsv",
        f"tiny/image.ome.zarr/labels/cells/{OME_META}", "tiny/segmentation.json", "tiny/tracks.parquet",
        "tiny/lineage.parquet", f"tiny/image.ome.zarr/labels/tracks/{OME_META}", f"tiny/image.ome.zarr/labels/{OME_META}",
        "tiny/cells.parquet",
        "tiny/track_metrics.parquet", "tiny/counts.tsv", "tiny/msd.parquet", "tiny/report.html", "summary.html",
        "logs/segment_frames/tiny.part0.log", "benchmarks/segment_frames/tiny.part0.tsv",
        "logs/segment_cells/tiny.log", "benchmarks/segment_cells/tiny.tsv",
        "tiny/ctc/res_track.txt", "tiny/ctc/mask000.tif", "tiny/ctc_segments.tsv", "tiny/tracks_napari.csv",
        "tiny/tracks_napari_graph.json", f"tiny/tracks.geff/{OME_META}", "tiny/tracks.trackmate.xml",
        "logs/export_tracks/tiny.log", "benchmarks/export_tracks/tiny.tsv",
        "tiny/tracking.json", "tiny/evaluation.json", "evaluation.tsv", "logs/evaluate_sample/tiny.log",
        "benchmarks/evaluate_sample/tiny.tsv", "tiny/qc.json", "logs/assess_quality/tiny.log",
        "benchmarks/assess_quality/tiny.tsv",
    ]:
        assert (res / rel).exists(), rel


def test_image_holds_its_label_images_for_ome_zarr_readers(tiny_run: Path) -> None:
    """image.ome.zarr lists labels/cells and labels/tracks in its NGFF labels group; ome-zarr-py (what
    napari-ome-zarr reads with) finds both, and the tracks' pixel values are the track ids."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    image = tiny_run / "results" / "tiny" / "image.ome.zarr"
    nodes = list(Reader(parse_url(str(image)))())
    labels = {Path(str(n.zarr.path)).name: n for n in nodes if any(isinstance(spec, Label) for spec in n.specs)}
    assert sorted(labels) == ["cells", "tracks"]
    tracks = pd.read_parquet(tiny_run / "results" / "tiny" / "tracks.parquet")
    last = int(tracks["frame"].max())
    ids = set(np.unique(np.asarray(labels["tracks"].data[0][last]))) - {0}
    assert ids == set(tracks.loc[tracks["frame"] == last, "track_id"])



def test_napari_reader_opens_the_results_folder(tiny_run: Path, viewer) -> None:
    """cellpipe's napari reader on the workflow's own results, as layers and in a real napari viewer (Xvfb,
    tests/conftest.py): layer types, minutes and µm with no unit warning, every track point of several
    frames on its own track's label, and a canvas that shows something."""
    import warnings

    from napari.layers import Image, Labels, Layer, Points, Tracks
    from napari_results import (
        assert_screenshot_shows_something,
        by_name,
        check_cells_fall_in_their_labels,
        check_tracks_fall_in_their_labels,
    )

    from cellpipe.napari_reader import read_results

    folder = tiny_run / "results" / "tiny"
    read = read_results(folder)
    layers = by_name(Layer.create(*data) for data in read)
    # the reader's positions in minutes and µm are the CSV's own physical columns
    csv = pd.read_csv(folder / "tracks_napari.csv")
    features = next(kwargs["features"] for _, kwargs, kind in read if kind == "tracks")
    np.testing.assert_allclose(features[["time_min", "y_um", "x_um"]].to_numpy(), csv[["t_min", "y_um", "x_um"]].to_numpy())
    names = ["cells", "cells (measurements)", "tiny", "tracks", "tracks (lineage)"]
    assert sorted(layers) == names
    scale = ngff_attrs(folder / "image.ome.zarr")["multiscales"][0]["datasets"][0][
        "coordinateTransformations"][0]["scale"]
    assert scale[0] == TINY["frame_interval_min"] and scale[-1] == pytest.approx(pixel_size_um(tiny_run))
    last = TINY["n_frames"] - 1
    frames = [0, last // 2, last]
    assert check_tracks_fall_in_their_labels(layers["tracks (lineage)"], layers["tracks"], frames) > 0

    # the same folder in a viewer, opened as a user does (npe2 finds the reader through cellpipe's manifest)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = by_name(viewer.open(str(folder), plugin="cellpipe"))
    unit_warnings = [str(w.message) for w in caught if "unit" in str(w.message).lower()]
    assert not unit_warnings, unit_warnings
    assert sorted(opened) == names
    assert isinstance(opened["tiny"], Image) and isinstance(opened["tracks (lineage)"], Tracks)
    assert isinstance(opened["cells"], Labels) and isinstance(opened["tracks"], Labels)
    assert isinstance(opened["cells (measurements)"], Points)
    for layer in [*layers.values(), *opened.values()]:
        np.testing.assert_allclose(layer.scale, [scale[0], scale[-2], scale[-1]])
        assert [str(u) for u in layer.units] == ["minute", "micrometer", "micrometer"], layer.name
    assert [str(u) for u in viewer.dims.axis_labels] == ["t", "y", "x"]
    n_points = check_tracks_fall_in_their_labels(opened["tracks (lineage)"], opened["tracks"], frames)
    assert n_points >= len(frames) * TINY["n_cells"] // 2, n_points
    # every cell's point lies on its own cells label; its features are its row of cells.parquet
    cells = pd.read_parquet(folder / "cells.parquet")
    points = opened["cells (measurements)"]
    assert check_cells_fall_in_their_labels(points, opened["cells"]) == len(cells) > 0
    np.testing.assert_allclose(points.features["area_um2"], cells["area_um2"])
    np.testing.assert_array_equal(points.features["track_id"], cells["track_id"].fillna(0).astype(np.int64))
    # the slider steps through the frames at their time in minutes; the middle frame is drawn
    viewer.dims.set_point(0, frames[1] * scale[0])
    assert viewer.dims.current_step[0] == frames[1]
    assert_screenshot_shows_something(viewer)


def test_every_ome_zarr_group_of_the_run_is_valid_ngff(tiny_run: Path) -> None:
    """image.ome.zarr, its labels group and both label images pass ome-zarr-models' own validation
    (warnings as errors, as ``ome-zarr-models validate``); the image's channels have a colour and a
    window inside the dtype's range, and labels/tracks has a colour and properties per track id."""
    import warnings

    import zarr
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.exceptions import ValidationWarning

    image = tiny_run / "results" / "tiny" / "image.ome.zarr"
    expected = {image: "Image", image / "labels": "Labels", image / "labels" / "cells": "ImageLabel",
                image / "labels" / "tracks": "ImageLabel"}
    for path, kind in expected.items():
        with warnings.catch_warnings(action="error", category=ValidationWarning):
            model = open_ome_zarr(zarr.open_group(str(path), mode="r"), version=layout.DEFAULT_OME_ZARR_VERSION)
        assert type(model).__name__ == kind, path
    channels = ngff_attrs(image)["omero"]["channels"]
    assert channels and all(c["color"] and c["window"]["min"] <= c["window"]["start"] < c["window"]["end"]
                            <= c["window"]["max"] for c in channels)
    meta = ngff_attrs(image / "labels" / "tracks")["image-label"]
    tracks = pd.read_parquet(tiny_run / "results" / "tiny" / "tracks.parquet")
    assert [p["label-value"] for p in meta["properties"]] == sorted(tracks["track_id"].unique())
    assert [c["label-value"] for c in meta["colors"]] == [p["label-value"] for p in meta["properties"]]


def test_ctc_export_scores_well_against_the_simulators_truth(tiny_run: Path) -> None:
    """The workflow's CTC result folder passes py-ctcmetrics' format validation and, from raw frames
    through the shipped model and btrack, agrees with the simulator's tracks (DET, TRA)."""
    from ctc_metrics import evaluate_sequence, validate_sequence

    res = tiny_run / "results"
    assert validate_sequence(str(res / "tiny" / "ctc"))["Valid"] == 1  # the CTC's own format checks
    scores = evaluate_sequence(str(res / "tiny" / "ctc"), str(res / "simulated" / "tiny" / "01_GT"), metrics=["DET", "TRA"])
    assert scores["DET"] >= 0.9 and scores["TRA"] >= 0.9, scores
    info = json.loads((res / "tiny" / "tracking.json").read_text())
    assert info["optimizer"] == "solved" and info["update_method"] == "EXACT" and info["n_tracks"] >= 7
    assert info["settings"]["max_search_radius_um"] == 20.0


def test_exports_are_in_physical_units_geff_validates_and_ctc_masks_are_calibrated(tiny_run: Path) -> None:
    """#24: tracks_napari.csv has µm/minute columns equal to pixel x pixel size and frame x interval of the
    image's own metadata; tracks.geff passes geff's validation with a node per tracked object and an edge per
    link and division, in µm and minutes; the CTC masks carry the pixel size."""
    from geff.core_io import read_to_memory
    from geff.validate.data import ValidationConfig

    from cellpipe.io.ctc import read_ctc_pixel_size

    sample = tiny_run / "results" / "tiny"
    scale = ngff_attrs(sample / "image.ome.zarr")["multiscales"][0]["datasets"][0]
    t_scale, _, y_scale, x_scale = next(c["scale"] for c in scale["coordinateTransformations"] if c["type"] == "scale")
    tracks = pd.read_parquet(sample / "tracks.parquet")
    csv = pd.read_csv(sample / "tracks_napari.csv")
    assert list(csv.columns[:4]) == ["track_id", "t", "y", "x"] and len(csv) == len(tracks)
    np.testing.assert_allclose(csv["y_um"], csv["y"] * y_scale, rtol=1e-12)
    np.testing.assert_allclose(csv["x_um"], csv["x"] * x_scale, rtol=1e-12)
    np.testing.assert_allclose(csv["t_min"], csv["t"] * t_scale, rtol=1e-12)

    proc = subprocess.run([str(Path(sys.executable).parent / "geff"), "validate", str(sample / "tracks.geff")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mem = read_to_memory(str(sample / "tracks.geff"), data_validation=ValidationConfig(graph=True, lineage=True))
    assert [(a.name, a.unit) for a in mem["metadata"].axes] == [("t", "minute"), ("y", "micrometer"),
                                                                 ("x", "micrometer")]
    props = {k: v["values"] for k, v in mem["node_props"].items()}
    assert len(mem["node_ids"]) == len(tracks)
    lineage = pd.read_parquet(sample / "lineage.parquet")
    n_links = len(tracks) - tracks["track_id"].nunique()
    assert len(mem["edge_ids"]) == n_links + len(lineage)
    assert int(mem["edge_props"]["division"]["values"].sum()) == len(lineage)
    cells = pd.read_parquet(sample / "cells.parquet").set_index(["frame", "label"])
    area = cells.loc[list(zip(props["frame"].tolist(), props["label"].tolist(), strict=True)), "area_um2"]
    np.testing.assert_allclose(props["area_um2"], area.to_numpy())
    assert set(props["track_id"].tolist()) == set(tracks["track_id"].tolist())
    related = mem["metadata"].related_objects
    assert [(r.type, r.node_prop) for r in related] == [("image", None), ("labels", "track_id"), ("labels", "label")]
    for r in related:  # paths relative to the geff store lead to the image and its label images
        assert (sample / "tracks.geff" / r.path / OME_META).is_file(), r.path

    assert read_ctc_pixel_size(sample / "ctc" / "mask000.tif") == pytest.approx(x_scale, rel=1e-6)


def test_trackmate_xml_holds_every_object_and_edge_and_reads_back_through_geffs_converter(tiny_run: Path, tmp_path: Path) -> None:
    """#24: tracks.trackmate.xml parses (lxml), has a spot per tracked object at x_px, y_px times the image's pixel
    size (µm) and frame times its frame interval (minutes), an edge per link and division, each naming spots that
    exist, FilteredTracks listing every track; geff's TrackMate converter reads it to a geff that `geff validate`
    passes, with as many nodes and edges."""
    from geff.convert import from_trackmate_xml_to_geff
    from geff.core_io import read_to_memory
    from lxml import etree

    sample = tiny_run / "results" / "tiny"
    image = open_multiscales(sample / "image.ome.zarr")
    t_scale, x_scale = image.scale[image.axes.index("t")], image.scale[image.axes.index("x")]
    tracks = pd.read_parquet(sample / "tracks.parquet")
    lineage = pd.read_parquet(sample / "lineage.parquet")
    root = etree.parse(str(sample / "tracks.trackmate.xml")).getroot()
    model = root.find("Model")
    assert (model.get("spatialunits"), model.get("timeunits")) == ("µm", "min")
    spots = {(int(s.get("CELLPIPE_TRACK_ID")), int(s.get("FRAME"))): s for s in root.iter("Spot")}
    assert len(spots) == len(tracks) == int(model.find("AllSpots").get("nspots"))
    for row in tracks.itertuples():
        spot = spots[row.track_id, row.frame]
        assert float(spot.get("POSITION_X")) == pytest.approx(row.x_px * x_scale, rel=1e-12)
        assert float(spot.get("POSITION_T")) == pytest.approx(row.frame * t_scale, rel=1e-12)
    edges = list(root.iter("Edge"))
    assert len(edges) == len(tracks) - tracks["track_id"].nunique() + len(lineage)
    assert sum(e.get("DIVISION") == "1" for e in edges) == len(lineage)
    ids = {int(s.get("ID")) for s in spots.values()}
    assert {int(e.get(k)) for e in edges for k in ("SPOT_SOURCE_ID", "SPOT_TARGET_ID")} <= ids
    assert [t.get("TRACK_ID") for t in model.find("FilteredTracks")] == [t.get("TRACK_ID") for t in model.find("AllTracks")]
    assert root.find("Settings/ImageData").get("filename") == "image.ome.zarr"

    store = tmp_path / "from_trackmate.geff"
    from_trackmate_xml_to_geff(sample / "tracks.trackmate.xml", store)
    mem = read_to_memory(str(store))
    assert len(mem["node_ids"]) == len(tracks) and len(mem["edge_ids"]) == len(edges)
    proc = subprocess.run([str(Path(sys.executable).parent / "geff"), "validate", str(store)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_evaluation_agrees_with_the_libraries_run_by_hand(tiny_run: Path) -> None:
    """evaluation.json holds py-ctcmetrics' numbers for the workflow's own CTC export, Cellpose's AP, and
    the per-frame count error against the TRA markers; evaluation.tsv has its row."""
    from ctc_metrics import evaluate_sequence

    res = tiny_run / "results"
    ev = json.loads((res / "tiny" / "evaluation.json").read_text())
    gt = res / "simulated" / "tiny" / "01_GT"
    by_hand = evaluate_sequence(str(res / "tiny" / "ctc"), str(gt), metrics=["SEG", "DET", "TRA"], threads=1)
    for key in ("SEG", "DET", "TRA"):
        assert ev["ctc"][key] == pytest.approx(by_hand[key], abs=1e-12), key
    assert ev["ctc"]["DET"] >= 0.9 and ev["segmentation"]["average_precision"][0] >= 0.8
    assert ev["segmentation"]["iou_thresholds"] == pytest.approx([0.5 + 0.05 * i for i in range(10)])
    truth = ground_truth_counts(gt, TINY["n_frames"])
    assert [r["n_true"] for r in ev["counts"]["per_frame"]] == truth.tolist()
    counts = pd.read_csv(res / "tiny" / "counts.tsv", sep="\t")
    assert [r["n_predicted"] for r in ev["counts"]["per_frame"]] == counts["n_cells"].tolist()
    table = pd.read_csv(res / "evaluation.tsv", sep="\t")
    assert table["sample"].tolist() == ["tiny"] and table.loc[0, "TRA"] == pytest.approx(by_hand["TRA"])


def test_logs_show_per_frame_progress(tiny_run: Path) -> None:
    logs = tiny_run / "results" / "logs"
    n = TINY["n_frames"]
    assert f"segmented frame {n} of {n}" in (logs / "segment_frames" / "tiny.part0.log").read_text()
    track_log = (logs / "track_cells" / "tiny.log").read_text()
    assert f"read objects of frame {n} of {n}" in track_log and f"linked frames up to {n} of {n}" in track_log


def test_snakemake_report_has_captions(tiny_run: Path, tmp_path: Path) -> None:
    """`snakemake --report` builds Snakemake's own report with the workflow's captions."""
    import zipfile

    proc = run_snakemake(tiny_run, "--report", str(tmp_path / "report.zip"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = archive.namelist()
        text = "".join(archive.read(n).decode("utf-8", "replace") for n in names if n.endswith((".html", ".js")))
    assert any(n.endswith("evaluation.tsv") for n in names) and any(n.endswith("report.html") for n in names)
    assert "CTC SEG, DET and TRA" in text  # from workflow/report/evaluation.rst


def test_counts_match_simulator_ground_truth(tiny_run: Path) -> None:
    res = tiny_run / "results"
    counts = pd.read_csv(res / "tiny" / "counts.tsv", sep="\t")
    truth = ground_truth_counts(res / "simulated" / "tiny" / "01_GT", TINY["n_frames"])
    assert list(counts["frame"]) == list(range(TINY["n_frames"]))
    error = np.abs(counts["n_cells"].to_numpy() - truth)
    assert truth.min() > 0
    assert error.mean() <= 0.5, (counts["n_cells"].tolist(), truth.tolist())
    assert (error == 0).mean() >= 0.6, (counts["n_cells"].tolist(), truth.tolist())


def test_cell_table_in_physical_units(tiny_run: Path) -> None:
    res = tiny_run / "results"
    cells = pd.read_parquet(res / "tiny" / "cells.parquet")
    px = pixel_size_um(tiny_run)  # written into the OME-TIFF by the simulator, read back by ingest
    gt = tifffile.imread(res / "simulated" / "tiny" / "01_GT" / "TRA" / "man_track000.tif")
    gt_area_um2 = np.median(np.bincount(gt.ravel())[1:][np.bincount(gt.ravel())[1:] > 0]) * px * px
    area = cells.loc[cells["frame"] == 0, "area_um2"].median()
    assert area == pytest.approx(gt_area_um2, rel=0.25)
    height, width = TINY["shape"]
    assert cells["centroid_y_um"].max() <= height * px and cells["centroid_x_um"].max() <= width * px
    assert cells["centroid_x_um"].max() > height * px  # x spans the 160 px width, not the 96 px height
    assert cells["track_id"].notna().mean() > 0.9
    assert set(cells["time_min"].unique()) <= {5.0 * t for t in range(TINY["n_frames"])}


def test_label_images_and_ctc_masks_are_rows_by_columns_with_objects_on_the_true_nuclei(tiny_run: Path) -> None:
    """The image is (T, C, 96, 160); labels/cells, labels/tracks and each CTC maskTTT.tif are 96 rows by 160 columns,
    not transposed, and their objects' centres are the simulator's nuclei in y and x (within 1.5 px)."""
    from cellpipe.io import omezarr

    sample = tiny_run / "results" / "tiny"
    truth = true_nuclei(tiny_run)
    n_frames, shape = TINY["n_frames"], tuple(TINY["shape"])
    assert omezarr.open_ome_image(sample / "image.ome.zarr").data.shape == (n_frames, 1, *shape)
    for name in ("cells", "tracks"):
        labels = np.asarray(omezarr.open_ome_image(sample / "image.ome.zarr" / "labels" / name).data)
        assert labels.shape == (n_frames, *shape), name
        assert_on_the_true_nuclei(object_centres(labels), truth, TOLERANCE_PX, f"labels/{name}")
    masks = [tifffile.imread(sample / "ctc" / f"mask{t:03d}.tif") for t in range(n_frames)]
    assert {m.shape for m in masks} == {shape}
    assert_on_the_true_nuclei(object_centres(masks), truth, TOLERANCE_PX, "CTC masks")


def test_tracks_and_cells_lie_on_the_true_nuclei_in_y_and_x(tiny_run: Path) -> None:
    """tracks.parquet (``y_px, x_px`` and, with the config's pixel size, ``y_um, x_um``) and cells.parquet
    (``centroid_y_um, centroid_x_um``) put every object on a simulated nucleus, y and x each within 1.5 px."""
    sample = tiny_run / "results" / "tiny"
    truth = true_nuclei(tiny_run)
    px = pixel_size_um(tiny_run)
    truth_um = truth.assign(y=truth["y"] * px, x=truth["x"] * px)
    tracks = pd.read_parquet(sample / "tracks.parquet")
    assert_on_the_true_nuclei(tracks.rename(columns={"y_px": "y", "x_px": "x"}), truth, TOLERANCE_PX, "tracks.parquet (px)")
    assert_on_the_true_nuclei(tracks[["frame", "y_um", "x_um"]].rename(columns={"y_um": "y", "x_um": "x"}), truth_um,
                              TOLERANCE_PX * px, "tracks.parquet (µm)")
    cells = pd.read_parquet(sample / "cells.parquet").rename(columns={"centroid_y_um": "y", "centroid_x_um": "x"})
    assert_on_the_true_nuclei(cells, truth_um, TOLERANCE_PX * px, "cells.parquet")
    # the nuclei spread over the whole width: x beyond the frame's height is where a swap shows
    assert (truth["x"] > TINY["shape"][0] + TOLERANCE_PX).mean() > 0.2


def test_napari_csv_and_geff_lie_on_the_true_nuclei_in_y_and_x(tiny_run: Path) -> None:
    """tracks_napari.csv (``t, y, x`` in frames and px, ``t_min, y_um, x_um``) and the nodes of tracks.geff (axes
    ``t`` in minutes, ``y, x`` in µm) put every object on a simulated nucleus of its frame, y and x each within
    1.5 px; minutes and µm come from the config's frame interval and pixel size."""
    from geff.core_io import read_to_memory

    sample = tiny_run / "results" / "tiny"
    truth = true_nuclei(tiny_run)
    px = pixel_size_um(tiny_run)
    interval = float(yaml.safe_load((tiny_run / "config" / "config.yaml").read_text())["simulate"]["tiny"]["frame_interval_min"])
    truth_um = truth.assign(y=truth["y"] * px, x=truth["x"] * px)

    csv = pd.read_csv(sample / "tracks_napari.csv")
    assert_on_the_true_nuclei(csv.rename(columns={"t": "frame"}), truth, TOLERANCE_PX, "tracks_napari.csv (px)")
    assert np.allclose(csv["t_min"] / interval, np.round(csv["t_min"] / interval))
    physical = pd.DataFrame({"frame": np.round(csv["t_min"] / interval).astype(int), "y": csv["y_um"], "x": csv["x_um"]})
    assert_on_the_true_nuclei(physical, truth_um, TOLERANCE_PX * px, "tracks_napari.csv (µm)")

    props = {k: np.asarray(v["values"]) for k, v in read_to_memory(str(sample / "tracks.geff"))["node_props"].items()}
    frame = props["t"] / interval
    assert np.allclose(frame, np.round(frame))
    nodes = pd.DataFrame({"frame": np.round(frame).astype(int), "y": props["y"], "x": props["x"]})
    assert_on_the_true_nuclei(nodes, truth_um, TOLERANCE_PX * px, "tracks.geff nodes (µm)")


def test_tracks_follow_ground_truth(tiny_run: Path) -> None:
    res = tiny_run / "results"
    tracks = pd.read_parquet(res / "tiny" / "tracks.parquet")
    truth = pd.read_csv(res / "simulated" / "tiny" / "01_GT" / "TRA" / "man_track.txt", sep=" ", header=None)
    n_true = len(truth)
    n_found = tracks["track_id"].nunique()
    assert abs(n_found - n_true) <= max(2, n_true // 4), (n_found, n_true)


def test_qc_json_carries_what_the_run_measured(tiny_run: Path) -> None:
    """qc.json of the tiny run against the files it summarises: the objects and Cellpose's mean cell
    probability of every frame (segmentation.json), the tracks and short tracks (track_metrics.parquet,
    tracking.json) and the divisions (tracking.json)."""
    out = tiny_run / "results" / "tiny"
    qc = json.loads((out / "qc.json").read_text())
    seg = json.loads((out / "segmentation.json").read_text())
    tracking = json.loads((out / "tracking.json").read_text())
    metrics = pd.read_parquet(out / "track_metrics.parquet")
    rows = seg["object_filters"]["per_frame"]
    assert len(rows) == TINY["n_frames"] and qc["filters"]["objects_found"] == sum(r["objects"] for r in rows) > 0
    probabilities = [r["mean_cell_probability"] for r in rows]
    assert seg["method"] == "cellpose" and all(0.5 < p <= 1.0 for p in probabilities)
    assert qc["confidence"]["mean_cell_probability"] == pytest.approx(np.mean(probabilities), abs=1e-4)
    assert qc["confidence"]["lowest_mean_cell_probability"] == min(probabilities)
    assert qc["tracks"]["n_tracks"] == len(metrics) == tracking["n_tracks"]
    assert qc["tracks"]["n_short"] == int((metrics["excluded"] == "short").sum()) == tracking["n_short_tracks"]
    assert qc["divisions"]["kept"] == tracking["n_divisions"]
    assert qc["status"] in ("ok", "check") and (qc["status"] == "ok") == (qc["warnings"] == [])


def test_report_is_written_and_self_contained(tiny_run: Path) -> None:
    html = (tiny_run / "results" / "tiny" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "src=\"http" not in html and "href=\"http" not in html
    # the MSD section shows the exponent measure_cells wrote in msd.parquet (ensemble rows: track_id 0)
    msd = pd.read_parquet(tiny_run / "results" / "tiny" / "msd.parquet")
    ensemble = msd[msd["track_id"] == 0]
    assert len(ensemble) >= 2 and (ensemble["n_pairs"] > 0).all()
    section = html[html.index('<section id="msd">'):]
    assert f"Fitted exponent α = {ensemble['msd_exponent'].iloc[0]:.2f}" in section[: section.index("</section>")]
    summary = (tiny_run / "results" / "summary.html").read_text()
    assert "tiny/report.html" in summary


def assert_every_job_settings_recorded(workdir: Path, job_settings: dict) -> None:
    """provenance.json's job_settings hold the settings of each job that made the sample's results, equal to
    JobSettings(config, the workflow's folder).job_settings(stage, row) of the run's config and sample row: for
    measure_cells with track.min_track_frames, for simulate_movie the movie's simulate entry."""
    import os

    from cellpipe.config import SampleRow, load_config
    from cellpipe.config.jobs import JobSettings

    config = load_config(yaml.safe_load((workdir / "config" / "config.yaml").read_text()))
    row = SampleRow(sample="tiny", movie="results/simulated/tiny/movie.ome.tif", ground_truth="results/simulated/tiny/01_GT")
    stages = {"simulate_movie": ("simulate", "tiny"), "ingest_movie": ("ingest", None), "normalize_movie": ("normalize", None),
              "segment_frames": ("segment", None), "track_cells": ("track", None), "measure_cells": ("measure", None),
              "export_tracks": ("export", None), "evaluate_sample": ("evaluate", None), "assess_quality": ("qc", None),
              "report_sample": ("report", None)}
    here = os.getcwd()
    os.chdir(workdir)  # shipped paths are looked up from the run's working folder first, as the workflow did
    try:
        jobs = JobSettings(config, REPO)
        expected = {rule: jobs.job_settings(stage, row, name=name).model_dump(mode="json") for rule, (stage, name) in stages.items()}
    finally:
        os.chdir(here)
    assert job_settings == expected
    assert job_settings["measure_cells"]["min_track_frames"] == config.track.min_track_frames
    assert job_settings["measure_cells"]["measure"] == config.measure.model_dump(mode="json")
    assert job_settings["simulate_movie"]["n_cells"] == TINY["n_cells"]


def test_provenance_records_the_run_and_the_report_shows_it(tiny_run: Path) -> None:
    """provenance.json holds the movie's and model's sha256, the snakemake command line the test ran, every
    job's timing and the result tables' sha256; the report shows them; the command-line file is gone."""
    import hashlib

    res = tiny_run / "results"
    record = json.loads((res / "tiny" / "provenance.json").read_text())
    movie = res / "simulated" / "tiny" / "movie.ome.tif"
    inputs = {entry["role"]: entry for entry in record["inputs"]}
    assert inputs["movie"]["path"] == "results/simulated/tiny/movie.ome.tif"
    assert inputs["movie"]["sha256"] == hashlib.sha256(movie.read_bytes()).hexdigest()
    assert inputs["movie"]["bytes"] == movie.stat().st_size
    # every input a job read is the file the record lists, byte for byte
    as_read = {e["role"]: e for e in record["as_read"]}
    assert {role: (e["read_by"], e["matches"]) for role, e in as_read.items()} == {
        "movie": ("ingest_movie", True), "ground_truth": ("evaluate_sample", True), "tracker_config": ("track_cells", True),
        "model": ("segment_frames", True)}
    assert all(as_read[role]["sha256"] == inputs[role]["sha256"] for role in as_read)
    truth = res / "simulated" / "tiny" / "01_GT"
    truth_files = sorted(p.relative_to(truth).as_posix() for p in truth.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")
    assert [f["path"] for f in inputs["ground_truth"]["files"]] == truth_files
    assert {"config", "sample_sheet", "tracker_config", "model"} <= set(inputs)
    segmentation = json.loads((res / "tiny" / "segmentation.json").read_text())
    assert inputs["model"]["sha256"] == record["model"]["sha256"] == segmentation["model_sha256"]
    assert segmentation["inputs_read"]["model"]["sha256"] == segmentation["model_sha256"]
    assert record["device"] == segmentation["device"] == "cpu"
    assert record["config"]["simulate"]["tiny"]["n_cells"] == TINY["n_cells"] and record["workdir"] == str(tiny_run)
    # the settings the jobs used: the model file and tracker configuration they read, not the config's text
    job_settings = record["job_settings"]
    assert job_settings["segment_frames"] == segmentation["job_settings"] and "scatter" not in segmentation["job_settings"]
    assert job_settings["segment_frames"]["cellpose"]["model"] == inputs["model"]["path"]
    assert job_settings["track_cells"]["tracker_config"] == inputs["tracker_config"]["path"]
    # every job's one settings value, as JobSettings gives it for this config and row (what the rules' params got)
    assert_every_job_settings_recorded(tiny_run, job_settings)
    assert record["versions"]["numpy"] == np.__version__
    assert "--show-failed-logs" in record["command"]["argv"] and record["command"]["workdir"] == str(tiny_run)
    assert set(record["timings"]) == {
        "simulate_movie", "ingest_movie", "normalize_movie", "segment_frames", "segment_cells", "track_cells",
        "measure_cells", "export_tracks", "evaluate_sample", "assess_quality",
    }
    assert record["timings"]["segment_frames"]["seconds"] > 0 and record["timings"]["segment_frames"]["max_rss_mb"] > 50
    assert record["timings"]["segment_cells"]["seconds"] > 0
    for output in record["outputs"]:
        assert output["sha256"] == hashlib.sha256((res / "tiny" / output["path"]).read_bytes()).hexdigest()
    assert not (res / "logs" / "snakemake_invocation.json").exists()

    html = (res / "tiny" / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="provenance">'):]
    for shown in (inputs["movie"]["sha256"], record["model"]["sha256"], "--show-failed-logs", "segment_cells",
                  "python -m cellpipe.replay results/tiny/provenance.json", record["versions"]["torch"]):
        assert shown in section, shown


def replay(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "python"), "-m", "cellpipe.replay", *args], cwd=workdir, env=snakemake_env(True),
        capture_output=True, text=True, timeout=900,
    )


def test_replay_refuses_a_changed_input(tiny_run: Path, tmp_path: Path) -> None:
    """In a copy of the run whose movie has one byte changed, the replay refuses before running anything and
    names the sample, the file and both checksums."""
    import hashlib
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns(".snakemake"))
    movie = copy / "results" / "simulated" / "tiny" / "movie.ome.tif"
    data = bytearray(movie.read_bytes())
    data[len(data) // 2] ^= 0xFF
    movie.write_bytes(bytes(data))
    proc = replay(copy, "results/tiny/provenance.json", "--workdir", str(copy))
    assert proc.returncode == 1, proc.stderr[-3000:]
    record = json.loads((copy / "results" / "tiny" / "provenance.json").read_text())
    recorded = next(e["sha256"] for e in record["inputs"] if e["role"] == "movie")
    assert (
        f"sample 'tiny': movie results/simulated/tiny/movie.ome.tif: recorded sha256 {recorded} ({len(data)} bytes), "
        f"found sha256 {hashlib.sha256(bytes(data)).hexdigest()} ({len(data)} bytes)"
    ) in proc.stderr
    assert "nothing was run" in proc.stderr and not (copy / "results-replay").exists()


def test_replay_reproduces_the_tables_byte_for_byte(tiny_run: Path) -> None:
    """The replay reruns every job of the sample from the record into results-replay/ and gets the same
    bytes in every result table; the original results are left alone."""
    before = (tiny_run / "results" / "tiny" / "provenance.json").read_bytes()
    proc = replay(tiny_run, "results/tiny/provenance.json", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the seven tables (msd.parquet among them), evaluation.json and qc.json
    assert "reproduced all 9 recorded result file(s) byte for byte" in proc.stderr
    out = tiny_run / "results-replay"
    comparison = json.loads((out / "replay" / "tiny" / "comparison.json").read_text())
    assert comparison["identical"] and "tracks.parquet" in comparison["compared"]
    for name in ("tracks.parquet", "cells.parquet", "lineage.parquet", "track_metrics.parquet", "counts.tsv"):
        assert (out / "tiny" / name).read_bytes() == (tiny_run / "results" / "tiny" / name).read_bytes(), name
    replayed = json.loads((out / "tiny" / "provenance.json").read_text())
    original = json.loads(before)
    assert replayed["config"] == {**original["config"], "results": "results-replay"}
    assert [e["sha256"] for e in replayed["inputs"] if e["role"] == "movie"] == [
        e["sha256"] for e in original["inputs"] if e["role"] == "movie"
    ]
    assert "--replace-workflow-config" in replayed["command"]["argv"]
    assert (tiny_run / "results" / "tiny" / "provenance.json").read_bytes() == before


REPORT_SECTIONS = (
    "summary", "counts", "overlay", "montage", "trajectories", "lineage", "areas", "speeds", "msd", "tracks",
    "normalization", "evaluation", "provenance",
)


def drawn(rendered, image: dict) -> bool:
    """The image loaded and its place in the screenshot holds a real picture (many colours, contrast)."""
    pixels = browser.region(rendered, image)
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    return bool(image["complete"] and image["w"] > 0 and pixels.size and colours >= 20 and pixels.std() >= 5)


@pytest.mark.skipif(browser.chromium() is None, reason="chromium not installed (make test installs it)")
def test_report_renders_in_chromium_with_every_plot_drawn(tiny_run: Path, tmp_path: Path) -> None:
    """The sample report and the summary, opened from disk in headless Chromium with the network refused:
    every image loads and the screenshot shows a picture where each one is."""
    page = tiny_run / "results" / "tiny" / "report.html"
    text = page.read_text(encoding="utf-8")
    for anchor in REPORT_SECTIONS:
        assert f'id="{anchor}"' in text, anchor
    rendered = browser.render(page, tmp_path / "sample")
    assert len(rendered.images) >= 10, len(rendered.images)
    blank = [im["src"] for im in rendered.images if not drawn(rendered, im)]
    assert not blank, blank
    assert rendered.screenshot.shape[0] == rendered.height > 3000
    summary = browser.render(tiny_run / "results" / "summary.html", tmp_path / "summary")
    assert summary.images and all(drawn(summary, im) for im in summary.images)


def test_report_plots_stay_readable_at_phone_width(tiny_run: Path, tmp_path: Path) -> None:
    """In a 400 px window (a phone; headless Chromium lays pages out at least 500 px wide) the plots keep
    their own size, so their 9 pt text at 110 dpi stays about 14 px high, instead of shrinking to a third
    (5 px); they scroll sideways inside their figure and the page itself is no wider than the window."""
    rendered = browser.render(tiny_run / "results" / "tiny" / "report.html", tmp_path, width=400)
    assert len(rendered.images) >= 10
    shrunk = [(im["src"], round(im["width"] / im["w"], 2)) for im in rendered.images if im["width"] < 0.95 * im["w"]]
    assert not shrunk, shrunk
    assert rendered.width <= 500, rendered.width


@pytest.mark.skipif(browser.chromium() is None, reason="chromium not installed (make test installs it)")
def test_chromium_check_catches_broken_and_blank_images(tiny_run: Path, tmp_path: Path) -> None:
    """The check above can fail: a corrupted image and a blank one in a copy of the report are caught."""
    import base64
    import io

    from PIL import Image

    text = (tiny_run / "results" / "tiny" / "report.html").read_text(encoding="utf-8")
    white = io.BytesIO()
    Image.new("RGB", (400, 200), "white").save(white, format="PNG")
    uris = re.findall(r'src="(data:image/png;base64,[^"]+)"', text)
    broken = text.replace(uris[0], "data:image/png;base64,AAAA", 1)
    broken = broken.replace(uris[1], "data:image/png;base64," + base64.b64encode(white.getvalue()).decode(), 1)
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    rendered = browser.render(page, tmp_path / "broken")
    assert rendered.images[0]["w"] == 0 and not drawn(rendered, rendered.images[0])
    assert not drawn(rendered, rendered.images[1])
    assert all(drawn(rendered, im) for im in rendered.images[2:])


def test_rerun_has_nothing_to_do(tiny_run: Path) -> None:
    proc = run_snakemake(tiny_run, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_deleted_results_come_back_and_a_replaced_movie_is_caught(tiny_run: Path, tmp_path: Path) -> None:
    """Issue #23 items 14 and 2, one rerun in a copy of the run.

    Item 2: the movie is replaced by another file of the same size with the old mtime restored (as `cp -p` or
    `rsync -a` from a backup do); Snakemake sees nothing to do.  When record_provenance reruns, provenance.json
    says the results were computed from other bytes than the movie file, the report says so and a replay refuses.
    Item 14: image.ome.zarr/labels/cells and tracks.parquet are deleted; the next run makes them again
    (segmentation and what follows it, not ingest) and the labels group lists what exists.
    Then the same as item 2 for the other inputs a job reads: the Cellpose model, the tracker configuration
    and a file of the ground truth are replaced, their mtime restored; provenance.json, deleted, comes back
    saying the results were computed from other bytes than each of them, and a replay refuses, naming each."""
    import hashlib
    import os
    import shutil

    def replace_keeping_mtime(path: Path, data: bytes) -> None:
        stat = path.stat()
        path.write_bytes(data)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    copy = tmp_path / "copy"
    # (without the replay folder test_replay_reproduces_the_tables_byte_for_byte may have left in the shared run)
    shutil.copytree(tiny_run, copy, symlinks=True, ignore=shutil.ignore_patterns("results-replay"))
    res = copy / "results" / "tiny"
    movie = copy / "results" / "simulated" / "tiny" / "movie.ome.tif"
    first = movie.read_bytes()
    second = bytearray(first)
    second[len(second) // 2] ^= 0xFF
    stat = movie.stat()
    movie.write_bytes(bytes(second))
    os.utime(movie, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    dry = run_snakemake(copy, "--dry-run")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stderr[-2000:]

    shutil.rmtree(res / "image.ome.zarr" / "labels" / "cells")
    (res / "tracks.parquet").unlink()
    # the shipped model and tracker configuration, copied into the working folder: the workflow takes these
    # (a user's own files beside the config win), which the test may replace below
    shipped = {"model": "resources/models/cellpipe_nuclei/weights.pth", "tracker_config": "resources/tracker/cellpipe_tracker.json"}
    for rel in shipped.values():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / rel, copy / rel)
    # the run's own log lists the jobs it planned (its "Job stats") and ran (a "rule ...:" block each)
    proc = run_snakemake(copy)
    ran = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Nothing to be done" not in ran and "rule segment_cells:" in ran and "rule ingest_movie:" not in ran, ran[-3000:]
    assert (res / "image.ome.zarr" / "labels" / "cells" / OME_META).is_file() and (res / "tracks.parquet").is_file()
    listed = ngff_attrs(res / "image.ome.zarr" / "labels")["labels"]
    assert sorted(listed) == ["cells", "tracks"] and all((res / "image.ome.zarr" / "labels" / n / OME_META).is_file() for n in listed)
    again = run_snakemake(copy, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr, again.stderr[-2000:]

    record = json.loads((res / "provenance.json").read_text())
    as_read = {e["role"]: e for e in record["as_read"]}
    at_ingest = as_read["movie"]
    assert at_ingest["sha256"] == hashlib.sha256(first).hexdigest() and at_ingest["matches"] is False
    assert next(e for e in record["inputs"] if e["role"] == "movie")["sha256"] == hashlib.sha256(second).hexdigest()
    # segmentation and tracking ran again, on the copies in the working folder: those match
    assert {role: as_read[role]["matches"] for role in ("model", "tracker_config", "ground_truth")} == {
        "model": True, "tracker_config": True, "ground_truth": True}
    assert {e["role"]: e["path"] for e in record["inputs"] if e["role"] in shipped} == shipped
    html = (res / "report.html").read_text(encoding="utf-8")
    assert f"MISMATCH: the results were computed from a movie with sha256 {at_ingest['sha256']}" in html
    refused = replay(copy, "results/tiny/provenance.json", "--workdir", str(copy), "--dry-run")
    assert refused.returncode == 1, refused.stderr[-3000:]
    assert "the results were computed from other bytes than the movie file the record lists" in refused.stderr
    assert not (copy / "results-replay").exists()

    # another Cellpose model (the start-up check still finds one), another tracker configuration, another lineage
    import torch

    state = torch.load(copy / shipped["model"], map_location="cpu", weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name] + 1e-3
    model_stat = (copy / shipped["model"]).stat()
    torch.save(state, copy / shipped["model"])
    os.utime(copy / shipped["model"], ns=(model_stat.st_atime_ns, model_stat.st_mtime_ns))
    replace_keeping_mtime(copy / shipped["tracker_config"], (copy / shipped["tracker_config"]).read_bytes() + b"\n")
    lineage = copy / "results" / "simulated" / "tiny" / "01_GT" / "TRA" / "man_track.txt"
    replace_keeping_mtime(lineage, lineage.read_bytes() + b"\n")
    dry = run_snakemake(copy, "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-2000:]  # invisible to Snakemake
    (res / "provenance.json").unlink()
    proc = run_snakemake(copy)
    ran = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "rule record_provenance:" in ran and not any(
        f"rule {r}:" in ran for r in ("segment_cells", "track_cells", "evaluate_sample")), ran[-3000:]
    record = json.loads((res / "provenance.json").read_text())
    as_read = {e["role"]: e for e in record["as_read"]}
    assert {role: e["matches"] for role, e in as_read.items()} == {
        "movie": False, "model": False, "tracker_config": False, "ground_truth": False}
    assert as_read["ground_truth"]["differences"][0].startswith("TRA/man_track.txt: evaluate_sample read sha256")
    html = (res / "report.html").read_text(encoding="utf-8")
    for noun in ("model", "tracker config", "ground truth"):
        assert f"MISMATCH: the results were computed from a {noun} with sha256 {as_read[noun.replace(' ', '_')]['sha256']}" in html
    refused = replay(copy, "results/tiny/provenance.json", "--workdir", str(copy), "--dry-run")
    assert refused.returncode == 1, refused.stderr[-3000:]
    for role, path in [("ground_truth", "results/simulated/tiny/01_GT"), *((r, p) for r, p in shipped.items())]:
        assert (f"sample 'tiny': {role} {path}: the results were computed from other bytes than the "
                f"{role.replace('_', ' ')} file the record lists") in refused.stderr, role


def test_ctc_export_off_plans_no_ctc_outputs(tmp_path: Path) -> None:
    """export.ctc: false (issue #23 item 7): no job writes ctc/ or ctc_segments.tsv, and evaluate_sample reads the
    tracked masks and tracks instead (a dry run: the steps themselves are unit-tested)."""
    workdir = write_workdir(tmp_path, tiny_config(export={"ctc": False}), SAMPLES_TSV)
    proc = run_snakemake(workdir, "--dry-run")
    planned = proc.stdout + proc.stderr
    assert proc.returncode == 0, planned[-3000:]
    assert "rule export_tracks:" in planned and "ctc_segments.tsv" not in planned and "results/tiny/ctc," not in planned
    evaluate = planned[planned.index("rule evaluate_sample:"):]
    evaluate = evaluate[:evaluate.index("\n\n")]
    assert f"results/tiny/image.ome.zarr/labels/tracks/{OME_META}" in evaluate and "results/tiny/tracks.parquet" in evaluate


def test_export_bioimageio_plans_the_shipped_model_and_a_trained_one(tmp_path: Path) -> None:
    """results/bioimageio/{model}.zip (rule export_bioimageio, issue #24): {model} is a name under train: or a
    model shipped in resources/models/; the shipped one is packaged from its own folder, not trained (a dry run:
    the export itself is unit-tested in tests/unit/test_steps_train.py)."""
    config = tiny_config()
    config["train"] = {
        "tiny_model": {"datasets": [{"images": "results/simulated/tiny/movie.ome.tif", "labels": "results/simulated/tiny/01_GT"}]}
    }
    workdir = write_workdir(tmp_path, config, SAMPLES_TSV)
    proc = run_snakemake(workdir, "--dry-run", "results/bioimageio/cellpipe_nuclei.zip", "results/bioimageio/tiny_model.zip")
    planned = proc.stdout + proc.stderr
    assert proc.returncode == 0, planned[-3000:]
    blocks = re.findall(r"rule export_bioimageio:\n((?:[ \t]+.*\n)+)", planned)
    jobs = {re.search(r"output: (\S+)", block).group(1): block for block in blocks}
    assert set(jobs) == {"results/bioimageio/cellpipe_nuclei.zip", "results/bioimageio/tiny_model.zip"}, planned[-3000:]
    shipped = jobs["results/bioimageio/cellpipe_nuclei.zip"]
    assert f"{REPO}/resources/models/cellpipe_nuclei/weights.pth" in shipped and "training.json" in shipped
    assert "results/models/tiny_model/weights.pth" in jobs["results/bioimageio/tiny_model.zip"]
    assert "rule train_cellpose:" in planned and "results/models/cellpipe_nuclei" not in planned
    # a name that is neither trained nor shipped matches no rule
    proc = run_snakemake(workdir, "--dry-run", "results/bioimageio/no_such_model.zip")
    assert proc.returncode != 0 and "MissingRuleException" in proc.stdout + proc.stderr


def test_network_is_really_blocked_in_subprocesses() -> None:
    """The blocker the workflow test runs under refuses a real connection (so the test above can fail)."""
    code = "import socket; socket.create_connection(('198.51.100.7', 80), timeout=2)"
    proc = subprocess.run([sys.executable, "-c", code], env=snakemake_env(True), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "network access blocked" in proc.stderr


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["segment"].update({"metod": "x"}), "segment.metod: unknown key"),
        (lambda c: c["normalize"].update({"low_percentile": "low"}), "normalize.low_percentile"),
        (lambda c: c["segment"].update({"method": "cellpose", "cellpose": {"model": "no/such/model.pt"}}), "no/such/model.pt"),
        # the models would read "yes" as true; the JSON schema the workflow validates with refuses it
        (lambda c: c["normalize"].update({"clip": "yes"}),
         "cellpipe: config/config.yaml: normalize.clip: 'yes' is not of type 'boolean' (workflow/schemas/config.schema.json)"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path: Path, mutate, expected: str) -> None:
    config = tiny_config()
    mutate(config)
    workdir = write_workdir(tmp_path, config, SAMPLES_TSV)
    proc = run_snakemake(workdir, "--dry-run")
    assert proc.returncode != 0
    assert expected in proc.stderr + proc.stdout
    assert not (workdir / "results").exists()


def test_missing_movie_names_the_row(tmp_path: Path) -> None:
    sheet = SAMPLES_TSV + "mine\tdata/does_not_exist.tif\t\n"
    workdir = write_workdir(tmp_path, tiny_config(), sheet)
    proc = run_snakemake(workdir, "--dry-run")
    assert proc.returncode != 0
    assert "line 3 (sample 'mine'): movie not found: data/does_not_exist.tif" in proc.stderr + proc.stdout


def test_gpu_out_of_memory_is_retried_with_half_the_batch(tiny_run: Path, tmp_path: Path) -> None:
    """A segment_frames job whose GPU cannot hold the batch (simulated: at most 4 Cellpose tiles per
    pass, tests/site_hooks/simulated_gpu.py) fails with an error that names the movie and what to
    lower, and leaves no labels; with the workstation profile (retries: 1) its retry runs 4 tiles per
    pass instead of 8 and succeeds, with the masks of a run that never ran out of memory."""
    from cellpipe.io import omezarr

    config = tiny_config()
    config["segment"]["cellpose"]["batch_size"] = 8  # a 96x160 px frame is one tile: 8 frames per pass
    workdir = write_workdir(tmp_path, config, SAMPLES_TSV)
    target, labels = "results/tiny/segmentation.json", workdir / "results" / "tiny" / "image.ome.zarr" / "labels"

    def run(*args: str, failures: Path) -> subprocess.CompletedProcess[str]:
        env = {"CELLPIPE_SIMULATED_GPU_TILES": "4", "CELLPIPE_SIMULATED_GPU_LOG": str(failures)}
        return run_snakemake(workdir, *args, target, env=env)

    proc = run("--retries", "0", failures=tmp_path / "failures_without_retries.tsv")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "tiny/image.ome.zarr: segmentation ran out of memory on cpu with 8 tile(s)" in out
    assert "segment.cellpose.batch_size" in out
    assert not labels.exists() and not (workdir / target).exists()

    proc = run("--profile", str(REPO / "profiles" / "workstation"), failures=tmp_path / "failures.tsv")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "SegmentationOutOfMemory" in proc.stdout + proc.stderr  # the first attempt failed...
    assert [line.split("\t")[1] for line in (tmp_path / "failures.tsv").read_text().splitlines()] == ["8"]
    info = json.loads((workdir / target).read_text())
    assert info["batch_size"] == 4 and info["batch_divisor"] == 2  # ...the retry ran 4 tiles per pass
    reference = omezarr.open_ome_image(tiny_run / "results" / "tiny" / "image.ome.zarr" / "labels" / "cells").data
    np.testing.assert_array_equal(np.asarray(omezarr.open_ome_image(labels / "cells").data), np.asarray(reference))


def test_classical_method_runs_in_the_workflow_with_the_rows_diameter(tmp_path: Path) -> None:
    """segment.method classical, and a sample sheet row with its own diameter_um: segmentation.json's
    job_settings are the settings the job got, the row's 8 µm in place of the config's, without scatter."""
    config = tiny_config()
    config["simulate"]["tiny"].update({"n_frames": 3, "shape": [96, 96], "n_cells": 3})
    config["segment"].update(method="classical", diameter_um=11.5, scatter=1)
    sheet = SAMPLES_TSV.replace("\tground_truth\n", "\tground_truth\tdiameter_um\n").replace("01_GT\n", "01_GT\t8.0\n")
    workdir = write_workdir(tmp_path, config, sheet)
    proc = run_snakemake(workdir, "results/tiny/segmentation.json")
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads((workdir / "results" / "tiny" / "segmentation.json").read_text())
    assert info["method"] == "classical" and info["model_sha256"] is None
    job = info["job_settings"]
    assert job["diameter_um"] == 8.0 and job["diameter_px"] is None and "scatter" not in job
    assert job["method"] == "classical" and job["cellpose"]["model"] == ""  # no model file loaded
    assert info["diameter_px"] == pytest.approx(8.0 / TINY["pixel_size_um"])  # the row's diameter, in px


def test_the_workflow_trains_a_model_then_segments_with_it(tmp_path: Path) -> None:
    """train.<name> fine-tunes the shipped model on the simulated movie's ground truth (rule train_cellpose);
    segment.cellpose.model names the weights it writes, so one run simulates, trains and segments."""
    config = tiny_config()
    config["simulate"]["tiny"].update({"n_frames": 4, "shape": [128, 128], "n_cells": 6})
    config["train"] = {
        "tiny_model": {
            "datasets": [{"images": "results/simulated/tiny/movie.ome.tif", "labels": "results/simulated/tiny/01_GT"}],
            "init_model": "resources/models/cellpipe_nuclei/weights.pth",
            "n_epochs": 3, "samples_per_epoch": 4, "batch_size": 2, "tile_px": 64,
            "learning_rate": 0.0005, "warmup_epochs": 0, "validation_fraction": 0.25, "seed": 1,
        }
    }
    config["segment"]["cellpose"]["model"] = "results/models/tiny_model/weights.pth"
    workdir = write_workdir(tmp_path, config, SAMPLES_TSV)
    proc = run_snakemake(workdir, "results/tiny/segmentation.json", "results/bioimageio/tiny_model.zip")
    assert proc.returncode == 0, proc.stderr[-4000:]
    model_dir = workdir / "results" / "models" / "tiny_model"
    record = json.loads((model_dir / "training.json").read_text())
    info = json.loads((workdir / "results" / "tiny" / "segmentation.json").read_text())
    assert info["model_sha256"] == record["weights_sha256"]
    assert record["n_train_images"] == 3 and record["n_validation_images"] == 1
    assert record["settings"]["init_model"].endswith("resources/models/cellpipe_nuclei/weights.pth")
    shipped_sha = hashlib.sha256((REPO / "resources" / "models" / "cellpipe_nuclei" / "weights.pth").read_bytes()).hexdigest()
    assert record["init_model_sha256"] == shipped_sha
    assert record["validation"]["ap@0.5"] >= 0.8  # a fine-tuned shipped model still finds the nuclei
    card = (model_dir / "model_card.md").read_text()
    assert record["weights_sha256"] in card and "Only completely annotated frames" in card
    assert f"(sha256 `{shipped_sha}`)" in card
    curve = pd.read_csv(model_dir / "training_curve.tsv", sep="\t")
    assert curve["epoch"].tolist() == [1, 2, 3]
    assert (workdir / "results" / "benchmarks" / "train_cellpose" / "tiny_model.tsv").is_file()
    assert "epoch 3/3" in (workdir / "results" / "logs" / "train_cellpose" / "tiny_model.log").read_text()
    # the BioImage Model Zoo package passed bioimage.io's own model test (both weight formats
    # reproduce its test outputs) while sockets were blocked
    export_log = (workdir / "results" / "logs" / "export_bioimageio" / "tiny_model.log").read_text()
    assert "passed: Reproduce test outputs from test inputs (pytorch_state_dict)" in export_log
    assert "passed: Reproduce test outputs from test inputs (torchscript)" in export_log
    assert "failed" not in export_log
    import zipfile

    with zipfile.ZipFile(workdir / "results" / "bioimageio" / "tiny_model.zip") as package:
        names = set(package.namelist())
        rdf = yaml.safe_load(package.read("rdf.yaml"))
    assert {"rdf.yaml", "weights.pth", "model_card.md", "bioimageio_cpnet.py", "test_input.npy"} <= names
    assert rdf["name"] == "cellpipe tiny_model" and rdf["type"] == "model"
    assert [step["id"] for step in rdf["inputs"][0]["preprocessing"] if step["id"] != "ensure_dtype"] == ["scale_range"]
    assert rdf["weights"]["pytorch_state_dict"]["sha256"] == record["weights_sha256"]


def test_snakemake_lint_is_clean(repo: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--lint"], cwd=repo, env=snakemake_env(True), capture_output=True, text=True
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Lints for" not in out, out[-3000:]
