"""Classical segmentation of 2-D frames: intensity transform, smoothing, background, threshold, seeds, watershed.

An optional intensity transform (log or gamma of the normalized intensities), Gaussian smoothing (µm), optional
background subtraction (large Gaussian or white top-hat, µm), a global threshold (Otsu, Li, triangle or a fixed
value), hole filling, one seed per local maximum of the distance to the background (round nuclei) or of the
smoothed intensity (irregular whole cells), at least a fraction of the cell diameter apart, watershed inside the
foreground, size bounds (px or µm²).  Lengths are resolved to px once per movie (:func:`classical_pixels`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import ClassicalSettings
from cellpipe.segment.common import _as_frames, _frames_shape, _threshold_value


@dataclass(frozen=True)
class ClassicalPixels:
    """The lengths and areas of :class:`ClassicalSettings` in pixels, resolved once per movie."""

    smoothing_sigma_px: float
    background_px: float
    min_peak_distance_px: int
    seed_smoothing_px: float
    min_area_px: float
    max_area_px: float | None


def classical_pixels(settings: ClassicalSettings, pixel_size_um: float, diameter_px: float | None) -> ClassicalPixels:
    """Convert the µm and diameter-relative classical settings to px.

    The pixel size is only checked when a setting in µm needs it.

    Parameters
    ----------
    settings : ClassicalSettings
        The ``segment.classical`` settings (µm, µm², px, diameters).
    pixel_size_um : float
        Pixel size (µm/px).
    diameter_px : float or None
        The cell diameter (px), when known.

    Returns
    -------
    ClassicalPixels
        The lengths (px) and areas (px²).

    Raises
    ------
    ValueError
        A setting in µm needs the pixel size and it is not a positive finite number.
    """

    def px(length_um: float) -> float:
        if not (pixel_size_um > 0 and math.isfinite(pixel_size_um)):
            raise ValueError(f"pixel size must be a positive number of µm, got {pixel_size_um}")
        return float(length_um) / float(pixel_size_um)

    sigma = settings.smoothing_sigma_px if settings.smoothing_sigma_um is None else px(settings.smoothing_sigma_um)
    return ClassicalPixels(
        smoothing_sigma_px=float(sigma),
        background_px=px(settings.background_um) if settings.background != "none" else 0.0,
        min_peak_distance_px=_min_peak_distance(settings, diameter_px),
        seed_smoothing_px=settings.seed_smoothing_diameters * diameter_px
        if diameter_px is not None and settings.seeds == "intensity"
        else 0.0,
        min_area_px=float(settings.min_area_px) if settings.min_area_um2 is None else px(px(settings.min_area_um2)),
        max_area_px=None if settings.max_area_um2 is None else px(px(settings.max_area_um2)),
    )


def _transform_intensity(image: np.ndarray, settings: ClassicalSettings) -> np.ndarray:
    if settings.intensity_transform == "log":
        return np.log(np.maximum(image, np.float32(settings.log_floor))).astype(np.float32)
    if settings.intensity_transform == "gamma":
        return np.power(np.maximum(image, np.float32(0.0)), np.float32(settings.gamma)).astype(np.float32)
    return image


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` averaged over blocks of ``factor`` x ``factor`` px (edge blocks padded with the edge values)."""
    if factor <= 1:
        return image
    ny, nx = -(-image.shape[0] // factor), -(-image.shape[1] // factor)
    padded = np.pad(image, ((0, ny * factor - image.shape[0]), (0, nx * factor - image.shape[1])), mode="edge")
    return padded.reshape(ny, factor, nx, factor).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def _background(image: np.ndarray, kind: str, scale_px: float) -> np.ndarray:
    """The slowly varying background of ``image``, by Gaussian blur or grey opening.

    Its Gaussian blur of sigma ``scale_px`` ('gaussian'), or its grey opening by a disk of radius
    ``scale_px`` averaged over the disk's width ('tophat').  Both are computed on a copy averaged over
    blocks of about a quarter sigma / an eighth of the radius and interpolated back, which changes a
    background that varies over ``scale_px`` little and costs a fraction of full resolution.
    """
    from scipy import ndimage as ndi
    from skimage.morphology import disk
    from skimage.transform import resize

    factor = max(1, int(scale_px // (4 if kind == "gaussian" else 8)))
    small = _block_mean(image, factor)
    scale = scale_px / factor
    if kind == "gaussian":
        small = ndi.gaussian_filter(small, scale, mode="reflect")
    else:
        radius = max(1, int(round(scale)))
        small = ndi.grey_opening(small, footprint=disk(radius), mode="reflect")
        small = ndi.uniform_filter(small, 2 * radius + 1, mode="reflect")
    if factor > 1:
        small = resize(small, image.shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    return small.astype(np.float32)


def _segment_frame_classical(frame: np.ndarray, settings: ClassicalSettings, px: ClassicalPixels) -> np.ndarray:
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian

    image = np.asarray(frame, dtype=np.float32)
    finite = np.isfinite(image)
    if not finite.all():
        image = np.where(finite, image, np.min(image[finite]) if finite.any() else 0.0).astype(np.float32)
    image = _transform_intensity(image, settings)
    if px.smoothing_sigma_px > 0:
        image = gaussian(image, sigma=px.smoothing_sigma_px, preserve_range=True).astype(np.float32)
    if settings.background != "none":
        image = image - _background(image, settings.background, px.background_px)
    labels = np.zeros(image.shape, dtype=np.uint32)
    if isinstance(settings.threshold, str) and float(image.max()) <= float(image.min()):
        return labels  # flat frame: no automatic threshold exists
    mask = image > _threshold_value(image, settings.threshold)
    if settings.fill_holes:
        mask = ndi.binary_fill_holes(mask)
    if not mask.any():
        return labels
    if settings.seeds == "distance":
        surface = ndi.distance_transform_edt(mask)
    elif px.seed_smoothing_px > 0:
        surface = gaussian(image, sigma=px.seed_smoothing_px, preserve_range=True).astype(np.float32)
    else:
        surface = image
    components, n_components = ndi.label(mask)
    peaks = peak_local_max(surface, min_distance=px.min_peak_distance_px, labels=components, exclude_border=False)
    peak_mask = np.zeros(mask.shape, dtype=bool)
    peak_mask[tuple(peaks.T)] = True
    labels[:] = _split_at_peaks(surface, mask, components, n_components, peak_mask, px.min_area_px, px.max_area_px)
    return labels


def _split_at_peaks(
    surface: np.ndarray,
    mask: np.ndarray,
    components: np.ndarray,
    n_components: int,
    peak_mask: np.ndarray,
    min_size: float,
    max_size: float | None,
) -> np.ndarray:
    """Watershed of the foreground from its peaks, objects out of the size bounds removed.

    The classical method's last step, in 2-D and 3-D alike.

    Parameters
    ----------
    surface : numpy.ndarray
        (Y, X) or (Z, Y, X) seed surface (distance in px or µm, or smoothed intensity), flooded from its maxima.
    mask : numpy.ndarray
        Foreground, the same shape.
    components : numpy.ndarray
        Connected components of ``mask`` (``ndi.label``), numbered 1 .. ``n_components``.
    n_components : int
        How many components ``components`` holds.
    peak_mask : numpy.ndarray
        The seeds found, True at each; completed in place so that every component has one (its maximum).
    min_size, max_size : float, float or None
        Size bounds in px (2-D) or voxels (3-D); None: no upper bound.

    Returns
    -------
    numpy.ndarray
        Labels numbered 1 .. n without gaps, 0 for background.
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import relabel_sequential, watershed

    # every component gets a marker, even one without a strict local maximum
    has_peak = np.zeros(n_components + 1, dtype=bool)
    has_peak[components[peak_mask]] = True
    lacking = np.flatnonzero(~has_peak[1:]) + 1
    if lacking.size:
        for position in ndi.maximum_position(surface, components, lacking):
            peak_mask[position] = True
    markers, _ = ndi.label(peak_mask)  # adjacent peak pixels (plateaus) form one marker
    split = watershed(-surface, markers, mask=mask)
    sizes = np.bincount(split.ravel())
    drop = sizes < min_size
    if max_size is not None:
        drop |= sizes > max_size
    drop[0] = False
    if drop.any():
        split[drop[split]] = 0
    relabelled, _, _ = relabel_sequential(split)
    return relabelled


def _min_peak_distance(settings: ClassicalSettings, diameter_px: float | None) -> int:
    """``seed_distance_diameters`` times the cell diameter (px) when known, else ``settings.min_peak_distance_px``."""
    if diameter_px is not None:
        return max(1, int(round(settings.seed_distance_diameters * diameter_px)))
    return settings.min_peak_distance_px


def _iter_frames_classical(
    frames: Any, settings: ClassicalSettings, pixel_size_um: float, diameter_px: float | None
) -> Iterator[tuple[int, np.ndarray]]:
    px = classical_pixels(settings, pixel_size_um, diameter_px)
    for t in range(_frames_shape(frames)[0]):
        yield t, _segment_frame_classical(np.asarray(frames[t]), settings, px)


def segment_frames_classical(
    frames: ArrayLike, settings: ClassicalSettings, pixel_size_um: float, diameter_px: float | None = None
) -> np.ndarray:
    """Classical segmentation of (T, Y, X) normalized frames, frame by frame.

    Per frame: intensity transform, Gaussian smoothing, background subtraction, global threshold,
    hole filling, watershed from distance or intensity seeds, size bounds (see
    :class:`ClassicalSettings`).

    Parameters
    ----------
    frames : array_like
        (T, Y, X) normalized intensities.
    settings : ClassicalSettings
        The ``segment.classical`` settings.
    pixel_size_um : float
        Pixel size (µm/px): converts the settings in µm and µm².
    diameter_px : float, optional
        The cell diameter (px), when known: sets the smallest distance between two seeds to
        ``settings.seed_distance_diameters`` times it (otherwise ``settings.min_peak_distance_px``)
        and the seed smoothing.

    Returns
    -------
    numpy.ndarray
        (T, Y, X) uint32 labels numbered 1..n in every frame.
    """
    frames = _as_frames(frames)
    out = np.zeros(_frames_shape(frames), dtype=np.uint32)
    for t, labels in _iter_frames_classical(frames, settings, pixel_size_um, diameter_px):
        out[t] = labels
    return out
