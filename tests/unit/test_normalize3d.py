"""Percentile normalization of 3-D movies (issue #27): (T, C, Z, Y, X), per movie or per stack, one stack in memory."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cellpipe.config import NormalizeSettings
from cellpipe.io import omezarr
from cellpipe.normalize import MOVIE_WIDE, percentile_rows, sample_grid
from cellpipe.steps.normalize import normalize_movie_step

T, C, Z, Y, X = 3, 2, 4, 10, 12


def _movie(seed: int = 0) -> np.ndarray:
    """Channel 1 ten times as bright as channel 0, and brighter with each frame, so that per-movie and per-stack
    percentiles differ."""
    rng = np.random.default_rng(seed)
    movie = rng.integers(0, 1000, size=(T, C, Z, Y, X)).astype(np.uint16)
    movie[:, 1] *= 10
    movie += (np.arange(T) * 500).astype(np.uint16)[:, None, None, None, None]
    return movie


class _Reads:
    """A movie that records the largest block (voxels) any read returned."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.largest = data, data.shape, data.dtype, 0

    def __getitem__(self, key: object) -> np.ndarray:
        block = self.data[key]
        self.largest = max(self.largest, int(np.size(block)))
        return block


def test_per_movie_percentiles_are_those_of_every_voxel_of_the_channel() -> None:
    movie = _movie()
    reads = _Reads(movie)
    rows = percentile_rows(reads, NormalizeSettings(low_percentile=2, high_percentile=98))
    assert [(r["channel"], r["frame"]) for r in rows] == [(0, MOVIE_WIDE), (1, MOVIE_WIDE)]
    for c, row in enumerate(rows):
        low, high = np.percentile(movie[:, c], (2, 98))
        assert (row["low_value"], row["high_value"]) == pytest.approx((low, high))
    assert reads.largest == Z * Y * X  # one stack at a time


def test_per_movie_percentiles_of_a_large_movie_sample_the_grid_over_its_planes() -> None:
    movie = _movie(1)
    settings = NormalizeSettings(max_sample_pixels=100)
    rows = percentile_rows(movie, settings)
    grid = sample_grid(T * Z, Y, X, 100)
    for c, row in enumerate(rows):
        values = np.concatenate([movie[p // Z, c, p % Z, y0::s, x0::s].ravel() for p, y0, x0, s in grid])
        assert values.size <= 100
        assert (row["low_value"], row["high_value"]) == pytest.approx(tuple(np.percentile(values, (1, 99.8))))


def test_per_stack_percentiles_and_the_normalized_store(tmp_path: Path) -> None:
    movie = _movie(2)
    image = tmp_path / "img.ome.zarr"
    omezarr.write_ome_image(image, movie, "tczyx", 0.5, 2.0, pixel_size_z_um=2.0)
    out, table = tmp_path / "normalized.zarr", tmp_path / "percentiles.tsv"
    normalize_movie_step(image, {"mode": "frame"}, out, table)
    normalized = omezarr.open_zarr_array(out)
    assert normalized.shape == (T, C, Z, Y, X) and normalized.dtype == np.float32
    assert normalized.chunks == (1, 1, Z, Y, X)
    for t in range(T):
        for c in range(C):
            low, high = np.percentile(movie[t, c], (1, 99.8))
            expected = (movie[t, c].astype(np.float64) - low) / (high - low)
            np.testing.assert_allclose(normalized[t, c], expected, rtol=1e-6, atol=1e-6)
    with table.open() as handle:
        recorded = list(csv.DictReader(handle, delimiter="\t"))
    assert [(int(r["frame"]), int(r["channel"])) for r in recorded] == [(t, c) for t in range(T) for c in range(C)]
    assert float(recorded[3]["high_value"]) == pytest.approx(np.percentile(movie[1, 1], 99.8))


def test_per_movie_normalization_keeps_frames_comparable(tmp_path: Path) -> None:
    movie = _movie(3)
    image = tmp_path / "img.ome.zarr"
    omezarr.write_ome_image(image, movie, "tczyx", 0.5, 2.0, pixel_size_z_um=2.0)
    out = tmp_path / "normalized.zarr"
    normalize_movie_step(image, {"mode": "movie", "clip": False}, out, tmp_path / "p.tsv")
    normalized = omezarr.open_zarr_array(out)[:]
    for c in range(C):
        low, high = np.percentile(movie[:, c], (1, 99.8))
        np.testing.assert_allclose(normalized[:, c], (movie[:, c] - low) / (high - low), rtol=1e-6, atol=1e-6)
    # brighter frames stay brighter after a per-movie normalization
    assert normalized[2, 0].mean() > normalized[0, 0].mean() + 0.3


def test_the_memory_request_of_a_3d_normalize_counts_one_stack() -> None:
    from cellpipe.preflight import MovieSize
    from cellpipe.resources import normalize_mem_mb

    deep = MovieSize((100, 2, 1024, 1024), "uint16", 0.5, z_planes=64)
    shallow = MovieSize((100, 2, 1024, 1024), "uint16", 0.5, z_planes=8)
    assert normalize_mem_mb(deep, volumes=True) > normalize_mem_mb(shallow, volumes=True)
    assert normalize_mem_mb(deep, volumes=True) == normalize_mem_mb(MovieSize((5, 2, 1024, 1024), "uint16", 0.5,
                                                                             z_planes=64), volumes=True)  # flat in T
    assert normalize_mem_mb(deep) == normalize_mem_mb(MovieSize((100, 2, 1024, 1024), "uint16", 0.5))  # projected: 2-D
