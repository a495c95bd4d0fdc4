"""Tests of cellpipe.report.summary: the page over all samples."""

from __future__ import annotations

import numpy as np
import pytest

from cellpipe.report import (
    HEADLINE_KEYS,
    build_summary_report,
    summary_row,
)

from .report_helpers import (
    EVALUATION,
    assert_self_contained,
    decoded_pngs,
)


def test_summary_report_links_samples(movie: dict) -> None:
    rows = [
        summary_row("b sample", movie["counts"], movie["cells"], movie["track_summary"]),
        {"sample": "a<x>", "frames": 2, "cells": 0, "tracks": 0},
    ]
    expected = {"sample": "b sample", "n_frames": 4, "n_cells": 12, "n_tracks": 3, "mean_cells_per_frame": 3.0}
    assert {key: rows[0][key] for key in expected} == expected
    assert rows[0]["n_divisions"] == 0
    assert rows[0]["mean_speed_um_per_min"] == pytest.approx(0.5)  # 2 px × 0.5 µm per 2 min
    assert all(np.isnan(rows[0][key]) for key in HEADLINE_KEYS)  # no ground truth
    html_text = build_summary_report(rows)
    assert 'href="b%20sample/report.html"' in html_text
    assert 'href="a%3Cx%3E/report.html"' in html_text
    assert "a&lt;x&gt;" in html_text and "a<x>" not in html_text
    assert html_text.index("a&lt;x&gt;") < html_text.index(">b sample<")  # sorted by sample
    assert "3.00" in html_text  # mean cells per frame
    assert_self_contained(html_text)
    assert "No samples were processed." in build_summary_report([])


def test_summary_with_evaluation(family: dict) -> None:
    with_gt = summary_row("b", family["counts"], family["cells"], family["track_summary"], evaluation=EVALUATION)
    assert with_gt["n_divisions"] == 1
    assert with_gt["mean_speed_um_per_min"] == pytest.approx(0.925)  # median of 0.5, 0.75, 1.1, 1.1
    assert with_gt["SEG"] == 0.81 and with_gt["TRA"] == 0.96
    assert with_gt["AP50"] == pytest.approx(0.9) and with_gt["F1_50"] == pytest.approx(0.94)
    assert with_gt["division_precision"] == 0.82 and with_gt["count_mae"] == 0.4
    without = summary_row("a", family["counts"], family["cells"], family["track_summary"])
    html_text = build_summary_report([with_gt, without], generated="today")
    assert '<section id="evaluation">' in html_text and 'href="#evaluation"' in html_text
    assert len(decoded_pngs(html_text)) == 1 and decoded_pngs(html_text)[0].std() > 0
    row_a = html_text[html_text.index(">a</a>") : html_text.index("</tr>", html_text.index(">a</a>"))]
    assert row_a.count("&mdash;") == len(HEADLINE_KEYS)
    row_b = html_text[html_text.index(">b</a>") : html_text.index("</tr>", html_text.index(">b</a>"))]
    assert "0.810" in row_b and "0.925" in row_b
    assert_self_contained(html_text)

    plain = build_summary_report([without])
    assert '<section id="evaluation">' not in plain
    assert "<img" not in plain
