"""TIFF files: plain, ImageJ and OME-TIFF (one file or several), their headers, positions and metadata.

Headers are read without a pixel (tifffile's series and tags): axes, shape, dtype, the pixel size (µm) and frame
interval (minutes) from ImageJ, OME-XML or Micro-Manager tags; a file cut short or an OME-TIFF whose other files are
missing is refused before any job runs.  A CTC folder (``t000.tif`` ...) is a sequence of such files.
:func:`write_ome_tiff` writes one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cellpipe.io.movies.common import (
    _T,
    POSITIONS_HINT,
    FileMetadata,
    MovieError,
    MovieHeader,
    PathLike,
    _information,
    _one_line,
    _stamp,
    tczyx_shape,
    z_stack_refusal,
)
from cellpipe.io.movies.ome import _ome_images_metadata, _ome_metadata
from cellpipe.io.movies.units import IMAGEJ_LENGTH_TO_UM, IMAGEJ_TIME_TO_MIN, _in_unit
from cellpipe.numbers import as_number


def _imagej_metadata(tif: tifffile.TiffFile, path: PathLike) -> FileMetadata:
    """Pixel size (µm), frame interval (minutes), channel names and z-step (µm) from an ImageJ TIFF's tags and description."""
    meta = tif.imagej_metadata or {}
    page = tif.pages.first
    # ImageJ keeps its pixel width and height as the TIFF XResolution and YResolution (pixels per unit).
    sizes: dict[str, float | None] = {"X": None, "Y": None}
    unit = str(meta.get("unit", ""))
    for axis in "XY":
        tag = page.tags.get(f"{axis}Resolution")
        if tag is not None and tag.value[0] > 0:
            num, den = tag.value
            sizes[axis] = _in_unit(den / num, unit, IMAGEJ_LENGTH_TO_UM, "ImageJ length unit", "unit", path)
    px_y = sizes["Y"] if sizes["Y"] is not None else sizes["X"]
    dt = None
    if meta.get("finterval"):
        # ImageJ's own default time unit is seconds ('sec'), so a missing tunit means seconds.
        dt = _in_unit(float(meta["finterval"]), str(meta.get("tunit", "sec")), IMAGEJ_TIME_TO_MIN, "ImageJ time unit",
                      "tunit", path)
    # ImageJ's z-step (Image > Properties, "Voxel depth") is in the same unit as the pixel width
    spacing = meta.get("spacing")
    z_step = _information(lambda: _in_unit(float(spacing), unit, IMAGEJ_LENGTH_TO_UM, "ImageJ length unit", "unit", path))
    return FileMetadata(sizes["X"], px_y if sizes["X"] is not None else None, dt, _imagej_channel_names(meta), z_step)


def _imagej_channel_names(meta: dict[str, Any]) -> tuple[str, ...]:
    """Channel names from an ImageJ hyperstack's slice labels (Image > Stacks > Set Label), if they name channels.

    ImageJ keeps one label per plane, channels varying fastest (its XYCZT order); they are taken as the
    channel names only when the stack has several channels and every frame and z-plane repeats the
    first C labels, all different and non-empty (labels that differ per frame describe the frames, not
    the channels).
    """
    labels, n_channels = meta.get("Labels"), meta.get("channels")
    if not isinstance(labels, (list, tuple)) or not isinstance(n_channels, int) or n_channels < 2:
        return ()
    if not labels or len(labels) % n_channels:
        return ()
    first = tuple(str(label).strip() for label in labels[:n_channels])
    if not all(first) or len(set(first)) != n_channels:
        return ()
    repeated = all(
        tuple(str(label).strip() for label in labels[i:i + n_channels]) == first for i in range(0, len(labels), n_channels)
    )
    return first if repeated else ()


def open_tiff(source: PathLike | io.BufferedReader) -> tifffile.TiffFile:
    """A TIFF opened for cellpipe: as tifffile opens it, except that a Micro-Manager file is read through its OME-XML.

    tifffile reads a Micro-Manager stack (``is_mmstack``) from Micro-Manager's own index map, as one
    series over every ``<prefix>_MMStack_*`` file of the folder with the positions as an axis of their
    own (``R``); its OME-XML gives each position as an OME Image instead, as every other OME-TIFF,
    with its pixel size, interval and channel names, and its planes in the files its ``TiffData`` name.

    Parameters
    ----------
    source : str or os.PathLike or io.BufferedReader
        The file, or a binary handle open on it.

    Returns
    -------
    tifffile.TiffFile
        The open file; close it (or use it as a context manager).
    """
    return tifffile.TiffFile(source, is_mmstack=False)


class _TiffComplaints(logging.Handler):
    """Collects what tifffile logs about offsets past the end of a file while a header is parsed.

    tifffile skips a tag or page whose offset is invalid (a file cut short loses its metadata or
    later pages that way) and only logs it; this turns those into errors.
    """

    SIGNS = ("invalid value offset", "invalid page offset")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(sign in message for sign in self.SIGNS):
            self.messages.append(message)

    def __enter__(self) -> _TiffComplaints:
        logging.getLogger("tifffile").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("tifffile").removeHandler(self)


def open_tiff_header(
    path: Path, metadata: bool = True, scene: int | None = None
) -> tuple[tuple[int, ...], str, np.dtype, FileMetadata]:
    """Shape, axes, dtype and physical metadata of one series of a TIFF, from headers only.

    Parameters
    ----------
    path : pathlib.Path
        The TIFF file.
    metadata : bool
        Read the physical metadata; a label image or CTC frame needs none.
    scene : int or None
        The position to read (0-based) of a file of several (:func:`tiff_series_of_scene`);
        None: the first series, and the file must hold one position.

    Returns
    -------
    shape : tuple of int
        The series' shape (px along Y and X).
    axes : str
        One letter per axis of ``shape``.
    dtype : numpy.dtype
        The pixel type.
    meta : FileMetadata
        Pixel size (µm), frame interval (minutes), channel names; empty without ``metadata``.

    Raises
    ------
    MovieError
        Not a TIFF, a corrupt header, a file cut short (pages, image data or metadata past the end
        of the file), an OME-TIFF of several positions without ``scene``, a ``scene`` it does not
        have, or metadata in units cellpipe does not know.
    """
    if scene is not None:
        positions = _tiff_position_headers(str(path), _stamp(Path(path)), metadata)
        if not 0 <= scene < len(positions):
            raise MovieError(f"{path}: no position {scene}: the file holds {len(positions)} position(s) "
                             f"(0 to {len(positions) - 1})")
        return positions[scene][:4]

    def first_series(tif: tifffile.TiffFile) -> tuple[tuple[int, ...], str, np.dtype, FileMetadata]:
        index = tiff_series_of_scene(tif, path, scene)
        series = tif.series[index]
        _check_not_truncated(tif, path, series)
        _other_files_of(tif, path)
        shape, axes = _series_layout(series, bool(tif.is_ome or tif.is_imagej))
        return shape, axes, np.dtype(series.dtype), _tiff_metadata(tif, path, index) if metadata else FileMetadata()

    return _read_tiff_headers(Path(path), first_series)


def _read_tiff_headers(path: Path, read: Callable[[tifffile.TiffFile], _T]) -> _T:
    """``read`` of the TIFF at ``path`` opened (:func:`open_tiff`), its headers checked as they are parsed.

    Raises
    ------
    MovieError
        What ``read`` raises; anything else tifffile raises on a corrupt header, as not a readable
        TIFF; offsets past the end of the file that tifffile only logs (:class:`_TiffComplaints`), as
        truncated.
    """
    try:
        with _TiffComplaints() as complaints, open_tiff(path) as tif:
            result = read(tif)
    except MovieError:
        raise
    except Exception as exc:  # a corrupt header can make tifffile fail in many ways
        raise MovieError(f"{path}: not a readable TIFF ({_one_line(exc)})") from None
    if complaints.messages:
        raise MovieError(f"{path}: truncated or corrupt TIFF: offsets past the end of the file ({_one_line(complaints.messages[0])})")
    return result


@functools.lru_cache(maxsize=4)
def _tiff_position_headers(
    path_text: str, stamp: tuple[int, int, int], metadata: bool
) -> tuple[tuple[tuple[int, ...], str, np.dtype, FileMetadata, str | None], ...]:
    """Shape, axes, dtype, metadata and name of every position of a TIFF, from one read of its headers.

    Shape, axes, dtype, metadata (with ``metadata``) and name of every position of a TIFF
    (:func:`tiff_positions`), from one read of its headers, kept while the file's ``stamp`` (size, modification
    and change time) stays: the sample sheet check asks for each position of a file in turn, and tifffile parses
    every series (and an OME-TIFF's XML) at each opening, which would make a file of N positions cost N² series.
    """
    path = Path(path_text)

    def every_position(tif: tifffile.TiffFile) -> tuple[tuple[tuple[int, ...], str, np.dtype, FileMetadata, str | None], ...]:
        indices = tiff_positions(tif)
        series = [tif.series[i] for i in indices]
        _check_not_truncated(tif, path, *series)
        _other_files_of(tif, path)
        declared = bool(tif.is_ome or tif.is_imagej)
        if not metadata:
            metas = [FileMetadata()] * len(series)
        elif tif.is_ome and tif.ome_metadata:
            metas = [_with_micromanager(tif, m, i) for m, i in
                     zip(_ome_images_metadata(tif.ome_metadata, path, indices), indices, strict=True)]
        else:
            metas = [_tiff_metadata(tif, path, i) for i in indices]
        return tuple((*_series_layout(s, declared), np.dtype(s.dtype), meta, s.name or None)
                     for s, meta in zip(series, metas, strict=True))

    return _read_tiff_headers(path, every_position)


def tiff_positions(tif: tifffile.TiffFile) -> list[int]:
    """The positions of a TIFF: one unless it holds several movies of one kind.

    See :func:`_check_one_position` for what counts.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file.

    Returns
    -------
    list of int
        Indices in ``tif.series``, one per position; ``[0]`` for a file of one position.
    """
    kind = "ome" if tif.is_ome else "shaped" if tif.is_shaped else None
    if kind is None:
        return [0]
    first = tif.series[0]
    return [i for i, s in enumerate(tif.series) if s.kind == kind and s.axes == first.axes and s.dtype == first.dtype]


def tiff_series_of_scene(tif: tifffile.TiffFile, path: Path, scene: int | None) -> int:
    """The index in ``tif.series`` of one position of a TIFF.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file.
    path : pathlib.Path
        Its path, named in errors.
    scene : int or None
        The position (0-based); None: the file's only position.

    Returns
    -------
    int
        Index in ``tif.series``.

    Raises
    ------
    MovieError
        ``scene`` is not a position of the file, or None for a file of several positions.
    """
    if scene is None:
        _check_one_position(tif, path)
        return 0
    positions = tiff_positions(tif)
    if not 0 <= scene < len(positions):
        raise MovieError(f"{path}: no position {scene}: the file holds {len(positions)} position(s) "
                         f"(0 to {len(positions) - 1})")
    return positions[scene]


def _check_one_position(tif: tifffile.TiffFile, path: Path) -> None:
    """Refuse a TIFF holding several positions read without naming one: only its first would be read.

    Refuse a TIFF holding several movies of one kind (positions), read without naming one: only its first
    would be read.

    Microscopes write the positions (wells, fields) of a multi-position experiment as OME Images
    of one file, and tifffile (Python scripts) appends stacks to one file as "shaped" series; tifffile
    gives each as a series of its own.  Counted as positions are the OME (or tifffile-shaped) series
    with the first one's axes and pixel type.  Not counted: reduced-resolution levels (tifffile gives
    them as levels of their series, not as series), thumbnails, slide labels or overview images (other
    axes or pixel type), and anything in a plain or ImageJ TIFF (one series of a hyperstack, or a
    thumbnail page).  A sample sheet row reads them with a ``positions`` column, one sample per position.
    """
    series = tif.series
    positions = [series[i] for i in tiff_positions(tif)]
    if len(positions) < 2:
        return
    first = positions[0]
    of_all = f" of its {len(series)} series" if len(series) != len(positions) else ""
    if not tif.is_ome:
        raise MovieError(
            f"{path}: {len(positions)} image series of the same shape {tuple(first.shape)} in one file{of_all} (stacks "
            f"appended by tifffile); {POSITIONS_HINT}"
        )
    names = [s.name for s in positions if s.name]
    named = f" (OME images {', '.join(repr(n) for n in names)})" if names else ""
    raise MovieError(f"{path}: {len(positions)} positions{named} in one file{of_all}; {POSITIONS_HINT}")


def _check_ome_files(tif: tifffile.TiffFile, path: Path) -> None:
    """Refuse an OME-TIFF whose OME-XML puts planes in other files that are not beside it.

    Such files belong to a multi-file dataset, such as a Micro-Manager position split over ``..._1.ome.tif``;
    tifffile would read their planes as zeros.
    """
    xml = tif.ome_metadata if tif.is_ome else None
    if not xml or "FileName" not in xml:
        return
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return  # tifffile reads no OME series from it either
    names = {e.get("FileName", "") for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "UUID"} - {""}
    missing = sorted(name for name in names if not (path.parent / name).is_file())
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise MovieError(f"{path}: its OME-XML puts planes in {len(missing)} file(s) not in its folder ({shown}); "
                         "a multi-file OME-TIFF is read with all its files beside the first")


def _check_not_truncated(tif: tifffile.TiffFile, path: Path, *checked: tifffile.TiffPageSeries) -> None:
    """Refuse a TIFF whose series lack pages, whose data runs past the file's end, or whose other files are missing.

    Refuse a TIFF whose series (those ``checked``) lack pages or whose image data runs past the end of the file,
    or that names other files of its planes that are missing (:func:`_check_ome_files`).

    Only headers are read: every page's data offsets and byte counts, once, and the pages each series
    needs (a file cut short loses the pages, or the image data, after the cut).
    """
    _check_ome_files(tif, Path(path))
    size = os.path.getsize(path)
    end = max((int(s.dataoffset) + int(s.nbytes) for s in checked if s.dataoffset is not None), default=0)
    for page in tif.pages:  # the headers (IFDs) of every page; no pixels are read
        if page is None:
            continue
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            end = max(end, int(offset) + int(count))
    if end > size:
        raise MovieError(f"{path}: truncated or corrupt TIFF: its image data ends at byte {end} but the file has {size} bytes")
    for series in checked:
        if series.dataoffset is None:
            found = sum(int(np.prod(page.shape)) for page in series.pages if page is not None)
            if found < int(np.prod(series.shape)):
                raise MovieError(
                    f"{path}: truncated or corrupt TIFF: its pages hold {found} of the {int(np.prod(series.shape))} "
                    f"pixels of its {series.shape} image"
                )


def _series_layout(series: tifffile.TiffPageSeries, is_declared: bool) -> tuple[tuple[int, ...], str]:
    """Shape and axes of a TIFF series; a one-frame movie whose OME/ImageJ metadata declares T keeps its T.

    tifffile drops axes of length 1, so an OME-TIFF or ImageJ file of one (Y, X) frame, written as
    a time series, would look like a single 2-D image.
    """
    shape, axes = tuple(series.shape), series.axes
    if is_declared and len(shape) == 2 and "T" in series.get_axes(False):
        return (1, *shape), "T" + axes
    return shape, axes


def _default_axes(ndim: int, file_axes: str, axes: str | None) -> str:
    """The axes to read a TIFF with: the sample sheet's, else the file's, with cellpipe's defaults."""
    if axes:
        return axes
    if ndim == 3 and set(file_axes) <= set("IQTYX"):
        return "TYX"
    if ndim == 4 and file_axes.startswith(("IQ", "QQ", "II")):
        return "TCYX"  # an unlabelled 4-D stack: the documented default
    return file_axes


def _tiff_metadata(tif: tifffile.TiffFile, path: PathLike, series: int = 0) -> FileMetadata:
    """The metadata of series ``series``, completed from Micro-Manager's own metadata where the OME-XML lacks them.

    The metadata of series ``series``: an OME-TIFF's series are its OME Images, in order; what the OME-XML of a
    Micro-Manager file lacks is taken from Micro-Manager's own metadata (:func:`_with_micromanager`).
    """
    if tif.is_ome and tif.ome_metadata:
        return _with_micromanager(tif, _ome_metadata(tif.ome_metadata, path, series), series)
    if tif.is_imagej:
        return _imagej_metadata(tif, path)
    return _with_micromanager(tif, FileMetadata(), series)


MM_PIXEL_SIZE_KEYS = ("PixelSizeUm", "PixelSize_um")
"""Micro-Manager's keys of the pixel size (µm): Micro-Manager 2's canonical key and the Micro-Manager 1 name it still
reads (``PIXEL_SIZE_UM`` in mmstudio's ``org.micromanager.data.internal.PropertyKey``); found in the summary metadata
and in each image's metadata (the ``MicroManagerMetadata`` tag of its page)."""

MM_INTERVAL_KEYS = ("Interval_ms", "IntervalMs", "interval_ms", "WaitInterval")
"""Micro-Manager's keys of the set time between frames (ms) in the summary metadata (``INTERVAL_MS`` of the same
``PropertyKey``: the canonical key, then the older names it reads)."""


def _mm_number(found: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    """The first of ``keys`` in ``found`` holding a positive finite number (Micro-Manager writes 0 for unset)."""
    for key in keys:
        value = as_number(found.get(key), finite=True, positive=True)
        if value is not None:
            return value
    return None


MM_STAGE_KEYS = ("XPositionUm", "YPositionUm", "ZPositionUm")
"""Micro-Manager's keys of the stage's x, y (the XY stage) and z (the focus drive) position (µm) in each image's
metadata (``X_POSITION_UM``, ``Y_POSITION_UM``, ``Z_POSITION_UM`` of the same ``PropertyKey``)."""


def _mm_stage_position(image: Any) -> tuple[float | None, float | None, float | None] | None:
    """The stage's (x, y, z) position (µm) in one image's Micro-Manager metadata; None where it gives none.

    A coordinate may be 0 or negative; a value that is not a finite number is None for its axis.
    """
    if not isinstance(image, dict):
        return None
    position = tuple(as_number(image.get(key), finite=True) for key in MM_STAGE_KEYS)
    return None if all(v is None for v in position) else (position[0], position[1], position[2])


def _with_micromanager(tif: tifffile.TiffFile, meta: FileMetadata, series: int = 0) -> FileMetadata:
    """``meta`` completed from Micro-Manager's JSON metadata: pixel size (µm), frame interval (minutes), stage (µm).

    ``meta`` with what it lacks taken from a Micro-Manager file's own JSON metadata: the pixel size (µm, square
    pixels) from the summary (tifffile's ``micromanager_metadata``; keys :data:`MM_PIXEL_SIZE_KEYS`), else the first
    page's image metadata; the frame interval from the summary's set interval (:data:`MM_INTERVAL_KEYS`), which
    also replaces an interval the OME-XML gave only from its planes' times (``DeltaT``, which Micro-Manager writes
    from each image's ``ElapsedTime-ms``): a nominal interval is preferred to timestamps, as for vendor files; the
    stage position from the image metadata of the first page of series ``series`` (:data:`MM_STAGE_KEYS`), for an
    OME-XML whose planes give none or give it without a unit.  Otherwise what the OME-XML says wins; a file that is
    not Micro-Manager's is returned as it is.
    """
    from_timestamps = (meta.frame_interval_from or "").startswith("timestamps")
    if not tif.pages.first.is_micromanager or (
        meta.pixel_size_um is not None and meta.frame_interval_min is not None and not from_timestamps
        and meta.stage_position_um is not None
    ):
        return meta
    try:
        summary = (tif.micromanager_metadata or {}).get("Summary") or {}
    except Exception:  # Micro-Manager's header cut short or not JSON: the OME-XML's metadata stands
        summary = {}
    summary = summary if isinstance(summary, dict) else {}
    pixel_size = _mm_number(summary, MM_PIXEL_SIZE_KEYS)
    if pixel_size is None:
        image = tif.pages.first.tags.valueof(51123)  # MicroManagerMetadata: the first image's own metadata
        pixel_size = _mm_number(image, MM_PIXEL_SIZE_KEYS) if isinstance(image, dict) else None
    interval_ms = _mm_number(summary, MM_INTERVAL_KEYS)
    changes: dict[str, Any] = {}
    if meta.pixel_size_um is None and pixel_size is not None:
        changes.update(pixel_size_um=pixel_size, pixel_size_y_um=pixel_size)
    if (meta.frame_interval_min is None or from_timestamps) and interval_ms is not None:
        changes.update(frame_interval_min=interval_ms / 60000.0, frame_interval_from=None)
    if meta.stage_position_um is None:
        try:  # the series' first page: a file of several positions holds each one's pages in a run of its own
            stage = _mm_stage_position(tif.series[series].keyframe.tags.valueof(51123))
        except Exception:  # no such page or unreadable metadata: the position is information only
            stage = None
        if stage is not None:
            changes["stage_position_um"] = stage
    return dataclasses.replace(meta, **changes) if changes else meta


def inspect_tiff(path: PathLike, axes: str | None = None, allow_z: bool = False, scene: int | None = None) -> MovieHeader:
    """The (T, C, Y, X) shape, dtype and metadata of a (OME-)TIFF movie, from its headers only.

    Parameters
    ----------
    path : str or os.PathLike
        The TIFF file.
    axes : str or None
        The sample sheet's axes letters; None: the file's, with cellpipe's defaults.
    allow_z : bool
        Accept a movie of several z-planes (its ``z_planes``), to be projected.
    scene : int or None
        The position to read (0-based) of a file of several; None: the file must hold one.

    Returns
    -------
    MovieHeader
        Shape in frames, channels and px; pixel size (µm), frame interval (minutes).

    Raises
    ------
    MovieError
        Not a TIFF, truncated (image data past the end of the file), axes that do not make a
        time-lapse, or several z-planes without ``allow_z``.
    """
    path = Path(path)
    shape, file_axes, dtype, meta = open_tiff_header(path, scene=scene)
    use_axes = _default_axes(len(shape), file_axes, axes)
    t, c, z, y, x = tczyx_shape(shape, use_axes, path)
    if z != 1 and not allow_z:
        raise MovieError(z_stack_refusal(path, z))
    return MovieHeader((t, c, y, x), dtype, use_axes, meta.pixel_size_um, meta.frame_interval_min,
                       meta.channel_names, meta.pixel_size_y_um, z_planes=z, scene=scene,
                       scene_name=_tiff_scene_name(path, scene), pixel_size_z_um=meta.pixel_size_z_um,
                       stage_position_um=meta.stage_position_um, frame_interval_from=meta.frame_interval_from)


def _tiff_scene_name(path: Path, scene: int | None) -> str | None:
    """The name of position ``scene`` of a TIFF (its OME Image's ``Name``); None when unnamed or not asked."""
    if scene is None:
        return None
    return _tiff_position_headers(str(path), _stamp(path), True)[scene][4]


_OTHER_FILES: dict[tuple[str, tuple[int, int, int]], tuple[tuple[str, ...], ...] | None] = {}
"""What :func:`_other_files_of` found for each TIFF (path, stamp) whose headers were read (bounded; see there)."""


def _other_files_of(tif: tifffile.TiffFile, path: Path) -> tuple[tuple[str, ...], ...] | None:
    """Per position of an open TIFF: the other files holding planes of its series (a multi-file OME-TIFF's later files).

    Per position of an open TIFF (:func:`tiff_positions`): the other files holding planes of its series (a
    multi-file OME-TIFF's later files); None for a file that names no other file (no OME-XML, or one without
    ``FileName``), told from its first page alone.  Kept by path and stamp, so the header check, which has the file
    open, leaves the answer for the record of checked files and the checksum (:func:`movie_files`) without another
    opening.
    """
    path = Path(path)
    key = (os.path.realpath(path), _stamp(path))
    if key in _OTHER_FILES:
        return _OTHER_FILES[key]
    xml = tif.ome_metadata if tif.is_ome else None
    found: tuple[tuple[str, ...], ...] | None = None
    if xml and "FileName" in xml:
        by_position = []
        for index in tiff_positions(tif):
            files = {os.path.realpath(page.parent.filehandle.path) for page in tif.series[index].pages if page is not None}
            files.discard(key[0])
            by_position.append(tuple(sorted(files)))
        found = tuple(by_position)
    if len(_OTHER_FILES) >= 4096:  # a long-lived process reading many files: start again rather than grow
        _OTHER_FILES.clear()
    _OTHER_FILES[key] = found
    return found


def _tiff_files_by_position(path: Path) -> tuple[tuple[str, ...], ...] | None:
    """:func:`_other_files_of` the TIFF at ``path``.

    The headers are read only when they were not read since the file last changed.
    """
    key = (os.path.realpath(path), _stamp(path))
    if key in _OTHER_FILES:
        return _OTHER_FILES[key]
    return _read_tiff_headers(path, lambda tif: _other_files_of(tif, path))


def _tiff_series_files(path: Path, scene: int | None) -> list[Path]:
    """The TIFF at ``path`` and every other file holding planes of its series (of position ``scene``)."""
    positions = _tiff_files_by_position(path)
    if positions is None:  # its planes are all in it (which position it holds is the header check's question)
        return [path]
    if scene is None and len(positions) != 1:
        _read_tiff_headers(path, lambda tif: tiff_series_of_scene(tif, path, None))  # says why, naming the positions
    index = 0 if scene is None else scene
    if not 0 <= index < len(positions):
        raise MovieError(f"{path}: no position {index}: the file holds {len(positions)} position(s) "
                         f"(0 to {len(positions) - 1})")
    return [path, *(Path(f) for f in positions[index])]


def inspect_ctc_folder(path: PathLike) -> MovieHeader:
    """The (T, 1, Y, X) shape and dtype of a CTC folder of ``tNNN.tif`` frames, from the frames' headers only.

    Parameters
    ----------
    path : str or os.PathLike
        The CTC movie folder.

    Returns
    -------
    MovieHeader
        Shape in frames, channels and px; no physical metadata (CTC frames carry none cellpipe reads).

    Raises
    ------
    MovieError
        No frames, a gap in the numbering (frames must be 0..T-1), a frame that is not a readable
        2-D TIFF, or frames of different sizes or dtypes.
    """
    from cellpipe.io.ctc import _check_contiguous, frame_files

    folder = Path(path)
    try:
        files = frame_files(folder)
        if not files:
            raise ValueError(f"{folder}: no CTC frames (t000.tif, t001.tif, ...) found")
        _check_contiguous(folder, sorted(files), "frames tNNN.tif")
    except ValueError as exc:
        raise MovieError(str(exc)) from None
    first: MovieHeader | None = None
    first_name = ""
    for t in sorted(files):
        frame = files[t]
        header = _frame_header(frame)
        if first is None:
            first, first_name = header, frame.name
            continue
        if header.shape_tcyx[2:] != first.shape_tcyx[2:]:
            (h0, w0), (h, w) = first.shape_tcyx[2:], header.shape_tcyx[2:]
            raise MovieError(
                f"{folder}: frames of different sizes: {first_name} is {h0}x{w0} px, {frame.name} is {h}x{w} px"
            )
        if header.dtype != first.dtype:
            raise MovieError(
                f"{folder}: frames of different pixel types: {first_name} is {first.dtype}, {frame.name} is {header.dtype}"
            )
    assert first is not None
    _, c, y, x = first.shape_tcyx
    return MovieHeader((len(files), c, y, x), first.dtype, "TYX")


def _frame_header(path: Path) -> MovieHeader:
    """Header of one CTC frame: a readable, complete TIFF holding one (Y, X) image."""
    shape, _, dtype, _ = open_tiff_header(path, metadata=False)
    if len(shape) != 2:
        raise MovieError(f"{path}: frame has shape {shape}; a CTC frame is one 2-D image (Y, X)")
    return MovieHeader((1, 1, shape[0], shape[1]), dtype, "YX")


def content_uuid(data: np.ndarray, metadata: dict[str, object]) -> str:
    """A UUID derived from an array's dtype, shape and bytes and a metadata dict.

    Parameters
    ----------
    data : numpy.ndarray
        The pixels.
    metadata : dict
        JSON-serialisable metadata (others are taken as their ``str``).

    Returns
    -------
    str
        ``urn:uuid:...``; equal inputs give equal UUIDs.
    """
    array = np.ascontiguousarray(data)
    digest = hashlib.sha256()
    digest.update(json.dumps([str(array.dtype), list(array.shape), metadata], sort_keys=True, default=str).encode())
    digest.update(memoryview(array).cast("B"))
    return uuid.UUID(bytes=digest.digest()[:16], version=5).urn


def write_ome_tiff(
    path: PathLike,
    movie: np.ndarray,
    pixel_size_um: float,
    frame_interval_min: float,
    channel_names: list[str] | None = None,
    pixel_size_z_um: float | None = None,
) -> None:
    """Write a movie as a zlib-compressed OME-TIFF with its physical pixel size and frame interval.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced atomically).
    movie : numpy.ndarray
        (T, Y, X) or (T, C, Y, X) in frames, channels and px; with ``pixel_size_z_um``, (T, Z, Y, X)
        or (T, C, Z, Y, X) z-stacks.
    pixel_size_um : float
        Pixel size along x and y (µm).
    frame_interval_min : float
        Frame interval (minutes).
    channel_names : list of str or None
        Written as the OME Channel names when given.
    pixel_size_z_um : float or None
        Step between z-planes (µm), written as ``PhysicalSizeZ``; None: a movie without z.
    """
    from cellpipe.io.atomic import atomic_path

    if pixel_size_z_um is None:
        axes = "TYX" if movie.ndim == 3 else "TCYX"
    else:
        axes = "TZYX" if movie.ndim == 4 else "TCZYX"
    meta: dict[str, object] = {
        "axes": axes,
        "PhysicalSizeX": float(pixel_size_um),
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um),
        "PhysicalSizeYUnit": "µm",
        "TimeIncrement": float(frame_interval_min),
        "TimeIncrementUnit": "min",
    }
    if pixel_size_z_um is not None:
        meta.update(PhysicalSizeZ=float(pixel_size_z_um), PhysicalSizeZUnit="µm")
    if channel_names:
        meta["Channel"] = {"Name": list(channel_names)}
    # OME-XML names each file with a UUID; tifffile's default (uuid1: time and machine) would make
    # every write of the same movie differ. One derived from the pixels and metadata keeps equal
    # movies byte-identical and different ones apart.
    meta["UUID"] = content_uuid(movie, meta)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, movie, ome=True, metadata=meta, compression="zlib")
