"""Tests of the quality-control parts of the reports (cellpipe.report.qc; the summary's QC columns)."""

from __future__ import annotations

import pandas as pd
from qc_helpers import assess, qc_counts, qc_metrics

from cellpipe.qc import qc_headline
from cellpipe.report import build_sample_report, build_summary_report, qc_body, summary_row


def test_report_has_a_quality_control_section_near_the_top() -> None:
    qc = assess(counts=qc_counts([10, 10, 15, 15]))
    counts = qc_counts([10, 10, 15, 15])
    cells = pd.DataFrame({"frame": [0], "track_id": [1], "area_um2": [20.0]})
    percentiles = pd.DataFrame(columns=["channel", "frame", "low_percentile", "high_percentile", "low_value", "high_value"])
    html = build_sample_report("s", counts, cells, qc_metrics(), None, None, 0, percentiles, {}, qc=qc,
                               pixel_size_um=0.5, frame_interval_min=5.0)
    assert html.index('<section id="summary">') < html.index('<section id="qc">') < html.index('<section id="counts">')
    section = html[html.index('<section id="qc">'):html.index("</section>", html.index('<section id="qc">'))]
    assert "<h2>Quality control</h2>" in section
    assert '<span class="qc-status qc-check">Status: check</span>' in section
    assert "jumps by more than 25 %" in section
    assert "<td>too small (area below min_area_fraction of the cell&#x27;s disc)</td><td class=\"num\">1</td>" in section
    assert "<td>size</td><td class=\"num\">2</td>" in section  # rejected divisions by reason
    assert '<td class="num">2</td><td class="num">10</td><td class="num">15</td>' in section  # the jump's row
    assert "3 of 40 (8 %)" in section and "1 of 4 (25 %)" in section and "2 / 3" in section
    ok = qc_body(assess())
    assert "Status: ok" in ok and "qc-warnings" not in ok
    assert "No quality record" in qc_body(None)


def test_quality_control_names_the_frames_noise_and_the_smoothing() -> None:
    """The section says how noisy the frames were and whether Cellpose saw them smoothed; nothing without a
    noise estimate (classical method, denoise false)."""
    from qc_helpers import qc_segmentation

    smoothed = {"setting": "auto", "noise_sd": 0.0516, "applied": True, "sigma_px": 2.083, "low": 0.09, "high": 0.93}
    html = qc_body(assess(segmentation={**qc_segmentation(), "denoise": smoothed}))
    assert "normalized units): 0.052; smoothed before the network (Gaussian of 2.08 px, " in html
    assert "segment.cellpose.denoise auto)" in html
    clean = {"setting": "auto", "noise_sd": 0.0223, "applied": False}
    assert "0.022; not smoothed before the network." in qc_body(assess(segmentation={**qc_segmentation(), "denoise": clean}))
    assert "Noise of the frames" not in qc_body(assess())


def test_summary_highlights_a_check_sample() -> None:
    counts = qc_counts([10, 10, 15, 15])
    cells = pd.DataFrame({"frame": [0], "track_id": [1], "area_um2": [20.0]})
    bad = summary_row("bad", counts, cells, qc_metrics(), qc=assess(track_metrics=qc_metrics(short=2)))
    good = summary_row("good", counts, cells, qc_metrics(), qc=assess())
    assert bad["qc_status"] == "check" and bad["qc_warnings"] == 1 and bad["qc_short_fraction"] == 0.5
    assert good["qc_status"] == "ok" and good["qc_count_jumps"] == 0
    html = build_summary_report([good, bad], generated="today")
    assert ".qc-check-row" in html  # the style that colours the row
    bad_row = html[html.rindex("<tr", 0, html.index(">bad</a>")):html.index("</tr>", html.index(">bad</a>"))]
    good_row = html[html.rindex("<tr", 0, html.index(">good</a>")):html.index("</tr>", html.index(">good</a>"))]
    assert bad_row.startswith('<tr class="qc-check-row">') and "check (1)" in bad_row and "short 50 %" in bad_row
    assert good_row.startswith("<tr>") and "qc-check" not in good_row and "border 50 %" in good_row
    jumpy = summary_row("jumpy", counts, cells, qc_metrics(), qc=assess(counts=counts))  # 10 -> 15 cells at frame 2
    assert jumpy["qc_status"] == "check" and jumpy["qc_count_jumps"] == 1
    assert "jumps 1" in build_summary_report([jumpy], generated="today")
    assert qc_headline(None)["qc_status"] is None
    assert "not assessed" in build_summary_report([summary_row("plain", counts, cells, qc_metrics())])
