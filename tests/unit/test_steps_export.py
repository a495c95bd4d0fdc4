"""Tests of the export_tracks rule's entry point (cellpipe.steps.export): the CTC folder, napari tables, CTC segments
and geff store written from a track-relabelled OME-Zarr movie and its tracks table.  The tiny movies are
test_export.py's; test_steps_export_trackmate.py checks the TrackMate file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_export import INTERVAL_MIN, PIXEL_UM, SHAPE, make_cells, make_tracked, read_only_dense_movie, table

from cellpipe.export import NAPARI_COLUMNS, SEGMENT_COLUMNS, to_ctc, to_napari_tracks
from cellpipe.io import omezarr, tables
from cellpipe.io.ctc import TRACK_COLUMNS, check_ctc_tracks, read_ctc_results
from cellpipe.steps.export import export_tracks_step


@pytest.fixture(scope="module")
def dense_40k() -> tuple[np.ndarray, pd.DataFrame]:
    """test_export's read_only_dense_movie(40_000): more than 65535 CTC segments."""
    return read_only_dense_movie(40_000)


def test_export_step_writes_a_dense_movie_with_uint32_masks(tmp_path: Path, dense_40k: tuple[np.ndarray, pd.DataFrame]) -> None:
    masks, tracks = dense_40k
    omezarr.write_ome_image(tmp_path / "tracks.ome.zarr", masks, "tyx", 0.5, 5.0, name="tracks")
    tables.write_parquet(tracks, tmp_path / "tracks.parquet")
    out = tmp_path / "out"
    export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", out / "ctc",
                       out / "tracks_napari.csv", out / "tracks_napari_graph.json", out / "ctc_segments.tsv")
    labels, ctc = read_ctc_results(out / "ctc")
    assert labels.dtype == np.uint32 and len(ctc) == 80_000 and int(labels.max()) == 80_000
    assert len(tables.read_tsv(out / "ctc_segments.tsv")) == 80_000
    assert len(pd.read_csv(out / "tracks_napari.csv")) == 80_000


def test_export_step_without_the_ctc_export_writes_the_napari_tables_only(tmp_path: Path) -> None:
    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1)}, 6)
    omezarr.write_ome_image(tmp_path / "tracks.ome.zarr", masks, "tyx", 0.5, 5.0, name="tracks")
    tables.write_parquet(tracks, tmp_path / "tracks.parquet")
    out = tmp_path / "out"
    export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", None,
                       out / "tracks_napari.csv", out / "tracks_napari_graph.json", None, settings={"ctc": False})
    assert sorted(p.name for p in out.iterdir()) == ["tracks_napari.csv", "tracks_napari_graph.json"]
    with pytest.raises(ValueError, match="together"):
        export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", out / "ctc",
                           out / "a.csv", out / "b.json", None)
    # the job's settings (the export section) and its outputs agree, or nothing is written
    with pytest.raises(ValueError, match="export.ctc is true, but a CTC folder is not given"):
        export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", None,
                           out / "c.csv", out / "d.json", None, settings={"ctc": True})
    with pytest.raises(ValueError, match="export.ctc is false, but a CTC folder is given"):
        export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", out / "ctc",
                           out / "c.csv", out / "d.json", out / "s.tsv", settings={"ctc": False})
    assert not (out / "c.csv").exists() and not (out / "ctc").exists()


def test_export_step_writes_every_output(tmp_path: Path) -> None:
    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1)}, 6)
    omezarr.write_ome_image(tmp_path / "tracks.ome.zarr", masks, "tyx", 0.5, 5.0, name="tracks")
    tables.write_parquet(tracks, tmp_path / "tracks.parquet")
    out = tmp_path / "out"
    export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", out / "ctc",
                       out / "tracks_napari.csv", out / "tracks_napari_graph.json", out / "ctc_segments.tsv")
    labels, ctc = read_ctc_results(out / "ctc")
    assert check_ctc_tracks(labels, ctc) == []
    assert table(ctc) == [(1, 0, 1, 0), (2, 3, 3, 1), (3, 4, 5, 2), (4, 4, 5, 2)]
    segments = tables.read_tsv(out / "ctc_segments.tsv")
    assert list(segments.columns) == list(SEGMENT_COLUMNS)
    assert segments["track_id"].tolist() == [1, 1, 2, 3]
    csv = pd.read_csv(out / "tracks_napari.csv")
    assert list(csv.columns) == ["track_id", "t", "y", "x", "t_min", "y_um", "x_um"] and len(csv) == len(tracks)
    graph = {int(k): v for k, v in json.loads((out / "tracks_napari_graph.json").read_text()).items()}
    assert graph == {2: [1], 3: [1]}
    assert [p.name for p in out.iterdir() if ".tmp-" in p.name] == []


def test_an_empty_movie_gives_an_empty_but_valid_export(tmp_path: Path) -> None:
    masks, tracks = make_tracked({}, n_frames=3)
    assert tracks.empty
    labels, ctc = to_ctc(masks, tracks)
    assert labels.shape == (3, *SHAPE) and labels.dtype == np.uint16 and not labels.any()
    assert ctc.empty and list(ctc.columns) == list(TRACK_COLUMNS)
    data, graph = to_napari_tracks(tracks, pixel_size_um=0.5, frame_interval_min=5.0)
    assert data.empty and list(data.columns) == list(NAPARI_COLUMNS) and graph == {}

    omezarr.write_ome_image(tmp_path / "tracks.ome.zarr", masks, "tyx", 0.5, 5.0, name="tracks")
    tables.write_parquet(tracks, tmp_path / "tracks.parquet")
    out = tmp_path / "out"
    export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", out / "ctc",
                       out / "tracks_napari.csv", out / "tracks_napari_graph.json", out / "ctc_segments.tsv",
                       geff_store=out / "tracks.geff")
    from geff.core_io import read_to_memory
    assert read_to_memory(str(out / "tracks.geff"))["node_ids"].size == 0  # validated on reading
    assert sorted(p.name for p in (out / "ctc").iterdir()) == ["mask000.tif", "mask001.tif", "mask002.tif",
                                                              "res_track.txt"]
    assert (out / "ctc" / "res_track.txt").read_text() == ""
    back, back_tracks = read_ctc_results(out / "ctc")
    assert back.shape == (3, *SHAPE) and not back.any() and back_tracks.empty
    assert (out / "tracks_napari.csv").read_text() == "track_id,t,y,x,t_min,y_um,x_um\n"
    assert json.loads((out / "tracks_napari_graph.json").read_text()) == {}
    assert (out / "ctc_segments.tsv").read_text() == "\t".join(SEGMENT_COLUMNS) + "\n"


def test_export_step_writes_the_geff_and_calibrated_ctc_masks(tmp_path: Path) -> None:
    import geff

    from cellpipe.io.ctc import read_ctc_pixel_size

    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1)}, 6)
    omezarr.write_ome_image(tmp_path / "tracks.ome.zarr", masks, "tyx", PIXEL_UM, INTERVAL_MIN, name="tracks")
    tables.write_parquet(tracks, tmp_path / "tracks.parquet")
    tables.write_parquet(make_cells(tracks), tmp_path / "cells.parquet")
    out = tmp_path / "out"
    export_tracks_step(tmp_path / "tracks.ome.zarr", tmp_path / "tracks.parquet", out / "ctc",
                       out / "tracks_napari.csv", out / "tracks_napari_graph.json", out / "ctc_segments.tsv",
                       cells=tmp_path / "cells.parquet", geff_store=out / "tracks.geff")
    geff.validate_structure(str(out / "tracks.geff"))
    assert read_ctc_pixel_size(out / "ctc" / "mask000.tif") == pytest.approx(PIXEL_UM, rel=1e-6)
    csv = pd.read_csv(out / "tracks_napari.csv")
    np.testing.assert_allclose(csv["y_um"], csv["y"] * 0.65)
    np.testing.assert_allclose(csv["t_min"], csv["t"] * 5.0)
    assert [p.name for p in out.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_export_step_names_the_image_and_its_label_images_in_the_geff(tmp_path: Path, version: str) -> None:
    """With labels/tracks inside an OME-Zarr image (the workflow's layout), the geff's related objects lead
    from the geff store to the image and to both label images, with the node property each one's pixels hold;
    the geff is in the Zarr format of that image's NGFF version (v2 for 0.4, v3 for 0.5) and `geff validate`
    passes."""
    import subprocess
    import sys

    import zarr
    from geff.core_io import read_to_memory

    from cellpipe.layout import OME_ZARR_METADATA

    meta = OME_ZARR_METADATA[version]
    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1)}, 6)
    sample = tmp_path / "results" / "s1"
    image = sample / "image.ome.zarr"
    omezarr.write_ome_image(image / meta, masks[:, np.newaxis].astype(np.uint16), "tcyx", PIXEL_UM, INTERVAL_MIN)
    omezarr.write_ome_image(image / "labels" / "tracks" / meta, masks, "tyx", PIXEL_UM, INTERVAL_MIN, name="tracks")
    omezarr.write_ome_image(image / "labels" / "cells" / meta, masks, "tyx", PIXEL_UM, INTERVAL_MIN, name="cells")
    tables.write_parquet(tracks, sample / "tracks.parquet")
    export_tracks_step(image / "labels" / "tracks" / meta, sample / "tracks.parquet", None,
                       sample / "tracks_napari.csv", sample / "tracks_napari_graph.json", None,
                       geff_store=sample / "tracks.geff")
    store = sample / "tracks.geff"
    assert zarr.open_group(str(store), mode="r").metadata.zarr_format == omezarr.ZARR_FORMATS[version]
    assert (store / "zarr.json").is_file() == (version == "0.5") and (store / ".zattrs").is_file() == (version == "0.4")
    proc = subprocess.run([str(Path(sys.executable).parent / "geff"), "validate", str(store)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    related = read_to_memory(str(sample / "tracks.geff"))["metadata"].related_objects
    assert [(r.type, r.path, r.node_prop) for r in related] == [
        ("image", "../image.ome.zarr", None),
        ("labels", "../image.ome.zarr/labels/tracks", "track_id"),
        ("labels", "../image.ome.zarr/labels/cells", "label"),
    ]
    for r in related:
        assert (sample / "tracks.geff" / r.path / meta).is_file()
