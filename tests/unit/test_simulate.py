"""Tests of the nuclei movie simulator: determinism, CTC-consistent ground truth, dynamics, appearance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import ndimage

from cellpipe.config import SimulationSettings
from cellpipe.simulate import SimulatedMovie, make_nuclei_movie, simulate_movie

# Small movies with plenty of events, shared by several tests.
EVENTFUL = {"division_probability": 0.08, "min_division_age_frames": 4, "maturation_frames": 4, "entry_rate": 0.3}


def alive_tracks(tracks: pd.DataFrame, t: int) -> set[int]:
    rows = tracks[(tracks["first_frame"] <= t) & (tracks["last_frame"] >= t)]
    return set(rows["label"].tolist())


def present_labels(frame: np.ndarray) -> set[int]:
    return set(np.unique(frame).tolist()) - {0}


def centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


@pytest.fixture(scope="module")
def eventful() -> SimulatedMovie:
    return make_nuclei_movie(n_frames=24, shape=(128, 128), seed=1, **EVENTFUL)


def test_same_seed_gives_identical_movies_and_different_seed_differs() -> None:
    a = make_nuclei_movie(n_frames=6, shape=(64, 80), seed=3)
    b = make_nuclei_movie(n_frames=6, shape=(64, 80), seed=3)
    c = make_nuclei_movie(n_frames=6, shape=(64, 80), seed=4)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.labels, c.labels)


def test_noise_settings_do_not_change_the_cells() -> None:
    quiet = make_nuclei_movie(n_frames=5, seed=2, read_noise_sd=0.0, gain=100.0)
    noisy = make_nuclei_movie(n_frames=5, seed=2, read_noise_sd=20.0, gain=0.2)
    np.testing.assert_array_equal(quiet.labels, noisy.labels)
    assert not np.array_equal(quiet.image, noisy.image)


def test_shapes_dtypes_and_metadata() -> None:
    sim = make_nuclei_movie(n_frames=5, shape=(64, 72), seed=0, pixel_size_um=0.3, frame_interval_min=2.5)
    assert sim.image.shape == (5, 64, 72) and sim.image.dtype == np.uint16
    assert sim.labels.shape == (5, 64, 72) and sim.labels.dtype == np.uint16
    assert list(sim.tracks.columns) == ["label", "first_frame", "last_frame", "parent"]
    assert all(sim.tracks[c].dtype == np.int64 for c in sim.tracks.columns)
    assert sim.pixel_size_um == 0.3 and sim.frame_interval_min == 2.5
    # make_nuclei_movie scales the population to the small frame: a few cells, none huge.
    n0 = len(present_labels(sim.labels[0]))
    assert 2 <= n0 <= 8
    areas = np.bincount(sim.labels[0].ravel())[1:]
    assert areas[areas > 0].max() < 0.1 * 64 * 72


def test_default_settings_movie_has_expected_size_and_population() -> None:
    sim = simulate_movie(SimulationSettings())
    assert sim.image.shape == (30, 256, 256)
    assert len(present_labels(sim.labels[0])) == 12
    # 9 px semi-major axis: full-grown nuclei cover roughly pi * 9 * 7 px.
    areas = np.bincount(sim.labels[0].ravel())[1:]
    assert 120 < np.median(areas[areas > 0]) < 320


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_tracks_agree_with_masks_for_several_seeds(seed: int) -> None:
    sim = make_nuclei_movie(n_frames=20, shape=(96, 112), seed=seed, **EVENTFUL)
    tracks = sim.tracks
    assert tracks["label"].is_unique and (tracks["label"] >= 1).all()
    assert (tracks["first_frame"] <= tracks["last_frame"]).all()
    for t in range(sim.labels.shape[0]):
        # The labels in each frame are exactly the tracks alive then ...
        assert present_labels(sim.labels[t]) == alive_tracks(tracks, t), f"frame {t}"
    # ... hence each label is present in every frame between its first and last frame,
    # and absent outside that span.
    for label, first, last, _ in tracks.itertuples(index=False):
        present = [(sim.labels[t] == label).any() for t in range(sim.labels.shape[0])]
        assert present == [first <= t <= last for t in range(sim.labels.shape[0])]
    # Every labelled object is one connected piece of at least min_visible_area_px pixels.
    min_area = SimulationSettings().min_visible_area_px
    for t in range(0, sim.labels.shape[0], 4):
        frame = sim.labels[t]
        for label in present_labels(frame):
            mask = frame == label
            assert mask.sum() >= min_area
            assert ndimage.label(mask)[1] == 1


def test_divisions_have_two_adjacent_smaller_daughters(eventful: SimulatedMovie) -> None:
    tracks = eventful.tracks.set_index("label")
    labels = eventful.labels
    children = tracks[tracks["parent"] > 0].groupby("parent")
    assert eventful.n_divisions == children.ngroups >= 1
    radius = 9.0
    for mother, kids in children:
        assert len(kids) == 2
        last = tracks.loc[mother, "last_frame"]
        assert (kids["first_frame"] == last + 1).all()
        # The mother's last frame shows the compact metaphase plate; before it, the interphase nucleus.
        interphase = range(tracks.loc[mother, "first_frame"], last)
        mother_area = max(((labels[t] == mother).sum() for t in interphase), default=0)
        mother_at_end = centroid(labels[last] == mother)
        for kid in kids.index:
            kid_mask = labels[last + 1] == kid
            if mother_area:
                assert kid_mask.sum() < 0.8 * mother_area  # about half, more if a neighbour covered the mother
            assert np.linalg.norm(centroid(kid_mask) - mother_at_end) < 2.5 * radius
        sisters = [centroid(labels[last + 1] == kid) for kid in kids.index]
        assert np.linalg.norm(sisters[0] - sisters[1]) < 4 * radius


def test_daughters_grow() -> None:
    sim = make_nuclei_movie(
        n_frames=30, shape=(128, 128), seed=5, division_probability=0.15, min_division_age_frames=10,
        entry_rate=0.0, maturation_frames=8,
    )
    tracks = sim.tracks
    kids = tracks[(tracks["parent"] > 0) & (tracks["last_frame"] - tracks["first_frame"] >= 8)]
    assert len(kids) >= 2
    growth = [
        (sim.labels[first + 8] == label).sum() / (sim.labels[first] == label).sum()
        for label, first in kids[["label", "first_frame"]].itertuples(index=False)
    ]
    assert np.median(growth) > 1.4  # born at 0.7x the semi-axes: about 2x the area when grown


def test_division_probability_produces_divisions_and_zero_produces_none() -> None:
    dividing = make_nuclei_movie(n_frames=25, shape=(128, 128), seed=0, division_probability=0.1,
                                 min_division_age_frames=3)
    assert dividing.n_divisions >= 1
    never = make_nuclei_movie(n_frames=25, shape=(128, 128), seed=0, division_probability=0.0)
    assert never.n_divisions == 0
    assert (never.tracks["parent"] == 0).all()


def test_without_motion_division_or_entry_the_cell_count_is_constant() -> None:
    sim = make_nuclei_movie(n_frames=12, shape=(96, 96), seed=7, speed_px_per_frame=0.0,
                            division_probability=0.0, entry_rate=0.0, n_cells=6)
    counts = [len(present_labels(frame)) for frame in sim.labels]
    assert counts == [6] * 12
    assert len(sim.tracks) == 6
    assert (sim.tracks["first_frame"] == 0).all() and (sim.tracks["last_frame"] == 11).all()


def test_cells_move_at_about_the_requested_speed() -> None:
    sim = make_nuclei_movie(n_frames=15, shape=(160, 160), seed=2, n_cells=5, speed_px_per_frame=2.0,
                            persistence=0.5, division_probability=0.0, entry_rate=0.0)
    steps = []
    for label, first, last, _ in sim.tracks.itertuples(index=False):
        cents = [centroid(sim.labels[t] == label) for t in range(first, last + 1)]
        for a, b in zip(cents[:-1], cents[1:], strict=True):
            steps.append(np.linalg.norm(b - a))
    rms = float(np.sqrt(np.mean(np.square(steps))))
    assert 1.2 < rms < 3.0
    still = make_nuclei_movie(n_frames=5, shape=(160, 160), seed=2, n_cells=5, speed_px_per_frame=0.0,
                              division_probability=0.0, entry_rate=0.0)
    for label in present_labels(still.labels[0]):
        assert np.linalg.norm(centroid(still.labels[4] == label) - centroid(still.labels[0] == label)) < 0.5


def test_entering_cells_appear_at_the_border() -> None:
    sim = make_nuclei_movie(n_frames=30, shape=(96, 96), seed=4, n_cells=0, entry_rate=0.5,
                            division_probability=0.0)
    assert len(present_labels(sim.labels[0])) == 0
    new = sim.tracks[sim.tracks["first_frame"] > 0]
    assert len(new) >= 3
    for label, first in new[["label", "first_frame"]].itertuples(index=False):
        mask = sim.labels[first] == label
        touches = mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
        assert touches, f"track {label} appeared inside the field"


def test_nuclei_are_brighter_than_background() -> None:
    sim = make_nuclei_movie(n_frames=3, shape=(96, 96), seed=0)
    img = sim.image[0].astype(float)
    fg = sim.labels[0] > 0
    # Background: pixels well away from any nucleus (blur spreads light a few px).
    far = ~ndimage.binary_dilation(fg, iterations=6)
    contrast = (img[fg].mean() - img[far].mean()) / img[far].std()
    assert contrast > 10
    # The camera offset and background are where the settings put them.
    s = SimulationSettings()
    assert abs(np.median(img[far]) - (s.camera_offset + s.background)) < 0.35 * s.background


def test_cells_differ_in_brightness_and_are_textured() -> None:
    def brightness_cv(intensity_cv: float) -> float:
        sim = make_nuclei_movie(n_frames=1, shape=(192, 192), seed=3, n_cells=25, read_noise_sd=0.0, gain=1000.0,
                                intensity_cv=intensity_cv, division_probability=0.0)
        img, lab = sim.image[0].astype(float), sim.labels[0]
        means = ndimage.mean(img, lab, sorted(present_labels(lab)))
        return float(np.std(means) / np.mean(means))

    assert brightness_cv(0.35) > 0.12
    assert brightness_cv(0.0) < 0.1  # what is left: texture, size and edge effects
    # Inside a nucleus (away from its edge) intensity varies by more than the (tiny) noise.
    sim = make_nuclei_movie(n_frames=1, shape=(192, 192), seed=3, n_cells=15, read_noise_sd=0.0, gain=1000.0)
    img, lab = sim.image[0].astype(float), sim.labels[0]
    cores = [ndimage.binary_erosion(lab == label, iterations=3) for label in present_labels(lab)]
    inner_cv = [img[core].std() / img[core].mean() for core in cores if core.sum() >= 20]
    assert len(inner_cv) >= 8
    assert np.median(inner_cv) > 0.05


def test_photobleaching_lowers_foreground_intensity() -> None:
    common = {"n_frames": 15, "seed": 6, "division_probability": 0.0, "entry_rate": 0.0, "speed_px_per_frame": 0.5}

    def signal(sim: SimulatedMovie, t: int) -> float:
        img, fg = sim.image[t].astype(float), sim.labels[t] > 0
        return float(img[fg].mean() - np.median(img[~fg]))

    bleached = make_nuclei_movie(shape=(96, 96), photobleaching_per_frame=0.05, **common)
    ratio = signal(bleached, 14) / signal(bleached, 0)
    assert 0.35 < ratio < 0.65  # 0.95 ** 14 = 0.49
    steady = make_nuclei_movie(shape=(96, 96), photobleaching_per_frame=0.0, **common)
    assert 0.85 < signal(steady, 14) / signal(steady, 0) < 1.15


def test_dense_population_one_label_per_pixel_and_consistent() -> None:
    sim = simulate_movie(SimulationSettings(n_frames=6, shape=(128, 128), n_cells=45, seed=9))
    for t in range(6):
        assert present_labels(sim.labels[t]) == alive_tracks(sim.tracks, t)
    # Crowded: most cells are visible and many touch a neighbour, yet repulsion limits overlap.
    assert len(present_labels(sim.labels[0])) >= 38
    fg_fraction = (sim.labels[0] > 0).mean()
    assert 0.25 < fg_fraction < 0.7


def test_settings_are_validated() -> None:
    with pytest.raises(ValidationError):
        SimulationSettings(shape=(8, 64))
    with pytest.raises(ValidationError):
        SimulationSettings(aspect_ratio_range=(0.9, 0.5))
    with pytest.raises(ValidationError):
        SimulationSettings(division_probability=1.5)
    with pytest.raises(ValidationError):
        SimulationSettings(nucleus_radius_px=40.0, shape=(64, 64))
    with pytest.raises(ValidationError):
        SimulationSettings(n_framez=3)  # type: ignore[call-arg]
    # JSON round trip (the workflow passes settings through config / params).
    s = SimulationSettings(shape=(100, 120), seed=5)
    assert SimulationSettings.model_validate(s.model_dump(mode="json")) == s
