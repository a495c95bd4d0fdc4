"""Tests of the evaluation against ground truth: hand-computed scores and agreement of the CTC measures
(py-ctcmetrics) with traccuracy on the same folders (the ground-truth readers: test_io_ground_truth.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gowt1_helpers import GOWT1_FRAMES, SHARED_GOWT1, gowt1_prefix

from cellpipe.config import EvaluateSettings
from cellpipe.evaluate import (
    count_errors,
    ctc_scores,
    division_scores,
    frame_segmentation_scores,
    json_safe,
    segmentation_scores,
    single_frame_tracks,
)
from cellpipe.io.ctc import (
    read_ctc_label_stack,
    read_ctc_tracks,
    write_ctc_ground_truth,
    write_ctc_results,
    write_ctc_tracks,
)
from cellpipe.simulate import SimulatedMovie

from conftest import dividing_movie


def squares() -> tuple[np.ndarray, np.ndarray]:
    """Ground truth: two 10x10 squares.  Prediction: the first exactly, the second shifted by 2 px
    (IoU 80/120 = 0.667), and a 4x4 false positive."""
    truth = np.zeros((40, 40), np.uint16)
    truth[0:10, 0:10] = 1
    truth[20:30, 20:30] = 2
    pred = np.zeros_like(truth)
    pred[0:10, 0:10] = 7
    pred[20:30, 22:32] = 3
    pred[35:39, 0:4] = 9
    return truth, pred


def test_frame_scores_match_hand_computation() -> None:
    truth, pred = squares()
    s = frame_segmentation_scores(truth, pred, [0.5, 0.7, 0.9])
    assert s["n_true"] == 2 and s["n_predicted"] == 3
    # IoU 1.0 and 0.667: both match at 0.5, only the exact one at 0.7 and 0.9
    assert s["tp"] == [2, 1, 1] and s["fp"] == [1, 2, 2] and s["fn"] == [0, 1, 1]
    assert s["matched_ious"] == pytest.approx([1.0, 80 / 120])
    # foreground: 200 true px, 216 predicted px, 180 shared
    assert (s["intersection"], s["union"], s["true_pixels"], s["predicted_pixels"]) == (180, 236, 200, 216)


def test_an_object_overlapping_less_than_half_is_not_matched() -> None:
    truth = np.zeros((20, 20), np.uint16)
    truth[0:10, 0:10] = 1
    pred = np.zeros_like(truth)
    pred[0:10, 4:14] = 2  # IoU 60 / 140 = 0.43
    s = frame_segmentation_scores(truth, pred, [0.3, 0.5])
    assert s["tp"] == [1, 0] and s["matched_ious"] == []


def test_segmentation_scores_pool_counts_over_frames() -> None:
    truth, pred = squares()
    empty = np.zeros_like(truth)
    frames = {0: truth, 3: truth, 5: empty}
    predicted = {0: pred, 3: truth, 5: empty}
    s = segmentation_scores(frames, predicted.__getitem__, [0.5, 0.75])
    assert s["frames"] == [0, 3, 5]
    # frame 0: tp 2 fp 1 fn 0 at 0.5, tp 1 fp 2 fn 1 at 0.75; frame 3 perfect (2 tp); frame 5 empty
    assert s["tp"] == [4, 3] and s["fp"] == [1, 2] and s["fn"] == [0, 1]
    assert s["average_precision"] == pytest.approx([4 / 5, 3 / 6])
    assert s["precision"] == pytest.approx([4 / 5, 3 / 5])
    assert s["recall"] == pytest.approx([1.0, 3 / 4])
    assert s["f1"] == pytest.approx([8 / 9, 6 / 9])
    assert s["mean_average_precision"] == pytest.approx((0.8 + 0.5) / 2)
    assert s["jaccard"] == pytest.approx((180 + 200) / (236 + 200))
    assert s["dice"] == pytest.approx(2 * 380 / (200 + 216 + 400))
    assert s["mean_matched_iou"] == pytest.approx((1 + 80 / 120 + 1 + 1) / 4)
    assert [r["frame"] for r in s["per_frame"]] == [0, 3, 5]
    assert s["per_frame"][0]["ap_0.5"] == pytest.approx(2 / 3)
    assert s["per_frame"][0]["jaccard"] == pytest.approx(180 / 236)
    assert s["per_frame"][0]["dice"] == pytest.approx(2 * 180 / (200 + 216))
    assert math.isnan(s["per_frame"][2]["jaccard"])  # no foreground on either side
    # the per-frame counts are those at IoU 0.5 wherever it stands among the thresholds
    first = segmentation_scores(frames, predicted.__getitem__, [0.75, 0.5])["per_frame"][0]
    assert (first["tp"], first["fp"], first["fn"], first["ap_0.5"]) == (2, 1, 0, pytest.approx(2 / 3))


def test_count_errors() -> None:
    out = count_errors({0: 10, 1: 10, 2: 0}, {0: 12, 1: 9, 2: 1, 3: 50}, frame_interval_min=5.0)
    assert out["mean_error"] == pytest.approx((2 - 1 + 1) / 3)
    assert out["mean_absolute_error"] == pytest.approx(4 / 3)
    assert out["mean_absolute_percentage_error"] == pytest.approx(100 * (0.2 + 0.1) / 2)
    assert out["max_absolute_error"] == 2
    assert out["per_frame"][1] == {"frame": 1, "time_min": 5.0, "n_true": 10, "n_predicted": 9, "error": -1}
    with pytest.raises(ValueError, match=r"frame\(s\) \[4\]"):
        count_errors({4: 1}, {0: 1})


def test_single_frame_tracks_numbers_objects_across_frames() -> None:
    a = np.array([[0, 5], [5, 9]])
    b = np.array([[3, 0], [0, 0]])
    stack, rows = single_frame_tracks([a, b])
    np.testing.assert_array_equal(stack, [[[0, 1], [1, 2]], [[3, 0], [0, 0]]])
    assert rows.tolist() == [[1, 0, 0, 0], [2, 0, 0, 0], [3, 1, 1, 0]]


def test_json_safe_replaces_nan() -> None:
    assert json_safe({"a": [1.0, float("nan")], "b": np.float32(2.5), "c": {"d": float("inf")}}) == {
        "a": [1.0, None], "b": 2.5, "c": {"d": None}
    }


def test_settings_sort_and_check_thresholds() -> None:
    assert EvaluateSettings(iou_thresholds=[0.75, 0.5, 0.5]).iou_thresholds == [0.5, 0.75]
    with pytest.raises(ValueError, match="between 0 and 1"):
        EvaluateSettings(iou_thresholds=[0.5, 1.0])


# ------------------------------------------------------------------------------------------
# ground-truth readers
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> SimulatedMovie:
    return dividing_movie(n_frames=10)


# ------------------------------------------------------------------------------------------
# CTC measures: py-ctcmetrics, checked against traccuracy on the same folders
# ------------------------------------------------------------------------------------------


def traccuracy_scores(res: Path, gt: Path) -> dict[str, float]:
    """DET and TRA by traccuracy (its CTC matcher and CTCMetrics), for comparison."""
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CTCMetrics

    gt_data = load_ctc_data(str(gt / "TRA"), str(gt / "TRA" / "man_track.txt"), name="gt")
    res_data = load_ctc_data(str(res), str(res / "res_track.txt"), name="res")
    results, _ = run_metrics(gt_data, res_data, matcher=CTCMatcher(), metrics=[CTCMetrics()])
    return {k: float(results[0]["results"][k]) for k in ("DET", "TRA")}


def degrade(labels: np.ndarray, tracks: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """A plausible tracking result: the longest track not dividing deleted, and the first division missed
    (both daughters start new tracks).

    A division that keeps one of its two daughters is avoided on purpose: py-ctcmetrics scores it as
    the CTC's software does (a link to a track with another label is a parent link, whatever the
    number of daughters) while traccuracy 0.4 counts one extra wrong-semantics edge.
    """
    labels = labels.copy()
    parents = set(tracks.parent[tracks.parent > 0])
    candidates = tracks[~tracks.label.isin(parents) & (tracks.parent == 0)]
    longest = int(candidates.assign(n=candidates.last_frame - candidates.first_frame).sort_values("n").label.iloc[-1])
    labels[labels == longest] = 0
    out = tracks[tracks.label != longest].copy()
    if parents:
        out.loc[out.parent == min(parents), "parent"] = 0
    return labels, out


def test_perfect_result_scores_one(tmp_path: Path, sim: SimulatedMovie) -> None:
    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks)
    s = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT")
    assert s["valid"] and s["SEG"] == pytest.approx(1.0) and s["DET"] == pytest.approx(1.0) and s["TRA"] == pytest.approx(1.0)
    assert s["errors"] == {"NS": 0, "FN": 0, "FP": 0, "ED": 0, "EA": 0, "EC": 0}
    d = s["divisions"]
    assert d["gt_divisions"] == sim.n_divisions == d["tp"] and d["fp"] == d["fn"] == 0
    assert d["precision"] == d["recall"] == d["f1"] == 1.0
    # py-ctcmetrics scores divisions up to 3 frames off unless asked for more
    late = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT", segmentation=False, division_frame_tolerance=5)
    assert late["divisions"]["frame_tolerance"] == 5 and late["divisions"]["tp"] == sim.n_divisions


def test_a_result_whose_track_table_contradicts_its_masks_is_invalid(tmp_path: Path, sim: SimulatedMovie) -> None:
    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks)
    tracks = sim.tracks.copy()
    longest = (tracks.last_frame - tracks.first_frame).idxmax()
    tracks.loc[longest, "last_frame"] = tracks.loc[longest, "first_frame"]  # the masks hold it on later frames
    write_ctc_tracks(tmp_path / "01_RES" / "res_track.txt", tracks)
    s = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT", segmentation=False)
    assert s["valid"] is False


def test_degraded_result_agrees_with_traccuracy(tmp_path: Path, sim: SimulatedMovie) -> None:
    pytest.importorskip("traccuracy")
    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    labels, tracks = degrade(sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", labels, tracks)
    s = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT", segmentation=False)
    by_hand = traccuracy_scores(tmp_path / "01_RES", tmp_path / "01_GT")
    assert s["SEG"] is None
    assert s["DET"] < 0.999 and s["TRA"] < 0.999
    assert s["DET"] == pytest.approx(by_hand["DET"], abs=1e-9)
    assert s["TRA"] == pytest.approx(by_hand["TRA"], abs=1e-9)
    assert s["errors"]["FN"] > 0 and s["divisions"]["fn"] >= 1
    assert s["divisions"]["gt_divisions"] == sim.n_divisions
    div = division_scores(tmp_path / "01_RES", tmp_path / "01_GT", frame_tolerance=1)
    assert div["gt_divisions"] == sim.n_divisions and div["fn"] == 1 and div["recall"] == pytest.approx(1 - 1 / sim.n_divisions)
    assert div["tp"] == s["divisions"]["tp"]  # on a clean miss both libraries agree


@pytest.mark.skipif(not SHARED_GOWT1.exists(), reason=f"{SHARED_GOWT1} not found: the real CTC data is in ../shared beside the checkout")
def test_gowt1_degraded_ground_truth_agrees_with_traccuracy(tmp_path: Path) -> None:
    """On the real GOWT1 01 ground truth, its first 49 frames (both divisions), a degraded copy scored by
    cellpipe (py-ctcmetrics) and by traccuracy by hand gives the same DET and TRA."""
    gt = gowt1_prefix(tmp_path / "01_GT")
    labels = read_ctc_label_stack(gt / "TRA", "man_track*.tif")
    tracks = read_ctc_tracks(gt / "TRA" / "man_track.txt")
    assert labels.shape[0] == GOWT1_FRAMES and len(set(tracks.parent[tracks.parent > 0])) == 2
    bad_labels, bad_tracks = degrade(labels, tracks)
    write_ctc_results(tmp_path / "01_RES", bad_labels, bad_tracks)
    s = ctc_scores(tmp_path / "01_RES", gt, segmentation=False, threads=2)
    by_hand = traccuracy_scores(tmp_path / "01_RES", gt)
    assert 0.5 < s["DET"] < 0.99 and 0.5 < s["TRA"] < 0.99
    assert s["DET"] == pytest.approx(by_hand["DET"], abs=1e-9)
    assert s["TRA"] == pytest.approx(by_hand["TRA"], abs=1e-9)


def test_evaluation_row_flattens_scores_and_leaves_unscored_sections_empty() -> None:
    """One flattening of evaluation.json for evaluation.tsv and the report: scores at IoU 0.5 and 0.75 found
    in a threshold list computed by arange (0.7500000000000001), a section with a reason gives None."""
    from cellpipe.evaluate import EVALUATION_COLUMNS, evaluation_row

    thresholds = list(np.arange(0.5, 1.0, 0.05))
    evaluation = {
        "sample": "s1",
        "ground_truth": {"format": "ctc", "complete_frames": [0, 3, 7]},
        "ctc": {"SEG": 0.81, "DET": 0.9, "TRA": 0.95},
        "segmentation": {
            "iou_thresholds": thresholds,
            "average_precision": [0.9 - 0.05 * i for i in range(len(thresholds))],
            "f1": [0.94] * len(thresholds),
            "precision": [0.96] * len(thresholds),
            "recall": [0.92] * len(thresholds),
            "mean_average_precision": 0.6,
            "jaccard": 0.8,
            "dice": 0.88,
        },
        "counts": {"mean_absolute_error": 0.4, "mean_error": -0.2},
        "divisions": {"reason": "the ground truth has no lineage (label images only)"},
    }
    row = evaluation_row(evaluation)
    assert tuple(row) == EVALUATION_COLUMNS
    assert row["sample"] == "s1" and row["ground_truth_format"] == "ctc" and row["complete_frames"] == 3
    assert (row["SEG"], row["DET"], row["TRA"]) == (0.81, 0.9, 0.95)
    assert row["AP50"] == pytest.approx(0.9) and row["AP75"] == pytest.approx(0.65)
    assert row["F1_50"] == 0.94 and row["precision_50"] == 0.96 and row["recall_50"] == 0.92
    assert (row["mAP_50_95"], row["jaccard"], row["dice"]) == (0.6, 0.8, 0.88)
    assert (row["count_mae"], row["count_mean_error"]) == (0.4, -0.2)
    assert all(row[k] is None for k in ("division_precision", "division_recall", "division_f1", "gt_divisions"))
    empty = evaluation_row({"sample": "s2", "ctc": {"reason": "no tracks"}})
    assert empty["sample"] == "s2" and empty["SEG"] is None and empty["AP50"] is None and empty["complete_frames"] == 0
