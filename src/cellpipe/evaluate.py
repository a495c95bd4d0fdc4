"""Scores of a sample's segmentation and tracking against its ground truth, in the metrics papers report.

Nothing here re-implements a published metric:

* **CTC SEG, DET, TRA**, the AOGM error counts and the CTC's branching correctness BC(i) come
  from ``py-ctcmetrics``: :func:`ctc_scores` runs its evaluation of a CTC result folder against a
  CTC ground-truth folder; :func:`streamed_ctc_scores` gives the same numbers from frame stacks
  read one frame at a time (the library's own per-frame matching, then its measures computed
  from the per-frame match lists), which is what the workflow runs.
* **Division detection** precision, recall and F1 come from traccuracy's ``DivisionMetrics``
  (:func:`division_scores` on CTC folders, :func:`streamed_division_scores` one frame at a
  time): a division is found when the mother and both daughters match,
  with a frame tolerance for divisions called early or late.  BC(i) is the stricter CTC
  variant (the mother's end and each daughter's start within i frames) and is reported next
  to it.
* **Instance average precision** at IoU thresholds 0.5 to 0.95, with its true positives, false
  positives and false negatives, comes from Cellpose's ``metrics.average_precision`` (the DSB 2018
  definition AP = TP / (TP + FP + FN), objects matched one-to-one at IoU >= threshold), through
  :func:`cellpipe.metrics.instance_scores`.

Precision, recall and F1 follow from those counts.  Jaccard and Dice are pixel scores of the
foreground (cell vs background), and the mean matched IoU is the mean IoU of the ground-truth
objects matched at IoU > 0.5 (a match that is unique by construction).  Object-level scores need
completely annotated frames (a false positive is only defined where every cell is labelled);
see :mod:`cellpipe.io.ground_truth`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import DEFAULT_IOU_THRESHOLDS
from cellpipe.io.ctc import TRACK_COLUMNS, write_label_tiff
from cellpipe.metrics import instance_scores
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = [
    "EVALUATION_COLUMNS",
    "SingleFrameTracks",
    "count_errors",
    "ctc_match_frame",
    "ctc_scores",
    "division_scores",
    "evaluation_row",
    "frame_segmentation_scores",
    "segmentation_scores",
    "streamed_ctc_scores",
    "streamed_division_scores",
]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


def frame_segmentation_scores(truth: np.ndarray, predicted: np.ndarray, thresholds: Sequence[float]) -> dict[str, Any]:
    """Scores of one completely annotated frame.

    Parameters
    ----------
    truth : numpy.ndarray of int
        (Y, X) ground-truth instance labels (px); 0 is background.
    predicted : numpy.ndarray of int
        (Y, X) predicted instance labels of the same shape (px).
    thresholds : sequence of float
        IoU thresholds (fractions, 0..1).

    Returns
    -------
    dict
        ``n_true, n_predicted`` (objects), per threshold ``tp, fp, fn`` (objects; lists in the order
        of ``thresholds``), the pixel counts ``intersection, union, true_pixels, predicted_pixels``
        (px) of the foreground, and ``matched_ious`` (IoU of each ground-truth object matched at
        IoU > 0.5).

    Raises
    ------
    ValueError
        The two label images differ in shape.
    """
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f"ground truth {truth.shape} and prediction {predicted.shape} differ in shape")
    scores = instance_scores(truth, predicted, thresholds)
    keys = [f"{t:g}" for t in thresholds]
    fg_true, fg_pred = truth > 0, predicted > 0
    # IoU of every overlapping (true, predicted) pair from one joint histogram of the label pairs
    t_ids, t_inv = np.unique(truth, return_inverse=True)
    p_ids, p_inv = np.unique(predicted, return_inverse=True)
    joint = np.bincount(t_inv.ravel() * len(p_ids) + p_inv.ravel(), minlength=len(t_ids) * len(p_ids))
    joint = joint.reshape(len(t_ids), len(p_ids))
    area_t, area_p = joint.sum(axis=1), joint.sum(axis=0)
    t_sel, p_sel = t_ids != 0, p_ids != 0
    inter = joint[np.ix_(t_sel, p_sel)].astype(np.float64)
    union = area_t[t_sel][:, None] + area_p[p_sel][None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    best = iou.max(axis=1) if iou.size else np.zeros(int(t_sel.sum()))
    return {
        "n_true": int(t_sel.sum()),
        "n_predicted": int(p_sel.sum()),
        "tp": [int(scores[k]["tp"]) for k in keys],
        "fp": [int(scores[k]["fp"]) for k in keys],
        "fn": [int(scores[k]["fn"]) for k in keys],
        "intersection": int(np.count_nonzero(fg_true & fg_pred)),
        "union": int(np.count_nonzero(fg_true | fg_pred)),
        "true_pixels": int(np.count_nonzero(fg_true)),
        "predicted_pixels": int(np.count_nonzero(fg_pred)),
        "matched_ious": [float(v) for v in best[best > 0.5]],
    }


def segmentation_scores(
    truth: Mapping[int, np.ndarray],
    predicted: Callable[[int], np.ndarray],
    thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
) -> dict[str, Any]:
    """Instance and pixel scores pooled over the completely annotated frames in ``truth``.

    Counts are summed over frames before the ratios are taken, so every object weighs the same.

    Parameters
    ----------
    truth : mapping of int to numpy.ndarray
        0-based frame -> (Y, X) ground-truth instance labels (px) of the completely annotated frames.
    predicted : callable
        ``predicted(t)`` returns the predicted (Y, X) labels (px) of frame ``t`` (read one frame at a time).
    thresholds : sequence of float
        IoU thresholds (fractions, 0..1).

    Returns
    -------
    dict
        ``frames, iou_thresholds``, per threshold lists ``average_precision, precision, recall, f1``
        (fractions, NaN where undefined) and ``tp, fp, fn`` (objects), the mean of the average
        precision over thresholds (``mean_average_precision``), foreground ``jaccard`` and ``dice``
        (pixels, fractions), ``mean_matched_iou`` and ``per_frame`` records (``frame, n_true,
        n_predicted`` and at IoU 0.5 ``tp, fp, fn, ap_0.5``, and the frame's ``jaccard, dice``).
    """
    thresholds = [float(t) for t in thresholds]
    frames = sorted(truth)
    tp = np.zeros(len(thresholds), dtype=np.int64)
    fp = np.zeros_like(tp)
    fn = np.zeros_like(tp)
    inter = union = true_px = pred_px = 0
    matched: list[float] = []
    per_frame: list[dict[str, Any]] = []
    at_half = thresholds.index(0.5) if 0.5 in thresholds else 0
    for t in frames:
        s = frame_segmentation_scores(truth[t], predicted(t), thresholds)
        tp += s["tp"]
        fp += s["fp"]
        fn += s["fn"]
        inter += s["intersection"]
        union += s["union"]
        true_px += s["true_pixels"]
        pred_px += s["predicted_pixels"]
        matched += s["matched_ious"]
        a, b, c = s["tp"][at_half], s["fp"][at_half], s["fn"][at_half]
        per_frame.append({
            "frame": int(t), "n_true": s["n_true"], "n_predicted": s["n_predicted"],
            "tp": a, "fp": b, "fn": c, f"ap_{thresholds[at_half]:g}": _ratio(a, a + b + c),
            "jaccard": _ratio(s["intersection"], s["union"]),
            "dice": _ratio(2 * s["intersection"], s["true_pixels"] + s["predicted_pixels"]),
        })
        logger.info("scored segmentation of frame %d: %d true, %d predicted objects", t, s["n_true"], s["n_predicted"])
    ap = [_ratio(a, a + b + c) for a, b, c in zip(tp, fp, fn, strict=True)]
    return {
        "frames": [int(t) for t in frames],
        "iou_thresholds": thresholds,
        "average_precision": ap,
        "precision": [_ratio(a, a + b) for a, b in zip(tp, fp, strict=True)],
        "recall": [_ratio(a, a + c) for a, c in zip(tp, fn, strict=True)],
        "f1": [_ratio(2 * a, 2 * a + b + c) for a, b, c in zip(tp, fp, fn, strict=True)],
        "tp": tp.tolist(),
        "fp": fp.tolist(),
        "fn": fn.tolist(),
        "mean_average_precision": float(np.mean(ap)) if frames else math.nan,
        "jaccard": _ratio(inter, union),
        "dice": _ratio(2 * inter, true_px + pred_px),
        "mean_matched_iou": float(np.mean(matched)) if matched else math.nan,
        "per_frame": per_frame,
    }


def count_errors(
    n_true: Mapping[int, int], n_predicted: Mapping[int, int], frame_interval_min: float | None = None
) -> dict[str, Any]:
    """Per-frame cell-count error (predicted − true) over the frames of ``n_true``.

    Parameters
    ----------
    n_true : mapping of int to int
        0-based frame -> true number of cells.
    n_predicted : mapping of int to int
        0-based frame -> predicted number of cells; every frame of ``n_true`` must be in it.
    frame_interval_min : float or None
        Time between frames (minutes), for ``time_min``; None: unknown.

    Returns
    -------
    dict
        ``mean_error`` (bias, cells), ``mean_absolute_error`` (cells),
        ``mean_absolute_percentage_error`` (%, frames with at least one true cell),
        ``max_absolute_error`` (cells) and ``per_frame`` records ``frame, time_min, n_true,
        n_predicted, error`` (``time_min`` None when the interval is unknown).

    Raises
    ------
    ValueError
        A frame of ``n_true`` has no predicted count.
    """
    frames = sorted(n_true)
    missing = [t for t in frames if t not in n_predicted]
    if missing:
        raise ValueError(f"no predicted count for frame(s) {missing[:10]}")
    errors = np.array([n_predicted[t] - n_true[t] for t in frames], dtype=np.float64)
    truth = np.array([n_true[t] for t in frames], dtype=np.float64)
    nonzero = truth > 0
    return {
        "mean_error": float(errors.mean()) if frames else math.nan,
        "mean_absolute_error": float(np.abs(errors).mean()) if frames else math.nan,
        "mean_absolute_percentage_error": (
            float(100.0 * np.mean(np.abs(errors[nonzero]) / truth[nonzero])) if nonzero.any() else math.nan
        ),
        "max_absolute_error": int(np.abs(errors).max()) if frames else 0,
        "per_frame": [
            {
                "frame": int(t),
                "time_min": float(t * frame_interval_min) if frame_interval_min else None,
                "n_true": int(n_true[t]),
                "n_predicted": int(n_predicted[t]),
                "error": int(n_predicted[t] - n_true[t]),
            }
            for t in frames
        ],
    }


def ctc_scores(
    res_dir: PathLike,
    gt_dir: PathLike,
    *,
    segmentation: bool = True,
    tracking: bool = True,
    division_frame_tolerance: int = 1,
    threads: int = 1,
) -> dict[str, Any]:
    """CTC measures of a CTC result folder against a CTC ground-truth folder, by py-ctcmetrics.

    py-ctcmetrics' printed output goes to the log.

    Parameters
    ----------
    res_dir : str or os.PathLike
        The CTC result folder (``mask<t>.tif`` and ``res_track.txt``).
    gt_dir : str or os.PathLike
        The CTC ground-truth folder (``TRA``, and ``SEG`` for the SEG measure).
    segmentation : bool
        Compute SEG (needs ``gt_dir/SEG``).
    tracking : bool
        Compute TRA, the AOGM error counts and division detection (else DET only).
    division_frame_tolerance : int
        Frames by which a division may be early or late and still match.
    threads : int
        Threads py-ctcmetrics uses (at least 1).

    Returns
    -------
    dict
        ``library, valid, SEG, DET, TRA`` (0-1), ``AOGM, AOGM_0`` (weighted operation counts),
        ``errors`` (AOGM operation counts: NS split, FN, FP, ED/EA/EC edges to delete/add/change)
        and ``divisions`` (``frame_tolerance`` in frames, ``gt_divisions, predicted_divisions, tp,
        fp, fn`` counts, ``precision, recall, f1`` fractions; None without tracking).  Values a
        measure did not compute are None.
    """
    from ctc_metrics import evaluate_sequence

    metrics = _ctc_metric_names(segmentation, tracking, division_frame_tolerance)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        raw = evaluate_sequence(str(res_dir), str(gt_dir), metrics=metrics, threads=max(1, int(threads)))
    _log_printed(printed)
    return _ctc_summary(raw, tracking, division_frame_tolerance)


def _ctc_metric_names(segmentation: bool, tracking: bool, division_frame_tolerance: int) -> list[str]:
    """py-ctcmetrics' names of the measures :func:`ctc_scores` reports."""
    metrics = ["Valid", "DET"]
    if segmentation:
        metrics.append("SEG")
    if tracking:
        metrics += ["TRA", "BC", f"BC({int(division_frame_tolerance)})"]
    return metrics


def _log_printed(printed: io.StringIO) -> None:
    for line in printed.getvalue().splitlines():
        logger.info("py-ctcmetrics: %s", line[:500])


def _ctc_summary(raw: Mapping[str, Any], tracking: bool, division_frame_tolerance: int) -> dict[str, Any]:
    """The result of :func:`ctc_scores` from py-ctcmetrics' dictionary of measures ``raw``."""

    def number(key: str) -> float | None:
        value = raw.get(key)
        return None if value is None else float(value)

    out: dict[str, Any] = {
        "library": f"py-ctcmetrics {package_version('py-ctcmetrics')}",
        "valid": bool(raw.get("Valid", 0)),
        "SEG": number("SEG"),
        "DET": number("DET"),
        "TRA": number("TRA"),
        "AOGM": number("AOGM"),
        "AOGM_0": number("AOGM_0"),
        "errors": {k: int(raw[f"AOGM_{k}"]) for k in ("NS", "FN", "FP", "ED", "EA", "EC") if raw.get(f"AOGM_{k}") is not None},
        "divisions": None,
    }
    i = int(division_frame_tolerance)
    if tracking and raw.get(f"tp_div({i})") is not None:
        tp, fp, fn = (int(raw[f"{k}_div({i})"]) for k in ("tp", "fp", "fn"))
        out["divisions"] = {
            "library": out["library"],
            "measure": f"BC({i})",
            "frame_tolerance": i,
            "gt_divisions": tp + fn,
            "predicted_divisions": tp + fp,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "BC": number(f"BC({i})"),
        }
    return out


def division_scores(res_dir: PathLike, gt_dir: PathLike, frame_tolerance: int = 1) -> dict[str, Any]:
    """Division detection of a CTC result against CTC ground truth (``gt_dir/TRA``), by traccuracy.

    traccuracy's ``DivisionMetrics`` with ``max_frame_buffer=frame_tolerance`` needs a one-to-one
    matching of objects: its CTC matcher gives one unless a predicted object covers two
    ground-truth markers, and then IoU >= 0.5 one-to-one matching is used (``matcher`` says
    which).

    Parameters
    ----------
    res_dir : str or os.PathLike
        The CTC result folder (``mask<t>.tif`` and ``res_track.txt``).
    gt_dir : str or os.PathLike
        The CTC ground-truth folder; its ``TRA`` markers and track table are read.
    frame_tolerance : int
        Frames by which a division may be early or late and still match.

    Returns
    -------
    dict
        ``library, matcher, frame_tolerance`` (frames), ``gt_divisions, predicted_divisions, tp, fp,
        fn, wrong_children`` (counts; wrong children: mother matched, daughters not) and traccuracy's
        ``precision`` = tp / predicted divisions, ``recall`` = tp / true divisions and their harmonic
        mean ``f1`` (fractions, NaN where undefined).
    """
    from traccuracy.loaders import load_ctc_data

    gt_dir, res_dir = Path(gt_dir), Path(res_dir)
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        gt = load_ctc_data(str(gt_dir / "TRA"), str(gt_dir / "TRA" / "man_track.txt"), name="ground truth")
        pred = load_ctc_data(str(res_dir), str(res_dir / "res_track.txt"), name="result")
    return _division_summary(gt, pred, frame_tolerance)


def _division_summary(gt: Any, pred: Any, frame_tolerance: int) -> dict[str, Any]:
    """traccuracy's division detection of the ``TrackingGraph`` ``pred`` against ``gt`` (:func:`division_scores`)."""
    import traccuracy
    from traccuracy import run_metrics
    from traccuracy.matchers import CTCMatcher, IOUMatcher
    from traccuracy.metrics import DivisionMetrics

    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        metric = DivisionMetrics(max_frame_buffer=int(frame_tolerance))
        matcher_name = "CTC"
        try:
            results, _ = run_metrics(gt, pred, matcher=CTCMatcher(), metrics=[metric])
        except TypeError:  # the CTC matching is not one-to-one
            matcher_name = "IoU >= 0.5, one-to-one"
            results, _ = run_metrics(
                gt, pred, matcher=IOUMatcher(iou_threshold=0.5, one_to_one=True), metrics=[metric]
            )
    found = results[0]["results"][f"Frame Buffer {int(frame_tolerance)}"]
    tp = int(found["True Positive Divisions"])
    fp = int(found["False Positive Divisions"])
    fn = int(found["False Negative Divisions"])
    return {
        "library": f"traccuracy {traccuracy.__version__}",
        "matcher": matcher_name,
        "frame_tolerance": int(frame_tolerance),
        "gt_divisions": int(found["Total GT Divisions"]),
        "predicted_divisions": int(found["Total Predicted Divisions"]),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "wrong_children": int(found["Wrong Children Divisions"]),
        "precision": float(found["Division Precision"]),
        "recall": float(found["Division Recall"]),
        "f1": float(found["Division F1"]),
    }


# ------------------------------------------------------------------------------------------
# the same measures, one frame at a time
# ------------------------------------------------------------------------------------------
#
# A "frame stack" below is any object with ``shape`` (T, Y, X) whose ``stack[t]`` (t an int) returns
# the (Y, X) labels of frame t: a NumPy or zarr array, :class:`cellpipe.io.ctc.TiffFrames`.  Only one
# frame of each side is held at a time; what is kept across frames are py-ctcmetrics' per-frame label
# and match lists and traccuracy's graphs (a few numbers per object).


def _track_rows(tracks: pd.DataFrame | np.ndarray) -> np.ndarray:
    """A CTC track table as the (n, 4) integer array py-ctcmetrics reads from a track file."""
    if isinstance(tracks, pd.DataFrame):
        tracks = tracks[list(TRACK_COLUMNS)].to_numpy()
    return np.asarray(tracks, dtype=np.int64).reshape(-1, 4)


def ctc_match_frame(truth: np.ndarray, predicted: np.ndarray, scratch: PathLike) -> tuple[list, list, list, list, list]:
    """py-ctcmetrics' matching of one frame.

    The library's matching reads its frames from TIFF files, so both frames are written to
    ``scratch`` in their own dtype and handed to it: the matching is the library's own, as it is
    for a CTC folder.

    Parameters
    ----------
    truth : numpy.ndarray of int
        (Y, X) ground-truth labels (px).
    predicted : numpy.ndarray of int
        (Y, X) predicted labels (px).
    scratch : str or os.PathLike
        An existing folder for the two TIFF files (overwritten at each call).

    Returns
    -------
    tuple of list
        ``labels_ref, labels_comp, mapped_ref, mapped_comp, ious``: the labels present on each
        side, the pairs matched (the predicted object covers more than half of the reference
        object's pixels) and each pair's IoU (fraction).
    """
    from ctc_metrics.utils.representations import match

    ref, comp = Path(scratch) / "reference.tif", Path(scratch) / "computed.tif"
    write_label_tiff(ref, truth)
    write_label_tiff(comp, predicted)
    return match(str(ref), str(comp))


_MATCH_KEYS = ("labels_ref", "labels_comp", "mapped_ref", "mapped_comp", "ious")


def streamed_ctc_scores(
    truth_markers: Any,
    truth_tracks: pd.DataFrame | np.ndarray,
    result: Any,
    result_tracks: pd.DataFrame | np.ndarray,
    truth_segmentation: Mapping[int, np.ndarray] | None = None,
    *,
    tracking: bool = True,
    division_frame_tolerance: int = 1,
) -> dict[str, Any]:
    """:func:`ctc_scores` of frame stacks, reading one frame of each at a time.

    Each frame is matched by py-ctcmetrics (:func:`ctc_match_frame`); the measures are
    py-ctcmetrics' ``valid`` and ``calculate_metrics`` applied to the per-frame match lists, the
    computation its folder evaluation makes after reading.

    Parameters
    ----------
    truth_markers : array_like of int
        (T, Y, X) frame stack (frames, px, px) of the CTC ground-truth markers (``TRA``), pixel
        values = track labels; anything with ``shape`` and frame indexing.
    truth_tracks : pandas.DataFrame or numpy.ndarray
        Its track table (``label, first_frame, last_frame, parent``; frames 0-based).
    result : array_like of int
        (T, Y, X) result masks (frames, px, px), pixel values = track labels.
    result_tracks : pandas.DataFrame or numpy.ndarray
        Their track table, as ``truth_tracks``.
    truth_segmentation : mapping of int to numpy.ndarray or None
        0-based frame -> (Y, X) ground-truth segmentation (``SEG``, px; any subset of frames, read
        when scored); None: no SEG.
    tracking : bool
        Compute TRA, the AOGM error counts and division detection (else DET only).
    division_frame_tolerance : int
        Frames by which a division may be early or late and still match.

    Returns
    -------
    dict
        What :func:`ctc_scores` returns for the same data written as CTC folders.

    Raises
    ------
    ValueError
        The stacks differ in their number of frames, or segmentation ground truth lies beyond them.
    """
    from ctc_metrics.metrics import valid
    from ctc_metrics.scripts.evaluate import calculate_metrics

    n = int(truth_markers.shape[0])
    if int(result.shape[0]) != n:
        raise ValueError(f"the result has {int(result.shape[0])} frames, the ground truth {n}")
    seg_frames = sorted(int(t) for t in truth_segmentation) if truth_segmentation is not None else []
    beyond = [t for t in seg_frames if not 0 <= t < n]
    if beyond:
        raise ValueError(f"segmentation ground truth of frame(s) {beyond[:10]} beyond the movie's {n} frames")
    traj: dict[str, list] = {k: [] for k in _MATCH_KEYS}
    segm: dict[str, list] = {k: [] for k in _MATCH_KEYS}
    with tempfile.TemporaryDirectory(prefix="cellpipe-ctc-match-") as scratch:
        for t in range(n):
            predicted = np.asarray(result[t])
            for key, value in zip(_MATCH_KEYS, ctc_match_frame(np.asarray(truth_markers[t]), predicted, scratch), strict=True):
                traj[key].append(value)
            if truth_segmentation is not None and t in truth_segmentation:
                for key, value in zip(_MATCH_KEYS, ctc_match_frame(truth_segmentation[t], predicted, scratch), strict=True):
                    segm[key].append(value)
    comp_tracks, ref_tracks = _track_rows(result_tracks), _track_rows(truth_tracks)
    metrics = _ctc_metric_names(truth_segmentation is not None, tracking, division_frame_tolerance)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        is_valid = valid([f"frame {t}" for t in range(n)], comp_tracks, traj["labels_comp"])
        raw = calculate_metrics(comp_tracks, ref_tracks, traj, segm if truth_segmentation is not None else {}, metrics, is_valid)
    _log_printed(printed)
    logger.info("py-ctcmetrics scores of %d frames (%d with segmentation ground truth), one frame at a time", n, len(seg_frames))
    return _ctc_summary(raw, tracking, division_frame_tolerance)


class _FrameByFrame:
    """A frame stack as traccuracy's CTC loader would hold it in memory, read one frame at a time.

    traccuracy indexes its segmentation by frame only (``seg[t]``, ``seg[t, ...]``, iteration), so it
    works on this in place of the (T, Y, X) array.  Frames are cast to the first frame's dtype
    (uint64 for a non-integer one) as traccuracy's ``load_tiffs`` does.
    """

    def __init__(self, frames: Any) -> None:
        self._frames = frames
        self.shape = tuple(int(n) for n in frames.shape)
        self.ndim = len(self.shape)
        first = np.asarray(frames[0])
        self.dtype = first.dtype if first.dtype.kind in "iu" else np.dtype(np.uint64)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            if any(k is not Ellipsis for k in key[1:]):
                raise IndexError("only whole frames are read")
            key = key[0]
        t = int(key)
        if not 0 <= t < self.shape[0]:
            raise IndexError(t)
        return np.asarray(self._frames[t]).astype(self.dtype, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[t] for t in range(self.shape[0]))


def _tracking_graph(frames: Any, tracks: pd.DataFrame | np.ndarray, name: str) -> Any:
    """traccuracy's ``TrackingGraph`` of a CTC frame stack and its track table, frames read when used.

    Built as traccuracy's ``load_ctc_data`` builds it from a folder (the same node attributes, checks and
    graph).
    """
    from traccuracy import TrackingGraph
    from traccuracy.loaders._ctc import _check_ctc, _get_node_attributes, ctc_to_graph

    table = pd.DataFrame(_track_rows(tracks), columns=["Cell_ID", "Start", "End", "Parent_ID"])
    stack = _FrameByFrame(frames)
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        detections = _get_node_attributes(stack)
        _check_ctc(table, detections, stack)
        try:
            graph = ctc_to_graph(table, detections)
        except Exception as exc:
            raise ValueError(f"{name}: the CTC track table does not fit its masks ({exc})") from exc
    return TrackingGraph(graph, segmentation=stack, name=name, location_keys=("y", "x"))


def streamed_division_scores(
    truth_markers: Any,
    truth_tracks: pd.DataFrame | np.ndarray,
    result: Any,
    result_tracks: pd.DataFrame | np.ndarray,
    frame_tolerance: int = 1,
) -> dict[str, Any]:
    """:func:`division_scores` of frame stacks (as in :func:`streamed_ctc_scores`), one frame at a time.

    traccuracy's graphs are built from per-frame object tables and its matchers read the masks frame
    by frame, so the (T, Y, X) stacks are never held.

    Parameters
    ----------
    truth_markers : array_like of int
        (T, Y, X) ground-truth markers (frames, px, px), pixel values = track labels.
    truth_tracks : pandas.DataFrame or numpy.ndarray
        Its track table (``label, first_frame, last_frame, parent``; frames 0-based).
    result : array_like of int
        (T, Y, X) result masks (frames, px, px), pixel values = track labels.
    result_tracks : pandas.DataFrame or numpy.ndarray
        Their track table, as ``truth_tracks``.
    frame_tolerance : int
        Frames by which a division may be early or late and still match.

    Returns
    -------
    dict
        What :func:`division_scores` returns for the same data written as CTC folders.
    """
    gt = _tracking_graph(truth_markers, truth_tracks, "ground truth")
    pred = _tracking_graph(result, result_tracks, "result")
    return _division_summary(gt, pred, frame_tolerance)


class SingleFrameTracks(Mapping[int, np.ndarray]):
    """Per-frame label images as one-frame tracks (:func:`single_frame_tracks`), relabelled when read.

    ``frames`` maps position -> (Y, X) labels for positions ``0..len(order)-1`` as ``frames[order[i]]``;
    reading frame ``i`` of this stack gives ``frames[order[i]]`` relabelled 1..n after the objects of the
    frames before it (uint32).  One pass over the frames at construction counts their objects;
    ``tracks`` holds the CTC rows ``label, i, i, 0``; ``shape`` is (frames, Y, X).
    """

    def __init__(self, frames: Mapping[int, np.ndarray] | Any, order: Sequence[int]) -> None:
        self._frames, self._order = frames, [int(t) for t in order]
        self._offsets: list[int] = []
        offset, frame_shape = 0, (0, 0)
        for t in self._order:
            frame = np.asarray(frames[t])
            frame_shape = frame.shape
            self._offsets.append(offset)
            offset += int(np.count_nonzero(np.unique(frame)))
        self._offsets.append(offset)
        self.shape: tuple[int, ...] = (len(self._order), *frame_shape)
        self.tracks = np.array(
            [(label, i, i, 0) for i in range(len(self._order)) for label in range(self._offsets[i] + 1, self._offsets[i + 1] + 1)],
            dtype=np.int64,
        ).reshape(-1, 4)

    def __getitem__(self, i: int) -> np.ndarray:
        from skimage.segmentation import relabel_sequential

        i = int(i)
        if not 0 <= i < len(self._order):
            raise KeyError(i)
        frame = np.asarray(self._frames[self._order[i]]).astype(np.int64, copy=False)
        relabelled, _, _ = relabel_sequential(frame, offset=self._offsets[i] + 1)
        return relabelled.astype(np.uint32)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._order)))

    def __len__(self) -> int:
        return len(self._order)


def single_frame_tracks(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every object of every frame as its own one-frame track, for CTC detection and segmentation scores.

    With these, the CTC DET and SEG measures score per-frame label images that carry no
    tracks (DET counts only detection errors).

    Parameters
    ----------
    frames : sequence of numpy.ndarray
        (Y, X) label images (px), all of one shape; 0 is background.

    Returns
    -------
    stack : numpy.ndarray
        (T, Y, X) uint32 stack (frames, px, px) relabelled so that labels are unique across frames
        (1..n in frame order).
    tracks : numpy.ndarray
        (n, 4) int64 CTC track rows ``label, t, t, 0`` (t a 0-based frame).
    """
    from skimage.segmentation import relabel_sequential

    stack = np.zeros((len(frames), *np.shape(frames[0])) if len(frames) else (0, 0, 0), dtype=np.uint32)
    rows: list[tuple[int, int, int, int]] = []
    offset = 0
    for t, frame in enumerate(frames):
        relabelled, _, _ = relabel_sequential(np.asarray(frame).astype(np.int64, copy=False), offset=offset + 1)
        n = int(relabelled.max()) - offset if relabelled.max() > 0 else 0
        stack[t] = relabelled
        rows += [(label, t, t, 0) for label in range(offset + 1, offset + n + 1)]
        offset += n
    return stack, np.array(rows, dtype=np.int64).reshape(-1, 4)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON has no NaN), recursively.

    Parameters
    ----------
    value : object
        Numbers, strings, None, numpy scalars, and mappings, lists and tuples of them.

    Returns
    -------
    object
        The same structure with mappings as dicts (keys as str), lists and tuples as lists, numpy
        scalars as Python numbers and non-finite floats as None.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


EVALUATION_COLUMNS: tuple[str, ...] = (
    "sample", "ground_truth_format", "SEG", "DET", "TRA", "AP50", "AP75", "mAP_50_95",
    "precision_50", "recall_50", "F1_50", "jaccard", "dice", "count_mae", "count_mean_error",
    "division_precision", "division_recall", "division_f1", "gt_divisions", "complete_frames",
)
"""Keys of :func:`evaluation_row`: the columns of ``results/evaluation.tsv``."""


def _scored(evaluation: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The ``key`` section of an evaluation when it holds scores; empty when absent or ``{"reason": ...}``."""
    section = evaluation.get(key)
    if not isinstance(section, Mapping) or "reason" in section:
        return {}
    return section


def _at_threshold(segmentation: Mapping[str, Any], key: str, threshold: float) -> Any:
    """``segmentation[key]`` at the IoU ``threshold`` (no unit); None when not scored there."""
    thresholds = segmentation.get("iou_thresholds") or []
    for t, value in zip(thresholds, segmentation.get(key) or [], strict=False):
        if t is not None and math.isclose(float(t), threshold, abs_tol=1e-6):
            return value
    return None


def evaluation_row(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of one sample's ``evaluation.json``, flat: one row of ``evaluation.tsv``.

    Parameters
    ----------
    evaluation : Mapping
        Content of ``evaluation.json`` (:func:`cellpipe.steps.evaluate.evaluate_sample_step`): sections
        ``ctc``, ``segmentation``, ``counts``, ``divisions``, each holding scores or ``{"reason": ...}``.

    Returns
    -------
    dict
        The :data:`EVALUATION_COLUMNS`: ``SEG, DET, TRA`` (CTC measures, 0-1); ``AP50, AP75`` (average
        precision at IoU 0.5 and 0.75, 0-1), ``mAP_50_95``, ``precision_50, recall_50, F1_50``,
        ``jaccard, dice`` (pixels, 0-1); ``count_mae, count_mean_error`` (cells per frame);
        ``division_precision, division_recall, division_f1`` (0-1), ``gt_divisions`` (count);
        ``complete_frames`` (number of completely annotated frames).  None where a section was not
        scored (absent, or a reason why not).
    """
    ctc = _scored(evaluation, "ctc")
    segm = _scored(evaluation, "segmentation")
    counts = _scored(evaluation, "counts")
    div = _scored(evaluation, "divisions")
    truth = evaluation.get("ground_truth")
    truth = truth if isinstance(truth, Mapping) else {}
    return {
        "sample": evaluation.get("sample"),
        "ground_truth_format": truth.get("format"),
        "SEG": ctc.get("SEG"),
        "DET": ctc.get("DET"),
        "TRA": ctc.get("TRA"),
        "AP50": _at_threshold(segm, "average_precision", 0.5),
        "AP75": _at_threshold(segm, "average_precision", 0.75),
        "mAP_50_95": segm.get("mean_average_precision"),
        "precision_50": _at_threshold(segm, "precision", 0.5),
        "recall_50": _at_threshold(segm, "recall", 0.5),
        "F1_50": _at_threshold(segm, "f1", 0.5),
        "jaccard": segm.get("jaccard"),
        "dice": segm.get("dice"),
        "count_mae": counts.get("mean_absolute_error"),
        "count_mean_error": counts.get("mean_error"),
        "division_precision": div.get("precision"),
        "division_recall": div.get("recall"),
        "division_f1": div.get("f1"),
        "gt_divisions": div.get("gt_divisions"),
        "complete_frames": len(truth.get("complete_frames") or []),
    }
