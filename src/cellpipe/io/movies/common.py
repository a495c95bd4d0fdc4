"""What every movie format shares: the movie and header types, the errors, and axes brought to (T, C, (Z,) Y, X).

Lengths in µm, times in minutes; axes are named by letters (T, C, Z, Y, X, and S for samples of a colour pixel).
"""

from __future__ import annotations

import operator
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import tifffile

PathLike = str | os.PathLike[str]


_T = TypeVar("_T")


MovieFormat = Literal["auto", "tiff", "ome-tiff", "ctc", "ome-zarr", "czi", "nd2", "lif", "micromanager"]


MovieReader = Literal["auto", "cellpipe", "bioio"]
"""Which reader reads a TIFF, OME-TIFF or OME-Zarr (``ingest.reader``): ``auto`` and ``cellpipe`` cellpipe's own,
``bioio`` the format's bioio plugin (:data:`BIOIO_PLUGINS`).  CZI, ND2 and LIF files are read through their plugin
whatever the setting, and a CTC folder or a Micro-Manager dataset folder by cellpipe (no plugin reads them)."""


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


def _information(read: Callable[[], float | None]) -> float | None:
    """A metadata value kept as information only: None where it cannot be read, refusing no movie.

    A metadata value kept as information only (the z-step of a movie projected to 2-D): None where the file's
    value or unit cannot be read, which refuses no movie that reads otherwise.
    """
    try:
        return read()
    except (MovieError, TypeError, ValueError):
        return None


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


_UNREADABLE = (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, RuntimeError, struct.error, ET.ParseError)
"""What tifffile (and its codecs) raise for a file that is not a TIFF, corrupt, or cut short."""


def _one_line(exc: BaseException | str) -> str:
    """``exc``'s message on one line, for messages that quote a library's error."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _only_scene_zero(path: Path, fmt: str, scene: int | None) -> None:
    """A CTC folder or an OME-Zarr image is one position: scene 0 or none."""
    if scene not in (None, 0):
        raise MovieError(f"{path}: no scene {scene}: a {fmt} movie is one position (scene 0)")


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


def _stamp(path: Path) -> tuple[int, int, int]:
    """Size, modification and change time of a file (ns): what a rewrite changes, even with its mtime restored."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
