"""Tests of cellpipe.qc (qc.json) and the QC parts of the reports (rule assess_quality's step: test_steps_qc.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cellpipe.config import QCSettings
from cellpipe.qc import assess_quality, border_tracks, count_jumps, qc_headline
from cellpipe.report import build_sample_report, build_summary_report, qc_body, summary_row

FRAME_SHAPE = (50, 60)  # (height, width) px
DIAMETER_PX = 10.0  # margin: 5 px


def _segmentation(removed: list[dict[str, int]] | None = None, probabilities: list[float] | None = None) -> dict:
    """segmentation.json of 4 frames with 10 objects each; frame 0 lost 1 too_small, frame 2 lost 2 low_contrast."""
    removed = removed or [{"too_small": 1}, {}, {"low_contrast": 2}, {}]
    rows = []
    for t, gone in enumerate(removed):
        row = {"frame": t, "objects": 10, "too_small": 0, "too_large": 0, "low_contrast": 0, "touches_border": 0}
        row.update(gone)
        if probabilities is not None:
            row["mean_cell_probability"] = probabilities[t]
        rows.append(row)
    return {
        "method": "cellpose",
        "diameter_px": DIAMETER_PX,
        "diameter_source": "settings",
        "object_filters": {"settings": {}, "diameter_px": DIAMETER_PX, "per_frame": rows, "removed": {}},
    }


TRACKING = {
    "n_tracks": 4, "n_divisions": 2, "n_divisions_rejected": 3, "divisions_rejected": {"size": 2, "lag": 1},
    "min_track_frames": 3, "n_short_tracks": 1,
}


def _tracks() -> pd.DataFrame:
    """Four tracks in a 50 x 60 px frame: 1 reaches x = 3 px (near the left edge), 4 reaches y = 44
    (49 - 44 = 5 px = half the diameter: near), 2 stays in the middle, 3 keeps 6 px from the bottom right."""
    rows = [
        (0, 1, 25.0, 30.0), (1, 1, 25.0, 3.0),
        (0, 2, 25.0, 30.0), (1, 2, 26.0, 31.0),
        (0, 3, 43.0, 53.0), (1, 3, 42.0, 52.0),
        (0, 4, 40.0, 20.0), (1, 4, 44.0, 20.0),
    ]
    return pd.DataFrame(rows, columns=["frame", "track_id", "y_px", "x_px"])


def _metrics(short: int = 1) -> pd.DataFrame:
    return pd.DataFrame({
        "track_id": [1, 2, 3, 4], "n_frames": [2, 2, 2, 2], "parent": [0, 0, 0, 0], "n_divisions": [0, 0, 0, 0],
        "mean_speed_um_per_min": [1.0, 1.0, 1.0, 1.0], "excluded": ["short"] * short + [""] * (4 - short),
    })


def _counts(n: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"frame": range(len(n)), "time_min": [5.0 * t for t in range(len(n))], "n_cells": n})


def _assess(settings: QCSettings | None = None, **overrides) -> dict:
    inputs = {
        "segmentation": _segmentation(),
        "tracking": TRACKING,
        "tracks": _tracks(),
        "track_metrics": _metrics(),
        "counts": _counts([10, 10, 11, 10]),
        "frame_shape_yx": FRAME_SHAPE,
        "settings": settings or QCSettings(),
    }
    inputs.update(overrides)
    return assess_quality(**inputs)


def test_count_jump_found_at_its_frame_and_only_there() -> None:
    jumps = count_jumps(_counts([10, 10, 14, 14, 13, 10]), 0.25, 2)
    # 10 -> 14 (+40 %) at frame 2; 14 -> 13 (-7 %) and 13 -> 10 (-23 %) are not jumps
    assert jumps == [{"frame": 2, "previous": 10, "n_cells": 14, "change": 4, "change_fraction": 0.4}]
    # exactly the threshold (8 -> 10 = +25 %) is not above it; 1 -> 2 cells is +100 % but one cell
    assert count_jumps(_counts([8, 10]), 0.25, 2) == []
    assert count_jumps(_counts([1, 2]), 0.25, 2) == []
    # a fall counts too, and from 0 cells the fraction is undefined
    assert count_jumps(_counts([12, 6, 0, 3]), 0.25, 2) == [
        {"frame": 1, "previous": 12, "n_cells": 6, "change": -6, "change_fraction": -0.5},
        {"frame": 2, "previous": 6, "n_cells": 0, "change": -6, "change_fraction": -1.0},
        {"frame": 3, "previous": 0, "n_cells": 3, "change": 3, "change_fraction": None},
    ]


def test_border_tracks_use_half_the_diameter() -> None:
    assert border_tracks(_tracks(), FRAME_SHAPE, 5.0) == (2, 4)  # tracks 1 and 4
    assert border_tracks(_tracks(), FRAME_SHAPE, 6.0) == (3, 4)  # track 3 too (6 px from the bottom and right)
    assert border_tracks(_tracks(), FRAME_SHAPE, 2.0) == (0, 4)
    assert border_tracks(_tracks().iloc[:0], FRAME_SHAPE, 5.0) == (0, 0)


def test_clean_sample_is_ok_with_exact_numbers() -> None:
    qc = _assess()
    assert qc["status"] == "ok" and qc["warnings"] == []
    filters = qc["filters"]
    assert filters["objects_found"] == 40 and filters["objects_removed"] == 3
    assert filters["removed_fraction"] == pytest.approx(3 / 40)
    assert filters["removed"] == {"too_small": 1, "too_large": 0, "low_contrast": 2, "touches_border": 0}
    assert [(r["frame"], r["kept"], r["low_contrast"]) for r in filters["per_frame"]] == [
        (0, 9, 0), (1, 10, 0), (2, 8, 2), (3, 10, 0)
    ]
    tracks = qc["tracks"]
    assert (tracks["n_short"], tracks["n_tracks"], tracks["short_fraction"]) == (1, 4, 0.25)  # not above 0.25
    assert (tracks["n_border"], tracks["border_fraction"], tracks["border_margin_px"]) == (2, 0.5, 5.0)
    assert qc["divisions"] == {"kept": 2, "rejected": 3, "rejected_by_reason": {"lag": 1, "size": 2}}
    assert qc["count_jumps"] == [] and qc["confidence"] is None
    json.dumps(qc)  # plain JSON


@pytest.mark.parametrize(
    ("overrides", "settings", "words"),
    [
        ({"counts": _counts([10, 10, 15, 15])}, QCSettings(), "jumps by more than 25 % from the previous frame at frame(s) 2"),
        ({"track_metrics": _metrics(short=2)}, QCSettings(), "2 of 4 tracks (50 %) are shorter than 3 frames"),
        ({}, QCSettings(max_border_track_fraction=0.4), "2 of 4 tracks (50 %) come within half a cell diameter (5.0 px)"),
        ({"segmentation": _segmentation([{"too_small": 4}, {}, {"low_contrast": 1}, {}])}, QCSettings(),
         "The object filters removed 5 of 40 objects (12 %, more than the 10 % allowed), most as too small (4)"),
        ({"segmentation": _segmentation(probabilities=[0.9, 0.7, 0.5, 0.6])}, QCSettings(),
         "mean cell probability is 0.68 (lowest 0.50 at frame 2), below 0.70"),
    ],
    ids=["count_jump", "short_tracks", "border", "filters", "confidence"],
)
def test_each_crossed_threshold_gives_check_and_its_warning(overrides: dict, settings: QCSettings, words: str) -> None:
    qc = _assess(settings, **overrides)
    assert qc["status"] == "check"
    assert len(qc["warnings"]) == 1
    assert words in qc["warnings"][0]


def test_confidence_mean_and_lowest_frame() -> None:
    qc = _assess(segmentation=_segmentation(probabilities=[0.9, 0.8, 0.75, 0.95]))
    assert qc["confidence"] == {
        "mean_cell_probability": pytest.approx(0.85), "lowest_frame": 2, "lowest_mean_cell_probability": 0.75,
        "frames": 4,
    }
    assert qc["status"] == "ok"


def test_unknown_diameter_leaves_the_border_fraction_unknown() -> None:
    segmentation = _segmentation()
    segmentation["diameter_px"] = None
    segmentation["object_filters"]["diameter_px"] = None
    qc = _assess(segmentation=segmentation, settings=QCSettings(max_border_track_fraction=0.0))
    assert qc["tracks"]["border_fraction"] is None and qc["tracks"]["n_border"] is None
    assert qc["status"] == "ok"


def test_qc_settings_reject_unknown_keys_and_bad_fractions() -> None:
    with pytest.raises(ValueError, match="extra"):
        QCSettings.model_validate({"max_short_tracks": 0.2})
    with pytest.raises(ValueError):
        QCSettings(max_removed_fraction=1.5)


def test_report_has_a_quality_control_section_near_the_top() -> None:
    qc = _assess(counts=_counts([10, 10, 15, 15]))
    counts = _counts([10, 10, 15, 15])
    cells = pd.DataFrame({"frame": [0], "track_id": [1], "area_um2": [20.0]})
    percentiles = pd.DataFrame(columns=["channel", "frame", "low_percentile", "high_percentile", "low_value", "high_value"])
    html = build_sample_report("s", counts, cells, _metrics(), None, None, 0, percentiles, {}, qc=qc,
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
    ok = qc_body(_assess())
    assert "Status: ok" in ok and "qc-warnings" not in ok
    assert "No quality record" in qc_body(None)


def test_summary_highlights_a_check_sample() -> None:
    counts = _counts([10, 10, 15, 15])
    cells = pd.DataFrame({"frame": [0], "track_id": [1], "area_um2": [20.0]})
    bad = summary_row("bad", counts, cells, _metrics(), qc=_assess(track_metrics=_metrics(short=2)))
    good = summary_row("good", counts, cells, _metrics(), qc=_assess())
    assert bad["qc_status"] == "check" and bad["qc_warnings"] == 1 and bad["qc_short_fraction"] == 0.5
    assert good["qc_status"] == "ok" and good["qc_count_jumps"] == 0
    html = build_summary_report([good, bad], generated="today")
    assert ".qc-check-row" in html  # the style that colours the row
    bad_row = html[html.rindex("<tr", 0, html.index(">bad</a>")):html.index("</tr>", html.index(">bad</a>"))]
    good_row = html[html.rindex("<tr", 0, html.index(">good</a>")):html.index("</tr>", html.index(">good</a>"))]
    assert bad_row.startswith('<tr class="qc-check-row">') and "check (1)" in bad_row and "short 50 %" in bad_row
    assert good_row.startswith("<tr>") and "qc-check" not in good_row and "border 50 %" in good_row
    assert qc_headline(None)["qc_status"] is None
    assert "not assessed" in build_summary_report([summary_row("plain", counts, cells, _metrics())])
