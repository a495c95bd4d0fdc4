"""The cell diameter estimated from a few stacks (cellpipe.segment.estimate_diameter_stacks): the median diameter
of the sphere of equal volume of the nuclei the classical 3-D method finds, nuclei cut by a face left out."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_segment_classical_3d import BASELINE, ellipsoid_stack

from cellpipe.config import SegmentSettings
from cellpipe.segment import estimate_diameter_stacks

VOXEL_UM = (1.0, 0.5, 0.5)
SIZE_UM = (24.0, 40.0, 40.0)


def _movie(semi_axes: tuple[float, float, float], n_stacks: int = 3) -> np.ndarray:
    """(T, Z, Y, X) stacks, each with two whole ellipsoids of ``semi_axes`` (µm) and three cut in half by a face of
    the stack (x, y and z), whose halved volumes would be the median if they counted."""
    a = semi_axes
    whole = [((12.0, 10.0, 10.0), a), ((12.0, 28.0, 28.0), a)]
    cut = [((12.0, 28.0, 40.0), a), ((12.0, 40.0, 10.0), a), ((24.0, 10.0, 28.0), a)]  # halves
    return np.stack([ellipsoid_stack(VOXEL_UM, SIZE_UM, whole + cut, seed=t)[0] for t in range(n_stacks)])


def _settings(**fields: object) -> SegmentSettings:
    return SegmentSettings.model_validate({"method": "classical", "estimate_diameter": True,
                                           "classical": BASELINE.model_dump(), **fields})


def _sphere_diameter(a: tuple[float, float, float]) -> float:
    """Diameter (µm) of the sphere with the volume of the ellipsoid of semi-axes ``a`` (µm): 2 (a b c)^(1/3)."""
    return 2.0 * math.prod(a) ** (1.0 / 3.0)


@pytest.mark.parametrize("semi_axes", [(4.0, 3.5, 3.0), (6.0, 5.25, 4.5)])
def test_the_estimate_is_the_equivalent_sphere_diameter_of_whole_nuclei(semi_axes: tuple[float, float, float]) -> None:
    movie = _movie(semi_axes)
    estimate = estimate_diameter_stacks(movie, _settings(), VOXEL_UM, diameter_um=None)
    expected = _sphere_diameter(semi_axes)  # 6.95 µm and 10.43 µm
    assert estimate["diameter_um"] == pytest.approx(expected, rel=0.04)
    assert estimate["diameter_px"] == pytest.approx(estimate["diameter_um"] / VOXEL_UM[1])
    assert estimate["frames"] == [0, 1, 2]
    last = estimate["passes"][-1]
    assert last["n_objects"] == 2 * len(movie)  # the three cut nuclei of every stack left out
    assert last["found_um"] == estimate["diameter_um"]


def test_a_poor_start_converges_and_the_passes_are_recorded() -> None:
    movie = _movie((4.0, 3.5, 3.0), n_stacks=5)
    estimate = estimate_diameter_stacks(movie, _settings(estimate_frames=2), VOXEL_UM, diameter_um=20.0)
    assert estimate["frames"] == [0, 4]  # estimate_frames stacks spread over the movie, first and last
    assert estimate["passes"][0]["diameter_um"] == 20.0
    assert 2 <= len(estimate["passes"]) <= 3
    assert estimate["diameter_um"] == pytest.approx(_sphere_diameter((4.0, 3.5, 3.0)), rel=0.04)


def test_nothing_found_keeps_the_given_diameter() -> None:
    flat = np.zeros((2, 8, 16, 16), dtype=np.float32)
    estimate = estimate_diameter_stacks(flat, _settings(), VOXEL_UM, diameter_um=9.0)
    assert estimate["diameter_um"] == 9.0 and estimate["diameter_px"] == 18.0
    assert estimate["passes"] == [{"diameter_um": 9.0, "found_um": None, "n_objects": 0}]
