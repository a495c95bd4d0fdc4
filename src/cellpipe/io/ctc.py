"""Cell Tracking Challenge (CTC) folders: raw frames, ground truth and results.

Layout (frames are 0-based; names have 3 digits, 4 when a movie has more than 1000 frames)::

    01/t000.tif, t001.tif, ...                 raw frames (Y, X), or stacks (Z, Y, X) in 3-D
    01_GT/TRA/man_track000.tif, ...            tracking ground truth: one label image per frame
    01_GT/TRA/man_track.txt                    "label first_frame last_frame parent" per line
    01_GT/SEG/man_seg000.tif, ...              segmentation ground truth (all or some frames)
    01_RES/mask000.tif, ..., res_track.txt     a method's result, for the CTC evaluation tools

A 3-D movie has the same files, each holding one (Z, Y, X) stack with z as its first axis (the CTC's
3-D data sets, which py-ctcmetrics and traccuracy read): writers take (T, Z, Y, X) arrays and readers
return them when asked with ``volumes=True``; without it they accept 2-D frames only, so a stack
never passes silently where (Y, X) frames are expected.

Label values in TRA masks are track ids: a track's label is present in every frame from its
first to its last frame, and a daughter starts after its parent's last frame
(:func:`check_ctc_tracks` checks this).

Result masks (``write_ctc_results``, ``write_ctc_result_frames``) carry the pixel size when given one:
uint16 masks as ImageJ writes it (``XResolution``/``YResolution`` in pixels per µm, ``unit=um`` in the
ImageJ description, so Fiji shows µm), uint32 masks, which ImageJ's TIFF flavour cannot hold, in the
plain TIFF resolution tags (pixels per centimetre).  :func:`read_ctc_pixel_size` reads either back.
py-ctcmetrics and traccuracy read the pixels only, unchanged by the tags.

Every writer builds the folder under a temporary sibling name and renames it when complete,
so an interrupted write leaves nothing under the final name; writers refuse to replace an
existing non-empty folder.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import tifffile

from cellpipe.io.atomic import atomic_path

if TYPE_CHECKING:
    from cellpipe.simulate import SimulatedMovie
    from cellpipe.simulate3d import SimulatedMovie3D

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

__all__ = [
    "GroundTruthFiles",
    "GroundTruthFrame",
    "TRACK_COLUMNS",
    "TiffFrames",
    "as_labels",
    "check_ctc_tracks",
    "check_frame_number",
    "check_frame_shape",
    "frame_digits",
    "frame_files",
    "frame_name",
    "ground_truth_files",
    "label_files",
    "marker_coverage",
    "numbered_files",
    "numbered_tiffs",
    "read_ctc_label_stack",
    "read_ctc_labels",
    "read_ctc_movie",
    "read_ctc_pixel_size",
    "read_ctc_results",
    "read_ctc_tracks",
    "read_ground_truth_frames",
    "read_label_frame",
    "read_tiff",
    "sparse_annotation",
    "write_ctc_ground_truth",
    "write_ctc_ground_truth_frames",
    "write_ctc_movie",
    "write_ctc_results",
    "write_ctc_tracks",
    "write_label_tiff",
    "write_simulation",
]

TRACK_COLUMNS: tuple[str, ...] = ("label", "first_frame", "last_frame", "parent")
"""Columns of a CTC track table, in the order of ``man_track.txt``."""

_RAW_FRAME = re.compile(r"^t(\d+)\.tiff?$")
_TRAILING_NUMBER = re.compile(r"(\d+)\.tiff?$")
_MAX_UINT16 = int(np.iinfo(np.uint16).max)


def frame_digits(n_frames: int) -> int:
    """Digits in CTC frame names: 3, or 4 for movies with more than 1000 frames.

    Parameters
    ----------
    n_frames : int
        Length of the movie (frames).

    Returns
    -------
    int
        3 or 4.
    """
    return 3 if n_frames <= 1000 else 4


def frame_name(prefix: str, t: int, n_frames: int) -> str:
    """File name of frame ``t`` of an ``n_frames`` movie, e.g. ``frame_name("t", 7, 92) == "t007.tif"``.

    Parameters
    ----------
    prefix : str
        What comes before the number (``"t"``, ``"man_track"``, ``"mask"``).
    t : int
        The frame (0-based, frames).
    n_frames : int
        Length of the movie (frames); decides the number of digits (:func:`frame_digits`).

    Returns
    -------
    str
        The file name, ending in ``.tif``.
    """
    return f"{prefix}{t:0{frame_digits(n_frames)}d}.tif"


def _refuse_non_empty(folder: Path) -> None:
    """Raise FileExistsError unless ``folder`` is absent or an empty folder (writers never replace data)."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder}: exists and is not an empty folder; refusing to overwrite it")


# ------------------------------------------------------------------------------------------
# raw movies
# ------------------------------------------------------------------------------------------


def write_ctc_movie(folder: PathLike, movie: np.ndarray) -> None:
    """Write a movie as CTC raw frames ``folder/t000.tif``, ``t001.tif``, ... (dtype kept, uncompressed).

    ``movie`` may also be any array with ``shape`` and frame indexing (Zarr, dask): it is read one
    frame at a time.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to create; must be absent or empty.
    movie : numpy.ndarray or array-like
        (T, Y, X) in px, one (Y, X) frame per file; or (T, Z, Y, X), one (Z, Y, X) stack per file.

    Raises
    ------
    FileExistsError
        ``folder`` exists and is not empty.
    ValueError
        ``movie`` is not (T, Y, X) or (T, Z, Y, X) or has no frames.
    """
    folder = Path(folder)
    if not hasattr(movie, "shape"):
        movie = np.asarray(movie)
    shape = tuple(movie.shape)
    if len(shape) not in (3, 4) or shape[0] == 0:
        raise ValueError(f"{folder}: a CTC movie is (T, Y, X) or (T, Z, Y, X) with T >= 1; got shape {shape}")
    _refuse_non_empty(folder)
    n = shape[0]
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for t in range(n):
            tifffile.imwrite(tmp / frame_name("t", t, n), np.asarray(movie[t]))
    logger.info("wrote %d frames of %s px to %s", n, shape[1:], folder)


def numbered_files(
    folder: Path,
    names: Iterable[str],
    pattern: re.Pattern[str],
    error: type[ValueError] = ValueError,
    unnumbered: str | None = None,
) -> dict[int, Path]:
    """The files ``names`` of ``folder`` by their 0-based frame number, group 1 of ``pattern``.

    Every CTC reader of numbered files (raw frames, TRA and SEG masks, the ground truth's label
    folders) finds its files with it.

    Parameters
    ----------
    folder : pathlib.Path
        The folder holding the files; joined to each name.
    names : iterable of str
        File names in ``folder``.
    pattern : re.Pattern
        Its group 1 is the frame number (frames, 0-based).
    error : type of ValueError
        The exception raised (a subclass lets a caller tell annotation errors apart).
    unnumbered : str or None
        None: a name ``pattern`` does not match is left out; otherwise such a name raises ``error``
        with this explanation.

    Returns
    -------
    dict of int to pathlib.Path
        Frame number -> file, in the order of ``names``.

    Raises
    ------
    ValueError
        (``error``) two files of one frame, or an unmatched name when ``unnumbered`` is given.
    """
    found: dict[int, Path] = {}
    for name in names:
        match = pattern.search(name)
        if match is None:
            if unnumbered is not None:
                raise error(f"{folder / name}: {unnumbered}")
            continue
        t = int(match.group(1))
        if t in found:
            raise error(f"{folder}: two files for frame {t}: {found[t].name} and {name}")
        found[t] = folder / name
    return found


def frame_files(folder: Path) -> dict[int, Path]:
    """The raw frames ``tNNN.tif`` of a CTC movie folder, by frame number; other files are left out.

    Parameters
    ----------
    folder : pathlib.Path
        A CTC movie folder.

    Returns
    -------
    dict of int to pathlib.Path
        Frame number (frames, 0-based) -> file.
    """
    return numbered_files(folder, sorted(os.listdir(folder)), _RAW_FRAME)


def label_files(folder: PathLike, pattern: str = "man_track*.tif", error: type[ValueError] = ValueError) -> dict[int, Path]:
    """The label images of ``folder`` matching ``pattern``, by the number at the end of the name.

    Parameters
    ----------
    folder : str or os.PathLike
        A CTC ground truth or result folder (``TRA``, ``SEG``, ``RES``).
    pattern : str
        Glob of the file names; the number before ``.tif`` is the frame (``man_seg021.tif`` -> 21).
    error : type of ValueError
        The exception raised when two files share a frame.

    Returns
    -------
    dict of int to pathlib.Path
        Frame number (frames, 0-based) -> file, sorted by name.
    """
    folder = Path(folder)
    return numbered_files(folder, sorted(p.name for p in folder.glob(pattern)), _TRAILING_NUMBER, error)


def read_tiff(path: Path, error: type[ValueError] = ValueError, page: int | None = None) -> np.ndarray:
    """The pixels of one TIFF, or only of one page.

    Parameters
    ----------
    path : pathlib.Path
        The TIFF file.
    error : type of ValueError
        Raised, naming ``path``, when the file cannot be read.
    page : int or None
        0-based page to read; None reads the whole file.

    Returns
    -------
    numpy.ndarray
        The pixels in the file's dtype and shape (px).

    Raises
    ------
    ValueError
        (``error``) the file is missing or not a readable TIFF.
    """
    try:
        return np.asarray(tifffile.imread(path) if page is None else tifffile.imread(path, key=page))
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise error(f"{path}: not a readable TIFF ({exc})") from None


def as_labels(array: np.ndarray, where: Path | str, error: type[ValueError] = ValueError) -> np.ndarray:
    """An annotation's label image as uint32 (0 = background).

    Parameters
    ----------
    array : numpy.ndarray
        Integers, booleans, or floats holding whole numbers (px).
    where : pathlib.Path or str
        Named in the error message (the file the array came from).
    error : type of ValueError
        The exception raised for values that are not labels.

    Returns
    -------
    numpy.ndarray
        ``array`` as uint32, same shape.

    Raises
    ------
    ValueError
        (``error``) fractions, other dtypes, or negative values.
    """
    array = np.asarray(array)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0):
            raise error(f"{where}: labels must be whole numbers, got {array.dtype} with fractions")
    elif array.dtype.kind not in "iub":
        raise error(f"{where}: labels must be integers, got {array.dtype}")
    if array.size and array.min() < 0:
        raise error(f"{where}: labels must not be negative")
    return array.astype(np.uint32)


def _check_contiguous(folder: Path, frames: Sequence[int], what: str) -> None:
    """Raise ValueError naming ``folder`` unless ``frames`` are 0..T-1 with no gap."""
    expected = range(len(frames))
    if list(frames) != list(expected):
        missing = sorted(set(range(max(frames) + 1)) - set(frames))
        raise ValueError(
            f"{folder}: {what} must be numbered 0..{len(frames) - 1} without gaps; "
            f"frame(s) {missing[:10]}{' ...' if len(missing) > 10 else ''} missing"
        )


def _read_stack(folder: Path, files: dict[int, Path], volumes: bool = False) -> np.ndarray:
    """The frames ``files`` as one array: (T, Y, X), or (T, Z, Y, X) when ``volumes``."""
    frames = sorted(files)
    first = tifffile.imread(files[frames[0]])
    if volumes and first.ndim != 3:
        raise ValueError(f"{files[frames[0]]}: frame has shape {first.shape}; expected a 3D stack (Z, Y, X)")
    if not volumes and first.ndim != 2:
        raise ValueError(
            f"{files[frames[0]]}: frame has shape {first.shape}; cellpipe reads 2D frames (Y, X)"
            + (" (a 3D stack: read it with volumes=True)" if first.ndim == 3 else "")
        )
    stack = np.empty((len(frames), *first.shape), dtype=first.dtype)
    stack[0] = first
    for i, t in enumerate(frames[1:], start=1):
        frame = tifffile.imread(files[t])
        if frame.shape != first.shape:
            raise ValueError(
                f"{folder}: frames have different shapes: {files[frames[0]].name} is {first.shape}, "
                f"{files[t].name} is {frame.shape}"
            )
        if frame.dtype != first.dtype:
            raise ValueError(
                f"{folder}: frames have different dtypes: {files[frames[0]].name} is {first.dtype}, "
                f"{files[t].name} is {frame.dtype}"
            )
        stack[i] = frame
    return stack


def read_ctc_movie(folder: PathLike, volumes: bool = False) -> np.ndarray:
    """Read the ``tNNN.tif`` frames of a CTC folder in frame order; other files are ignored.

    Parameters
    ----------
    folder : str or os.PathLike
        A CTC movie folder.
    volumes : bool
        False: every file must hold a 2-D (Y, X) frame.  True: a (Z, Y, X) stack (a 3-D movie).

    Returns
    -------
    numpy.ndarray
        (T, Y, X), or (T, Z, Y, X) with ``volumes``, in the files' dtype (px).

    Raises
    ------
    ValueError
        Naming the folder: no frames, a gap in the numbering (frames must be 0..T-1), frames of
        different shapes or dtypes, or frames that are not 2-D (3-D with ``volumes``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of CTC frames (tNNN.tif)")
    files = frame_files(folder)
    if not files:
        raise ValueError(f"{folder}: no CTC frames (t000.tif, t001.tif, ...) found")
    _check_contiguous(folder, sorted(files), "frames tNNN.tif")
    movie = _read_stack(folder, files, volumes)
    logger.info("read %d frames %s %s from %s", movie.shape[0], movie.shape[1:], movie.dtype, folder)
    return movie


# ------------------------------------------------------------------------------------------
# label images
# ------------------------------------------------------------------------------------------


def read_ctc_labels(folder: PathLike, pattern: str = "man_track*.tif") -> dict[int, np.ndarray]:
    """Read label images matching ``pattern`` (glob) as {frame: array}.

    The frame number is the number at the end of the file name (``man_seg021.tif`` -> 21),
    so sparse SEG ground truth reads naturally.

    Parameters
    ----------
    folder : str or os.PathLike
        A CTC ground truth or result folder.
    pattern : str
        Glob of the file names.

    Returns
    -------
    dict of int to numpy.ndarray
        Frame number (frames, 0-based) -> (Y, X) label image (px).

    Raises
    ------
    ValueError
        No file matches, or two files have the same frame number.
    """
    files = label_files(folder, pattern)
    if not files:
        raise ValueError(f"{folder}: no label images matching {pattern!r}")
    return {t: tifffile.imread(files[t]) for t in sorted(files)}


def write_label_tiff(path: PathLike, frame: np.ndarray) -> None:
    """Write one label image as a plain TIFF in its own dtype (a scratch file for a reader that takes paths).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    frame : numpy.ndarray
        (Y, X) labels (px).
    """
    tifffile.imwrite(path, np.asarray(frame))


class TiffFrames(Mapping[int, np.ndarray]):
    """The label images of a CTC folder matching ``pattern`` (glob), read one frame at a time.

    A mapping frame -> (Y, X) array, or (Z, Y, X) for a 3-D movie (the frame number is the last
    number of the file name), whose values are read from disk each time they are asked for and not
    kept, so a long movie is scored in the memory of one frame.

    Parameters
    ----------
    folder : str or os.PathLike
        A CTC ground truth or result folder.
    pattern : str
        Glob of the file names.

    Attributes
    ----------
    folder : pathlib.Path
        The folder.
    files : dict of int to pathlib.Path
        Frame number (frames, 0-based) -> file, in frame order.
    shape : tuple of int
        (number of frames, Y, X) or (number of frames, Z, Y, X) in px, from the first file's header.
    dtype : numpy.dtype
        The first frame's dtype.

    Raises
    ------
    ValueError
        No file matches, or two files have the same frame number.
    """

    def __init__(self, folder: PathLike, pattern: str) -> None:
        self.folder = Path(folder)
        names = sorted(p.name for p in self.folder.glob(pattern))
        self.files: dict[int, Path] = dict(sorted(numbered_files(self.folder, names, _TRAILING_NUMBER).items()))
        if not self.files:
            raise ValueError(f"{self.folder}: no label images matching {pattern!r}")
        with tifffile.TiffFile(next(iter(self.files.values()))) as tif:
            # the series, not the first page: a 3-D frame is a stack of pages
            series = tif.series[0]
            frame_shape, self.dtype = tuple(int(n) for n in series.shape), np.dtype(series.dtype)
        self.shape: tuple[int, ...] = (len(self.files), *frame_shape)

    def __getitem__(self, t: int) -> np.ndarray:
        return np.asarray(tifffile.imread(self.files[int(t)]))

    def __iter__(self) -> Iterator[int]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


_NUMBERED_TIFF = re.compile(r"(\d+)\D*\.tiff?$", re.IGNORECASE)


def numbered_tiffs(folder: Path, prefix: str = "", error: type[ValueError] = ValueError) -> dict[int, Path]:
    """The TIFFs of ``folder`` whose names start with ``prefix``, by frame number.

    The frame number is the last number in the name (``man_seg005.tif``, ``t012_labels.tif``); a TIFF
    with ``prefix`` and no number is an error, not left out, so a misnamed annotation is not dropped
    without a word.

    Parameters
    ----------
    folder : pathlib.Path
        The folder to list.
    prefix : str
        What each name must start with (``"man_seg"``, ``"man_track"``; ``""``: every TIFF).
    error : type of ValueError
        The exception raised.

    Returns
    -------
    dict of int to pathlib.Path
        Frame number (frames, 0-based) -> file, sorted by name.

    Raises
    ------
    ValueError
        (``error``) a TIFF without a number in its name, or two files of one frame.
    """
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix) and p.suffix.lower() in (".tif", ".tiff"))
    unnumbered = "no frame number in the file name (expected e.g. mask005.tif)"
    return numbered_files(folder, names, _NUMBERED_TIFF, error, unnumbered)


def check_frame_number(t: int, n_frames: int, where: Path, error: type[ValueError] = ValueError) -> None:
    """Raise ``error`` naming ``where`` when frame ``t`` lies outside the movie's frames 0..n_frames-1.

    Parameters
    ----------
    t : int
        The frame (0-based, frames).
    n_frames : int
        Length of the movie (frames).
    where : pathlib.Path
        The file of that frame, named in the message.
    error : type of ValueError
        The exception raised.
    """
    if not 0 <= t < n_frames:
        raise error(f"{where}: frame {t} is beyond the movie's {n_frames} frame(s) (0..{n_frames - 1})")


def check_frame_shape(
    shape: tuple[int, ...], frame_shape: tuple[int, ...], where: Path | str, error: type[ValueError] = ValueError
) -> None:
    """Raise ``error`` naming ``where`` when a mask's ``shape`` is not the movie's ``frame_shape``.

    Parameters
    ----------
    shape : tuple of int
        The mask's shape: (Y, X) px, or (Z, Y, X) voxels.
    frame_shape : tuple of int
        The movie's frame size, in the same axes.
    where : pathlib.Path or str
        The file, named in the message.
    error : type of ValueError
        The exception raised.
    """
    shape, frame_shape = tuple(shape), tuple(frame_shape)
    if shape == frame_shape:
        return
    size = "x".join(str(n) for n in frame_shape)
    unit = "px" if len(frame_shape) == 2 else "voxels"
    if len(shape) == len(frame_shape):
        raise error(f"{where}: mask is {'x'.join(str(n) for n in shape)} {unit} but the movie's frames are {size} {unit}")
    axes = "(Y, X)" if len(frame_shape) == 2 else "(Z, Y, X)"
    raise error(f"{where}: expected a {axes} mask of {size} {unit}, got shape {shape}")


def read_label_frame(
    path: Path, frame_shape: tuple[int, ...], error: type[ValueError] = ValueError, page: int | None = None
) -> np.ndarray:
    """One annotated frame of labels, checked: a readable TIFF of whole non-negative numbers of ``frame_shape``.

    Parameters
    ----------
    path : pathlib.Path
        The TIFF.
    frame_shape : tuple of int
        The movie's frame size: (Y, X) px, or (Z, Y, X) voxels.
    error : type of ValueError
        The exception raised, naming ``path``.
    page : int or None
        0-based page to read; None reads the whole file.

    Returns
    -------
    numpy.ndarray
        uint32 labels of ``frame_shape`` (0 = background).
    """
    frame = as_labels(read_tiff(path, error, page), path, error)
    check_frame_shape(frame.shape, frame_shape, path, error)
    return frame


# ------------------------------------------------------------------------------------------
# ground-truth folders: the files, and which SEG frames are complete
# ------------------------------------------------------------------------------------------


def marker_coverage(seg: np.ndarray, markers: np.ndarray) -> tuple[float, int]:
    """Fraction of tracking markers that overlap a segmentation mask, and the number of markers.

    Parameters
    ----------
    seg : numpy.ndarray
        (Y, X) instance labels of one frame (CTC ``SEG``), or (Z, Y, X) of a 3-D movie.
    markers : numpy.ndarray
        Tracking markers of the same frame and shape (CTC ``TRA``).

    Returns
    -------
    coverage : float
        Share (0-1) of the markers with at least one pixel on a mask; 1.0 for a frame without markers.
    n_markers : int
        Markers in the frame.
    """
    ids = np.unique(markers)
    ids = ids[ids != 0]
    if ids.size == 0:
        return 1.0, 0
    covered = np.unique(markers[(markers != 0) & (seg != 0)])
    return float(np.isin(ids, covered).sum()) / float(ids.size), int(ids.size)


@dataclass(frozen=True)
class GroundTruthFiles:
    """The numbered files of a CTC ground-truth folder (``01_GT``), listed by :func:`ground_truth_files`.

    Attributes
    ----------
    folder : pathlib.Path
        The ground-truth folder.
    seg : dict of int to pathlib.Path
        Frame (0-based) -> ``SEG/man_segTTT.tif``; empty without a ``SEG`` folder.
    markers : dict of int to pathlib.Path
        Frame (0-based) -> ``TRA/man_trackTTT.tif``; empty without a ``TRA`` folder.
    """

    folder: Path
    seg: dict[int, Path]
    markers: dict[int, Path]

    @property
    def seg_dir(self) -> Path:
        """``SEG``: the segmentation masks (all frames or some)."""
        return self.folder / "SEG"

    @property
    def tra_dir(self) -> Path:
        """``TRA``: the tracking markers, every cell of every frame."""
        return self.folder / "TRA"

    @property
    def track_file(self) -> Path:
        """``TRA/man_track.txt``: the lineage (it may be absent)."""
        return self.tra_dir / "man_track.txt"


def ground_truth_files(folder: PathLike, error: type[ValueError] = ValueError) -> GroundTruthFiles:
    """List the SEG masks and TRA markers of a CTC ground-truth folder by frame; nothing is read.

    Parameters
    ----------
    folder : str or os.PathLike
        The ground-truth folder (``01_GT``); ``SEG`` and ``TRA`` may each be absent (which one a
        caller needs is its own rule).
    error : type of ValueError
        The exception raised.

    Returns
    -------
    GroundTruthFiles

    Raises
    ------
    ValueError
        (``error``) a ``man_seg`` / ``man_track`` TIFF without a frame number, or two files of one frame.
    """
    folder = Path(folder)
    seg_dir, tra_dir = folder / "SEG", folder / "TRA"
    seg = numbered_tiffs(seg_dir, "man_seg", error) if seg_dir.is_dir() else {}
    markers = numbered_tiffs(tra_dir, "man_track", error) if tra_dir.is_dir() else {}
    return GroundTruthFiles(folder, seg, markers)


def sparse_annotation(coverage: float, n_markers: int) -> str:
    """Why a SEG frame is not complete: ``sparse annotation: k of n tracked cells have a mask``.

    Parameters
    ----------
    coverage : float
        Share (0-1) of the frame's markers covered by a mask (:func:`marker_coverage`).
    n_markers : int
        Markers in the frame.

    Returns
    -------
    str
    """
    return f"sparse annotation: {int(round(coverage * n_markers))} of {n_markers} tracked cells have a mask"


@dataclass(frozen=True)
class GroundTruthFrame:
    """One frame of a CTC ground-truth folder, as :func:`read_ground_truth_frames` reads it.

    Attributes
    ----------
    frame : int
        The frame (0-based).
    seg : numpy.ndarray or None
        Its SEG mask as uint32 labels of the movie's frame shape (px or voxels); None without one.
    n_markers : int or None
        Tracked cells (TRA markers) in the frame; None without a marker image.
    coverage : float or None
        Share (0-1) of those markers that overlap the SEG mask (:func:`marker_coverage`); None unless
        the frame has both.
    """

    frame: int
    seg: np.ndarray | None
    n_markers: int | None
    coverage: float | None

    def complete(self, min_marker_coverage: float) -> bool:
        """Whether the SEG mask covers at least ``min_marker_coverage`` (0-1) of the markers.

        Parameters
        ----------
        min_marker_coverage : float
            Smallest share (0-1) of the frame's markers that must overlap a mask.

        Returns
        -------
        bool
            False for a frame without a SEG mask or without markers (completeness unknown there).
        """
        return self.coverage is not None and self.coverage >= min_marker_coverage


def read_ground_truth_frames(
    files: GroundTruthFiles,
    frames: Iterable[int],
    n_frames: int,
    frame_shape: tuple[int, ...],
    error: type[ValueError] = ValueError,
) -> Iterator[GroundTruthFrame]:
    """Read the frames of a CTC ground-truth folder one at a time, with how completely each SEG frame is annotated.

    The one reader of a CTC ground-truth folder's pixels, for the evaluation's ground truth and the
    training annotations.  In CTC ground truth most SEG frames label only some cells (GOWT1: 26 of 30
    frames label 1-3 of about 24 nuclei), and the TRA markers, which mark every cell, tell which: a
    frame's SEG mask is complete when it covers (nearly) all of that frame's markers.

    Every SEG file is checked to lie within the movie before anything is read.  Each frame's
    markers and SEG mask are read, checked to be whole non-negative labels of ``frame_shape``, and
    compared; nothing is kept between frames, so a long movie is read in the memory of one frame.

    Parameters
    ----------
    files : GroundTruthFiles
        The folder's files (:func:`ground_truth_files`).
    frames : iterable of int
        The frames to read (0-based), in the order given; a frame with neither file yields a frame of
        None values.
    n_frames : int
        Length of the movie (frames).
    frame_shape : tuple of int
        The movie's frame size: (Y, X) px, or (Z, Y, X) voxels for a 3-D movie.
    error : type of ValueError
        The exception raised, naming the file.

    Yields
    ------
    GroundTruthFrame
        One per frame of ``frames``.

    Raises
    ------
    ValueError
        (``error``) a SEG file beyond the movie, an unreadable TIFF, labels that are not whole
        non-negative numbers, or a mask not of ``frame_shape``.
    """
    for t, file in sorted(files.seg.items()):
        check_frame_number(t, n_frames, file, error)
    for t in frames:
        n_markers: int | None = None
        markers = None
        if t in files.markers:
            markers = read_label_frame(files.markers[t], frame_shape, error)
            n_markers = int(np.count_nonzero(np.unique(markers)))
        seg = read_label_frame(files.seg[t], frame_shape, error) if t in files.seg else None
        coverage = marker_coverage(seg, markers)[0] if seg is not None and markers is not None else None
        yield GroundTruthFrame(t, seg, n_markers, coverage)


def read_ctc_label_stack(folder: PathLike, pattern: str = "man_track*.tif", volumes: bool = False) -> np.ndarray:
    """Read label images matching ``pattern`` as one stack; frames must be 0..T-1.

    Parameters
    ----------
    folder : str or os.PathLike
        A CTC ground truth or result folder.
    pattern : str
        Glob of the file names.
    volumes : bool
        True: each file holds a (Z, Y, X) stack of a 3-D movie.

    Returns
    -------
    numpy.ndarray
        (T, Y, X), or (T, Z, Y, X) with ``volumes`` (px).
    """
    folder = Path(folder)
    files = label_files(folder, pattern)
    if not files:
        raise ValueError(f"{folder}: no label images matching {pattern!r}")
    _check_contiguous(folder, sorted(files), f"label images {pattern!r}")
    return _read_stack(folder, files, volumes)


def _as_ctc_labels(labels: np.ndarray, where: Path, dtype: np.dtype | None = None) -> np.ndarray:
    """``labels`` (T, Y, X) or (T, Z, Y, X) as CTC masks of ``dtype`` (uint16 or uint32).

    ``dtype`` None: uint16 if every value fits and uint32 otherwise (py-ctcmetrics and traccuracy read both; the
    CTC convention is uint16).
    """
    labels = np.asarray(labels)
    if labels.ndim not in (3, 4) or labels.shape[0] == 0:
        raise ValueError(f"{where}: labels must be (T, Y, X) or (T, Z, Y, X) with T >= 1; got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"{where}: labels must be integers; got {labels.dtype}")
    top = int(labels.max()) if labels.size else 0
    if dtype is None:
        dtype = np.dtype(np.uint16 if top <= _MAX_UINT16 else np.uint32)
    dtype = np.dtype(dtype)
    if dtype not in (np.uint16, np.uint32):
        raise ValueError(f"{where}: CTC masks are uint16 or uint32, not {dtype}")
    limit = int(np.iinfo(dtype).max)
    if labels.size and (labels.min() < 0 or top > limit):
        raise ValueError(f"{where}: label values must be in 0..{limit} to be stored as {dtype}")
    return labels.astype(dtype, copy=False)


def _check_pixel_size(pixel_size_um: float | None, where: Path) -> None:
    """Raise ValueError naming ``where`` unless ``pixel_size_um`` (µm) is None or a finite positive number."""
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise ValueError(f"{where}: pixel_size_um must be a positive number, got {pixel_size_um!r}")


def _write_mask(path: Path, frame: np.ndarray, pixel_size_um: float | None) -> None:
    """Write one (Y, X) or (Z, Y, X) CTC mask, calibrated in x and y when ``pixel_size_um`` is given (see the module doc)."""
    if pixel_size_um is None:
        tifffile.imwrite(path, frame)
    elif frame.dtype == np.uint16:
        per_um = 1.0 / pixel_size_um
        tifffile.imwrite(path, frame, imagej=True, resolution=(per_um, per_um), metadata={"unit": "um"})
    else:
        per_cm = 1e4 / pixel_size_um
        tifffile.imwrite(path, frame, resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")


_MICRONS = {"um", "micron", "microns", "micrometer", "micrometre", "\u00b5m", "\u03bcm"}
_PER_UNIT_IN_UM = {2: 25_400.0, 3: 10_000.0}  # TIFF ResolutionUnit: inch, centimeter


def read_ctc_pixel_size(path: PathLike) -> float | None:
    """Pixel size stored in a TIFF mask.

    Reads the ImageJ convention (resolution in pixels per ``unit``, unit µm) and the TIFF one
    (resolution per inch or centimetre); a resolution without a length unit counts as none.

    Parameters
    ----------
    path : str or os.PathLike
        A TIFF file (a CTC mask).

    Returns
    -------
    float or None
        Pixel size (µm), or None when the file carries none.

    Raises
    ------
    ValueError
        The x and y resolutions differ (cellpipe's pixels are square).
    """
    path = Path(path)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        tags = page.tags
        if "XResolution" not in tags:
            return None
        xnum, xden = tags["XResolution"].value
        ynum, yden = tags["YResolution"].value if "YResolution" in tags else (xnum, xden)
        if not xnum or not ynum:
            return None
        x_size, y_size = xden / xnum, yden / ynum
        if not np.isclose(x_size, y_size, rtol=1e-6):
            raise ValueError(f"{path}: pixels are not square ({y_size} x {x_size} per unit)")
        imagej_unit = (tif.imagej_metadata or {}).get("unit") if tif.is_imagej else None
        if imagej_unit is not None:
            return float(x_size) if str(imagej_unit).lower() in _MICRONS else None
        unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
        return float(x_size * _PER_UNIT_IN_UM[unit]) if unit in _PER_UNIT_IN_UM else None


# ------------------------------------------------------------------------------------------
# track tables
# ------------------------------------------------------------------------------------------


def _normalise_tracks(tracks: pd.DataFrame, where: object) -> pd.DataFrame:
    """A CTC track table with exactly :data:`TRACK_COLUMNS` as int64; ValueError naming ``where`` otherwise."""
    missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise ValueError(f"{where}: track table lacks column(s) {missing}; needs {list(TRACK_COLUMNS)}")
    out = tracks.loc[:, list(TRACK_COLUMNS)]
    if out.isna().any().any():
        raise ValueError(f"{where}: track table has missing values")
    values = out.to_numpy()
    if values.dtype.kind not in "iu" and not np.array_equal(values, np.round(values)):
        raise ValueError(f"{where}: track table values must be integers")
    return out.astype(np.int64).reset_index(drop=True)


def check_ctc_tracks(labels: np.ndarray, tracks: pd.DataFrame) -> list[str]:
    """Problems that make labels and tracks inconsistent CTC data.

    Checked: labels unique and positive; 0 <= first_frame <= last_frame < T; a parent exists and
    ends before its daughter starts; in every frame the label values present are exactly the tracks
    alive in that frame (so every track is present in every frame from its first to its last).

    Parameters
    ----------
    labels : numpy.ndarray
        (T, Y, X) or (T, Z, Y, X) label images (px) whose values are track ids.
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based; parent 0 = none).

    Returns
    -------
    list of str
        One message per problem; empty if none.
    """
    tracks = _normalise_tracks(tracks, "tracks")
    n_frames = int(np.asarray(labels).shape[0])
    problems = _table_problems(tracks, n_frames)
    for t in range(n_frames):
        problem = _frame_problem(t, np.asarray(labels[t]), tracks)
        if problem:
            problems.append(problem)
        if len(problems) > 20:
            problems.append("... (stopped after 20 problems)")
            break
    return problems


def _table_problems(tracks: pd.DataFrame, n_frames: int) -> list[str]:
    """The checks of :func:`check_ctc_tracks` that need only the (normalised) table and the movie length."""
    problems: list[str] = []
    ids = tracks["label"].to_numpy()
    if (ids < 1).any():
        problems.append(f"labels must be positive: {sorted(ids[ids < 1].tolist())[:10]}")
    dup = tracks["label"][tracks["label"].duplicated()].tolist()
    if dup:
        problems.append(f"duplicate labels: {dup[:10]}")
    bad_span = tracks[(tracks["first_frame"] < 0) | (tracks["first_frame"] > tracks["last_frame"])
                      | (tracks["last_frame"] >= n_frames)]
    if len(bad_span):
        problems.append(f"tracks with frames outside 0..{n_frames - 1} or first > last: "
                        f"{bad_span['label'].tolist()[:10]}")
    last_of = dict(zip(tracks["label"].tolist(), tracks["last_frame"].tolist(), strict=True))
    for label, first, parent in tracks[["label", "first_frame", "parent"]].itertuples(index=False):
        if parent == 0:
            continue
        if parent not in last_of:
            problems.append(f"track {label}: parent {parent} is not a track")
        elif last_of[parent] >= first:
            problems.append(f"track {label} starts at frame {first} but its parent {parent} ends at {last_of[parent]}")
    return problems


def _frame_problem(t: int, frame: np.ndarray, tracks: pd.DataFrame) -> str:
    """How frame ``t``'s labels differ from the tracks the (normalised) table has alive in it; empty if they agree."""
    present = _present_labels(frame)
    alive_rows = (tracks["first_frame"] <= t) & (tracks["last_frame"] >= t)
    alive = set(tracks["label"][alive_rows].tolist())
    if present == alive:
        return ""
    missing, extra = sorted(alive - present), sorted(present - alive)
    msg = f"frame {t}:"
    if missing:
        msg += f" tracks {missing[:10]} alive but absent from the mask;"
    if extra:
        msg += f" labels {extra[:10]} in the mask but not alive in the table;"
    return msg.rstrip(";")


def _present_labels(frame: np.ndarray) -> set[int]:
    """The nonzero label values in ``frame``."""
    if frame.dtype.kind in "ub" and frame.dtype.itemsize <= 2:
        counts = np.bincount(frame.ravel())
        values = np.flatnonzero(counts)
    else:
        values = np.unique(frame)
    return {int(v) for v in values if v != 0}


def read_ctc_tracks(path: PathLike) -> pd.DataFrame:
    """Read a CTC track file (``man_track.txt``/``res_track.txt``).

    Parameters
    ----------
    path : str or os.PathLike
        The track file: one ``label first_frame last_frame parent`` line per track.

    Returns
    -------
    pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based; parent 0 = none).

    Raises
    ------
    ValueError
        A line does not hold exactly four integers (the message names the line).
    """
    path = Path(path)
    rows: list[list[int]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise ValueError(f"{path}:{lineno}: expected 4 integers 'label first last parent', got {line!r}")
        try:
            rows.append([int(f) for f in fields])
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: expected 4 integers 'label first last parent', got {line!r}") from exc
    return pd.DataFrame(np.array(rows, dtype=np.int64).reshape(-1, 4), columns=list(TRACK_COLUMNS))


def _tracks_text(tracks: pd.DataFrame) -> str:
    return "".join(f"{a} {b} {c} {d}\n" for a, b, c, d in tracks.itertuples(index=False))


def write_ctc_tracks(path: PathLike, tracks: pd.DataFrame) -> None:
    """Write a CTC track file: one ``label first_frame last_frame parent`` line per track, space separated.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based; parent 0 = none).
    """
    tracks = _normalise_tracks(tracks, path)
    with atomic_path(path) as tmp:
        tmp.write_text(_tracks_text(tracks))


# ------------------------------------------------------------------------------------------
# ground truth and results folders
# ------------------------------------------------------------------------------------------


def _check_or_raise(where: Path, labels: np.ndarray, tracks: pd.DataFrame) -> None:
    """Raise ValueError naming ``where`` with every problem :func:`check_ctc_tracks` finds."""
    problems = check_ctc_tracks(labels, tracks)
    if problems:
        raise ValueError(f"{where}: labels and tracks are not consistent CTC data: " + "; ".join(problems[:5]))


def write_ctc_ground_truth(
    gt_dir: PathLike,
    labels: np.ndarray,
    tracks: pd.DataFrame,
    seg_frames: Sequence[int] | None = None,
) -> None:
    """Write CTC ground truth: TRA markers and track file for every frame, SEG masks for some.

    ``TRA/man_trackTTT.tif`` for every frame, ``TRA/man_track.txt`` and ``SEG/man_segTTT.tif`` for
    ``seg_frames``, all uint16 (uint32 when a label exceeds 65535).

    Parameters
    ----------
    gt_dir : str or os.PathLike
        The ground truth folder to create (``01_GT``); must be absent or empty.
    labels : numpy.ndarray
        (T, Y, X), or (T, Z, Y, X) for a 3-D movie (px); values are track ids.
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based); must agree with
        ``labels`` (see :func:`check_ctc_tracks`).
    seg_frames : sequence of int or None
        Frames (0-based) that get a SEG mask; None: every frame.

    Raises
    ------
    FileExistsError
        ``gt_dir`` exists and is not empty.
    ValueError
        Inconsistent labels and tracks, labels out of the uint32 range, or a ``seg_frames``
        entry outside 0..T-1.
    """
    gt_dir = Path(gt_dir)
    labels16 = _as_ctc_labels(labels, gt_dir)
    tracks = _normalise_tracks(tracks, gt_dir)
    n = labels16.shape[0]
    seg = list(range(n)) if seg_frames is None else sorted({int(t) for t in seg_frames})
    bad = [t for t in seg if not 0 <= t < n]
    if bad:
        raise ValueError(f"{gt_dir}: seg_frames {bad} outside 0..{n - 1}")
    _check_or_raise(gt_dir, labels16, tracks)
    _refuse_non_empty(gt_dir)
    with atomic_path(gt_dir) as tmp:
        (tmp / "TRA").mkdir(parents=True)
        (tmp / "SEG").mkdir()
        for t in range(n):
            tifffile.imwrite(tmp / "TRA" / frame_name("man_track", t, n), labels16[t])
        (tmp / "TRA" / "man_track.txt").write_text(_tracks_text(tracks))
        for t in seg:
            tifffile.imwrite(tmp / "SEG" / frame_name("man_seg", t, n), labels16[t])
    logger.info("wrote CTC ground truth (%d frames, %d tracks, %d SEG frames) to %s", n, len(tracks), len(seg), gt_dir)


def write_ctc_ground_truth_frames(
    gt_dir: PathLike,
    frames: Iterable[tuple[np.ndarray, np.ndarray | None]],
    n_frames: int,
    tracks: pd.DataFrame,
    dtype: np.dtype | None = None,
) -> None:
    """:func:`write_ctc_ground_truth` one frame at a time, for movies too long to hold in memory.

    ``tracks`` is checked as a whole, and each frame's markers as they come: they must hold exactly
    the tracks alive in that frame, the checks :func:`write_ctc_ground_truth` makes on the whole stack.

    Parameters
    ----------
    gt_dir : str or os.PathLike
        The ground truth folder to create (``01_GT``); must be absent or empty.
    frames : iterable of (numpy.ndarray, numpy.ndarray or None)
        For each frame in order: the (Y, X) or (Z, Y, X) tracking markers in px (values are track
        ids; ``TRA/man_trackTTT.tif``) and the segmentation mask of the same shape
        (``SEG/man_segTTT.tif``), or None where that frame has no SEG annotation.
    n_frames : int
        Number of pairs ``frames`` must yield (frames).
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based); ``TRA/man_track.txt``.
    dtype : numpy.dtype or None
        uint16 or uint32 for every file; None: the largest label in ``tracks`` decides.

    Raises
    ------
    FileExistsError
        ``gt_dir`` exists and is not empty.
    ValueError
        An inconsistent table or frame, a frame that is not 2-D or 3-D integers in the range of
        ``dtype``, a SEG mask of another shape than its markers, or not ``n_frames`` frames.
    """
    gt_dir = Path(gt_dir)
    tracks = _normalise_tracks(tracks, gt_dir)
    if dtype is None:
        top = int(tracks["label"].max()) if len(tracks) else 0
        dtype = np.dtype(np.uint16 if top <= _MAX_UINT16 else np.uint32)
    problems = _table_problems(tracks, n_frames)
    if problems:
        raise ValueError(f"{gt_dir}: inconsistent CTC track table: " + "; ".join(problems[:5]))
    _refuse_non_empty(gt_dir)
    written, n_seg = 0, 0
    with atomic_path(gt_dir) as tmp:
        (tmp / "TRA").mkdir(parents=True)
        (tmp / "SEG").mkdir()
        for t, (markers, seg) in enumerate(frames):
            if t >= n_frames:
                raise ValueError(f"{gt_dir}: more than the {n_frames} frames announced")
            markers16 = _as_ctc_labels(np.asarray(markers)[np.newaxis], gt_dir, dtype)[0]
            problem = _frame_problem(t, markers16, tracks)
            if problem:
                raise ValueError(f"{gt_dir}: markers and tracks are not consistent CTC data: {problem}")
            tifffile.imwrite(tmp / "TRA" / frame_name("man_track", t, n_frames), markers16)
            if seg is not None:
                seg16 = _as_ctc_labels(np.asarray(seg)[np.newaxis], gt_dir, dtype)[0]
                if seg16.shape != markers16.shape:
                    raise ValueError(f"{gt_dir}: frame {t}: SEG mask {seg16.shape} but markers {markers16.shape}")
                tifffile.imwrite(tmp / "SEG" / frame_name("man_seg", t, n_frames), seg16)
                n_seg += 1
            written += 1
        if written != n_frames:
            raise ValueError(f"{gt_dir}: {written} frames written, {n_frames} announced")
        (tmp / "TRA" / "man_track.txt").write_text(_tracks_text(tracks))
    logger.info("wrote CTC ground truth (%d frames, %d tracks, %d SEG frames) to %s, frame by frame",
                n_frames, len(tracks), n_seg, gt_dir)


def write_ctc_results(
    res_dir: PathLike, labels: np.ndarray, tracks: pd.DataFrame, pixel_size_um: float | None = None
) -> None:
    """Write a method's tracking result in the CTC ``RES`` format: ``maskTTT.tif`` and ``res_track.txt``.

    This is the layout the CTC evaluation tools (and ``py-ctcmetrics``, ``traccuracy``) read.
    Masks are uint16, or uint32 when a label exceeds 65535 (every frame the same dtype).

    Parameters
    ----------
    res_dir : str or os.PathLike
        The result folder to create (``01_RES``); must be absent or empty.
    labels : numpy.ndarray
        (T, Y, X), or (T, Z, Y, X) for a 3-D movie (one (Z, Y, X) stack per file), in px; values
        are track ids.
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based).
    pixel_size_um : float or None
        Pixel size (µm) stored in every mask (module doc; :func:`read_ctc_pixel_size`); None: none.

    Raises
    ------
    FileExistsError
        ``res_dir`` exists and is not empty.
    ValueError
        Inconsistent labels and tracks (see :func:`check_ctc_tracks`).
    """
    res_dir = Path(res_dir)
    _check_pixel_size(pixel_size_um, res_dir)
    labels16 = _as_ctc_labels(labels, res_dir)
    tracks = _normalise_tracks(tracks, res_dir)
    _check_or_raise(res_dir, labels16, tracks)
    _refuse_non_empty(res_dir)
    n = labels16.shape[0]
    with atomic_path(res_dir) as tmp:
        tmp.mkdir()
        for t in range(n):
            _write_mask(tmp / frame_name("mask", t, n), labels16[t], pixel_size_um)
        (tmp / "res_track.txt").write_text(_tracks_text(tracks))
    logger.info("wrote CTC result (%d frames, %d tracks) to %s", n, len(tracks), res_dir)


def write_ctc_result_frames(
    res_dir: PathLike,
    frames: Iterable[np.ndarray],
    n_frames: int,
    tracks: pd.DataFrame,
    dtype: np.dtype | None = None,
    pixel_size_um: float | None = None,
) -> None:
    """:func:`write_ctc_results` one frame at a time, for movies too long to hold in memory.

    Each frame is checked to be 2-D or 3-D integers that ``dtype`` holds and written as it comes;
    the folder appears complete or not at all.

    Parameters
    ----------
    res_dir : str or os.PathLike
        The result folder to create (``01_RES``); must be absent or empty.
    frames : iterable of numpy.ndarray
        The (Y, X) or (Z, Y, X) label frames in order, in px (e.g.
        :func:`cellpipe.export.iter_ctc_frames`, which checks each frame against the tracks table,
        the check :func:`write_ctc_results` makes on the whole stack).
    n_frames : int
        Number of frames ``frames`` must yield (frames).
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based); ``res_track.txt``.
    dtype : numpy.dtype or None
        uint16 or uint32, the same for every frame (traccuracy reads a folder in its first frame's
        dtype); None: the largest label in ``tracks`` decides, as :func:`write_ctc_results` does.
    pixel_size_um : float or None
        Pixel size (µm) stored in every mask, as :func:`write_ctc_results` does; None: none.

    Raises
    ------
    FileExistsError
        ``res_dir`` exists and is not empty.
    ValueError
        A frame that is not 2-D or 3-D integers in the range of ``dtype``, or not ``n_frames`` frames.
    """
    res_dir = Path(res_dir)
    _check_pixel_size(pixel_size_um, res_dir)
    if dtype is None:
        top = int(pd.to_numeric(tracks["label"]).max()) if len(tracks) else 0
        dtype = np.dtype(np.uint16 if top <= _MAX_UINT16 else np.uint32)
    tracks = _normalise_tracks(tracks, res_dir)
    _refuse_non_empty(res_dir)
    written = 0
    with atomic_path(res_dir) as tmp:
        tmp.mkdir()
        for t, frame in enumerate(frames):
            if t >= n_frames:
                raise ValueError(f"{res_dir}: more than the {n_frames} frames announced")
            frame16 = _as_ctc_labels(np.asarray(frame)[np.newaxis], res_dir, dtype)[0]
            _write_mask(tmp / frame_name("mask", t, n_frames), frame16, pixel_size_um)
            written += 1
        if written != n_frames:
            raise ValueError(f"{res_dir}: {written} frames written, {n_frames} announced")
        (tmp / "res_track.txt").write_text(_tracks_text(tracks))
    logger.info("wrote CTC result (%d frames, %d tracks) to %s, frame by frame", n_frames, len(tracks), res_dir)


def read_ctc_results(res_dir: PathLike, volumes: bool = False) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a CTC ``RES`` folder: the ``maskTTT.tif`` stack and ``res_track.txt``.

    The inverse of :func:`write_ctc_results`; the data are returned as stored (not checked,
    use :func:`check_ctc_tracks`).

    Parameters
    ----------
    res_dir : str or os.PathLike
        A CTC result folder.
    volumes : bool
        True: each mask holds a (Z, Y, X) stack of a 3-D movie.

    Returns
    -------
    labels : numpy.ndarray
        (T, Y, X), or (T, Z, Y, X) with ``volumes`` (px).
    tracks : pandas.DataFrame
        Columns label, first_frame, last_frame, parent (frames, 0-based).

    Raises
    ------
    ValueError
        No masks, a gap in their numbering, or a malformed track file.
    FileNotFoundError
        ``res_track.txt`` is missing.
    """
    res_dir = Path(res_dir)
    labels = read_ctc_label_stack(res_dir, "mask*.tif", volumes)
    return labels, read_ctc_tracks(res_dir / "res_track.txt")


def write_simulation(sim: SimulatedMovie | SimulatedMovie3D, movie_dir: PathLike, gt_dir: PathLike) -> None:
    """Write a simulated movie (2-D or 3-D) as a CTC folder and its ground truth.

    Parameters
    ----------
    sim : cellpipe.simulate.SimulatedMovie or cellpipe.simulate3d.SimulatedMovie3D
        The simulation.
    movie_dir : str or os.PathLike
        The movie folder to create (``01``).
    gt_dir : str or os.PathLike
        The ground truth folder to create (``01_GT``).

    Raises
    ------
    FileExistsError
        Either folder exists and is not empty (checked before anything is written).
    """
    _refuse_non_empty(Path(movie_dir))
    _refuse_non_empty(Path(gt_dir))
    write_ctc_movie(movie_dir, sim.image)
    write_ctc_ground_truth(gt_dir, sim.labels, sim.tracks)
