"""Scores of a sample's segmentation and tracking against its ground truth, in the metrics papers report.

Nothing here re-implements a published metric:

* **CTC SEG, DET, TRA**, the AOGM error counts and the CTC's branching correctness BC(i) come
  from ``py-ctcmetrics`` (:func:`ctc_scores`), which reads a CTC result folder and a CTC
  ground-truth folder.
* **Division detection** precision, recall and F1 come from traccuracy's ``DivisionMetrics``
  (:func:`division_scores`): a division is found when the mother and both daughters match,
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.metrics import instance_scores
from cellpipe.settings import DEFAULT_IOU_THRESHOLDS, EvaluateSettings
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = [
    "EvaluateSettings",
    "count_errors",
    "ctc_scores",
    "division_scores",
    "frame_segmentation_scores",
    "segmentation_scores",
]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


def frame_segmentation_scores(truth: np.ndarray, predicted: np.ndarray, thresholds: Sequence[float]) -> dict[str, Any]:
    """Scores of one completely annotated frame: (Y, X) ground-truth and predicted instance labels.

    Returns ``n_true, n_predicted``, per threshold ``tp, fp, fn`` (lists in the order of
    ``thresholds``), the pixel counts ``intersection, union, true_pixels, predicted_pixels`` of
    the foreground, and ``matched_ious`` (IoU of each ground-truth object matched at IoU > 0.5).
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

    ``truth`` maps 0-based frame -> (Y, X) labels; ``predicted(t)`` returns the predicted (Y, X)
    labels of frame ``t`` (read one frame at a time).  Counts are summed over frames before the
    ratios are taken, so every object weighs the same.  Returns ``frames, iou_thresholds``, per
    threshold lists ``average_precision, precision, recall, f1, tp, fp, fn``, the mean of the
    average precision over thresholds (``mean_average_precision``), foreground ``jaccard`` and
    ``dice``, ``mean_matched_iou`` and ``per_frame`` records (``frame, n_true, n_predicted`` and
    at IoU 0.5 ``tp, fp, fn, ap_0.5``, and the frame's ``jaccard, dice``).
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

    Returns ``mean_error`` (bias, cells), ``mean_absolute_error`` (cells),
    ``mean_absolute_percentage_error`` (%, frames with at least one true cell),
    ``max_absolute_error`` (cells) and ``per_frame`` records ``frame, time_min, n_true,
    n_predicted, error`` (``time_min`` None when the interval is unknown).
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

    ``segmentation``: compute SEG (needs ``gt_dir/SEG``); ``tracking``: compute TRA, the AOGM
    error counts and division detection (else DET only).  Returns ``library, valid, SEG, DET,
    TRA, AOGM, AOGM_0, errors`` (AOGM operation counts: NS split, FN, FP, ED/EA/EC edges to
    delete/add/change) and ``divisions`` (``frame_tolerance, gt_divisions, predicted_divisions,
    tp, fp, fn, precision, recall, f1``; None without tracking).  Values a measure did not
    compute are None.  py-ctcmetrics' printed output goes to the log.
    """
    from ctc_metrics import evaluate_sequence

    metrics = ["Valid", "DET"]
    if segmentation:
        metrics.append("SEG")
    if tracking:
        metrics += ["TRA", "BC", f"BC({int(division_frame_tolerance)})"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        raw = evaluate_sequence(str(res_dir), str(gt_dir), metrics=metrics, threads=max(1, int(threads)))
    for line in printed.getvalue().splitlines():
        logger.info("py-ctcmetrics: %s", line[:500])

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
    which).  Returns ``library, matcher, frame_tolerance, gt_divisions, predicted_divisions,
    tp, fp, fn, wrong_children`` (mother matched, daughters not) and traccuracy's ``precision``
    = tp / predicted divisions, ``recall`` = tp / true divisions and their harmonic mean ``f1``
    (NaN where undefined).
    """
    import traccuracy
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher, IOUMatcher
    from traccuracy.metrics import DivisionMetrics

    gt_dir, res_dir = Path(gt_dir), Path(res_dir)
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        gt = load_ctc_data(str(gt_dir / "TRA"), str(gt_dir / "TRA" / "man_track.txt"), name="ground truth")
        pred = load_ctc_data(str(res_dir), str(res_dir / "res_track.txt"), name="result")
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


def single_frame_tracks(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every object of every frame as its own one-frame track, for CTC detection and segmentation scores.

    ``frames`` are (Y, X) label images.  Returns the (T, Y, X) stack relabelled so that labels
    are unique across frames (1..n in frame order) and the CTC track rows (n, 4) ``label, t, t,
    0``.  With these, the CTC DET and SEG measures score per-frame label images that carry no
    tracks (DET counts only detection errors).
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
    """``value`` with NaN and infinities replaced by None (JSON has no NaN), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
