"""z-stack movies in the 2-D pipeline (issue #26) on tiny real files written by tifffile: a stack read one frame and
channel at a time, the ingest memory request; test_steps_ingest.py ingests them with each ingest.z_projection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.io.movies import open_movie
from cellpipe.preflight import MovieSize
from cellpipe.resources import ingest_mem_mb

T, C, Z, Y, X = 3, 2, 4, 12, 16


def _tczyx(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, size=(T, C, Z, Y, X), dtype=np.uint16)


def _write(path: Path, layout: str, movie: np.ndarray) -> Path:
    """``movie`` (T, C, Z, Y, X) written as ``layout``: OME-TIFF TZYX (channel 0), OME-TIFF TCZYX, ImageJ TZCYX;
    z-planes 1.5 µm apart (OME ``PhysicalSizeZ`` in nm, ImageJ ``spacing``)."""
    meta = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0, "TimeIncrementUnit": "min",
            "PhysicalSizeZ": 1500.0, "PhysicalSizeZUnit": "nm"}
    if layout == "ome-tzyx":
        tifffile.imwrite(path, movie[:, 0], ome=True, metadata={"axes": "TZYX", **meta})
    elif layout == "ome-tczyx":
        tifffile.imwrite(path, movie, ome=True, metadata={"axes": "TCZYX", **meta})
    elif layout == "imagej-tzcyx":
        tifffile.imwrite(path, movie.transpose(0, 2, 1, 3, 4), imagej=True, resolution=(2.0, 2.0),
                         metadata={"axes": "TZCYX", "unit": "um", "finterval": 120.0, "spacing": 1.5})
    else:
        raise AssertionError(layout)
    return path


def test_a_stack_is_read_one_frame_and_channel_at_a_time(tmp_path: Path) -> None:
    movie = _tczyx(1)
    path = _write(tmp_path / "m.ome.tif", "ome-tczyx", movie)
    with open_movie(path, allow_z=True) as raw:
        assert raw.data.z_planes == Z and raw.data.shape == (T, C, Y, X)
        np.testing.assert_array_equal(raw.data.stack(2, 1), movie[2, 1])
        with pytest.raises(ValueError, match="z-stack at a time"):
            raw.data[0]


def test_the_ingest_memory_request_counts_the_z_planes_read_at_once() -> None:
    flat = MovieSize((100, 2, 2048, 2048), "uint16", 0.5)
    deep = MovieSize((100, 2, 2048, 2048), "uint16", 0.5, z_planes=60)
    assert deep.stack_megabytes == pytest.approx(60 * 2048 * 2048 * 2 / 1e6)
    assert ingest_mem_mb(deep) >= ingest_mem_mb(flat) + 3 * deep.stack_megabytes - 100
    assert ingest_mem_mb(MovieSize((1000, 2, 2048, 2048), "uint16", 0.5, z_planes=60)) == ingest_mem_mb(deep)  # flat in T
