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

This package's face finds a movie's format and reads, inspects and lists it whatever the format; each format lives
in a module of its own (:mod:`~cellpipe.io.movies.tiff` with CTC folders, :mod:`~cellpipe.io.movies.ome`,
:mod:`~cellpipe.io.movies.micromanager`, :mod:`~cellpipe.io.movies.ngff`, :mod:`~cellpipe.io.movies.vendor`), on
:mod:`~cellpipe.io.movies.units` and :mod:`~cellpipe.io.movies.common`.  They import one another one way only
(common; units; ome; tiff; micromanager; ngff; vendor: each from those before it), never this face.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cellpipe.io.movies.common import (
    _UNREADABLE,
    POSITIONS_HINT,
    Z_PROJECTIONS,
    FileMetadata,
    LazyMovie,
    MovieError,
    MovieFormat,
    MovieHeader,
    MovieReader,
    PathLike,
    RawMovie,
    _one_line,
    _only_scene_zero,
    _stamp,
    tcyx_shape,
    tczyx_shape,
    to_tcyx,
    to_tczyx,
    z_stack_refusal,
)
from cellpipe.io.movies.micromanager import _MM_FILE, _mm_position_file, mm_positions
from cellpipe.io.movies.ngff import (
    _ZARR_MARKERS,
    _ZARR_METADATA,
    NGFF_VERSIONS,
    _bioformats2raw_series,
    _bioformats2raw_stage_position,
    _ngff_image,
    _ngff_positions,
    _ngff_scene,
)
from cellpipe.io.movies.ome import IRREGULAR_STEP
from cellpipe.io.movies.tiff import (
    MM_INTERVAL_KEYS,
    MM_PIXEL_SIZE_KEYS,
    MM_STAGE_KEYS,
    _default_axes,
    _tiff_series_files,
    content_uuid,
    inspect_ctc_folder,
    inspect_tiff,
    open_tiff,
    open_tiff_header,
    tiff_positions,
    tiff_series_of_scene,
    write_ome_tiff,
)
from cellpipe.io.movies.units import IMAGEJ_LENGTH_TO_UM, IMAGEJ_TIME_TO_MIN, NGFF_UNIT_SYMBOLS, OME_LENGTH_TO_UM, OME_TIME_TO_MIN
from cellpipe.io.movies.vendor import (
    _BIOIO_READ,
    BIOIO_PLUGINS,
    VENDOR_FORMATS,
    VendorFormat,
    _czi_scene_count,
    _libczi_planes,
    _quiet_bioio,
    _vendor_image,
    _vendor_reader_class,
    through_bioio,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BIOIO_PLUGINS",
    "content_format",
    "content_uuid",
    "detect_format",
    "FileMetadata",
    "IMAGEJ_LENGTH_TO_UM",
    "IMAGEJ_TIME_TO_MIN",
    "inspect_ctc_folder",
    "inspect_movie",
    "inspect_tiff",
    "IRREGULAR_STEP",
    "LazyMovie",
    "list_scenes",
    "MM_INTERVAL_KEYS",
    "MM_PIXEL_SIZE_KEYS",
    "mm_positions",
    "MM_STAGE_KEYS",
    "movie_files",
    "MovieError",
    "MovieFormat",
    "MovieHeader",
    "MovieReader",
    "NGFF_UNIT_SYMBOLS",
    "NGFF_VERSIONS",
    "OME_LENGTH_TO_UM",
    "OME_TIME_TO_MIN",
    "open_movie",
    "open_tiff",
    "open_tiff_header",
    "PathLike",
    "POSITIONS_HINT",
    "RawMovie",
    "read_movie",
    "tcyx_shape",
    "tczyx_shape",
    "through_bioio",
    "tiff_positions",
    "tiff_series_of_scene",
    "to_tcyx",
    "to_tczyx",
    "VENDOR_FORMATS",
    "VendorFormat",
    "write_ome_tiff",
    "Z_PROJECTIONS",
    "z_stack_refusal",
]


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
    path = Path(path)
    checked = _checked_format(path, fmt)
    if checked == "ctc":
        _only_scene_zero(path, checked, scene)
    if checked == "ome-zarr" and not through_bioio(checked, reader):
        opened = _open_ngff(path, checked, axes, checksum, allow_z, scene)
    elif through_bioio(checked, reader):
        opened = _open_through_bioio(path, checked, axes, checksum, allow_z, scene)
    elif checked == "ctc":
        opened = _open_ctc_folder(path, checksum)
    else:
        opened = _open_tiff_movie(path, checked, axes, checksum, allow_z, scene)
    yield from opened


def _open_ngff(
    path: Path, checked: MovieFormat, axes: str | None, checksum: bool, allow_z: bool, scene: int | None,
) -> Iterator[RawMovie]:
    """An OME-Zarr image (or a position of a store of several) read by cellpipe: ``level[t]`` per frame."""
    from cellpipe.io.checksums import describe_files

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


def _open_through_bioio(
    path: Path, checked: MovieFormat, axes: str | None, checksum: bool, allow_z: bool, scene: int | None,
) -> Iterator[RawMovie]:
    """A file read through its bioio plugin's lazy array (CZI pixels through libCZI): one frame's planes per read."""
    from cellpipe.io.checksums import describe_files, file_description, sha256_of_handle

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


def _open_ctc_folder(path: Path, checksum: bool) -> Iterator[RawMovie]:
    """A CTC folder: each frame's file read into memory, hashed and decoded from those bytes."""
    from cellpipe.io.checksums import folder_description

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


def _open_tiff_movie(
    path: Path, checked: MovieFormat, axes: str | None, checksum: bool, allow_z: bool, scene: int | None,
) -> Iterator[RawMovie]:
    """A TIFF, OME-TIFF (one file or several) or Micro-Manager position read by cellpipe: a frame's pages per read."""
    import zarr

    from cellpipe.io.checksums import describe_files, file_description, sha256_of_handle

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
