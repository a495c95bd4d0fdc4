"""segment.cellpose.denoise: noisy frames smoothed at the network's scale and stretched again before Cellpose."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellpipe.config import CellposeSettings, SegmentSettings
from cellpipe.segment import denoise_plan, iter_segment_cells, noise_sd, segment_cells
from cellpipe.segment.cellpose import DENOISE_ABOVE_NOISE_SD, SHIPPED_MODEL_SHA256

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


@pytest.fixture(scope="module")
def clean_and_noisy(six_nuclei_frames: tuple[np.ndarray, float]) -> tuple[np.ndarray, np.ndarray, float]:
    """The session's six simulated nuclei (normalized), the same with Gaussian noise of SD 0.1 normalized again
    between its 1 and 99.8 percentiles (as the normalize stage does), and the pixel size (µm)."""
    clean, pixel_size_um = six_nuclei_frames
    noisy = clean + np.random.default_rng(0).normal(0.0, 0.1, clean.shape).astype(np.float32)
    low, high = np.percentile(noisy, [1.0, 99.8])
    return clean, ((noisy - low) / (high - low)).astype(np.float32), pixel_size_um


def _settings(denoise: object) -> SegmentSettings:
    return SegmentSettings.model_validate({
        "method": "cellpose", "diameter_um": None, "diameter_px": 18.0,
        "cellpose": {"model": str(SHIPPED), "denoise": denoise},
    })


def test_noise_sd_measures_pixel_noise_and_ignores_smooth_ramps() -> None:
    """Immerkaer's estimate: Gaussian noise of SD 0.05 reads 0.05 within 3 %; a linear ramp reads 0."""
    rng = np.random.default_rng(1)
    assert noise_sd(rng.normal(0.0, 0.05, (256, 256))) == pytest.approx(0.05, rel=0.03)
    assert noise_sd(np.add.outer(np.arange(64.0), 2 * np.arange(64.0))) == pytest.approx(0.0, abs=1e-12)


def test_auto_smooths_noisy_frames_for_the_shipped_model_only(clean_and_noisy) -> None:
    """'auto' measures the noise and, for the shipped model, smooths only above the threshold, with a Gaussian of
    1 px at the network's scale (18 px cells for a 30 px model: 0.6 px); another model (one fine-tuned on its
    movies' noise) is left alone; true always smooths, false measures nothing."""
    assert SHIPPED_MODEL_SHA256 == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    clean, noisy, _ = clean_and_noisy
    quiet = denoise_plan(CellposeSettings(denoise="auto"), clean, SHIPPED_MODEL_SHA256, 18.0, 30.0)
    assert quiet["applied"] is False and quiet["noise_sd"] < DENOISE_ABOVE_NOISE_SD
    loud = denoise_plan(CellposeSettings(denoise="auto"), noisy, SHIPPED_MODEL_SHA256, 18.0, 30.0)
    assert loud["applied"] is True and loud["noise_sd"] > DENOISE_ABOVE_NOISE_SD
    assert loud["sigma_px"] == pytest.approx(0.6)
    assert 0.0 < loud["low"] < loud["high"]
    assert denoise_plan(CellposeSettings(denoise=True), clean, SHIPPED_MODEL_SHA256, 18.0, 30.0)["applied"] is True
    assert denoise_plan(CellposeSettings(denoise=False), noisy, SHIPPED_MODEL_SHA256, 18.0, 30.0) == {
        "setting": False, "noise_sd": None, "applied": False}
    other = denoise_plan(CellposeSettings(denoise="auto"), noisy, "0" * 64, 18.0, 30.0)
    assert other["applied"] is False and other["noise_sd"] == loud["noise_sd"]
    assert denoise_plan(CellposeSettings(denoise=True), noisy, "0" * 64, 18.0, 30.0)["applied"] is True
    # the noise is the median over up to 5 frames spread over the movie, not the first frame's
    mostly_noisy = np.concatenate([clean[:1], noisy[1:]])
    assert denoise_plan(CellposeSettings(denoise="auto"), mostly_noisy, SHIPPED_MODEL_SHA256, 18.0, 30.0)["applied"] is True
    # a blank movie has nothing to stretch: not smoothed even when asked
    blank = np.zeros_like(noisy)
    assert denoise_plan(CellposeSettings(denoise=True), blank, SHIPPED_MODEL_SHA256, 18.0, 30.0)["applied"] is False


def test_the_network_sees_the_smoothed_stretched_frames(clean_and_noisy) -> None:
    """Segmenting with denoise true gives the masks of the frames smoothed and stretched by hand between the
    plan's percentiles, and segmentation.json's information says what was done."""
    _, noisy, pixel_size_um = clean_and_noisy
    labels, info = segment_cells(noisy, _settings(True), pixel_size_um)
    plan = info["denoise"]
    assert plan["applied"] is True and plan["sigma_px"] == pytest.approx(0.6)
    by_hand = np.stack([(ndi.gaussian_filter(f, plan["sigma_px"]) - plan["low"]) / (plan["high"] - plan["low"])
                        for f in noisy]).astype(np.float32)
    expected, plain = segment_cells(by_hand, _settings(False), pixel_size_um)
    assert plain["denoise"] == {"setting": False, "noise_sd": None, "applied": False}
    np.testing.assert_array_equal(labels, expected)
    unsmoothed, _ = segment_cells(noisy, _settings(False), pixel_size_um)
    assert not np.array_equal(labels, unsmoothed)


def test_a_part_of_a_movie_is_denoised_as_the_whole(clean_and_noisy) -> None:
    """A scattered job (frames 1-2 of the movie) measures the noise and percentiles on the whole movie."""
    _, noisy, pixel_size_um = clean_and_noisy
    whole, _ = iter_segment_cells(noisy, _settings("auto"), pixel_size_um)
    part, _ = iter_segment_cells(noisy[1:], _settings("auto"), pixel_size_um, estimate_from=noisy)
    alone, _ = iter_segment_cells(noisy[1:], _settings("auto"), pixel_size_um)
    assert part["denoise"] == whole["denoise"]
    assert alone["denoise"]["low"] != whole["denoise"]["low"]
