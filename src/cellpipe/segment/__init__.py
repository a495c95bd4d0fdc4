"""Instance segmentation of every frame: classical (threshold + watershed), Cellpose 3 or Cellpose-SAM.

Input: one channel of the normalized movie, (T, Y, X) float32 (already
rescaled by :mod:`cellpipe.normalize`).  Output: (T, Y, X) uint32 labels,
0 = background, objects numbered 1..n in every frame independently (the
tracker links them over time).

* ``classical``: an optional intensity transform (log or gamma of the
  normalized intensities), Gaussian smoothing, optional background
  subtraction (large Gaussian or white top-hat), a global threshold (Otsu,
  Li, triangle or a fixed value), hole filling, one seed per local maximum
  of the distance to the background (round nuclei) or of the smoothed
  intensity (irregular whole cells), at least a fraction of the cell
  diameter apart, watershed inside the foreground, size bounds (px or µm²).
* ``cellpose``: a Cellpose ``CellposeModel`` loaded from a LOCAL model
  file.  cellpipe never lets Cellpose download anything: the path is
  checked before Cellpose sees it (:func:`check_model_path`), because
  Cellpose silently falls back to downloading a default model ('cyto3' in
  Cellpose 3, 'cpsam_v2' in Cellpose 4) when the file it is given does not
  exist.  Two generations of network are driven by the same code
  (``segment.cellpose.network``): 'cellpose3', the CPnet of cellpose 3.1
  (the shipped model), and 'cellpose-sam', the transformer of cellpose 4
  (Cellpose-SAM; its own environment, ``envs/cellpipe-sam.yaml``).  The
  installed cellpose and the model file are both checked against it.

z-stacks (one (Z, Y, X) stack at a time, voxel size in µm): :func:`segment_stack_classical` (the classical
steps in 3-D, each object then cut back to a level of its own: ``segment.classical.object_threshold``) and
:func:`segment_stack_cellpose` (``segment.cellpose.mode_3d``: 'stitch', per-plane masks joined across z
by IoU, or 'do_3d', Cellpose's 3-D flows with ``anisotropy`` = z step / pixel).

Units: diameters in µm (``diameter_um``) or px (``diameter_px``), areas in
px or µm² as each setting's name says; frames are 0-based.  torch and cellpose are imported only when the
Cellpose method is used, and scipy and scikit-image only when frames are
segmented, so importing this module stays cheap (the Snakefile imports
:func:`check_model_path` at every start).  The settings models live in
:mod:`cellpipe.config` (``from cellpipe.config import SegmentSettings``).

This package's face holds what every method goes through (:func:`segment_cells`, :func:`iter_segment_cells`, the
object filters, the diameter estimates) and names the rest, which lives by method and layer:

* :mod:`~cellpipe.segment.classical`, :mod:`~cellpipe.segment.classical_3d`: the classical method on frames, stacks;
* :mod:`~cellpipe.segment.cellpose`, :mod:`~cellpipe.segment.cellpose_3d`: Cellpose on frames (and the smoothing of
  noisy movies), on stacks (stitched planes, 3-D flows in blocks);
* :mod:`~cellpipe.segment.models`: model files checked, then loaded; :mod:`~cellpipe.segment.device`: the device
  and precision; :mod:`~cellpipe.segment.runtime`: torch, torch.compile or ONNX Runtime, and batch sizes;
* :mod:`~cellpipe.segment.common`: frames and stacks read one at a time, the diameter in px, blocks merged.

They import one another one way only (common and device; models; runtime; classical, classical_3d; cellpose,
cellpose_3d: each from those before it), never this face, which imports them all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import ObjectFilterSettings, SegmentSettings
from cellpipe.segment.cellpose import (
    _cellpose_run_info,
    _DenoisedFrames,
    _iter_frames_cellpose,
    denoise_plan,
    noise_sd,
)
from cellpipe.segment.cellpose_3d import (
    cellpose_anisotropy,
    cellpose_blocks,
    cellpose_stack_info,
    segment_stack_cellpose,
    segment_stacks_cellpose,
    stitch_planes,
)
from cellpipe.segment.classical import (
    ClassicalPixels,
    _iter_frames_classical,
    _min_peak_distance,
    classical_pixels,
    segment_frames_classical,
)
from cellpipe.segment.classical_3d import (
    ClassicalVoxels,
    classical_blocks,
    classical_voxels,
    segment_stack_classical,
    segment_stack_classical_blocks,
    segment_stacks_classical,
)
from cellpipe.segment.common import _as_frames, _check_voxel_size, _frames_shape, diameter_in_px, iter_stacks, merge_blocks
from cellpipe.segment.device import (
    AutocastNetwork,
    cpu_has_bfloat16_units,
    network_precision,
    resolve_precision,
    select_device,
    warn_if_bfloat16_emulated,
)
from cellpipe.segment.models import (
    check_cellpose_version,
    check_model_file,
    check_model_path,
    load_builtin_cellpose_model,
    load_cellpose_model,
    load_segmentation_model,
    model_file_network,
    model_network,
    network_of_parameters,
)
from cellpipe.segment.runtime import (
    CompiledNetwork,
    OnnxNetwork,
    SegmentationOutOfMemory,
    _network_megapixels,
    cpp_compiler,
    divide_batch_size,
    effective_batch_size,
    is_out_of_memory,
    network_for_runtime,
    network_runtime,
    onnx_cache_name,
    record_network_fallback,
)
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)

__all__ = [
    "AutocastNetwork",
    "cellpose_anisotropy",
    "cellpose_blocks",
    "cellpose_stack_info",
    "check_cellpose_version",
    "check_model_file",
    "check_model_path",
    "classical_blocks",
    "classical_pixels",
    "classical_voxels",
    "ClassicalPixels",
    "ClassicalVoxels",
    "CompiledNetwork",
    "cpp_compiler",
    "cpu_has_bfloat16_units",
    "denoise_plan",
    "diameter_in_px",
    "divide_batch_size",
    "effective_batch_size",
    "estimate_diameter",
    "estimate_diameter_stacks",
    "is_out_of_memory",
    "iter_segment_cells",
    "iter_stacks",
    "load_builtin_cellpose_model",
    "load_cellpose_model",
    "load_segmentation_model",
    "merge_blocks",
    "model_file_network",
    "model_network",
    "network_for_runtime",
    "network_of_parameters",
    "network_precision",
    "network_runtime",
    "noise_sd",
    "onnx_cache_name",
    "OnnxNetwork",
    "record_network_fallback",
    "resolve_precision",
    "segment_cells",
    "segment_frames_classical",
    "segment_stack_cellpose",
    "segment_stack_classical",
    "segment_stack_classical_blocks",
    "segment_stacks_cellpose",
    "segment_stacks_classical",
    "SegmentationOutOfMemory",
    "select_device",
    "stitch_planes",
    "warn_if_bfloat16_emulated",
]


def iter_segment_cells(
    frames: ArrayLike,
    settings: SegmentSettings,
    pixel_size_um: float,
    model: Any | None = None,
    estimate_from: Any | None = None,
) -> tuple[dict[str, Any], Iterator[tuple[int, np.ndarray]]]:
    """Segment every frame of one normalized channel, frame by frame as results come.

    With ``settings.estimate_diameter`` the diameter is first estimated (:func:`estimate_diameter`)
    on ``estimate_from``.  Every frame's labels then pass the object quality filters
    (:func:`cellpipe.filters.filter_objects`, ``settings.filters``) at the diameter used.

    Parameters
    ----------
    frames : array_like
        Any object with a ``shape`` (T, Y, X) whose ``frames[t]`` reads one frame, so a long movie
        is never held in memory; otherwise as in :func:`segment_cells`.
    settings : SegmentSettings
        As in :func:`segment_cells`.
    pixel_size_um : float
        Pixel size (µm/px).
    model : cellpose.models.CellposeModel, optional
        As in :func:`segment_cells`.
    estimate_from : array_like, optional
        The frames the diameter is estimated on: the whole movie, when ``frames`` is a part of it;
        default ``frames``.  Its size also chooses the network's runtime (``compile: auto``).

    Returns
    -------
    info : dict
        The run information (see :func:`segment_cells`).  Its ``object_filters`` gains one row per
        frame as the iterator runs: ``frame``, ``objects`` (before the filters), the objects each
        filter removed, and for Cellpose ``mean_cell_probability`` (Cellpose's cell probability,
        0-1, averaged over the masks' pixels).
    results : iterator of (int, numpy.ndarray)
        ``(t, labels)`` in frame order, labels (Y, X) uint32 numbered 1..n.
    """
    frames = _as_frames(frames)
    _frames_shape(frames)
    diameter_px = diameter_in_px(settings, pixel_size_um)
    source = "settings" if diameter_px is not None else "model" if settings.method == "cellpose" else None
    estimate = None
    if settings.method == "cellpose" and model is None:
        model = load_segmentation_model(settings.cellpose, select_device(settings.cellpose.device))
    if settings.estimate_diameter:
        estimate = estimate_diameter(_as_frames(estimate_from) if estimate_from is not None else frames,
                                     settings, pixel_size_um, model)
        if estimate["diameter_px"] is not None:
            diameter_px, source = float(estimate["diameter_px"]), "estimate"
    confidence: dict[int, float] = {}
    movie = _as_frames(estimate_from) if estimate_from is not None else None
    info, results = _iter_method(frames, settings, pixel_size_um, diameter_px, model, confidence, movie)
    info["diameter_source"] = source
    if estimate is not None:
        info["diameter_estimate"] = estimate
    used = info.get("diameter_px")
    record: dict[str, Any] = {"settings": settings.filters.model_dump(mode="json"), "diameter_px": used, "per_frame": []}
    info["object_filters"] = record
    return info, _filtered(frames, results, settings.filters, used, record, confidence)


def _filtered(
    frames: Any,
    results: Iterator[tuple[int, np.ndarray]],
    filters: ObjectFilterSettings,
    diameter_px: float | None,
    record: dict[str, Any],
    confidence: dict[int, float],
) -> Iterator[tuple[int, np.ndarray]]:
    """``results`` with the object filters applied to every frame; one row per frame into ``record``."""
    from cellpipe.filters import filter_objects, summarize_removed

    for t, labels in results:
        before = int(labels.max()) if labels.size else 0
        # the frame is read again only for the contrast check, the one check that looks at intensities
        image = np.asarray(frames[t], dtype=np.float32) if filters.min_contrast is not None else None
        kept, removed = filter_objects(labels, image, filters, diameter_px)
        row: dict[str, Any] = {"frame": int(t), "objects": before, **removed}
        if t in confidence:
            row["mean_cell_probability"] = confidence.pop(t)
        record["per_frame"].append(row)
        yield t, kept
    record["removed"] = summarize_removed(record["per_frame"])


def estimate_diameter(
    frames: ArrayLike, settings: SegmentSettings, pixel_size_um: float, model: Any | None = None
) -> dict[str, Any]:
    """The median cell diameter (px) of what ``settings`` finds on a few frames, refined over passes.

    ``settings.estimate_frames`` frames spread evenly over the movie are segmented (no object
    filters) at the given diameter (:func:`diameter_in_px`; None: Cellpose's model diameter, or
    the classical method's peak distance), and the median over objects of the diameter of the disc
    of equal area (px) becomes the diameter of the next pass; objects touching the border are left
    out of the median (they are cut).  Passes stop when the diameter changes by less than 10 %,
    after 3 passes, or when nothing is found (the diameter then stays what it was).

    Parameters
    ----------
    frames : array_like
        (T, Y, X) normalized intensities, read one frame at a time.
    settings : SegmentSettings
        Segmentation settings.
    pixel_size_um : float
        Pixel size (µm/px).
    model : cellpose.models.CellposeModel, optional
        For ``method='cellpose'``, as in :func:`segment_cells`.

    Returns
    -------
    dict
        ``{"diameter_px", "frames", "passes": [{"diameter_px", "found_px", "n_objects"}, ...]}``
        (px; frames 0-based).
    """
    from cellpipe.filters import touching_border

    frames = _as_frames(frames)
    n_frames = _frames_shape(frames)[0]
    count = min(settings.estimate_frames, n_frames)
    picks = sorted({int(round(i * (n_frames - 1) / max(count - 1, 1))) for i in range(count)})
    subset = np.stack([np.asarray(frames[t], dtype=np.float32) for t in picks])
    current = diameter_in_px(settings, pixel_size_um)
    passes: list[dict[str, Any]] = []
    for _ in range(3):
        info, results = _iter_method(subset, settings, pixel_size_um, current, model)
        sizes: list[float] = []
        for _t, labels in results:
            areas = np.bincount(labels.ravel())
            inner = np.flatnonzero(areas)
            inner = inner[(inner > 0) & ~touching_border(labels)[inner]]
            sizes += [float(2.0 * math.sqrt(a / math.pi)) for a in areas[inner]]
        found = float(np.median(sizes)) if sizes else None
        passes.append({"diameter_px": info.get("diameter_px"), "found_px": found, "n_objects": len(sizes)})
        if found is None:
            break
        previous, current = info.get("diameter_px"), found
        if previous is not None and abs(found - previous) <= 0.1 * previous:
            break
    logger.info("estimated cell diameter %s px from frames %s (passes: %s)", current, picks, passes)
    return {"diameter_px": current, "frames": picks, "passes": passes}


def _touching_faces(labels: np.ndarray) -> np.ndarray:
    """For every label 0..max of one (Z, Y, X) stack: does it touch a face of the stack; index 0 is False.

    A face is the first or last plane, row or column.
    """
    touching = np.zeros(int(labels.max()) + 1, dtype=bool)
    for axis in range(labels.ndim):
        for index in (0, -1):
            touching[np.take(labels, index, axis=axis).ravel()] = True
    touching[0] = False
    return touching


def estimate_diameter_stacks(
    stacks: Any,
    settings: SegmentSettings,
    voxel_size_um: tuple[float, float, float],
    diameter_um: float | None = None,
    model: Any | None = None,
) -> dict[str, Any]:
    """The median cell diameter (µm) of what ``settings.method`` finds in a few stacks, refined over passes.

    The 3-D counterpart of :func:`estimate_diameter`: ``settings.estimate_frames`` stacks spread evenly over the
    movie (``stacks[t]`` reads one (Z, Y, X) stack, so the movie is never held whole) are segmented with
    :func:`segment_stack_classical` at ``diameter_um`` (µm; None: seeds ``min_peak_distance_px`` apart), or for
    ``method`` 'cellpose' with :func:`segment_stack_cellpose` and ``model`` (None: ``settings.cellpose``'s model,
    loaded here) at ``diameter_um`` (None: the model's own), and the
    median over objects of the diameter of the sphere of equal volume, ``(6 V / pi) ** (1/3)`` µm with V in µm³
    (voxels times the voxel volume of ``voxel_size_um``, µm, z, y, x), becomes the diameter of the next pass.
    Objects touching a face of the stack are left out of the median (they are cut).  Passes stop when the
    diameter changes by less than 10 %, after 3 passes, or when nothing is found (the diameter then stays what
    it was).  Returns ``{"diameter_um", "diameter_px"`` (µm over the y pixel size)``, "frames", "passes":
    [{"diameter_um", "found_um", "n_objects"}, ...]}``.

    Parameters
    ----------
    stacks : array-like
        (T, Z, Y, X) normalized intensities of one channel (normalized units).
    settings : SegmentSettings
        The ``segment`` settings (``method``, ``estimate_frames``, ``classical``, ``cellpose``).
    voxel_size_um : tuple of float
        Voxel size (µm; z, y, x).
    diameter_um : float or None
        Diameter of the first pass (µm).
    model : Any or None
        A loaded Cellpose model for ``method`` 'cellpose'; None loads ``settings.cellpose``'s.

    Returns
    -------
    dict
        ``diameter_um`` (µm) and ``diameter_px`` (px of the plane), both None when none was given and nothing
        was found; ``frames`` (the stacks used, 0-based) and
        ``passes`` (each pass's ``diameter_um`` and ``found_um`` in µm and ``n_objects``).
    """
    voxel = _check_voxel_size(voxel_size_um)
    voxel_volume = voxel[0] * voxel[1] * voxel[2]
    n_stacks = int(stacks.shape[0])
    count = min(settings.estimate_frames, n_stacks)
    picks = sorted({int(round(i * (n_stacks - 1) / max(count - 1, 1))) for i in range(count)})
    subset = [np.asarray(stacks[t], dtype=np.float32) for t in picks]  # a few stacks, read once
    if settings.method == "cellpose" and model is None:
        model = load_segmentation_model(settings.cellpose, select_device(settings.cellpose.device))

    def segment_one(stack: np.ndarray, diameter: float | None) -> np.ndarray:
        if settings.method == "cellpose":
            return segment_stack_cellpose(stack, voxel, settings.cellpose, model, diameter)
        return segment_stack_classical(stack, voxel, settings.classical, diameter)

    current = diameter_um
    passes: list[dict[str, Any]] = []
    for _ in range(3):
        sizes: list[float] = []
        for stack in subset:
            labels = segment_one(stack, current)
            volumes = np.bincount(labels.ravel())
            inner = np.flatnonzero(volumes)
            inner = inner[(inner > 0) & ~_touching_faces(labels)[inner]]
            sizes += [float((6.0 * v * voxel_volume / math.pi) ** (1.0 / 3.0)) for v in volumes[inner]]
        found = float(np.median(sizes)) if sizes else None
        passes.append({"diameter_um": current, "found_um": found, "n_objects": len(sizes)})
        if found is None:
            break
        previous, current = current, found
        if previous is not None and abs(found - previous) <= 0.1 * previous:
            break
    logger.info("estimated cell diameter %s µm from stacks %s (passes: %s)", current, picks, passes)
    return {"diameter_um": current, "diameter_px": None if current is None else current / voxel[1],
            "frames": picks, "passes": passes}


def _iter_method(
    frames: Any,
    settings: SegmentSettings,
    pixel_size_um: float,
    diameter_px: float | None,
    model: Any | None,
    confidence: dict[int, float] | None = None,
    movie: Any | None = None,
) -> tuple[dict[str, Any], Iterator[tuple[int, np.ndarray]]]:
    """The run information and the ``(t, labels)`` iterator of ``settings.method`` at ``diameter_px`` (px).

    ``confidence``, when given, receives Cellpose's mean cell probability inside the masks of every frame.
    The network's runtime (:func:`network_runtime`) and the denoising (:func:`denoise_plan`) are chosen on the
    whole movie, ``movie`` (T, Y, X; default ``frames``), so every part of a scattered movie gets the same.
    """
    if settings.method == "classical":
        info: dict[str, Any] = {
            "method": "classical",
            "device": "cpu",
            "model_path": None,
            "model_sha256": None,
            "diameter_px": diameter_px,
            "min_peak_distance_px": _min_peak_distance(settings.classical, diameter_px),
            "classical_px": asdict(classical_pixels(settings.classical, pixel_size_um, diameter_px)),
            "scikit_image_version": package_version("scikit-image"),
        }
        return info, _iter_frames_classical(frames, settings.classical, pixel_size_um, diameter_px)

    if model is None:
        model = load_segmentation_model(settings.cellpose, select_device(settings.cellpose.device))
    info = _cellpose_run_info(settings.cellpose, model, diameter_px)
    info["denoise"] = plan = denoise_plan(settings.cellpose, movie if movie is not None else frames,
                                          info["model_sha256"], info["diameter_px"], info["model_diam_mean_px"])
    if plan["applied"]:
        frames = _DenoisedFrames(frames, plan["sigma_px"], plan["low"], plan["high"])
        logger.info("frames smoothed before the network (segment.cellpose.denoise %s; noise SD %s normalized units): "
                    "Gaussian of %.2f px, stretched from %.3f-%.3f to 0-1 (denoise false gives the network the frames "
                    "as they are)", plan["setting"], plan["noise_sd"], plan["sigma_px"],
                    plan["low"], plan["high"])
    info["network_runtime"] = network_runtime(
        settings.cellpose.compile, info["network"], info["device"],
        _network_megapixels(_frames_shape(movie if movie is not None else frames), model, diameter_px),
        info["precision"],
    )
    if info["network_runtime"] == "onnxruntime":
        info["onnxruntime_version"] = package_version("onnxruntime")
    return info, _iter_frames_cellpose(frames, settings.cellpose, diameter_px, model, info["device"], confidence,
                                       runtime=info["network_runtime"])


def segment_cells(
    frames: ArrayLike,
    settings: SegmentSettings,
    pixel_size_um: float,
    model: Any | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Segment every frame of one normalized channel.

    Parameters
    ----------
    frames : array_like
        (T, Y, X) normalized intensities of the channel to segment (float32,
        see :mod:`cellpipe.normalize`); a numpy array or a ``zarr.Array``,
        read one frame at a time.
    settings : SegmentSettings
        Segmentation settings; ``settings.channel`` is not used here (the
        caller selects the channel).
    pixel_size_um : float
        Pixel size (µm/px), to convert ``diameter_um``.
    model : cellpose.models.CellposeModel, optional
        For ``method='cellpose'``: a model from :func:`load_cellpose_model`
        (load it once and pass it for every batch of a long movie); None
        loads ``settings.cellpose.model`` on ``settings.cellpose.device``.

    Returns
    -------
    labels : numpy.ndarray
        (T, Y, X) uint32 labels, objects numbered 1..n in every frame
        independently.
    info : dict
        A JSON-serialisable record: ``method``, ``device``,
        ``model_path``, ``model_sha256`` (None for classical),
        ``diameter_px`` (the diameter used, px; for Cellpose without a
        diameter: the model's own, its ``diam_labels``), and the versions of
        the library that did the work.
    """
    info, results = iter_segment_cells(frames, settings, pixel_size_um, model)
    labels = np.zeros(_frames_shape(_as_frames(frames)), dtype=np.uint32)
    for t, frame_labels in results:
        labels[t] = frame_labels
    if settings.method == "cellpose":
        logger.info("cellpose segmented %d frame(s) of %dx%d px on %s", *labels.shape, info["device"])
    return labels, info
