"""Tests of cellpipe.normalize on small synthetic movies with known intensities."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import zarr
from pydantic import ValidationError

from cellpipe.config import NormalizeSettings
from cellpipe.normalize import (
    MOVIE_WIDE,
    PERCENTILE_COLUMNS,
    apply_normalization,
    compute_percentiles,
    normalize_movie,
    percentile_rows,
    sample_grid,
)


def _movie(n_frames: int = 4, shape: tuple[int, int] = (24, 20), seed: int = 0) -> np.ndarray:
    """uint16 (T, 2, Y, X): channel 1 is ten times brighter; frame t is (t + 1) times brighter than frame 0."""
    rng = np.random.default_rng(seed)
    base = rng.integers(100, 1000, size=(n_frames, 2, *shape)).astype(np.float64)
    base[:, 1] *= 10
    base *= (np.arange(n_frames) + 1)[:, None, None, None]
    return base.astype(np.uint16)


def _zarr(movie: np.ndarray) -> zarr.Array:
    arr = zarr.create_array(
        store=zarr.storage.MemoryStore(), shape=movie.shape, chunks=(1, *movie.shape[1:]), dtype=movie.dtype
    )
    arr[:] = movie
    return arr


class FrameReader:
    """A read-only (T, C, Y, X) movie that records every index it is read with."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data
        self.shape = data.shape
        self.reads: list[object] = []

    def __getitem__(self, key: object) -> np.ndarray:
        self.reads.append(key)
        return self._data[key]


def test_movie_mode_maps_the_percentiles_to_0_and_1() -> None:
    movie = _movie()
    settings = NormalizeSettings(low_percentile=2.0, high_percentile=98.0)
    out, table = normalize_movie(movie, settings)
    assert out.dtype == np.float32 and out.shape == movie.shape
    assert list(table.columns) == list(PERCENTILE_COLUMNS)
    assert table["frame"].tolist() == [MOVIE_WIDE, MOVIE_WIDE]
    assert table["channel"].tolist() == [0, 1]
    for c in range(2):
        expected = np.percentile(movie[:, c].astype(np.float64), [2.0, 98.0])
        row = table[table["channel"] == c].iloc[0]
        assert row["low_value"] == pytest.approx(expected[0])
        assert row["high_value"] == pytest.approx(expected[1])
        assert row["low_percentile"] == 2.0 and row["high_percentile"] == 98.0
        np.testing.assert_allclose(np.percentile(out[:, c], [2.0, 98.0]), [0.0, 1.0], atol=1e-5)
    # movie-wide: the brightening over time is kept
    means = out[:, 0].mean(axis=(1, 2))
    assert np.all(np.diff(means) > 0.1)
    # without clipping values beyond the percentiles go outside [0, 1]
    assert out.min() < 0.0 and out.max() > 1.0


def test_frame_mode_uses_each_frames_own_percentiles() -> None:
    movie = _movie()
    settings = NormalizeSettings(mode="frame", low_percentile=1.0, high_percentile=99.0)
    out, table = normalize_movie(movie, settings)
    assert len(table) == movie.shape[0] * movie.shape[1]
    assert table[["frame", "channel"]].to_numpy().tolist() == [[t, c] for t in range(4) for c in range(2)]
    for t in range(movie.shape[0]):
        for c in range(movie.shape[1]):
            expected = np.percentile(movie[t, c].astype(np.float64), [1.0, 99.0])
            row = table[(table["frame"] == t) & (table["channel"] == c)].iloc[0]
            assert (row["low_value"], row["high_value"]) == pytest.approx(tuple(expected))
            np.testing.assert_allclose(np.percentile(out[t, c], [1.0, 99.0]), [0.0, 1.0], atol=1e-5)
    # the per-frame values differ (frame t is t + 1 times brighter) ...
    highs = table[table["channel"] == 0]["high_value"].to_numpy()
    np.testing.assert_allclose(highs / highs[0], [1, 2, 3, 4], rtol=0.02)
    # ... and the brightening is removed
    means = out[:, 0].mean(axis=(1, 2))
    np.testing.assert_allclose(means, means[0], atol=0.02)


@pytest.mark.parametrize("mode", ["movie", "frame"])
@pytest.mark.parametrize("low, high", [(1.0, 99.8), (5.0, 90.0)])
def test_low_and_high_percentiles_are_each_their_own(mode: str, low: float, high: float) -> None:
    """Percentiles that are not mirror images (the defaults 1 and 99.8 %, and 5 and 90 %): each value is the
    intensity at its own percentile.  Frame t of channel c holds the integers c * 10000 + t * 1000 + 0..999
    shuffled, so the p-th percentile (linear interpolation) of n consecutive integers from a is a + p / 100 * (n - 1)."""
    rng = np.random.default_rng(5)
    n_frames, n_pixels = 3, 1000
    movie = np.stack(
        [np.stack([c * 10000 + t * n_pixels + rng.permutation(n_pixels) for c in range(2)]) for t in range(n_frames)]
    ).reshape(n_frames, 2, 20, 50).astype(np.uint16)
    out, table = normalize_movie(movie, NormalizeSettings(mode=mode, low_percentile=low, high_percentile=high))
    for row in table.itertuples():
        if mode == "movie":
            first, n = row.channel * 10000, n_frames * n_pixels
        else:
            first, n = row.channel * 10000 + row.frame * n_pixels, n_pixels
        assert (row.low_percentile, row.high_percentile) == (low, high)
        assert row.low_value == pytest.approx(first + low / 100 * (n - 1))
        assert row.high_value == pytest.approx(first + high / 100 * (n - 1))
    assert len(table) == (2 if mode == "movie" else 2 * n_frames)
    assert out.shape == movie.shape


def test_apply_normalization_on_a_batch_uses_the_rows_of_those_frames() -> None:
    movie = _movie()
    settings = NormalizeSettings(mode="frame")
    full, table = normalize_movie(movie, settings)
    batch = apply_normalization(movie[1:3], 1, table, settings)
    np.testing.assert_array_equal(batch, full[1:3])
    # a batch of one channel (stacks are normalized a channel at a time) uses that channel's rows
    second = apply_normalization(movie[1:3, 1:2], 1, table, settings, first_channel=1)
    np.testing.assert_array_equal(second, full[1:3, 1:2])
    with pytest.raises(ValueError, match="no frame 4 row for channel 0"):
        apply_normalization(movie[3:4], 4, table, settings)
    with pytest.raises(ValueError, match="no movie-wide row"):
        apply_normalization(movie[:1], 0, table, NormalizeSettings(mode="movie"))


def test_clip_keeps_values_in_0_1() -> None:
    out, _ = normalize_movie(_movie(), NormalizeSettings(clip=True, low_percentile=10, high_percentile=90))
    assert out.min() == 0.0 and out.max() == 1.0
    assert 0.1 < (out == 0.0).mean() < 0.3  # 10 % below the low percentile per frame, more in darker frames


def test_zarr_input_gives_the_same_table_as_numpy() -> None:
    movie = _movie()
    for mode in ("movie", "frame"):
        settings = NormalizeSettings(mode=mode)
        pd.testing.assert_frame_equal(compute_percentiles(_zarr(movie), settings), compute_percentiles(movie, settings))
    out, _ = normalize_movie(_zarr(movie), NormalizeSettings())
    np.testing.assert_array_equal(out, normalize_movie(movie, NormalizeSettings())[0])


@pytest.mark.parametrize("mode", ["movie", "frame"])
def test_the_movie_is_read_one_frame_at_a_time(mode: str) -> None:
    movie = _movie(n_frames=5)
    reader = FrameReader(movie)
    table = compute_percentiles(reader, NormalizeSettings(mode=mode))
    assert reader.reads == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(table, compute_percentiles(movie, NormalizeSettings(mode=mode)))


def test_sample_grid_stays_within_budget_and_covers_the_frame() -> None:
    assert sample_grid(3, 10, 10, 1000) == [(0, 0, 0, 1), (1, 0, 0, 1), (2, 0, 0, 1)]
    grid = sample_grid(50, 64, 48, 5000)
    assert grid == sample_grid(50, 64, 48, 5000)  # deterministic
    assert [t for t, *_ in grid] == list(range(50))
    counts = [len(range(y0, 64, step)) * len(range(x0, 48, step)) for _, y0, x0, step in grid]
    assert sum(counts) <= 5000 and sum(counts) > 2500
    step = grid[0][3]
    assert step > 1
    covered = {(y0, x0) for _, y0, x0, _ in grid}
    assert len(covered) == min(50, step * step)
    # more frames than pixels allowed: evenly spaced frames, one pixel each
    few = sample_grid(1000, 8, 8, 10)
    assert [t for t, *_ in few] == np.linspace(0, 999, 10).round().astype(int).tolist()
    assert all(step == 8 for *_, step in few)


def test_movie_percentiles_on_a_subsample_are_close_and_bounded() -> None:
    rng = np.random.default_rng(1)
    movie = rng.normal(500.0, 50.0, size=(40, 1, 64, 64)).astype(np.float32)
    reader = FrameReader(movie)
    sub = compute_percentiles(reader, NormalizeSettings(max_sample_pixels=20_000))
    full = compute_percentiles(movie, NormalizeSettings(max_sample_pixels=10**9))
    assert reader.reads == list(range(40))
    assert sub["low_value"].iloc[0] == pytest.approx(full["low_value"].iloc[0], abs=5.0)
    assert sub["high_value"].iloc[0] == pytest.approx(full["high_value"].iloc[0], abs=5.0)
    assert sub["low_value"].iloc[0] != full["low_value"].iloc[0]  # really a subsample


def test_flat_channel_maps_to_zero_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    movie = _movie(n_frames=2)
    movie[:, 1] = 7
    with caplog.at_level(logging.WARNING, logger="cellpipe.normalize"):
        out, table = normalize_movie(movie, NormalizeSettings())
    assert table.loc[1, "low_value"] == table.loc[1, "high_value"] == 7.0
    assert np.all(out[:, 1] == 0.0)
    assert np.isfinite(out).all()
    assert "equal (or non-finite) low and high" in caplog.text


def test_nan_pixels_are_ignored_by_the_percentiles() -> None:
    movie = _movie(n_frames=2).astype(np.float32)
    with_nan = movie.copy()
    with_nan[0, 0, :2, :] = np.nan
    table = compute_percentiles(with_nan, NormalizeSettings())
    finite = with_nan[:, 0][np.isfinite(with_nan[:, 0])]
    assert table.loc[0, "low_value"] == pytest.approx(np.percentile(finite, 1.0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low_percentile": 99.0, "high_percentile": 1.0},
        {"low_percentile": 5.0, "high_percentile": 5.0},
        {"low_percentile": -1.0},
        {"high_percentile": 100.5},
        {"mode": "tile"},
        {"max_sample_pixels": 0},
        {"unknown": 1},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        NormalizeSettings(**kwargs)


def test_wrong_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"\(T, C, Y, X\)"):
        compute_percentiles(np.zeros((3, 8, 8)), NormalizeSettings())


@pytest.mark.parametrize("mode", ["movie", "frame"])
def test_percentile_rows_are_the_tables_rows_and_normalize_alike(mode: str) -> None:
    """Rows and table hold numpy's 2nd and 98th percentiles of the finite intensities (no unit), per channel over
    the movie or per frame and channel, in that order; either one normalizes a batch starting at any frame to
    (x - low) / (high - low), and a frame and channel without a finite pixel to 0."""
    movie = _movie().astype(np.float32)
    movie[1, 1] = np.nan  # a frame without a finite pixel: NaN values in frame mode
    settings = NormalizeSettings(mode=mode, low_percentile=2.0, high_percentile=98.0)
    raw = movie.astype(np.float64)
    if mode == "movie":
        keys = [(c, MOVIE_WIDE) for c in range(2)]
        values = {(c, MOVIE_WIDE): tuple(np.nanpercentile(raw[:, c], [2.0, 98.0])) for c in range(2)}
    else:
        keys = [(c, t) for t in range(4) for c in range(2)]
        values = {(c, t): tuple(np.percentile(raw[t, c], [2.0, 98.0])) for c, t in keys}
    rows = percentile_rows(movie, settings)
    table = compute_percentiles(movie, settings)
    assert [list(row) for row in rows] == [list(PERCENTILE_COLUMNS)] * len(keys)
    assert list(table.columns) == list(PERCENTILE_COLUMNS)
    assert all(type(row["channel"]) is int and type(row["frame"]) is int for row in rows)
    for found in (pd.DataFrame(rows), table):
        assert list(zip(found["channel"], found["frame"], strict=True)) == keys
        assert found["low_percentile"].tolist() == [2.0] * len(keys) and found["high_percentile"].tolist() == [98.0] * len(keys)
        np.testing.assert_allclose(found[["low_value", "high_value"]].to_numpy(), [values[key] for key in keys])
    if mode == "frame":
        assert np.isnan(values[(1, 1)]).all()
    for first in range(movie.shape[0]):
        for percentiles in (rows, table):
            batch = apply_normalization(movie[first:], first, percentiles, settings)
            for i, t in enumerate(range(first, movie.shape[0])):
                for c in range(2):
                    low, high = values[(c, MOVIE_WIDE if mode == "movie" else t)]
                    expected = np.zeros(movie.shape[2:]) if np.isnan(low) else (raw[t, c] - low) / (high - low)
                    np.testing.assert_allclose(batch[i, c], expected, rtol=1e-5, atol=1e-6, err_msg=f"frame {t} channel {c}")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['high_value'\]"):
        apply_normalization(movie, 0, [{k: v for k, v in row.items() if k != "high_value"} for row in rows], settings)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['low_value'\]"):
        apply_normalization(movie, 0, table.drop(columns="low_value"), settings)
