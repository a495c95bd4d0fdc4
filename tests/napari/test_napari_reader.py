"""cellpipe's napari reader (src/cellpipe/napari.yaml, cellpipe.napari_reader) in a real napari viewer.

The viewer runs on a real X server: Xvfb (Debian's ``xvfb``, which ``make setup`` installs), started
on a free display by the ``xvfb`` fixture of tests/conftest.py, with Mesa's software OpenGL.  The
results folder is written with cellpipe's own writers from a tiny synthetic movie whose cells and
tracks are known (tests/napari_results.py).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from napari_results import (
    FRAME_MIN,
    PIXEL_UM,
    RADIUS,
    TinyResults,
    assert_screenshot_shows_something,
    by_name,
    check_cells_fall_in_their_labels,
    check_tracks_fall_in_their_labels,
    write_tiny_results,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> TinyResults:
    return write_tiny_results(tmp_path_factory.mktemp("results") / "tiny")


def test_reader_does_not_import_napari() -> None:
    """Finding and using the reader imports neither napari nor Qt (the workflow's imports stay light)."""
    code = ("import sys, cellpipe.napari_reader as r; r.get_reader('.'); "
            "bad = [m for m in ('napari', 'PyQt5', 'qtpy', 'vispy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plugin_is_registered_for_folders(results: TinyResults) -> None:
    """npe2 finds cellpipe's manifest (entry point napari.manifest) and offers it for the folder, not for files."""
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    assert "cellpipe" in {m.name for m in pm.iter_manifests()}
    assert "cellpipe" in {r.plugin_name for r in pm.iter_compatible_readers([str(results.folder)])}
    csv = str(results.folder / "tracks_napari.csv")
    assert "cellpipe" not in {r.plugin_name for r in pm.iter_compatible_readers([csv])}
    from cellpipe.napari_reader import get_reader

    assert get_reader(str(results.folder)) is not None
    assert get_reader(str(results.folder.parent)) is None  # results/ itself is not a sample folder
    assert get_reader(str(results.folder / "image.ome.zarr")) is None  # left to OME-Zarr readers


def test_viewer_opens_results_folder(viewer, results: TinyResults) -> None:
    """Image, cells and tracks labels and the lineage Tracks layer, all in minutes and µm with the same
    units; track points fall inside their own track's label; the canvas shows something."""
    from napari.layers import Image, Labels, Points, Tracks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = viewer.open(str(results.folder), plugin="cellpipe")
    unit_warnings = [str(w.message) for w in caught if "unit" in str(w.message).lower()]
    assert not unit_warnings, unit_warnings
    named = by_name(layers)
    assert set(named) == {"tiny", "cells", "tracks", "tracks (lineage)", "cells (measurements)"}
    assert isinstance(named["cells (measurements)"], Points)
    assert isinstance(named["tiny"], Image)
    assert isinstance(named["cells"], Labels) and isinstance(named["tracks"], Labels)
    assert isinstance(named["tracks (lineage)"], Tracks)

    for layer in layers:
        np.testing.assert_allclose(layer.scale, [FRAME_MIN, PIXEL_UM, PIXEL_UM])
        assert [str(u) for u in layer.units] == ["minute", "micrometer", "micrometer"], layer.name
        assert list(layer.axis_labels) == ["t", "y", "x"], layer.name
    assert [str(u) for u in viewer.dims.axis_labels] == ["t", "y", "x"]

    # lazy: the movie and labels stay dask arrays over zarr
    assert type(named["tiny"].data).__module__.startswith("dask")
    assert type(named["tracks"].data).__module__.startswith("dask")
    assert named["tiny"].contrast_limits == [100.0, 1600.0]  # normalization.tsv

    tracks = named["tracks (lineage)"]
    assert tracks.graph == {4: [3], 5: [3]}
    np.testing.assert_allclose(tracks.features["time_min"], tracks.data[:, 1] * FRAME_MIN)
    np.testing.assert_allclose(tracks.features["x_um"], tracks.data[:, 3] * PIXEL_UM)
    assert set(tracks.features.columns) >= {"track_id", "frame", "duration_min", "n_frames"}
    # the label layer's features: one row per track id
    feats = named["tracks"].features
    assert list(feats["index"]) == sorted(results.tracks["track_id"].unique())

    # track 1 at frame 5: x = 32 px -> world (12.5 min, 9.1 µm, 20.8 µm)
    row = np.asarray(tracks.data)[(tracks.data[:, 0] == 1) & (tracks.data[:, 1] == 5)][0]
    np.testing.assert_allclose(tracks.data_to_world(row[1:]), [5 * FRAME_MIN, 14 * PIXEL_UM, 32 * PIXEL_UM])
    n = check_tracks_fall_in_their_labels(tracks, named["tracks"], frames=[0, 2, 3, 5])
    assert n == 3 + 3 + 4 + 4
    assert check_cells_fall_in_their_labels(named["cells (measurements)"], named["cells"]) == len(results.tracks)

    # every frame is in the slider, at its time in minutes
    viewer.dims.set_point(0, 4 * FRAME_MIN)
    assert viewer.dims.current_step[0] == 4
    assert named["tracks"].get_value((4 * FRAME_MIN, 14 * PIXEL_UM, 28 * PIXEL_UM), world=True) == 1
    assert named["tracks"].get_value((4 * FRAME_MIN, 28 * PIXEL_UM, 58 * PIXEL_UM), world=True) == 4
    assert_screenshot_shows_something(viewer)


def test_cells_measurements_are_a_points_layer_on_their_own_cells(results: TinyResults) -> None:
    """One point per cell per frame at its centroid, in minutes and µm, with its row of cells.parquet as
    features: area in µm², mean intensity of the channel, the cell's track id (0: in no track)."""
    from napari.layers import Layer, Points

    from cellpipe.napari_reader import read_results

    layers = by_name(Layer.create(*data) for data in read_results(results.folder))
    points = layers["cells (measurements)"]
    assert isinstance(points, Points)
    np.testing.assert_allclose(points.scale, [FRAME_MIN, PIXEL_UM, PIXEL_UM])
    assert [str(u) for u in points.units] == ["minute", "micrometer", "micrometer"]
    assert list(points.axis_labels) == ["t", "y", "x"]

    feats = points.features
    assert len(feats) == len(points.data) == len(results.tracks)  # one per object, as the tracks table
    assert {"frame", "time_min", "label", "track_id", "area_um2", "perimeter_um", "mean_intensity_nuclei",
            "integrated_intensity_nuclei"} <= set(feats.columns)
    assert feats["track_id"].dtype == np.int64
    # the movie is 1000 + 100 x track id inside each disk (radius 5 px: 81 px), + 100 everywhere; at frame 3
    # the daughters' disks overlap and track 5's covers part of track 4's
    yy, xx = np.mgrid[-RADIUS : RADIUS + 1, -RADIUS : RADIUS + 1]
    disk_px = int((yy**2 + xx**2 <= RADIUS**2).sum())
    cells = np.asarray(layers["cells"].data)
    expected = results.tracks.set_index(["frame", "track_id"])
    for row in feats.itertuples(index=False):
        assert row.time_min == row.frame * FRAME_MIN
        ys, xs = np.nonzero(cells[row.frame] == row.label)
        assert row.area_um2 == pytest.approx(len(ys) * PIXEL_UM**2)
        np.testing.assert_allclose([row.centroid_y_um, row.centroid_x_um], [ys.mean() * PIXEL_UM, xs.mean() * PIXEL_UM])
        if row.track_id == 0:  # the one object the synthetic tracks table leaves out
            assert (row.frame, row.mean_intensity_nuclei) == (5, 1100 + 100 * 2)
            continue
        assert row.mean_intensity_nuclei == 1100 + 100 * row.track_id
        if (row.frame, row.track_id) != (3, 4):
            assert len(ys) == disk_px
            y, x = expected.loc[(row.frame, row.track_id), ["y_px", "x_px"]]
            np.testing.assert_allclose([row.centroid_y_um, row.centroid_x_um], [y * PIXEL_UM, x * PIXEL_UM])
    assert (feats["track_id"] == 0).sum() == 1
    # track 1 at frame 5: centre (14, 32) px -> (12.5 min, 9.1 µm, 20.8 µm)
    i = int(np.flatnonzero((feats["track_id"] == 1) & (feats["frame"] == 5))[0])
    np.testing.assert_allclose(points.data_to_world(points.data[i]), [5 * FRAME_MIN, 14 * PIXEL_UM, 32 * PIXEL_UM])
    assert check_cells_fall_in_their_labels(points, layers["cells"]) == len(results.tracks)


def test_napari_ome_zarr_opens_the_image_store(viewer, results: TinyResults) -> None:
    """napari-ome-zarr opens image.ome.zarr with its label images, in the same units.

    napari-ome-zarr 0.10.0 raises on an image without omero channel colours and windows
    (``omero.channels[].color``, ``.window``); cellpipe's writer gives both.
    """
    from cellpipe import layout

    # the store as the workflow writes it by default (NGFF 0.5: zarr.json), which napari-ome-zarr 0.10.0 reads
    assert (results.folder / layout.ome_zarr("image.ome.zarr")).is_file()
    layers = viewer.open(str(results.folder / "image.ome.zarr"), plugin="napari-ome-zarr")
    kinds = sorted(type(layer).__name__ for layer in layers)
    assert kinds == ["Image", "Labels", "Labels"], kinds
    for layer in layers:
        np.testing.assert_allclose(layer.scale[-3:], [FRAME_MIN, PIXEL_UM, PIXEL_UM])
        assert [str(u) for u in layer.units][-3:] == ["minute", "micrometer", "micrometer"], layer.name


def _add_level(store, factor: int) -> None:
    """Append a level downsampled by ``factor`` in y and x to an NGFF image's multiscales (as a pyramid has)."""
    import json

    import zarr

    attrs = json.loads((store / ".zattrs").read_text())
    ms = attrs["multiscales"][0]
    base = zarr.open_array(str(store / ms["datasets"][0]["path"]), mode="r")
    scale = list(ms["datasets"][0]["coordinateTransformations"][0]["scale"])
    scale[-2:] = [s * factor for s in scale[-2:]]
    level = np.asarray(base)[..., ::factor, ::factor]
    path = f"s{len(ms['datasets'])}"
    zarr.create_array(str(store / path), data=level, chunks=(1,) * (level.ndim - 2) + level.shape[-2:], zarr_format=2)
    ms["datasets"].append({"path": path, "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    (store / ".zattrs").write_text(json.dumps(attrs))


def test_pyramid_and_channels(tmp_path) -> None:
    """Several levels give multiscale layers (level 0's scale); several channels give one layer each,
    named after the omero labels, coloured with the omero colours where given.  Written as NGFF 0.4, whose
    ``.zattrs`` the test edits by hand (the other tests read the default version)."""
    import json

    from napari.layers import Layer

    from cellpipe.io import omezarr
    from cellpipe.napari_reader import read_results

    folder = tmp_path / "two"
    movie = np.arange(3 * 2 * 16 * 16, dtype=np.uint16).reshape(3, 2, 16, 16)
    image = folder / "image.ome.zarr"
    omezarr.write_ome_image(image, movie, "tcyx", 0.5, 4.0, channel_names=["dna", "actin"], name="two", version="0.4")
    omezarr.write_ome_image(image / "labels" / "cells", (movie[:, 0] > 300).astype(np.uint16), "tyx", 0.5, 4.0,
                            name="cells", label_of=image)
    omezarr.write_labels_group(image, ["cells"])
    _add_level(image, 2)
    _add_level(image / "labels" / "cells", 2)
    attrs = json.loads((image / ".zattrs").read_text())
    attrs["omero"]["channels"][0]["color"] = "FF8000"
    attrs["omero"]["channels"][1].pop("color", None)  # no colour: napari's default for a second of two channels
    (image / ".zattrs").write_text(json.dumps(attrs))
    (folder / "normalization.tsv").write_text(  # normalization of channel 0 only
        "channel\tframe\tlow_percentile\thigh_percentile\tlow_value\thigh_value\n0\t-1\t1.0\t99.8\t10.0\t900.0\n")

    layers = by_name(Layer.create(*data) for data in read_results(folder))
    assert sorted(layers) == ["cells", "two actin", "two dna"]
    for layer in layers.values():
        assert layer.multiscale and len(layer.data) == 2, layer.name
        np.testing.assert_allclose(layer.scale, [4.0, 0.5, 0.5])
        assert [str(u) for u in layer.units] == ["minute", "micrometer", "micrometer"]
    np.testing.assert_array_equal(np.asarray(layers["two actin"].data[0][2]), movie[2, 1])
    assert layers["two actin"].data[1].shape == (3, 8, 8)
    np.testing.assert_allclose(layers["two dna"].colormap.colors[-1], [1, 128 / 255, 0, 1])
    assert layers["two actin"].colormap.name == "green"
    # the first channel covers what is below it, the others add to it
    assert (layers["two dna"].blending, layers["two actin"].blending) == ("translucent_no_depth", "additive")
    assert layers["two dna"].contrast_limits == [10.0, 900.0]
    window = attrs["omero"]["channels"][1]["window"]  # the writer's display window, where normalization has none
    assert layers["two actin"].contrast_limits == [window["start"], window["end"]]


def test_the_writers_pyramid_opens_as_multiscale_layers(tmp_path) -> None:
    """A frame longer than the pyramid threshold gets levels from cellpipe's writer; image and labels open
    as multiscale layers with level 0's scale, lazily."""
    from napari.layers import Layer

    from cellpipe.io import omezarr
    from cellpipe.napari_reader import read_results

    folder = tmp_path / "long"
    ny = omezarr.PYRAMID_MAX_SIZE + 76
    movie = np.zeros((2, 1, ny, 40), np.uint16)
    movie[:, 0, 500:540, 10:30] = 1000
    image = folder / "image.ome.zarr"
    omezarr.write_ome_image(image, movie, "tcyx", 0.3, 10.0, channel_names=["dna"], name="long")
    omezarr.write_ome_image(image / "labels" / "cells", (movie[:, 0] > 0).astype(np.uint16), "tyx", 0.3, 10.0,
                            name="cells", label_of=image)
    omezarr.write_labels_group(image, ["cells"])

    layers = by_name(Layer.create(*data) for data in read_results(folder))
    assert sorted(layers) == ["cells", "long"]
    for layer in layers.values():
        assert layer.multiscale, layer.name
        assert [level.shape[-2:] for level in layer.data] == [tuple(s) for s in omezarr.pyramid_shapes((ny, 40))]
        assert type(layer.data[0]).__module__.startswith("dask")
        np.testing.assert_allclose(layer.scale, [10.0, 0.3, 0.3])
    assert int(np.asarray(layers["cells"].data[0][1, 520, 20])) == 1
