"""Reading annotated images for training: CTC ground-truth folders or image / label TIFF pairs.

Two kinds of annotation source are understood:

* **Cell Tracking Challenge**: ``images`` is a movie (a CTC folder of
  ``tTTT.tif`` frames, or any movie file :func:`cellpipe.io.movies.read_movie`
  reads) and ``labels`` is its ``*_GT`` folder.  The instance masks are
  ``SEG/man_segTTT.tif``; only the frames with a SEG file can be used.
* **Pairs**: ``images`` is a TIFF image (Y, X) or movie (T, Y, X) and
  ``labels`` a label TIFF of the same shape (0 = background, 1..n = cells).

Sparse annotation.  In CTC ground truth most SEG frames label only a few
nuclei (GOWT1: 26 of 30 frames label 1-3 of about 24 nuclei); the rest are
*not* background.  Training on such a frame would teach the network that real
nuclei are background.  cellpipe therefore trains only on **completely
annotated frames**: a SEG frame is used when at least ``min_marker_coverage``
(default 0.95) of the cells marked in the tracking ground truth of that frame
(``TRA/man_trackTTT.tif``, which marks every cell) overlap a SEG mask.  Frames
below that are skipped and reported.  Without a TRA folder completeness
cannot be checked; the frames are then taken as complete, which the caller is
told.  Pairs are assumed to be complete annotations.

A CTC folder is read by :func:`cellpipe.io.ctc.read_ground_truth_frames`, the reader
of the evaluation's ground truth too, so training and evaluation find the same
files and judge a SEG frame's completeness alike.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellpipe.io.ctc import as_labels, ground_truth_files, read_ground_truth_frames, read_tiff, sparse_annotation
from cellpipe.io.movies import MovieError, inspect_movie, read_movie

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["AnnotatedImage", "AnnotationError", "AnnotationSet", "annotation_channel", "read_annotations"]


class AnnotationError(ValueError):
    """An annotation source that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class AnnotatedImage:
    """One completely annotated 2D image.

    Attributes
    ----------
    image : numpy.ndarray
        (Y, X) float32 raw intensities of the chosen channel.
    labels : numpy.ndarray
        (Y, X) uint32 instance labels (0 = background).
    source : str
        The file, and the frame where it is one of a movie, for messages and records.
    group : str
        The movie it comes from (validation can be split by movie).
    frame : int or None
        0-based frame number in that movie (None for a single image).
    """

    image: np.ndarray
    labels: np.ndarray
    source: str
    group: str
    frame: int | None

    @property
    def n_cells(self) -> int:
        """Number of labelled cells."""
        return int(np.count_nonzero(np.unique(self.labels)))


@dataclass
class AnnotationSet:
    """The usable images of one source and why other frames were left out.

    Attributes
    ----------
    images : list of AnnotatedImage
        The completely annotated frames, in frame order.
    skipped : dict of int to str
        0-based frame -> why it was left out (sparse annotation).
    completeness_checked : bool
        Whether completeness was checked against tracking markers (a CTC folder with ``TRA/``).
    """

    images: list[AnnotatedImage] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    completeness_checked: bool = False


def _movie_channel(path: Path, channel: int) -> np.ndarray:
    """(T, Y, X) of one channel of the movie at ``path``; movie errors become AnnotationError."""
    try:
        raw = read_movie(path)
    except MovieError as exc:
        raise AnnotationError(str(exc)) from None
    data = raw.data  # (T, C, Y, X)
    if channel >= data.shape[1]:
        raise AnnotationError(f"{path}: channel {channel} requested but the movie has {data.shape[1]} channel(s)")
    return np.asarray(data[:, channel])


def _ctc_annotations(
    images: Path, gt: Path, frames: list[int] | None, channel: int, min_marker_coverage: float
) -> AnnotationSet:
    """The complete SEG frames of a CTC ground-truth folder ``gt`` with their movie's frames (see the module docstring)."""
    seg_dir = gt / "SEG"
    if not seg_dir.is_dir():
        raise AnnotationError(f"{gt}: a CTC ground-truth folder needs a SEG folder of man_segTTT.tif masks")
    files = ground_truth_files(gt, AnnotationError)
    if not files.seg:
        raise AnnotationError(f"{seg_dir}: no label images matching 'man_seg*.tif'")
    wanted = sorted(files.seg) if frames is None else sorted(set(frames))
    for t in wanted:
        if t not in files.seg:
            raise AnnotationError(f"{seg_dir}: frame {t} was requested but has no man_seg file")
    movie = _movie_channel(images, channel)
    out = AnnotationSet(completeness_checked=files.tra_dir.is_dir())
    for frame in read_ground_truth_frames(files, wanted, movie.shape[0], movie.shape[1:], AnnotationError):
        t, seg = frame.frame, frame.seg
        assert seg is not None  # every wanted frame has a SEG file
        if out.completeness_checked:
            if frame.coverage is None:
                raise AnnotationError(f"{files.tra_dir}: no tracking markers for frame {t} (man_track{t:03d}.tif)")
            if not frame.complete(min_marker_coverage):
                reason = (
                    f"{sparse_annotation(frame.coverage, int(frame.n_markers or 0))} "
                    f"(coverage {frame.coverage:.2f} < {min_marker_coverage})"
                )
                if frames is not None:
                    raise AnnotationError(f"{seg_dir}: frame {t} was requested for training but is a {reason}")
                out.skipped[t] = reason
                continue
        out.images.append(
            AnnotatedImage(
                image=movie[t].astype(np.float32), labels=seg, source=f"{images} frame {t}", group=str(images), frame=t
            )
        )
    return out


def _pair_annotations(images: Path, labels: Path, frames: list[int] | None, channel: int) -> AnnotationSet:
    """The frames of an image or movie and its label TIFF of the same shape; (Y, X, C) and (C, Y, X) images give ``channel``."""
    label_data = as_labels(read_tiff(labels, AnnotationError), labels, AnnotationError)
    if label_data.ndim == 2:
        image = read_tiff(images, AnnotationError)
        if image.ndim == 3 and image.shape[-1] <= 4 and image.shape[:2] == label_data.shape:
            image = image[..., channel]  # (Y, X, C) colour image
        elif image.ndim == 3 and image.shape[0] <= 4 and image.shape[1:] == label_data.shape:
            image = image[channel]  # (C, Y, X)
        if image.shape != label_data.shape:
            raise AnnotationError(
                f"{images}: image of shape {image.shape} does not match its labels {labels} of shape {label_data.shape}"
            )
        stack, label_stack = image[np.newaxis], label_data[np.newaxis]
    elif label_data.ndim == 3:
        stack = _movie_channel(images, channel)
        if stack.shape != label_data.shape:
            raise AnnotationError(
                f"{images}: movie of shape {stack.shape} (T, Y, X) does not match its labels {labels} "
                f"of shape {label_data.shape}"
            )
        label_stack = label_data
    else:
        raise AnnotationError(f"{labels}: labels must be (Y, X) or (T, Y, X), got shape {label_data.shape}")
    out = AnnotationSet(completeness_checked=False)
    wanted = range(stack.shape[0]) if frames is None else sorted(set(frames))
    for t in wanted:
        if not 0 <= t < stack.shape[0]:
            raise AnnotationError(f"{labels}: frame {t} requested but there are {stack.shape[0]} frame(s)")
        single = stack.shape[0] == 1 and label_data.ndim == 2
        out.images.append(
            AnnotatedImage(
                image=np.asarray(stack[t], dtype=np.float32),
                labels=label_stack[t],
                source=str(images) if single else f"{images} frame {t}",
                group=str(images),
                frame=None if single else t,
            )
        )
    return out


def annotation_channel(images: PathLike, channel: int | str) -> int:
    """The 0-based index of ``channel`` in the training images ``images``, from its index or its name.

    An index is taken as it is; a name is looked up exactly (case and spaces count) in the channel names of the
    images' headers (no pixel is read).

    Parameters
    ----------
    images : str or os.PathLike
        The training images: a movie (CTC folder, TIFF, OME-TIFF) or one 2-D TIFF image.
    channel : int or str
        0-based channel index, or a channel name.

    Returns
    -------
    int
        The 0-based channel index.

    Raises
    ------
    AnnotationError
        A name when the images cannot be read, name no channels, or have no channel of that name.
    """
    if isinstance(channel, int):
        return channel
    try:
        names = list(inspect_movie(images).channel_names)
    except MovieError as exc:
        raise AnnotationError(f"channel {channel!r} is given by name, but the channel names of the images could not "
                              f"be read: {str(exc).splitlines()[0]}") from None
    if channel in names:
        return names.index(channel)
    if not names:
        raise AnnotationError(f"{images}: channel {channel!r} is given by name, but the file names no channels; "
                              "give its index (0-based)")
    raise AnnotationError(f"{images}: no channel named {channel!r}; its channels: {', '.join(repr(n) for n in names)}")


def read_annotations(
    images: PathLike,
    labels: PathLike,
    frames: list[int] | None = None,
    channel: int | str = 0,
    min_marker_coverage: float = 0.95,
) -> AnnotationSet:
    """Read the completely annotated images of one source.

    Parameters
    ----------
    images : str or os.PathLike
        A movie (CTC folder, TIFF, OME-TIFF) or a single 2D TIFF image.
    labels : str or os.PathLike
        A CTC ground-truth folder (with ``SEG/``, ideally ``TRA/``) or a label TIFF of the same shape
        as ``images``.
    frames : list of int, optional
        0-based frames to use; None: every annotated frame that is complete. A requested CTC frame
        that is sparsely annotated is an error.
    channel : int or str
        Channel of a multi-channel movie: its index (0-based) or its name (:func:`annotation_channel`).
    min_marker_coverage : float
        For CTC folders with ``TRA/``: smallest fraction (0-1) of tracked cells that must have a SEG
        mask for a frame to count as complete.

    Returns
    -------
    AnnotationSet
        The usable images and the frames skipped, with the reason (also logged).

    Raises
    ------
    AnnotationError
        Missing or unreadable files, mismatched shapes, negative or fractional labels.
    """
    images, labels = Path(images), Path(labels)
    if not images.exists():
        raise AnnotationError(f"{images}: training images not found")
    if not labels.exists():
        raise AnnotationError(f"{labels}: training labels not found")
    channel = annotation_channel(images, channel)
    if labels.is_dir():
        result = _ctc_annotations(images, labels, frames, channel, min_marker_coverage)
    else:
        result = _pair_annotations(images, labels, frames, channel)
    for t, reason in result.skipped.items():
        logger.info("%s: frame %d skipped (%s)", labels, t, reason)
    return result
