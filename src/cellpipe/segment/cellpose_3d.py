"""Cellpose on (Z, Y, X) stacks: per-plane masks stitched across z, or Cellpose's 3-D flows in blocks.

``segment.cellpose.mode_3d``: 'stitch' joins per-plane masks across z by IoU (:func:`stitch_planes`), 'do_3d'
runs Cellpose's 3-D flows with ``anisotropy`` = z step / pixel (:func:`cellpose_anisotropy`), in blocks of
``segment.cellpose.block_size_um`` µm where given (:func:`cellpose_blocks`).  Voxel sizes in µm (z, y, x).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import CellposeSettings
from cellpipe.segment.cellpose import _cellpose_run_info, _iter_frames_cellpose
from cellpipe.segment.classical_3d import classical_blocks
from cellpipe.segment.common import _check_voxel_size, _segment_each_stack, merge_blocks
from cellpipe.segment.device import _deterministic_torch, _device_of
from cellpipe.segment.models import _cellpose_diameter, _model_diam_mean, _network_tile_px, model_network
from cellpipe.segment.runtime import _network_megapixels, _tiles_per_frame, effective_batch_size, network_runtime
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)


def cellpose_anisotropy(voxel_size_um: tuple[float, float, float]) -> float:
    """Cellpose's ``anisotropy`` of a stack: the z step over the pixel (µm / µm, no unit), e.g. 4.0 for 2 x 0.5 µm.

    Parameters
    ----------
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).

    Returns
    -------
    float
        z step over y pixel size (no unit).
    """
    dz, dy, dx = _check_voxel_size(voxel_size_um)
    if not math.isclose(dy, dx, rel_tol=1e-6):
        raise ValueError(f"non-square pixels ({dy} x {dx} µm) are not supported")
    return dz / dy


def stitch_planes(planes: ArrayLike, stitch_threshold: float) -> np.ndarray:
    """Join the 2-D masks of consecutive z planes into 3-D objects by their overlap, Cellpose's stitching rule.

    ``planes`` is a (z, y, x) stack of per-plane label images (each plane numbered on its own, 0 = background).
    Planes are visited from z = 0 up; a mask of plane z takes the label of the mask of plane z - 1 that it
    overlaps most, when

    * their intersection over union (pixels in both / pixels in either) is at least ``stitch_threshold``, and
    * no other mask of plane z overlaps that mask of plane z - 1 more (each mask below continues into at most
      its best match above; equal IoUs both continue it),

    and otherwise starts a new object.  Among masks below at the same largest IoU the lowest label wins.  This
    is the rule of Cellpose 3.1's ``utils.stitch3D``; one thing differs: a plane without masks ends every
    object, and the objects after it get labels of their own, where Cellpose, when no two planes had been
    joined before the empty one, reuses the labels of the planes before it for the masks after it (which joins
    objects that do not touch).  Only neighbouring planes are compared, so an object is never joined across an
    empty plane.

    Returns (z, y, x) uint32 labels numbered 1..n across the stack in the order objects start (by plane, then by
    their label in that plane).  Computed from the pixels both planes cover, so a stack of many objects needs no
    matrix of every pair.

    Parameters
    ----------
    planes : array-like
        (Z, Y, X) per-plane label images.
    stitch_threshold : float
        Smallest intersection over union (no unit, 0 to 1) that joins two masks.

    Returns
    -------
    numpy.ndarray
        (Z, Y, X) uint32 labels numbered 1..n across the stack.
    """
    stack = np.asarray(planes)
    if stack.ndim != 3:
        raise ValueError(f"expected (z, y, x) per-plane labels, got an array of shape {stack.shape}")
    if stack.size and stack.min() < 0:
        raise ValueError("label images must not contain negative values")
    if not 0.0 < stitch_threshold < 1.0:
        raise ValueError(f"stitch_threshold must lie between 0 and 1 (IoU), got {stitch_threshold}")
    out = np.zeros(stack.shape, dtype=np.uint32)
    top = 0  # largest label given so far
    for z in range(stack.shape[0]):
        current = stack[z].astype(np.int64, copy=False)
        n = int(current.max()) if current.size else 0
        if n == 0:
            continue
        area = np.bincount(current.ravel(), minlength=n + 1)
        new = np.zeros(n + 1, dtype=np.uint32)
        matched = np.zeros(n + 1, dtype=bool)
        below = out[z - 1].astype(np.int64) if z > 0 else None
        if below is not None and below.any():
            m = int(below.max())
            both = (current > 0) & (below > 0)
            pairs, inter = np.unique(current[both] * (m + 1) + below[both], return_counts=True)
            upper, lower = pairs // (m + 1), pairs % (m + 1)
            area_below = np.bincount(below.ravel(), minlength=m + 1)
            iou = inter / (area[upper] + area_below[lower] - inter)
            keep = iou >= stitch_threshold
            upper, lower, iou = upper[keep], lower[keep], iou[keep]
            best_of_lower = np.zeros(m + 1)
            np.maximum.at(best_of_lower, lower, iou)
            keep = iou >= best_of_lower[lower]
            upper, lower, iou = upper[keep], lower[keep], iou[keep]
            # per mask above: highest IoU first, then the lowest label below
            order = np.lexsort((lower, -iou, upper))
            first = np.unique(upper[order], return_index=True)[1]
            chosen = order[first]
            new[upper[chosen]] = lower[chosen]
            matched[upper[chosen]] = True
        starts = np.flatnonzero((area > 0) & ~matched)
        starts = starts[starts > 0]
        new[starts] = np.arange(top + 1, top + 1 + starts.size, dtype=np.uint32)
        top += int(starts.size)
        out[z] = new[current]
    return out


def _planes_per_pass(plane_yx: tuple[int, int], settings: CellposeSettings, model: Any, diameter_px: float,
                     device: str) -> int:
    """Planes of a stack that share one network pass in 'stitch' mode.

    As many as fill the pixels of ``effective_batch_size`` tiles of ``tile_px`` px (after rescaling to the
    model's diameter), at least 1; a plane that needs several tiles gets the 2-D path's
    ``effective_batch_size`` (tiles per pass).  The network's memory grows with the pixels of a pass, so a
    pass of many small planes needs about what one full tile does, and on 2 CPU cores 16 planes of
    144 x 144 px in one pass took a third of the processor time of one plane per pass (bench/RESULTS.md).
    """
    rescale = _model_diam_mean(model) / diameter_px
    tile_px = _network_tile_px(model, settings)
    batch = effective_batch_size(settings, device)
    if _tiles_per_frame(*plane_yx, rescale, tile_px, settings.tile_overlap) > 1:
        return batch
    from cellpose import transforms

    ly, lx = int(plane_yx[0] * rescale), int(plane_yx[1] * rescale)
    pad = transforms.get_pad_yx(ly, lx)
    plane_px = (ly + pad[0] + pad[1]) * (lx + pad[2] + pad[3])
    return max(batch, batch * tile_px * tile_px // plane_px)


def _segment_stack_stitched(image: np.ndarray, settings: CellposeSettings, model: Any, diameter_px: float,
                            device: str) -> np.ndarray:
    """'stitch' mode on one (z, y, x) float32 stack; returns (z, y, x) labels.

    The planes run as a batch of 2-D frames through the 2-D path (:func:`_iter_frames_cellpose`: the same
    network passes and mask reconstruction), are joined across z by :func:`stitch_planes`, then get
    Cellpose's 3-D clean-up (``utils.fill_holes_and_remove_small_masks``: objects under ``min_size_px``
    voxels dropped, enclosed 3-D holes filled).

    As in Cellpose's own ``eval(stitch_threshold=...)``: with ``normalize`` the whole stack is stretched
    between its 1st and 99th percentiles at once (not plane by plane), and no size bound applies to the
    masks of one plane, only to the stitched objects.
    """
    from cellpose import transforms, utils

    if settings.normalize:
        image = transforms.normalize_img(image[..., np.newaxis], norm3D=True, axis=-1)[..., 0]
    planes = _planes_per_pass(image.shape[1:], settings, model, diameter_px, device)
    per_plane = settings.model_copy(update={"normalize": False, "min_size_px": 0,
                                            "batch_size": min(planes, image.shape[0])})
    masks = np.zeros(image.shape, dtype=np.uint32)
    for z, labels in _iter_frames_cellpose(image, per_plane, diameter_px, model, device):
        masks[z] = labels
    stitched = stitch_planes(masks, settings.stitch_threshold)
    return np.asarray(utils.fill_holes_and_remove_small_masks(stitched, min_size=settings.min_size_px))


def cellpose_blocks(
    shape: tuple[int, int, int],
    voxel_size_um: tuple[float, float, float],
    settings: CellposeSettings,
    diameter_px: float,
) -> list[tuple[tuple[slice, slice, slice], tuple[slice, slice, slice]]]:
    """The blocks 'do_3d' runs a (z, y, x) stack in: :func:`classical_blocks` of ``settings.block_size_um``.

    Cores of ``block_size_um`` µm along each axis, reaching ``block_overlap_um`` µm past them (unset: one cell
    diameter, ``diameter_px`` px of the plane converted to µm with the y voxel size).  One block, the whole
    stack, when ``block_size_um`` is unset or the stack fits one core: such a stack runs in one pass.

    Parameters
    ----------
    shape : tuple of int
        The stack's (z, y, x) shape (voxels).
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    settings : CellposeSettings
        The ``segment.cellpose`` settings: ``block_size_um`` and ``block_overlap_um`` (µm).
    diameter_px : float
        The cell diameter Cellpose works at (px of the plane).

    Returns
    -------
    list of (block, core)
        Each block's slices of the stack and the slices of its core (voxels).
    """
    whole = (tuple(slice(0, int(n)) for n in shape),) * 2
    if settings.block_size_um is None:
        return [whole]  # type: ignore[list-item]
    voxel = _check_voxel_size(voxel_size_um)
    overlap_um = settings.block_overlap_um if settings.block_overlap_um is not None else diameter_px * voxel[1]
    return classical_blocks(shape, voxel, float(settings.block_size_um), float(overlap_um))


def _eval_normalize(normalize: bool) -> dict[str, bool]:
    """``CellposeModel.eval``'s ``normalize`` argument for normalizing (Cellpose's percentiles) or not.

    Given as a dict, which Cellpose merges into a copy of its defaults: given a bool, Cellpose 3 writes it
    (and ``invert``) into its module-level ``normalize_default``, so that one call would change what the
    process's later calls of Cellpose get by default.
    """
    return {"normalize": bool(normalize), "invert": False}


def _segment_stack_do_3d_blocks(
    image: np.ndarray,
    blocks: list[tuple[tuple[slice, slice, slice], tuple[slice, slice, slice]]],
    settings: CellposeSettings,
    model: Any,
    anisotropy: float,
    options: dict[str, Any],
) -> np.ndarray:
    """'do_3d' on one (z, y, x) float32 stack block by block (:func:`cellpose_blocks`); returns (z, y, x) labels.

    Each block runs through Cellpose's own 3-D eval as a whole stack would (``resample=False``, the same
    ``options``), and the blocks' labels are joined by :func:`merge_blocks`: each object is kept from the block
    whose core holds its centroid.  With ``normalize`` the whole stack is stretched between its 1st and 99th
    percentiles once, as Cellpose does to a stack in one pass (``norm3D``), and the blocks are not normalized
    again, so every block sees the intensities one pass would.  The 3-D flows of one block are held at a time.
    Cellpose drops a mask larger than 0.4 of the array it segments (``max_size_fraction``), so a block must be
    several nuclei across: a core of a few diameters, beside an overlap of one.
    """
    import torch
    from cellpose import transforms

    options = dict(options)
    if settings.normalize:
        image = transforms.normalize_img(image[..., np.newaxis], norm3D=True, axis=-1)[..., 0]
        options["normalize"] = _eval_normalize(False)
    device = _device_of(model)

    def segment_block(block: tuple[slice, slice, slice]) -> np.ndarray:
        part = np.ascontiguousarray(image[block])
        with _deterministic_torch(device), torch.no_grad():
            found = np.asarray(model.eval(part, z_axis=0, do_3D=True, anisotropy=anisotropy, resample=False,
                                          **options)[0])
        if found.shape != part.shape:  # pragma: no cover - guards against a cellpose change
            raise RuntimeError(f"Cellpose returned masks of shape {found.shape} for a block of {part.shape}")
        return found

    logger.info("do_3d in %d blocks of a %s voxel stack", len(blocks), "x".join(str(n) for n in image.shape))
    return merge_blocks(image.shape, blocks, segment_block)


def segment_stack_cellpose(
    stack: ArrayLike,
    voxel_size_um: tuple[float, float, float],
    settings: CellposeSettings,
    model: Any,
    diameter_um: float | None = None,
) -> np.ndarray:
    """Cellpose segmentation of one (z, y, x) stack of normalized intensities with anisotropic voxels.

    ``model`` is a loaded model (:func:`load_cellpose_model`; the shipped model is a 2-D network, which
    both modes run on planes).  ``voxel_size_um`` is the voxel size (µm, z, y, x; square pixels);
    ``diameter_um`` the nucleus diameter (µm), converted to px of the plane with the y size (None: the
    model's own, its ``diam_labels``).  ``settings.mode_3d`` chooses the method:

    * 'stitch': the planes run as a batch of 2-D frames through the workflow's 2-D path (network passes
      shared by several planes, :mod:`cellpipe.masks` reconstruction), then masks of neighbouring planes
      are joined when their intersection over union reaches ``settings.stitch_threshold``
      (:func:`stitch_planes`, Cellpose's rule) and objects under ``min_size_px`` voxels are dropped
      (:func:`_segment_stack_stitched`).  The same objects as Cellpose's own
      ``CellposeModel.eval(stitch_threshold=...)`` (bench/RESULTS.md), in a fraction of its time.
    * 'do_3d': the stack is resampled to cubic voxels (z stretched by ``anisotropy`` =
      :func:`cellpose_anisotropy`) and to the model's diameter, the network runs on its yx, zy and zx
      planes, the three flow estimates are summed into a 3-D flow field, and masks are found by following
      it in 3-D (``do_3D=True``) on the resampled stack (``resample=False``), then resized to the stack:
      followed on the stack's own few planes instead, masks come out hollow in their middle planes (IoU
      about 0.5 against 0.85 in tests/unit/test_steps_segment_cellpose_do_3d.py), at the same cost.  Three
      passes over more planes than 'stitch'; run by Cellpose's own ``CellposeModel.eval``.
      With ``settings.block_size_um`` a stack larger than one block runs block by block
      (:func:`cellpose_blocks`, :func:`_segment_stack_do_3d_blocks`), which bounds the 3-D flows held at once by
      the block's voxels; a stack that fits one block runs in one pass as without it.

    ``flow_threshold``, ``cellprob_threshold``, ``normalize`` and ``batch_size`` mean what they mean in
    2-D; ``min_size_px`` counts voxels of a 3-D mask; Cellpose 3's 'do_3d' runs 224 px tiles whatever
    ``tile_px`` says.  A stack of one plane is segmented as a 2-D frame.  Returns (z, y, x) uint32 labels
    numbered 1..n.

    Parameters
    ----------
    stack : array-like
        (Z, Y, X) normalized intensities (normalized units).
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    settings : CellposeSettings
        The ``segment.cellpose`` settings.
    model : Any
        A loaded Cellpose model.
    diameter_um : float or None
        Nucleus diameter (µm); None: the model's own.

    Returns
    -------
    numpy.ndarray
        (Z, Y, X) uint32 labels numbered 1..n, 0 for background.
    """
    import torch
    from skimage.segmentation import relabel_sequential

    voxel = _check_voxel_size(voxel_size_um)
    anisotropy = cellpose_anisotropy(voxel)
    image = np.asarray(stack, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"expected one (z, y, x) stack, got an array of shape {image.shape}")
    image = np.nan_to_num(image)
    diameter_px = _cellpose_diameter(model, None if diameter_um is None else float(diameter_um) / voxel[1])
    device = _device_of(model)
    options: dict[str, Any] = {
        "batch_size": effective_batch_size(settings, device),
        "normalize": _eval_normalize(settings.normalize),
        "diameter": diameter_px,
        "flow_threshold": settings.flow_threshold,
        "cellprob_threshold": settings.cellprob_threshold,
        "min_size": settings.min_size_px,
        "tile_overlap": settings.tile_overlap,
        "bsize": _network_tile_px(model, settings),
    }
    if model_network(model) == "cellpose3":
        options["channels"] = [0, 0]  # one channel, the second one empty, as in 2-D
    if image.shape[0] == 1:
        frame = image[0]
        with _deterministic_torch(device), torch.no_grad():
            masks = np.asarray(model.eval(frame, **options)[0])[np.newaxis]
    elif settings.mode_3d == "do_3d" and len(blocks := cellpose_blocks(image.shape, voxel, settings, diameter_px)) > 1:
        masks = _segment_stack_do_3d_blocks(image, blocks, settings, model, anisotropy, options)
    elif settings.mode_3d == "do_3d":
        with _deterministic_torch(device), torch.no_grad():
            masks = np.asarray(model.eval(image, z_axis=0, do_3D=True, anisotropy=anisotropy, resample=False, **options)[0])
    else:
        masks = _segment_stack_stitched(image, settings, model, diameter_px, device)
    if masks.shape != image.shape:  # pragma: no cover - guards against a cellpose change
        raise RuntimeError(f"Cellpose returned masks of shape {masks.shape} for a stack of {image.shape}")
    relabelled, _, _ = relabel_sequential(masks.astype(np.uint32, copy=False))
    return relabelled.astype(np.uint32, copy=False)


def cellpose_stack_info(
    settings: CellposeSettings,
    model: Any,
    voxel_size_um: tuple[float, float, float],
    diameter_um: float | None,
    stack_shape: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    """What :func:`segment_stack_cellpose` does on stacks, as segmentation.json records it.

    ``settings`` and ``model`` are those of the run, ``voxel_size_um`` the stacks' voxel size (µm, z, y, x).

    The 2-D run's record (network, device, model file and sha256, ``diameter_px`` of the plane, model
    diameter, tiles per pass, versions) with ``dimensions`` 3, ``voxel_size_um``, ``diameter_um`` (µm: the
    given one, else the model's own over the y voxel size), ``mode_3d``, ``anisotropy`` (z step / pixel, what
    'do_3d' stretches z by) and ``stitch_threshold`` (IoU; None for 'do_3d', which does not stitch).
    ``tile_px`` is 224 for Cellpose 3's 'do_3d', which tiles at that size whatever the setting says.  'do_3d'
    with ``block_size_um`` also records ``blocks``: ``core_um`` and ``overlap_um`` (µm; a stack that fits one
    core still runs in one pass). Given the stacks' shape, ``network_runtime`` (and ``onnxruntime_version``
    where it is 'onnxruntime') as in 2-D: what 'stitch' runs its planes through, decided per stack by the
    stack's planes (:func:`network_runtime`), so the same for every stack of a movie; 'torch' for 'do_3d'
    and for stacks of one plane, which Cellpose's own ``eval`` runs.

    Parameters
    ----------
    settings : CellposeSettings
        The ``segment.cellpose`` settings of the run.
    model : Any
        The loaded Cellpose model of the run.
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    diameter_um : float or None
        Nucleus diameter (µm); None: the model's own.
    stack_shape : tuple of int, optional
        (Z, Y, X) voxels of the movie's stacks; None: ``network_runtime`` is not recorded.

    Returns
    -------
    dict
        The record, JSON-ready (lengths in µm or px as each key says).
    """
    voxel = _check_voxel_size(voxel_size_um)
    info = _cellpose_run_info(settings, model, None if diameter_um is None else float(diameter_um) / voxel[1])
    if settings.mode_3d == "do_3d" and info["network"] == "cellpose3":
        info["tile_px"] = 224
    info.update(
        dimensions=3,
        voxel_size_um=list(voxel),
        diameter_um=float(info["diameter_px"]) * voxel[1],
        mode_3d=settings.mode_3d,
        anisotropy=cellpose_anisotropy(voxel),
        stitch_threshold=settings.stitch_threshold if settings.mode_3d == "stitch" else None,
    )
    if settings.mode_3d == "do_3d" and settings.block_size_um is not None:
        overlap = settings.block_overlap_um if settings.block_overlap_um is not None else info["diameter_um"]
        info["blocks"] = {"core_um": float(settings.block_size_um), "overlap_um": float(overlap)}
    if stack_shape is not None:
        n_planes = int(stack_shape[0])
        info["network_runtime"] = "torch" if settings.mode_3d == "do_3d" or n_planes == 1 else network_runtime(
            settings.compile, info["network"], info["device"],
            _network_megapixels((n_planes, int(stack_shape[1]), int(stack_shape[2])), model, info["diameter_px"]),
            info["precision"],
        )
        if info["network_runtime"] == "onnxruntime":
            info["onnxruntime_version"] = package_version("onnxruntime")
    return info


def segment_stacks_cellpose(
    stacks: ArrayLike,
    voxel_size_um: tuple[float, float, float],
    settings: CellposeSettings,
    model: Any,
    diameter_um: float | None = None,
) -> np.ndarray:
    """:func:`segment_stack_cellpose` on every stack of a (T, Z, Y, X) movie of normalized intensities.

    ``stacks`` may be any array with ``shape`` whose ``stacks[t]`` reads one stack (numpy, zarr), so only
    one stack is read at a time.

    Parameters
    ----------
    stacks : array-like
        (T, Z, Y, X) normalized intensities of one channel (normalized units).
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    settings : CellposeSettings
        The ``segment.cellpose`` settings.
    model : Any
        A loaded Cellpose model.
    diameter_um : float or None
        Nucleus diameter (µm); None: the model's own.

    Returns
    -------
    numpy.ndarray
        (T, Z, Y, X) uint32 labels numbered 1..n in every stack.
    """
    return _segment_each_stack(
        stacks, lambda stack: segment_stack_cellpose(stack, voxel_size_um, settings, model, diameter_um)
    )
