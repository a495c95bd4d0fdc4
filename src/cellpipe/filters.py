"""Object quality filters applied to every frame's labels after segmentation, whatever the method.

Segmenters find things annotators do not count: fragments beside bright nuclei, specks of
noise, faint out-of-focus cells, cells cut by the image border.  :func:`filter_objects` removes
the objects of one frame that fail the checks of :class:`ObjectFilterSettings` and says how
many each check removed, so the run records it per frame (``segmentation.json``, ``qc.json``).

The checks, in physical units where they have one:

* **area**: an object's area against the area of a disc of the expected cell diameter
  (``min_area_fraction``, ``max_area_fraction``; no unit; objects touching the border are
  exempt from the lower bound, being cut), so the bounds follow the cell size given for the movie
  (``segment.diameter_um``, the sample sheet's ``diameter_um`` or the
  automatic estimate);
* **contrast**: the object's mean intensity minus the mean intensity of the background ring
  around it (background pixels within ``ring_fraction`` of a diameter of the object, each
  background pixel counted for its nearest object), in the normalized intensity units the
  segmentation saw (0 = the movie's low percentile, 1 = its high percentile);
* **border**: objects touching the image border are kept (``'keep'``) or removed (``'remove'``).

An object is counted under the first check it fails, in the order area, contrast, border.
Surviving objects are renumbered 1..n in the order of their labels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cellpipe.config import ObjectFilterSettings

__all__ = ["FILTER_REASONS", "filter_objects", "object_contrast", "summarize_removed", "touching_border"]

#: The checks of :func:`filter_objects`, in the order they are applied (keys of its counts).
FILTER_REASONS: tuple[str, ...] = ("too_small", "too_large", "low_contrast", "touches_border")

#: Background ring width (px) when no diameter is known.
_DEFAULT_RING_PX = 5.0


def object_contrast(labels: np.ndarray, image: np.ndarray, ring_px: float) -> np.ndarray:
    """Contrast of every label 0..max: mean of ``image`` inside minus mean over its background ring.

    The ring of an object is the background pixels (label 0) within ``ring_px`` of it whose
    nearest object it is.  An object with no background around it (it fills its surroundings)
    gets the mean of the whole frame's background; a frame without background gets contrast 0.

    Parameters
    ----------
    labels : numpy.ndarray of int
        (Y, X) instance labels of one frame (px); 0 is background.
    image : numpy.ndarray
        (Y, X) intensities of the same frame, in any intensity unit.
    ring_px : float
        Width of the background ring around each object (px).

    Returns
    -------
    numpy.ndarray
        float64, one value per label 0..max in the intensity units of ``image``; index 0 is 0.
    """
    from scipy import ndimage as ndi

    n = int(labels.max())
    flat_labels = labels.ravel()
    values = image.ravel().astype(np.float64)
    area = np.bincount(flat_labels, minlength=n + 1)
    inside = np.bincount(flat_labels, weights=values, minlength=n + 1)
    background = labels == 0
    if not background.any():
        return np.zeros(n + 1)
    distance, (iy, ix) = ndi.distance_transform_edt(background, return_indices=True)
    ring = background & (distance <= ring_px)
    nearest = labels[iy[ring], ix[ring]]
    ring_area = np.bincount(nearest, minlength=n + 1)
    ring_sum = np.bincount(nearest, weights=image[ring].astype(np.float64), minlength=n + 1)
    fallback = float(values[background.ravel()].mean())
    ring_mean = np.where(ring_area > 0, ring_sum / np.maximum(ring_area, 1), fallback)
    contrast = inside / np.maximum(area, 1) - ring_mean
    contrast[0] = 0.0
    return contrast


def touching_border(labels: np.ndarray) -> np.ndarray:
    """For every label 0..max of one frame: does it touch the image border.

    Parameters
    ----------
    labels : numpy.ndarray of int
        (Y, X) instance labels of one frame (px); 0 is background.

    Returns
    -------
    numpy.ndarray of bool
        One value per label 0..max: True where the object has a pixel in the first or last row or
        column; index 0 is False.
    """
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.zeros(int(labels.max()) + 1, dtype=bool)
    touching[edge] = True
    touching[0] = False
    return touching


def filter_objects(
    labels: np.ndarray, image: np.ndarray | None, settings: ObjectFilterSettings, diameter_px: float | None
) -> tuple[np.ndarray, dict[str, int]]:
    """Remove the objects of one frame that fail the quality checks; return the labels and counts.

    Parameters
    ----------
    labels : numpy.ndarray of int
        (Y, X) instance labels of one frame (px); 0 is background.
    image : numpy.ndarray or None
        (Y, X) the normalized intensities the segmentation saw (0 = the movie's low percentile,
        1 = its high percentile); needed only by the contrast check, None is fine without it.
    settings : ObjectFilterSettings
        Which checks run and their bounds (area fractions, contrast in normalized intensity,
        ring width as a fraction of the diameter, border handling).
    diameter_px : float or None
        The expected cell diameter (px); None when unknown: the area checks are skipped and the
        background ring is 5 px wide.

    Returns
    -------
    labels : numpy.ndarray
        (Y, X) uint32 labels (px) of the objects kept, numbered 1..n in the order of their labels.
    counts : dict of str to int
        The number of objects each check removed, keyed by :data:`FILTER_REASONS`.
    """
    from skimage.segmentation import relabel_sequential

    labels = np.asarray(labels)
    counts = dict.fromkeys(FILTER_REASONS, 0)
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return labels.astype(np.uint32, copy=False), counts
    reason = np.full(n + 1, -1, dtype=np.int64)  # index into FILTER_REASONS, -1: kept
    present = np.bincount(labels.ravel(), minlength=n + 1) > 0
    present[0] = False

    def mark(failing: np.ndarray, what: str) -> None:
        new = failing & present & (reason < 0)
        reason[new] = FILTER_REASONS.index(what)

    if diameter_px is not None and diameter_px > 0:
        disc = math.pi * (0.5 * diameter_px) ** 2
        area = np.bincount(labels.ravel(), minlength=n + 1)
        if settings.min_area_fraction is not None:  # a cell cut by the border may show little of itself
            mark((area < settings.min_area_fraction * disc) & ~touching_border(labels), "too_small")
        if settings.max_area_fraction is not None:
            mark(area > settings.max_area_fraction * disc, "too_large")
    if settings.min_contrast is not None:
        if image is None:
            raise ValueError("the contrast check (min_contrast) needs the frame's intensities")
        ring_px = settings.ring_fraction * diameter_px if diameter_px else _DEFAULT_RING_PX
        contrast = object_contrast(labels, np.asarray(image, dtype=np.float32), max(1.0, ring_px))
        mark(contrast < settings.min_contrast, "low_contrast")
    if settings.border == "remove":
        mark(touching_border(labels), "touches_border")
    removed = np.flatnonzero(reason >= 0)
    for index in reason[removed]:
        counts[FILTER_REASONS[int(index)]] += 1
    if removed.size:
        keep = reason < 0
        keep[0] = True
        labels = np.where(keep[labels], labels, 0)
    relabelled, _, _ = relabel_sequential(labels.astype(np.uint32, copy=False))
    return relabelled.astype(np.uint32, copy=False), counts


def summarize_removed(per_frame: list[dict[str, Any]]) -> dict[str, int]:
    """Objects removed per check over all frames.

    Parameters
    ----------
    per_frame : list of dict
        One row per frame holding the counts of :func:`filter_objects` (objects) under
        :data:`FILTER_REASONS`; a missing key counts 0.

    Returns
    -------
    dict of str to int
        Objects removed by each check over all frames, keyed by :data:`FILTER_REASONS`.
    """
    return {what: int(sum(int(row.get(what, 0)) for row in per_frame)) for what in FILTER_REASONS}
