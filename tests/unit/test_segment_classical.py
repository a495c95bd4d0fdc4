"""Tests of the classical segmentation's options (cellpipe.segment, ClassicalSettings) on tiny synthetic frames:
intensity transforms, smoothing and areas in µm, background subtraction, intensity seeds, area bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from skimage.draw import disk

from cellpipe.config import ClassicalSettings, SegmentSettings
from cellpipe.segment import classical_pixels, segment_cells, segment_frames_classical
from cellpipe.segment.classical import _transform_intensity

REPO = Path(__file__).resolve().parents[2]

#: Settings for round, evenly bright nuclei, fixed here so that the tests of one mechanism do not depend on
#: ClassicalSettings' defaults (a recipe for real whole-cell movies): no intensity transform, smoothing of
#: 1 px, no background subtraction, Otsu, distance seeds half a diameter apart.  Also used by test_segment.py.
BASELINE: dict[str, object] = {
    "intensity_transform": "none",
    "smoothing_sigma_um": None,
    "smoothing_sigma_px": 1.0,
    "background": "none",
    "threshold": "otsu",
    "seeds": "distance",
    "seed_distance_diameters": 0.5,
    "seed_smoothing_diameters": 0.0,
}


def _disk(shape: tuple[int, int], center: tuple[int, int], radius: float) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[disk(center, radius, shape=shape)] = True
    return mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _object_at(labels: np.ndarray, point: tuple[int, int]) -> np.ndarray:
    assert labels[point] > 0, f"no object at {point}"
    return labels == labels[point]


def test_log_and_gamma_transforms_on_the_normalized_scale() -> None:
    image = np.array([-0.5, 0.0, 0.01, 0.02, 0.5, 1.0, 2.0], dtype=np.float32)
    log = _transform_intensity(image, ClassicalSettings(intensity_transform="log", log_floor=0.02))
    np.testing.assert_allclose(log, np.log([0.02, 0.02, 0.02, 0.02, 0.5, 1.0, 2.0]), rtol=1e-6)
    gamma = _transform_intensity(image, ClassicalSettings(intensity_transform="gamma", gamma=0.5))
    np.testing.assert_allclose(gamma, np.sqrt([0.0, 0.0, 0.01, 0.02, 0.5, 1.0, 2.0]), rtol=1e-6)
    squared = _transform_intensity(image, ClassicalSettings(intensity_transform="gamma", gamma=2.0))
    np.testing.assert_allclose(squared, np.square([0.0, 0.0, 0.01, 0.02, 0.5, 1.0, 2.0]), rtol=1e-6)
    assert _transform_intensity(image, ClassicalSettings(**BASELINE)) is image  # 'none'
    assert log.dtype == gamma.dtype == np.float32


def test_log_transform_finds_a_dim_cell_beside_a_bright_one() -> None:
    """Otsu on linear intensities separates the bright cell from everything else; after the log the dim
    cell (10x background) is foreground too."""
    shape = (64, 128)
    bright, dim = _disk(shape, (32, 32), 12), _disk(shape, (32, 96), 12)
    rng = np.random.default_rng(0)
    image = (0.01 + 1.0 * bright + 0.1 * dim) * rng.lognormal(0.0, 0.1, shape)
    image = image.astype(np.float32)
    plain = segment_frames_classical(image[None], ClassicalSettings(**BASELINE), 1.0, 24.0)[0]
    assert plain.max() == 1 and plain[32, 96] == 0
    log = ClassicalSettings(**{**BASELINE, "intensity_transform": "log", "log_floor": 0.001})
    labels = segment_frames_classical(image[None], log, 1.0, 24.0)[0]
    assert labels.max() == 2
    assert _iou(_object_at(labels, (32, 96)), dim) > 0.8
    assert _iou(_object_at(labels, (32, 32)), bright) > 0.8


@pytest.mark.parametrize(("background", "background_um"), [("tophat", 12.5), ("gaussian", 7.5)])
def test_background_subtraction_finds_a_dim_cell_on_a_bright_gradient(background: str, background_um: float) -> None:
    """Illumination rising from 0 to 1 across the frame (a half cosine, flat at the edges) and a cell 0.3 above
    it on the dim side: without background subtraction the threshold cuts the gradient (the bright half of the
    frame is one object, the cell is missed); with it the cell is the only object.  (A Gaussian sigma about as
    large as the radius of curvature of the gradient leaves its bright, curved side as objects too.)"""
    shape = (96, 160)
    cell = _disk(shape, (48, 40), 10)
    gradient = 0.5 - 0.5 * np.cos(np.pi * np.arange(shape[1]) / (shape[1] - 1))
    rng = np.random.default_rng(1)
    image = (gradient[None, :] + 0.3 * cell + rng.normal(0.0, 0.02, shape)).astype(np.float32)
    pixel_size_um = 0.5
    plain = segment_frames_classical(image[None], ClassicalSettings(**BASELINE), pixel_size_um, 20.0)[0]
    assert plain[48, 40] == 0 and (plain[:, -20:] > 0).all()
    # top-hat disk radius 25 px, Gaussian sigma 15 px: both more than the cell's radius (10 px)
    settings = ClassicalSettings(**{**BASELINE, "background": background, "background_um": background_um})
    labels = segment_frames_classical(image[None], settings, pixel_size_um, 20.0)[0]
    assert labels.max() == 1
    assert _iou(labels > 0, cell) > 0.8


def _two_irregular_cells() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two thin, wavy cells (10 px wide) end to end whose dim flat edges spread where they touch (a disk of
    radius 14 px at x = 64): each is brightest in its body (x = 32 and x = 96); the widest place, where the
    distance to the background peaks, is their common border."""
    shape = (48, 128)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    rod = (np.abs(yy - 24 - np.sin(xx / 4.0)) <= 5) & (xx >= 10) & (xx < 118)
    fan = (yy - 24) ** 2 + (xx - 64) ** 2 <= 14**2
    cells = rod | fan
    body = np.exp(-(((xx - 32) / 14.0) ** 2)) + np.exp(-(((xx - 96) / 14.0) ** 2))
    rng = np.random.default_rng(2)
    image = (cells * (0.3 + 0.7 * body) + rng.normal(0.0, 0.02, shape)).astype(np.float32)
    return image, cells & (xx < 64), cells & (xx >= 64)


@pytest.mark.parametrize("seed_smoothing", [0.0, 0.1])
def test_intensity_seeds_split_two_touching_irregular_cells(seed_smoothing: float) -> None:
    image, left, right = _two_irregular_cells()
    settings = ClassicalSettings(**{**BASELINE, "seeds": "intensity", "seed_smoothing_diameters": seed_smoothing})
    labels = segment_frames_classical(image[None], settings, 1.0, 50.0)[0]
    assert labels.max() == 2
    assert _iou(_object_at(labels, (24, 32)), left) > 0.85
    assert _iou(_object_at(labels, (24, 96)), right) > 0.85
    # distance seeds on the same cells: the distance map peaks on their border, so the split is wrong
    distance = segment_frames_classical(image[None], ClassicalSettings(**BASELINE), 1.0, 50.0)[0]
    assert _iou(_object_at(distance, (24, 32)), left) < 0.7


def test_seed_smoothing_keeps_a_textured_cell_whole() -> None:
    """A round cell of 30 px with a speckled texture (15 % pixel noise), one per frame with its own noise:
    intensity seeds on the texture itself split some of them in two; smoothed over a tenth of the diameter
    (3 px) first, each is one object."""
    shape = (80, 120)
    cell = _disk(shape, (40, 60), 15)
    frames = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        frames.append(cell * (1.0 + rng.normal(0.0, 0.15, shape)) + rng.normal(0.0, 0.02, shape))
    movie = np.stack(frames).astype(np.float32)
    counts = {}
    for smoothing in (0.0, 0.1):
        settings = ClassicalSettings(**{**BASELINE, "seeds": "intensity", "seed_smoothing_diameters": smoothing})
        labels = segment_frames_classical(movie, settings, 1.0, 30.0)
        counts[smoothing] = [int(frame.max()) for frame in labels]
    assert counts[0.1] == [1] * 10
    assert max(counts[0.0]) >= 2, counts


def test_a_cell_below_zero_is_found_whole() -> None:
    """After background subtraction a dim cell's intensities can all lie below 0 (threshold -0.8 here): it is
    one object, every pixel above the threshold."""
    image = np.full((40, 60), -1.0, np.float32)
    image[10:30, 10:25] = -0.5
    image[15:25, 14:20] = -0.4
    settings = ClassicalSettings(**{**BASELINE, "seeds": "intensity", "smoothing_sigma_px": 0.0, "threshold": -0.8})
    labels = segment_frames_classical(image[None], settings, 1.0, 20.0)[0]
    assert labels.max() == 1
    np.testing.assert_array_equal(labels > 0, image > -0.8)


def test_missing_pixels_are_background() -> None:
    """NaN pixels (a stitched or masked frame) take the frame's lowest value: the cell beside them is found,
    and they are no object."""
    image = np.zeros((40, 60), np.float32)
    image[_disk((40, 60), (20, 20), 8)] = 1.0
    image[:, 40:] = np.nan
    labels = segment_frames_classical(image[None], ClassicalSettings(**BASELINE), 1.0, 16.0)[0]
    assert labels.max() == 1 and labels[20, 20] == 1
    assert not labels[:, 40:].any()


def test_area_bounds_in_um2_drop_what_they_should_and_nothing_else() -> None:
    shape = (64, 128)
    small, middle, large = _disk(shape, (32, 14), 4), _disk(shape, (32, 50), 8), _disk(shape, (32, 100), 14)
    image = (small | middle | large).astype(np.float32)
    areas = [int(m.sum()) for m in (small, middle, large)]
    assert areas == [45, 193, 609]
    exact = {**BASELINE, "threshold": 0.5, "smoothing_sigma_px": 0.0, "fill_holes": False}
    # 0.5 µm/px: 20 µm² = 80 px, 100 µm² = 400 px: only the middle disk stays, untouched
    settings = ClassicalSettings(min_area_um2=20.0, max_area_um2=100.0, **exact)
    labels = segment_frames_classical(image[None], settings, 0.5)[0]
    assert labels.max() == 1
    np.testing.assert_array_equal(labels > 0, middle)
    # 0.25 µm/px: the same bounds are 320 and 1600 px: only the large disk stays
    labels = segment_frames_classical(image[None], settings, 0.25)[0]
    np.testing.assert_array_equal(labels > 0, large)
    # an area exactly at the bounds stays: 45 px = 11.25 µm² and 609 px = 152.25 µm² at 0.5 µm/px
    settings = ClassicalSettings(min_area_um2=11.25, max_area_um2=152.25, **exact)
    assert segment_frames_classical(image[None], settings, 0.5)[0].max() == 3
    # min_area_um2 replaces min_area_px; without it min_area_px (px) still works
    settings = ClassicalSettings(min_area_px=1000, min_area_um2=10.0, **exact)
    assert segment_frames_classical(image[None], settings, 0.5)[0].max() == 3
    settings = ClassicalSettings(min_area_px=50, **exact)
    labels = segment_frames_classical(image[None], settings, 0.5)[0]
    np.testing.assert_array_equal(labels > 0, middle | large)


def test_lengths_resolve_to_pixels() -> None:
    settings = ClassicalSettings(
        smoothing_sigma_um=1.5, background="tophat", background_um=40.0, seeds="intensity",
        seed_distance_diameters=0.75, seed_smoothing_diameters=0.1, min_area_um2=50.0, max_area_um2=4000.0,
    )
    px = classical_pixels(settings, 0.3, 130.0)
    assert px.smoothing_sigma_px == pytest.approx(5.0)
    assert px.background_px == pytest.approx(40.0 / 0.3)
    assert px.min_peak_distance_px == 98  # round(0.75 x 130)
    assert px.seed_smoothing_px == pytest.approx(13.0)
    assert px.min_area_px == pytest.approx(50.0 / 0.09)
    assert px.max_area_px == pytest.approx(4000.0 / 0.09)
    # without a diameter: min_peak_distance_px and no seed smoothing
    no_diameter = classical_pixels(settings, 0.3, None)
    assert no_diameter.min_peak_distance_px == 5 and no_diameter.seed_smoothing_px == 0.0
    # settings in px only do not need a pixel size; µm settings refuse a bad one
    px_only = classical_pixels(ClassicalSettings(**BASELINE), float("nan"), None)
    assert px_only.smoothing_sigma_px == 1.0 and px_only.min_area_px == 15.0 and px_only.max_area_px is None
    with pytest.raises(ValueError, match="pixel size"):
        classical_pixels(settings, 0.0, 130.0)


def test_segment_cells_passes_the_pixel_size_to_the_classical_method() -> None:
    image = np.zeros((64, 64), dtype=np.float32)
    image[_disk(image.shape, (32, 32), 8)] = 1.0  # 197 px
    settings = SegmentSettings(classical=ClassicalSettings(**{**BASELINE, "min_area_um2": 100.0}))
    kept, info = segment_cells(image[None], settings, pixel_size_um=1.0)
    dropped, _ = segment_cells(image[None], settings, pixel_size_um=0.5)  # 197 px = 49 µm²
    assert kept.max() == 1 and dropped.max() == 0
    assert info["classical_px"]["min_area_px"] == 100.0


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="max_area_um2"):
        ClassicalSettings(min_area_um2=100.0, max_area_um2=50.0)
    with pytest.raises(ValidationError):
        ClassicalSettings(log_floor=0.0)
    with pytest.raises(ValidationError):
        ClassicalSettings(background="rolling")
    with pytest.raises(ValidationError):
        ClassicalSettings(min_area_um=3.0)  # extra keys are refused


def test_shipped_msc_config_is_valid() -> None:
    raw = yaml.safe_load((REPO / "bench/configs/msc_classical.yaml").read_text())
    settings = SegmentSettings.model_validate(raw["segment"])
    assert settings.method == "classical" and settings.diameter_um is not None
    assert settings.classical.intensity_transform == "log" and settings.classical.seeds == "intensity"


def test_fill_holes_fills_a_dark_nucleolus_and_only_when_asked() -> None:
    """A bright disk with a dark hole inside (a nucleolus, px): with ``fill_holes`` the object is the whole
    disk, hole included; without it the hole stays background.  A dark gap open to the outside is not a hole."""
    shape = (64, 96)
    outer, hole = _disk(shape, (32, 28), 12), _disk(shape, (32, 28), 4)
    rows, cols = np.indices(shape)
    slot = (cols > 80) & (np.abs(rows - 32) <= 3)  # cut into the second disk from its right edge
    notch = _disk(shape, (32, 72), 12) & ~slot
    image = ((outer & ~hole) | notch).astype(np.float32)
    exact = {**BASELINE, "threshold": 0.5, "smoothing_sigma_px": 0.0}
    filled = segment_frames_classical(image[None], ClassicalSettings(**exact, fill_holes=True), 1.0, 24.0)[0]
    np.testing.assert_array_equal(filled > 0, outer | notch)
    assert len(np.unique(filled[outer])) == 1 and filled[32, 28] > 0
    hollow = segment_frames_classical(image[None], ClassicalSettings(**exact, fill_holes=False), 1.0, 24.0)[0]
    np.testing.assert_array_equal(hollow > 0, (outer & ~hole) | notch)
