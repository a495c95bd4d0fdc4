"""Tests of the export_tracks rule's entry point (cellpipe.steps.export) writing tracks.trackmate.xml, read back
with lxml; the tiny tracks and the XML helpers are those of test_io_trackmate.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_io_trackmate import HEIGHT, INTERVAL_MIN, N_FRAMES, PIXEL_UM, WIDTH, spots_by_key, tiny_tables

from cellpipe import layout
from cellpipe.io import omezarr, tables
from cellpipe.steps.export import export_tracks_step


def test_export_step_writes_the_trackmate_file_naming_the_ome_zarr_image(tmp_path: Path) -> None:
    """In the workflow's layout (labels/tracks inside image.ome.zarr) the file sits beside the image and names it;
    the spots match tracks.parquet in µm and minutes from the image's own calibration."""
    tracks, cells = tiny_tables()
    masks = np.zeros((N_FRAMES, HEIGHT, WIDTH), dtype=np.uint32)
    for row in tracks.itertuples():
        y, x = int(row.y_px), int(row.x_px)
        masks[row.frame, y - 1:y + 2, x - 1:x + 2] = row.track_id
    sample = tmp_path / "results" / "s1"
    image = sample / "image.ome.zarr"
    omezarr.write_ome_image(image, masks[:, np.newaxis].astype(np.uint16), "tcyx", PIXEL_UM, INTERVAL_MIN)
    omezarr.write_ome_image(image / "labels" / "tracks", masks, "tyx", PIXEL_UM, INTERVAL_MIN, name="tracks")
    tables.write_parquet(tracks, sample / "tracks.parquet")
    tables.write_parquet(cells, sample / "cells.parquet")
    export_tracks_step(layout.ome_zarr(str(image / "labels" / "tracks")), sample / "tracks.parquet", None,
                       sample / "tracks_napari.csv", sample / "tracks_napari_graph.json", None,
                       cells=sample / "cells.parquet", trackmate_xml=sample / "tracks.trackmate.xml")
    from lxml import etree

    root = etree.parse(str(sample / "tracks.trackmate.xml")).getroot()
    data = root.find("Settings/ImageData")
    assert (data.get("filename"), data.get("folder"), data.get("width"), data.get("height"), data.get("nframes")) == (
        "image.ome.zarr", "", str(WIDTH), str(HEIGHT), str(N_FRAMES))
    assert Path(layout.ome_zarr(str(sample / data.get("filename")))).is_file()
    spots = spots_by_key(root)
    assert len(spots) == len(tracks)
    for row in tracks.itertuples():
        assert float(spots[row.track_id, row.frame]["POSITION_X"]) == row.x_px * PIXEL_UM
    assert not (sample / "tracks.geff").exists()  # each export is asked for on its own
    assert [p.name for p in sample.iterdir() if ".tmp-" in p.name] == []
