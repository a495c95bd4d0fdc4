"""Tests of the classical 3-D segmentation (cellpipe.segment.segment_stack_classical) on tiny synthetic stacks of
ellipsoids with anisotropic voxels: touching nuclei split, volumes in µm³, seeds and distances measured in µm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellpipe.config import ClassicalSettings
from cellpipe.segment import classical_voxels, segment_stack_classical

#: Round, evenly bright nuclei: no intensity transform, smoothing of 0.5 µm, no background, Otsu, distance
#: seeds half a diameter apart (as the 2-D tests' BASELINE, with the smoothing in µm).
BASELINE = ClassicalSettings(
    intensity_transform="none",
    smoothing_sigma_um=0.5,
    background="none",
    threshold="otsu",
    seeds="distance",
    seed_distance_diameters=0.5,
    seed_smoothing_diameters=0.0,
)
#: Two ellipsoids touching along x: centres (z, y, x) and semi-axes (z, y, x), µm.
TOUCHING = [((12.0, 16.0, 11.0), (5.0, 4.5, 4.5)), ((12.0, 16.0, 19.5), (5.0, 4.5, 4.5))]
DIAMETER_UM = 9.0


def ellipsoid_stack(
    voxel_um: tuple[float, float, float],
    size_um: tuple[float, float, float],
    cells: list[tuple[tuple[float, float, float], tuple[float, float, float]]],
    blur_um: float = 0.5,
    noise: float = 0.02,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A (z, y, x) stack of bright ellipsoids (1 on 0, Gaussian blur of ``blur_um`` µm, Gaussian noise) and its
    true labels; voxel centres at (index + 0.5) x voxel size (µm)."""
    shape = tuple(int(round(s / d)) for s, d in zip(size_um, voxel_um))
    z, y, x = (
        (np.arange(n) + 0.5).reshape([-1 if i == axis else 1 for i in range(3)]) * d
        for axis, (n, d) in enumerate(zip(shape, voxel_um))
    )
    truth = np.zeros(shape, dtype=np.uint32)
    for i, (centre, axes) in enumerate(cells, start=1):
        inside = ((z - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2 + ((x - centre[2]) / axes[2]) ** 2
        truth[(inside <= 1.0) & (truth == 0)] = i
    image = ndi.gaussian_filter((truth > 0).astype(np.float32), [blur_um / d for d in voxel_um])
    image += np.random.default_rng(seed).normal(0.0, noise, shape).astype(np.float32)
    return image.astype(np.float32), truth


def centroids_um(labels: np.ndarray, voxel_um: tuple[float, float, float]) -> np.ndarray:
    """Centroid (µm, z, y, x) of every label 1..n, voxel centres at (index + 0.5) x voxel size."""
    ids = range(1, int(labels.max()) + 1)
    return (np.array(ndi.center_of_mass(labels > 0, labels, ids)) + 0.5) * np.asarray(voxel_um)


def test_touching_ellipsoids_split_with_right_volumes() -> None:
    voxel = (2.0, 0.5, 0.5)
    image, truth = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING)
    labels = segment_stack_classical(image, voxel, BASELINE, diameter_um=DIAMETER_UM)
    assert labels.dtype == np.uint32 and labels.shape == image.shape == (12, 64, 64)
    assert int(labels.max()) == 2
    voxel_um3 = math.prod(voxel)
    analytic_um3 = 4.0 / 3.0 * math.pi * 5.0 * 4.5 * 4.5
    for i in (1, 2):
        found = labels == i
        true_id = np.bincount(truth[found]).argmax()
        assert true_id > 0
        true_mask = truth == true_id
        iou = (found & true_mask).sum() / (found | true_mask).sum()
        assert iou > 0.85
        # against the ellipsoid's own volume: counting the true mask's voxels is itself 4 % off at a 2 µm z step
        assert found.sum() * voxel_um3 == pytest.approx(analytic_um3, rel=0.03)
    # labelled left to right: centroids within a voxel of the true centres
    np.testing.assert_allclose(centroids_um(labels, voxel), [c for c, _ in TOUCHING], atol=0.5)


def test_z_step_changes_nothing_in_µm_but_ignoring_it_does() -> None:
    """The same ellipsoids imaged at a z step of 1 µm and of 3 µm (the 1 µm stack averaged over 3 planes):
    segmented with their voxel sizes, both give the same two nuclei (centroids within a z step, volumes within
    a few %, and the 3 µm labels are the 1 µm labels at the 3 µm planes); the 3 µm stack segmented as if its
    voxels were cubes of 0.5 µm is cut into more pieces."""
    fine_voxel, coarse_voxel = (1.0, 0.5, 0.5), (3.0, 0.5, 0.5)
    fine, _ = ellipsoid_stack(fine_voxel, (24.0, 32.0, 32.0), TOUCHING)
    coarse = fine.reshape(8, 3, 64, 64).mean(axis=1)
    fine_labels = segment_stack_classical(fine, fine_voxel, BASELINE, diameter_um=DIAMETER_UM)
    coarse_labels = segment_stack_classical(coarse, coarse_voxel, BASELINE, diameter_um=DIAMETER_UM)
    assert int(fine_labels.max()) == int(coarse_labels.max()) == 2
    np.testing.assert_allclose(centroids_um(fine_labels, fine_voxel), centroids_um(coarse_labels, coarse_voxel), atol=1.0)
    fine_um3 = np.bincount(fine_labels.ravel())[1:] * math.prod(fine_voxel)
    coarse_um3 = np.bincount(coarse_labels.ravel())[1:] * math.prod(coarse_voxel)
    # 3 µm planes average a nucleus's edge with the background along z: about 7 % more volume at the threshold
    np.testing.assert_allclose(coarse_um3, fine_um3, rtol=0.12)
    middle_planes = fine_labels[1::3]  # the 1 µm planes at the centres of the 3 µm planes
    for i in (1, 2):
        a, b = middle_planes == i, coarse_labels == i
        assert (a & b).sum() / (a | b).sum() > 0.8
    isotropic = segment_stack_classical(coarse, (0.5, 0.5, 0.5), BASELINE, diameter_um=DIAMETER_UM)
    assert int(isotropic.max()) > 2


def test_seed_distance_is_measured_in_µm() -> None:
    """Two seeds 8.5 µm apart: a seed distance of 0.5 x 9 µm keeps both, 1.5 x 9 µm keeps one, whatever the z step."""
    voxel = (2.0, 0.5, 0.5)
    image, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING)
    far = BASELINE.model_copy(update={"seed_distance_diameters": 1.5})
    assert int(segment_stack_classical(image, voxel, far, diameter_um=DIAMETER_UM).max()) == 1
    assert int(segment_stack_classical(image, voxel, BASELINE, diameter_um=DIAMETER_UM).max()) == 2


def test_volume_bounds_in_µm3() -> None:
    """A small ellipsoid (about 34 µm³) beside a large one (about 424 µm³): the bounds in µm³ keep one or the other."""
    voxel = (2.0, 0.5, 0.5)
    cells = [((12.0, 16.0, 9.0), (5.0, 4.5, 4.5)), ((12.0, 16.0, 24.0), (3.0, 1.65, 1.65))]
    image, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), cells)
    both = segment_stack_classical(image, voxel, BASELINE.model_copy(update={"min_area_px": 0}), diameter_um=DIAMETER_UM)
    assert int(both.max()) == 2
    big_only = BASELINE.model_copy(update={"min_volume_um3": 100.0})
    labels = segment_stack_classical(image, voxel, big_only, diameter_um=DIAMETER_UM)
    assert int(labels.max()) == 1 and centroids_um(labels, voxel)[0, 2] == pytest.approx(9.0, abs=0.5)
    small_only = BASELINE.model_copy(update={"min_area_px": 0, "max_volume_um3": 100.0})
    labels = segment_stack_classical(image, voxel, small_only, diameter_um=DIAMETER_UM)
    assert int(labels.max()) == 1 and centroids_um(labels, voxel)[0, 2] == pytest.approx(24.0, abs=0.5)


def test_settings_in_px_and_µm_become_voxels_per_axis() -> None:
    settings = ClassicalSettings(smoothing_sigma_um=1.0, background="gaussian", background_um=20.0,
                                 seeds="intensity", seed_distance_diameters=0.5, seed_smoothing_diameters=0.1,
                                 min_area_um2=None, min_area_px=16, max_area_um2=None, min_volume_um3=None)
    vox = classical_voxels(settings, (2.0, 0.5, 0.25), diameter_um=10.0)
    assert vox.smoothing_sigma_vox == pytest.approx((0.5, 2.0, 4.0))
    assert vox.background_vox == pytest.approx((10.0, 40.0, 80.0))
    assert vox.min_peak_distance_um == pytest.approx(5.0)
    assert vox.seed_smoothing_vox == pytest.approx((0.5, 2.0, 4.0))
    # 16 px of 0.5 x 0.25 µm = 2 µm²: the sphere of that central section, in voxels of 0.25 µm³
    radius = math.sqrt(2.0 / math.pi)
    assert vox.min_volume_vox == pytest.approx(4.0 / 3.0 * math.pi * radius**3 / 0.25)
    assert vox.max_volume_vox is None
    no_diameter = classical_voxels(settings.model_copy(update={"min_peak_distance_px": 6}), (2.0, 0.5, 0.5), None)
    assert no_diameter.min_peak_distance_um == pytest.approx(3.0) and no_diameter.seed_smoothing_vox == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="voxel size"):
        classical_voxels(settings, (0.0, 0.5, 0.5), None)
    with pytest.raises(ValueError, match="max_volume_um3"):
        ClassicalSettings(min_volume_um3=50.0, max_volume_um3=10.0)


@pytest.mark.parametrize("background", ["gaussian", "tophat"])
def test_background_subtraction_in_3d(background: str) -> None:
    """A background sloping along x (0 to 0.6, more than half the nuclei's brightness) is removed in 3-D: the
    two nuclei are found with the background subtracted and not without it."""
    voxel = (2.0, 0.5, 0.5)
    image, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING)
    image = image + np.linspace(0.0, 0.6, image.shape[2], dtype=np.float32)[None, None, :]
    settings = BASELINE.model_copy(update={"background": background, "background_um": 10.0})
    labels = segment_stack_classical(image, voxel, settings, diameter_um=DIAMETER_UM)
    assert int(labels.max()) == 2
    without = segment_stack_classical(image, voxel, BASELINE, diameter_um=DIAMETER_UM)
    assert int(without.max()) != 2 or not np.allclose(centroids_um(without, voxel), [c for c, _ in TOUCHING], atol=1.0)
    np.testing.assert_allclose(centroids_um(labels, voxel), [c for c, _ in TOUCHING], atol=1.0)


def test_empty_and_flat_stacks() -> None:
    voxel = (2.0, 0.5, 0.5)
    flat = np.full((4, 16, 16), 0.3, dtype=np.float32)
    assert not segment_stack_classical(flat, voxel, BASELINE).any()
    with pytest.raises(ValueError, match=r"\(z, y, x\)"):
        segment_stack_classical(np.zeros((16, 16), np.float32), voxel, BASELINE)


def test_nuclei_stacked_along_z_split_at_a_coarse_z_step() -> None:
    """Two nuclei touching along z, 8 µm (4 planes of 2 µm) apart: two labels, one above the other."""
    voxel = (2.0, 0.5, 0.5)
    cells = [((11.5, 16.0, 16.0), (4.3, 5.0, 5.0)), ((19.5, 16.0, 16.0), (4.3, 5.0, 5.0))]
    image, _ = ellipsoid_stack(voxel, (32.0, 32.0, 32.0), cells)
    labels = segment_stack_classical(image, voxel, BASELINE, diameter_um=DIAMETER_UM)
    assert int(labels.max()) == 2
    np.testing.assert_allclose(centroids_um(labels, voxel), [c for c, _ in cells], atol=1.0)


def test_a_movie_of_stacks_is_segmented_stack_by_stack() -> None:
    from cellpipe.segment import segment_stacks_classical

    voxel = (2.0, 0.5, 0.5)
    first, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING, seed=1)
    second, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING[:1], seed=2)
    labels = segment_stacks_classical(np.stack([first, second]), voxel, BASELINE, diameter_um=DIAMETER_UM)
    assert labels.shape == (2, 12, 64, 64) and labels.dtype == np.uint32
    assert [int(stack.max()) for stack in labels] == [2, 1]
    np.testing.assert_array_equal(labels[0], segment_stack_classical(first, voxel, BASELINE, diameter_um=DIAMETER_UM))
    with pytest.raises(ValueError, match=r"\(T, Z, Y, X\)"):
        segment_stacks_classical(first, voxel, BASELINE)


def test_seed_distance_below_a_voxel_still_gives_local_maxima_only() -> None:
    """A seed distance of 0.1 µm (a fifth of the pixel) still seeds each nucleus at its maxima, not at every voxel."""
    voxel = (2.0, 0.5, 0.5)
    image, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING)
    tiny = BASELINE.model_copy(update={"seed_distance_diameters": 0.01})
    labels = segment_stack_classical(image, voxel, tiny, diameter_um=DIAMETER_UM)
    assert 2 <= int(labels.max()) <= 20


def z_blurred_nuclei(
    cells: list[tuple[tuple[float, float, float], tuple[float, float, float], float]], seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A stack of 12 x 64 x 64 voxels of 2 x 0.5 x 0.5 µm imaged as a widefield or confocal microscope does: nuclei
    (centre µm, semi-axes µm, brightness) with a dome profile (1 at the centre, 0.7 at the surface), blurred by a
    point-spread function of sigma 1.2 µm along z and 0.4 µm in the plane, on a background of 0.05 with noise of
    0.01; and its true labels (voxel centres at (index + 0.5) x voxel size)."""
    voxel = (2.0, 0.5, 0.5)
    shape = (12, 64, 64)
    z, y, x = (
        (np.arange(n) + 0.5).reshape([-1 if i == axis else 1 for i in range(3)]) * d
        for axis, (n, d) in enumerate(zip(shape, voxel))
    )
    truth = np.zeros(shape, dtype=np.uint32)
    signal = np.zeros(shape, dtype=np.float32)
    for i, (centre, axes, brightness) in enumerate(cells, start=1):
        rho2 = ((z - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2 + ((x - centre[2]) / axes[2]) ** 2
        inside = rho2 <= 1.0
        truth[inside & (truth == 0)] = i
        signal += np.where(inside, brightness * (0.7 + 0.3 * np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))), 0.0).astype(np.float32)
    image = ndi.gaussian_filter(signal, (1.2 / 2.0, 0.4 / 0.5, 0.4 / 0.5)) + np.float32(0.05)
    image += np.random.default_rng(seed).normal(0.0, 0.01, shape).astype(np.float32)
    return image.astype(np.float32), truth


#: A bright and a dim nucleus (a fifth of its brightness) side by side: centre (z, y, x) µm, semi-axes µm, brightness.
BRIGHT_AND_DIM = [((12.0, 16.0, 9.0), (5.0, 4.5, 4.0), 1.0), ((12.0, 16.0, 23.0), (4.5, 4.0, 4.0), 0.2)]


@pytest.mark.parametrize("level", [0.4, "otsu"])
def test_each_object_cut_at_its_own_level_keeps_its_true_volume(level: float | str) -> None:
    """With the default settings (log transform, top-hat, Li threshold, intensity seeds) each nucleus of a stack
    blurred along z, one bright and one dim, is cut at its own level: both volumes within 15 % of the true
    ones, IoU above 0.75.  The global threshold alone (object_threshold null, the defaults before) gives the
    bright nucleus about twice its volume."""
    voxel = (2.0, 0.5, 0.5)
    image, truth = z_blurred_nuclei(BRIGHT_AND_DIM)
    settings = ClassicalSettings(object_threshold=level)
    labels = segment_stack_classical(image, voxel, settings, diameter_um=DIAMETER_UM)
    assert int(labels.max()) == 2
    for i in (1, 2):
        found = labels == np.bincount(labels[truth == i]).argmax()
        true_mask = truth == i
        assert found.sum() == pytest.approx(true_mask.sum(), rel=0.15), i
        assert (found & true_mask).sum() / (found | true_mask).sum() > 0.75, i
    wide = segment_stack_classical(image, voxel, ClassicalSettings(object_threshold=None), diameter_um=DIAMETER_UM)
    bright = wide == np.bincount(wide[truth == 1]).argmax()
    assert bright.sum() > 1.6 * (truth == 1).sum()


def test_default_volumes_on_a_simulated_stack() -> None:
    """The 3-D simulator's nuclei (textured, nucleoli, depth blur and attenuation, Poisson noise), normalized as the
    workflow does: at the default settings the segmented volume is within 15 % of the true volume and every
    nucleus is found; at object_threshold null it is about twice the true volume."""
    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.simulate3d import make_nuclei_movie_3d

    sim = make_nuclei_movie_3d(n_frames=1, shape_zyx=(12, 96, 96), seed=4, nucleus_radius_um=5.0, n_cells=5)
    normalized, _ = normalize_movie(sim.image[:, np.newaxis], NormalizeSettings())
    stack, truth = np.asarray(normalized)[0, 0], sim.labels[0]
    n_true = len(np.unique(truth)) - 1
    assert n_true >= 4
    labels = segment_stack_classical(stack, sim.voxel_size_um, ClassicalSettings(), diameter_um=10.0)
    assert int(labels.max()) == n_true
    assert (labels > 0).sum() == pytest.approx((truth > 0).sum(), rel=0.15)
    for i in np.unique(truth)[1:]:  # every true nucleus matched by more than half (the CTC SEG rule)
        assert np.bincount(labels[truth == i]).max() > 0.5 * (truth == i).sum()
    wide = segment_stack_classical(stack, sim.voxel_size_um, ClassicalSettings(object_threshold=None), diameter_um=10.0)
    assert (wide > 0).sum() > 1.6 * (truth > 0).sum()


def test_object_levels_settings() -> None:
    assert ClassicalSettings().object_threshold == pytest.approx(0.4)
    assert ClassicalSettings(object_threshold="otsu").object_threshold == "otsu"
    assert ClassicalSettings(object_threshold=None).object_threshold is None
    for bad in (0.0, 1.0, 1.5, "li"):
        with pytest.raises(ValueError, match="object_threshold"):
            ClassicalSettings(object_threshold=bad)
    vox = classical_voxels(ClassicalSettings(object_smoothing_um=1.0), (2.0, 0.5, 0.25), diameter_um=10.0)
    assert vox.object_smoothing_vox == pytest.approx((0.5, 2.0, 4.0))
    assert classical_voxels(ClassicalSettings(object_threshold=None), (2.0, 0.5, 0.5), None).object_smoothing_vox == (
        0.0, 0.0, 0.0)


@pytest.mark.parametrize("level", [0.4, "otsu"])
def test_objects_without_background_around_them_are_kept_whole(level: float | str) -> None:
    """A fixed threshold below every voxel makes the whole stack foreground: no voxel is background, so no object
    has a level of its own and every voxel stays labelled (nothing is cut, nothing lost)."""
    voxel = (2.0, 0.5, 0.5)
    image, _ = ellipsoid_stack(voxel, (24.0, 32.0, 32.0), TOUCHING)
    settings = BASELINE.model_copy(update={"threshold": -1.0, "object_threshold": level})
    labels = segment_stack_classical(image, voxel, settings, diameter_um=DIAMETER_UM)
    assert (labels > 0).all() and int(labels.max()) >= 1
