"""Instance-segmentation scores computed with the field's own code (Cellpose's matching).

Cellpose's ``metrics.average_precision`` counts the objects of a label image
as its largest label, so label images with gaps in their numbering (Cell
Tracking Challenge masks carry track ids; a cropped or filtered mask loses
labels) would be scored against objects that do not exist.  The functions
here renumber both images to 1..n first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from skimage.segmentation import relabel_sequential

__all__ = ["instance_scores", "sequential_labels"]


def sequential_labels(labels: ArrayLike) -> np.ndarray:
    """The same objects numbered 1..n (0 stays background).

    Parameters
    ----------
    labels : array_like of int
        Instance label image (any shape, px); 0 is background, negative values are refused.

    Returns
    -------
    numpy.ndarray
        int32 label image of the same shape (px), objects numbered 1..n in the order of their labels.
    """
    array = np.asarray(labels)
    if array.size and array.min() < 0:
        raise ValueError("label images must not contain negative values")
    relabelled, _, _ = relabel_sequential(array.astype(np.int64, copy=False))
    return relabelled.astype(np.int32)


def instance_scores(
    true_labels: ArrayLike, predicted_labels: ArrayLike, thresholds: Sequence[float] = (0.5, 0.75)
) -> dict[str, dict[str, float]]:
    """Average precision, true/false positives and false negatives of one label image at IoU thresholds.

    AP is Cellpose's (and the DSB 2018 challenge's) definition, TP / (TP + FP + FN), with
    objects matched one-to-one at IoU >= threshold.

    Parameters
    ----------
    true_labels : array_like of int
        Ground-truth instance label image (px); 0 is background, numbering may have gaps.
    predicted_labels : array_like of int
        Predicted instance label image of the same shape (px).
    thresholds : sequence of float
        IoU thresholds (fractions, 0..1) at which objects are matched.

    Returns
    -------
    dict
        ``{"0.5": {"ap": ..., "tp": ..., "fp": ..., "fn": ...}, ...}`` keyed by threshold (``f"{t:g}"``):
        AP a fraction (NaN when both images are empty), the others counts of objects.
    """
    from cellpose.metrics import average_precision

    true = sequential_labels(true_labels)
    pred = sequential_labels(predicted_labels)
    if true.shape != pred.shape:
        raise ValueError(f"label images differ in shape: {true.shape} and {pred.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty frame on both sides: AP 0/0, reported as NaN
        ap, tp, fp, fn = average_precision([true], [pred], threshold=list(thresholds))
    return {
        f"{t:g}": {"ap": float(ap[0][i]), "tp": float(tp[0][i]), "fp": float(fp[0][i]), "fn": float(fn[0][i])}
        for i, t in enumerate(thresholds)
    }


def best_match_ious(reference: ArrayLike, found: ArrayLike) -> list[float]:
    """For each object of ``reference``, the IoU of the object of ``found`` that covers most of it.

    Parameters
    ----------
    reference : array_like of int
        Label image (px or voxels), 0 = background; objects 1 .. max are scored, a missing value
        scores 0.
    found : array_like of int
        Label image of the same shape, 0 = background.

    Returns
    -------
    list of float
        One IoU per label value 1 .. ``reference.max()``: 0 when no object of ``found`` overlaps it.
    """
    reference = np.asarray(reference)
    found = np.asarray(found)
    out = []
    for i in range(1, int(reference.max(initial=0)) + 1):
        mask = reference == i
        hits = np.bincount(found[mask].ravel(), minlength=1)
        hits[0] = 0
        if hits.max() == 0:
            out.append(0.0)
            continue
        other = found == hits.argmax()
        out.append(float((mask & other).sum() / (mask | other).sum()))
    return out
