"""The CTC measures and traccuracy's division detection scored one frame at a time give exactly what the
libraries give on CTC folders (issue #29): on a hand-made case with known SEG and DET, on a simulated movie
with divisions whose arrays refuse to be read other than one frame at a time, on label-image ground truth,
and on the real GOWT1 01 ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from gowt1_helpers import GOWT1_WINDOW, GOWT1_WINDOW_SEG, SHARED_GOWT1, gowt1_window

from cellpipe.evaluate import (
    SingleFrameTracks,
    ctc_scores,
    division_scores,
    json_safe,
    single_frame_tracks,
    streamed_ctc_scores,
    streamed_division_scores,
)
from cellpipe.io.ctc import (
    TRACK_COLUMNS,
    TiffFrames,
    read_ctc_tracks,
    write_ctc_ground_truth,
    write_ctc_results,
)
from cellpipe.io.ground_truth import read_ground_truth
from cellpipe.simulate import SimulatedMovie

from conftest import dividing_movie


class OneFrameOnly:
    """A (T, Y, X) movie that gives out one frame per read: any other read (a slice, a tuple, the whole
    array, iteration) raises, so a score computed from it cannot have held the movie."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = np.asarray(array)
        self.shape = self._array.shape
        self.reads = 0

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, bool | np.bool_) or not isinstance(key, int | np.integer):
            raise TypeError(f"one frame at a time, not {key!r}")
        self.reads += 1
        return self._array[int(key)].copy()

    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        raise TypeError("the whole movie may not be read")

    def __iter__(self):
        raise TypeError("the whole movie may not be read")


def perturb(sim: SimulatedMovie) -> tuple[np.ndarray, pd.DataFrame]:
    """A tracking result with every kind of error: the longest non-dividing track deleted, the first division
    missed (its daughters start new tracks), every third frame's masks eroded by a one-pixel shift, and a
    false-positive object (a new one-frame track) in frame 2."""
    labels, tracks = sim.labels.astype(np.uint16).copy(), sim.tracks.copy()
    parents = set(tracks.parent[tracks.parent > 0])
    lonely = tracks[~tracks.label.isin(parents) & (tracks.parent == 0)]
    longest = int(lonely.assign(n=lonely.last_frame - lonely.first_frame).sort_values("n").label.iloc[-1])
    labels[labels == longest] = 0
    tracks = tracks[tracks.label != longest].copy()
    tracks.loc[tracks.parent == min(parents), "parent"] = 0
    for t in range(0, labels.shape[0], 3):
        shifted = np.zeros_like(labels[t])
        shifted[:, 1:] = labels[t][:, :-1]
        labels[t] = np.where(shifted == labels[t], labels[t], 0)
    fp = int(tracks.label.max()) + 1
    free = labels[2] == 0
    free[:, 8:] = False
    labels[2][free] = fp
    tracks = pd.concat([tracks, pd.DataFrame([[fp, 2, 2, 0]], columns=list(TRACK_COLUMNS))], ignore_index=True)
    return labels, tracks


@pytest.fixture(scope="module")
def sim() -> SimulatedMovie:
    return dividing_movie(n_frames=12)


def test_hand_made_case_has_the_known_seg_and_det(tmp_path: Path) -> None:
    """Two 10x10 cells tracked over two frames.  Frame 0: cell 1 found exactly, cell 2 by a 10x6 part of it
    (covers 60 %: matched, IoU 0.6); frame 1: cell 1 exactly, cell 2 missed.  SEG = (1 + 0.6 + 1 + 0) / 4;
    DET = 1 - 10 (one false negative) / (10 x 4 reference objects)."""
    truth = np.zeros((2, 30, 30), np.uint16)
    truth[:, 2:12, 2:12] = 1
    truth[:, 15:25, 15:25] = 2
    result = np.zeros_like(truth)
    result[:, 2:12, 2:12] = 1
    result[0, 15:25, 15:21] = 2
    truth_tracks = pd.DataFrame([[1, 0, 1, 0], [2, 0, 1, 0]], columns=list(TRACK_COLUMNS))
    result_tracks = pd.DataFrame([[1, 0, 1, 0], [2, 0, 0, 0]], columns=list(TRACK_COLUMNS))
    streamed = streamed_ctc_scores(OneFrameOnly(truth), truth_tracks, OneFrameOnly(result), result_tracks,
                                   truth_segmentation={0: truth[0], 1: truth[1]})
    assert streamed["SEG"] == pytest.approx(2.6 / 4) and streamed["DET"] == pytest.approx(0.75)
    assert streamed["errors"]["FN"] == 1 and streamed["errors"]["FP"] == 0
    write_ctc_ground_truth(tmp_path / "01_GT", truth, truth_tracks)
    write_ctc_results(tmp_path / "01_RES", result, result_tracks)
    assert streamed == ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT")


def test_movie_read_one_frame_at_a_time_scores_as_the_libraries_do_on_folders(tmp_path: Path, sim: SimulatedMovie) -> None:
    """Every field of the CTC measures (SEG, DET, TRA, AOGM and its error counts, BC(1)) and of traccuracy's
    division detection, from arrays that refuse any read but one frame, equals the libraries' folder path."""
    labels, tracks = perturb(sim)
    seg_frames = [1, 4, 9]
    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks, seg_frames=seg_frames)
    write_ctc_results(tmp_path / "01_RES", labels, tracks)
    truth, result = OneFrameOnly(sim.labels.astype(np.uint16)), OneFrameOnly(labels)
    seg = {t: sim.labels[t].astype(np.uint16) for t in seg_frames}

    streamed = streamed_ctc_scores(truth, sim.tracks, result, tracks, truth_segmentation=seg, division_frame_tolerance=1)
    by_folder = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT", division_frame_tolerance=1)
    assert json_safe(streamed) == json_safe(by_folder)
    assert 0.5 < streamed["SEG"] < 1 and 0.5 < streamed["DET"] < 1 and 0.5 < streamed["TRA"] < 1
    assert all(streamed["errors"][k] > 0 for k in ("FN", "FP", "EA"))
    assert result.reads == truth.reads == sim.labels.shape[0]

    divisions = streamed_division_scores(truth, sim.tracks, result, tracks, frame_tolerance=1)
    assert json_safe(divisions) == json_safe(division_scores(tmp_path / "01_RES", tmp_path / "01_GT", frame_tolerance=1))
    assert divisions["gt_divisions"] == sim.n_divisions and divisions["fn"] >= 1


def test_ctc_folders_read_frame_by_frame_score_as_the_folders(tmp_path: Path, sim: SimulatedMovie) -> None:
    """TiffFrames (what evaluate_sample reads) gives the folders' frames, in their dtype, and the same scores."""
    labels, tracks = perturb(sim)
    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks, seg_frames=[0, 5])
    write_ctc_results(tmp_path / "01_RES", labels, tracks)
    markers, masks = TiffFrames(tmp_path / "01_GT" / "TRA", "man_track*.tif"), TiffFrames(tmp_path / "01_RES", "mask*.tif")
    assert markers.shape == sim.labels.shape and masks.dtype == np.uint16 and sorted(markers) == list(range(12))
    np.testing.assert_array_equal(masks[7], labels[7])
    result_tracks = read_ctc_tracks(tmp_path / "01_RES" / "res_track.txt")
    streamed = streamed_ctc_scores(markers, sim.tracks, masks, result_tracks,
                                   truth_segmentation=TiffFrames(tmp_path / "01_GT" / "SEG", "man_seg*.tif"))
    assert json_safe(streamed) == json_safe(ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT"))


def test_label_ground_truth_as_one_frame_tracks_scores_as_the_folders(tmp_path: Path, sim: SimulatedMovie) -> None:
    """Per-frame label images (no lineage): SEG and DET of one-frame tracks, relabelled as each frame is
    read (SingleFrameTracks), equal those of the stacked folders (single_frame_tracks)."""
    labels, _ = perturb(sim)
    frames = [0, 3, 4, 10]
    truth = SingleFrameTracks(OneFrameOnly(sim.labels), frames)
    result = SingleFrameTracks(OneFrameOnly(labels), frames)
    true_stack, true_rows = single_frame_tracks([sim.labels[t] for t in frames])
    pred_stack, pred_rows = single_frame_tracks([labels[t] for t in frames])
    np.testing.assert_array_equal(np.stack([result[i] for i in range(len(frames))]), pred_stack)
    np.testing.assert_array_equal(truth.tracks, true_rows)
    streamed = streamed_ctc_scores(truth, truth.tracks, result, result.tracks, truth_segmentation=truth, tracking=False)
    write_ctc_ground_truth(tmp_path / "01_GT", true_stack, pd.DataFrame(true_rows, columns=list(TRACK_COLUMNS)))
    write_ctc_results(tmp_path / "01_RES", pred_stack, pd.DataFrame(pred_rows, columns=list(TRACK_COLUMNS)))
    assert streamed == ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT", tracking=False)
    assert streamed["TRA"] is None and 0.5 < streamed["SEG"] < 1 and 0.5 < streamed["DET"] < 1


def test_label_tiff_ground_truth_is_read_page_by_page(tmp_path: Path, sim: SimulatedMovie) -> None:
    tifffile.imwrite(tmp_path / "truth.tif", sim.labels.astype(np.uint16))
    gt = read_ground_truth(tmp_path / "truth.tif", 12, (96, 96))
    assert not isinstance(gt.masks, dict) and sorted(gt.masks) == list(range(12))
    for t in (0, 6, 11):
        assert gt.masks[t].dtype == np.uint32
        np.testing.assert_array_equal(gt.masks[t], sim.labels[t])
    assert sorted(gt.complete_masks) == list(range(12))


@pytest.mark.skipif(not SHARED_GOWT1.exists(), reason="../shared CTC data not present")
def test_gowt1_streamed_scores_equal_the_folder_scores(tmp_path: Path) -> None:
    """GOWT1 01's real ground truth, frames 14-48 of 1024² (both divisions, 6 of their SEG frames: sparse and
    complete ones): a degraded copy of the TRA markers (a track deleted, every fourth frame's markers shifted
    by 3 px) scored against the ground truth frame by frame equals py-ctcmetrics and traccuracy on the
    folders, in every field."""
    gt = gowt1_window(tmp_path / "01_GT")
    markers = TiffFrames(gt / "TRA", "man_track*.tif")
    tracks = read_ctc_tracks(gt / "TRA" / "man_track.txt")
    first, last = GOWT1_WINDOW
    assert markers.shape[0] == last - first + 1 and len(list((gt / "SEG").iterdir())) == len(GOWT1_WINDOW_SEG)
    parents = set(tracks.parent[tracks.parent > 0])
    assert sorted(tracks.parent[tracks.parent > 0]) == [10, 10, 16, 16]  # two daughters each
    lonely = tracks[~tracks.label.isin(parents) & (tracks.parent == 0)]
    gone = int(lonely.assign(n=lonely.last_frame - lonely.first_frame).sort_values("n").label.iloc[-1])
    res = tmp_path / "01_RES"
    labels = np.stack([markers[t] for t in range(markers.shape[0])])
    labels[labels == gone] = 0
    labels[::4] = np.roll(labels[::4], 3, axis=2)
    result_tracks = tracks[tracks.label != gone]
    write_ctc_results(res, labels, result_tracks)
    del labels

    result = TiffFrames(res, "mask*.tif")
    streamed = streamed_ctc_scores(markers, tracks, result, result_tracks,
                                   truth_segmentation=TiffFrames(gt / "SEG", "man_seg*.tif"))
    assert json_safe(streamed) == json_safe(ctc_scores(res, gt))
    assert 0.3 < streamed["SEG"] < 0.99 and 0.5 < streamed["DET"] < 0.99 and 0.5 < streamed["TRA"] < 0.99
    divisions = streamed_division_scores(markers, tracks, result, result_tracks)
    assert json_safe(divisions) == json_safe(division_scores(res, gt))
    assert divisions["gt_divisions"] == 2
