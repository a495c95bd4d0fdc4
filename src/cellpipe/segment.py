"""Instance segmentation of every frame: classical (threshold + watershed) or Cellpose 3.

Input: one channel of the normalized movie, (T, Y, X) float32 (already
rescaled by :mod:`cellpipe.normalize`).  Output: (T, Y, X) uint32 labels,
0 = background, objects numbered 1..n in every frame independently (the
tracker links them over time).

* ``classical``: Gaussian smoothing, a global threshold (Otsu, Li, triangle
  or a fixed value), distance transform, one marker per local maximum of
  the distance (at least about half a cell diameter apart), watershed of
  the negated distance inside the foreground, small objects removed.
* ``cellpose``: a Cellpose 3 ``CellposeModel`` loaded from a LOCAL model
  file.  cellpipe never lets Cellpose download anything: the path is
  checked before Cellpose sees it (:func:`check_model_path`), because
  Cellpose 3 silently falls back to downloading its 'cyto3' model when the
  file it is given does not exist.

Units: diameters in µm (``diameter_um``) or px (``diameter_px``), areas in
px; frames are 0-based.  torch and cellpose are imported only when the
Cellpose method is used, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field, model_validator
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_li, threshold_otsu, threshold_triangle
from skimage.segmentation import relabel_sequential, watershed

from cellpipe._base import StageSettings
from cellpipe.versions import package_version

if TYPE_CHECKING:  # pragma: no cover
    from cellpose.models import CellposeModel

logger = logging.getLogger(__name__)

__all__ = [
    "CellposeSettings",
    "ClassicalSettings",
    "SegmentSettings",
    "check_model_path",
    "diameter_in_px",
    "file_sha256",
    "load_cellpose_model",
    "segment_cells",
    "segment_frames_classical",
    "select_device",
]

_THRESHOLDS = {"otsu": threshold_otsu, "li": threshold_li, "triangle": threshold_triangle}


class ClassicalSettings(StageSettings):
    """Threshold + distance-transform watershed segmentation."""

    smoothing_sigma_px: float = Field(
        1.0, ge=0.0, description="Standard deviation of the Gaussian smoothing before thresholding (px); 0: none"
    )
    threshold: Literal["otsu", "li", "triangle"] | float = Field(
        "otsu",
        description=(
            "Foreground threshold: 'otsu', 'li' or 'triangle' (computed per frame on the smoothed image), "
            "or a fixed value in normalized intensity units (0 = low percentile, 1 = high percentile)"
        ),
    )
    min_area_px: int = Field(15, ge=0, description="Objects smaller than this are removed (px, area)")
    min_peak_distance_px: int = Field(
        5,
        ge=1,
        description=(
            "Smallest distance between two watershed markers when no cell diameter is set (px); "
            "with a diameter, half the diameter is used"
        ),
    )
    fill_holes: bool = Field(True, description="Fill holes in the foreground mask before splitting it")


class CellposeSettings(StageSettings):
    """Cellpose 3 segmentation with a local model file."""

    model: str = Field(
        "",
        description=(
            "Path of a local Cellpose model file (a CellposeModel/CPnet state dict); required when "
            "segment.method is 'cellpose'. Nothing is ever downloaded: a missing file is an error"
        ),
    )
    flow_threshold: float = Field(
        0.4, ge=0.0, description="Maximum flow error of a kept mask (no unit); larger keeps more masks"
    )
    cellprob_threshold: float = Field(
        0.0, description="Cell probability (logit) above which a pixel can belong to a mask (no unit)"
    )
    min_size_px: int = Field(15, ge=0, description="Masks smaller than this are removed (px, area)")
    batch_size: int = Field(
        8,
        ge=1,
        description=(
            "Frames handed to Cellpose per call, and 224x224 tiles run through the network at once "
            "(frames / tiles); lower it when GPU memory runs out. Results do not depend on it"
        ),
    )
    device: Literal["auto", "cuda", "mps", "cpu"] = Field(
        "auto", description="Where the network runs: 'auto' takes CUDA, then MPS, then CPU; an explicit device must exist"
    )
    normalize: bool = Field(
        False,
        description=(
            "Let Cellpose renormalize every frame (its own 1-99 percentile stretch). Off by default: the "
            "input is already normalized by cellpipe's normalize stage"
        ),
    )
    tile: bool = Field(
        True,
        description=(
            "Run the network on overlapping 224x224 px tiles (Cellpose's default, bounded GPU memory); "
            "false runs each whole frame at once (more memory, no tile seams)"
        ),
    )


class SegmentSettings(StageSettings):
    """Settings of the segmentation stage."""

    method: Literal["classical", "cellpose"] = Field(
        "classical", description="'classical' (threshold + watershed) or 'cellpose' (needs cellpose.model)"
    )
    channel: int = Field(0, ge=0, description="Index (0-based) of the channel that is segmented")
    diameter_um: float | None = Field(
        None, gt=0.0, description="Typical cell diameter (µm); converted with the pixel size. At most one of diameter_um, diameter_px"
    )
    diameter_px: float | None = Field(
        None, gt=0.0, description="Typical cell diameter (px). At most one of diameter_um, diameter_px"
    )
    classical: ClassicalSettings = Field(default_factory=ClassicalSettings)
    cellpose: CellposeSettings = Field(default_factory=CellposeSettings)

    @model_validator(mode="after")
    def _check(self) -> SegmentSettings:
        if self.diameter_um is not None and self.diameter_px is not None:
            raise ValueError(
                f"set at most one of diameter_um ({self.diameter_um}) and diameter_px ({self.diameter_px})"
            )
        if self.method == "cellpose" and not self.cellpose.model.strip():
            raise ValueError("method 'cellpose' needs cellpose.model: the path of a local Cellpose model file")
        return self


# --------------------------------------------------------------------------- helpers


def diameter_in_px(settings: SegmentSettings, pixel_size_um: float) -> float | None:
    """The cell diameter in px: ``diameter_px``, or ``diameter_um / pixel_size_um`` (µm / (µm/px)), or None."""
    if settings.diameter_px is not None:
        return float(settings.diameter_px)
    if settings.diameter_um is not None:
        if not (pixel_size_um > 0 and math.isfinite(pixel_size_um)):
            raise ValueError(f"pixel size must be a positive number of µm, got {pixel_size_um}")
        return float(settings.diameter_um) / float(pixel_size_um)
    return None


def select_device(preference: str) -> str:
    """The torch device to run Cellpose on: 'cuda', 'mps' or 'cpu'.

    ``'auto'`` takes CUDA when available, then Apple MPS, then CPU.  An
    explicit ``'cuda'`` or ``'mps'`` that torch cannot use raises
    :class:`RuntimeError`.
    """
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if preference == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if preference == "cpu":
        return "cpu"
    if preference == "cuda":
        if not cuda:
            raise RuntimeError(
                f"segment.cellpose.device is 'cuda' but torch {torch.__version__} sees no usable CUDA GPU; "
                "use 'auto' or 'cpu', or install a CUDA build of torch"
            )
        return "cuda"
    if preference == "mps":
        if not mps:
            raise RuntimeError("segment.cellpose.device is 'mps' but Apple MPS is not available; use 'auto' or 'cpu'")
        return "mps"
    raise ValueError(f"unknown device {preference!r}: expected 'auto', 'cuda', 'mps' or 'cpu'")


def check_model_path(model_path: str | os.PathLike[str]) -> Path:
    """The model file as an absolute path; :class:`FileNotFoundError` when it is not an existing file.

    The message names the path and says that nothing is downloaded instead.
    """
    text = os.fspath(model_path).strip() if model_path is not None else ""
    if not text:
        raise FileNotFoundError(
            "no Cellpose model file given (segment.cellpose.model is empty); cellpipe never downloads "
            "models, so set it to the path of a local model file"
        )
    path = Path(text).expanduser()
    if not path.is_file():
        what = "is a folder, not a model file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"Cellpose model file {text} {what} (resolved: {path.resolve()}); "
            "cellpipe does not fall back to downloading a model, give the path of a local model file"
        )
    return path.resolve()


@functools.lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes; cached while the file's size and modification time are unchanged."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _sha256_cached(str(resolved), stat.st_size, stat.st_mtime_ns)


def load_cellpose_model(model_path: str | os.PathLike[str], device: str) -> CellposeModel:
    """A Cellpose 3 ``CellposeModel`` with the weights of a local file, on ``device``.

    ``device`` is 'cuda', 'mps' or 'cpu' (see :func:`select_device`).  The
    path is checked first (:func:`check_model_path`): a missing file raises
    :class:`FileNotFoundError` before Cellpose is called, since Cellpose would
    otherwise download its default model.  The model is created with
    ``model_type=None`` and the absolute path of the file, the only
    combination in which Cellpose 3.1 loads exactly that file and never
    consults its model zoo.
    """
    path = check_model_path(model_path)
    import torch
    from cellpose.models import CellposeModel

    if device not in ("cuda", "mps", "cpu"):
        raise ValueError(f"device must be 'cuda', 'mps' or 'cpu' (see select_device), got {device!r}")
    torch_device = torch.device(device)
    logger.info("loading Cellpose model %s on %s", path, device)
    model = CellposeModel(
        gpu=device != "cpu",
        pretrained_model=str(path),
        model_type=None,
        device=torch_device,
    )
    if Path(str(model.pretrained_model)).resolve() != path:  # pragma: no cover - guards against a cellpose change
        raise RuntimeError(f"Cellpose loaded {model.pretrained_model} instead of {path}")
    return model


@contextlib.contextmanager
def _deterministic_torch(device: str, seed: int = 0) -> Iterator[None]:
    """Seed torch and make cuDNN deterministic inside the block; the previous state is restored after."""
    import torch

    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        cudnn.deterministic, cudnn.benchmark = True, False
        try:
            yield
        finally:
            cudnn.deterministic, cudnn.benchmark = saved


# --------------------------------------------------------------------------- classical


def _threshold_value(image: np.ndarray, method: str | float) -> float:
    if isinstance(method, str):
        return float(_THRESHOLDS[method](image))
    return float(method)


def _segment_frame_classical(frame: np.ndarray, settings: ClassicalSettings, min_distance: int) -> np.ndarray:
    image = np.asarray(frame, dtype=np.float32)
    finite = np.isfinite(image)
    if not finite.all():
        image = np.where(finite, image, np.min(image[finite]) if finite.any() else 0.0).astype(np.float32)
    if settings.smoothing_sigma_px > 0:
        image = gaussian(image, sigma=settings.smoothing_sigma_px, preserve_range=True).astype(np.float32)
    labels = np.zeros(image.shape, dtype=np.uint32)
    if isinstance(settings.threshold, str) and float(image.max()) <= float(image.min()):
        return labels  # flat frame: no automatic threshold exists
    mask = image > _threshold_value(image, settings.threshold)
    if settings.fill_holes:
        mask = ndi.binary_fill_holes(mask)
    if not mask.any():
        return labels
    distance = ndi.distance_transform_edt(mask)
    components, n_components = ndi.label(mask)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
    peak_mask = np.zeros(mask.shape, dtype=bool)
    peak_mask[tuple(peaks.T)] = True
    # every component gets a marker, even one without a strict local maximum
    has_peak = np.zeros(n_components + 1, dtype=bool)
    has_peak[components[peak_mask]] = True
    lacking = np.flatnonzero(~has_peak[1:]) + 1
    if lacking.size:
        for position in ndi.maximum_position(distance, components, lacking):
            peak_mask[position] = True
    markers, _ = ndi.label(peak_mask)  # adjacent peak pixels (plateaus) form one marker
    split = watershed(-distance, markers, mask=mask)
    if settings.min_area_px > 0:
        areas = np.bincount(split.ravel())
        small = np.flatnonzero(areas < settings.min_area_px)
        small = small[small > 0]
        if small.size:
            split[np.isin(split, small)] = 0
    relabelled, _, _ = relabel_sequential(split)
    labels[:] = relabelled
    return labels


def segment_frames_classical(frames: ArrayLike, settings: ClassicalSettings, diameter_px: float | None) -> np.ndarray:
    """Threshold + watershed segmentation of (T, Y, X) frames, frame by frame.

    ``diameter_px`` (px), when known, sets the smallest distance between
    two markers to half of it; otherwise ``settings.min_peak_distance_px``
    is used.  Returns (T, Y, X) uint32 labels numbered 1..n in every frame.
    """
    frames = _as_frames(frames)
    shape = _frames_shape(frames)
    if diameter_px is not None:
        min_distance = max(1, int(round(0.5 * diameter_px)))
    else:
        min_distance = settings.min_peak_distance_px
    out = np.zeros(shape, dtype=np.uint32)
    for t in range(shape[0]):
        out[t] = _segment_frame_classical(np.asarray(frames[t]), settings, min_distance)
    return out


# --------------------------------------------------------------------------- cellpose


def _as_frames(frames: ArrayLike) -> Any:
    if hasattr(frames, "shape") and hasattr(frames, "__getitem__"):
        return frames
    return np.asarray(frames)


def _frames_shape(frames: Any) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in frames.shape)
    if len(shape) != 3:
        raise ValueError(f"expected (T, Y, X) frames of one channel, got an array of shape {shape}")
    return shape  # type: ignore[return-value]


def _device_of(model: Any) -> str:
    device = getattr(model, "device", None)
    return str(getattr(device, "type", device or "cpu"))


def _cellpose_diameter(model: Any, diameter_px: float | None) -> float:
    """The cell diameter (px) Cellpose works with: the given one, else the model's own (its diam_labels)."""
    if diameter_px is not None:
        return float(diameter_px)
    return float(np.asarray(getattr(model, "diam_labels", model.diam_mean)).ravel()[0])


def _segment_frames_cellpose(
    frames: Any, settings: CellposeSettings, diameter_px: float | None, model: Any, device: str
) -> np.ndarray:
    shape = _frames_shape(frames)
    out = np.zeros(shape, dtype=np.uint32)
    # cellpose's default: None -> the model's diam_labels (diameter of its training cells), i.e. no rescaling
    diameter = float(diameter_px) if diameter_px is not None else None
    rescale = float(np.asarray(model.diam_mean).ravel()[0]) / _cellpose_diameter(model, diameter_px)
    if settings.tile:
        bsize = 224
    else:  # one tile covering the whole (rescaled, padded) frame
        bsize = int(math.ceil(max(shape[1:]) * max(rescale, 1.0))) + 48
    normalize = {
        "normalize": settings.normalize,
        "lowhigh": None,
        "percentile": None,
        "norm3D": False,
        "sharpen_radius": 0,
        "smooth_radius": 0,
        "tile_norm_blocksize": 0,
        "tile_norm_smooth3D": 1,
        "invert": False,
    }
    with _deterministic_torch(device):
        for start in range(0, shape[0], settings.batch_size):
            stop = min(start + settings.batch_size, shape[0])
            batch = [np.asarray(frames[t], dtype=np.float32) for t in range(start, stop)]
            masks, _flows, _styles = model.eval(
                batch,
                batch_size=settings.batch_size,
                channels=[0, 0],
                normalize=dict(normalize),
                diameter=diameter,
                flow_threshold=settings.flow_threshold,
                cellprob_threshold=settings.cellprob_threshold,
                min_size=settings.min_size_px,
                bsize=bsize,
            )
            for i, mask in enumerate(masks):
                relabelled, _, _ = relabel_sequential(np.asarray(mask).astype(np.uint32, copy=False))
                out[start + i] = relabelled
            logger.debug("cellpose: frames %d-%d of %d", start + 1, stop, shape[0])
    return out


def segment_cells(
    frames: ArrayLike,
    settings: SegmentSettings,
    pixel_size_um: float,
    model: Any | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Segment every frame of one normalized channel.

    Parameters
    ----------
    frames:
        (T, Y, X) normalized intensities of the channel to segment (float32,
        see :mod:`cellpipe.normalize`); a numpy array or a ``zarr.Array``,
        read ``batch_size`` frames (Cellpose) or one frame (classical) at a time.
    settings:
        Segmentation settings; ``settings.channel`` is not used here (the
        caller selects the channel).
    pixel_size_um:
        Pixel size (µm/px), to convert ``diameter_um``.
    model:
        For ``method='cellpose'``: a model from :func:`load_cellpose_model`
        (load it once and pass it for every batch of a long movie); None
        loads ``settings.cellpose.model`` on ``settings.cellpose.device``.

    Returns
    -------
    labels, info:
        (T, Y, X) uint32 labels, objects numbered 1..n in every frame
        independently; and a JSON-serialisable dict: ``method``, ``device``,
        ``model_path``, ``model_sha256`` (None for classical),
        ``diameter_px`` (the diameter used, px; for Cellpose without a
        diameter: the model's own, its ``diam_labels``), and the versions of
        the library that did the work.
    """
    frames = _as_frames(frames)
    shape = _frames_shape(frames)
    diameter_px = diameter_in_px(settings, pixel_size_um)
    if settings.method == "classical":
        labels = segment_frames_classical(frames, settings.classical, diameter_px)
        info: dict[str, Any] = {
            "method": "classical",
            "device": "cpu",
            "model_path": None,
            "model_sha256": None,
            "diameter_px": diameter_px,
            "min_peak_distance_px": max(1, int(round(0.5 * diameter_px)))
            if diameter_px is not None
            else settings.classical.min_peak_distance_px,
            "scikit_image_version": package_version("scikit-image"),
        }
        return labels, info

    if model is None:
        model = load_cellpose_model(settings.cellpose.model, select_device(settings.cellpose.device))
    device = _device_of(model)
    model_path = getattr(model, "pretrained_model", None)
    model_path = str(Path(str(model_path)).resolve()) if model_path else None
    labels = _segment_frames_cellpose(frames, settings.cellpose, diameter_px, model, device)
    info = {
        "method": "cellpose",
        "device": device,
        "model_path": model_path,
        "model_sha256": file_sha256(model_path) if model_path and Path(model_path).is_file() else None,
        "diameter_px": _cellpose_diameter(model, diameter_px),
        "diameter_source": "settings" if diameter_px is not None else "model",
        "model_diam_mean_px": float(np.asarray(model.diam_mean).ravel()[0]),
        "cellpose_version": package_version("cellpose"),
        "torch_version": package_version("torch"),
    }
    logger.info("cellpose segmented %d frame(s) of %dx%d px on %s", shape[0], shape[1], shape[2], device)
    return labels, info
