"""CTC folders of 3-D movies: (Z, Y, X) stacks per file, round trips, ground-truth reading, py-ctcmetrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from cellpipe.io.ctc import (
    TiffFrames,
    check_ctc_tracks,
    read_ctc_label_stack,
    read_ctc_movie,
    read_ctc_pixel_size,
    read_ctc_results,
    read_ctc_tracks,
    write_ctc_ground_truth,
    write_ctc_ground_truth_frames,
    write_ctc_result_frames,
    write_ctc_results,
    write_simulation,
)
from cellpipe.io.ground_truth import GroundTruthError, check_ground_truth_files, read_ground_truth
from cellpipe.simulate3d import SimulatedMovie3D, make_nuclei_movie_3d

# divisions in 10 stacks of 8 x 64 x 64 voxels
DIVIDING = {"division_probability": 0.2, "min_division_age_frames": 2, "maturation_frames": 3, "entry_rate": 0.2}


@pytest.fixture(scope="module")
def sim() -> SimulatedMovie3D:
    movie = make_nuclei_movie_3d(n_frames=10, shape_zyx=(8, 64, 64), seed=5, **DIVIDING)
    assert movie.n_divisions >= 1  # the lineage part of the tests needs one
    return movie


def test_movie_and_ground_truth_round_trip_with_z_first_in_each_file(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    write_simulation(sim, tmp_path / "01", tmp_path / "01_GT")
    # one (Z, Y, X) stack per file, z first
    assert tifffile.imread(tmp_path / "01" / "t003.tif").shape == (8, 64, 64)
    assert tifffile.imread(tmp_path / "01_GT" / "TRA" / "man_track003.tif").shape == (8, 64, 64)
    assert tifffile.imread(tmp_path / "01_GT" / "SEG" / "man_seg009.tif").shape == (8, 64, 64)
    np.testing.assert_array_equal(read_ctc_movie(tmp_path / "01", volumes=True), sim.image)
    tra = read_ctc_label_stack(tmp_path / "01_GT" / "TRA", "man_track*.tif", volumes=True)
    seg = read_ctc_label_stack(tmp_path / "01_GT" / "SEG", "man_seg*.tif", volumes=True)
    np.testing.assert_array_equal(tra, sim.labels)
    np.testing.assert_array_equal(seg, sim.labels)
    pd.testing.assert_frame_equal(read_ctc_tracks(tmp_path / "01_GT" / "TRA" / "man_track.txt"), sim.tracks)
    assert check_ctc_tracks(tra, sim.tracks) == []
    frames = TiffFrames(tmp_path / "01_GT" / "TRA", "man_track*.tif")
    assert frames.shape == (10, 8, 64, 64)
    np.testing.assert_array_equal(frames[4], sim.labels[4])


def test_2d_readers_refuse_stacks_and_3d_readers_refuse_planes(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    write_simulation(sim, tmp_path / "01", tmp_path / "01_GT")
    with pytest.raises(ValueError, match=r"2D frames \(Y, X\) \(a 3D stack: read it with volumes=True\)"):
        read_ctc_movie(tmp_path / "01")
    with pytest.raises(ValueError, match="2D frames"):
        read_ctc_label_stack(tmp_path / "01_GT" / "TRA")
    flat = tmp_path / "flat"
    flat.mkdir()
    tifffile.imwrite(flat / "t000.tif", np.zeros((16, 16), np.uint16))
    with pytest.raises(ValueError, match=r"expected a 3D stack \(Z, Y, X\)"):
        read_ctc_movie(flat, volumes=True)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32])
def test_result_round_trip_whole_and_frame_by_frame_with_pixel_size(tmp_path: Path, sim: SimulatedMovie3D, dtype: type) -> None:
    labels = sim.labels.astype(dtype)
    write_ctc_results(tmp_path / "whole", labels, sim.tracks, pixel_size_um=0.5)
    write_ctc_result_frames(tmp_path / "frames", iter(labels), len(labels), sim.tracks, dtype=np.dtype(dtype), pixel_size_um=0.5)
    for folder in ("whole", "frames"):
        back, tracks = read_ctc_results(tmp_path / folder, volumes=True)
        # the whole-stack writer stores uint16 whenever the labels fit; the frame writer the dtype asked for
        assert back.dtype == (dtype if folder == "frames" else np.uint16) and back.shape == (10, 8, 64, 64)
        np.testing.assert_array_equal(back, sim.labels)
        pd.testing.assert_frame_equal(tracks, sim.tracks)
        assert read_ctc_pixel_size(tmp_path / folder / "mask000.tif") == pytest.approx(0.5)


def test_ground_truth_frame_by_frame_writes_what_the_whole_stack_writer_does(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    write_ctc_ground_truth(tmp_path / "whole", sim.labels, sim.tracks, seg_frames=[2, 5])
    pairs = ((frame, frame if t in (2, 5) else None) for t, frame in enumerate(sim.labels))
    write_ctc_ground_truth_frames(tmp_path / "frames", pairs, len(sim.labels), sim.tracks)
    for name in ("TRA/man_track006.tif", "SEG/man_seg005.tif", "TRA/man_track.txt"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "frames" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "frames" / "SEG").iterdir()) == ["man_seg002.tif", "man_seg005.tif"]


def test_read_ground_truth_reads_a_3d_ctc_folder_and_a_4d_label_tiff(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    write_simulation(sim, tmp_path / "01", tmp_path / "01_GT")
    frame_shape = (8, 64, 64)
    check_ground_truth_files(tmp_path / "01_GT", 10, frame_shape)
    gt = read_ground_truth(tmp_path / "01_GT", 10, frame_shape)
    assert gt.format == "ctc" and gt.has_tracking
    assert gt.complete == list(range(10))
    assert gt.counts[0] == len(np.unique(sim.labels[0])) - 1
    np.testing.assert_array_equal(gt.masks[7], sim.labels[7])
    pd.testing.assert_frame_equal(gt.tracks, sim.tracks)

    tifffile.imwrite(tmp_path / "gt.tif", sim.labels)
    check_ground_truth_files(tmp_path / "gt.tif", 10, frame_shape)
    labels = read_ground_truth(tmp_path / "gt.tif", 10, frame_shape)
    assert labels.format == "labels" and sorted(labels.masks) == list(range(10))
    np.testing.assert_array_equal(labels.masks[3], sim.labels[3])


def test_read_ground_truth_names_a_3d_size_mismatch(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    write_simulation(sim, tmp_path / "01", tmp_path / "01_GT")
    with pytest.raises(GroundTruthError, match="mask is 8x64x64 voxels but the movie's frames are 9x64x64 voxels"):
        check_ground_truth_files(tmp_path / "01_GT", 10, (9, 64, 64))
    with pytest.raises(GroundTruthError, match=r"expected a \(Y, X\) mask of 64x64 px, got shape \(8, 64, 64\)"):
        read_ground_truth(tmp_path / "01_GT", 10, (64, 64))
    tifffile.imwrite(tmp_path / "gt.tif", sim.labels[:4])
    with pytest.raises(GroundTruthError, match=r"must be \(T, Z, Y, X\) with one stack per movie frame \(10\)"):
        read_ground_truth(tmp_path / "gt.tif", 10, (8, 64, 64))


def test_py_ctcmetrics_scores_3d_ground_truth_against_itself_as_perfect(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    from cellpipe.evaluate import ctc_scores

    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks, pixel_size_um=0.5)
    scores = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT")
    assert scores["valid"] == 1
    assert scores["SEG"] == pytest.approx(1.0)
    assert scores["DET"] == pytest.approx(1.0)
    assert scores["TRA"] == pytest.approx(1.0)
    assert scores["divisions"]["gt_divisions"] == sim.n_divisions and scores["divisions"]["f1"] == pytest.approx(1.0)

    # and it sees 3-D errors: one nucleus cut in half along z in one stack lowers SEG
    cut = sim.labels.copy()
    label = int(sim.tracks["label"].iloc[0])
    t = int(sim.tracks["first_frame"].iloc[0])
    zs = np.nonzero((cut[t] == label).any(axis=(1, 2)))[0]
    cut[t, zs[len(zs) // 2]:][cut[t, zs[len(zs) // 2]:] == label] = 0
    write_ctc_results(tmp_path / "cut_RES", cut, sim.tracks)
    assert ctc_scores(tmp_path / "cut_RES", tmp_path / "01_GT")["SEG"] < 1.0


def test_traccuracy_scores_3d_divisions_and_sees_one_undone(tmp_path: Path, sim: SimulatedMovie3D) -> None:
    """traccuracy's division detection (``evaluate.division_scores``, the ``divisions`` block of
    evaluation.json) reads 3-D CTC folders: every division of the ground truth found against itself,
    and one division missed when one daughter's link to its mother is cut."""
    from cellpipe.evaluate import division_scores

    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks, pixel_size_um=0.5)
    same = division_scores(tmp_path / "01_RES", tmp_path / "01_GT", frame_tolerance=0)
    assert same["gt_divisions"] == same["predicted_divisions"] == same["tp"] == sim.n_divisions
    assert same["fp"] == same["fn"] == 0 and same["f1"] == pytest.approx(1.0)

    cut = sim.tracks.copy()
    daughter = cut.index[cut["parent"] > 0][0]
    cut.loc[daughter, "parent"] = 0
    write_ctc_results(tmp_path / "cut_RES", sim.labels, cut, pixel_size_um=0.5)
    missed = division_scores(tmp_path / "cut_RES", tmp_path / "01_GT", frame_tolerance=0)
    assert missed["gt_divisions"] == sim.n_divisions and missed["predicted_divisions"] == sim.n_divisions - 1
    assert missed["tp"] == sim.n_divisions - 1 and missed["fn"] == 1 and missed["fp"] == 0
