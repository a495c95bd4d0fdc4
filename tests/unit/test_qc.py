"""Tests of cellpipe.qc (qc.json); rule assess_quality's step: test_steps_qc.py; the QC parts of the reports:
report/test_report_qc.py."""

from __future__ import annotations

import json

import pytest
from qc_helpers import FRAME_SHAPE, TRACKING, assess, qc_counts, qc_metrics, qc_segmentation, qc_tracks

from cellpipe.config import QCSettings
from cellpipe.qc import border_tracks, count_jumps


def test_count_jump_found_at_its_frame_and_only_there() -> None:
    jumps = count_jumps(qc_counts([10, 10, 14, 14, 13, 10]), 0.25, 2)
    # 10 -> 14 (+40 %) at frame 2; 14 -> 13 (-7 %) and 13 -> 10 (-23 %) are not jumps
    assert jumps == [{"frame": 2, "previous": 10, "n_cells": 14, "change": 4, "change_fraction": 0.4}]
    # exactly the threshold (8 -> 10 = +25 %) is not above it; 1 -> 2 cells is +100 % but one cell
    assert count_jumps(qc_counts([8, 10]), 0.25, 2) == []
    assert count_jumps(qc_counts([1, 2]), 0.25, 2) == []
    # a fall counts too, and from 0 cells the fraction is undefined
    assert count_jumps(qc_counts([12, 6, 0, 3]), 0.25, 2) == [
        {"frame": 1, "previous": 12, "n_cells": 6, "change": -6, "change_fraction": -0.5},
        {"frame": 2, "previous": 6, "n_cells": 0, "change": -6, "change_fraction": -1.0},
        {"frame": 3, "previous": 0, "n_cells": 3, "change": 3, "change_fraction": None},
    ]


def test_border_tracks_use_half_the_diameter() -> None:
    assert border_tracks(qc_tracks(), FRAME_SHAPE, 5.0) == (2, 4)  # tracks 1 and 4
    assert border_tracks(qc_tracks(), FRAME_SHAPE, 6.0) == (3, 4)  # track 3 too (6 px from the bottom and right)
    assert border_tracks(qc_tracks(), FRAME_SHAPE, 2.0) == (0, 4)
    assert border_tracks(qc_tracks().iloc[:0], FRAME_SHAPE, 5.0) == (0, 0)


def test_clean_sample_is_ok_with_exact_numbers() -> None:
    qc = assess()
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
    assert (qc["median_object_diameter_px"], qc["diameter_ratio"]) == (9.0, 0.9)
    json.dumps(qc)  # plain JSON


@pytest.mark.parametrize(
    ("overrides", "settings", "words"),
    [
        ({"counts": qc_counts([10, 10, 15, 15])}, QCSettings(), "jumps by more than 25 % from the previous frame at frame(s) 2"),
        ({"track_metrics": qc_metrics(short=2)}, QCSettings(), "2 of 4 tracks (50 %) are shorter than 3 frames"),
        ({}, QCSettings(max_border_track_fraction=0.4), "2 of 4 tracks (50 %) come within half a cell diameter (5.0 px)"),
        ({"segmentation": qc_segmentation([{"too_small": 4}, {}, {"low_contrast": 1}, {}])}, QCSettings(),
         "The object filters removed 5 of 40 objects (12 %, more than the 10 % allowed), most as too small (4)"),
        ({"segmentation": qc_segmentation(probabilities=[0.9, 0.7, 0.5, 0.6])}, QCSettings(),
         "mean cell probability is 0.68 (lowest 0.50 at frame 2), below 0.70"),
        ({"segmentation": {**qc_segmentation(), "denoise": {"setting": "auto", "noise_sd": 0.085, "applied": True}}},
         QCSettings(), "The frames are noisy (noise SD 0.085 normalized units, above 0.070)"),
        ({"tracking": {**TRACKING, "median_diameter_px": 25.0}}, QCSettings(),
         "The objects found are 25.0 px across (median), 2.50 times the cell diameter segmentation was given (10.0 px)"),
        ({"tracking": {**TRACKING, "median_diameter_px": 4.5}}, QCSettings(), "4.5 px across (median), 0.45 times"),
    ],
    ids=["count_jump", "short_tracks", "border", "filters", "confidence", "noise", "larger_cells", "smaller_cells"],
)
def test_each_crossed_threshold_gives_check_and_its_warning(overrides: dict, settings: QCSettings, words: str) -> None:
    qc = assess(settings, **overrides)
    assert qc["status"] == "check"
    assert len(qc["warnings"]) == 1
    assert words in qc["warnings"][0]


def test_confidence_mean_and_lowest_frame() -> None:
    qc = assess(segmentation=qc_segmentation(probabilities=[0.9, 0.8, 0.75, 0.95]))
    assert qc["confidence"] == {
        "mean_cell_probability": pytest.approx(0.85), "lowest_frame": 2, "lowest_mean_cell_probability": 0.75,
        "frames": 4,
    }
    assert qc["status"] == "ok"


def test_the_noise_estimate_and_denoising_are_passed_on() -> None:
    """qc.json repeats segmentation.json's denoise record (noise SD, whether frames were smoothed)."""
    record = {"setting": "auto", "noise_sd": 0.052, "applied": True, "sigma_px": 2.083, "low": 0.09, "high": 0.93}
    assert assess(segmentation={**qc_segmentation(), "denoise": record})["denoise"] == record
    assert assess()["denoise"] is None  # the classical method, or an older segmentation.json


def test_cell_size_within_the_ratio_or_unknown_is_no_warning() -> None:
    """Objects 2 and 0.5 times the given diameter are still within max_diameter_ratio (2); a tracking.json
    without the median (older) leaves the ratio unknown."""
    for found in (20.0, 5.0):
        assert assess(tracking={**TRACKING, "median_diameter_px": found})["status"] == "ok"
    assert assess(tracking={**TRACKING, "median_diameter_px": 20.0}, settings=QCSettings(max_diameter_ratio=1.9))[
        "status"] == "check"
    old = {key: value for key, value in TRACKING.items() if key != "median_diameter_px"}
    qc = assess(tracking=old)
    assert qc["diameter_ratio"] is None and qc["median_object_diameter_px"] is None and qc["status"] == "ok"


def test_unknown_diameter_leaves_the_border_fraction_unknown() -> None:
    segmentation = qc_segmentation()
    segmentation["diameter_px"] = None
    segmentation["object_filters"]["diameter_px"] = None
    qc = assess(segmentation=segmentation, settings=QCSettings(max_border_track_fraction=0.0))
    assert qc["tracks"]["border_fraction"] is None and qc["tracks"]["n_border"] is None
    assert qc["status"] == "ok"


def test_qc_settings_reject_unknown_keys_and_bad_fractions() -> None:
    with pytest.raises(ValueError, match="extra"):
        QCSettings.model_validate({"max_short_tracks": 0.2})
    with pytest.raises(ValueError):
        QCSettings(max_removed_fraction=1.5)


