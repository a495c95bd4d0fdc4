"""Cellpose on 2-D frames: the network pass over a movie, frame by frame, and the smoothing of noisy movies.

Frames are normalized intensities, (T, Y, X); each is rescaled so that cells are the model's diameter (px), run
through the network in tiles (:mod:`cellpipe.segment.runtime`) and turned into masks by
:func:`cellpipe.masks.reconstruct_batch`.  ``segment.cellpose.denoise`` smooths noisy movies (noise SD in
normalized units, :func:`noise_sd`) before the shipped model (:func:`denoise_plan`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.config import CellposeSettings
from cellpipe.io.checksums import cached_file_sha256
from cellpipe.segment.common import _frames_shape
from cellpipe.segment.device import _deterministic_torch, _device_of, network_precision
from cellpipe.segment.models import _cellpose_diameter, _model_diam_mean, _network_tile_px, model_network
from cellpipe.segment.runtime import _network_megapixels, _tiles_per_frame, effective_batch_size, network_for_runtime, network_runtime
from cellpipe.versions import package_version

# segment.cellpose.denoise 'auto' smooths frames whose noise SD (normalized units) exceeds this: GOWT1 01
# (0.022) and the DSB 2018 image (0.026) lose 0.003-0.006 of SEG when smoothed, GOWT1 01 with noise added to
# 0.034 gains 0.016-0.021 (bench/RESULTS.md)
DENOISE_ABOVE_NOISE_SD = 0.03

# the Gaussian's sigma at the network's scale (px of the frame rescaled to the model's cell diameter)
DENOISE_SIGMA_MODEL_PX = 1.0

# the percentiles the smoothed movie is stretched between (those the shipped model was trained with)
DENOISE_PERCENTILES = (1.0, 99.8)

# resources/models/cellpipe_nuclei/weights.pth (its model_card.md), the model 'auto' smooths noisy movies for
SHIPPED_MODEL_SHA256 = "b463b52f3330aa93ffb48ddc28e8ec8bf79daf98f7a0b97068d75161f29a9ea6"


def noise_sd(image: np.ndarray) -> float:
    """The standard deviation of an image's pixel noise, in the image's units (Immerkaer 1996).

    The image is filtered with the difference of two Laplacians, which cancels every intensity that varies
    linearly over 3 x 3 px, and the mean absolute response is scaled to the standard deviation of Gaussian
    noise. Edges and fine texture add to the estimate, so it is an upper bound on real images.

    Parameters
    ----------
    image : numpy.ndarray
        One 2-D frame (Y, X), at least 3 x 3 px.

    Returns
    -------
    float
        Estimated noise standard deviation (same units as ``image``).
    """
    from scipy import ndimage as ndi

    kernel = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    response = ndi.correlate(np.asarray(image, dtype=np.float64), kernel, mode="nearest")[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2.0) * np.abs(response).mean() / 6.0)


class _DenoisedFrames:
    """Frames read through a Gaussian filter (``sigma_px``, px) and stretched from ``low``-``high`` to 0-1."""

    def __init__(self, frames: Any, sigma_px: float, low: float, high: float) -> None:
        self.frames, self.sigma_px, self.low, self.high = frames, sigma_px, low, high
        self.shape = tuple(frames.shape)

    def __getitem__(self, t: int) -> np.ndarray:
        from scipy import ndimage as ndi

        smoothed = ndi.gaussian_filter(np.nan_to_num(np.asarray(self.frames[t], dtype=np.float32)), self.sigma_px)
        return ((smoothed - self.low) / (self.high - self.low)).astype(np.float32)


def denoise_plan(
    settings: CellposeSettings, frames: Any, model_sha256: str | None, diameter_px: float, model_diameter_px: float
) -> dict[str, Any]:
    """Whether and how :attr:`CellposeSettings.denoise` smooths a movie's frames before the network.

    'auto' smooths for the shipped model only: it was trained on clean images and misses dim nuclei in noise,
    while a model trained on one's own movies learned their noise (MSC 02's model fine-tuned by
    bench/configs/msc_finetune.yaml lost 0.025 of held-out SEG with its frames smoothed; bench/RESULTS.md).

    Parameters
    ----------
    settings : CellposeSettings
        ``denoise``: 'auto', True or False.
    frames : array_like
        The whole movie's normalized frames (T, Y, X), read at up to 5 evenly spaced frames.
    model_sha256 : str or None
        The model file's sha256; 'auto' smooths where it is :data:`SHIPPED_MODEL_SHA256`.
    diameter_px : float
        The cell diameter the network sees the movie at (px).
    model_diameter_px : float
        The model's own cell diameter (px); the Gaussian is ``DENOISE_SIGMA_MODEL_PX`` px at that scale.

    Returns
    -------
    dict
        ``setting``, ``noise_sd`` (normalized units, median over the frames read; None when not
        measured), ``applied``, and where applied ``sigma_px`` (frame px) and the smoothed movie's
        ``low`` / ``high`` percentiles (normalized units) that are stretched to 0 and 1.
    """
    from scipy import ndimage as ndi

    plan: dict[str, Any] = {"setting": settings.denoise, "noise_sd": None, "applied": False}
    if settings.denoise is False:
        return plan
    n_frames = int(frames.shape[0])
    picks = np.unique(np.linspace(0, n_frames - 1, min(5, n_frames)).round().astype(int))
    sample = [np.nan_to_num(np.asarray(frames[int(t)], dtype=np.float32)) for t in picks]
    plan["noise_sd"] = round(float(np.median([noise_sd(f) for f in sample])), 4)
    if settings.denoise == "auto" and (model_sha256 != SHIPPED_MODEL_SHA256 or plan["noise_sd"] <= DENOISE_ABOVE_NOISE_SD):
        return plan
    sigma_px = DENOISE_SIGMA_MODEL_PX * diameter_px / model_diameter_px
    smoothed = np.stack([ndi.gaussian_filter(f, sigma_px) for f in sample])
    low, high = (float(v) for v in np.percentile(smoothed, DENOISE_PERCENTILES))
    if not high > low:
        return plan
    plan.update(applied=True, sigma_px=round(sigma_px, 3), low=low, high=high)
    return plan


def _iter_frames_cellpose(
    frames: Any,
    settings: CellposeSettings,
    diameter_px: float | None,
    model: Any,
    device: str,
    confidence: dict[int, float] | None = None,
    runtime: str | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Cellpose (3 or SAM) on a stack of frames, yielding ``(t, labels)`` in frame order.

    The steps are those of ``CellposeModel.eval`` for 2D images, with Cellpose's own code for
    each: rescaling to the model's diameter and tiling (``core.run_net``), resizing the flows
    back to the frame size, and mask reconstruction (``dynamics.resize_and_compute_masks``, with
    the 200 / rescale Euler steps ``eval`` uses).  What differs, all for speed with the same masks:

    * frames are stacked and their tiles share network passes (``batch_size`` tiles per pass);
    * Cellpose 3: tiles are ``tile_px`` wide instead of 224 px, so a frame of moderate size runs
      in one pass and no overlap between tiles is computed twice, and the network is a plain
      channels-last module (see :func:`load_cellpose_model`);
    * masks of one pass are reconstructed in a second thread while the network runs the next
      pass (the network's kernels release Python's lock, so the two overlap), and the frames of the
      next pass are read (and with ``normalize`` stretched) in a third one meanwhile.
    * with ``settings.reconstruction`` 'cellpipe' (or 'auto' and Cellpose 3) the masks are
      rebuilt by :func:`cellpipe.masks.reconstruct_batch`, the same steps vectorised.

    ``runtime`` runs the network (:func:`network_runtime`; None: chosen by the size of these frames), with
    torch taking over where ONNX Runtime fails under ``compile: auto``.

    Where the two generations differ, this follows each one's ``eval``: Cellpose 3 gets the frame
    and an empty second channel (``channels=[0, 0]``) and interpolated dynamics; Cellpose-SAM gets
    the frame as its only channel, 256 px tiles and frames rescaled to 30 px cells.
    """
    import torch
    from cellpose import core, dynamics, transforms
    from skimage.segmentation import relabel_sequential

    from cellpipe.masks import reconstruct_batch

    n_frames, height, width = _frames_shape(frames)
    sam = model_network(model) == "cellpose-sam"
    rescale = _model_diam_mean(model) / _cellpose_diameter(model, diameter_px)
    niter = int(200 / rescale)
    torch_device = torch.device(device)
    batch_size = effective_batch_size(settings, device)
    tile_px = _network_tile_px(model, settings)
    tiles = _tiles_per_frame(height, width, rescale, tile_px, settings.tile_overlap)
    per_pass = max(1, batch_size // tiles)
    n_channels = 1 if sam else 2  # Cellpose 3: second channel empty (channels=[0, 0])
    dynamics_options = {} if sam else {"interp": True}
    if runtime is None:
        runtime = network_runtime(settings.compile, model_network(model), device,
                                  _network_megapixels((n_frames, height, width), model, diameter_px),
                                  network_precision(model))
    net = network_for_runtime(model, runtime, min(batch_size, tiles * per_pass), fallback=settings.compile == "auto")

    def read(start: int, stop: int) -> np.ndarray:
        x = np.zeros((stop - start, height, width, n_channels), np.float32)
        for i, t in enumerate(range(start, stop)):
            x[i, :, :, 0] = np.nan_to_num(np.asarray(frames[t], dtype=np.float32))
            if settings.normalize:
                x[i] = transforms.normalize_img(x[i], axis=-1)
        return x

    def network(x: np.ndarray) -> np.ndarray:
        flows, _styles = core.run_net(
            net,
            x,
            batch_size=batch_size,
            tile_overlap=settings.tile_overlap,
            bsize=tile_px,
            rsz=rescale if rescale != 1.0 else None,
        )
        if rescale != 1.0:
            flows = transforms.resize_image(flows, height, width)
        return flows

    vectorised = settings.reconstruction == "cellpipe" or (settings.reconstruction == "auto" and not sam)

    def reconstruct(start: int, flows: np.ndarray) -> list[np.ndarray]:
        if vectorised:
            rebuilt = reconstruct_batch(
                np.ascontiguousarray(flows[..., :2].transpose(0, 3, 1, 2)),
                flows[..., 2],
                niter,
                cellprob_threshold=settings.cellprob_threshold,
                flow_threshold=settings.flow_threshold,
                min_size=settings.min_size_px,
                max_size_fraction=0.4,
                device=torch_device,
            )
        masks = []
        for i in range(flows.shape[0]):
            mask = rebuilt[i] if vectorised else dynamics.resize_and_compute_masks(
                np.ascontiguousarray(flows[i, :, :, :2].transpose(2, 0, 1)),
                flows[i, :, :, 2],
                niter=niter,
                cellprob_threshold=settings.cellprob_threshold,
                flow_threshold=settings.flow_threshold,
                min_size=settings.min_size_px,
                max_size_fraction=0.4,
                device=torch_device,
                **dynamics_options,
            )
            relabelled, _, _ = relabel_sequential(np.asarray(mask).astype(np.uint32, copy=False))
            if confidence is not None:
                inside = flows[i, :, :, 2][relabelled > 0]
                # 4 decimals: the last bits of the network's output depend on how frames share passes
                confidence[start + i] = round(float(np.mean(1.0 / (1.0 + np.exp(-inside)))), 4) if inside.size else None
            masks.append(relabelled)
        return masks

    passes = [(start, min(start + per_pass, n_frames)) for start in range(0, n_frames, per_pass)]
    with _deterministic_torch(device), ThreadPoolExecutor(max_workers=1) as masker, \
            ThreadPoolExecutor(max_workers=1) as reader:
        pending: tuple[int, Future[list[np.ndarray]]] | None = None
        upcoming: Future[np.ndarray] | None = None
        for k, (start, stop) in enumerate(passes):
            x = upcoming.result() if upcoming is not None else read(start, stop)
            upcoming = reader.submit(read, *passes[k + 1]) if k + 1 < len(passes) else None
            flows = network(x)
            if pending is not None:
                yield from enumerate(pending[1].result(), start=pending[0])
            pending = (start, masker.submit(reconstruct, start, flows))
        if pending is not None:
            yield from enumerate(pending[1].result(), start=pending[0])


def _cellpose_run_info(settings: CellposeSettings, model: Any, diameter_px: float | None) -> dict[str, Any]:
    """What a Cellpose run records in segmentation.json.

    The network, device, model file and its sha256, the diameter used (px; None given: the model's own),
    tiles, batch and versions.
    """
    device = _device_of(model)
    model_path = getattr(model, "pretrained_model", None)
    model_path = str(Path(str(model_path)).resolve()) if model_path else None
    return {
        "method": "cellpose",
        "network": model_network(model),
        "device": device,
        "model_path": model_path,
        "model_sha256": cached_file_sha256(model_path) if model_path and Path(model_path).is_file() else None,
        "builtin_model": settings.builtin_model,
        "diameter_px": _cellpose_diameter(model, diameter_px),
        "model_diam_mean_px": _model_diam_mean(model),
        "precision": network_precision(model),
        "tile_px": _network_tile_px(model, settings),
        "batch_size": effective_batch_size(settings, device),
        "cellpose_version": package_version("cellpose"),
        "torch_version": package_version("torch"),
    }
