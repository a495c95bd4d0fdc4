"""Tests of the 3-D nuclei simulator: determinism, CTC-consistent 3-D ground truth, anisotropic voxels,
depth-dependent optics, divisions, and the one-plane (2-D) case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cellpipe.config import Simulation3DSettings
from cellpipe.io.ctc import check_ctc_tracks
from cellpipe.simulate3d import SimulatedMovie3D, _optics, make_nuclei_movie_3d, simulate_movie_3d

TINY = {"n_frames": 4, "shape_zyx": (8, 48, 48)}
EVENTFUL = {"division_probability": 0.15, "min_division_age_frames": 3, "maturation_frames": 4, "entry_rate": 0.3}
# One still cell in the middle of the stack, no texture, no noise: geometry and optics only.
STILL = {
    "n_cells": 1, "entry_rate": 0.0, "division_probability": 0.0, "speed_um_per_frame": 0.0, "radius_sd_um": 0.0,
    "texture_strength": 0.0, "nucleoli_max": 0, "read_noise_sd": 0.0, "gain": 1e6, "background": 0.0,
    "camera_offset": 0.0, "photobleaching_per_frame": 0.0,
}


@pytest.fixture(scope="module")
def eventful() -> SimulatedMovie3D:
    return make_nuclei_movie_3d(n_frames=16, shape_zyx=(10, 64, 64), seed=2, **EVENTFUL)


def test_same_seed_gives_identical_movies_and_different_seed_differs() -> None:
    a = make_nuclei_movie_3d(seed=3, **TINY)
    b = make_nuclei_movie_3d(seed=3, **TINY)
    c = make_nuclei_movie_3d(seed=4, **TINY)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.labels, c.labels)


def test_noise_settings_do_not_change_the_cells() -> None:
    quiet = make_nuclei_movie_3d(seed=2, read_noise_sd=0.0, gain=100.0, **TINY)
    noisy = make_nuclei_movie_3d(seed=2, read_noise_sd=20.0, gain=0.2, **TINY)
    np.testing.assert_array_equal(quiet.labels, noisy.labels)
    assert not np.array_equal(quiet.image, noisy.image)


def test_shapes_dtypes_metadata_and_ctc_consistency() -> None:
    sim = make_nuclei_movie_3d(seed=0, voxel_size_um=(1.5, 0.4, 0.4), frame_interval_min=3.0, **TINY)
    assert sim.image.shape == (4, 8, 48, 48) and sim.image.dtype == np.uint16
    assert sim.labels.shape == (4, 8, 48, 48) and sim.labels.dtype == np.uint16
    assert list(sim.tracks.columns) == ["label", "first_frame", "last_frame", "parent"]
    assert sim.voxel_size_um == (1.5, 0.4, 0.4) and sim.frame_interval_min == 3.0
    assert check_ctc_tracks(sim.labels, sim.tracks) == []
    assert 2 <= len(np.unique(sim.labels[0])) - 1 <= 10
    # nuclei are brighter than the background around them
    inside = sim.image[sim.labels > 0].mean()
    outside = sim.image[ndimage.binary_dilation(sim.labels > 0, iterations=3) == 0].mean()
    assert inside > outside + 100


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tracks_agree_with_masks_and_divisions_are_ctc_valid(seed: int) -> None:
    sim = make_nuclei_movie_3d(n_frames=12, shape_zyx=(8, 56, 56), seed=seed, **EVENTFUL)
    assert check_ctc_tracks(sim.labels, sim.tracks) == []
    last = dict(zip(sim.tracks["label"], sim.tracks["last_frame"], strict=True))
    for parent, kids in sim.tracks[sim.tracks["parent"] > 0].groupby("parent"):
        assert len(kids) == 2
        assert (kids["first_frame"] == last[parent] + 1).all()


def test_daughters_start_beside_their_mother(eventful: SimulatedMovie3D) -> None:
    sim = eventful
    assert sim.n_divisions >= 1
    voxel = np.array(sim.voxel_size_um)
    tracks = sim.tracks.set_index("label")
    for parent, kids in sim.tracks[sim.tracks["parent"] > 0].groupby("parent"):
        t_mother = int(tracks.loc[parent, "last_frame"])
        mother = np.argwhere(sim.labels[t_mother] == parent).mean(axis=0) * voxel
        for kid in kids["label"]:
            daughter = np.argwhere(sim.labels[t_mother + 1] == kid).mean(axis=0) * voxel
            # within about one nucleus diameter (radius is 4 µm here), in µm
            assert np.linalg.norm(daughter - mother) < 10.0


def test_anisotropic_voxels_give_a_round_nucleus_in_um() -> None:
    """A sphere of radius 4 µm spans 4x more pixels in y and x than planes in z (z step 4x the pixel)."""
    settings = Simulation3DSettings(
        n_frames=1, shape_zyx=(12, 48, 48), voxel_size_um=(2.0, 0.5, 0.5), nucleus_radius_um=4.0,
        axis_ratio_range=(1.0, 1.0), maturation_frames=1, min_division_age_frames=50, seed=8, **STILL,
    )
    mask = simulate_movie_3d(settings).labels[0] > 0
    zs, ys, xs = np.nonzero(mask)
    assert zs.min() > 0 and ys.min() > 0 and xs.min() > 0 and zs.max() < 11 and ys.max() < 47 and xs.max() < 47
    extent_um = [(c.max() - c.min() + 1) * d for c, d in zip((zs, ys, xs), settings.voxel_size_um, strict=True)]
    # diameter 8 µm: 4 planes (8 µm) and 16 px (8 µm), each within one voxel
    assert abs(extent_um[0] - 8.0) <= 2.0
    assert abs(extent_um[1] - 8.0) <= 0.5 and abs(extent_um[2] - 8.0) <= 0.5
    volume_um3 = mask.sum() * 2.0 * 0.5 * 0.5
    assert volume_um3 == pytest.approx(4 / 3 * np.pi * 4.0**3, rel=0.15)


def test_depth_attenuates_and_blurs_more() -> None:
    """The same point in every plane comes out dimmer and wider the deeper it is."""
    settings = Simulation3DSettings(
        shape_zyx=(6, 33, 33), voxel_size_um=(5.0, 0.5, 0.5), blur_sigma_um=0.5, blur_growth_per_um=0.05,
        axial_blur_sigma_um=0.0, attenuation_length_um=20.0,
    )
    stack = np.zeros(settings.shape_zyx, dtype=np.float32)
    stack[:, 16, 16] = 1000.0
    out = _optics(stack, settings)
    totals = out.sum(axis=(1, 2))
    np.testing.assert_allclose(totals, 1000.0 * np.exp(-np.arange(6) * 5.0 / 20.0), rtol=1e-3)
    widths = [np.sqrt((out[k] * (np.arange(33)[None, :] - 16) ** 2).sum() / out[k].sum()) for k in range(6)]
    expected_px = (0.5 + 0.05 * np.arange(6) * 5.0) / 0.5
    np.testing.assert_allclose(widths, expected_px, rtol=0.05)


def test_axial_blur_spreads_light_between_planes() -> None:
    settings = Simulation3DSettings(shape_zyx=(9, 16, 16), voxel_size_um=(1.0, 0.5, 0.5), nucleus_radius_um=2.0, blur_sigma_um=0.0,
                                    blur_growth_per_um=0.0, axial_blur_sigma_um=2.0, attenuation_length_um=0.0)
    stack = np.zeros(settings.shape_zyx, dtype=np.float32)
    stack[4, 8, 8] = 1.0
    profile = _optics(stack, settings)[:, 8, 8]
    sd_planes = np.sqrt((profile * (np.arange(9) - 4) ** 2).sum() / profile.sum())
    assert sd_planes == pytest.approx(2.0, rel=0.1)


def test_one_plane_is_a_valid_2d_movie() -> None:
    sim = make_nuclei_movie_3d(n_frames=5, shape_zyx=(1, 64, 64), seed=1, **EVENTFUL)
    assert sim.image.shape == (5, 1, 64, 64)
    assert check_ctc_tracks(sim.labels[:, 0], sim.tracks) == []
    assert len(np.unique(sim.labels[0])) - 1 >= 2


@pytest.mark.parametrize(
    "bad",
    [{"shape_zyx": (0, 48, 48)}, {"shape_zyx": (4, 8, 48)}, {"voxel_size_um": (0.0, 0.5, 0.5)},
     {"axis_ratio_range": (0.9, 0.5)}, {"speed_um_per_frame": -1.0}, {"nucleus_radius_um": 30.0, "shape_zyx": (4, 48, 48)}],
)
def test_invalid_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="validation error for Simulation3DSettings"):
        Simulation3DSettings(**bad)
