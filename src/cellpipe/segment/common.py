"""What every segmentation method shares: frames and stacks read one at a time, the diameter in px, blocks merged.

Frames are (T, Y, X) and stacks (T, Z, Y, X) arrays of normalized intensities, any array with ``shape`` whose
``[t]`` reads one frame or stack (numpy, zarr); voxel sizes are (z, y, x) in µm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import SegmentSettings


def diameter_in_px(settings: SegmentSettings, pixel_size_um: float) -> float | None:
    """The cell diameter in px: ``diameter_px``, or ``diameter_um / pixel_size_um`` (µm / (µm/px)), or None.

    Parameters
    ----------
    settings : SegmentSettings
        Segmentation settings (``diameter_px`` in px, ``diameter_um`` in µm).
    pixel_size_um : float
        Pixel size (µm/px); checked only when ``diameter_um`` needs it.

    Returns
    -------
    float or None
        The diameter (px); None when the settings give none.

    Raises
    ------
    ValueError
        ``diameter_um`` is given and the pixel size is not a positive finite number.
    """
    if settings.diameter_px is not None:
        return float(settings.diameter_px)
    if settings.diameter_um is not None:
        if not (pixel_size_um > 0 and math.isfinite(pixel_size_um)):
            raise ValueError(f"pixel size must be a positive number of µm, got {pixel_size_um}")
        return float(settings.diameter_um) / float(pixel_size_um)
    return None


def _as_frames(frames: ArrayLike) -> Any:
    if hasattr(frames, "shape") and hasattr(frames, "__getitem__"):
        return frames
    return np.asarray(frames)


def _frames_shape(frames: Any) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in frames.shape)
    if len(shape) != 3:
        raise ValueError(f"expected (T, Y, X) frames of one channel, got an array of shape {shape}")
    return shape  # type: ignore[return-value]


def _stacks_shape(stacks: Any) -> tuple[int, int, int, int]:
    shape = tuple(int(n) for n in stacks.shape)
    if len(shape) != 4:
        raise ValueError(f"expected (T, Z, Y, X) stacks of one channel, got an array of shape {shape}")
    return shape  # type: ignore[return-value]


def iter_stacks(stacks: ArrayLike, segment_one: Callable[[np.ndarray], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """``(t, segment_one(stacks[t]))`` for every stack of a (T, Z, Y, X) movie of one channel, in order.

    ``stacks`` may be any array with ``shape`` whose ``stacks[t]`` reads one (Z, Y, X) stack (numpy, zarr), so
    only one stack is read at a time; ``segment_one`` turns one stack into its (Z, Y, X) labels.  The shape is
    checked before the first stack is read.

    Parameters
    ----------
    stacks : array-like
        (T, Z, Y, X) movie of one channel.
    segment_one : callable
        Turns one (Z, Y, X) stack into its (Z, Y, X) labels.

    Yields
    ------
    tuple of (int, numpy.ndarray)
        The frame index (0-based) and that stack's labels.

    Raises
    ------
    ValueError
        ``stacks`` is not 4-D.
    """
    stacks = _as_frames(stacks)
    for t in range(_stacks_shape(stacks)[0]):
        yield t, segment_one(np.asarray(stacks[t]))


def _segment_each_stack(stacks: ArrayLike, segment_one: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(T, Z, Y, X) uint32 labels of every stack of ``stacks`` (:func:`iter_stacks`), in one array."""
    stacks = _as_frames(stacks)
    out = np.zeros(_stacks_shape(stacks), dtype=np.uint32)
    for t, labels in iter_stacks(stacks, segment_one):
        out[t] = labels
    return out


def merge_blocks(
    shape: tuple[int, int, int],
    blocks: list[tuple[tuple[slice, slice, slice], tuple[slice, slice, slice]]],
    segment_block: Callable[[tuple[slice, slice, slice]], np.ndarray],
) -> np.ndarray:
    """One (z, y, x) label image from the labels of overlapping blocks (:func:`classical_blocks`).

    ``segment_block(block)`` returns the labels (0 = background) of the block ``block`` (slices of the stack,
    voxels); blocks are segmented one at a time, in order.  An object is kept from the block whose core holds
    the voxel of its centroid: the cores tile the stack, so each object is kept once, from the block where it
    lies at least the overlap from the block's inner faces, and an object cut by a block's face has its
    centroid outside that block's core when the overlap reaches past the object's radius.  Where objects kept
    from two blocks claim the same voxel, the one kept first (blocks in raster order) keeps it.  Objects are
    numbered 1..n in the raster order of their centroid voxels (z, then y, then x).  Holds the (z, y, x)
    uint32 labels and one block's labels at a time.

    Parameters
    ----------
    shape : tuple of int
        The stack's (z, y, x) shape (voxels).
    blocks : list of (block, core)
        Each block's slices of the stack and the slices of its core (voxels), as :func:`classical_blocks` gives them.
    segment_block : callable
        Takes a block's slices and returns its (z, y, x) labels, of the block's shape.

    Returns
    -------
    numpy.ndarray
        (z, y, x) uint32 labels of the whole stack, 0 = background.
    """
    labels = np.zeros(shape, dtype=np.uint32)
    kept: list[tuple[int, int]] = []  # (raster index of the centroid voxel, id in ``labels``)
    for block, core in blocks:
        part = np.asarray(segment_block(block))
        n = int(part.max())
        if n == 0:
            continue
        sizes = np.bincount(part.ravel(), minlength=n + 1).astype(np.float64)
        centre = []
        for axis in range(3):
            # per-label sum of the coordinate along ``axis``, from the per-plane counts: no (z, y, x) index arrays
            per_plane = np.stack([np.bincount(np.take(part, i, axis=axis).ravel(), minlength=n + 1)
                                  for i in range(part.shape[axis])])
            centre.append((per_plane * np.arange(part.shape[axis])[:, None]).sum(axis=0) / np.maximum(sizes, 1)
                          + block[axis].start)
        voxel_of = np.floor(np.stack(centre, axis=1) + 0.5).astype(np.int64)  # (n + 1, 3), row 0 unused
        inside = np.ones(n + 1, dtype=bool)
        for axis in range(3):
            inside &= (voxel_of[:, axis] >= core[axis].start) & (voxel_of[:, axis] < core[axis].stop)
        inside[0] = False
        lookup = np.zeros(n + 1, dtype=np.uint32)
        for i in np.flatnonzero(inside):
            kept.append((int(np.ravel_multi_index(tuple(voxel_of[i]), shape)), len(kept) + 1))
            lookup[i] = len(kept)
        mapped = lookup[part]
        region = labels[block]
        free = (mapped > 0) & (region == 0)
        region[free] = mapped[free]
        del part, mapped, free
    present = np.bincount(labels.ravel(), minlength=len(kept) + 1)[1:] > 0 if kept else np.zeros(0, dtype=bool)
    order = sorted((raster, old) for raster, old in kept if present[old - 1])
    final = np.zeros(len(kept) + 1, dtype=np.uint32)
    for new, (_, old) in enumerate(order, start=1):
        final[old] = new
    for z in range(labels.shape[0]):  # plane by plane: no second (z, y, x) array
        labels[z] = final[labels[z]]
    return labels


def _finite(image: np.ndarray) -> np.ndarray:
    """``image`` with its NaN and infinite voxels set to its smallest finite value (0 when it has none)."""
    finite = np.isfinite(image)
    if finite.all():
        return image
    return np.where(finite, image, np.min(image[finite]) if finite.any() else 0.0).astype(np.float32)


def _check_voxel_size(voxel_size_um: tuple[float, float, float]) -> tuple[float, float, float]:
    sizes = tuple(float(v) for v in voxel_size_um)
    if len(sizes) != 3 or not all(v > 0 and math.isfinite(v) for v in sizes):
        raise ValueError(f"voxel size must be three positive numbers of µm (z, y, x), got {voxel_size_um}")
    return sizes  # type: ignore[return-value]


def _threshold_value(image: np.ndarray, method: str | float) -> float:
    if isinstance(method, str):
        from skimage import filters

        thresholds = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "triangle": filters.threshold_triangle}
        return float(thresholds[method](image))
    return float(method)
