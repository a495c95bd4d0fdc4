"""Vendor files (Zeiss CZI, Nikon ND2, Leica LIF), and a TIFF, OME-TIFF or OME-Zarr with ``ingest.reader: bioio``.

Each is read through its format's bioio plugin, imported only when such a file is read; a file's scenes are its
positions.  bioio leaves units to the file, so pixel sizes (µm) and the frame interval (minutes) are converted here.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cellpipe.io.movies.common import POSITIONS_HINT, MovieError, MovieHeader, MovieReader, _one_line, z_stack_refusal
from cellpipe.io.movies.ngff import _ngff_scene
from cellpipe.io.movies.tiff import _check_not_truncated, _read_tiff_headers, tiff_series_of_scene
from cellpipe.io.movies.units import IMAGEJ_LENGTH_TO_UM, NGFF_UNIT_SYMBOLS, OME_LENGTH_TO_UM, OME_TIME_TO_MIN


@dataclass(frozen=True)
class VendorFormat:
    """A microscope maker's file format, read through one of bioio's reader plugins."""

    name: str
    """As the user knows it, e.g. "Zeiss CZI"."""
    suffix: str
    """The file name's ending that tells it (lower case)."""
    package: str
    """The bioio plugin's package on PyPI, the one to install when it is missing."""
    module: str
    """The plugin's Python module, whose ``Reader`` reads the file."""


VENDOR_FORMATS: dict[str, VendorFormat] = {
    "czi": VendorFormat("Zeiss CZI", ".czi", "bioio-czi", "bioio_czi"),
    "nd2": VendorFormat("Nikon ND2", ".nd2", "bioio-nd2", "bioio_nd2"),
    "lif": VendorFormat("Leica LIF", ".lif", "bioio-lif", "bioio_lif"),
}
"""Vendor formats by their ``format`` value in the sample sheet. bioio's other plugins (OME-TIFF, TIFF,
OME-Zarr: :data:`BIOIO_PLUGINS`) cover formats cellpipe reads itself, frame by frame: a TIFF frame 15 times faster
than through bioio-ome-tiff (``python -m bench.vendor_read``), 20 times faster than through bioio-tifffile, and an
OME-Zarr frame 2.5 times faster than through bioio-ome-zarr (``python -m bench.bioio_read``), so those plugins read
only on request (``ingest.reader: bioio``)."""

BIOIO_PLUGINS: dict[str, VendorFormat] = {
    "tiff": VendorFormat("TIFF", ".tif", "bioio-tifffile", "bioio_tifffile"),
    "ome-tiff": VendorFormat("OME-TIFF", ".ome.tif", "bioio-ome-tiff", "bioio_ome_tiff"),
    "ome-zarr": VendorFormat("OME-Zarr", ".zarr", "bioio-ome-zarr", "bioio_ome_zarr"),
}
"""The bioio plugins that read the formats cellpipe also reads itself, used with ``ingest.reader: bioio``
(:data:`MovieReader`): the way out where cellpipe's faster reader misreads an unusual file."""

_BIOIO_READ = {**VENDOR_FORMATS, **BIOIO_PLUGINS}
"""Every format that can be read through a bioio plugin, by its ``format`` value."""

_BIOIO_DEFAULT_CHANNEL = re.compile(r"^Channel:\d+:\d+$")
"""The channel ids bioio makes up where a file names no channel (``Channel:<scene>:<channel>``): not the file's."""


def through_bioio(fmt: str, reader: MovieReader = "auto") -> bool:
    """Whether a movie of format ``fmt`` (not ``auto``) is read through its bioio plugin with ``ingest.reader``.

    Parameters
    ----------
    fmt : str
        The movie's format, as :func:`detect_format` gives it.
    reader : MovieReader
        The ``ingest.reader`` setting.

    Returns
    -------
    bool
        True for a CZI, ND2 or LIF file, and for a TIFF, OME-TIFF or OME-Zarr with ``reader`` ``bioio``.
    """
    return fmt in VENDOR_FORMATS or (reader == "bioio" and fmt in BIOIO_PLUGINS)


@dataclass(frozen=True)
class _VendorImage:
    """A vendor file opened through its bioio plugin (no pixel read) and what its metadata say."""

    header: MovieHeader
    data: Any
    """The pixels as bioio's lazy dask array, (T, C, Z, Y, X), one chunk per plane or per frame."""


_BIOIO_LOGGERS = ("bioio", "bioio_base", "bioio_czi", "bioio_nd2", "bioio_lif", "bioio_ome_tiff", "bioio_ome_zarr",
                  "bioio_tifffile", "xsdata", "ome_types")


@contextlib.contextmanager
def _quiet_bioio() -> Iterator[None]:
    """Silence the plugins' logging and warnings while they parse metadata.

    bioio-czi logs tracebacks (at ERROR) for metadata it cannot turn into OME (an empty acquisition mode, a scene
    name without an index), and xsdata warns on each: noise in the start-up output and job logs for fields
    cellpipe does not read.  What cellpipe needs is checked below and refused with one line of its own.
    """
    saved = {name: logging.getLogger(name).level for name in _BIOIO_LOGGERS}
    try:
        for name in _BIOIO_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _vendor_reader_class(path: Path, fmt: str) -> Any:
    """The bioio plugin's ``Reader`` for ``fmt``; a missing plugin is a :class:`MovieError` naming the package."""
    vendor = _BIOIO_READ[fmt]
    try:
        with _quiet_bioio():
            module = importlib.import_module(vendor.module)
    except ImportError as exc:
        raise MovieError(
            f"{path}: {'an' if vendor.name.startswith('O') else 'a'} {vendor.name} "
            f"{'image' if fmt == 'ome-zarr' else 'file'} is read through bioio's plugin {vendor.package}"
            f"{' (ingest.reader: bioio)' if fmt in BIOIO_PLUGINS else ''}, which is not installed "
            f"({_one_line(exc)}); install it: pip install -c requirements/constraints.txt {vendor.package}"
        ) from None
    return module.Reader


def _minutes(value: Any) -> float | None:
    """A bioio time (``datetime.timedelta``) in minutes; None when absent or not positive."""
    if value is None or not hasattr(value, "total_seconds"):
        return None
    minutes = value.total_seconds() / 60
    return minutes if np.isfinite(minutes) and minutes > 0 else None


def _positive(value: Any) -> float | None:
    """A bioio pixel size (µm), None when absent, zero (libCZI writes 0 for "not set") or not finite."""
    if value is None:
        return None
    size = float(value)
    return size if np.isfinite(size) and size > 0 else None


def _ome_frame_span_min(reader: Any, n_frames: int) -> float | None:
    """Minutes from the start of the first frame to the start of the last, from the OME planes' ``DeltaT``.

    A frame starts at its earliest plane.  None where the plugin gives no OME planes with times for the first and
    last frame.
    """
    try:
        planes = reader.ome_metadata.images[reader.current_scene_index].pixels.planes
    except Exception:  # no OME metadata from this plugin (NotImplementedError), or none it can build for this file
        return None
    starts: dict[int, float] = {}
    for plane in planes:
        unit = getattr(getattr(plane, "delta_t_unit", None), "value", None)
        factor = OME_TIME_TO_MIN.get(unit) if isinstance(unit, str) else None
        if plane.the_t is None or plane.delta_t is None or factor is None:
            continue
        starts[plane.the_t] = min(starts.get(plane.the_t, np.inf), float(plane.delta_t) * factor)
    if 0 not in starts or n_frames - 1 not in starts:
        return None
    span = starts[n_frames - 1] - starts[0]
    return span if np.isfinite(span) and span > 0 else None


def _vendor_interval(reader: Any, fmt: str, n_frames: int) -> tuple[float | None, str | None]:
    """The frame interval (minutes) of a vendor file and where it came from.

    The acquisition's nominal interval when the plugin reads one (bioio's ``time_interval``: ND2's time loop
    period); else the recorded acquisition times: (start of the last frame - start of the first) / (frames - 1).
    bioio-czi and bioio-lif give that span as ``total_time_duration`` (CZI's subblock acquisition times, LIF's
    TimeStampList); bioio-nd2 leaves it to bioio's OME-based default, which is the last frame's ``DeltaT`` counted
    from the acquisition's start, not from the first frame (NIS-Elements took the first plane of
    ``tests/data/cluster.nd2`` 0.445 s after its start, which made its 10.65 s interval 10.87 s), so an ND2's span
    is taken from its OME planes (:func:`_ome_frame_span_min`).  None when the file has neither, or has one frame.
    """
    if n_frames < 2:
        return None, None
    package = VENDOR_FORMATS[fmt].package
    with _quiet_bioio():
        try:
            nominal = _minutes(reader.time_interval)
        except Exception:  # a plugin that cannot parse its own time metadata: the file simply gives no interval
            nominal = None
        if nominal is not None:
            return nominal, f"nominal ({package} time_interval)"
        total = _ome_frame_span_min(reader, n_frames) if fmt == "nd2" else None
        if total is None:
            try:
                total = _minutes(reader.standard_metadata.total_time_duration)
            except Exception:
                total = None
    if total is None:
        return None, None
    return total / (n_frames - 1), f"timestamps ({package}: first to last frame over {n_frames - 1} intervals)"


def _czi_scene_count(path: Path) -> int:
    """Scenes in a CZI's subblock directory (libCZI), 0 when it cannot tell.

    bioio-czi reads a file whose XML metadata lists no scenes (libCZI's own writer lists none) as one scene: the
    others would be dropped without a word.
    """
    try:
        from pylibCZIrw import czi as pyczi

        with _quiet_bioio(), pyczi.open_czi(str(path)) as document:
            return len(document.scenes_bounding_rectangle)
    except Exception:  # unreadable here: bioio has already opened it, and its scene count stands
        return 0


def _czi_scene_size(path: Path, scene: int) -> dict[str, int]:
    """Y and X (px) of scene ``scene`` of a CZI, from libCZI's subblock directory.

    Y and X (px) of scene ``scene`` (0-based, in the order of its index) of a CZI, from libCZI's subblock
    directory.
    """
    from pylibCZIrw import czi as pyczi

    with _quiet_bioio(), pyczi.open_czi(str(path)) as document:
        rects = document.scenes_bounding_rectangle
        rect = rects[sorted(rects)[scene]]
    return {"Y": int(rect.h), "X": int(rect.w)}


def _libczi_planes(path: Path, header: MovieHeader, stack: contextlib.ExitStack) -> Callable[[int, int, int], np.ndarray] | None:
    """A reader of one CZI plane (frame, channel, z-plane; 0-based) through libCZI (pylibCZIrw) directly.

    The file is kept open in ``stack``.  None when libCZI's geometry of the file is not the one bioio-czi gave
    ``header`` (the caller then reads through bioio).

    libCZI is what bioio-czi reads with underneath; called directly it reads a frame in a fraction of the time
    (``python -m bench.vendor_read``), while bioio-czi still reads the metadata.
    """
    t_len, c_len, y_len, x_len = header.shape_tcyx
    try:
        from pylibCZIrw import czi as pyczi

        with _quiet_bioio():
            document = stack.enter_context(pyczi.open_czi(str(path)))
            box = document.total_bounding_box  # axis -> (first index, last + 1); X and Y in pixels
            scenes = document.scenes_bounding_rectangle
            if header.scene is not None:  # that scene's region only (the others lie beside it)
                roi = scenes[sorted(scenes)[header.scene]]
            else:
                roi = next(iter(scenes.values())) if len(scenes) == 1 else document.total_bounding_rectangle
            first = {axis: box[axis][0] if axis in box else 0 for axis in "TCZ"}
            sizes = {axis: box[axis][1] - box[axis][0] if axis in box else 1 for axis in "TCZ"}
            if (roi.h, roi.w) != (y_len, x_len) or sizes != {"T": t_len, "C": c_len, "Z": header.z_planes}:
                return None
            probe = document.read(plane=dict(first), roi=roi)
    except Exception:  # libCZI cannot read it as bioio-czi did: bioio's own path reads it
        return None
    if probe.shape != (y_len, x_len, 1) or probe.dtype != header.dtype:
        return None

    def read_plane(t: int, c: int, z: int) -> np.ndarray:
        plane = {"T": first["T"] + t, "C": first["C"] + c, "Z": first["Z"] + z}
        return document.read(plane=plane, roi=roi)[..., 0]

    return read_plane


def _bioio_scene(path: Path, fmt: str, scene: int | None) -> tuple[Path, int, str | None]:
    """Where a TIFF, OME-TIFF or OME-Zarr position lies for its bioio plugin, from cellpipe's reading of the headers.

    Positions are listed and named the same whichever reader reads the pixels (:func:`list_scenes`): an OME-Zarr
    position is its image group (of a bioformats2raw layout, plate or well), opened by the plugin as a plain image; a
    TIFF position is its series in the file, which the plugin calls a scene.  The same checks as cellpipe's reader
    come first: a file of several positions without ``scene``, a position the file does not hold, a truncated TIFF.

    Returns
    -------
    tuple
        The path to open with the plugin, the plugin's scene index in it, and the position's name (None unless a
        ``scene`` was asked for, or where the file names none).
    """
    if fmt == "ome-zarr":
        image, name = _ngff_scene(path, scene)
        return image, 0, name if scene is not None else None

    def series_of(tif: tifffile.TiffFile) -> tuple[int, str | None]:
        index = tiff_series_of_scene(tif, path, scene)
        _check_not_truncated(tif, path, tif.series[index])
        return index, (tif.series[index].name or None) if scene is not None else None

    index, name = _read_tiff_headers(path, series_of)
    return path, index, name


def _bioio_dim_order(axes: str) -> str:
    """The sample sheet's ``axes`` of a TIFF as bioio's dimension letters: tifffile's ``I`` and ``Q`` are T."""
    return axes.upper().replace("I", "T").replace("Q", "T")


def _bioio_length_um(value: Any, unit: Any, signed: bool = False) -> float | None:
    """A length a bioio plugin gives in ``unit`` (a pint unit or an OME unit symbol; None: bioio's µm), in µm.

    None where absent, not finite, or not positive unless ``signed`` (a stage position may be below 0).
    """
    if value is None or not np.isfinite(float(value)):
        return None
    size = float(value) if signed else _positive(value)
    if size is None:
        return None
    if unit is None:
        return size
    symbol = str(getattr(unit, "value", unit))
    factor = OME_LENGTH_TO_UM.get(NGFF_UNIT_SYMBOLS.get(symbol, symbol))
    return size * factor if factor is not None else None  # pixels, a reference frame: no physical size


def _bioio_ome_pixels(reader: Any) -> Any:
    """The OME ``Pixels`` of the scene a bioio reader is set to, from the plugin's OME metadata; None without them."""
    try:
        with _quiet_bioio():
            return reader.ome_metadata.images[reader.current_scene_index].pixels
    except Exception:  # a plugin without OME metadata (NotImplementedError), or none it can build for this file
        return None


def _bioio_own_metadata(reader: Any, fmt: str, n_frames: int, path: Path) -> tuple[dict[str, float | None], float | None, str | None,
                                                                        tuple[float | None, float | None, float | None] | None]:
    """Pixel sizes (µm), frame interval (minutes) and its source, stage position (µm), as a bioio plugin reads them.

    Pixel sizes by axis x, y, z; for a TIFF, OME-TIFF or OME-Zarr, converted from the file's units.
    bioio leaves units to the file (``physical_pixel_sizes`` of bioio-ome-tiff and bioio-ome-zarr are numbers in the
    file's unit: 650 nm is 650), so they are converted here: an OME-TIFF's with its OME ``PhysicalSize*Unit``, an
    OME-Zarr's with the plugin's ``dimension_properties`` units (an axis without a unit gives no size, as cellpipe's
    reader).  bioio-tifffile converts ImageJ units itself, but makes a size up where a TIFF has no calibration (1 µm
    from the resolution tags' default 1 pixel per unit, 353 µm from an image editor's 72 dpi), so a plain TIFF's
    pixel size is kept only where the file is an ImageJ TIFF calibrated in a length unit, as cellpipe's reader reads
    one.  The frame interval: an OME-TIFF's
    ``TimeIncrement`` in its unit, else the OME planes' ``DeltaT`` (first to last frame); an OME-Zarr's t scale in its
    unit; a plain TIFF's none (bioio-tifffile reads no ImageJ interval).  The stage position: an OME-TIFF's first
    plane's ``PositionX/Y/Z`` in their units; none for the others (NGFF and plain TIFF hold none).
    """
    package = BIOIO_PLUGINS[fmt].package
    with _quiet_bioio():
        sizes = reader.physical_pixel_sizes
        properties = reader.dimension_properties if fmt == "ome-zarr" else None
    pixels = _bioio_ome_pixels(reader) if fmt == "ome-tiff" else None
    calibrated = fmt == "tiff" and _read_tiff_headers(
        path, lambda tif: bool(tif.is_imagej) and str((tif.imagej_metadata or {}).get("unit", "")) in IMAGEJ_LENGTH_TO_UM)
    physical: dict[str, float | None] = {}
    for axis in "xyz":
        value = getattr(sizes, axis.upper())
        if fmt == "ome-zarr":
            unit = getattr(getattr(properties, axis.upper(), None), "unit", None)
            physical[axis] = _bioio_length_um(value, unit) if unit is not None else None
        elif pixels is not None:
            physical[axis] = _bioio_length_um(value, getattr(pixels, f"physical_size_{axis}_unit", None))
        else:
            physical[axis] = _positive(value) if calibrated else None
    interval: float | None = None
    interval_from: str | None = None
    stage = None
    if fmt == "ome-zarr" and n_frames > 1:
        unit = getattr(getattr(properties, "T", None), "unit", None)
        with _quiet_bioio():
            value = _positive(reader.time_interval) if unit is not None else None
        factor = OME_TIME_TO_MIN.get(NGFF_UNIT_SYMBOLS.get(str(unit), str(unit))) if value is not None else None
        interval = value * factor if value is not None and factor is not None else None
    if pixels is not None:
        increment = _positive(pixels.time_increment) if n_frames > 1 else None
        unit = getattr(pixels.time_increment_unit, "value", None)
        if increment is not None and unit in OME_TIME_TO_MIN:
            interval = increment * OME_TIME_TO_MIN[unit]
        elif n_frames > 1 and (span := _ome_frame_span_min(reader, n_frames)) is not None:
            interval = span / (n_frames - 1)
            interval_from = f"timestamps ({package}: OME Plane DeltaT, first to last frame over {n_frames - 1} intervals)"
        planes = [plane for plane in pixels.planes if plane.the_t == 0]
        if planes:
            first = min(planes, key=lambda plane: (plane.the_c or 0, plane.the_z or 0))
            position = tuple(
                _bioio_length_um(getattr(first, f"position_{axis}"), getattr(first, f"position_{axis}_unit"), signed=True)
                for axis in "xyz"
            )
            stage = position if any(v is not None for v in position) else None
    return physical, interval, interval_from, stage  # type: ignore[return-value]


def _bioio_ome_channel_names(reader: Any) -> list[str] | None:
    """An OME-TIFF's channel names as bioio-ome-tiff's OME metadata give them; None without OME metadata.

    A channel left unnamed is ``ch<i>``, as cellpipe's reader names it.
    """
    pixels = _bioio_ome_pixels(reader)
    if pixels is None:
        return None
    return [channel.name or f"ch{i}" for i, channel in enumerate(pixels.channels)]


def _vendor_image(path: Path, fmt: str, axes: str | None, allow_z: bool, scene: int | None = None) -> _VendorImage:
    """Open a file through its bioio plugin (:data:`VENDOR_FORMATS`, :data:`BIOIO_PLUGINS`) without reading a pixel.

    Its shape, pixel size (µm), frame interval (minutes), channel names, z-planes, and the lazy pixels.  A TIFF,
    OME-TIFF or OME-Zarr (``ingest.reader: bioio``) has its position found as cellpipe's reader finds it
    (:func:`_bioio_scene`), and its metadata converted from the file's units (:func:`_bioio_own_metadata`).

    Raises
    ------
    MovieError
        The plugin is not installed; the plugin cannot open the file (cut short, corrupt, not that
        format); several scenes (positions) without ``scene``, or a ``scene`` it does not have; axes
        other than T, C, Z, Y, X of more than one (RGB samples, mosaic tiles); several z-planes
        without ``allow_z``; an ``axes`` given (the file names its own; a plain TIFF's are given to bioio-tifffile).
    """
    vendor = _BIOIO_READ[fmt]
    own = fmt in BIOIO_PLUGINS  # a format cellpipe reads too, read here through its plugin
    if axes and fmt != "tiff":
        raise MovieError(f"{path}: the sample sheet gives axes {axes!r}, but a {vendor.name} file names its own axes "
                         "(leave the axes column empty)")
    opened, own_scene, own_name = _bioio_scene(path, fmt, scene) if own else (path, 0, None)
    reader_class = _vendor_reader_class(path, fmt)
    options = {"dim_order": _bioio_dim_order(axes)} if axes else {}
    try:
        with _quiet_bioio():
            reader = reader_class(str(opened), **options)
            scenes = [str(s) for s in reader.scenes]
            if own and own_scene:
                reader.set_scene(own_scene)
            dims = dict(zip(reader.dims.order, (int(n) for n in reader.dims.shape), strict=True))
    except Exception as exc:  # each plugin (and the C++ library under it) fails in its own way on a broken file
        raise MovieError(f"{path}: not a readable {vendor.name} file ({vendor.package}: {_one_line(exc)})") from None
    n_scenes = 1 if own else max(len(scenes), _czi_scene_count(path) if fmt == "czi" else 0)
    if scene is None and n_scenes > 1:
        named = f" ({', '.join(repr(s) for s in scenes)})" if len(scenes) == n_scenes else ""
        raise MovieError(f"{path}: {n_scenes} scenes (positions){named} in one {vendor.name} file; {POSITIONS_HINT}")
    scene_name = own_name
    if scene is not None and not own:
        if not 0 <= scene < n_scenes:
            raise MovieError(f"{path}: no scene {scene}: the {vendor.name} file holds {n_scenes} scene(s) "
                             f"(0 to {n_scenes - 1})")
        if len(scenes) == n_scenes:  # the plugin knows the scenes: its metadata and pixels are that scene's
            scene_name = scenes[scene]
            try:
                with _quiet_bioio():
                    reader.set_scene(scene)
                    dims = dict(zip(reader.dims.order, (int(n) for n in reader.dims.shape), strict=True))
            except Exception as exc:
                raise MovieError(f"{path}: scene {scene} of the {vendor.name} file is not readable "
                                 f"({vendor.package}: {_one_line(exc)})") from None
        else:  # scenes in libCZI's subblock directory only: the scene's own region, from libCZI
            dims.update(_czi_scene_size(path, scene))
    other = {axis: n for axis, n in dims.items() if axis not in "TCZYX" and n != 1}
    if other:
        found = ", ".join(f"{axis}={n}" for axis, n in other.items())
        raise MovieError(f"{path}: {vendor.name} axes besides T, C, Z, Y, X ({found}: RGB samples or mosaic tiles); "
                         "cellpipe reads grey-level time-lapses of one tile")
    t, c, z, y, x = (dims.get(axis, 1) for axis in "TCZYX")
    if z != 1 and not allow_z:
        raise MovieError(z_stack_refusal(path, z))
    with _quiet_bioio():
        sizes = reader.physical_pixel_sizes  # µm for the vendor plugins; the file's unit for some (below)
        names = [str(name) for name in (reader.channel_names or [])]
        data = reader.get_image_dask_data("TCZYX")
    if own:
        physical, interval, interval_from, stage = _bioio_own_metadata(reader, fmt, t, path)
        pixel_x, pixel_y, pixel_z = physical["x"], physical["y"], physical["z"]
        from_ome = _bioio_ome_channel_names(reader) if fmt == "ome-tiff" else None
        # ids bioio makes up for channels the file does not name are no names
        names = from_ome if from_ome is not None else [name for name in names if not _BIOIO_DEFAULT_CHANNEL.match(name)]
    else:
        pixel_x, pixel_y, pixel_z = _positive(sizes.X), _positive(sizes.Y), _positive(sizes.Z)
        interval, interval_from = _vendor_interval(reader, fmt, t)
        # the plugin's metadata are of the scene read only where it knows the scenes
        stage = _vendor_stage_position(reader) if len(scenes) == n_scenes else None
    # names that do not name every channel once are no names (the sheet's, or ch0, ch1, ...)
    channel_names = tuple(names) if len(names) == c and all(names) and len(set(names)) == c else ()
    header = MovieHeader((t, c, y, x), np.dtype(data.dtype), "TCZYX", pixel_x or pixel_y, interval, channel_names,
                         pixel_y or pixel_x, z_planes=z, frame_interval_from=interval_from, scene=scene,
                         scene_name=scene_name or None, pixel_size_z_um=pixel_z, stage_position_um=stage,
                         reader=vendor.package)
    return _VendorImage(header, data)


def _vendor_stage_position(reader: Any) -> tuple[float | None, float | None, None] | None:
    """The stage's (x, y) position (µm) of the scene a bioio reader is set to, from its standard metadata.

    The standard metadata are ``stage_position_x/y`` (µm): bioio-czi gives the scene's ``CenterPosition``, the
    centre of the scene rather than its first plane; bioio-nd2 the position's stage XY; bioio-lif none.  z is
    None (bioio gives none).  None where the plugin gives neither or its metadata cannot be read: the position
    is information only.
    """
    try:
        with _quiet_bioio():
            meta = reader.standard_metadata
        xy = (getattr(meta, "stage_position_x", None), getattr(meta, "stage_position_y", None))
    except Exception:  # each plugin fails in its own way on metadata it does not expect
        return None
    x, y = (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None
            for v in xy)
    return None if x is None and y is None else (x, y, None)
