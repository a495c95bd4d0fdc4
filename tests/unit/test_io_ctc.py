"""Tests of Cell Tracking Challenge folder IO: round trips, error messages, atomic writes, CTC tools."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from annotation_helpers import blobs

from cellpipe.io.annotations import read_annotations
from cellpipe.io.ctc import (
    as_labels,
    check_ctc_tracks,
    frame_name,
    ground_truth_files,
    marker_coverage,
    numbered_files,
    read_ctc_label_stack,
    read_ctc_labels,
    read_ctc_movie,
    read_ctc_results,
    read_ctc_tracks,
    read_ground_truth_frames,
    read_tiff,
    sparse_annotation,
    write_ctc_ground_truth,
    write_ctc_ground_truth_frames,
    write_ctc_movie,
    write_ctc_results,
    write_ctc_tracks,
    write_simulation,
)
from cellpipe.io.ground_truth import read_ground_truth
from cellpipe.simulate import SimulatedMovie

from conftest import SHARED, dividing_movie

SHARED_GOWT1 = SHARED / "data" / "ctc" / "Fluo-N2DH-GOWT1"  # ../shared beside the checkout (the repository root's parent)


@pytest.fixture(scope="module")
def sim() -> SimulatedMovie:
    return dividing_movie(n_frames=12)


def leftovers(parent: Path) -> list[str]:
    """Temporary siblings an atomic write could have left behind."""
    return [p.name for p in parent.iterdir() if ".tmp-" in p.name]


def test_frame_names_have_three_digits_or_four_beyond_1000_frames() -> None:
    assert frame_name("t", 7, 92) == "t007.tif"
    assert frame_name("man_track", 999, 1000) == "man_track999.tif"
    assert frame_name("t", 7, 1001) == "t0007.tif"
    assert frame_name("mask", 1000, 1001) == "mask1000.tif"


def test_movie_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 60000, size=(4, 9, 11), dtype=np.uint16)
    write_ctc_movie(tmp_path / "01", movie)
    assert sorted(p.name for p in (tmp_path / "01").iterdir()) == ["t000.tif", "t001.tif", "t002.tif", "t003.tif"]
    back = read_ctc_movie(tmp_path / "01")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, movie)
    assert leftovers(tmp_path) == []


def test_movie_round_trip_keeps_uint8_and_ignores_other_files(tmp_path: Path) -> None:
    movie = np.arange(3 * 5 * 6, dtype=np.uint8).reshape(3, 5, 6)
    write_ctc_movie(tmp_path / "02", movie)
    (tmp_path / "02" / "notes.txt").write_text("not a frame")
    tifffile.imwrite(tmp_path / "02" / "thumbnail.tif", np.zeros((2, 2), np.uint8))
    back = read_ctc_movie(tmp_path / "02")
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, movie)


def test_write_movie_refuses_non_empty_folder_but_fills_an_empty_one(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "t000.tif").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="full"):
        write_ctc_movie(full, np.zeros((1, 4, 4), np.uint16))
    assert (full / "t000.tif").read_bytes() == b"old"
    empty = tmp_path / "empty"
    empty.mkdir()
    write_ctc_movie(empty, np.ones((2, 4, 4), np.uint16))
    assert read_ctc_movie(empty).sum() == 32


class FailingMovie:
    """A (T, Y, X) array-like whose frame 2 cannot be read, like a disk failing mid-way."""

    shape = (4, 8, 8)

    def __getitem__(self, t: int) -> np.ndarray:
        if t == 2:
            raise OSError("read error in frame 2")
        return np.full((8, 8), t, dtype=np.uint16)


def test_interrupted_movie_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="frame 2"):
        write_ctc_movie(tmp_path / "01", FailingMovie())
    assert not (tmp_path / "01").exists()
    assert leftovers(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_movie_can_be_written_from_an_array_like_frame_by_frame(tmp_path: Path) -> None:
    import zarr

    store = zarr.create_array(store={}, shape=(3, 5, 6), chunks=(1, 5, 6), dtype="uint16")
    store[:] = np.arange(90, dtype=np.uint16).reshape(3, 5, 6)
    write_ctc_movie(tmp_path / "01", store)
    np.testing.assert_array_equal(read_ctc_movie(tmp_path / "01"), store[:])


def test_write_movie_rejects_wrong_dimensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(T, Y, X\)"):
        write_ctc_movie(tmp_path / "01", np.zeros((4, 4), np.uint16))
    assert not (tmp_path / "01").exists()


def test_read_movie_errors_name_the_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"{empty}.*no CTC frames"):
        read_ctc_movie(empty)

    gap = tmp_path / "gap"
    gap.mkdir()
    for t in (0, 1, 3):
        tifffile.imwrite(gap / f"t{t:03d}.tif", np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match=rf"{gap}.*without gaps.*\[2\]"):
        read_ctc_movie(gap)

    late = tmp_path / "late"
    late.mkdir()
    for t in (1, 2):
        tifffile.imwrite(late / f"t{t:03d}.tif", np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match=rf"{late}.*\[0\]"):
        read_ctc_movie(late)

    shapes = tmp_path / "shapes"
    shapes.mkdir()
    tifffile.imwrite(shapes / "t000.tif", np.zeros((4, 4), np.uint16))
    tifffile.imwrite(shapes / "t001.tif", np.zeros((4, 5), np.uint16))
    with pytest.raises(ValueError, match=rf"{shapes}.*different shapes.*t001.tif is \(4, 5\)"):
        read_ctc_movie(shapes)

    dtypes = tmp_path / "dtypes"
    dtypes.mkdir()
    tifffile.imwrite(dtypes / "t000.tif", np.zeros((4, 4), np.uint16))
    tifffile.imwrite(dtypes / "t001.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="different dtypes"):
        read_ctc_movie(dtypes)

    volume = tmp_path / "volume"
    volume.mkdir()
    tifffile.imwrite(volume / "t000.tif", np.zeros((3, 4, 4), np.uint16))
    with pytest.raises(ValueError, match="2D frames"):
        read_ctc_movie(volume)

    twice = tmp_path / "twice"
    twice.mkdir()
    tifffile.imwrite(twice / "t000.tif", np.zeros((4, 4), np.uint16))
    tifffile.imwrite(twice / "t0000.tif", np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="two files for frame 0"):
        read_ctc_movie(twice)

    with pytest.raises(ValueError, match="not a folder"):
        read_ctc_movie(tmp_path / "missing")


class Refused(ValueError):
    """The error a caller asks the shared readers to raise."""


def test_one_reader_of_numbered_files_and_labels(tmp_path: Path) -> None:
    """numbered_files, read_tiff and as_labels (io/ground_truth.py and io/annotations.py use them too)
    raise the caller's error class with the same message as before."""
    import re

    pattern = re.compile(r"(\d+)\D*\.tiff?$", re.IGNORECASE)
    found = numbered_files(tmp_path, ["mask005.tif", "notes.txt", "t012_labels.TIF"], pattern)
    assert found == {5: tmp_path / "mask005.tif", 12: tmp_path / "t012_labels.TIF"}
    with pytest.raises(Refused, match=r"notes\.txt: no frame number"):
        numbered_files(tmp_path, ["mask005.tif", "notes.txt"], pattern, Refused, "no frame number")
    with pytest.raises(Refused, match="two files for frame 5: mask005.tif and m5.tif"):
        numbered_files(tmp_path, ["mask005.tif", "m5.tif"], pattern, Refused)

    (tmp_path / "text.tif").write_text("not a tiff")
    with pytest.raises(Refused, match=r"text\.tif: not a readable TIFF"):
        read_tiff(tmp_path / "text.tif", Refused)

    assert as_labels(np.array([[0.0, 2.0]]), "x").dtype == np.uint32
    assert as_labels(np.array([[True, False]]), "x").tolist() == [[1, 0]]
    for array, message in [
        (np.array([0.5]), "x: labels must be whole numbers, got float64 with fractions"),
        (np.array([-1]), "x: labels must not be negative"),
        (np.array([1 + 0j]), "x: labels must be integers, got complex128"),
    ]:
        with pytest.raises(Refused, match=re.escape(message)):
            as_labels(array, "x", Refused)


def test_marker_coverage_counts_tracked_cells_with_a_mask() -> None:
    _, labels = blobs()
    assert marker_coverage(labels, labels) == (1.0, 3)
    assert marker_coverage(np.where(labels == 1, 1, 0), labels) == pytest.approx((1 / 3, 3))
    assert marker_coverage(labels, np.zeros_like(labels)) == (1.0, 0)
    # 29 of 100 markers covered: 0.29 * 100 is 28.999... in floating point, and the message says 29
    markers = np.arange(1, 101, dtype=np.uint16).reshape(10, 10)
    coverage, n = marker_coverage(np.where(markers <= 29, 1, 0), markers)
    assert sparse_annotation(coverage, n) == "sparse annotation: 29 of 100 tracked cells have a mask"


def test_one_reader_of_ground_truth_folders_judges_completeness_for_training_and_evaluation(
    tmp_path: Path, sim: SimulatedMovie
) -> None:
    write_simulation(sim, tmp_path / "01", tmp_path / "01_GT")
    seg4 = tmp_path / "01_GT" / "SEG" / "man_seg004.tif"
    full = np.asarray(tifffile.imread(seg4))
    keep = np.unique(full)[1]
    tifffile.imwrite(seg4, np.where(full == keep, full, 0))  # one cell of frame 4 annotated
    files = ground_truth_files(tmp_path / "01_GT")
    assert sorted(files.seg) == sorted(files.markers) == list(range(12))
    frames = list(read_ground_truth_frames(files, [3, 4], 12, sim.labels.shape[1:]))
    n4 = len(np.unique(sim.labels[4])) - 1
    assert [(f.frame, f.n_markers, f.coverage) for f in frames] == [
        (3, len(np.unique(sim.labels[3])) - 1, 1.0),
        (4, n4, pytest.approx(1 / n4)),
    ]
    assert frames[0].complete(0.95) and not frames[1].complete(0.95)
    assert frames[1].complete(1 / n4) and not frames[1].complete(1.5 / n4)  # at the threshold: complete
    assert sparse_annotation(frames[1].coverage, n4) == f"sparse annotation: 1 of {n4} tracked cells have a mask"
    # the training annotations and the evaluation's ground truth read the folder alike
    truth = read_ground_truth(tmp_path / "01_GT", 12, sim.labels.shape[1:])
    found = read_annotations(tmp_path / "01", tmp_path / "01_GT")
    assert truth.complete == [f.frame for f in found.images] == [t for t in range(12) if t != 4]
    assert list(truth.skipped) == list(found.skipped) == [4]
    with pytest.raises(ValueError, match=r"man_track004\.tif: mask is 96x96 px but the movie's frames are 90x96 px"):
        list(read_ground_truth_frames(files, [4], 12, (90, 96)))


def test_ground_truth_round_trip(tmp_path: Path, sim: SimulatedMovie) -> None:
    gt = tmp_path / "01_GT"
    write_ctc_ground_truth(gt, sim.labels, sim.tracks, seg_frames=[2, 5])
    n = sim.labels.shape[0]
    assert sorted(p.name for p in (gt / "TRA").glob("*.tif")) == [f"man_track{t:03d}.tif" for t in range(n)]
    assert sorted(p.name for p in (gt / "SEG").iterdir()) == ["man_seg002.tif", "man_seg005.tif"]
    tra = read_ctc_label_stack(gt / "TRA", "man_track*.tif")
    assert tra.dtype == np.uint16
    np.testing.assert_array_equal(tra, sim.labels)
    pd.testing.assert_frame_equal(read_ctc_tracks(gt / "TRA" / "man_track.txt"), sim.tracks)
    seg = read_ctc_labels(gt / "SEG", "man_seg*.tif")
    assert sorted(seg) == [2, 5]
    np.testing.assert_array_equal(seg[5], sim.labels[5])
    # The text file is the plain CTC format: four space-separated integers per line.
    first = (gt / "TRA" / "man_track.txt").read_text().splitlines()[0]
    row = sim.tracks.iloc[0]
    assert first == f"{row.label} {row.first_frame} {row.last_frame} {row.parent}"
    assert leftovers(tmp_path) == []


def test_ground_truth_defaults_to_every_seg_frame_and_refuses_overwrite(tmp_path: Path, sim: SimulatedMovie) -> None:
    gt = tmp_path / "01_GT"
    write_ctc_ground_truth(gt, sim.labels, sim.tracks)
    assert len(list((gt / "SEG").glob("man_seg*.tif"))) == sim.labels.shape[0]
    with pytest.raises(FileExistsError):
        write_ctc_ground_truth(gt, sim.labels, sim.tracks)


def test_inconsistent_ground_truth_is_refused_and_nothing_written(tmp_path: Path, sim: SimulatedMovie) -> None:
    tracks = sim.tracks.copy()
    tracks.loc[0, "last_frame"] -= 1  # label 1 is still in the mask in that frame
    problems = check_ctc_tracks(sim.labels, tracks)
    assert any("in the mask but not alive" in p for p in problems)
    with pytest.raises(ValueError, match="not consistent"):
        write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, tracks)
    assert not (tmp_path / "01_GT").exists()
    with pytest.raises(ValueError, match="seg_frames"):
        write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks, seg_frames=[99])
    assert list(tmp_path.iterdir()) == []


def test_check_ctc_tracks_finds_each_kind_of_problem() -> None:
    labels = np.zeros((3, 6, 6), np.uint16)
    labels[:, :2, :2] = 1
    labels[2, 4:, 4:] = 2
    good = pd.DataFrame({"label": [1, 2], "first_frame": [0, 2], "last_frame": [2, 2], "parent": [0, 0]})
    assert check_ctc_tracks(labels, good) == []
    gap = labels.copy()
    gap[1] = 0  # label 1 vanishes in frame 1
    assert any("frame 1" in p and "absent" in p for p in check_ctc_tracks(gap, good))
    bad_parent = good.assign(parent=[0, 1])  # parent 1 ends at 2, daughter starts at 2
    assert any("parent 1 ends at 2" in p for p in check_ctc_tracks(labels, bad_parent))
    missing_parent = good.assign(parent=[0, 7])
    assert any("parent 7 is not a track" in p for p in check_ctc_tracks(labels, missing_parent))
    duplicate = pd.DataFrame({"label": [1, 1], "first_frame": [0, 0], "last_frame": [2, 2], "parent": [0, 0]})
    assert any("duplicate" in p for p in check_ctc_tracks(labels, duplicate))
    too_long = good.assign(last_frame=[5, 2])
    assert any("outside 0..2" in p for p in check_ctc_tracks(labels, too_long))
    one_past = good.assign(last_frame=[3, 2])
    assert any("outside 0..2" in p for p in check_ctc_tracks(labels, one_past))


def test_tracks_file_round_trip_and_errors(tmp_path: Path) -> None:
    tracks = pd.DataFrame({"label": [1, 2, 3], "first_frame": [0, 5, 5], "last_frame": [4, 9, 7], "parent": [0, 1, 1]})
    write_ctc_tracks(tmp_path / "man_track.txt", tracks)
    assert (tmp_path / "man_track.txt").read_text() == "1 0 4 0\n2 5 9 1\n3 5 7 1\n"
    pd.testing.assert_frame_equal(read_ctc_tracks(tmp_path / "man_track.txt"), tracks)

    (tmp_path / "empty.txt").write_text("")
    empty = read_ctc_tracks(tmp_path / "empty.txt")
    assert list(empty.columns) == ["label", "first_frame", "last_frame", "parent"] and len(empty) == 0

    (tmp_path / "bad.txt").write_text("1 0 4 0\n2 5 x 1\n")
    with pytest.raises(ValueError, match=r"bad.txt:2"):
        read_ctc_tracks(tmp_path / "bad.txt")
    (tmp_path / "short.txt").write_text("1 0 4\n")
    with pytest.raises(ValueError, match=r"short.txt:1"):
        read_ctc_tracks(tmp_path / "short.txt")
    (tmp_path / "long.txt").write_text("1 0 4 0\n2 5 9 1 7\n")
    with pytest.raises(ValueError, match=r"long.txt:2"):
        read_ctc_tracks(tmp_path / "long.txt")
    with pytest.raises(ValueError, match="lacks column"):
        write_ctc_tracks(tmp_path / "x.txt", tracks.drop(columns="parent"))


def test_write_simulation_writes_movie_and_truth(tmp_path: Path, sim: SimulatedMovie) -> None:
    write_simulation(sim, tmp_path / "01", tmp_path / "01_GT")
    np.testing.assert_array_equal(read_ctc_movie(tmp_path / "01"), sim.image)
    np.testing.assert_array_equal(read_ctc_label_stack(tmp_path / "01_GT" / "TRA"), sim.labels)
    # Refused before anything is written when either folder is taken.
    (tmp_path / "02_GT").mkdir()
    (tmp_path / "02_GT" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_simulation(sim, tmp_path / "02", tmp_path / "02_GT")
    assert not (tmp_path / "02").exists()


def test_movies_reader_reads_ctc_folder(tmp_path: Path, sim: SimulatedMovie) -> None:
    from cellpipe.io.movies import read_movie

    write_ctc_movie(tmp_path / "01", sim.image)
    raw = read_movie(tmp_path / "01")
    assert raw.data.shape == (sim.image.shape[0], 1, *sim.image.shape[1:])
    np.testing.assert_array_equal(raw.data[:, 0], sim.image)


def test_traccuracy_loads_ground_truth_and_results(tmp_path: Path, sim: SimulatedMovie, caplog: pytest.LogCaptureFixture) -> None:
    traccuracy = pytest.importorskip("traccuracy")
    from traccuracy.loaders import load_ctc_data

    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks)
    with caplog.at_level(logging.WARNING):
        gt = load_ctc_data(str(tmp_path / "01_GT" / "TRA"), name="gt")
        res = load_ctc_data(str(tmp_path / "01_RES"), name="res")
    assert not [r for r in caplog.records if "non-connected" in r.getMessage()]
    n_detections = sum(len(np.unique(frame)) - 1 for frame in sim.labels)
    assert gt.graph.number_of_nodes() == n_detections == res.graph.number_of_nodes()
    # One node with two successors per division.
    splits = [n for n in gt.graph.nodes if gt.graph.out_degree(n) == 2]
    assert len(splits) == sim.n_divisions
    # Perfect result against its own ground truth.
    from traccuracy import run_metrics
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CTCMetrics

    results, _ = run_metrics(gt_data=gt, pred_data=res, matcher=CTCMatcher(), metrics=[CTCMetrics()])
    values = results[0]["results"]
    assert values["TRA"] == pytest.approx(1.0) and values["DET"] == pytest.approx(1.0)
    assert traccuracy.__version__ == "0.4.3"  # the release pyproject pins, whose CTC metrics these values are


@pytest.mark.skipif(not SHARED_GOWT1.exists(), reason=f"{SHARED_GOWT1} not found: the real CTC data is in ../shared beside the checkout")
def test_real_ctc_ground_truth_passes_the_consistency_check() -> None:
    movie = read_ctc_movie(SHARED_GOWT1 / "01")
    assert movie.shape == (92, 1024, 1024) and movie.dtype == np.uint8
    tracks = read_ctc_tracks(SHARED_GOWT1 / "01_GT" / "TRA" / "man_track.txt")
    assert len(tracks) == 27
    labels = read_ctc_label_stack(SHARED_GOWT1 / "01_GT" / "TRA", "man_track*.tif")
    assert check_ctc_tracks(labels, tracks) == []
    seg = read_ctc_labels(SHARED_GOWT1 / "01_GT" / "SEG", "man_seg*.tif")
    assert len(seg) == 30 and {21, 31, 33, 39} <= set(seg)


# ------------------------------------------------------------------------------------------
# calibration of result masks (#24)
# ------------------------------------------------------------------------------------------


def _pixel_size_from_tags(path: Path) -> tuple[float, str]:
    """Pixel size and unit as a reader that knows only tifffile and the TIFF/ImageJ conventions finds them:
    XResolution is pixels per unit; the unit is ImageJ's ``unit=`` or the TIFF ResolutionUnit."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        num, den = page.tags["XResolution"].value
        ynum, yden = page.tags["YResolution"].value
        assert num / den == pytest.approx(ynum / yden)
        per_unit = den / num
        if tif.is_imagej:
            return per_unit, tif.imagej_metadata["unit"]
        unit = int(page.tags["ResolutionUnit"].value)
        assert unit == 3  # centimeter
        return per_unit * 1e4, "um"


def test_result_masks_carry_the_pixel_size_in_micrometres(tmp_path: Path, sim: SimulatedMovie) -> None:
    from cellpipe.io.ctc import read_ctc_pixel_size

    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks, pixel_size_um=0.65)
    mask = tmp_path / "01_RES" / "mask000.tif"
    size, unit = _pixel_size_from_tags(mask)
    assert size == pytest.approx(0.65, rel=1e-6) and unit in ("um", "micron", "\u00b5m")
    assert read_ctc_pixel_size(mask) == pytest.approx(0.65, rel=1e-6)
    # the pixels are unchanged and the folder still reads as CTC data
    labels, tracks = read_ctc_results(tmp_path / "01_RES")
    np.testing.assert_array_equal(labels, sim.labels)
    assert labels.dtype == np.uint16 and check_ctc_tracks(labels, tracks) == []
    # without a pixel size: no calibration, as before
    write_ctc_results(tmp_path / "plain", sim.labels, sim.tracks)
    assert read_ctc_pixel_size(tmp_path / "plain" / "mask000.tif") is None


def test_the_pixel_size_is_read_per_inch_or_per_centimetre(tmp_path: Path) -> None:
    from cellpipe.io.ctc import read_ctc_pixel_size

    frame = np.zeros((8, 8), np.uint16)
    tifffile.imwrite(tmp_path / "inch.tif", frame, resolution=(25_400 / 0.5, 25_400 / 0.5), resolutionunit="INCH")
    tifffile.imwrite(tmp_path / "cm.tif", frame, resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "none.tif", frame, resolution=(2.0, 2.0), resolutionunit="NONE")
    assert read_ctc_pixel_size(tmp_path / "inch.tif") == pytest.approx(0.5, rel=1e-6)
    assert read_ctc_pixel_size(tmp_path / "cm.tif") == pytest.approx(0.5, rel=1e-6)
    assert read_ctc_pixel_size(tmp_path / "none.tif") is None


def test_uint32_result_masks_carry_the_pixel_size_too(tmp_path: Path, sim: SimulatedMovie) -> None:
    """ImageJ's TIFF flavour has no 32-bit integers: uint32 masks get the plain TIFF resolution (per cm)."""
    from cellpipe.io.ctc import read_ctc_pixel_size, write_ctc_result_frames

    labels = sim.labels.astype(np.uint32)
    labels[labels > 0] += 70_000
    tracks = sim.tracks.assign(label=sim.tracks["label"] + 70_000,
                               parent=np.where(sim.tracks["parent"] > 0, sim.tracks["parent"] + 70_000, 0))
    write_ctc_result_frames(tmp_path / "01_RES", iter(labels), len(labels), tracks, pixel_size_um=0.325)
    mask = tmp_path / "01_RES" / "mask003.tif"
    assert tifffile.imread(mask).dtype == np.uint32
    size, unit = _pixel_size_from_tags(mask)
    assert size == pytest.approx(0.325, rel=1e-6) and unit == "um"
    assert read_ctc_pixel_size(mask) == pytest.approx(0.325, rel=1e-6)


def test_a_label_of_65535_still_makes_uint16_masks(tmp_path: Path) -> None:
    labels = np.zeros((2, 4, 4), np.uint32)
    labels[:, :2, :2] = 65_535
    tracks = pd.DataFrame({"label": [65_535], "first_frame": [0], "last_frame": [1], "parent": [0]})
    write_ctc_results(tmp_path / "01_RES", labels, tracks)
    mask = tifffile.imread(tmp_path / "01_RES" / "mask001.tif")
    assert mask.dtype == np.uint16 and mask.max() == 65_535


def test_calibrated_masks_still_score_with_py_ctcmetrics_and_load_in_traccuracy(
    tmp_path: Path, sim: SimulatedMovie
) -> None:
    from traccuracy.loaders import load_ctc_data

    from cellpipe.evaluate import ctc_scores

    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    write_ctc_results(tmp_path / "01_RES", sim.labels, sim.tracks, pixel_size_um=0.65)
    scores = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT")
    assert scores["valid"] and scores["DET"] == 1.0 and scores["TRA"] == 1.0 and scores["SEG"] == 1.0
    graph = load_ctc_data(str(tmp_path / "01_RES"), str(tmp_path / "01_RES" / "res_track.txt")).graph
    assert graph.number_of_nodes() == sum(len(np.unique(f)) - 1 for f in sim.labels)


def test_ground_truth_frame_by_frame_writes_what_the_whole_stack_writer_does(tmp_path: Path, sim: SimulatedMovie) -> None:
    n = sim.labels.shape[0]
    write_ctc_ground_truth(tmp_path / "whole", sim.labels, sim.tracks, seg_frames=[2, 5])
    frames = ((sim.labels[t], sim.labels[t] if t in (2, 5) else None) for t in range(n))
    write_ctc_ground_truth_frames(tmp_path / "frames", frames, n, sim.tracks)
    whole = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path / "frames") for p in (tmp_path / "frames").rglob("*") if p.is_file()) == whole
    for name in whole:
        assert (tmp_path / "frames" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_ground_truth_frame_by_frame_refuses_inconsistent_frames_and_leaves_nothing(tmp_path: Path, sim: SimulatedMovie) -> None:
    n = sim.labels.shape[0]
    tracks = sim.tracks.copy()
    tracks.loc[0, "last_frame"] -= 1  # label 1 is still in the markers in that frame
    with pytest.raises(ValueError, match="in the mask but not alive"):
        write_ctc_ground_truth_frames(tmp_path / "01_GT", ((f, None) for f in sim.labels), n, tracks)
    with pytest.raises(ValueError, match=f"{n} frames written, {n + 1} announced"):
        write_ctc_ground_truth_frames(tmp_path / "01_GT", ((f, None) for f in sim.labels), n + 1, sim.tracks)
    with pytest.raises(ValueError, match="SEG mask"):
        write_ctc_ground_truth_frames(tmp_path / "01_GT", ((f, f[:-1]) for f in sim.labels), n, sim.tracks)
    with pytest.raises(ValueError, match="inconsistent CTC track table"):
        write_ctc_ground_truth_frames(tmp_path / "01_GT", ((f, None) for f in sim.labels), n - 5, sim.tracks)
    assert list(tmp_path.iterdir()) == []
