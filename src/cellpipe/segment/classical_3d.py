"""Classical segmentation of (Z, Y, X) stacks: the 2-D steps in 3-D, each object cut back to a level of its own.

Voxel sizes in µm (z, y, x); lengths resolved to voxels once per movie (:func:`classical_voxels`).  A global
threshold alone gives z-blurred nuclei about twice their volume, so each object is cut back to its voxels
``segment.classical.object_threshold`` of the way from the background around it to its own peak.  Large stacks
are segmented in overlapping blocks with one global threshold (:func:`segment_stack_classical_blocks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import ClassicalSettings
from cellpipe.segment.classical import _split_at_peaks, _transform_intensity
from cellpipe.segment.common import _check_voxel_size, _finite, _segment_each_stack, _threshold_value, merge_blocks


@dataclass(frozen=True)
class ClassicalVoxels:
    """The lengths and volumes of :class:`ClassicalSettings` for one (z, y, x) stack, resolved once per movie.

    Lengths per axis are in voxels of that axis (z, y, x); the seed distance stays in µm because seeds
    are spaced by their distance in µm; volumes are in voxels.
    """

    smoothing_sigma_vox: tuple[float, float, float]
    background_vox: tuple[float, float, float]
    min_peak_distance_um: float
    seed_smoothing_vox: tuple[float, float, float]
    min_volume_vox: float
    max_volume_vox: float | None
    object_smoothing_vox: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _sphere_volume_of_section(area_um2: float) -> float:
    """Volume (µm³) of the sphere whose central section has ``area_um2`` (µm²)."""
    radius = math.sqrt(area_um2 / math.pi)
    return 4.0 / 3.0 * math.pi * radius**3


def classical_voxels(
    settings: ClassicalSettings, voxel_size_um: tuple[float, float, float], diameter_um: float | None
) -> ClassicalVoxels:
    """Convert the classical settings to voxels of a stack with ``voxel_size_um``.

    Settings given in px (``smoothing_sigma_px``, ``min_peak_distance_px``, ``min_area_px``) are
    px of the xy plane and are first turned into µm with the y voxel size.  Without
    ``min_volume_um3`` / ``max_volume_um3`` the volume bounds are those of a sphere whose central
    section has the 2-D area bound (``min_area_um2`` or ``min_area_px``, ``max_area_um2``).

    Parameters
    ----------
    settings : ClassicalSettings
        The ``segment.classical`` settings.
    voxel_size_um : tuple of float
        µm per voxel (z, y, x).
    diameter_um : float or None
        The cell diameter (µm), when known: sets the seed distance and seed smoothing as in 2-D.

    Returns
    -------
    ClassicalVoxels
        Lengths in voxels of each axis, volumes in voxels.

    Raises
    ------
    ValueError
        A voxel size that is not three positive finite numbers.
    """
    dz, dy, dx = _check_voxel_size(voxel_size_um)
    voxel_um3 = dz * dy * dx

    def per_axis(length_um: float) -> tuple[float, float, float]:
        return (length_um / dz, length_um / dy, length_um / dx)

    sigma_um = settings.smoothing_sigma_px * dy if settings.smoothing_sigma_um is None else settings.smoothing_sigma_um
    if diameter_um is not None:
        seed_um = settings.seed_distance_diameters * float(diameter_um)
    else:
        seed_um = settings.min_peak_distance_px * dy
    seed_smoothing_um = (
        settings.seed_smoothing_diameters * float(diameter_um)
        if diameter_um is not None and settings.seeds == "intensity"
        else 0.0
    )
    if settings.min_volume_um3 is not None:
        min_volume_um3 = float(settings.min_volume_um3)
    else:
        min_area_um2 = settings.min_area_px * dy * dx if settings.min_area_um2 is None else settings.min_area_um2
        min_volume_um3 = _sphere_volume_of_section(min_area_um2)
    if settings.max_volume_um3 is not None:
        max_volume_um3: float | None = float(settings.max_volume_um3)
    elif settings.max_area_um2 is not None:
        max_volume_um3 = _sphere_volume_of_section(settings.max_area_um2)
    else:
        max_volume_um3 = None
    return ClassicalVoxels(
        smoothing_sigma_vox=per_axis(float(sigma_um)),
        background_vox=per_axis(float(settings.background_um)) if settings.background != "none" else (0.0, 0.0, 0.0),
        min_peak_distance_um=float(seed_um),
        seed_smoothing_vox=per_axis(seed_smoothing_um),
        min_volume_vox=min_volume_um3 / voxel_um3,
        max_volume_vox=None if max_volume_um3 is None else max_volume_um3 / voxel_um3,
        object_smoothing_vox=per_axis(float(settings.object_smoothing_um))
        if settings.object_threshold is not None
        else (0.0, 0.0, 0.0),
    )


def _block_mean_nd(image: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """``image`` averaged over blocks of ``factors`` voxels per axis (edge blocks padded with the edge values)."""
    if all(f <= 1 for f in factors):
        return image
    blocks = [-(-n // f) for n, f in zip(image.shape, factors)]
    padded = np.pad(image, [(0, b * f - n) for n, b, f in zip(image.shape, blocks, factors)], mode="edge")
    shape = [v for b, f in zip(blocks, factors) for v in (b, f)]
    axes = tuple(range(1, 2 * image.ndim, 2))
    return padded.reshape(shape).mean(axis=axes, dtype=np.float64).astype(np.float32)


def _ellipsoid_footprint(radii: tuple[int, ...]) -> np.ndarray:
    """A boolean ellipsoid with ``radii`` voxels per axis (an axis of radius 0 is one voxel thick)."""
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    inside = np.zeros(tuple(2 * r + 1 for r in radii), dtype=np.float64)
    for grid, r in zip(grids, radii):
        if r > 0:
            inside = inside + (grid / r) ** 2
    return inside <= 1.0


def _background_3d(image: np.ndarray, kind: str, scale_vox: tuple[float, float, float]) -> np.ndarray:
    """The slowly varying background of a (z, y, x) stack, with the background scale in voxels per axis.

    'gaussian': the Gaussian blur of sigma ``scale_vox``; 'tophat': the grey opening by an ellipsoid of
    radii ``scale_vox`` averaged over its width.  As in 2-D, both run on a copy averaged over blocks of
    about a quarter sigma / an eighth of the radius per axis and are interpolated back.
    """
    from scipy import ndimage as ndi
    from skimage.transform import resize

    factors = tuple(max(1, int(s // (4 if kind == "gaussian" else 8))) for s in scale_vox)
    small = _block_mean_nd(image, factors)
    scale = tuple(s / f for s, f in zip(scale_vox, factors))
    if kind == "gaussian":
        small = ndi.gaussian_filter(small, scale, mode="reflect")
    else:
        radii = tuple(int(round(s)) for s in scale)
        small = ndi.grey_opening(small, footprint=_ellipsoid_footprint(radii), mode="reflect")
        small = ndi.uniform_filter(small, tuple(2 * r + 1 for r in radii), mode="reflect")
    if any(f > 1 for f in factors):
        small = resize(small, image.shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    return np.asarray(small, dtype=np.float32)


def _spaced_peaks(
    surface: np.ndarray, components: np.ndarray, voxel_size_um: tuple[float, float, float], distance_um: float
) -> np.ndarray:
    """Seed voxels of ``surface``: local maxima at least ``distance_um`` (µm) apart within each component.

    Candidates are the voxels of a component that equal the maximum of ``surface`` over the box inscribed
    in the ball of radius ``distance_um`` (half-sides ``distance_um / sqrt(3)`` in voxels per axis, at
    least 1; a box filter is separable, a ball of 27 x 27 px in the plane costs seconds per stack); they
    are taken from the highest down (ties in raster order), and each one taken removes the candidates of
    its component within ``distance_um``, measured in µm, so the spacing is the same along z as in the
    plane whatever the z step.
    """
    from scipy import ndimage as ndi
    from scipy.spatial import cKDTree

    # at least the 26 neighbours: a candidate is a local maximum even when the seed distance is below a voxel
    half = tuple(max(1, int(math.floor(distance_um / math.sqrt(3.0) / d))) for d in voxel_size_um)
    local_max = ndi.maximum_filter(surface, size=tuple(2 * h + 1 for h in half), mode="nearest")
    floor = float(surface[components > 0].min())
    candidates = np.flatnonzero(((surface == local_max) & (components > 0) & (surface > floor)).ravel())
    peaks = np.zeros(surface.shape, dtype=bool)
    if candidates.size == 0:
        return peaks
    values = surface.ravel()[candidates]
    candidates = candidates[np.argsort(-values, kind="stable")]
    coords = np.stack(np.unravel_index(candidates, surface.shape), axis=1)
    owner = components.ravel()[candidates]
    tree = cKDTree(coords * np.asarray(voxel_size_um, dtype=np.float64))
    suppressed = np.zeros(len(candidates), dtype=bool)
    for i in range(len(candidates)):
        if suppressed[i]:
            continue
        peaks.flat[candidates[i]] = True
        near = np.asarray(tree.query_ball_point(tree.data[i], distance_um), dtype=np.int64)
        suppressed[near[owner[near] == owner[i]]] = True
    return peaks


def segment_stack_classical(
    stack: ArrayLike,
    voxel_size_um: tuple[float, float, float],
    settings: ClassicalSettings,
    diameter_um: float | None = None,
) -> np.ndarray:
    """Classical segmentation of one (z, y, x) stack of normalized intensities with anisotropic voxels.

    The steps of the 2-D method (:func:`segment_frames_classical`) in 3-D: intensity transform,
    Gaussian smoothing (sigma in µm, converted per axis), background subtraction (scale in µm per
    axis), a global threshold over the stack, hole filling in 3-D, seeds, watershed inside the
    foreground, then (``settings.object_threshold``, by default 0.4) each object cut back to the voxels
    above a level of its own between the background around it and its peak, read on the untransformed
    stack smoothed by ``object_smoothing_um`` µm (:func:`_cut_to_object_levels`), and last the volume
    bounds.  ``voxel_size_um`` is the voxel size (µm, z, y, x): the distance to
    the background for 'distance' seeds is measured in µm (``sampling=(dz, dy, dx)``), and seeds are
    at least ``seed_distance_diameters * diameter_um`` (µm; without a diameter
    ``min_peak_distance_px`` px of the plane) apart in µm, so a z step several times the pixel
    changes neither.  Objects outside ``min_volume_um3`` .. ``max_volume_um3`` are removed (see
    :func:`classical_voxels` for the bounds when these are unset).

    Parameters
    ----------
    stack : array-like
        (Z, Y, X) normalized intensities (normalized units).
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    settings : ClassicalSettings
        The ``segment.classical`` settings (lengths in µm or px as each field says).
    diameter_um : float or None
        Nucleus diameter (µm); None: seeds ``min_peak_distance_px`` px apart.

    Returns
    -------
    numpy.ndarray
        (Z, Y, X) uint32 labels numbered 1..n, 0 for background.
    """
    from scipy import ndimage as ndi
    from skimage.filters import gaussian

    voxel = _check_voxel_size(voxel_size_um)
    image = np.asarray(stack, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"expected one (z, y, x) stack, got an array of shape {image.shape}")
    vox = classical_voxels(settings, voxel, diameter_um)
    intensity = _finite(image)
    image = _prepared_stack(intensity, settings, vox)
    labels = np.zeros(image.shape, dtype=np.uint32)
    if isinstance(settings.threshold, str) and float(image.max()) <= float(image.min()):
        return labels  # flat stack: no automatic threshold exists
    mask = image > _threshold_value(image, settings.threshold)
    if settings.fill_holes:
        mask = ndi.binary_fill_holes(mask)
    if not mask.any():
        return labels
    if settings.seeds == "distance":
        surface = ndi.distance_transform_edt(mask, sampling=voxel).astype(np.float32)
    elif any(s > 0 for s in vox.seed_smoothing_vox):
        surface = gaussian(image, sigma=vox.seed_smoothing_vox, preserve_range=True).astype(np.float32)
    else:
        surface = image
    components, n_components = ndi.label(mask)
    peak_mask = _spaced_peaks(surface, components, voxel, vox.min_peak_distance_um)
    if settings.object_threshold is None:
        labels[:] = _split_at_peaks(
            surface, mask, components, n_components, peak_mask, vox.min_volume_vox, vox.max_volume_vox
        )
        return labels
    # the size bounds are for the objects as they end, so they wait for the cut to each object's level
    split = _split_at_peaks(surface, mask, components, n_components, peak_mask, 0.0, None)
    del surface, components, image
    if any(s > 0 for s in vox.object_smoothing_vox):
        intensity = gaussian(intensity, sigma=vox.object_smoothing_vox, preserve_range=True).astype(np.float32)
    cut = _cut_to_object_levels(intensity, split, mask, settings.object_threshold, settings.fill_holes)
    labels[:] = _within_size_bounds(cut, vox.min_volume_vox, vox.max_volume_vox)
    return labels


#: The percentile of an object's voxels taken as its peak by :func:`_cut_to_object_levels`: robust to a few bright
#: voxels of noise or texture, and still inside the object's brightest part.
_OBJECT_PEAK_PERCENTILE = 95.0


def _cut_to_object_levels(
    intensity: np.ndarray, labels: np.ndarray, foreground: np.ndarray, level: float | str, fill_holes: bool
) -> np.ndarray:
    """Each object of ``labels`` cut back to its voxels of ``intensity`` at or above a level of its own.

    The level is taken from the object and the background around it: the voxels outside ``foreground`` in the
    object's bounding box grown by half its size along each axis (voxels), or, where that box holds fewer than
    ten of them, outside ``foreground`` anywhere in the stack (a stack that is all foreground: objects kept as
    they are).  ``level`` a number f: background median + f x
    (the object's 95th percentile - background median); 'otsu': Otsu's threshold of the object's voxels and
    those background voxels together.  A global threshold over a stack whose nuclei are blurred along z (and
    differ in brightness) lies far below the half-way level of most of them; each object's own level puts its
    surface where its edge is.  What is kept of an object is its largest 6-connected piece at or above the
    level (holes filled when ``fill_holes``, within the object's voxels); an object never vanishes (its
    brightest voxels pass any level below its peak, and an object with no voxel above is kept as it was).

    Parameters
    ----------
    intensity : numpy.ndarray
        (z, y, x) float32 intensities the levels are read on (normalized, smoothed).
    labels : numpy.ndarray
        (z, y, x) uint32 objects numbered 1..n.
    foreground : numpy.ndarray
        (z, y, x) bool, the global threshold's foreground (True inside ``labels``' objects and wherever else
        the threshold put foreground).
    level : float or 'otsu'
        The fraction of the way from background to peak (0 < f < 1), or 'otsu'.
    fill_holes : bool
        Fill the holes of each cut object.

    Returns
    -------
    numpy.ndarray
        (z, y, x) uint32, each object's kept voxels with its number, 0 elsewhere.
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    out = np.zeros(labels.shape, dtype=np.uint32)
    stack_background: float | None = None
    for number, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        grown = tuple(
            slice(max(0, s.start - (s.stop - s.start + 1) // 2), min(n, s.stop + (s.stop - s.start + 1) // 2))
            for s, n in zip(box, labels.shape)
        )
        values = intensity[grown]
        inside = labels[grown] == number
        around = ~foreground[grown]
        if int(np.count_nonzero(around)) >= 10:
            background = values[around]
        else:
            if stack_background is None:
                outside = ~foreground
                stack_background = float(np.median(intensity[outside])) if outside.any() else float("nan")
            background = np.asarray([stack_background], dtype=np.float32)
        if not np.isfinite(background).all():
            cut_at = -np.inf  # no background anywhere in the stack: nothing to set a level against
        elif level == "otsu":
            pooled = np.concatenate([values[inside], background])
            cut_at = float(threshold_otsu(pooled)) if float(pooled.max()) > float(pooled.min()) else -np.inf
        else:
            floor = float(np.median(background))
            peak = float(np.percentile(values[inside], _OBJECT_PEAK_PERCENTILE))
            cut_at = floor + float(level) * (peak - floor)
        keep = inside & (values >= np.float32(cut_at))
        if not keep.any():
            keep = inside
        pieces, n_pieces = ndi.label(keep)
        if n_pieces > 1:
            sizes = np.bincount(pieces.ravel())
            sizes[0] = 0
            keep = pieces == int(sizes.argmax())
        if fill_holes:
            keep = ndi.binary_fill_holes(keep) & inside
        out[grown][keep] = number
    return out


def _within_size_bounds(labels: np.ndarray, min_size: float, max_size: float | None) -> np.ndarray:
    """``labels`` without the objects smaller than ``min_size`` or larger than ``max_size`` (voxels), renumbered 1..n."""
    from skimage.segmentation import relabel_sequential

    sizes = np.bincount(labels.ravel())
    drop = sizes < min_size
    if max_size is not None:
        drop |= sizes > max_size
    drop[0] = False
    if drop.any():
        labels = labels.copy()
        labels[drop[labels]] = 0
    relabelled, _, _ = relabel_sequential(labels)
    return relabelled


#: At most this many voxels (float32, 16 MiB) are sampled from the cores of the blocks for the automatic threshold
#: of the block-wise method; a stack with more is sampled evenly (every k-th voxel of each core).
_THRESHOLD_SAMPLE_VOXELS = 1 << 22


def classical_blocks(
    shape: tuple[int, int, int],
    voxel_size_um: tuple[float, float, float],
    core_um: float,
    overlap_um: float,
) -> list[tuple[tuple[slice, slice, slice], tuple[slice, slice, slice]]]:
    """The overlapping blocks that tile a (z, y, x) stack for :func:`segment_stack_classical_blocks`.

    Parameters
    ----------
    shape : tuple of int
        The stack's shape (voxels, z, y, x).
    voxel_size_um : tuple of float
        µm per voxel (z, y, x).
    core_um : float
        Largest side of a block's core (µm); converted per axis and rounded up to whole voxels.
    overlap_um : float
        How far a block reaches past its core on every side (µm), rounded up to whole voxels per axis.

    Returns
    -------
    list of (block, core)
        Per block, its slices and its core's slices in stack coordinates (voxels); the cores tile the
        stack without overlap, as evenly as whole voxels allow, in raster order.
    """
    import itertools

    voxel = _check_voxel_size(voxel_size_um)
    if not (core_um > 0 and overlap_um >= 0):
        raise ValueError(f"block core ({core_um} µm) must be positive and overlap ({overlap_um} µm) not negative")
    per_axis = []
    for n, d in zip(shape, voxel):
        count = max(1, -(-int(n) // max(1, math.ceil(core_um / d))))
        edges = np.linspace(0, int(n), count + 1).round().astype(int)
        pad = math.ceil(overlap_um / d)
        per_axis.append(
            [(slice(max(0, a - pad), min(int(n), b + pad)), slice(a, b)) for a, b in zip(edges[:-1], edges[1:])]
        )
    return [
        (tuple(b for b, _ in combo), tuple(c for _, c in combo))  # type: ignore[misc]
        for combo in itertools.product(*per_axis)
    ]


def _prepared_stack(image: np.ndarray, settings: ClassicalSettings, vox: ClassicalVoxels) -> np.ndarray:
    """The image the classical 3-D method thresholds: finite, transformed, smoothed, background subtracted."""
    from skimage.filters import gaussian

    image = _transform_intensity(_finite(image), settings)
    if any(s > 0 for s in vox.smoothing_sigma_vox):
        image = gaussian(image, sigma=vox.smoothing_sigma_vox, preserve_range=True).astype(np.float32)
    if settings.background != "none":
        image = image - _background_3d(image, settings.background, vox.background_vox)
    return image


def segment_stack_classical_blocks(
    stack: ArrayLike,
    voxel_size_um: tuple[float, float, float],
    settings: ClassicalSettings,
    diameter_um: float | None = None,
) -> np.ndarray:
    """:func:`segment_stack_classical` block by block, for (z, y, x) stacks too large for one pass.

    The stack is cut into the blocks of :func:`classical_blocks` (cores of ``settings.block_size_um`` µm,
    reaching ``settings.block_overlap_um`` µm past them, or one cell diameter ``diameter_um`` when that is
    unset).  An automatic threshold is computed once, on the prepared image (transformed, smoothed,
    background subtracted) of the blocks' cores, sampled evenly down to at most 4 Mi voxels, so every
    block thresholds at the same value as one pass would; a fixed threshold is used as it is.  Each block
    is then segmented by :func:`segment_stack_classical` with that threshold, and an object is kept from
    the block whose core holds the voxel of its centroid: the cores tile the stack, so each object is kept
    once, from the block where it lies at least the overlap from the block's inner faces.  Where objects
    kept from two blocks claim the same voxel, the one kept first (blocks in raster order) keeps it.
    Objects are numbered 1..n in the raster order of their centroid voxels (z, then y, then x).

    Smoothing and seeds reach less than the overlap, so they match one pass; the background
    ('gaussian', 'tophat') is computed per block and differs from one pass near the blocks' faces when
    ``background_um`` is not small against the core.  Peak memory is that of one pass over one block,
    plus the stack itself and its (z, y, x) uint32 labels.

    Parameters
    ----------
    stack : array_like
        One (z, y, x) stack of normalized intensities.
    voxel_size_um : tuple of float
        µm per voxel (z, y, x).
    settings : ClassicalSettings
        The classical settings; ``block_size_um`` must be set.
    diameter_um : float or None
        The cell diameter (µm), as for :func:`segment_stack_classical`; the overlap when
        ``block_overlap_um`` is unset.

    Returns
    -------
    numpy.ndarray
        (z, y, x) uint32 labels numbered 1..n.

    Raises
    ------
    ValueError
        No ``block_size_um``, or neither ``block_overlap_um`` nor a diameter, or a stack that is not 3-D.
    """
    voxel = _check_voxel_size(voxel_size_um)
    image = np.asarray(stack)
    if image.ndim != 3:
        raise ValueError(f"expected one (z, y, x) stack, got an array of shape {image.shape}")
    if settings.block_size_um is None:
        raise ValueError("segment.classical.block_size_um is not set: use segment_stack_classical")
    overlap_um = settings.block_overlap_um if settings.block_overlap_um is not None else diameter_um
    if overlap_um is None:
        raise ValueError("block-wise segmentation needs segment.classical.block_overlap_um or a cell diameter (µm)")
    blocks = classical_blocks(image.shape, voxel, float(settings.block_size_um), float(overlap_um))
    vox = classical_voxels(settings, voxel, diameter_um)

    def local(core: tuple[slice, ...], block: tuple[slice, ...]) -> tuple[slice, ...]:
        return tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(core, block))

    fixed = settings
    if isinstance(settings.threshold, str):
        step = max(1, -(-image.size // _THRESHOLD_SAMPLE_VOXELS))
        samples = []
        for block, core in blocks:
            prepared = _prepared_stack(np.asarray(image[block], dtype=np.float32), settings, vox)
            samples.append(np.ascontiguousarray(prepared[local(core, block)]).ravel()[::step].copy())
            del prepared
        sample = np.concatenate(samples)
        del samples
        if float(sample.max()) <= float(sample.min()):
            return np.zeros(image.shape, dtype=np.uint32)  # flat stack: no automatic threshold exists
        fixed = settings.model_copy(update={"threshold": _threshold_value(sample, settings.threshold)})
        del sample

    return merge_blocks(image.shape, blocks, lambda block: segment_stack_classical(image[block], voxel, fixed, diameter_um))


def segment_stacks_classical(
    stacks: ArrayLike,
    voxel_size_um: tuple[float, float, float],
    settings: ClassicalSettings,
    diameter_um: float | None = None,
) -> np.ndarray:
    """:func:`segment_stack_classical` on every stack of a (T, Z, Y, X) movie of normalized intensities.

    ``stacks`` may be any array with ``shape`` whose ``stacks[t]`` reads one stack (numpy, zarr), so only
    one stack is read at a time.

    Parameters
    ----------
    stacks : array-like
        (T, Z, Y, X) normalized intensities of one channel (normalized units).
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    settings : ClassicalSettings
        The ``segment.classical`` settings.
    diameter_um : float or None
        Nucleus diameter (µm); None: seeds ``min_peak_distance_px`` px apart.

    Returns
    -------
    numpy.ndarray
        (T, Z, Y, X) uint32 labels numbered 1..n in every stack.
    """
    return _segment_each_stack(
        stacks, lambda stack: segment_stack_classical(stack, voxel_size_um, settings, diameter_um)
    )
