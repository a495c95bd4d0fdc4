"""Percentile intensity normalization of (T, C, Y, X) movies and (T, C, Z, Y, X) 3-D movies.

Each channel is rescaled linearly so that its ``low_percentile`` intensity
becomes 0 and its ``high_percentile`` intensity becomes 1 (values outside
are kept unless ``clip`` is set).  The percentiles are computed either once
for the whole movie (``mode="movie"``, the default: intensities stay
comparable between frames, so bleaching or a change in expression remains
visible) or separately for every frame (``mode="frame"``: each frame is
stretched on its own; in a 3-D movie a frame is one z-stack of one channel).

The work is split in two so that a movie of any length can be normalized
in batches of frames with bounded memory:

* :func:`compute_percentiles` reads the movie one frame at a time and
  returns the table of intensity values at the percentiles;
* :func:`apply_normalization` rescales a batch of frames with that table.

In movie mode the percentiles are computed on a deterministic subsample of
at most ``max_sample_pixels`` pixels per channel (see
:class:`NormalizeSettings`), so the memory used does not grow with the
number of frames.  Intensities are in the movie's own units (camera counts,
no unit); frames are 0-based indices.

A 3-D movie is read one (Z, Y, X) stack of one frame and channel at a time, so memory is bounded by
one stack: movie mode samples the same regular grid over its z-planes as over a 2-D movie's frames
(:func:`sample_grid` over the T x Z planes), frame mode takes each stack's percentiles, and
:func:`apply_normalization` rescales batches of stacks (``first_channel`` says which).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import NormalizeSettings

if TYPE_CHECKING:  # imported where the table is built, not by every job that imports this module
    import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "MOVIE_WIDE",
    "PERCENTILE_COLUMNS",
    "PercentileRow",
    "apply_normalization",
    "compute_percentiles",
    "normalize_movie",
    "percentile_rows",
    "sample_grid",
]

MOVIE_WIDE = -1
"""Value of the ``frame`` column for percentiles computed over the whole movie."""

#: Columns and dtypes of the table returned by :func:`compute_percentiles`.
_PERCENTILE_SCHEMA: dict[str, str] = {
    "channel": "int64",
    "frame": "int64",
    "low_percentile": "float64",
    "high_percentile": "float64",
    "low_value": "float64",
    "high_value": "float64",
}
PERCENTILE_COLUMNS: tuple[str, ...] = tuple(_PERCENTILE_SCHEMA)


def _shape_of(movie: Any) -> tuple[int, ...]:
    shape = getattr(movie, "shape", None)
    return tuple(int(n) for n in shape) if shape is not None else np.shape(movie)


def _as_movie(movie: ArrayLike) -> Any:
    """The movie itself when it can be indexed frame by frame (numpy, zarr, dask), else as numpy."""
    if hasattr(movie, "shape") and hasattr(movie, "__getitem__"):
        return movie
    return np.asarray(movie)


def _check_movie(shape: tuple[int, ...]) -> None:
    if len(shape) not in (4, 5):
        raise ValueError(f"expected a (T, C, Y, X) or (T, C, Z, Y, X) movie, got an array of shape {shape}")
    if min(shape) < 1:
        raise ValueError(f"the movie is empty: shape {shape}")


def _read_frame(movie: Any, t: int) -> np.ndarray:
    frame = np.asarray(movie[t])
    if frame.dtype.kind == "b":
        frame = frame.astype(np.uint8)
    return frame


def _read_stack(movie: Any, t: int, c: int) -> np.ndarray:
    """The (Z, Y, X) stack of frame ``t``, channel ``c`` of a 3-D movie (one chunk of a store ingest wrote)."""
    stack = np.asarray(movie[t, c])
    return stack.astype(np.uint8) if stack.dtype.kind == "b" else stack


def _percentiles(values: np.ndarray, q: tuple[float, float]) -> tuple[float, float]:
    """Intensities at percentiles ``q`` of ``values``, ignoring NaN (NaN, NaN when nothing is finite)."""
    low, high = np.percentile(values, q)
    if not (math.isfinite(low) and math.isfinite(high)):
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return math.nan, math.nan
        low, high = np.percentile(finite, q)
    return float(low), float(high)


def sample_grid(n_frames: int, height: int, width: int, max_pixels: int) -> list[tuple[int, int, int, int]]:
    """The pixels used for the movie-wide percentiles of one channel.

    When the movie has at most ``max_pixels`` pixels per channel every pixel
    is used (step 1).  Otherwise the frames used are evenly spaced (all of
    them unless there are more frames than ``max_pixels``), each gets an
    equal share of ``max_pixels``, and the step is the smallest whose
    grid fits in that share; the grid's offset cycles through all ``step²``
    positions from one frame to the next, so that over many frames the
    whole field of view is covered evenly.  The total never exceeds
    ``max_pixels``, and the choice depends only on the shape (deterministic).

    Parameters
    ----------
    n_frames : int
        Frames in the movie (>= 1).
    height : int
        Frame height (px, >= 1).
    width : int
        Frame width (px, >= 1).
    max_pixels : int
        Most pixels sampled per channel (>= 1).

    Returns
    -------
    list of tuple of int
        One ``(frame, y_offset, x_offset, step)`` per frame used (frame 0-based, offsets and step
        in px): that frame contributes the pixels ``[y_offset::step, x_offset::step]``.

    Raises
    ------
    ValueError
        An argument under 1.
    """
    if min(n_frames, height, width, max_pixels) < 1:
        raise ValueError(f"n_frames, height, width and max_pixels must be >= 1, got {(n_frames, height, width, max_pixels)}")
    per_frame = height * width
    if n_frames * per_frame <= max_pixels:
        return [(t, 0, 0, 1) for t in range(n_frames)]
    n_used = min(n_frames, max_pixels)
    frames = np.unique(np.linspace(0, n_frames - 1, n_used).round().astype(np.int64))
    share = max_pixels // len(frames)
    step = max(1, math.ceil(math.sqrt(per_frame / share)))
    while math.ceil(height / step) * math.ceil(width / step) > share:
        step += 1
    grid = []
    for k, t in enumerate(frames):
        position = k % (step * step)
        grid.append((int(t), position // step, position % step, step))
    return grid


PercentileRow = dict[str, float]
"""One row of the percentile table: a value for each of :data:`PERCENTILE_COLUMNS` (``channel`` and
``frame`` are whole numbers)."""


def compute_percentiles(movie: ArrayLike, settings: NormalizeSettings) -> pd.DataFrame:
    """Intensities at the low and high percentiles of every channel, movie-wide or per frame.

    Parameters
    ----------
    movie : array_like
        (T, C, Y, X) intensities (frames, channels, px, px), or (T, C, Z, Y, X) for a 3-D movie, in the
        movie's intensity units; a numpy array, or a ``zarr.Array`` (or anything indexable frame by frame),
        which is read one frame (3-D: one stack of one channel) at a time.
    settings : NormalizeSettings
        Percentiles (percent), movie-wide or per-frame (3-D: per-stack) mode, and the most pixels sampled
        per channel in movie mode.

    Returns
    -------
    pandas.DataFrame
        Columns ``channel, frame, low_percentile, high_percentile, low_value,
        high_value``: one row per channel with ``frame == -1`` in movie mode,
        one row per frame and channel in frame mode (sorted by frame, then
        channel; 3-D: one row per z-stack).  Percentiles in percent, values in the movie's intensity
        units.  NaN pixels are ignored; a channel without any finite pixel
        gets NaN values.
    """
    import pandas as pd

    table = pd.DataFrame(percentile_rows(movie, settings), columns=list(PERCENTILE_COLUMNS))
    return table.astype(_PERCENTILE_SCHEMA)


def percentile_rows(movie: ArrayLike, settings: NormalizeSettings) -> list[PercentileRow]:
    """The rows of :func:`compute_percentiles`'s table, in the same order, without pandas.

    What the normalization job uses: it writes the table with
    :func:`cellpipe.io.tables.write_tsv_rows` and so never imports pandas
    (0.7 s of a 120-frame 1024² job, bench/RESULTS.md).

    Parameters
    ----------
    movie : array_like
        (T, C, Y, X) intensities (frames, channels, px, px), read one frame at a time, as for
        :func:`compute_percentiles`.
    settings : NormalizeSettings
        Percentiles (percent), mode and the most pixels sampled per channel.

    Returns
    -------
    list of dict
        One :data:`PercentileRow` per row of :func:`compute_percentiles`'s table: ``channel`` and
        ``frame`` as ints (frame -1 in movie mode), percentiles in percent, values in the movie's
        intensity units.
    """
    movie = _as_movie(movie)
    shape = _shape_of(movie)
    _check_movie(shape)
    if len(shape) == 5:
        return _percentile_rows_3d(movie, shape, settings)
    n_frames, n_channels, height, width = shape
    q = (settings.low_percentile, settings.high_percentile)
    rows: list[tuple[int, int, float, float, float, float]] = []
    if settings.mode == "frame":
        for t in range(n_frames):
            frame = _read_frame(movie, t)
            for c in range(n_channels):
                low, high = _percentiles(frame[c], q)
                rows.append((c, t, q[0], q[1], low, high))
    else:
        grid = sample_grid(n_frames, height, width, settings.max_sample_pixels)
        samples: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
        for t, y0, x0, step in grid:
            frame = _read_frame(movie, t)
            for c in range(n_channels):
                samples[c].append(np.ravel(frame[c, y0::step, x0::step]))
        n_used = sum(s.size for s in samples[0])
        logger.info(
            "movie-wide percentiles from %d of %d pixels per channel (%d frames)",
            n_used, n_frames * height * width, len(grid),
        )
        for c in range(n_channels):
            low, high = _percentiles(np.concatenate(samples[c]), q)
            rows.append((c, MOVIE_WIDE, q[0], q[1], low, high))
            samples[c] = []
    return [dict(zip(PERCENTILE_COLUMNS, row, strict=True)) for row in rows]


def _percentile_rows_3d(movie: Any, shape: tuple[int, ...], settings: NormalizeSettings) -> list[PercentileRow]:
    """:func:`percentile_rows` of a (T, C, Z, Y, X) movie, one (Z, Y, X) stack in memory at a time.

    Movie mode samples :func:`sample_grid` of the T x Z planes (plane ``t * Z + z``), so a channel's sample is at
    most ``max_sample_pixels`` whatever the depth; frame mode gives one row per stack.
    """
    n_frames, n_channels, depth, height, width = shape
    q = (settings.low_percentile, settings.high_percentile)
    rows: list[tuple[int, int, float, float, float, float]] = []
    if settings.mode == "frame":
        for t in range(n_frames):
            for c in range(n_channels):
                low, high = _percentiles(_read_stack(movie, t, c), q)
                rows.append((c, t, q[0], q[1], low, high))
    else:
        grid = sample_grid(n_frames * depth, height, width, settings.max_sample_pixels)
        by_frame: dict[int, list[tuple[int, int, int, int]]] = {}
        for plane, y0, x0, step in grid:
            by_frame.setdefault(plane // depth, []).append((plane % depth, y0, x0, step))
        samples: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
        for t, planes in by_frame.items():
            for c in range(n_channels):
                stack = _read_stack(movie, t, c)
                for z, y0, x0, step in planes:
                    samples[c].append(np.ravel(stack[z, y0::step, x0::step]))
        logger.info(
            "movie-wide percentiles from %d of %d voxels per channel (%d z-planes of %d stacks)",
            sum(s.size for s in samples[0]), n_frames * depth * height * width, len(grid), n_frames,
        )
        for c in range(n_channels):
            low, high = _percentiles(np.concatenate(samples[c]), q)
            rows.append((c, MOVIE_WIDE, q[0], q[1], low, high))
            samples[c] = []
    return [dict(zip(PERCENTILE_COLUMNS, row, strict=True)) for row in rows]


def _lookup(percentiles: pd.DataFrame | Sequence[Mapping[str, float]]) -> dict[tuple[int, int], tuple[float, float]]:
    if hasattr(percentiles, "columns"):  # a DataFrame
        names, rows = set(percentiles.columns), percentiles.to_dict("records")
    else:  # rows of percentile_rows
        rows = list(percentiles)
        names = set.intersection(*(set(row) for row in rows)) if rows else set()
    missing = [col for col in ("channel", "frame", "low_value", "high_value") if col not in names]
    if missing:
        raise ValueError(f"percentile table lacks column(s) {missing}")
    return {(int(r["channel"]), int(r["frame"])): (float(r["low_value"]), float(r["high_value"])) for r in rows}


def apply_normalization(
    frames: np.ndarray,
    first_frame: int,
    percentiles: pd.DataFrame | Sequence[Mapping[str, float]],
    settings: NormalizeSettings,
    first_channel: int = 0,
) -> np.ndarray:
    """Rescale a batch of frames with the intensities of :func:`compute_percentiles`.

    Parameters
    ----------
    frames : numpy.ndarray
        (t, C, Y, X) intensities (frames, channels, px, px) of frames
        ``first_frame .. first_frame + t - 1`` of the movie, or (t, C, Z, Y, X) stacks of a 3-D movie,
        in its intensity units.
    first_frame : int
        Index (0-based frame) in the movie of ``frames[0]``; used to find the
        per-frame rows in frame mode.
    percentiles : pandas.DataFrame or sequence of mapping
        Table returned by :func:`compute_percentiles` (or the rows of
        :func:`percentile_rows`) for the same settings; values in the movie's intensity units.
    settings : NormalizeSettings
        Normalization settings (``mode`` chooses movie-wide or per-frame rows, ``clip`` clips to [0, 1]).
    first_channel : int
        Index (0-based channel) in the movie of ``frames[:, 0]``: a 3-D movie is rescaled a
        stack of one channel at a time (``frames`` of shape (1, 1, Z, Y, X)).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape: ``(x - low_value) / (high_value -
        low_value)``, clipped to [0, 1] when ``settings.clip``.  Where
        ``high_value == low_value`` (a flat channel or frame) or the values
        are not finite, the output is 0 and a warning is logged.
    """
    frames = np.asarray(frames)
    if frames.ndim not in (4, 5):
        raise ValueError(f"expected (t, C, Y, X) frames or (t, C, Z, Y, X) stacks, got an array of shape {frames.shape}")
    if first_frame < 0:
        raise ValueError(f"first_frame must be >= 0, got {first_frame}")
    table = _lookup(percentiles)
    out = np.empty(frames.shape, dtype=np.float32)
    degenerate: list[tuple[int, int]] = []
    for i in range(frames.shape[0]):
        t = first_frame + i
        key_frame = MOVIE_WIDE if settings.mode == "movie" else t
        for i_c in range(frames.shape[1]):
            c = first_channel + i_c
            try:
                low, high = table[(c, key_frame)]
            except KeyError:
                where = "movie-wide" if key_frame == MOVIE_WIDE else f"frame {key_frame}"
                raise ValueError(
                    f"percentile table has no {where} row for channel {c} (mode {settings.mode!r})"
                ) from None
            span = high - low
            if not (math.isfinite(low) and math.isfinite(span)) or span <= 0:
                degenerate.append((t, c))
                out[i, i_c] = 0.0
                continue
            out[i, i_c] = (frames[i, i_c].astype(np.float64) - low) / span
    if degenerate:
        logger.warning(
            "%d frame/channel pair(s) have equal (or non-finite) low and high percentile values and were set "
            "to 0, first: frame %d channel %d",
            len(degenerate), *degenerate[0],
        )
    if settings.clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def normalize_movie(movie: ArrayLike, settings: NormalizeSettings) -> tuple[np.ndarray, pd.DataFrame]:
    """Normalize a whole movie in memory.

    Convenience for small movies and tests: the whole normalized movie is
    held in memory.  For long movies call :func:`compute_percentiles` once
    and :func:`apply_normalization` on batches of frames.

    Parameters
    ----------
    movie : array_like
        (T, C, Y, X) intensities (frames, channels, px, px) in the movie's intensity units.
    settings : NormalizeSettings
        Percentiles (percent), mode and clipping, as for :func:`compute_percentiles`.

    Returns
    -------
    movie : numpy.ndarray
        float32 (T, C, Y, X) normalized intensities (0 = low percentile's value, 1 = high's).
    percentiles : pandas.DataFrame
        The table of :func:`compute_percentiles`.
    """
    movie = _as_movie(movie)
    table = compute_percentiles(movie, settings)
    n_frames = _shape_of(movie)[0]
    out = np.empty(_shape_of(movie), dtype=np.float32)
    for t in range(n_frames):
        out[t : t + 1] = apply_normalization(np.asarray(movie[t : t + 1]), t, table, settings)
    return out, table
