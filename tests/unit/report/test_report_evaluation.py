"""Tests of cellpipe.report.evaluation: the evaluation section from evaluation.json."""

from __future__ import annotations

import re

import pandas as pd

from cellpipe.report import (
    build_summary_report,
    summary_row,
)
from cellpipe.report.evaluation import _evaluation_body

from .report_helpers import (
    EVALUATION,
    assert_close,
    decoded_pngs,
    figure_values,
    section_html,
    series_named,
)


def test_evaluation_cards_and_tables(full_html: str) -> None:
    section = section_html(full_html, "evaluation")
    for title, value in (
        ("CTC SEG", "0.810"), ("CTC DET", "0.970"), ("CTC TRA", "0.960"), ("AP at IoU 0.5", "0.900"),
        ("F1 at IoU 0.5", "0.940"), ("division precision", "0.820"), ("division recall", "0.900"),
        ("count mean absolute error (cells)", "0.40"),
    ):
        assert f'<div class="k">{title}</div><div class="v">{value}</div>' in section
    assert len(decoded_pngs(section)) == 2  # metrics against IoU, counts over time
    assert "results/simulated/demo/01_GT" in section
    assert "sparse annotation: 2 of 24 cells" in section
    for error, count in (("FN", 10), ("FP", 3), ("EA", 5)):
        assert f'<td>{error}</td><td class="num">{count}</td>' in section
    per_frame_rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td class="num">22</td><td class="num">21</td>', section
    )
    assert per_frame_rows == ["0", "5", "10"]


def test_evaluation_with_missing_parts() -> None:
    evaluation = {
        "ground_truth": {"path": "gt", "format": "labels"},
        "ctc": None,
        "segmentation": {"reason": "no completely annotated frame"},
        "counts": None,
        "divisions": {"library": "x", "gt_divisions": 0, "predicted_divisions": 0, "tp": 0, "fp": 0, "fn": 0,
                      "precision": None, "recall": float("nan"), "f1": None},
    }
    body = _evaluation_body(evaluation)
    assert "Segmentation was not evaluated: no completely annotated frame" in body
    assert "Tracking (Cell Tracking Challenge measures) was not evaluated." in body
    assert "Cell counts were not evaluated." in body
    assert '<div class="k">CTC SEG</div><div class="v">–</div>' in body
    assert '<div class="k">division recall</div><div class="v">–</div>' in body
    assert "<img" not in body
    assert "No ground truth was given for this sample" in _evaluation_body(None)


def test_evaluation_figure_numbers(measured: dict, family: dict) -> None:
    segmentation = measured["values"]["segmentation evaluation"]
    for key, label in (("average_precision", "average precision"), ("precision", "precision"),
                       ("recall", "recall"), ("f1", "F1")):
        series = series_named(segmentation, label)
        assert_close(series["x"], EVALUATION["segmentation"]["iou_thresholds"])
        assert_close(series["y"], EVALUATION["segmentation"][key])
    per_frame = pd.DataFrame(EVALUATION["counts"]["per_frame"])
    counts = measured["values"]["count evaluation"]
    for name, expected in (("ground truth", per_frame["n_true"]), ("predicted", per_frame["n_predicted"]),
                           ("error", per_frame["n_predicted"] - per_frame["n_true"])):
        series = series_named(counts, name)
        assert_close(series["x"], per_frame["frame"] * 2.0)
        assert_close(series["y"], expected)

    rows = [summary_row(name, measured["counts"], measured["cells"], measured["track_summary"], evaluation=evaluation)
            for name, evaluation in (("b", EVALUATION), ("a", None))]
    bars = figure_values(build_summary_report(rows))["summary evaluation"]
    seg = series_named(bars, "SEG")
    assert seg["sample"] == ["b"]
    assert_close(seg["height"], [EVALUATION["ctc"]["SEG"]])
    assert_close(series_named(bars, "AP50")["height"], [EVALUATION["segmentation"]["average_precision"][0]])
