"""Reading raw movies of every supported format into (T, C, Y, X).

Reading raw movies (TIFF stacks, OME-TIFF (multi-file too), Micro-Manager dataset folders, CTC folders, OME-Zarr
images, and Zeiss CZI, Nikon ND2 and Leica LIF files through bioio's reader plugins) into (T, C, Y, X).

The physical metadata found in the file (pixel size in µm, frame interval in
minutes, channel names) is returned with the pixels so the ingest step can
combine it with what the sample sheet says.

:func:`inspect_movie` answers the same questions from the file headers alone
(shape in (T, C, Y, X), dtype, metadata) without reading a pixel, so the
sample sheet can be checked before any job runs: a missing, truncated or
non-TIFF file, axes that do not make a 2D time-lapse, a CTC folder with a gap
or frames of different sizes, an OME-TIFF holding several positions, metadata
in a unit it does not know (every OME length and time unit converts), an
OME-Zarr folder that is no NGFF 0.4 / 0.5 image (no ``multiscales``, another
version, no axes, a missing level), a vendor file whose bioio plugin is not installed, that the plugin cannot
open (cut short, corrupt) or that holds several scenes (positions) when no ``scene`` is named.

A file of several positions (an OME-TIFF's OME Images, a CZI, ND2 or LIF file's scenes, the images of an OME-Zarr
bioformats2raw layout, the fields of an OME-Zarr plate's wells or of one well, the position files of a Micro-Manager
folder) is listed with :func:`list_scenes`,
and one position is read by passing its 0-based index as ``scene`` to :func:`inspect_movie`, :func:`open_movie` or
:func:`read_movie`: that position only, with its own size, pixel size, channel names and name.

Every function that reads a movie takes ``reader`` (``ingest.reader``, :data:`MovieReader`): ``bioio`` reads a TIFF,
OME-TIFF or OME-Zarr through its bioio plugin (:data:`BIOIO_PLUGINS`) as a vendor file is read, after the same
header checks; positions are listed by cellpipe's header reading either way.

A movie with a Z axis of several planes is refused unless the caller allows it
(``allow_z``, from ``ingest.z_projection``); :func:`open_movie` then reads one
(Z, Y, X) stack of one frame and channel at a time for ingest to project.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import io
import json
import logging
import operator
import os
import re
import struct
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import tifffile

from cellpipe.numbers import as_number

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
_T = TypeVar("_T")
MovieFormat = Literal["auto", "tiff", "ome-tiff", "ctc", "ome-zarr", "czi", "nd2", "lif", "micromanager"]
MovieReader = Literal["auto", "cellpipe", "bioio"]
"""Which reader reads a TIFF, OME-TIFF or OME-Zarr (``ingest.reader``): ``auto`` and ``cellpipe`` cellpipe's own,
``bioio`` the format's bioio plugin (:data:`BIOIO_PLUGINS`).  CZI, ND2 and LIF files are read through their plugin
whatever the setting, and a CTC folder or a Micro-Manager dataset folder by cellpipe (no plugin reads them)."""

_SI_PREFIXES = {"y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "µ": 1e-6, "m": 1e-3,
                "c": 1e-2, "d": 1e-1, "": 1.0, "da": 1e1, "h": 1e2, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "P": 1e15, "E": 1e18, "Z": 1e21, "Y": 1e24}
_INCH_UM = 25400.0

# Micrometres per unit for every length unit of the OME schema (UnitsLength), smallest first: every
# OME unit that is a length converts, and any other name is refused, naming it (_in_unit). OME's 'pixel' and 'reference
# frame' are not lengths: a size in them is no physical pixel size (None).
OME_LENGTH_TO_UM: dict[str, float] = dict(
    sorted(
        {
            **{f"{prefix}m": factor * 1e6 for prefix, factor in _SI_PREFIXES.items()},
            "Å": 1e-4, "thou": _INCH_UM / 1000, "li": _INCH_UM / 12, "pt": _INCH_UM / 72, "in": _INCH_UM,
            "ft": 12 * _INCH_UM, "yd": 36 * _INCH_UM, "mi": 63360 * _INCH_UM, "ua": 1.495978707e17,
            "ly": 9.4607304725808e21, "pc": 3.0856775814913673e22,
        }.items(),
        key=lambda item: item[1],
    )
)
# Minutes per unit for every time unit of the OME schema (UnitsTime), smallest first.
OME_TIME_TO_MIN: dict[str, float] = dict(
    sorted(
        {**{f"{prefix}s": factor / 60 for prefix, factor in _SI_PREFIXES.items()}, "min": 1.0, "h": 60.0, "d": 1440.0}.items(),
        key=lambda item: item[1],
    )
)
# ImageJ stores its calibration units as free text (Image > Properties); these are the spellings
# ImageJ itself writes ('micron', '\\u00B5m' escaped in the description, 'sec', 'hr', 'usec') and the
# usual abbreviations. 'pixel' (ImageJ's uncalibrated default) means no physical size, and so do
# 'inch' and 'cm' (_IMAGEJ_PRINT_UNITS).
IMAGEJ_LENGTH_TO_UM: dict[str, float] = {
    "micron": 1.0, "microns": 1.0, "um": 1.0, "µm": 1.0, "\\u00B5m": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "m": 1e6, "Å": 1e-4,
}
_IMAGEJ_PRINT_UNITS = ("inch", "in", "cm")
"""ImageJ units that are a print resolution, not a microscope's calibration: ImageJ takes them from
a TIFF's dots per inch or cm (72 dpi from any image editor would be a 353 µm pixel), so they give
no pixel size (the sheet's pixel_size_um is then needed)."""
IMAGEJ_TIME_TO_MIN: dict[str, float] = {
    "\\u00B5s": 1 / 6e7, "µs": 1 / 6e7, "us": 1 / 6e7, "usec": 1 / 6e7, "ms": 1 / 6e4, "msec": 1 / 6e4,
    "s": 1 / 60, "sec": 1 / 60, "second": 1 / 60, "seconds": 1 / 60, "min": 1.0, "minute": 1.0, "minutes": 1.0,
    "h": 60.0, "hr": 60.0, "hour": 60.0, "hours": 60.0, "d": 1440.0, "day": 1440.0, "days": 1440.0,
}
_NO_LENGTH = ("pixel", "pixels", "reference frame", "")
"""Units (OME, ImageJ) meaning the file gives no physical pixel size."""
_MICRO_SIGNS = ("μ", "u00B5", "u00b5")
"""The Greek small mu (U+03BC), often typed for the micro sign (U+00B5) OME uses, and a lower-case escape."""
_ZARR_MARKERS = (".zattrs", ".zgroup", ".zarray", "zarr.json")
"""Files at the top of a Zarr v2 (.zattrs, .zgroup, .zarray) or v3 (zarr.json) folder."""
NGFF_VERSIONS = ("0.4", "0.5")
"""OME-Zarr (NGFF) versions read as movies: 0.4 (Zarr v2, metadata in ``.zattrs``) and 0.5 (Zarr v3,
metadata under ``ome`` in ``zarr.json``)."""
_NGFF_PREFIXES = {"yocto": "y", "zepto": "z", "atto": "a", "femto": "f", "pico": "p", "nano": "n", "micro": "µ",
                  "milli": "m", "centi": "c", "deci": "d", "": "", "deca": "da", "hecto": "h", "kilo": "k", "mega": "M",
                  "giga": "G", "tera": "T", "peta": "P", "exa": "E", "zetta": "Z", "yotta": "Y"}
NGFF_UNIT_SYMBOLS: dict[str, str] = {
    **{f"{prefix}meter": f"{symbol}m" for prefix, symbol in _NGFF_PREFIXES.items()},
    **{f"{prefix}second": f"{symbol}s" for prefix, symbol in _NGFF_PREFIXES.items()},
    "angstrom": "Å", "inch": "in", "foot": "ft", "yard": "yd", "mile": "mi", "parsec": "pc",
    "minute": "min", "hour": "h", "day": "d",
}
"""NGFF's unit names (UDUNITS-2, as ome-zarr-py and napari write them) -> the OME symbols of
:data:`OME_LENGTH_TO_UM` and :data:`OME_TIME_TO_MIN`; a symbol written instead ('µm', 'min') converts too."""



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


POSITIONS_HINT = ("read them with a 'positions' column in its sample sheet row ('all', or a list of positions "
                  "such as 0,2 or their names): one sample per position")
"""How a file of several positions is read, said where one is read without naming a position."""


class MovieError(ValueError):
    """A movie that cannot be read as a time-lapse; the message names the file and the problem."""


@dataclass
class RawMovie:
    """Pixels in (T, C, Y, X) order with whatever metadata the file carried.

    Fields without a note of their own:

    Attributes
    ----------
    data : numpy.ndarray or LazyMovie
        (T, C, Y, X) pixels: a :class:`LazyMovie` inside :func:`open_movie`, an array from
        :func:`read_movie`.
    source_axes : str
        The axes the file's array was read with (e.g. ``"TCYX"``, ``"TZYX"``).
    pixel_size_um : float or None
        The file's pixel size along x (µm); None when it gives none.
    frame_interval_min : float or None
        The file's frame interval (minutes); None when it gives none.
    channel_names : list of str
        The file's channel names; empty when it gives none.
    """

    data: np.ndarray | LazyMovie
    source_axes: str
    pixel_size_um: float | None = None
    frame_interval_min: float | None = None
    channel_names: list[str] = field(default_factory=list)
    pixel_size_y_um: float | None = None
    """The file's pixel size along y (µm); the same as ``pixel_size_um`` (x) unless the pixels are not square."""
    frame_interval_from: str | None = None
    """As :attr:`MovieHeader.frame_interval_from`: how a vendor file's frame interval was found."""
    scene: int | None = None
    """As :attr:`MovieHeader.scene`: the position read (0-based), when one was asked for."""
    scene_name: str | None = None
    """As :attr:`MovieHeader.scene_name`."""
    source_checksum: Callable[[], dict[str, Any]] | None = None
    """Inside :func:`open_movie` with ``checksum``: the sha256 of the bytes the pixels were read from, described as
    :func:`cellpipe.io.checksums.describe_files` describes the files the movie reads (``type, bytes, sha256``, a folder's
    ``files`` too), to call once every frame has been read.  Raises :class:`MovieError` when the file
    changed while it was read or a frame was not read.  None for an array from :func:`read_movie`."""
    pixel_size_z_um: float | None = None
    """As :attr:`MovieHeader.pixel_size_z_um`."""
    stage_position_um: tuple[float | None, float | None, float | None] | None = None
    """As :attr:`MovieHeader.stage_position_um`."""
    reader: str = "cellpipe"
    """As :attr:`MovieHeader.reader`."""


@dataclass(frozen=True)
class MovieHeader:
    """What a movie's headers say, read without its pixels.

    Fields without a note of their own (None / empty where the file says nothing):

    Attributes
    ----------
    shape_tcyx : tuple of int
        The shape :func:`read_movie` will return, (T, C, Y, X) in frames, channels and px; for a
        z-stack movie, the shape once each stack is projected to one plane (``z_planes`` planes per
        stack).
    dtype : numpy.dtype
        The pixel type.
    source_axes : str
        The axes the file's array is read with.
    pixel_size_um : float or None
        Pixel size along x (µm).
    frame_interval_min : float or None
        Frame interval (minutes).
    channel_names : tuple of str
        The file's channel names.
    pixel_size_y_um : float or None
        Pixel size along y (µm); equal to x when the file gives x only.
    """

    shape_tcyx: tuple[int, int, int, int]
    dtype: np.dtype
    source_axes: str
    pixel_size_um: float | None = None
    frame_interval_min: float | None = None
    channel_names: tuple[str, ...] = ()
    pixel_size_y_um: float | None = None
    z_planes: int = 1
    """Planes per z-stack (1: a 2-D movie); more only when read with ``allow_z``."""
    frame_interval_from: str | None = None
    """Where ``frame_interval_min`` was read from in the file: for a vendor file ``nominal (...)`` (the
    acquisition's set interval) or ``timestamps (...)`` (the mean step between the recorded times of the first and
    last frame); for an OME-TIFF without ``TimeIncrement``, ``timestamps (OME Plane DeltaT: ...)``
    (:func:`_ome_timestamps_interval`); None where the format's one interval field gives it (OME
    ``TimeIncrement``, ImageJ ``finterval``, an OME-Zarr's t scale, Micro-Manager's ``Interval_ms``)."""
    scene: int | None = None
    """The scene (position) read, 0-based, when one was asked for (a file of several positions); else None."""
    scene_name: str | None = None
    """That scene's own name in the file (an OME Image's ``Name``, a vendor scene's name); None when unnamed."""
    pixel_size_z_um: float | None = None
    """The step between z-planes (µm) the file gives (OME ``PhysicalSizeZ``, an OME-Zarr's z scale, a vendor file's
    z pixel size, ImageJ's ``spacing``); None when it gives none.  Information only: a z-stack is projected to one
    plane, and ingest records it with the projection."""
    stage_position_um: tuple[float | None, float | None, float | None] | None = None
    """The microscope stage's (x, y, z) position (µm) of the position read, from the first plane of its series (OME
    ``Plane`` ``PositionX/Y/Z``; a Micro-Manager file's first image JSON where its OME-XML gives none; a vendor
    scene's x and y through bioio, :func:`_vendor_stage_position`); an axis the file leaves out (or gives in a unit
    that is not a length) is None, and the whole is None when the file gives no stage position.  Information only:
    ingest records it."""
    reader: str = "cellpipe"
    """What read the file: ``cellpipe`` (its own TIFF, OME-Zarr and CTC readers) or the bioio plugin's package
    (``bioio-ome-tiff``, ``bioio-czi``, ...: :func:`through_bioio` tells which)."""


@dataclass(frozen=True)
class FileMetadata:
    """The physical metadata of one series of a TIFF; None / empty where the file does not say.

    Attributes
    ----------
    pixel_size_um : float or None
        Pixel size along x (µm).
    pixel_size_y_um : float or None
        Pixel size along y (µm).
    frame_interval_min : float or None
        Frame interval (minutes).
    channel_names : tuple of str
        Channel names.
    """

    pixel_size_um: float | None = None
    pixel_size_y_um: float | None = None
    frame_interval_min: float | None = None
    channel_names: tuple[str, ...] = ()
    pixel_size_z_um: float | None = None
    """The step between z-planes (µm)."""
    stage_position_um: tuple[float | None, float | None, float | None] | None = None
    """As :attr:`MovieHeader.stage_position_um`."""
    frame_interval_from: str | None = None
    """As :attr:`MovieHeader.frame_interval_from`: ``timestamps (...)`` where the interval came from the planes'
    recorded times (OME ``Plane`` ``DeltaT``), else None (the format's interval field, ``TimeIncrement``)."""


_MM_FILE = re.compile(r"^(?P<prefix>.+)_MMStack_(?P<label>.+)\.ome\.tiff?$", re.IGNORECASE)
"""A file of a Micro-Manager 2 dataset: ``<prefix>_MMStack_<position label>.ome.tif``; a position's series continues
in ``<prefix>_MMStack_<label>_1.ome.tif``, ``_2``, ... (Micro-Manager starts a new file at 4 GB)."""
_MM_CONTINUATION = re.compile(r"^(?P<first>.+)_\d+(?P<ending>\.ome\.tiff?)$", re.IGNORECASE)


def _natural_key(text: str) -> list[object]:
    """Sorts ``Pos2`` before ``Pos10``: runs of digits compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)]


def mm_positions(folder: Path) -> list[tuple[Path, str]]:
    """The positions of a Micro-Manager dataset folder, from its listing only.

    One position per ``<prefix>_MMStack_<label>.ome.tif`` file that is the first of its position: a
    file whose name less a ``_<n>`` before ``.ome.tif`` is in the folder too is a later part of that
    position's series, read through the first file's OME-XML.

    Parameters
    ----------
    folder : pathlib.Path
        The dataset folder.

    Returns
    -------
    list of (pathlib.Path, str)
        (first file, label) per position, in the labels' natural order (``Pos2`` before ``Pos10``).

    Raises
    ------
    MovieError
        No such file in the folder, or files of several acquisitions (prefixes) in it.
    """
    found = {f.name: match for f in folder.iterdir() if (match := _MM_FILE.match(f.name)) and f.is_file()}
    firsts = []
    for name, match in found.items():
        later = _MM_CONTINUATION.match(name)
        if later and f"{later['first']}{later['ending']}" in found:
            continue
        firsts.append(match)
    if not firsts:
        raise MovieError(f"{folder}: no Micro-Manager files (<prefix>_MMStack_<position>.ome.tif) in the folder")
    prefixes = sorted({m["prefix"] for m in firsts})
    if len(prefixes) > 1:
        raise MovieError(f"{folder}: Micro-Manager files of {len(prefixes)} acquisitions ({', '.join(map(repr, prefixes))}) "
                         "in one folder; give each acquisition a folder of its own")
    firsts.sort(key=lambda m: _natural_key(m["label"]))
    return [(folder / m.string, m["label"]) for m in firsts]


def _mm_position_file(folder: Path, scene: int | None) -> tuple[Path, str, int | None]:
    """The file of a position of a Micro-Manager folder, its label, and the position in that file to read.

    The file of position ``scene`` (0-based; None: the dataset's only position) of a Micro-Manager folder
    (:func:`mm_positions`), its label, and the position in that file to read it as (``scene`` of
    :func:`inspect_tiff`): None when the file's OME-XML describes one position, else the OME Image whose first
    plane lies in that file (Micro-Manager may describe every position of the dataset in each file's OME-XML).
    """
    positions = mm_positions(folder)
    if scene is None:
        if len(positions) != 1:
            labels = ", ".join(repr(label) for _, label in positions[:10]) + (", ..." if len(positions) > 10 else "")
            raise MovieError(f"{folder}: {len(positions)} Micro-Manager positions ({labels}) in one dataset folder; "
                             f"{POSITIONS_HINT}")
        scene = 0
    if not 0 <= scene < len(positions):
        raise MovieError(f"{folder}: no position {scene}: the Micro-Manager dataset holds {len(positions)} position(s) "
                         f"(0 to {len(positions) - 1})")
    file, label = positions[scene]

    def stored_here(tif: tifffile.TiffFile) -> tuple[int, list[int]]:
        """Positions the file's OME-XML describes, and those whose first plane is stored in this file."""
        indices = tiff_positions(tif)
        own = [k for k, i in enumerate(indices)
               if (first := next((page for page in tif.series[i].pages if page is not None), None)) is not None
               and first.parent is tif]
        return len(indices), own

    n_positions, own = _read_tiff_headers(file, stored_here)
    if n_positions < 2:
        return file, label, None
    if len(own) != 1:
        raise MovieError(f"{file}: its OME-XML describes {n_positions} positions, {len(own)} of them stored in this "
                         f"file: cannot tell which is position {label!r}")
    return file, label, own[0]


_FORMAT_NAMES = {"tiff": "TIFF", "ome-tiff": "TIFF", **{fmt: vendor.name for fmt, vendor in VENDOR_FORMATS.items()}}
"""How a file format is named in a message; OME-TIFF is a TIFF by its bytes."""


def content_format(path: PathLike) -> str | None:
    r"""The format a file's first bytes announce, or None when they announce none of those cellpipe reads.

    The signatures are the ones the readers themselves check: a TIFF's byte order and version (``II*\0``,
    ``MM\0*``, BigTIFF ``II+\0``, ``MM\0+``), a CZI's first segment id ``ZISRAWFILE``, an ND2's header
    magic (0x0ABECEDA little-endian, or the JPEG 2000 box of a legacy ND2, as the nd2 package tells them) and a
    LIF's 0x70 header id with its 0x2A marker at byte 8 (as liffile checks).

    Parameters
    ----------
    path : str or os.PathLike
        A file.

    Returns
    -------
    str or None
        ``tiff`` (OME-TIFF included), ``czi``, ``nd2`` or ``lif``; None for other bytes, a file too short to
        tell, or one that cannot be read (its reader then says why).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    if head.startswith(b"ZISRAWFILE"):
        return "czi"
    if head[:4] == b"\xda\xce\xbe\n" or head[:12] == b"\0\0\0\x0cjP  \r\n\x87\n":
        return "nd2"
    if head[:4] == b"\x70\0\0\0" and head[8:9] == b"\x2a":
        return "lif"
    return None


def detect_format(path: PathLike) -> MovieFormat:
    """Guess a movie's format from its path, checked against a file's first bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The movie's file or folder.

    Returns
    -------
    MovieFormat
        ``ome-zarr`` for a folder holding Zarr metadata (``.zattrs``, ``zarr.json``, ...) or named
        ``.zarr``; ``micromanager`` for a folder holding ``<prefix>_MMStack_<position>.ome.tif``
        files; ``ctc`` for another folder; ``ome-tiff`` for ``.ome.tif(f)``, ``tiff`` for ``.tif(f)``;
        ``czi``, ``nd2``, ``lif`` for those endings.

    Raises
    ------
    MovieError
        For a file whose first bytes are another format's than its name's (:func:`content_format`), e.g. a
        CZI named ``.tif``: one line naming the file and both formats.  The file is not read as either: a
        name that lies may come from a mix-up upstream (a wrong file copied under a sample's name), which a
        person should look at before a run is built on it.  Bytes that announce no known format are left to
        the name's reader, whose error says what is wrong with them.
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith(".zarr") or (p.is_dir() and any((p / marker).exists() for marker in _ZARR_MARKERS)):
        return "ome-zarr"
    if p.is_dir():
        return "micromanager" if any(_MM_FILE.match(f.name) for f in p.iterdir()) else "ctc"
    by_name: str | None = None
    if name.endswith((".ome.tif", ".ome.tiff")):
        by_name = "ome-tiff"
    elif name.endswith((".tif", ".tiff")):
        by_name = "tiff"
    else:
        by_name = next((fmt for fmt, vendor in VENDOR_FORMATS.items() if name.endswith(vendor.suffix)), None)
    by_content = content_format(p)
    if by_name is None:
        also = f"; its first bytes are a {_FORMAT_NAMES[by_content]} file's" if by_content else ""
        raise MovieError(f"{p}: cannot tell the movie format from the name (expected a CTC folder, .tif, .tiff, "
                         f".ome.tif, .ome.zarr, .czi, .nd2, .lif){also}")
    if by_content is not None and _FORMAT_NAMES[by_content] != _FORMAT_NAMES[by_name]:
        raise MovieError(f"{p}: named as a {_FORMAT_NAMES[by_name]} file but its first bytes are a "
                         f"{_FORMAT_NAMES[by_content]} file's: rename it (or set the sample sheet's format) after "
                         "checking it is the right movie")
    return by_name  # type: ignore[return-value]


Z_PROJECTIONS = ("max", "mean", "sum", "best_focus")
"""The values of ``ingest.z_projection`` that project a z-stack to one plane (cellpipe.ingest.project_z)."""


def z_stack_refusal(path: PathLike, n_planes: int) -> str:
    """The message refusing a movie of several z-planes read without a projection: it says how to run it.

    Parameters
    ----------
    path : str or os.PathLike
        The movie, named in the message.
    n_planes : int
        Planes per z-stack.

    Returns
    -------
    str
        The message.
    """
    return (
        f"{path}: {n_planes} z-planes found; set ingest.z_projection in the config to keep, to run every stage "
        "in 3-D (segment, track, measure, export), or to one of "
        f"{', '.join(Z_PROJECTIONS)} to project each z-stack to one plane"
    )


def to_tczyx(data: np.ndarray, axes: str, path: PathLike) -> np.ndarray:
    """Reorder an array with axes like ``"TYX"``, ``"CTYX"`` or ``"TZCYX"`` to (T, C, Z, Y, X), a view.

    ``I`` and ``Q`` (tifffile's names for an unspecified page sequence) count as T, ``S`` (RGB
    samples) as C; a missing C or Z gets a length of 1.

    Parameters
    ----------
    data : numpy.ndarray
        The pixels as the file holds them.
    axes : str
        One letter per axis of ``data``.
    path : str or os.PathLike
        The movie, named in errors.

    Returns
    -------
    numpy.ndarray
        (T, C, Z, Y, X) in frames, channels, planes and px.

    Raises
    ------
    MovieError
        Axes that do not describe a time-lapse of 2-D planes (no T, no Y or X, unknown or repeated
        letters, more than 5 dimensions).
    """
    given = axes
    axes = axes.upper().replace("I", "T").replace("Q", "T")
    if len(axes) != data.ndim:
        raise MovieError(f"{path}: axes {axes!r} do not match the {data.ndim}-D array of shape {data.shape}")
    if data.ndim > 5:
        raise MovieError(
            f"{path}: a {data.ndim}-D array of shape {data.shape} (axes {given!r}); cellpipe reads time-lapses "
            "of at most 5 dimensions (T, C, Z, Y, X)"
        )
    unknown = set(axes) - set("TCZYXS")
    if unknown or len(set(axes)) != len(axes):
        raise MovieError(
            f"{path}: cannot interpret axes {axes!r} of shape {data.shape} (use letters T, C, Z, Y, X once each; "
            "set the sample sheet's axes column when the file's are wrong)"
        )
    if "S" in axes:  # RGB samples are channels
        if "C" in axes:
            raise MovieError(f"{path}: both C and S (RGB) axes present; not supported")
        axes = axes.replace("S", "C")
    if "T" not in axes and set(axes) <= set("ZYX") and "Y" in axes and "X" in axes:
        height, width = data.shape[axes.index("Y")], data.shape[axes.index("X")]
        planes = data.shape[axes.index("Z")] if "Z" in axes else 1
        what = "a single 2-D image" if planes == 1 else f"a single z-stack of {planes} planes"
        raise MovieError(
            f"{path}: {what} of {height}x{width} px, not a movie: no time axis "
            "(a time-lapse (T, Y, X) is expected; a one-frame movie must declare its T axis)"
        )
    if "T" not in axes:
        raise MovieError(
            f"{path}: no time axis in {axes!r} (shape {data.shape}); a movie (T, Y, X) is expected "
            "(set the sample sheet's axes column when the file's are wrong)"
        )
    if "Y" not in axes or "X" not in axes:
        raise MovieError(f"{path}: axes {axes!r} lack Y or X")
    for missing in "CZ":
        if missing not in axes:
            data = np.expand_dims(data, axis=0)
            axes = missing + axes
    return np.transpose(data, [axes.index(a) for a in "TCZYX"])


def to_tcyx(data: np.ndarray, axes: str, path: PathLike) -> np.ndarray:
    """Reorder an array with axes like ``"TYX"``, ``"CTYX"`` or ``"TZCYX"`` (Z of size 1) to (T, C, Y, X).

    As :func:`to_tczyx`, for a movie of one z-plane.

    Parameters
    ----------
    data : numpy.ndarray
        The pixels as the file holds them.
    axes : str
        One letter per axis of ``data``.
    path : str or os.PathLike
        The movie, named in errors.

    Returns
    -------
    numpy.ndarray
        (T, C, Y, X) in frames, channels and px, a view.

    Raises
    ------
    MovieError
        As :func:`to_tczyx`, and for more than one z-plane (:func:`z_stack_refusal`: the message
        names ``ingest.z_projection``).
    """
    tczyx = to_tczyx(data, axes, path)
    if tczyx.shape[2] != 1:
        raise MovieError(z_stack_refusal(path, tczyx.shape[2]))
    return tczyx[:, :, 0]


def tczyx_shape(shape: tuple[int, ...], axes: str, path: PathLike) -> tuple[int, int, int, int, int]:
    """The (T, C, Z, Y, X) shape :func:`to_tczyx` gives an array of ``shape`` with ``axes``; same checks, no pixels.

    Parameters
    ----------
    shape : tuple of int
        The array's shape as the file holds it.
    axes : str
        One letter per axis.
    path : str or os.PathLike
        The movie, named in errors.

    Returns
    -------
    tuple of int
        (T, C, Z, Y, X) in frames, channels, planes and px.

    Raises
    ------
    MovieError
        As :func:`to_tczyx`.
    """
    placeholder = np.broadcast_to(np.zeros((), np.uint8), tuple(shape))  # zero strides: no memory
    t, c, z, y, x = to_tczyx(placeholder, axes, path).shape
    return t, c, z, y, x


def tcyx_shape(shape: tuple[int, ...], axes: str, path: PathLike) -> tuple[int, int, int, int]:
    """The (T, C, Y, X) shape :func:`to_tcyx` gives an array of ``shape`` with ``axes``; same checks, no pixels.

    Parameters
    ----------
    shape : tuple of int
        The array's shape as the file holds it.
    axes : str
        One letter per axis.
    path : str or os.PathLike
        The movie, named in errors.

    Returns
    -------
    tuple of int
        (T, C, Y, X) in frames, channels and px.

    Raises
    ------
    MovieError
        The axes do not describe a 2-D time-lapse (as :func:`to_tcyx`).
    """
    t, c, z, y, x = tczyx_shape(shape, axes, path)
    if z != 1:
        raise MovieError(z_stack_refusal(path, z))
    return t, c, y, x


def _in_unit(value: float, unit: str, table: dict[str, float], what: str, where: str, path: PathLike) -> float | None:
    """``value`` given in ``unit`` converted with ``table`` (µm or minutes per unit); None for a length in pixels.

    Raises
    ------
    MovieError
        A unit ``table`` does not know, naming it, ``where`` it was found (the OME attribute or
        ImageJ key), the file and the units supported.
    """
    if what.endswith("length unit") and unit.strip().lower() in _NO_LENGTH:
        return None
    if table is IMAGEJ_LENGTH_TO_UM and unit.strip().lower() in _IMAGEJ_PRINT_UNITS:
        return None
    key = unit.strip()
    for sign in _MICRO_SIGNS:
        key = key.replace(sign, "µ").replace("\\µ", "µ")
    key = {"um": "µm", "us": "µs"}.get(key, key) if key not in table else key  # 'u' typed for 'µ'
    factor = table.get(key)
    if factor is None:
        supported = ", ".join(repr(name) for name in table if "\\" not in name)  # not the escaped spellings
        raise MovieError(f"{path}: unknown {what} {unit!r} ({where}); supported: {supported}")
    result = float(value) * factor
    return result if np.isfinite(result) and result > 0 else None


def _ome_metadata(xml: str, path: PathLike, image: int = 0) -> FileMetadata:
    """The metadata of OME Image ``image`` (0-based, in the order of the XML) of an OME-TIFF."""
    images = _ome_images_metadata(xml, path, [image])
    return images[0]


def _ome_images_metadata(xml: str, path: PathLike, images: list[int]) -> list[FileMetadata]:
    """The metadata of each OME Image of ``images`` (0-based, in the order of the XML), from one parse of the XML.

    A file of many positions is parsed once, not once per position.
    """
    root = ET.fromstring(xml)
    ns = {"ome": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
    prefix = "ome:" if ns else ""
    found = root.findall(f"{prefix}Image", ns)
    return [_ome_pixels_metadata(found[i].find(f"{prefix}Pixels", ns) if i < len(found)
                                 else root.find(f".//{prefix}Pixels", ns), prefix, ns, path) for i in images]


def _ome_pixels_metadata(pixels: ET.Element | None, prefix: str, ns: dict[str, str], path: PathLike) -> FileMetadata:
    """Pixel size (µm), frame interval (minutes), channel names and z-step (µm) of one OME ``Pixels`` element."""
    if pixels is None:
        return FileMetadata()
    sizes: dict[str, float | None] = {}
    for axis in "XY":
        size = pixels.get(f"PhysicalSize{axis}")
        unit = pixels.get(f"PhysicalSize{axis}Unit", "µm")  # the OME schema's default unit
        sizes[axis] = _in_unit(float(size), unit, OME_LENGTH_TO_UM, "length unit", f"PhysicalSize{axis}Unit", path) if size else None
    sizes["Z"] = _information(lambda: _in_unit(float(pixels.get("PhysicalSizeZ", "")), pixels.get("PhysicalSizeZUnit", "µm"),
                                               OME_LENGTH_TO_UM, "length unit", "PhysicalSizeZUnit", path))
    tinc = pixels.get("TimeIncrement")
    tunit = pixels.get("TimeIncrementUnit", "s")  # the OME schema's default unit
    dt = _in_unit(float(tinc), tunit, OME_TIME_TO_MIN, "time unit", "TimeIncrementUnit", path) if tinc else None
    names = tuple(c.get("Name") or f"ch{i}" for i, c in enumerate(pixels.findall(f"{prefix}Channel", ns)))
    # A file that gives the x size only is taken as square pixels, as OME readers (Fiji, napari) do.
    px_y = sizes["Y"] if sizes["Y"] is not None else sizes["X"]
    planes = pixels.findall(f"{prefix}Plane", ns)
    plane = _first_plane(planes)
    stage = _ome_stage_position(plane, path) if plane is not None else None
    # TimeIncrement is the acquisition's set interval; the planes' times stand in only where it is absent
    dt_from = None
    if dt is None:
        dt, dt_from = _ome_timestamps_interval(planes, path)
    return FileMetadata(sizes["X"], px_y if sizes["X"] is not None else None, dt, names, sizes["Z"], stage,
                        frame_interval_from=dt_from)


IRREGULAR_STEP = 0.01
"""Relative difference from the mean step beyond which a step between two frames' recorded times is irregular: the
frame interval is still their mean, and the range of the steps is named where the interval's source is recorded."""


def _ome_timestamps_interval(planes: list[ET.Element], path: PathLike) -> tuple[float | None, str | None]:
    """The frame interval (minutes) from OME ``Plane`` ``DeltaT`` (time since the acquisition started), and its source.

    The planes of the first plane's channel and z-plane are used, since the channels of a frame are taken one after
    the other.  The interval is (DeltaT of the last frame that gives one - DeltaT of the first) / the frames between
    them: the mean step, as a vendor file's acquisition times are read (:func:`_vendor_interval`); a frame taken
    late moves it only when it is the last.  Steps more than :data:`IRREGULAR_STEP` from that mean are named in the
    source (``...; irregular: steps 1 to 2 min)``), which ingest records (``file_frame_interval_from``).
    ``DeltaTUnit`` defaults to seconds (the OME schema's default).
    ``(None, None)`` where fewer than two frames carry a readable time (a unit not known, a value not a number)
    or the last time is not after the first: the interval then comes from the sample sheet or the config.
    """
    first = _first_plane(planes)
    if first is None:
        return None, None
    channel_z = (first.get("TheC", "0"), first.get("TheZ", "0"))
    times: dict[int, float] = {}
    for plane in planes:
        value = plane.get("DeltaT")
        if value is None or (plane.get("TheC", "0"), plane.get("TheZ", "0")) != channel_z:
            continue
        # the factor alone: the first frame's time is 0, which _in_unit takes for no value
        factor = _information(lambda plane=plane: _in_unit(1.0, plane.get("DeltaTUnit", "s"), OME_TIME_TO_MIN,
                                                           "time unit", "DeltaTUnit", path))
        try:
            frame, minutes = int(plane.get("TheT", "0")), float(value) * factor if factor is not None else None
        except ValueError:
            continue
        if minutes is not None and np.isfinite(minutes):
            times.setdefault(frame, minutes)
    if len(times) < 2:
        return None, None
    frames = sorted(times)
    n_steps = frames[-1] - frames[0]
    interval = (times[frames[-1]] - times[frames[0]]) / n_steps
    if not (np.isfinite(interval) and interval > 0):
        return None, None
    how = f"timestamps (OME Plane DeltaT: frame {frames[0]} to frame {frames[-1]}, mean of {n_steps} intervals"
    steps = [(times[b] - times[a]) / (b - a) for a, b in zip(frames, frames[1:], strict=False)]
    if max(abs(step - interval) for step in steps) > IRREGULAR_STEP * interval:
        how += f"; irregular: steps {min(steps):.4g} to {max(steps):.4g} min"
    return interval, how + ")"


def _first_plane(planes: list[ET.Element]) -> ET.Element | None:
    """The plane of the first frame (then channel, then z-plane) among OME ``Plane`` elements, in any order.

    Planes are ordered by ``TheT``, ``TheC``, ``TheZ`` (0 where left out), whatever order the XML lists them in;
    None for no plane.
    """
    def index(plane: ET.Element) -> tuple[int, ...]:
        try:
            return tuple(int(plane.get(key, "0")) for key in ("TheT", "TheC", "TheZ"))
        except ValueError:
            return (1 << 62,) * 3  # an unreadable index does not stand for the first plane
    return min(planes, key=index) if planes else None


def _ome_stage_position(plane: ET.Element, path: PathLike) -> tuple[float | None, float | None, float | None] | None:
    """The stage's (x, y, z) position (µm) an OME ``Plane`` gives; None when it gives none.

    ``PositionX/Y/Z`` are read with their units.  An axis whose value cannot be read, or whose unit is missing
    (the OME schema's default unit is the dimensionless 'reference frame'), not a length or unknown, is None:
    the position is information only and refuses no movie.
    """
    position: list[float | None] = []
    for axis in "XYZ":
        value = plane.get(f"Position{axis}")
        unit = plane.get(f"Position{axis}Unit")
        factor = None
        if value is not None and unit is not None:
            # The factor alone: a stage coordinate may be 0 or negative, which _in_unit takes for no value.
            factor = _information(lambda unit=unit, axis=axis: _in_unit(
                1.0, unit, OME_LENGTH_TO_UM, "length unit", f"Position{axis}Unit", path))
        try:
            um = float(value) * factor if factor is not None and value is not None else None
        except ValueError:
            um = None
        position.append(um if um is not None and np.isfinite(um) else None)
    return None if all(v is None for v in position) else (position[0], position[1], position[2])


def _information(read: Callable[[], float | None]) -> float | None:
    """A metadata value kept as information only: None where it cannot be read, refusing no movie.

    A metadata value kept as information only (the z-step of a movie projected to 2-D): None where the file's
    value or unit cannot be read, which refuses no movie that reads otherwise.
    """
    try:
        return read()
    except (MovieError, TypeError, ValueError):
        return None


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


_UNREADABLE = (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, RuntimeError, struct.error, ET.ParseError)
"""What tifffile (and its codecs) raise for a file that is not a TIFF, corrupt, or cut short."""


def _one_line(exc: BaseException | str) -> str:
    """``exc``'s message on one line, for messages that quote a library's error."""
    return " ".join(str(exc).split()) or type(exc).__name__


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


@dataclass(frozen=True)
class _NgffImage:
    """An OME-Zarr image's full-resolution level (opened, nothing read) and what its metadata say."""

    header: MovieHeader
    level: Any
    """The level's Zarr array, in the file's axis order."""


def _ngff_metadata(path: Path) -> tuple[dict[str, Any], str]:
    """The NGFF attributes of the Zarr group at ``path`` and the file they were read from.

    The attributes are ``multiscales``, ``omero``, ...; the file is ``.zattrs`` of Zarr v2, or ``zarr.json`` of
    Zarr v3, whose ``ome`` key holds them in NGFF 0.5.
    """
    for name in ("zarr.json", ".zattrs"):
        meta_file = path / name
        if not meta_file.is_file():
            continue
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise MovieError(f"{meta_file}: not readable Zarr metadata ({_one_line(exc)})") from exc
        if not isinstance(meta, dict):
            raise MovieError(f"{meta_file}: not readable Zarr metadata (not a JSON object)")
        if name == "zarr.json":
            attributes = meta.get("attributes") or {}
            meta = attributes.get("ome", attributes) if isinstance(attributes, dict) else {}
        return (meta if isinstance(meta, dict) else {}), name
    return {}, ".zattrs"


def _bioformats2raw_series(path: Path) -> list[tuple[str, str]] | None:
    """The images of a bioformats2raw layout at ``path``, as (path in the store, name) in order; None for any other store.

    A bioformats2raw layout has its root's ``bioformats2raw.layout`` attribute.

    The paths are the ``series`` list of the ``OME`` group where it has one, else the numbered groups ``0``, ``1``,
    ... found; the names are the OME Images' ``Name`` in ``OME/METADATA.ome.xml`` ('' where it names none).
    """
    meta, _ = _ngff_metadata(path)
    if "bioformats2raw.layout" not in meta:
        return None
    ome_meta, _ = _ngff_metadata(path / "OME")
    listed = ome_meta.get("series")
    if isinstance(listed, list) and listed:
        paths = [str(p) for p in listed]
    else:
        paths = []
        while (path / str(len(paths))).is_dir():
            paths.append(str(len(paths)))
    names = [""] * len(paths)
    xml = path / "OME" / "METADATA.ome.xml"
    if xml.is_file():
        try:
            root = ET.fromstring(xml.read_text(encoding="utf-8"))
            images = [e for e in root if e.tag.rsplit("}", 1)[-1] == "Image"]
            names = [(images[i].get("Name") or "") if i < len(images) else "" for i in range(len(paths))]
        except (OSError, UnicodeDecodeError, ET.ParseError):
            pass  # names are a courtesy: the images are still read, by index
    return list(zip(paths, names, strict=True))


def _bioformats2raw_stage_position(path: Path, scene: int | None) -> tuple[float | None, float | None, float | None] | None:
    """The stage position (µm) of image ``scene`` of a bioformats2raw layout at ``path``, from its OME-XML.

    The stage position (µm, as :attr:`MovieHeader.stage_position_um`) of image ``scene`` (0-based; None: the
    first) of a bioformats2raw layout at ``path``, from the first ``Plane`` of that OME Image in its
    ``OME/METADATA.ome.xml``; None for any other store (NGFF metadata hold no stage position) or where the XML gives
    none or cannot be read.
    """
    xml = path / "OME" / "METADATA.ome.xml"
    if not xml.is_file() or _bioformats2raw_series(path) is None:
        return None
    try:
        root = ET.fromstring(xml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ET.ParseError):
        return None  # information only: the image is still read
    images = [e for e in root if e.tag.rsplit("}", 1)[-1] == "Image"]
    index = scene or 0
    if index >= len(images):
        return None
    plane = _first_plane([e for pixels in images[index] if pixels.tag.rsplit("}", 1)[-1] == "Pixels"
                          for e in pixels if e.tag.rsplit("}", 1)[-1] == "Plane"])
    return _ome_stage_position(plane, xml) if plane is not None else None


def _ngff_column_label(name: str) -> str:
    """A plate column's name as it goes into a position's name: a number with two digits at least.

    ``3`` becomes ``03``, so that the wells of a plate sort as a plate reader lists them; any other name is kept
    as it is.
    """
    return f"{int(name):02d}" if name.isdigit() else name


def _ngff_well_fields(well: Path, label: str) -> list[tuple[str, str]] | None:
    """The images (fields) of the OME-Zarr well group ``well``, as (path below ``well``, name).

    The fields are the well's ``well.images``; each name is ``<label>_<field index>`` (0-based, in the order of
    the well's list; the field index alone when ``label`` is ''); None when ``well`` is no well group.
    """
    meta, meta_name = _ngff_metadata(well)
    described = meta.get("well")
    if not isinstance(described, dict):
        return None
    images = described.get("images")
    if not isinstance(images, list) or not all(isinstance(i, dict) and "path" in i for i in images):
        raise MovieError(f"{well}: an OME-Zarr well whose 'images' ({meta_name}) do not list its fields' paths")
    prefix = f"{label}_" if label else ""
    return [(str(image["path"]), f"{prefix}{index}") for index, image in enumerate(images)]


def _ngff_plate_fields(path: Path) -> list[tuple[str, str]] | None:
    """The fields of every well of the OME-Zarr plate (HCS) at ``path``, as (path in the store, name).

    In the order of the plate's ``wells`` and of each well's ``images``; None when ``path`` is no plate.

    A field is named by its well's row and column names and its index in the well (``B03_0``: row ``B``, column
    ``3``, first field; a numeric column gets two digits).  Only metadata are read: the plate's, then each well's.
    """
    meta, meta_name = _ngff_metadata(path)
    plate = meta.get("plate")
    if not isinstance(plate, dict):
        return None
    wells = plate.get("wells")
    if not isinstance(wells, list) or not all(isinstance(w, dict) and "path" in w for w in wells):
        raise MovieError(f"{path}: an OME-Zarr plate whose 'wells' ({meta_name}) do not list the wells' paths")
    rows = [str(r.get("name", "")) if isinstance(r, dict) else "" for r in plate.get("rows") or []]
    columns = [str(c.get("name", "")) if isinstance(c, dict) else "" for c in plate.get("columns") or []]
    fields: list[tuple[str, str]] = []
    for well in wells:
        well_path = str(well["path"])
        row_name, _, column_name = well_path.rpartition("/")  # NGFF: <row>/<column>
        row_index, column_index = well.get("rowIndex"), well.get("columnIndex")
        if isinstance(row_index, int) and 0 <= row_index < len(rows) and rows[row_index]:
            row_name = rows[row_index]
        if isinstance(column_index, int) and 0 <= column_index < len(columns) and columns[column_index]:
            column_name = columns[column_index]
        in_well = _ngff_well_fields(path / well_path, f"{row_name}{_ngff_column_label(column_name)}")
        if in_well is None:
            raise MovieError(f"{path}: well {well_path!r} of the OME-Zarr plate is no well group (no 'well' metadata)")
        fields += [(f"{well_path}/{field_path}", name) for field_path, name in in_well]
    if not fields:
        raise MovieError(f"{path}: an OME-Zarr plate with no fields (images) in its wells ({meta_name})")
    return fields


def _ngff_positions(path: Path) -> tuple[list[tuple[str, str]], str] | None:
    """The positions of an OME-Zarr store that holds several images, as (path in the store, name) in order.

    Also returns what holds them (said in errors); None for a store that is one image.

    Positions are the images of a bioformats2raw layout (:func:`_bioformats2raw_series`), the fields of every
    well of a plate (:func:`_ngff_plate_fields`), or the fields of one well group, named ``<row><column>_<field>``
    when the well lies in a plate (its folder ``<row>/<column>`` below the plate's), else by field index.
    """
    series = _bioformats2raw_series(path)
    if series is not None:
        return series, "bioformats2raw layout"
    fields = _ngff_plate_fields(path)
    if fields is not None:
        return fields, "OME-Zarr plate"
    in_plate = "plate" in _ngff_metadata(path.parent.parent)[0]
    fields = _ngff_well_fields(path, f"{path.parent.name}{_ngff_column_label(path.name)}" if in_plate else "")
    if fields is not None:
        if not fields:
            raise MovieError(f"{path}: an OME-Zarr well with no fields (images)")
        return fields, "OME-Zarr well"
    return None


def _ngff_scene(path: Path, scene: int | None) -> tuple[Path, str | None]:
    """The OME-Zarr image to read at ``path`` and its name.

    Position ``scene`` (0-based) of a store of several images (:func:`_ngff_positions`), such a store's only
    image, or ``path`` itself (scene 0 or None).
    """
    found = _ngff_positions(path)
    if found is None:
        _only_scene_zero(path, "ome-zarr", scene)
        return path, None
    positions, holder = found
    if scene is None:
        if len(positions) != 1:
            named = [n for _, n in positions if n]
            shown = ", ".join(repr(n) for n in named[:10]) + (", ..." if len(named) > 10 else "")
            names = f" ({shown})" if named else ""
            raise MovieError(f"{path}: {len(positions)} images (positions){names} in one {holder}; {POSITIONS_HINT}")
        return path / positions[0][0], None
    if not 0 <= scene < len(positions):
        raise MovieError(f"{path}: no position {scene}: the {holder} holds {len(positions)} image(s) "
                         f"(0 to {len(positions) - 1})")
    return path / positions[scene][0], positions[scene][1] or None


def _ngff_scale(transforms: Any) -> list[float] | None:
    """The ``scale`` of an NGFF ``coordinateTransformations`` list (one factor per axis); None when it has none."""
    for transform in transforms or []:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            return [float(v) for v in transform["scale"]]
    return None


def _ngff_image(path: Path, axes: str | None, allow_z: bool) -> _NgffImage:
    """Open the OME-Zarr (NGFF 0.4 or 0.5) image at ``path`` without reading a pixel.

    Its first ``multiscales``, its first dataset (full resolution), the axes, pixel size (µm), frame
    interval (minutes) and channel names.

    Raises
    ------
    MovieError
        No ``multiscales``, a version other than :data:`NGFF_VERSIONS`, no axes, a level that is not
        there or does not match the axes, units not known, axes that make no time-lapse.
    """
    import zarr

    meta, meta_name = _ngff_metadata(path)
    multiscales = meta.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise MovieError(f"{path}: not an OME-Zarr image: no 'multiscales' in its metadata ({meta_name})")
    ms = multiscales[0]
    version = meta.get("version", ms.get("version"))  # 0.5: next to multiscales; 0.4: inside it
    if str(version) not in NGFF_VERSIONS:
        given = f"NGFF version {version!r}" if version is not None else "no NGFF version"
        raise MovieError(f"{path}: {given} in {meta_name}; supported: {', '.join(NGFF_VERSIONS)}")
    file_axes = ms.get("axes")
    if not isinstance(file_axes, list) or not file_axes:
        raise MovieError(f"{path}: no 'axes' in multiscales ({meta_name}); NGFF {version} names them (t, c, z, y, x)")
    names = [str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in file_axes]
    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets or "path" not in datasets[0]:
        raise MovieError(f"{path}: no 'datasets' in multiscales ({meta_name}): no resolution level to read")
    level_path = str(datasets[0]["path"])
    if not any((path / level_path / marker).is_file() for marker in (".zarray", "zarr.json")):
        raise MovieError(f"{path}: level {level_path!r} (the first dataset of multiscales) not found")
    try:
        level = zarr.open_array(str(path / level_path), mode="r")
    except Exception as exc:  # zarr's errors for a broken array have no common base class
        raise MovieError(f"{path}: level {level_path!r} is not a readable Zarr array ({_one_line(exc)})") from exc
    if level.ndim != len(names):
        raise MovieError(f"{path}: level {level_path!r} has {level.ndim} dimensions but multiscales names "
                         f"{len(names)} axes ({''.join(names)})")
    use_axes = axes or "".join(names).upper()
    t, c, z, y, x = tczyx_shape(tuple(level.shape), use_axes, path)
    if z != 1 and not allow_z:
        raise MovieError(z_stack_refusal(path, z))
    # the physical size of a level-0 pixel: the dataset's scale times the multiscales' own, if any
    scale = _ngff_scale(datasets[0].get("coordinateTransformations")) or [1.0] * len(names)
    overall = _ngff_scale(ms.get("coordinateTransformations")) or [1.0] * len(names)
    sizes: dict[str, float | None] = {}
    for i, entry in enumerate(file_axes):
        unit = entry.get("unit") if isinstance(entry, dict) else None
        name = names[i].lower()
        if name not in ("t", "z", "y", "x") or unit is None or len(scale) != len(names):
            continue
        unit = NGFF_UNIT_SYMBOLS.get(str(unit), str(unit))
        where = f"unit of axis {names[i]!r} in {meta_name}"
        value = scale[i] * (overall[i] if len(overall) == len(names) else 1.0)
        if name == "t":
            sizes[name] = _in_unit(value, unit, OME_TIME_TO_MIN, "OME-Zarr time unit", where, path)
        elif name == "z":
            sizes[name] = _information(
                lambda v=value, u=unit, w=where: _in_unit(v, u, OME_LENGTH_TO_UM, "OME-Zarr length unit", w, path))
        else:
            sizes[name] = _in_unit(value, unit, OME_LENGTH_TO_UM, "OME-Zarr length unit", where, path)
    omero = meta.get("omero") if isinstance(meta.get("omero"), dict) else {}
    labels = [ch.get("label") for ch in omero.get("channels", []) if isinstance(ch, dict)]
    # omero is display metadata, often left as a viewer wrote it: labels that do not name every channel once
    # are no names (ch0, ch1, ... or the sheet's), not a reason to refuse the movie
    channel_names = tuple(str(label) for label in labels) if len(labels) == c and all(labels) else ()
    pixel_x = sizes.get("x") or sizes.get("y")
    header = MovieHeader((t, c, y, x), np.dtype(level.dtype), use_axes, pixel_x, sizes.get("t"), channel_names,
                         sizes.get("y") or pixel_x, z_planes=z, pixel_size_z_um=sizes.get("z"))
    return _NgffImage(header, level)


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


def list_scenes(path: PathLike, fmt: MovieFormat = "auto") -> list[str]:
    """The scenes (positions) of a movie file, from its headers.

    Positions are an OME-TIFF's OME Images of one kind (:func:`tiff_positions`), a CZI, ND2 or LIF
    file's scenes (a CZI's counted in its subblock directory too, as :func:`_vendor_image` does) and
    the images of an OME-Zarr bioformats2raw layout, plate or well (:func:`_ngff_positions`, from
    metadata only).

    Parameters
    ----------
    path : str or os.PathLike
        The movie's file or folder.
    fmt : MovieFormat
        Its format; ``auto`` guesses it (:func:`detect_format`).

    Returns
    -------
    list of str
        One name per scene, in order ('' where the file names none); ``['']`` for a file of one
        position, a CTC folder and an OME-Zarr image.

    Raises
    ------
    MovieError
        As :func:`inspect_movie`, for a file that cannot be opened.
    """
    path = Path(path)
    checked = _checked_format(path, fmt)
    if checked == "ome-zarr":
        found = _ngff_positions(path)
        return [name for _, name in found[0]] if found is not None else [""]
    if checked == "ctc":
        return [""]
    if checked == "micromanager":
        return [label for _, label in mm_positions(path)]
    if checked in VENDOR_FORMATS:
        vendor = VENDOR_FORMATS[checked]
        reader_class = _vendor_reader_class(path, checked)
        try:
            with _quiet_bioio():
                names = [str(s) for s in reader_class(str(path)).scenes]
        except Exception as exc:
            raise MovieError(f"{path}: not a readable {vendor.name} file ({vendor.package}: {_one_line(exc)})") from None
        n_scenes = max(len(names), _czi_scene_count(path) if checked == "czi" else 0)
        return names if len(names) == n_scenes else [""] * n_scenes
    try:
        with open_tiff(path) as tif:
            return [tif.series[i].name or "" for i in tiff_positions(tif)]
    except Exception as exc:  # a corrupt header can make tifffile fail in many ways
        raise MovieError(f"{path}: not a readable TIFF ({_one_line(exc)})") from None


def inspect_movie(
    path: PathLike, fmt: MovieFormat = "auto", axes: str | None = None, allow_z: bool = False, scene: int | None = None,
    reader: MovieReader = "auto",
) -> MovieHeader:
    """What :func:`read_movie` would return, (T, C, Y, X) shape, dtype and metadata, from headers only.

    Cheap (no pixels are read: one header per file), so the sample sheet is checked with it
    before any job runs.  Pixel values (NaN, blank frames) are not checked here.

    Parameters
    ----------
    path : str or os.PathLike
        The movie's file or folder.
    fmt : MovieFormat
        Its format; ``auto`` guesses it (:func:`detect_format`).
    axes : str or None
        The sample sheet's axes letters for a TIFF; None: the file's.
    allow_z : bool
        Accept a movie of several z-planes; its header says how many (``z_planes``).  Without it
        such a movie is refused with :func:`z_stack_refusal`'s message.
    scene : int or None
        The position to read (0-based, :func:`list_scenes`) of a file of several; None: the file
        must hold one (a file of several is refused, saying how to read them).  A CTC folder or
        OME-Zarr image has scene 0 only.
    reader : MovieReader
        ``ingest.reader``: ``bioio`` reads a TIFF, OME-TIFF or OME-Zarr through its bioio plugin
        (:func:`through_bioio`); the header's ``reader`` says which read it.

    Returns
    -------
    MovieHeader
        Shape in frames, channels and px; pixel size (µm), frame interval (minutes).

    Raises
    ------
    MovieError
        Naming the file and the problem, as :func:`read_movie` would.
    """
    path = Path(path)
    checked = _checked_format(path, fmt)
    if checked == "ctc":
        _only_scene_zero(path, checked, scene)
        return inspect_ctc_folder(path)
    if through_bioio(checked, reader):
        return _vendor_image(path, checked, axes, allow_z, scene).header
    if checked == "ome-zarr":
        image, name = _ngff_scene(path, scene)
        return dataclasses.replace(_ngff_image(image, axes, allow_z).header, scene=scene, scene_name=name,
                                   stage_position_um=_bioformats2raw_stage_position(path, scene))
    if checked == "micromanager":
        file, label, in_file = _mm_position_file(path, scene)
        header = inspect_tiff(file, axes, allow_z, in_file)
        return dataclasses.replace(header, scene=scene, scene_name=label if scene is not None else None)
    return inspect_tiff(path, axes, allow_z, scene)


def _only_scene_zero(path: Path, fmt: str, scene: int | None) -> None:
    """A CTC folder or an OME-Zarr image is one position: scene 0 or none."""
    if scene not in (None, 0):
        raise MovieError(f"{path}: no scene {scene}: a {fmt} movie is one position (scene 0)")


def _checked_format(path: Path, fmt: MovieFormat) -> MovieFormat:
    """The format of the movie at ``path`` (``fmt``, or guessed when 'auto'), checked against what is there."""
    if not path.exists():
        raise MovieError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "ctc" and any((path / marker).exists() for marker in _ZARR_MARKERS):
        # "no CTC frames found" would send the user looking for missing frames
        raise MovieError(f"{path}: a Zarr folder, but format 'ctc' expects a folder of tNNN.tif frames "
                         "(an OME-Zarr image is format 'ome-zarr')")
    if fmt == "ome-zarr":
        if not path.is_dir():
            raise MovieError(f"{path}: format 'ome-zarr' expects a folder (an OME-Zarr image), not a file")
        return fmt
    if fmt == "ctc" and not path.is_dir():
        raise MovieError(f"{path}: format 'ctc' expects a folder of tNNN.tif frames")
    if fmt == "micromanager":
        if not path.is_dir():
            raise MovieError(f"{path}: format 'micromanager' expects a Micro-Manager dataset folder "
                             "(<prefix>_MMStack_<position>.ome.tif files; one such file alone is format 'ome-tiff')")
        return fmt
    if fmt in VENDOR_FORMATS and path.is_dir():
        raise MovieError(f"{path}: a folder, but format {fmt!r} expects a {VENDOR_FORMATS[fmt].name} file")
    if fmt != "ctc" and path.is_dir():
        raise MovieError(f"{path}: a folder, but format {fmt!r} expects a TIFF file (a CTC folder is format 'ctc')")
    return fmt


def read_movie(path: PathLike, fmt: MovieFormat = "auto", axes: str | None = None, scene: int | None = None,
               reader: MovieReader = "auto") -> RawMovie:
    """Read any supported raw movie into memory, (T, C, Y, X) with its metadata.

    :func:`open_movie`'s lazy array read whole, so the two share one reader, its checks and its
    errors.

    Parameters
    ----------
    path : str or os.PathLike
        The movie's file or folder.
    fmt : MovieFormat
        Its format; ``auto`` guesses it (:func:`detect_format`).
    axes : str or None
        The sample sheet's axes letters for a TIFF; None: the file's.
    scene : int or None
        The position to read (0-based), as :func:`inspect_movie`.
    reader : MovieReader
        ``ingest.reader``, as :func:`inspect_movie`.

    Returns
    -------
    RawMovie
        ``data`` a (T, C, Y, X) array (frames, channels, px); pixel size (µm), frame interval (minutes).

    Raises
    ------
    MovieError
        As :func:`inspect_movie`, and pixels that cannot be read.
    """
    with open_movie(path, fmt, axes, scene=scene, reader=reader) as movie:
        try:
            data = np.asarray(movie.data)  # one plane after the other from the open file
        except MovieError:
            raise
        except _UNREADABLE as exc:  # pixels the headers did not reveal as broken
            raise MovieError(f"{path}: pixels could not be read ({_one_line(exc)})") from exc
    logger.info("read %s: TCYX %s", path, data.shape)
    return RawMovie(data, movie.source_axes, movie.pixel_size_um, movie.frame_interval_min, list(movie.channel_names),
                    movie.pixel_size_y_um, movie.frame_interval_from, movie.scene, movie.scene_name,
                    pixel_size_z_um=movie.pixel_size_z_um, stage_position_um=movie.stage_position_um, reader=movie.reader)


class LazyMovie:
    """A (T, C, Y, X) movie whose pixels are read from the open file one frame at a time.

    Indexing with a frame number (``movie[t]``, ``movie[t, c]``, ``movie[t, :, y0:y1]``) reads
    that frame only, (C, Y, X) in pixels; a slice of frames reads those frames; ``np.asarray``
    reads them all.  ``shape`` and ``dtype`` come from the headers and read nothing.

    A movie of ``z_planes`` > 1 planes per z-stack (opened with ``allow_z``) has no frames to read
    as they are: :meth:`stack` reads one (Z, Y, X) stack of one frame and channel, and ``shape`` is
    that of the movie once each stack is projected to one plane.

    Parameters
    ----------
    shape : tuple of int
        (T, C, Y, X) in frames, channels and px.
    dtype : numpy.dtype
        The pixel type.
    read_frame : callable
        ``read_frame(t)`` returns frame ``t`` (0-based), (C, Y, X).
    z_planes : int
        Planes per z-stack; 1 for a 2-D movie.
    read_stack : callable or None
        ``read_stack(t, c)`` returns the (Z, Y, X) stack of frame ``t``, channel ``c``; needed when
        ``z_planes`` > 1.
    """

    ndim = 4

    def __init__(
        self, shape: tuple[int, int, int, int], dtype: np.dtype, read_frame: Callable[[int], np.ndarray],
        z_planes: int = 1, read_stack: Callable[[int, int], np.ndarray] | None = None,
    ):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._read_frame = read_frame
        self.z_planes = int(z_planes)
        self._read_stack = read_stack

    def stack(self, t: int, c: int) -> np.ndarray:
        """The z-stack of one frame and channel; only its planes are read.

        Parameters
        ----------
        t : int
            The frame (0-based).
        c : int
            The channel (0-based).

        Returns
        -------
        numpy.ndarray
            (Z, Y, X) in planes and px, in the file's pixel type; (1, Y, X) for a 2-D movie.

        Raises
        ------
        IndexError
            ``t`` or ``c`` outside the movie.
        """
        if self._read_stack is None:
            return self.frame(t)[c][np.newaxis]
        if not (0 <= t < self.shape[0] and 0 <= c < self.shape[1]):
            raise IndexError(f"z-stack of frame {t}, channel {c} of a movie of shape {self.shape}")
        return self._read_stack(t, c)

    def __len__(self) -> int:
        return self.shape[0]

    def frame(self, t: int) -> np.ndarray:
        """One frame, every channel.

        Parameters
        ----------
        t : int
            The frame (0-based; negative counts from the end).

        Returns
        -------
        numpy.ndarray
            (C, Y, X) in channels and px.

        Raises
        ------
        IndexError
            ``t`` outside the movie.
        ValueError
            A movie of z-stacks (read it with :meth:`stack`).
        """
        if self.z_planes != 1:
            raise ValueError(f"frames of {self.z_planes} z-planes: read them a z-stack at a time (LazyMovie.stack)")
        n = self.shape[0]
        index = operator.index(t)
        if not -n <= index < n:
            raise IndexError(f"frame {t} of a movie of {n} frames")
        return self._read_frame(index % n)

    def __getitem__(self, key: object) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if isinstance(first, slice):
            frames = range(self.shape[0])[first]
            stack = np.empty((len(frames), *self.shape[1:]), self.dtype)
            for i, t in enumerate(frames):
                stack[i] = self.frame(t)
            return stack[(slice(None), *rest)]
        return self.frame(first)[rest]  # type: ignore[arg-type]

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype)


_ZARR_METADATA = frozenset({*_ZARR_MARKERS, ".zmetadata"})
"""Zarr metadata files of a group or array (v2 consolidated metadata too)."""


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


def movie_files(path: PathLike, fmt: MovieFormat = "auto", scene: int | None = None) -> list[str]:
    """The files a movie, or one of its positions, is read from.

    Its checksum (:func:`cellpipe.io.checksums.describe_files`) and its signature in the record of
    checked files cover these files, and only these:

    - a TIFF or OME-TIFF: the file and, for a multi-file OME-TIFF, the files beside it holding the
      planes of its series (or of position ``scene``);
    - a Micro-Manager folder: the position's files (its first file and the files continuing its series);
    - an OME-Zarr store: the image's group (every file under it: its arrays, labels, metadata) and the
      Zarr metadata files of the groups on the way to it (a plate's and a well's, a bioformats2raw
      root's), plus a bioformats2raw layout's ``OME`` group (the positions' names); for a store of
      one image, every file of the store;
    - a CTC folder: every file in it; a CZI, ND2 or LIF file: itself.

    Reads headers only (a TIFF's, through tifffile) or folder listings.

    Parameters
    ----------
    path : str or os.PathLike
        The movie's file or folder.
    fmt : MovieFormat
        Its format; ``auto`` guesses it (:func:`detect_format`).
    scene : int or None
        The position (0-based); None: the file's only one.

    Returns
    -------
    list of str
        POSIX paths relative to ``path`` when it is a folder, to its folder when it is a file, sorted.

    Raises
    ------
    MovieError
        As :func:`inspect_movie`, for a position that does not exist or a file that cannot be read.
    """
    from cellpipe.io.checksums import files_under

    path = Path(path)
    checked = _checked_format(path, fmt)
    if checked == "ctc":
        return files_under(path)
    if checked in VENDOR_FORMATS:
        return [path.name]
    if checked == "ome-zarr":
        image, _ = _ngff_scene(path, scene)
        inside = image.relative_to(path)
        if not inside.parts:
            return files_under(path)
        found = {(inside / rel).as_posix() for rel in files_under(image)}
        group = path
        for part in ("", *inside.parts[:-1]):
            group = group / part if part else group
            found.update((group / name).relative_to(path).as_posix() for name in _ZARR_METADATA if (group / name).is_file())
        if (path / "OME").is_dir() and _bioformats2raw_series(path) is not None:
            found.update(f"OME/{rel}" for rel in files_under(path / "OME"))
        return sorted(found)
    if checked == "micromanager":
        file, _, tiff_scene = _mm_position_file(path, scene)
        return sorted(Path(os.path.relpath(f, path)).as_posix() for f in _tiff_series_files(file, tiff_scene))
    return sorted(Path(os.path.relpath(f, path.parent)).as_posix() for f in _tiff_series_files(path, scene))


def _files_stamp(folder: Path, files: list[str]) -> dict[str, tuple[int, int, int]]:
    """Size, modification and change time (ns) of each of ``files`` (relative to ``folder``)."""
    return {rel: _stamp(folder / rel) for rel in files}


@contextlib.contextmanager
def open_movie(
    path: PathLike, fmt: MovieFormat = "auto", axes: str | None = None, checksum: bool = False, allow_z: bool = False,
    scene: int | None = None, reader: MovieReader = "auto",
) -> Iterator[RawMovie]:
    """Open any supported raw movie as a :class:`LazyMovie` (T, C, Y, X), read one frame at a time.

    What :func:`read_movie` returns, except that ``data`` reads its pixels only when indexed
    (``movie.data[t]`` reads frame ``t``: its planes, one TIFF page or CTC file each), so memory
    does not grow with the movie's length.  The file stays open inside the ``with`` block.  Same
    checks and errors as :func:`read_movie`, from the headers.

    With ``checksum``, ``source_checksum()`` gives the sha256 of the bytes the pixels came from,
    which provenance compares with the movie's file later (a movie replaced since, its mtime
    restored, is caught there).  A CTC frame is read into memory, hashed and decoded from those
    bytes, so each frame is read once.  A TIFF is hashed in one pass over the same open file before
    its pages are decoded (tifffile reads pages by offset, not in file order, so the hash cannot ride
    along); a file rewritten in place meanwhile changes its size or mtime, which ``source_checksum``
    checks.

    A vendor file (:data:`VENDOR_FORMATS`: CZI, ND2, LIF), and a TIFF, OME-TIFF or OME-Zarr with ``reader``
    ``bioio``, is read through its bioio plugin's lazy dask array, one frame (its planes only) per ``data[t]``; with
    ``checksum``, a single file is hashed in one pass before, as a TIFF is, and an OME-Zarr or a multi-file OME-TIFF
    by its files once read, as cellpipe's readers hash them.

    An OME-Zarr image (NGFF 0.4 or 0.5) is read from its full-resolution level, ``level[t]`` per
    frame (the chunks of that frame only); with ``checksum``, its files are hashed when
    ``source_checksum()`` is called and must have kept their size and change time since the movie
    was opened.

    The checksum covers every file the movie or position reads (:func:`movie_files`) and only those:
    a multi-file OME-TIFF's later files too, a Micro-Manager position's own files, an OME-Zarr
    position's image group and the metadata on the way to it
    (:func:`cellpipe.io.checksums.describe_files`); a single file is hashed as one file.

    Parameters
    ----------
    path : str or os.PathLike
        The movie's file or folder.
    fmt : MovieFormat
        Its format; ``auto`` guesses it (:func:`detect_format`).
    axes : str or None
        The sample sheet's axes letters for a TIFF; None: the file's.
    checksum : bool
        Hash the bytes the pixels are read from (``source_checksum``).
    allow_z : bool
        Open a TIFF or OME-Zarr of several z-planes too; its ``data`` reads one (Z, Y, X) stack of
        one frame and channel at a time (:meth:`LazyMovie.stack`), for the caller to project.
        Without it such a movie is refused (:func:`z_stack_refusal`).
    scene : int or None
        The position to read (0-based) of a file of several, as :func:`inspect_movie`; only its
        pixels are read (its OME-TIFF series, its CZI scene's region), frame by frame.
    reader : MovieReader
        ``ingest.reader``: ``bioio`` reads a TIFF, OME-TIFF or OME-Zarr through its bioio plugin's lazy array, as a
        vendor file is read (:func:`through_bioio`); the movie's ``reader`` says which read it.

    Yields
    ------
    RawMovie
        ``data`` a :class:`LazyMovie` (frames, channels, px); pixel size (µm), frame interval (minutes).

    Raises
    ------
    MovieError
        As :func:`inspect_movie`; from ``source_checksum()``, a file that changed while it was read
        or a frame that was not read.
    """
    from cellpipe.io.checksums import describe_files, file_description, folder_description, sha256_of_handle

    path = Path(path)
    checked = _checked_format(path, fmt)
    if checked == "ctc":
        _only_scene_zero(path, checked, scene)
    if checked == "ome-zarr" and not through_bioio(checked, reader):
        # a position of a bioformats2raw layout, plate or well is read from its image; the checksum is of the files
        # that position reads (movie_files), not of the whole store: N positions would otherwise read it N times
        image_path, image_name = _ngff_scene(path, scene)
        ngff = _ngff_image(image_path, axes, allow_z)
        header = dataclasses.replace(ngff.header, stage_position_um=_bioformats2raw_stage_position(path, scene))
        level = ngff.level
        letters = header.source_axes.upper()
        time_axis = letters.index("T")
        # size and change time of every file read at opening: a store rewritten while read is caught by the checksum
        read_files = movie_files(path, checked, scene) if checksum else []
        stamps = _files_stamp(path, read_files)

        def read_zarr_block(t: int, c: int | None) -> np.ndarray:
            # one frame (and channel): only the chunks holding it are read
            index: list[slice] = [slice(None)] * level.ndim
            index[time_axis] = slice(t, t + 1)
            if c is not None and "C" in letters:
                index[letters.index("C")] = slice(c, c + 1)
            return to_tczyx(np.asarray(level[tuple(index)]), header.source_axes, path)[0]

        def zarr_checksum() -> dict[str, Any]:
            described = describe_files(path, read_files)
            if _files_stamp(path, read_files) != stamps or movie_files(path, checked, scene) != read_files:
                raise MovieError(f"{path}: changed while it was being read (files added, removed or rewritten)")
            return described

        logger.info("opened %s: OME-Zarr axes %s -> TCYX %s, read frame by frame", path, header.source_axes,
                    header.shape_tcyx)
        lazy = LazyMovie(header.shape_tcyx, header.dtype, lambda t: read_zarr_block(t, None)[:, 0], header.z_planes,
                         (lambda t, c: read_zarr_block(t, c)[0]) if header.z_planes != 1 else None)
        yield RawMovie(lazy, header.source_axes, header.pixel_size_um, header.frame_interval_min,
                       list(header.channel_names), header.pixel_size_y_um, scene=scene, scene_name=image_name,
                       source_checksum=zarr_checksum if checksum else None, pixel_size_z_um=header.pixel_size_z_um,
                       stage_position_um=header.stage_position_um)
        return
    if through_bioio(checked, reader):
        vendor = _vendor_image(path, checked, axes, allow_z, scene)
        header, pixels = vendor.header, vendor.data
        # an OME-Zarr image, or an OME-TIFF whose series goes on in other files: the files that position reads, hashed
        # by path once read, as cellpipe's own readers do
        bioio_files = movie_files(path, checked, scene) if checksum and checked in BIOIO_PLUGINS else []
        by_files = path.is_dir() or len(bioio_files) > 1
        files_root = path if path.is_dir() else path.parent
        files_stamps = _files_stamp(files_root, bioio_files) if by_files else {}
        before: os.stat_result | None = None
        n_bytes, sha256 = 0, ""
        if not by_files:
            with open(path, "rb") as handle:
                before = os.fstat(handle.fileno())
                # a whole extra pass over the file, as for a TIFF: bioio reads by path, through handles of its own
                n_bytes, sha256 = sha256_of_handle(handle) if checksum else (before.st_size, "")

        with contextlib.ExitStack() as stack:  # libCZI's open document, closed with the movie
            planes = _libczi_planes(path, header, stack) if checked == "czi" else None
            if planes is None and header.scene is not None and header.scene_name is None:
                # scenes only libCZI knows: bioio's array would be another region than that scene's
                raise MovieError(f"{path}: scene {header.scene} of this CZI could not be read through libCZI")
            z_len = header.z_planes

            def read_vendor(index: tuple[int, ...]) -> np.ndarray:
                # frame t, (C, Z, Y, X), or the z-stack of frame t, channel c, (Z, Y, X): the planes asked for only
                try:
                    if planes is not None:
                        t, channels = index[0], index[1:] or range(header.shape_tcyx[1])
                        block = np.stack([np.stack([planes(t, c, z) for z in range(z_len)]) for c in channels])
                        return block[0] if len(index) == 2 else block
                    # the dask graph holds one task per plane (CZI, LIF) or per frame (ND2); synchronous, so a job uses
                    # the cores Snakemake gave it and no more
                    with _quiet_bioio():
                        return np.asarray(pixels[index].compute(scheduler="synchronous"))
                except Exception as exc:  # pixels the headers did not reveal as broken
                    raise MovieError(f"{path}: pixels of {_BIOIO_READ[checked].name} frame {index[0]} could not be read "
                                     f"({_one_line(exc)})") from None

            def vendor_checksum() -> dict[str, Any]:
                if by_files:
                    described = describe_files(path, bioio_files)
                    if _files_stamp(files_root, bioio_files) != files_stamps:
                        raise MovieError(f"{path}: changed while it was being read (files rewritten or replaced)")
                    return described
                assert before is not None
                after = path.stat()
                if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (before.st_size, before.st_mtime_ns, before.st_ctime_ns):
                    raise MovieError(f"{path}: changed while it was being read (its size or change time differ)")
                return file_description(n_bytes, sha256)

            logger.info("opened %s: %s through %s -> TCYX %s (%d z-planes), read frame by frame%s", path,
                        _BIOIO_READ[checked].name, _BIOIO_READ[checked].package, header.shape_tcyx, header.z_planes,
                        " (pixels through libCZI)" if planes is not None else "")
            lazy = LazyMovie(header.shape_tcyx, header.dtype, lambda t: read_vendor((t,))[:, 0], header.z_planes,
                             (lambda t, c: read_vendor((t, c))) if header.z_planes != 1 else None)
            yield RawMovie(lazy, header.source_axes, header.pixel_size_um, header.frame_interval_min,
                           list(header.channel_names), header.pixel_size_y_um, header.frame_interval_from,
                           header.scene, header.scene_name, source_checksum=vendor_checksum if checksum else None,
                           pixel_size_z_um=header.pixel_size_z_um, stage_position_um=header.stage_position_um,
                           reader=header.reader + (" (pixels through libCZI)" if planes is not None else ""))
        return
    if checked == "ctc":
        header = inspect_ctc_folder(path)
        from cellpipe.io.ctc import frame_files

        files = frame_files(path)
        _, _, y, x = header.shape_tcyx
        read: dict[int, dict[str, Any]] = {}  # frame -> path (relative to the folder), bytes, sha256 as read

        def read_ctc_frame(t: int) -> np.ndarray:
            data = files[t].read_bytes()
            entry = {"path": files[t].relative_to(path).as_posix(), "bytes": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()}
            if read.setdefault(t, entry) != entry:  # a frame read twice must be the same bytes
                raise MovieError(f"{files[t]}: changed while the movie was being read")
            plane = tifffile.imread(io.BytesIO(data))
            if plane.shape != (y, x) or plane.dtype != header.dtype:
                raise MovieError(
                    f"{files[t]}: a {plane.shape} {plane.dtype} image where its header said ({y}, {x}) {header.dtype}"
                )
            return plane[np.newaxis]

        def ctc_checksum() -> dict[str, Any]:
            unread = [t for t in range(header.shape_tcyx[0]) if t not in read]
            if unread:
                raise MovieError(f"{path}: no checksum of the frames read: frame(s) {unread[:5]} were not read")
            return folder_description(list(read.values()))

        yield RawMovie(LazyMovie(header.shape_tcyx, header.dtype, read_ctc_frame), "TYX",
                       source_checksum=ctc_checksum if checksum else None)
        return
    import zarr

    folder: Path | None = None  # a Micro-Manager dataset: the folder the sample sheet names
    position_name = None
    tiff_scene = scene
    named = path  # the movie the sample sheet names: its checksum covers the files this position reads (movie_files)
    if checked == "micromanager":
        folder = path
        path, label, tiff_scene = _mm_position_file(folder, scene)
        position_name = label if scene is not None else None
    read_files = movie_files(named, checked, scene) if checksum else []
    several = folder is not None or len(read_files) > 1  # a Micro-Manager position or a multi-file OME-TIFF
    # size and change time of each file at opening: a file rewritten while read is caught by the checksum
    read_stamps = _files_stamp(named if named.is_dir() else named.parent, read_files) if several else {}
    shape, file_axes, dtype, meta = open_tiff_header(path, scene=tiff_scene)
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open(path, "rb"))
        before = os.fstat(handle.fileno())
        # a whole extra pass over the file: only for a caller that records it (ingest)
        n_bytes, sha256 = sha256_of_handle(handle) if checksum and not several else (before.st_size, "")
        try:
            tif = stack.enter_context(open_tiff(handle))
        except _UNREADABLE as exc:
            raise MovieError(f"{path}: not a readable TIFF ({_one_line(exc)})") from exc

        def tiff_checksum() -> dict[str, Any]:
            after = os.fstat(handle.fileno())
            # ctime too: `cp -p` over the file rewrites it in place and then restores its mtime
            stamps = ("st_size", "st_mtime_ns", "st_ctime_ns")
            if any(getattr(after, k) != getattr(before, k) for k in stamps) or after.st_size != n_bytes:
                raise MovieError(f"{path}: changed while it was being read (its size or change time differ)")
            return file_description(n_bytes, sha256)

        def files_checksum() -> dict[str, Any]:
            # the files are hashed by path after the pixels were read, so their stamps must not have moved since
            described = describe_files(named, read_files)
            if _files_stamp(named if named.is_dir() else named.parent, read_files) != read_stamps:
                raise MovieError(f"{named}: changed while it was being read (files rewritten or replaced)")
            return described

        # level 0: the full resolution; a pyramidal series would otherwise open as a group of levels
        index = tiff_series_of_scene(tif, path, tiff_scene)
        pages = zarr.open(tif.series[index].aszarr(level=0), mode="r")
        use_axes = _default_axes(len(shape), file_axes, axes)
        t_len, c_len, z_len, y_len, x_len = tczyx_shape(shape, use_axes, path)
        if z_len != 1 and not allow_z:
            raise MovieError(z_stack_refusal(path, z_len))
        tcyx = (t_len, c_len, y_len, x_len)
        # the header's shape may have a leading T of 1 that the series lacks (_series_layout)
        leading = len(shape) - pages.ndim
        letters = use_axes.upper().replace("I", "T").replace("Q", "T").replace("S", "C")
        time_axis = letters.index("T")

        def read_tiff_stack(t: int, c: int) -> np.ndarray:
            # one frame and channel: the stack's Z planes (and nothing else) are decoded
            index = [slice(None)] * len(shape)
            index[time_axis] = slice(t, t + 1)
            if "C" in letters:
                index[letters.index("C")] = slice(c, c + 1)
            block = np.asarray(pages[tuple(index[leading:])]).reshape(
                tuple(1 if letter in "TC" else n for letter, n in zip(letters, shape, strict=True))
            )
            return to_tczyx(block, use_axes, path)[0, 0]

        def read_tiff_frame(t: int) -> np.ndarray:
            index = [slice(None)] * len(shape)
            index[time_axis] = slice(t, t + 1)
            block = np.asarray(pages[tuple(index[leading:])]).reshape(
                tuple(1 if i == time_axis else n for i, n in enumerate(shape))
            )
            return to_tcyx(block, use_axes, path)[0]

        logger.info("opened %s: axes %s -> TCYX %s, read frame by frame", path, use_axes, tcyx)
        lazy = LazyMovie(tcyx, dtype, read_tiff_frame, z_len, read_tiff_stack if z_len != 1 else None)
        if folder is not None:
            scene_name = position_name
        else:
            scene_name = (tif.series[index].name or None) if scene is not None else None
        yield RawMovie(lazy, use_axes, meta.pixel_size_um, meta.frame_interval_min,
                       list(meta.channel_names), meta.pixel_size_y_um, meta.frame_interval_from, scene=scene,
                       scene_name=scene_name,
                       source_checksum=(files_checksum if several else tiff_checksum) if checksum else None,
                       pixel_size_z_um=meta.pixel_size_z_um, stage_position_um=meta.stage_position_um)


def _stamp(path: Path) -> tuple[int, int, int]:
    """Size, modification and change time of a file (ns): what a rewrite changes, even with its mtime restored."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


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
