"""Reading the ground truth a sample is evaluated against.

Three layouts are understood (the sample sheet's ``ground_truth`` column):

* **Cell Tracking Challenge folder** (``01_GT``): ``TRA/man_trackTTT.tif`` marks every cell in
  every frame with its track id and ``TRA/man_track.txt`` gives the lineage; ``SEG/man_segTTT.tif``
  (optional, any subset of frames) holds full instance masks.  A SEG frame counts as **complete**
  when at least ``min_marker_coverage`` of the TRA markers of that frame overlap a SEG mask; in the
  other SEG frames unlabelled cells are not background (GOWT1: 26 of its 30 SEG frames label 1-3
  of about 24 nuclei), so object-level scores that need false positives use complete frames only.
* **A folder of label TIFFs**, one per annotated frame, the 0-based frame number being the last
  number in the file name (``mask005.tif``, ``t012_labels.tif``).  Every frame given is taken as
  completely annotated.
* **One label TIFF**: (T, Y, X) with one plane per movie frame, or (Y, X) for a one-frame movie.

A 3-D movie's ground truth has the same layouts with a (Z, Y, X) stack in place of each (Y, X) frame
(CTC 3-D: one stack per ``man_trackTTT.tif`` / ``man_segTTT.tif``; one label TIFF: (T, Z, Y, X)); the
caller says which by the length of ``frame_shape``.

Labels are whole numbers, 0 = background.  Every problem raises :class:`GroundTruthError` naming
the file and what is wrong, before any score is computed.  :func:`check_ground_truth_files` runs
the checks that need no pixels (layout, frame numbers, frame sizes, pixel type) from the file
headers, so the sample sheet is checked with it before any job runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import tifffile

from cellpipe.io.ctc import (
    GroundTruthFiles,
    as_labels,
    check_frame_number,
    check_frame_shape,
    ground_truth_files,
    numbered_tiffs,
    read_ctc_tracks,
    read_ground_truth_frames,
    read_tiff,
    sparse_annotation,
)

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["GroundTruth", "GroundTruthError", "check_ground_truth_files", "read_ground_truth"]


class GroundTruthError(ValueError):
    """Ground truth that cannot be used; the message names the file and the problem."""


class LabelFrames(Mapping[int, np.ndarray]):
    """Frame -> ground-truth labels, read from disk each time a frame is asked for.

    Every frame was read and checked once by :func:`read_ground_truth`; they are read again where they
    are scored and not kept, so a long movie's ground truth is held one frame at a time.

    Parameters
    ----------
    sources : mapping of int to (pathlib.Path, int or None, int or None)
        0-based frame -> (TIFF path, page to read or None for the whole image, plane of the image
        read or None).
    frame_shape : tuple of int
        (Y, X) px, or (Z, Y, X) voxels for a 3-D movie; each frame read is checked against it.
    """

    def __init__(self, sources: Mapping[int, tuple[Path, int | None, int | None]], frame_shape: tuple[int, ...]) -> None:
        """Keep where each frame lies, sorted by frame; nothing is read."""
        self._sources = dict(sorted(sources.items()))
        self._frame_shape = tuple(frame_shape)

    def __getitem__(self, t: int) -> np.ndarray:
        """Frame ``t`` (0-based) as uint32 labels, read now; GroundTruthError when unreadable or of another shape."""
        path, page, plane = self._sources[int(t)]
        image = read_tiff(path, GroundTruthError, page)
        frame = as_labels(image if plane is None else image[plane], path, GroundTruthError)
        check_frame_shape(frame.shape, self._frame_shape, path, GroundTruthError)
        return frame

    def __iter__(self) -> Iterator[int]:
        """The frames, ascending."""
        return iter(self._sources)

    def __len__(self) -> int:
        """The number of frames."""
        return len(self._sources)

    def subset(self, frames: list[int]) -> LabelFrames:
        """The same frames restricted to some of them.

        Parameters
        ----------
        frames : list of int
            0-based frames, each one of these.

        Returns
        -------
        LabelFrames
        """
        return LabelFrames({t: self._sources[t] for t in frames}, self._frame_shape)  # type: ignore[arg-type]


@dataclass
class GroundTruth:
    """The ground truth of one movie.

    Attributes
    ----------
    path : pathlib.Path
        Where it was read from.
    format : {"ctc", "labels"}
        A CTC folder, or label TIFFs.
    masks : LabelFrames
        0-based frame -> (Y, X) uint32 instance masks, (Z, Y, X) for a 3-D movie (CTC: the SEG
        frames; labels: every annotated frame), read when asked for.
    complete : list of int
        The frames of ``masks`` annotated completely.
    skipped : dict of int to str
        Frame -> why its mask is not complete.
    counts : dict of int to int
        Frame -> number of cells (CTC: TRA markers, every frame; labels: the annotated frames).
    tracks : pandas.DataFrame or None
        The CTC lineage table (``label, first_frame, last_frame, parent``; frames 0-based), or None.
    """

    path: Path
    format: Literal["ctc", "labels"]
    masks: LabelFrames
    complete: list[int]
    skipped: dict[int, str] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    tracks: pd.DataFrame | None = None

    @property
    def has_tracking(self) -> bool:
        """True when tracks (TRA markers and lineage) are available."""
        return self.tracks is not None

    @property
    def complete_masks(self) -> LabelFrames:
        """The masks of the completely annotated frames, read when asked for."""
        return self.masks.subset(self.complete)


def _n_objects(labels: np.ndarray) -> int:
    """Distinct non-zero labels in ``labels``."""
    values = np.unique(labels)
    return int(np.count_nonzero(values))


def _check_markers_cover(tra: Path, frames: set[int] | dict[int, Path], n_frames: int) -> None:
    """TRA markers must exist for exactly the movie's frames 0..n_frames-1."""
    missing = sorted(set(range(n_frames)) - set(frames))
    extra = sorted(set(frames) - set(range(n_frames)))
    if missing or extra:
        raise GroundTruthError(
            f"{tra}: tracking markers must cover the movie's {n_frames} frame(s) exactly"
            + (f"; missing frames {missing[:10]}" if missing else "")
            + (f"; frames beyond the movie {extra[:10]}" if extra else "")
        )


def _check_stack_shape(shape: tuple[int, ...], n_frames: int, path: Path, frame_ndim: int = 2) -> None:
    """Check the shape of a single label TIFF against the movie's frames.

    A single label TIFF: (T, Y, X) with T == n_frames, or (Y, X) for a one-frame movie; with
    ``frame_ndim`` 3, (T, Z, Y, X) or (Z, Y, X).
    """
    if len(shape) == frame_ndim:
        shape = (1, *shape)
    if len(shape) != frame_ndim + 1 or shape[0] != n_frames:
        axes, what = ("(T, Y, X)", "plane") if frame_ndim == 2 else ("(T, Z, Y, X)", "stack")
        raise GroundTruthError(
            f"{path}: a label TIFF must be {axes} with one {what} per movie frame ({n_frames}), "
            f"got shape {tuple(shape)}"
        )


def _read_numbered(folder: Path, prefix: str = "") -> dict[int, Path]:
    """The TIFFs in ``folder`` whose names start with ``prefix``, by frame number (the last number in the name)."""
    return numbered_tiffs(folder, prefix, GroundTruthError)


def _ctc_files(path: Path, n_frames: int) -> GroundTruthFiles:
    """The files of a CTC folder, with the lineage file and TRA markers covering the movie's frames."""
    tra = path / "TRA"
    if not tra.is_dir():
        raise GroundTruthError(f"{path}: a CTC ground-truth folder needs TRA/ (man_trackTTT.tif and man_track.txt)")
    if not (tra / "man_track.txt").is_file():
        raise GroundTruthError(f"{tra / 'man_track.txt'}: lineage file not found")
    files = ground_truth_files(path, GroundTruthError)
    if not files.markers:
        raise GroundTruthError(f"{tra}: no man_trackTTT.tif marker images")
    _check_markers_cover(tra, files.markers, n_frames)
    return files


def _read_ctc(path: Path, n_frames: int, frame_shape: tuple[int, ...], min_marker_coverage: float) -> GroundTruth:
    """A CTC ground-truth folder: lineage, per-frame cell counts from the TRA markers, SEG masks and which are complete."""
    files = _ctc_files(path, n_frames)
    try:
        tracks = read_ctc_tracks(files.track_file)
    except ValueError as exc:
        raise GroundTruthError(str(exc)) from None
    counts: dict[int, int] = {}
    complete: list[int] = []
    skipped: dict[int, str] = {}
    for frame in read_ground_truth_frames(files, sorted(files.markers), n_frames, frame_shape, GroundTruthError):
        counts[frame.frame] = int(frame.n_markers or 0)
        if frame.seg is None:
            continue
        if frame.complete(min_marker_coverage):
            complete.append(frame.frame)
        else:
            skipped[frame.frame] = sparse_annotation(float(frame.coverage or 0.0), int(frame.n_markers or 0))
    masks = LabelFrames({t: (file, None, None) for t, file in files.seg.items()}, frame_shape)
    logger.info(
        "%s: CTC ground truth, %d frames of markers, %d SEG frames (%d complete)",
        path, len(files.markers), len(masks), len(complete),
    )
    return GroundTruth(path, "ctc", masks, complete, skipped, counts, tracks)


def _stack_sources(path: Path, n_frames: int, frame_ndim: int = 2) -> dict[int, tuple[Path, int | None, int | None]]:
    """Where each frame of a (T, Y, X) or (T, Z, Y, X) label TIFF lies: its own page or a plane of the whole image.

    Where each frame of a (T, Y, X) label TIFF lies: its own page when the file has one 2-D page per
    frame (read alone), else a plane of the whole image (the file read whole for each frame); the frames of
    a (T, Z, Y, X) TIFF (``frame_ndim`` 3) are always taken from the whole image.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            pages, first = len(tif.pages), tif.pages.first.shape
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise GroundTruthError(f"{path}: not a readable TIFF ({exc})") from None
    if frame_ndim == 2 and pages == n_frames and len(first) == 2:
        return {t: (path, t, None) for t in range(n_frames)}
    stack = as_labels(read_tiff(path, GroundTruthError), path, GroundTruthError)
    _check_stack_shape(stack.shape, n_frames, path, frame_ndim)
    return {t: (path, None, t if stack.ndim == frame_ndim + 1 else None) for t in range(n_frames)}


def _read_label_files(path: Path, n_frames: int, frame_shape: tuple[int, ...]) -> GroundTruth:
    """A folder of label TIFFs (one per frame) or one label TIFF: every frame annotated completely, no tracks."""
    if path.is_dir():
        files = _read_numbered(path)
        if not files:
            raise GroundTruthError(f"{path}: no label TIFFs (and no CTC TRA/ or SEG/ folder)")
        for t, file in sorted(files.items()):
            check_frame_number(t, n_frames, file, GroundTruthError)
        masks = LabelFrames({t: (file, None, None) for t, file in files.items()}, frame_shape)
    else:
        masks = LabelFrames(_stack_sources(path, n_frames, len(frame_shape)), frame_shape)
    # every frame read and checked once, one at a time
    counts = {t: _n_objects(masks[t]) for t in masks}
    logger.info("%s: label ground truth, %d annotated frame(s)", path, len(masks))
    return GroundTruth(path, "labels", masks, sorted(masks), {}, counts, None)


def _tiff_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a label TIFF from its header, after checking it is complete (no pixels read)."""
    from cellpipe.io.movies import MovieError, open_tiff_header

    try:
        shape, _, dtype, _ = open_tiff_header(path, metadata=False)
    except MovieError as exc:
        raise GroundTruthError(str(exc)) from None
    if dtype.kind not in "iubf":
        raise GroundTruthError(f"{path}: labels must be integers, got {dtype}")
    return shape, dtype


def _check_frame_files(files: dict[int, Path], n_frames: int, frame_shape: tuple[int, ...]) -> None:
    """Header checks of per-frame TIFFs: each frame number inside the movie, each mask of ``frame_shape``."""
    for t, file in sorted(files.items()):
        check_frame_number(t, n_frames, file, GroundTruthError)
        check_frame_shape(_tiff_header(file)[0], frame_shape, file, GroundTruthError)


def check_ground_truth_files(path: PathLike, n_frames: int, frame_shape: tuple[int, ...]) -> None:
    """Check a movie's ground truth from file headers, without reading pixels.

    The checks of :func:`read_ground_truth` that need no pixel values: the layout, frame numbers within
    (CTC TRA: exactly) the movie's frames, mask sizes equal to the movie's frame size, readable and
    complete TIFFs of a numeric type. One header is read per file.

    Parameters
    ----------
    path : str or os.PathLike
        A CTC ground-truth folder (has ``TRA/``), a folder of label TIFFs, or a label TIFF.
    n_frames : int
        Frames of the movie.
    frame_shape : tuple of int
        The movie's frame size: (Y, X) px, or (Z, Y, X) voxels for a 3-D movie.

    Raises
    ------
    GroundTruthError
        Naming the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise GroundTruthError(f"{path}: ground truth not found")
    if path.is_dir() and (path / "TRA").exists():
        files = _ctc_files(path, n_frames)
        _check_frame_files(files.markers, n_frames, frame_shape)
        _check_frame_files(files.seg, n_frames, frame_shape)
        return
    folder = path / "SEG" if path.is_dir() and (path / "SEG").is_dir() else path
    if folder.is_dir():
        files = _read_numbered(folder)
        if not files:
            raise GroundTruthError(f"{folder}: no label TIFFs (and no CTC TRA/ or SEG/ folder)")
        _check_frame_files(files, n_frames, frame_shape)
        return
    shape, _ = _tiff_header(folder)
    _check_stack_shape(shape, n_frames, folder, len(frame_shape))
    check_frame_shape(shape[-len(frame_shape):], frame_shape, folder, GroundTruthError)


def read_ground_truth(
    path: PathLike, n_frames: int, frame_shape: tuple[int, ...], min_marker_coverage: float = 0.95
) -> GroundTruth:
    """Read and check the ground truth of a movie.

    Parameters
    ----------
    path : str or os.PathLike
        A CTC ground-truth folder (has ``TRA/``), a folder of label TIFFs (a CTC folder with ``SEG/``
        only is one: no tracks, frames taken as complete), or a label TIFF (see the module docstring).
    n_frames : int
        Frames of the movie.
    frame_shape : tuple of int
        The movie's frame size: (Y, X) px, or (Z, Y, X) voxels for a 3-D movie (masks are then
        (Z, Y, X) stacks).
    min_marker_coverage : float
        Share (0-1) of a frame's TRA markers that must overlap a SEG mask for that CTC SEG frame to
        count as complete.

    Returns
    -------
    GroundTruth
        Masks are read again when asked for (:class:`LabelFrames`).

    Raises
    ------
    GroundTruthError
        The path does not exist, a file is unreadable, masks do not match the movie's frame size,
        frames lie outside the movie, labels are not whole non-negative numbers.
    """
    path = Path(path)
    if not path.exists():
        raise GroundTruthError(f"{path}: ground truth not found")
    if path.is_dir() and (path / "TRA").exists():
        return _read_ctc(path, n_frames, frame_shape, min_marker_coverage)
    if path.is_dir() and (path / "SEG").is_dir():  # CTC segmentation only: no tracks, frames taken as complete
        return _read_label_files(path / "SEG", n_frames, frame_shape)
    return _read_label_files(path, n_frames, frame_shape)
