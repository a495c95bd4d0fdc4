"""Object quality filters (cellpipe.filters), the diameter estimate and per-sample diameters (issue #22)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cellpipe.config import ObjectFilterSettings, SegmentSettings, load_config
from cellpipe.filters import FILTER_REASONS, filter_objects, object_contrast, touching_border
from cellpipe.preflight import check_samples
from cellpipe.segment import estimate_diameter, segment_cells

# threshold + distance watershed without transform: on binary disks it finds the disks exactly
EXACT = {"intensity_transform": "none", "background": "none", "threshold": "otsu", "smoothing_sigma_um": None,
         "seeds": "distance", "seed_distance_diameters": 0.5}
NO_FILTERS = {"min_area_fraction": None, "max_area_fraction": None, "min_contrast": None, "border": "keep"}


def _disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.indices(shape)
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def _frame() -> tuple[np.ndarray, np.ndarray]:
    """Labels and intensities: 1 a cell (r 10, bright), 2 a fragment (r 2) beside it, 3 a small cell cut
    by the left border, 4 a dim cell (r 10, 0.05 above the background), 5 a giant (r 25)."""
    shape = (120, 160)
    labels = np.zeros(shape, np.uint32)
    image = np.full(shape, 0.1, np.float32)
    objects = [((30, 40), 10, 0.9), ((30, 54), 2, 0.6), ((60, 1), 3, 0.8), ((90, 40), 10, 0.15), ((70, 120), 25, 0.7)]
    for k, (centre, radius, value) in enumerate(objects, start=1):
        disk = _disk(shape, centre, radius) & (labels == 0)
        labels[disk] = k
        image[disk] = value
    return labels, image


def test_each_filter_removes_what_it_should_and_nothing_else() -> None:
    labels, image = _frame()
    areas = np.bincount(labels.ravel())
    diameter = 20.0  # disc area 314 px: the fragment and the border cell are both below 0.1 of it
    assert areas[2] < 0.1 * math.pi * 100 and areas[3] < 0.1 * math.pi * 100

    kept, counts = filter_objects(labels, image, ObjectFilterSettings(**NO_FILTERS), diameter)
    np.testing.assert_array_equal(kept, labels)
    assert counts == dict.fromkeys(FILTER_REASONS, 0)

    kept, counts = filter_objects(labels, image, ObjectFilterSettings(**{**NO_FILTERS, "min_area_fraction": 0.1}), diameter)
    assert counts == {"too_small": 1, "too_large": 0, "low_contrast": 0, "touches_border": 0}
    assert not kept[labels == 2].any() and (kept[labels == 3] > 0).all()  # the border cell stays
    assert int(kept.max()) == 4 and sorted(np.unique(kept).tolist()) == [0, 1, 2, 3, 4]  # renumbered 1..n
    np.testing.assert_array_equal(kept > 0, (labels > 0) & (labels != 2))  # every other object's pixels kept

    kept, counts = filter_objects(labels, image, ObjectFilterSettings(**{**NO_FILTERS, "max_area_fraction": 3.0}), diameter)
    assert counts["too_large"] == 1 and not kept[labels == 5].any() and int(kept.max()) == 4
    np.testing.assert_array_equal(kept > 0, (labels > 0) & (labels != 5))

    kept, counts = filter_objects(labels, image, ObjectFilterSettings(**{**NO_FILTERS, "min_contrast": 0.1}), diameter)
    assert counts["low_contrast"] == 1 and not kept[labels == 4].any()
    np.testing.assert_array_equal(kept > 0, (labels > 0) & (labels != 4))

    kept, counts = filter_objects(labels, image, ObjectFilterSettings(**{**NO_FILTERS, "border": "remove"}), diameter)
    assert counts["touches_border"] == 1 and not kept[labels == 3].any() and int(kept.max()) == 4
    np.testing.assert_array_equal(kept > 0, (labels > 0) & (labels != 3))


def test_an_object_is_counted_under_the_first_check_it_fails() -> None:
    labels, image = _frame()
    image[labels == 2] = 0.12  # the fragment is now also of low contrast
    every = ObjectFilterSettings(min_area_fraction=0.1, max_area_fraction=3.0, min_contrast=0.1, border="remove")
    kept, counts = filter_objects(labels, image, every, 20.0)
    assert counts == {"too_small": 1, "too_large": 1, "low_contrast": 1, "touches_border": 1}
    assert sorted(np.unique(kept).tolist()) == [0, 1]
    np.testing.assert_array_equal(kept > 0, labels == 1)


def test_area_checks_need_a_diameter() -> None:
    labels, image = _frame()
    kept, counts = filter_objects(labels, image, ObjectFilterSettings(min_area_fraction=0.5, max_area_fraction=1.0), None)
    np.testing.assert_array_equal(kept, labels)
    assert sum(counts.values()) == 0


def test_contrast_is_the_mean_inside_minus_the_ring_around() -> None:
    labels, image = _frame()
    image[(labels == 0) & (np.indices(labels.shape)[1] > 80)] = 0.3  # brighter background on the right
    contrast = object_contrast(labels, image, ring_px=3.0)
    assert contrast[0] == 0.0
    assert contrast[1] == pytest.approx(0.9 - 0.1, abs=1e-5)  # its ring: background pixels nearest to it only
    assert contrast[4] == pytest.approx(0.05, abs=1e-5)
    assert contrast[5] == pytest.approx(0.7 - 0.3, abs=1e-5)


def test_an_object_without_background_around_it_is_compared_with_the_frames_background() -> None:
    """Object 1 (0.8) lies wholly inside object 2's ring (0.5), so no background pixel is nearest to it: its
    contrast is against the mean of all the frame's background (0.1 on the left half, 0.3 on the right)."""
    labels = np.zeros((40, 40), np.int32)
    labels[10:30, 10:30] = 2
    labels[15:25, 15:25] = 1
    image = np.where(np.indices(labels.shape)[1] < 20, 0.1, 0.3).astype(np.float32)
    image[labels == 2], image[labels == 1] = 0.5, 0.8
    contrast = object_contrast(labels, image, ring_px=3.0)
    background_mean = float(image[labels == 0].mean())
    assert contrast[1] == pytest.approx(0.8 - background_mean, abs=1e-5)
    assert contrast[2] == pytest.approx(0.5 - 0.2, abs=1e-5)  # its ring: half on each side


def test_touching_border() -> None:
    labels, _ = _frame()
    assert touching_border(labels).tolist() == [False, False, False, True, False, False]


def _nuclei(n_frames: int, radius: float) -> np.ndarray:
    frames = np.zeros((n_frames, 160, 160), np.float32)
    for t in range(n_frames):
        for cy in (40, 110):
            for cx in (40, 110):
                frames[t][_disk((160, 160), (cy + t, cx), radius)] = 1.0
    return frames


def test_the_diameter_estimate_finds_the_size_of_the_cells() -> None:
    frames = _nuclei(5, radius=12.0)
    settings = SegmentSettings.model_validate({"method": "classical", "diameter_px": 10.0, "estimate_diameter": True,
                                               "classical": EXACT})
    estimate = estimate_diameter(frames, settings, 1.0)
    true = 2.0 * math.sqrt(np.count_nonzero(_disk((160, 160), (40, 40), 12.0)) / math.pi)
    assert estimate["frames"] == [0, 2, 4]
    assert estimate["passes"][0]["diameter_px"] == 10.0 and estimate["passes"][0]["n_objects"] == 12
    assert abs(estimate["diameter_px"] - true) < 0.1 * true
    labels, info = segment_cells(frames, settings, 1.0)
    assert info["diameter_source"] == "estimate" and info["diameter_px"] == estimate["diameter_px"]
    assert info["diameter_estimate"] == estimate and [int(f.max()) for f in labels] == [4] * 5
    # the second pass segments at what the first found, and stops there (within 10 %)
    assert len(estimate["passes"]) == 2
    assert estimate["passes"][1]["diameter_px"] == pytest.approx(estimate["passes"][0]["found_px"])
    assert estimate["diameter_px"] == estimate["passes"][1]["found_px"]


def test_the_diameter_estimate_is_the_median_of_whole_cells() -> None:
    """Three cells of radius 10 px, two of 20 px and six pieces cut by the border: the estimate is the diameter
    of the small ones (the median of the whole cells), not their mean, and the cut pieces, more than half of all
    objects, do not pull it down."""
    frame = np.zeros((200, 200), np.float32)
    for cy, cx, r in ((40, 40, 10), (40, 100, 10), (100, 40, 10), (110, 120, 20), (160, 60, 20)):
        frame[_disk((200, 200), (cy, cx), r)] = 1.0
    for cy, cx in ((0, 160), (199, 160), (80, 0), (80, 199), (0, 100), (199, 100)):
        frame[_disk((200, 200), (cy, cx), 6)] = 1.0  # half of a cell of radius 6 px
    settings = SegmentSettings.model_validate({"method": "classical", "diameter_px": 20.0, "estimate_diameter": True,
                                               "estimate_frames": 1, "classical": EXACT})
    estimate = estimate_diameter(frame[None], settings, 1.0)
    small = 2.0 * math.sqrt(np.count_nonzero(_disk((200, 200), (40, 40), 10)) / math.pi)
    assert estimate["passes"][0]["n_objects"] == 5
    assert estimate["diameter_px"] == pytest.approx(small, rel=0.05)


def test_segmentation_records_what_the_filters_removed_per_frame() -> None:
    frames = _nuclei(3, radius=12.0)
    frames[1][_disk((160, 160), (75, 75), 3.0)] = 1.0  # a speck (29 px) in frame 1
    settings = SegmentSettings.model_validate(
        {"method": "classical", "diameter_px": 24.0, "classical": EXACT}
    )
    labels, info = segment_cells(frames, settings, 1.0)
    rows = info["object_filters"]["per_frame"]
    assert [(r["frame"], r["objects"], r["too_small"]) for r in rows] == [(0, 4, 0), (1, 5, 1), (2, 4, 0)]
    assert info["object_filters"]["removed"]["too_small"] == 1 and info["object_filters"]["diameter_px"] == 24.0
    assert [int(f.max()) for f in labels] == [4, 4, 4]
    off = settings.model_copy(update={"filters": ObjectFilterSettings(min_area_fraction=None)})
    assert [int(f.max()) for f in segment_cells(frames, off, 1.0)[0]] == [4, 5, 4]


def test_bad_sample_sheet_diameters_are_refused(tmp_path: Path) -> None:
    from cellpipe.config import ConfigError

    for value in ("0", "-3", "inf", "big"):
        sheet = tmp_path / "samples.tsv"
        sheet.write_text(f"sample\tmovie\tdiameter_um\na\tm.tif\t{value}\n")
        with pytest.raises(ConfigError, match="diameter_um"):
            check_samples(sheet, load_config({}), check_files=False)
