"""Tests of the track_cells rule's entry point (cellpipe.steps.track): the tracks label image's properties and the run's record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_track import CONFIG_PATH, INTERVAL_MIN, N_LINE_FRAMES, OME_META, PIXEL_UM, division_scene, draw, lines_scene

from cellpipe.config import TrackSettings
from cellpipe.track import track_cells


@pytest.fixture(scope="module")
def config() -> dict:
    """The shipped btrack configuration (resources/tracker/cellpipe_tracker.json)."""
    return json.loads(CONFIG_PATH.read_text())


@pytest.fixture(scope="module")
def lines_movie() -> np.ndarray:
    """test_track's label movie of objects moving along lines (frames, y px, x px)."""
    return draw(N_LINE_FRAMES, (128, 140), lines_scene)


def test_track_label_properties_one_entry_per_track(config: dict) -> None:
    """What the tracks label image's ``image-label`` properties say per track id (issue #24): parent,
    root, generation and frame span, as tracks.parquet has them."""
    from cellpipe.steps.track import track_label_properties

    res = track_cells(draw(10, (128, 128), division_scene), TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    props = track_label_properties(res.tracks)
    assert props == [
        {"label-value": 1, "parent": 0, "root": 1, "generation": 0, "first_frame": 0, "last_frame": 4, "n_frames": 5},
        {"label-value": 2, "parent": 1, "root": 1, "generation": 1, "first_frame": 5, "last_frame": 9, "n_frames": 5},
        {"label-value": 3, "parent": 1, "root": 1, "generation": 1, "first_frame": 5, "last_frame": 9, "n_frames": 5},
    ]
    assert track_label_properties(res.tracks.iloc[:0]) == []


def test_track_step_records_the_checksum_of_the_tracker_configuration_it_parsed(tmp_path: Path, lines_movie: np.ndarray) -> None:
    """tracking.json holds the sha256 of the tracker configuration's bytes as track_cells parsed them, which
    provenance compares with the file later (one replaced since, its mtime restored, reruns nothing)."""
    import hashlib

    from cellpipe.io import omezarr
    from cellpipe.steps.track import track_cells_step

    image, labels = tmp_path / "image.ome.zarr" / OME_META, tmp_path / "image.ome.zarr" / "labels" / "cells" / OME_META
    omezarr.write_ome_image(image, (lines_movie > 0).astype(np.uint16)[:, np.newaxis], "tcyx", PIXEL_UM, INTERVAL_MIN)
    omezarr.write_ome_image(labels, lines_movie, "tyx", PIXEL_UM, INTERVAL_MIN)
    tracker = tmp_path / "tracker.json"
    data = CONFIG_PATH.read_bytes() + b"\n"  # the shipped configuration, other bytes
    tracker.write_bytes(data)
    track_cells_step(labels, image, tracker, {}, tmp_path / "tracks.parquet", tmp_path / "lineage.parquet",
                     tmp_path / "image.ome.zarr" / "labels" / "tracks" / OME_META, info=tmp_path / "tracking.json")
    info = json.loads((tmp_path / "tracking.json").read_text())
    assert info["inputs_read"] == {"tracker_config": {"type": "file", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    assert info["n_tracks"] == 3
