"""bench.noise_robustness's helpers: the noise it adds and the marker errors it counts."""

from __future__ import annotations

import numpy as np
import pytest

from bench.noise_robustness import marker_errors, with_noise


def test_noise_is_a_fraction_of_the_percentile_range() -> None:
    raw = np.tile(np.linspace(0.0, 200.0, 500, dtype=np.float32), (4, 100, 1))
    low, high = np.percentile(raw, [1.0, 99.8])
    noisy = with_noise(raw, 0.05)
    assert np.std(noisy - raw) == pytest.approx(0.05 * (high - low), rel=0.02)
    np.testing.assert_array_equal(with_noise(raw, 0.0), raw)
    np.testing.assert_array_equal(with_noise(raw, 0.05), noisy)  # seeded


def test_marker_errors_count_uncovered_markers_and_masks_over_none() -> None:
    markers = np.zeros((10, 10), np.uint16)
    markers[1:3, 1:3] = 1  # 4 px, covered by 3 px of mask 5: found
    markers[6:8, 6:8] = 2  # 4 px, covered by 2 px of mask 7: not more than half, missed
    labels = np.zeros((10, 10), np.uint32)
    labels[1:3, 1:3] = 5
    labels[1, 1] = 0
    labels[6, 6:8] = 7
    labels[4, 4] = 9  # over no marker
    assert marker_errors({0: markers}, {0: labels}) == (1, 2)  # marker 2 missed; masks 7 and 9 match none
