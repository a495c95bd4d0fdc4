"""Ingest: decide the physical metadata of a raw movie and check its pixels.

The sample sheet wins over the file's metadata (users correct wrong
microscope metadata there); the config's defaults come last.  A movie without
a pixel size or frame interval from any of the three is an error, because
every measurement in µm and µm/min depends on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cellpipe.settings import IngestSettings

logger = logging.getLogger(__name__)


class IngestError(ValueError):
    """A raw movie that cannot be used; the message names the sample and the file, ``problem`` is the rest."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message


def _refuse(sample: str, movie_path: str, problem: str) -> IngestError:
    return IngestError(f"sample {sample!r} ({movie_path}): {problem}", problem)


@dataclass
class MovieMetadata:
    """The physical metadata ingest writes into the OME-Zarr."""

    pixel_size_um: float
    frame_interval_min: float
    channel_names: list[str]
    pixel_size_source: str
    frame_interval_source: str


def _pick(sheet: float | None, file: float | None, default: float | None) -> tuple[float | None, str]:
    if sheet is not None:
        return sheet, "sample sheet"
    if file is not None and file > 0:
        return file, "file metadata"
    if default is not None:
        return default, "config default"
    return None, "none"


def resolve_metadata(
    sample: str,
    movie_path: str,
    shape_tcyx: tuple[int, ...],
    file_pixel_size_um: float | None,
    file_frame_interval_min: float | None,
    file_channel_names: list[str],
    sheet_pixel_size_um: float | None,
    sheet_frame_interval_min: float | None,
    sheet_channel_names: list[str],
    settings: IngestSettings,
) -> MovieMetadata:
    """Combine sample sheet, file metadata and config defaults (in that order of priority)."""
    where = f"sample {sample!r} ({movie_path})"
    px, px_src = _pick(sheet_pixel_size_um, file_pixel_size_um, settings.default_pixel_size_um)
    if px is None:
        raise _refuse(sample, movie_path, "no pixel size in the file's metadata; set pixel_size_um in the sample sheet")
    dt, dt_src = _pick(sheet_frame_interval_min, file_frame_interval_min, settings.default_frame_interval_min)
    if dt is None:
        raise _refuse(sample, movie_path, "no frame interval in the file's metadata; set frame_interval_min in the sample sheet")
    n_channels = shape_tcyx[1]
    names = sheet_channel_names or file_channel_names or [f"ch{i}" for i in range(n_channels)]
    if len(names) != n_channels:
        raise _refuse(sample, movie_path, f"{len(names)} channel names given for {n_channels} channels")
    if len(set(names)) != len(names):
        raise _refuse(sample, movie_path, f"channel names must be unique, got {names}")
    logger.info("%s: pixel size %.4g µm (%s), frame interval %.4g min (%s), channels %s",
                where, px, px_src, dt, dt_src, names)
    return MovieMetadata(float(px), float(dt), list(names), px_src, dt_src)


def check_shape(sample: str, movie_path: str, shape_tcyx: tuple[int, ...], dtype: np.dtype | type) -> None:
    """Refuse movies that cannot be analysed whatever their pixels: not (T, C, Y, X), no frames, a
    non-numeric pixel type, frames under 8 px on a side.  Needs only the header (shape, dtype)."""
    shape = tuple(int(n) for n in shape_tcyx)
    if len(shape) != 4:
        raise _refuse(sample, movie_path, f"expected (T, C, Y, X), got shape {shape}")
    if shape[0] < 1 or shape[1] < 1:
        raise _refuse(sample, movie_path, f"the movie has no frames or no channels (shape {shape})")
    dtype = np.dtype(dtype)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise _refuse(sample, movie_path, f"pixel type {dtype} is not numeric")
    if min(shape[2:]) < 8:
        raise _refuse(sample, movie_path, f"frames of {shape[2]}x{shape[3]} px are too small to segment")


class PixelCheck:
    """The pixel checks of :func:`check_pixels`, one frame at a time (for movies read frame by frame).

    :meth:`frame` refuses a float frame holding NaN or infinite values, naming the frame;
    :meth:`finish` warns when every pixel of the movie had one value (a blank movie is analysed:
    it gives empty tables, no cells, which is the honest result).
    """

    def __init__(self, sample: str, movie_path: str, shape_tcyx: tuple[int, ...], dtype: np.dtype | type) -> None:
        check_shape(sample, movie_path, shape_tcyx, dtype)
        self.sample, self.movie_path = sample, movie_path
        self.is_float = np.issubdtype(np.dtype(dtype), np.floating)
        self.low: float | None = None
        self.high: float | None = None

    def frame(self, t: int, pixels: np.ndarray) -> None:
        """Check frame ``t`` (0-based; any shape)."""
        if self.is_float:
            bad = int((~np.isfinite(pixels)).sum())
            if bad:
                raise _refuse(self.sample, self.movie_path, f"frame {t}: {bad} NaN or infinite pixels")
        if pixels.size:
            low, high = float(pixels.min()), float(pixels.max())
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def finish(self) -> None:
        """Warn when the movie is blank."""
        if self.low is not None and self.low == self.high:
            logger.warning(
                "sample %r (%s): every pixel has the value %s; the movie is blank, expect no cells",
                self.sample, self.movie_path, self.low if self.is_float else int(self.low),
            )


def check_pixels(sample: str, movie_path: str, data: np.ndarray) -> None:
    """Refuse movies whose pixels cannot be analysed: the checks of :func:`check_shape`, and NaN or
    infinite values in a float movie (:class:`PixelCheck` over the frames of an in-memory movie).

    A blank movie (every pixel the same value, e.g. all zero) is analysed, with a warning: it
    gives empty tables (no cells) rather than an error, which is the honest result.
    """
    check = PixelCheck(sample, movie_path, data.shape, data.dtype)
    for t in range(data.shape[0]):
        check.frame(t, np.asarray(data[t]))
    check.finish()
