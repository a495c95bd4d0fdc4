"""Ingest: decide the physical metadata of a raw movie and check its pixels.

The sample sheet wins over the file's metadata (users correct wrong
microscope metadata there); the config's defaults come last.  A movie without
a pixel size or frame interval from any of the three is an error, because
every measurement in µm and µm/min depends on them.  So are non-square pixels
taken from the file (areas and y positions would be wrong).  A sheet value
far from the file's is used, with a warning: a typo (650 for 0.65) changes
every measurement by the same factor and nothing else would reveal it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cellpipe.config import IngestSettings

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
    warnings: list[str] = field(default_factory=list)
    """What the user should know about these values (one line each, without the sample and file):
    the caller shows them (the sample sheet check prints them, the ingest job logs them)."""


SQUARE_TOLERANCE = 0.01
"""Relative difference between a file's y and x pixel sizes still taken as square pixels (rounding
in the metadata, e.g. 0.3225 and 0.3250 µm); more is refused."""
DISAGREEMENT_TOLERANCE = 0.05
"""Relative difference between the sample sheet's pixel size or frame interval and the file's
beyond which the sheet's value is used with a warning (a few percent is a calibration correction)."""


def _apart(a: float, b: float) -> float:
    """How far apart two positive values are, relative to the smaller: 0.05 is 5 %."""
    return max(a, b) / min(a, b) - 1.0


def _ratio(sheet: float, file: float) -> str:
    """The sheet's value as a multiple of the file's: '1000× the file's', '1/4 of the file's'."""
    r = sheet / file
    return f"{r:.4g}× the file's" if r >= 1 else f"1/{1 / r:.4g} of the file's"


def non_square_refusal(px_x: float, px_y: float) -> str:
    """Why a movie of ``px_x`` by ``px_y`` µm pixels is refused, and how to run it: one line, sample and file left out.

    Every stage takes one pixel size for y and x (areas, y positions and speeds would be off by their ratio), so
    the movie has to be resampled to square pixels first; scaling y by ``px_y / px_x`` keeps the x pixel size.

    Parameters
    ----------
    px_x, px_y : float
        The file's pixel size along x and along y (µm).

    Returns
    -------
    str
        The reason and the two ways to run the movie, without the sample and file (the caller adds them).
    """
    return (
        f"non-square pixels: the file's metadata gives {px_x:.4g} µm along x and {px_y:.4g} µm along y, and cellpipe "
        f"measures in square pixels only; to run it, resample the movie to square pixels of {px_x:.4g} µm (Fiji: "
        f"Image > Scale, X scale 1, Y scale {px_y / px_x:.4g}, then save as OME-TIFF and give that file), or, if the "
        "file's metadata is wrong, set pixel_size_um in the sample sheet"
    )


def _check_against_file(
    sample: str, movie_path: str, sheet_px: float | None, file_px: float | None, file_px_y: float | None,
    sheet_dt: float | None, file_dt: float | None,
) -> list[str]:
    """Refuse non-square pixels from the file's metadata; warn of sheet values far from the file's.

    Refuse non-square pixels the file's metadata would give; the warnings for sheet values far
    from the file's (see :func:`resolve_metadata`).
    """
    warnings = []
    if file_px and file_px_y and _apart(file_px, file_px_y) > SQUARE_TOLERANCE:
        if sheet_px is None:
            raise _refuse(sample, movie_path, non_square_refusal(file_px, file_px_y))
        warnings.append(
            f"the file's pixels are not square ({file_px:.4g} µm along x, {file_px_y:.4g} µm along y); using the "
            f"sample sheet's pixel_size_um {sheet_px:.4g} µm for both"
        )
    for key, unit, sheet, file in (("pixel_size_um", "µm", sheet_px, file_px), ("frame_interval_min", "min", sheet_dt, file_dt)):
        if sheet is not None and file and _apart(sheet, file) > DISAGREEMENT_TOLERANCE:
            warnings.append(
                f"{key} is {sheet:.4g} {unit} in the sample sheet but {file:.4g} {unit} in the file's metadata "
                f"({_ratio(sheet, file)}); using the sample sheet's {sheet:.4g} {unit}"
            )
    return warnings


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
    *,
    file_pixel_size_y_um: float | None = None,
) -> MovieMetadata:
    """Combine sample sheet, file metadata and config defaults (in that order of priority).

    The sheet's pixel size or frame interval more than :data:`DISAGREEMENT_TOLERANCE` from the
    file's is used (the sheet is the user's explicit override) with a line in ``warnings``, as is a
    sheet pixel size overriding non-square file metadata.

    Parameters
    ----------
    sample : str
        The sample's name, for messages.
    movie_path : str
        The movie's path as the sample sheet gives it, for messages.
    shape_tcyx : tuple of int
        (frames, channels, height px, width px) of the movie.
    file_pixel_size_um : float or None
        The file's pixel size along x (µm); None: the file gives none.
    file_frame_interval_min : float or None
        The file's frame interval (minutes); None: the file gives none.
    file_channel_names : list of str
        The file's channel names, in channel order; empty: the file gives none.
    sheet_pixel_size_um : float or None
        The sample sheet's pixel size (µm); None: the row gives none.
    sheet_frame_interval_min : float or None
        The sample sheet's frame interval (minutes); None: the row gives none.
    sheet_channel_names : list of str
        The sample sheet's channel names, in channel order; empty: the row gives none.
    settings : IngestSettings
        The config's default pixel size (µm) and frame interval (minutes).
    file_pixel_size_y_um : float or None
        The file's pixel size along y (µm); None: as x.

    Returns
    -------
    MovieMetadata
        Pixel size (µm), frame interval (minutes), channel names, where each came from, and the
        warnings to repeat.

    Raises
    ------
    IngestError
        No pixel size or frame interval from any source, channel names that do not fit, or
        non-square pixels in the file's metadata (y and x more than :data:`SQUARE_TOLERANCE`
        apart) that the sample sheet does not override.
    """
    where = f"sample {sample!r} ({movie_path})"
    warnings = _check_against_file(
        sample, movie_path, sheet_pixel_size_um, file_pixel_size_um, file_pixel_size_y_um,
        sheet_frame_interval_min, file_frame_interval_min,
    )
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
    return MovieMetadata(float(px), float(dt), list(names), px_src, dt_src, warnings)


def resolve_z_step(
    sample: str, movie_path: str, z_planes: int, file_z_step_um: float | None, sheet_z_step_um: float | None,
    settings: IngestSettings,
) -> tuple[float, str]:
    """The step between z-planes of a movie kept in 3-D (``ingest.z_projection: keep``), and where it came from.

    As for the pixel size, the sample sheet's ``pixel_size_z_um`` wins, else the file's (OME
    ``PhysicalSizeZ``, ImageJ ``spacing``, an OME-Zarr's z scale), else
    ``ingest.default_pixel_size_z_um``.  A sheet value far from the file's is used (logged: ingest's
    caller has already warned about the pixel size the same way).

    Parameters
    ----------
    sample : str
        The sample's name, for messages.
    movie_path : str
        Path of the movie, for messages.
    z_planes : int
        Planes per z-stack.
    file_z_step_um : float or None
        The z step in the file's metadata (µm); None or 0 when it has none.
    sheet_z_step_um : float or None
        The sample sheet's ``pixel_size_z_um`` (µm); None when not given.
    settings : IngestSettings
        The ``ingest`` section (its ``default_pixel_size_z_um``, µm).

    Returns
    -------
    z_step_um : float
        The step between z-planes (µm).
    source : str
        Where it came from: "sample sheet", "file metadata" or "config default".

    Raises
    ------
    IngestError
        No z step from any source (volumes and distances along z need it).
    """
    step, source = _pick(sheet_z_step_um, file_z_step_um, settings.default_pixel_size_z_um)
    if step is None:
        raise _refuse(
            sample, movie_path,
            f"a z-stack of {z_planes} planes with no z step in the file's metadata; set pixel_size_z_um in the "
            "sample sheet or ingest.default_pixel_size_z_um in the config",
        )
    if sheet_z_step_um is not None and file_z_step_um and _apart(sheet_z_step_um, file_z_step_um) > DISAGREEMENT_TOLERANCE:
        logger.warning("sample %r (%s): pixel_size_z_um is %.4g µm in the sample sheet but %.4g µm in the file's "
                       "metadata; using the sample sheet's", sample, movie_path, sheet_z_step_um, file_z_step_um)
    return float(step), source


def channel_index(channel: int | str, names: Sequence[str]) -> int | None:
    """The 0-based index of ``channel`` (``segment.channel``) in a movie whose channels are called ``names``.

    Parameters
    ----------
    channel : int or str
        A 0-based channel index (returned as it is) or a channel name, looked up exactly (case and
        spaces count).
    names : sequence of str
        The movie's channel names, in channel order, as ingest writes them.

    Returns
    -------
    int or None
        The 0-based channel index; None when no channel has that name.
    """
    if isinstance(channel, int):
        return channel
    return list(names).index(channel) if channel in names else None


def check_shape(sample: str, movie_path: str, shape_tcyx: tuple[int, ...], dtype: np.dtype | type) -> None:
    """Refuse movies that cannot be analysed whatever their pixels; needs only the header (shape, dtype).

    Parameters
    ----------
    sample : str
        The sample's name, for messages.
    movie_path : str
        The movie's path as the sample sheet gives it, for messages.
    shape_tcyx : tuple of int
        (frames, channels, height px, width px) of the movie.
    dtype : numpy.dtype or type
        The pixel type.

    Raises
    ------
    IngestError
        Not 4 axes (T, C, Y, X), no frames or channels, a non-numeric pixel type, or frames under
        8 px on a side.
    """
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
        """Check one frame; a float frame holding NaN or infinite values is refused.

        Parameters
        ----------
        t : int
            The frame's index (0-based), for the message.
        pixels : numpy.ndarray
            The frame's pixels (any shape), in the movie's intensity units.

        Raises
        ------
        IngestError
            NaN or infinite pixels, naming the frame and how many.
        """
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
    """Refuse movies whose pixels cannot be analysed (:class:`PixelCheck` over the frames of an in-memory movie).

    A blank movie (every pixel the same value, e.g. all zero) is analysed, with a warning: it
    gives empty tables (no cells) rather than an error, which is the honest result.

    Parameters
    ----------
    sample : str
        The sample's name, for messages.
    movie_path : str
        The movie's path as the sample sheet gives it, for messages.
    data : numpy.ndarray
        (T, C, Y, X) pixels (px), in the movie's intensity units.

    Raises
    ------
    IngestError
        The checks of :func:`check_shape`, or NaN or infinite values in a float movie (naming the frame).
    """
    check = PixelCheck(sample, movie_path, data.shape, data.dtype)
    for t in range(data.shape[0]):
        check.frame(t, np.asarray(data[t]))
    check.finish()


FOCUS_MEASURE = "variance of the Laplacian (scipy.ndimage.laplace of the plane as float64, 'reflect' border)"
"""What ``best_focus`` maximises: a sharp plane has strong edges, so a large spread of second
derivatives; a blurred one has almost none.  Recorded with the projection."""


def projected_dtype(dtype: np.dtype | type, method: str) -> np.dtype:
    """The pixel type :func:`project_z` gives a stack of ``dtype``.

    Parameters
    ----------
    dtype : numpy.dtype or type
        The stack's pixel type.
    method : str
        'none', 'max', 'mean', 'sum' or 'best_focus' (``ingest.z_projection``).

    Returns
    -------
    numpy.dtype
        The same for 'none', 'max' and 'best_focus', float32 for 'mean' (float64 stays float64),
        numpy's sum type for 'sum' (uint16 -> uint64, so no sum overflows).

    Raises
    ------
    ValueError
        An unknown method.
    """
    dtype = np.dtype(dtype)
    if method in ("max", "best_focus", "none"):
        return dtype
    if method == "mean":
        return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
    if method == "sum":
        return np.sum(np.zeros((1, 1), dtype), axis=0).dtype
    raise ValueError(f"unknown z projection {method!r}")


def focus_measure(plane: np.ndarray) -> float:
    """The :data:`FOCUS_MEASURE` of one plane; larger is sharper.

    Parameters
    ----------
    plane : numpy.ndarray
        (Y, X) pixels (px), in the movie's intensity units.

    Returns
    -------
    float
        The variance of the plane's Laplacian (intensity² units).
    """
    from scipy import ndimage

    return float(ndimage.laplace(np.asarray(plane, dtype=np.float64)).var())


def project_z(stack: np.ndarray, method: str) -> tuple[np.ndarray, int | None]:
    """Project one z-stack to one plane of :func:`projected_dtype`.

    Parameters
    ----------
    stack : numpy.ndarray
        (Z, Y, X) pixels (z planes, px), Z >= 1, in the movie's intensity units.
    method : str
        'max', 'mean' or 'sum' over z (numpy's), or 'best_focus': the plane of the highest
        :func:`focus_measure` (the first of equal ones).

    Returns
    -------
    plane : numpy.ndarray
        (Y, X) projected pixels (px).
    chosen : int or None
        For 'best_focus', the 0-based index of the plane chosen; None otherwise.

    Raises
    ------
    ValueError
        A stack that is not (Z, Y, X) with Z >= 1, or an unknown method.
    """
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[0] < 1:
        raise ValueError(f"a z-stack is (Z, Y, X) with Z >= 1, got shape {stack.shape}")
    out = projected_dtype(stack.dtype, method)
    if method == "max":
        return stack.max(axis=0), None
    if method == "mean":
        return stack.mean(axis=0, dtype=np.float64).astype(out, copy=False), None
    if method == "sum":
        return stack.sum(axis=0, dtype=out), None
    if method == "best_focus":
        scores = [focus_measure(plane) for plane in stack]  # one float64 plane at a time
        best = int(np.argmax(scores))
        return stack[best].copy(), best
    raise ValueError(f"unknown z projection {method!r}")
