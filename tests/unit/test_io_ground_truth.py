"""Tests of cellpipe.io.ground_truth: the ground truth a sample is evaluated against (CTC folders, label TIFFs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.io.ctc import write_ctc_ground_truth
from cellpipe.io.ground_truth import GroundTruthError, read_ground_truth
from cellpipe.simulate import SimulatedMovie

from conftest import dividing_movie


@pytest.fixture(scope="module")
def sim() -> SimulatedMovie:
    return dividing_movie(n_frames=10)


def test_ctc_ground_truth_marks_sparse_frames(tmp_path: Path, sim: SimulatedMovie) -> None:
    gt = tmp_path / "01_GT"
    write_ctc_ground_truth(gt, sim.labels, sim.tracks, seg_frames=[1, 4])
    sparse = np.asarray(tifffile.imread(gt / "SEG" / "man_seg004.tif"))
    keep = np.unique(sparse)[1]
    tifffile.imwrite(gt / "SEG" / "man_seg004.tif", np.where(sparse == keep, sparse, 0))  # one cell annotated
    truth = read_ground_truth(gt, 10, (96, 96))
    assert truth.format == "ctc" and truth.has_tracking
    assert sorted(truth.masks) == [1, 4] and truth.complete == [1]
    n4 = len(np.unique(sim.labels[4])) - 1
    assert truth.skipped == {4: f"sparse annotation: 1 of {n4} tracked cells have a mask"}
    assert truth.counts == {t: len(np.unique(sim.labels[t])) - 1 for t in range(10)}


def test_label_tiff_stack_and_folder(tmp_path: Path, sim: SimulatedMovie) -> None:
    tifffile.imwrite(tmp_path / "labels.tif", sim.labels)
    stack = read_ground_truth(tmp_path / "labels.tif", 10, (96, 96))
    assert stack.format == "labels" and not stack.has_tracking and stack.complete == list(range(10))
    folder = tmp_path / "masks"
    folder.mkdir()
    for t in (2, 7):
        tifffile.imwrite(folder / f"cells_t{t:03d}.tif", sim.labels[t])
    sparse = read_ground_truth(folder, 10, (96, 96))
    assert sorted(sparse.masks) == [2, 7] and sparse.complete == [2, 7]
    assert sparse.counts == {2: len(np.unique(sim.labels[2])) - 1, 7: len(np.unique(sim.labels[7])) - 1}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: tifffile.imwrite(d / "m.tif", np.zeros((10, 90, 96), np.uint16)),
         r"m\.tif: mask is 90x96 px but the movie's frames are 96x96"),
        (lambda d: tifffile.imwrite(d / "m.tif", np.zeros((4, 96, 96), np.uint16), photometric="minisblack"),
         r"one plane per movie frame \(10\)"),
        (lambda d: tifffile.imwrite(d / "m.tif", np.full((10, 96, 96), 0.5, np.float32)), "whole numbers"),
        (lambda d: (d / "m.tif").write_text("not a tiff"), r"m\.tif: not a readable TIFF"),
    ],
)
def test_bad_label_tiffs_are_named(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    with pytest.raises(GroundTruthError, match=message):
        read_ground_truth(tmp_path / "m.tif", 10, (96, 96))


def test_bad_ctc_ground_truth_is_named(tmp_path: Path, sim: SimulatedMovie) -> None:
    gt = tmp_path / "01_GT"
    write_ctc_ground_truth(gt, sim.labels, sim.tracks, seg_frames=[1])
    with pytest.raises(GroundTruthError, match=r"must cover the movie's 12 frame\(s\) exactly; missing frames \[10, 11\]"):
        read_ground_truth(gt, 12, (96, 96))
    (gt / "SEG" / "man_seg001.tif").rename(gt / "SEG" / "man_seg015.tif")
    with pytest.raises(GroundTruthError, match=r"man_seg015\.tif: frame 15 is beyond the movie's 10 frame"):
        read_ground_truth(gt, 10, (96, 96))
    (gt / "TRA" / "man_track.txt").unlink()
    with pytest.raises(GroundTruthError, match=r"man_track\.txt: lineage file not found"):
        read_ground_truth(gt, 10, (96, 96))
    with pytest.raises(GroundTruthError, match="ground truth not found"):
        read_ground_truth(tmp_path / "nope", 10, (96, 96))
