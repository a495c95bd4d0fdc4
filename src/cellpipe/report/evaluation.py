"""The evaluation section: scores against ground truth as ``evaluation.json`` holds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from cellpipe.evaluate import evaluation_row
from cellpipe.report.figures import _evaluation_counts_figure, _figure, _iou_figure
from cellpipe.report.html import _cards, _empty_note, _esc, _not_done, _num, _number_text, _records, _table

#: Rows shown of the per-frame evaluation tables.
_MAX_EVALUATION_ROWS = 60

#: Headline evaluation numbers: key in :func:`summary_row` rows, card title, digits shown.
_HEADLINE: tuple[tuple[str, str, int], ...] = (
    ("SEG", "CTC SEG", 3),
    ("DET", "CTC DET", 3),
    ("TRA", "CTC TRA", 3),
    ("AP50", "AP at IoU 0.5", 3),
    ("F1_50", "F1 at IoU 0.5", 3),
    ("division_precision", "division precision", 3),
    ("division_recall", "division recall", 3),
    ("count_mae", "count mean absolute error (cells)", 2),
)


HEADLINE_KEYS: tuple[str, ...] = tuple(key for key, _, _ in _HEADLINE)


_CTC_MEANING = {
    "SEG": "mean IoU of the ground-truth objects with their matched predicted object (0–1)",
    "DET": "1 − normalized cost of fixing the detections (0–1)",
    "TRA": "1 − AOGM / AOGM_0: cost of fixing the tracking graph relative to building it (0–1)",
    "AOGM": "acyclic oriented graph matching cost: weighted sum of the errors below",
    "AOGM_0": "cost of building the ground-truth graph from nothing",
}


_AOGM_ERRORS = {
    "NS": "splits needed (one predicted object covers several true ones)",
    "FN": "missing detections (vertices to add)",
    "FP": "spurious detections (vertices to delete)",
    "ED": "redundant links (edges to delete)",
    "EA": "missing links (edges to add)",
    "EC": "links of the wrong kind (edges to change)",
}


def _sub(evaluation: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(results, reason) of the ``key`` part of an evaluation: results when present, else the reason given."""
    value = evaluation.get(key)
    if not isinstance(value, Mapping) or not value:
        return None, None
    if "reason" in value:
        return None, str(value["reason"])
    return value, None


def _evaluation_headline(evaluation: Mapping[str, Any] | None) -> dict[str, float]:
    """The :data:`HEADLINE_KEYS` numbers of an evaluation, as :func:`cellpipe.evaluate.evaluation_row` flattens it.

    Parameters
    ----------
    evaluation : Mapping or None
        Content of ``evaluation.json``; None for a sample without ground truth.

    Returns
    -------
    dict
        CTC ``SEG, DET, TRA`` and ``AP50, F1_50, division_precision, division_recall`` (0-1),
        ``count_mae`` (cells per frame); NaN where not evaluated.
    """
    row = evaluation_row(evaluation) if evaluation else {}
    return {key: _num(row.get(key)) for key in HEADLINE_KEYS}


def _segmentation_evaluation(evaluation: Mapping[str, Any]) -> str:
    """The segmentation part of the evaluation section, from ``evaluation['segmentation']``.

    Instance scores per IoU threshold (figure and table), pixel scores and the per-frame table, from
    ``evaluation['segmentation']``.
    """
    segmentation, reason = _sub(evaluation, "segmentation")
    if segmentation is None:
        return _not_done("Segmentation was", reason)
    body = ""
    thresholds = list(segmentation.get("iou_thresholds") or [])
    if thresholds:
        body += _figure(
            _iou_figure(segmentation),
            "Predicted objects matched one-to-one to ground-truth objects at each IoU threshold, all evaluated "
            "frames pooled: average precision = TP / (TP + FP + FN), precision = TP / (TP + FP), "
            "recall = TP / (TP + FN), F1 = their harmonic mean.",
        )
        columns = {"IoU threshold": thresholds}
        for key, label in (
            ("average_precision", "AP"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
            ("tp", "TP"), ("fp", "FP"), ("fn", "FN"),
        ):
            values = list(segmentation.get(key) or [])
            if len(values) == len(thresholds):
                columns[label] = values
        body += _table(_records(columns))
    frames = segmentation.get("frames") or []
    overview = _records(
        {
            "measure": [
                "frames evaluated", "mean average precision (over IoU thresholds)", "Jaccard index (pixels)",
                "Dice coefficient (pixels)", "mean IoU of matched objects",
            ],
            "value": [
                ", ".join(str(f) for f in frames) if frames else "none",
                segmentation.get("mean_average_precision"),
                segmentation.get("jaccard"),
                segmentation.get("dice"),
                segmentation.get("mean_matched_iou"),
            ],
        }
    )
    body += _table(overview)
    skipped = segmentation.get("skipped_frames") or {}
    if isinstance(skipped, Mapping) and skipped:
        body += '<p class="note">Frames skipped:</p>' + _table(
            _records({"frame": list(skipped), "reason": list(skipped.values())})
        )
    per_frame = segmentation.get("per_frame") or []
    if per_frame:
        table = pd.DataFrame(list(per_frame))
        first = [c for c in ("frame", "n_true", "n_predicted", "tp", "fp", "fn") if c in table]
        table = table[first + [c for c in table.columns if c not in first]]  # JSON stores keys sorted
        body += '<p class="note">Per evaluated frame (matching at IoU 0.5):</p>' + _table(
            table, max_rows=_MAX_EVALUATION_ROWS
        )
    return body


def _count_evaluation(evaluation: Mapping[str, Any]) -> str:
    """The counts part of the evaluation section, from ``evaluation['counts']``.

    Cells per frame, true against predicted (figure), and the count errors (cells, %), from
    ``evaluation['counts']``.
    """
    counts, reason = _sub(evaluation, "counts")
    if counts is None:
        return _not_done("Cell counts were", reason)
    body = ""
    per_frame = pd.DataFrame(list(counts.get("per_frame") or []))
    if len(per_frame) and {"n_true", "n_predicted"} <= set(per_frame.columns) and "frame" in per_frame:
        truth = f" ({counts['truth']})" if counts.get("truth") else ""
        body += _figure(
            _evaluation_counts_figure(per_frame),
            _esc(
                f"Top: cells per frame in the ground truth{truth} and in the prediction. "
                "Bottom: error = predicted − true (orange: too many, purple: too few)."
            ),
        )
    overview = _records(
        {
            "measure": [
                "mean error (cells)", "mean absolute error (cells)", "mean absolute percentage error (%)",
                "largest absolute error (cells)",
            ],
            "value": [
                counts.get("mean_error"),
                counts.get("mean_absolute_error"),
                counts.get("mean_absolute_percentage_error"),
                counts.get("max_absolute_error"),
            ],
        }
    )
    return body + _table(overview)


def _tracking_evaluation(evaluation: Mapping[str, Any]) -> str:
    """CTC SEG, DET, TRA (0-1), AOGM and its error counts, from ``evaluation['ctc']``."""
    ctc, reason = _sub(evaluation, "ctc")
    if ctc is None:
        return _not_done("Tracking (Cell Tracking Challenge measures) was", reason)
    body = ""
    if ctc.get("valid") is False:
        body += _empty_note("The predicted CTC result did not pass validation; the numbers below may not be meaningful.")
    measures = _records(
        {
            "measure": list(_CTC_MEANING),
            "value": [ctc.get(key) for key in _CTC_MEANING],
            "meaning": list(_CTC_MEANING.values()),
        }
    )
    body += _table(measures)
    errors = ctc.get("errors")
    if isinstance(errors, Mapping) and errors:
        keys = [k for k in _AOGM_ERRORS if k in errors] + [k for k in errors if k not in _AOGM_ERRORS]
        body += '<p class="note">AOGM error counts:</p>' + _table(
            _records(
                {
                    "error": keys,
                    "count": [errors[k] for k in keys],
                    "meaning": [_AOGM_ERRORS.get(k, "") for k in keys],
                }
            )
        )
    source = ", ".join(f"{k}: {ctc[k]}" for k in ("library", "result") if ctc.get(k))
    if source:
        body += f'<p class="note">{_esc(source)}</p>'
    return body


def _division_evaluation(evaluation: Mapping[str, Any]) -> str:
    """The divisions part of the evaluation section, from ``evaluation['divisions']``.

    Division detection counts, precision, recall and F1 (0-1), from ``evaluation['divisions']``, and the CTC's
    BC(i).
    """
    divisions, reason = _sub(evaluation, "divisions")
    if divisions is None:
        return _not_done("Divisions were", reason)
    keys = (
        ("gt_divisions", "divisions in the ground truth"),
        ("predicted_divisions", "predicted divisions"),
        ("tp", "matched (true positives)"),
        ("fp", "false positives"),
        ("fn", "false negatives"),
        ("wrong_children", "mother matched, daughters wrong"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("f1", "F1"),
        ("frame_tolerance", "frame tolerance (frames)"),
    )
    keys = tuple((key, label) for key, label in keys if key in divisions)
    body = _table(
        _records({"measure": [label for _, label in keys], "value": [divisions.get(key) for key, _ in keys]})
    )
    if divisions.get("library"):
        matcher = f", {divisions['matcher']} matching" if divisions.get("matcher") else ""
        body += (
            f'<p class="note">{_esc(divisions["library"] + matcher)}; precision, recall and F1 are undefined (—) '
            "without divisions.</p>"
        )
    ctc = evaluation.get("ctc")
    bc = ctc.get("branching_correctness") if isinstance(ctc, Mapping) else None
    if isinstance(bc, Mapping) and bc.get("BC") is not None:
        body += (
            f'<p class="note">The CTC\'s stricter branching correctness {_esc(bc.get("measure", "BC"))} '
            f'(mother end and each daughter start within the tolerance): {_number_text(float(bc["BC"]), 3)} '
            f'({_esc(bc.get("tp"))} of {_esc(bc.get("gt_divisions"))} true divisions, {_esc(bc.get("library", ""))}).</p>'
        )
    return body


def _evaluation_body(evaluation: Mapping[str, Any] | None) -> str:
    """The evaluation section: headline cards, then segmentation, counts, tracking and divisions.

    ``evaluation`` is the content of ``evaluation.json`` or None.
    """
    if not evaluation:
        return _empty_note("No ground truth was given for this sample, so nothing was evaluated.")
    body = ""
    truth = evaluation.get("ground_truth")
    if isinstance(truth, Mapping):
        body += (
            f'<p class="note">Ground truth: {_esc(truth.get("path", "unknown"))} '
            f'(format: {_esc(truth.get("format", "unknown"))}).</p>'
        )
    headline = _evaluation_headline(evaluation)
    body += _cards((title, _number_text(headline[key], digits)) for key, title, digits in _HEADLINE)
    body += "<h3>Segmentation</h3>" + _segmentation_evaluation(evaluation)
    body += "<h3>Cell counts</h3>" + _count_evaluation(evaluation)
    body += "<h3>Tracking (Cell Tracking Challenge measures)</h3>" + _tracking_evaluation(evaluation)
    body += "<h3>Divisions</h3>" + _division_evaluation(evaluation)
    versions = evaluation.get("versions")
    if isinstance(versions, Mapping) and versions:
        body += '<p class="note">' + _esc("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>"
    return body
