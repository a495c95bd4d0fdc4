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
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from cellpipe.config import BUILTIN_MODELS, CellposeSettings, ClassicalSettings, ObjectFilterSettings, SegmentSettings
from cellpipe.io.cache import cached_path, drop_cached, read_cached, write_cached
from cellpipe.io.checksums import cached_file_sha256
from cellpipe.versions import package_version

if TYPE_CHECKING:  # pragma: no cover
    from cellpose.models import CellposeModel

logger = logging.getLogger(__name__)

__all__ = [
    "SegmentationOutOfMemory",
    "ClassicalPixels",
    "check_cellpose_version",
    "classical_pixels",
    "check_model_file",
    "check_model_path",
    "model_file_network",
    "network_of_parameters",
    "model_network",
    "resolve_precision",
    "network_precision",
    "AutocastNetwork",
    "cpu_has_bfloat16_units",
    "denoise_plan",
    "noise_sd",
    "warn_if_bfloat16_emulated",
    "diameter_in_px",
    "divide_batch_size",
    "effective_batch_size",
    "estimate_diameter",
    "is_out_of_memory",
    "iter_segment_cells",
    "load_builtin_cellpose_model",
    "load_cellpose_model",
    "load_segmentation_model",
    "segment_cells",
    "segment_frames_classical",
    "segment_stack_classical",
    "segment_stack_classical_blocks",
    "classical_blocks",
    "merge_blocks",
    "cellpose_blocks",
    "segment_stacks_classical",
    "iter_stacks",
    "cellpose_anisotropy",
    "segment_stack_cellpose",
    "segment_stacks_cellpose",
    "cellpose_stack_info",
    "stitch_planes",
    "classical_voxels",
    "ClassicalVoxels",
    "select_device",
]

#: The cellpose release series that runs each network.
CELLPOSE_MAJOR: dict[str, int] = {"cellpose3": 3, "cellpose-sam": 4}
#: Cell diameter (px) Cellpose-SAM rescales frames to; fixed by cellpose 4 for every model.
SAM_DIAMETER_PX = 30.0
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
#: Tile side (px) of the Cellpose-SAM network; fixed by its position embeddings.
SAM_TILE_PX = 256

#: Network input of a CPU job (frames x rescaled frame area, megapixels) from which
#: ``segment.cellpose.compile: auto`` runs the network through ONNX Runtime: 50 frames of 512 x 512 px, twice
#: the break-even of exporting the network (about 7 s) against the 0.31 s it saved per 512 px frame in a
#: 92-frame GOWT1 job on 2 cores (bench/RESULTS.md, issue #28).
COMPILE_MIN_MEGAPIXELS = 50 * 512 * 512 / 1e6
#: torch.compile backend of :class:`CompiledNetwork`; the unit tests swap in 'eager' (graph capture without
#: code generation), which checks the wrapper in seconds where inductor compiles for minutes.
COMPILE_BACKEND = "inductor"


# --------------------------------------------------------------------------- helpers


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


def select_device(preference: str) -> str:
    """The torch device to run Cellpose on: 'cuda', 'mps' or 'cpu'.

    Parameters
    ----------
    preference : str
        ``'auto'`` takes CUDA when available, then Apple MPS, then CPU; ``'cuda'``, ``'mps'`` or
        ``'cpu'`` takes that one.

    Returns
    -------
    str
        'cuda', 'mps' or 'cpu'.

    Raises
    ------
    RuntimeError
        An explicit ``'cuda'`` or ``'mps'`` that torch cannot use.
    ValueError
        Any other preference.
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
    """The model file as an absolute path, checked to be an existing file.

    Parameters
    ----------
    model_path : str or os.PathLike
        Path of a local model file; ``~`` is expanded.

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    FileNotFoundError
        No path, or not an existing file; the message names the path and says that nothing is
        downloaded instead.
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
            "cellpipe does not fall back to downloading a model, give the path of a local model file "
            "(or name a model Cellpose provides in segment.cellpose.builtin_model)"
        )
    return path.resolve()


def check_cellpose_version(version: str | None, network: str = "cellpose3") -> int:
    """The installed cellpose's major version, checked to run ``network``.

    'cellpose3' (CPnet) needs cellpose 3, 'cellpose-sam' needs cellpose 4: the two cannot share
    one environment, and each loads only its own kind of model file.

    Parameters
    ----------
    version : str or None
        The installed cellpose's version; None: not installed.
    network : str, default "cellpose3"
        'cellpose3' or 'cellpose-sam'.

    Returns
    -------
    int
        The major version.

    Raises
    ------
    RuntimeError
        cellpose is not installed, its version cannot be read, or it does not run ``network``.
    """
    want = CELLPOSE_MAJOR[network]
    if version is None:
        raise RuntimeError(f"cellpose is not installed; segment.cellpose.network {network!r} needs cellpose {want}")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise RuntimeError(f"cannot read the installed cellpose's version {version!r}") from None
    if major != want:
        if network == "cellpose-sam":
            hint = (
                "Cellpose-SAM runs in its own environment: envs/cellpipe-sam.yaml (snakemake --sdm conda) "
                "or the .venv-sam that `make sam-env` builds"
            )
        else:
            hint = (
                "install cellpose==3.1.1.2 (cellpipe's main environment), or set segment.cellpose.network "
                "to 'cellpose-sam' and give a Cellpose-SAM model"
            )
        raise RuntimeError(
            f"segment.cellpose.network is {network!r}, which needs cellpose {want}, "
            f"but cellpose {version} is installed; {hint}"
        )
    return major


_NETWORK_NAMES = {
    "cellpose3": "Cellpose 3 (CPnet)",
    "cellpose-sam": "Cellpose-SAM (cellpose 4)",
    "cellpose-dino": "Cellpose-DINO (cellpose 4)",
}


def model_file_network(model_path: str | os.PathLike[str]) -> str:
    """Which network a Cellpose model file holds weights for: 'cellpose3', 'cellpose-sam' or 'cellpose-dino'.

    Told from the parameter names of the state dict, read memory-mapped (a 1.2 GB Cellpose-SAM
    file costs little).

    Parameters
    ----------
    model_path : str or os.PathLike
        The model file.

    Returns
    -------
    str
        The network's name.

    Raises
    ------
    ValueError
        The file is not a torch state dict or holds no Cellpose network; the message names it.
    """
    from cellpipe.io.torch_files import load_state_dict

    path = Path(model_path)
    try:
        state = load_state_dict(path, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means: not a model file
        raise ValueError(
            f"Cellpose model file {path} could not be read as a torch state dict ({type(exc).__name__}: {exc})"
        ) from None
    keys = [str(key) for key in state] if isinstance(state, dict) else []
    network = network_of_parameters(keys)
    if network is None:
        raise ValueError(
            f"Cellpose model file {path} holds no Cellpose network weights "
            f"(first parameter names: {', '.join(keys[:3]) or 'none'})"
        )
    return network


def network_of_parameters(names: list[str]) -> str | None:
    """The Cellpose network whose parameters ``names`` are: 'cellpose3', 'cellpose-sam', 'cellpose-dino' or None.

    Shared by :func:`model_file_network` (the keys torch loaded) and :func:`check_model_file` (the
    strings of the file's pickle, read without torch), so both tell networks apart the same way.

    Parameters
    ----------
    names : list of str
        Parameter names of a state dict (a ``module.`` prefix is ignored).

    Returns
    -------
    str or None
        The network's name; None when the names are of no Cellpose network.
    """
    keys = [name.removeprefix("module.") for name in names]
    if "encoder.cls_token" in keys:
        return "cellpose-dino"
    if "W2" in keys and any(key.startswith("encoder.") for key in keys):
        return "cellpose-sam"
    if any(key.startswith("downsample.") for key in keys) and any(key.startswith("output.") for key in keys):
        return "cellpose3"
    return None


def check_model_file(model_path: str | os.PathLike[str], network: str | None = None) -> Path:
    """Check a model file cheaply: it exists and is a PyTorch file of Cellpose network weights.

    :func:`check_model_path`, then the content: Cellpose network weights (of ``network`` when
    given), read without torch (:mod:`cellpipe.io.torch_files`, a few ms).  The Snakefile calls it at
    every start, so that a wrong file stops the run before ingest and normalize rather than inside
    ``segment_frames`` with a traceback and a retry; the job still loads it with torch
    (:func:`model_file_network`).

    Parameters
    ----------
    model_path : str or os.PathLike
        The model file.
    network : str, optional
        The network it must hold ('cellpose3' or 'cellpose-sam'); None: any that cellpipe runs.

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    FileNotFoundError
        As :func:`check_model_path`.
    ValueError
        Not a PyTorch file of Cellpose weights, a Cellpose-DINO model, or another network than
        ``network``; the message names the file and what it holds.
    """
    from cellpipe.io.torch_files import NotATorchFile, state_dict_strings

    path = check_model_path(model_path)
    shown = os.fspath(model_path).strip()
    try:
        names = state_dict_strings(path)
    except NotATorchFile as err:
        raise ValueError(f"Cellpose model file {shown} is {err}") from None
    found = network_of_parameters(names)
    if found is None:
        tensors = [n for n in names if "." in n][:3]
        raise ValueError(
            f"Cellpose model file {shown} is a PyTorch file without Cellpose network weights "
            f"(first parameter names: {', '.join(tensors) or 'none'})"
        )
    if found == "cellpose-dino":
        raise ValueError(f"Cellpose model file {shown} holds a {_NETWORK_NAMES[found]} model, which cellpipe does not run")
    if network is not None and found != network:
        raise ValueError(
            f"Cellpose model file {shown} holds a {_NETWORK_NAMES[found]} model, but the network is {network!r}; "
            f"set segment.cellpose.network to {found!r} (and run in its environment) or give a "
            f"{_NETWORK_NAMES[network]} model"
        )
    return path


def _check_model_network(path: Path, network: str) -> None:
    found = model_file_network(path)
    if found == network:
        return
    if found == "cellpose-dino":
        raise ValueError(f"Cellpose model file {path} holds a {_NETWORK_NAMES[found]} model, which cellpipe does not run")
    raise ValueError(
        f"Cellpose model file {path} holds a {_NETWORK_NAMES[found]} model, but segment.cellpose.network is "
        f"{network!r}; set segment.cellpose.network to {found!r} (and run in its environment) or give a "
        f"{_NETWORK_NAMES[network]} model"
    )


def resolve_precision(precision: str, network: str, device: str) -> str:
    """The network's number format: 'float32' or 'bfloat16'.

    Cellpose-SAM's bfloat16 is Cellpose 4's own (weights converted); Cellpose 3's CPnet runs in bfloat16
    under torch's autocast (:class:`AutocastNetwork`).

    Parameters
    ----------
    precision : str
        'auto' (bfloat16 for Cellpose-SAM on CUDA, else float32), 'float32' or 'bfloat16'.
    network : str
        'cellpose3' or 'cellpose-sam'.
    device : str
        'cuda', 'mps' or 'cpu'.

    Returns
    -------
    str
        'float32' or 'bfloat16'.

    Raises
    ------
    ValueError
        'bfloat16' for Cellpose 3 on Apple MPS, where it was never run.
    """
    if precision == "auto":
        return "bfloat16" if network == "cellpose-sam" and device == "cuda" else "float32"
    if precision == "bfloat16" and network == "cellpose3" and device == "mps":
        raise ValueError("precision 'bfloat16' with network 'cellpose3' runs on a CPU or a CUDA GPU, not on MPS; "
                         "use precision float32 or device cpu")
    return precision


def load_cellpose_model(
    model_path: str | os.PathLike[str],
    device: str,
    network: str = "cellpose3",
    precision: str = "auto",
) -> CellposeModel:
    """A ``CellposeModel`` with the weights of a local file, on ``device``.

    Checked first, before Cellpose sees the path: the file exists (:func:`check_model_path`;
    Cellpose would otherwise download its default model), the installed cellpose runs ``network``
    (:func:`check_cellpose_version`), and the file holds that network (:func:`model_file_network`).
    Cellpose 3 models are created with ``model_type=None`` and the absolute path, the only
    combination in which Cellpose 3.1 loads exactly that file and never consults its model zoo;
    Cellpose 4 loads an existing path as given.

    Parameters
    ----------
    model_path : str or os.PathLike
        The model file.
    device : str
        'cuda', 'mps' or 'cpu' (see :func:`select_device`).
    network : str, default "cellpose3"
        'cellpose3' or 'cellpose-sam'.
    precision : str, default "auto"
        As in :func:`resolve_precision`.

    Returns
    -------
    cellpose.models.CellposeModel
        The model, its network in eval mode.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    RuntimeError
        The installed cellpose does not run ``network``.
    ValueError
        An unknown device, or a file of another network.
    """
    path = check_model_path(model_path)
    check_cellpose_version(package_version("cellpose"), network)
    if device not in ("cuda", "mps", "cpu"):
        raise ValueError(f"device must be 'cuda', 'mps' or 'cpu' (see select_device), got {device!r}")
    _check_model_network(path, network)
    import torch
    from cellpose.models import CellposeModel

    torch_device = torch.device(device)
    logger.info("loading %s model %s on %s", _NETWORK_NAMES[network], path, device)
    if network == "cellpose-sam":
        model = CellposeModel(
            gpu=device != "cpu",
            pretrained_model=str(path),
            device=torch_device,
            use_bfloat16=resolve_precision(precision, network, device) == "bfloat16",
        )
    else:
        model = CellposeModel(
            gpu=device != "cpu",
            pretrained_model=str(path),
            model_type=None,
            device=torch_device,
            mkldnn=False,  # cellpose's MKL-DNN mode converts the whole network again at every call
        )
    if Path(str(model.pretrained_model)).resolve() != path:  # pragma: no cover - guards against a cellpose change
        raise RuntimeError(f"Cellpose loaded {model.pretrained_model} instead of {path}")
    return _ready_for_inference(model, resolve_precision(precision, network, device))


def model_network(model: Any) -> str:
    """The network of a loaded ``CellposeModel``: 'cellpose-sam' (cellpose 4's transformer) or 'cellpose3'.

    Parameters
    ----------
    model : cellpose.models.CellposeModel
        A loaded model.

    Returns
    -------
    str
        'cellpose-sam' or 'cellpose3'.
    """
    return "cellpose-sam" if hasattr(getattr(model, "net", None), "W2") else "cellpose3"


def _ready_for_inference(model: CellposeModel, precision: str = "float32") -> CellposeModel:
    """The model with its network in eval mode, and a Cellpose 3 CPnet also in channels-last memory.

    With whole-frame passes the CPnet part runs about 1.8x faster channels-last than in cellpose's
    default layout on 2 CPU cores (bench/RESULTS.md).  A Cellpose 3 CPnet in ``precision`` 'bfloat16' is
    put behind :class:`AutocastNetwork`, so every path through ``model.net`` (cellpipe's passes and
    Cellpose's own ``eval`` of 3-D stacks) computes in bfloat16.  Cellpose-SAM's transformer is left as
    cellpose 4 made it.
    """
    import torch

    cpnet = model_network(model) == "cellpose3"
    if cpnet:
        model.net.to(memory_format=torch.channels_last)
    model.net.eval()
    if cpnet and precision == "bfloat16":
        model.net = AutocastNetwork(model.net)
        warn_if_bfloat16_emulated("segment.cellpose.precision", _device_of(model))
    return model


def network_precision(model: Any) -> str:
    """The number format a loaded model's network computes in: 'float32' or 'bfloat16'.

    Parameters
    ----------
    model : cellpose.models.CellposeModel
        A model from :func:`load_cellpose_model` or :func:`load_builtin_cellpose_model`.

    Returns
    -------
    str
        'bfloat16' for Cellpose-SAM's converted weights and for a CPnet behind :class:`AutocastNetwork`.
    """
    return str(getattr(model.net, "dtype", "torch.float32")).removeprefix("torch.")


def load_builtin_cellpose_model(
    name: str, device: str, network: str = "cellpose3", precision: str = "auto"
) -> CellposeModel:
    """A model Cellpose provides ('cyto3', 'nuclei', 'cpsam', ...), downloaded by Cellpose on first use.

    Only called when ``segment.cellpose.builtin_model`` names it.

    Parameters
    ----------
    name : str
        One of :data:`BUILTIN_MODELS` of ``network``.
    device : str
        'cuda', 'mps' or 'cpu'.
    network : str, default "cellpose3"
        'cellpose3' or 'cellpose-sam'.
    precision : str, default "auto"
        As in :func:`resolve_precision`.

    Returns
    -------
    cellpose.models.CellposeModel
        The model, its network in eval mode.

    Raises
    ------
    ValueError
        ``name`` is not a model of ``network``.
    RuntimeError
        The installed cellpose does not run ``network``, or the model is not in Cellpose's model
        folder and cannot be downloaded (no network).
    """
    if name not in BUILTIN_MODELS[network]:
        raise ValueError(f"{name!r} is not a {network} model; choose one of {', '.join(BUILTIN_MODELS[network])}")
    check_cellpose_version(package_version("cellpose"), network)
    import torch
    from cellpose import models

    try:
        if network == "cellpose-sam":
            model = models.CellposeModel(
                gpu=device != "cpu",
                pretrained_model=name,
                device=torch.device(device),
                use_bfloat16=resolve_precision(precision, network, device) == "bfloat16",
            )
        else:
            model = models.CellposeModel(
                gpu=device != "cpu", model_type=name, device=torch.device(device), mkldnn=False
            )
    except (OSError, ValueError) as exc:  # urllib errors are OSErrors
        raise RuntimeError(
            f"Cellpose built-in model {name!r} is not in {models.MODEL_DIR} and could not be downloaded "
            f"({type(exc).__name__}: {exc}); give segment.cellpose.model the path of a local model file instead"
        ) from None
    return _ready_for_inference(model, resolve_precision(precision, network, device))


def load_segmentation_model(settings: CellposeSettings, device: str) -> CellposeModel:
    """The model ``settings`` name: a local file (``model``) or a Cellpose built-in (``builtin_model``).

    Parameters
    ----------
    settings : CellposeSettings
        The ``segment.cellpose`` settings.
    device : str
        'cuda', 'mps' or 'cpu'.

    Returns
    -------
    cellpose.models.CellposeModel
        As :func:`load_cellpose_model` or :func:`load_builtin_cellpose_model`.
    """
    if settings.builtin_model is not None:
        return load_builtin_cellpose_model(settings.builtin_model, device, settings.network, settings.precision)
    return load_cellpose_model(settings.model, device, settings.network, settings.precision)


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
        from skimage import filters

        thresholds = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "triangle": filters.threshold_triangle}
        return float(thresholds[method](image))
    return float(method)


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


# --------------------------------------------------------------------------- classical, 3-D


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


def _check_voxel_size(voxel_size_um: tuple[float, float, float]) -> tuple[float, float, float]:
    sizes = tuple(float(v) for v in voxel_size_um)
    if len(sizes) != 3 or not all(v > 0 and math.isfinite(v) for v in sizes):
        raise ValueError(f"voxel size must be three positive numbers of µm (z, y, x), got {voxel_size_um}")
    return sizes  # type: ignore[return-value]


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


def _finite(image: np.ndarray) -> np.ndarray:
    """``image`` with its NaN and infinite voxels set to its smallest finite value (0 when it has none)."""
    finite = np.isfinite(image)
    if finite.all():
        return image
    return np.where(finite, image, np.min(image[finite]) if finite.any() else 0.0).astype(np.float32)


def _prepared_stack(image: np.ndarray, settings: ClassicalSettings, vox: ClassicalVoxels) -> np.ndarray:
    """The image the classical 3-D method thresholds: finite, transformed, smoothed, background subtracted."""
    from skimage.filters import gaussian

    image = _transform_intensity(_finite(image), settings)
    if any(s > 0 for s in vox.smoothing_sigma_vox):
        image = gaussian(image, sigma=vox.smoothing_sigma_vox, preserve_range=True).astype(np.float32)
    if settings.background != "none":
        image = image - _background_3d(image, settings.background, vox.background_vox)
    return image


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


def _stacks_shape(stacks: Any) -> tuple[int, int, int, int]:
    shape = tuple(int(n) for n in stacks.shape)
    if len(shape) != 4:
        raise ValueError(f"expected (T, Z, Y, X) stacks of one channel, got an array of shape {shape}")
    return shape  # type: ignore[return-value]


def _segment_each_stack(stacks: ArrayLike, segment_one: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(T, Z, Y, X) uint32 labels of every stack of ``stacks`` (:func:`iter_stacks`), in one array."""
    stacks = _as_frames(stacks)
    out = np.zeros(_stacks_shape(stacks), dtype=np.uint32)
    for t, labels in iter_stacks(stacks, segment_one):
        out[t] = labels
    return out


# --------------------------------------------------------------------------- cellpose


def _as_frames(frames: ArrayLike) -> Any:
    if hasattr(frames, "shape") and hasattr(frames, "__getitem__"):
        return frames
    return np.asarray(frames)


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


def _frames_shape(frames: Any) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in frames.shape)
    if len(shape) != 3:
        raise ValueError(f"expected (T, Y, X) frames of one channel, got an array of shape {shape}")
    return shape  # type: ignore[return-value]


def _device_of(model: Any) -> str:
    device = getattr(model, "device", None)
    return str(getattr(device, "type", device or "cpu"))


def _model_diam_mean(model: Any) -> float:
    """The diameter (px) the network was trained at; frames are rescaled so cells have it.

    Cellpose 3: the model's ``diam_mean``; Cellpose-SAM: 30 px for every model (cellpose 4).
    """
    if model_network(model) == "cellpose-sam":
        return SAM_DIAMETER_PX
    return float(np.asarray(model.diam_mean).ravel()[0])


def _cellpose_diameter(model: Any, diameter_px: float | None) -> float:
    """The cell diameter (px) Cellpose works with: the given one, else the model's own.

    The model's own is, for Cellpose 3, its ``diam_labels``; for Cellpose-SAM 30 px, i.e. frames are not
    rescaled, as cellpose 4 does.
    """
    if diameter_px is not None:
        return float(diameter_px)
    if model_network(model) == "cellpose-sam":
        return SAM_DIAMETER_PX
    return float(np.asarray(getattr(model, "diam_labels", model.diam_mean)).ravel()[0])


def _network_tile_px(model: Any, settings: CellposeSettings) -> int:
    """Tile side (px) of the network passes: ``settings.tile_px``, or 256 for Cellpose-SAM (fixed)."""
    return SAM_TILE_PX if model_network(model) == "cellpose-sam" else settings.tile_px


def network_runtime(
    compile: bool | str, network: str, device: str, network_megapixels: float, precision: str = "float32"
) -> str:
    """What runs the 2-D network pass of a job: 'torch' (eager), 'inductor' (``torch.compile``) or 'onnxruntime'.

    Parameters
    ----------
    compile : bool or str
        ``segment.cellpose.compile``: True, False, 'auto' or 'onnxruntime'.
    network : str
        'cellpose3' or 'cellpose-sam'.
    device : str
        'cuda', 'mps' or 'cpu'.
    network_megapixels : float
        The job's network input: frames x rescaled frame area (megapixels).
    precision : str, default "float32"
        The network's number format (:func:`network_precision`); 'bfloat16' runs in torch (autocast).

    Returns
    -------
    str
        'torch' for False, for 'cellpose-sam' and for bfloat16; 'inductor' for True; 'onnxruntime' on the CPU for
        'onnxruntime' ('torch' on a GPU, which ONNX Runtime's CPU build does not drive); for 'auto',
        'onnxruntime' on the CPU from :data:`COMPILE_MIN_MEGAPIXELS` on, where the time saved surely
        outweighs exporting the network (bench/RESULTS.md, issue #28), and 'torch' below it and on a GPU,
        where neither runtime was measured.

    Raises
    ------
    RuntimeError
        ``compile`` true on the CPU with no C++ compiler to build the code with.
    """
    if network != "cellpose3" or compile is False or precision == "bfloat16":
        return "torch"
    if compile == "onnxruntime":
        return "onnxruntime" if device == "cpu" else "torch"
    if compile == "auto":
        return "onnxruntime" if device == "cpu" and network_megapixels >= COMPILE_MIN_MEGAPIXELS else "torch"
    if device == "cpu" and cpp_compiler() is None:
        raise RuntimeError(
            "segment.cellpose.compile is true, but no C++ compiler was found for torch.compile on the CPU "
            f"(${{CXX}} or g++, c++, clang++ on PATH; CXX={os.environ.get('CXX')!r}): install one (Debian: apt-get "
            "install g++), set compile to onnxruntime (no compiler needed), auto or false"
        )
    return "inductor"


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU code generation would call, or None where there is none.

    ``compile: true`` then stops with a message naming what is missing instead of failing deep inside inductor.

    Returns
    -------
    str or None
        The path of ``$CXX`` where set, else of the first of g++, c++, clang++ on ``PATH``; None when none is found.
    """
    import shutil

    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def _network_megapixels(frames_shape: tuple[int, int, int], model: Any, diameter_px: float | None) -> float:
    """Frames x frame area after rescaling to the model's diameter (megapixels): the network's input."""
    n_frames, height, width = frames_shape
    rescale = _model_diam_mean(model) / _cellpose_diameter(model, diameter_px)
    return n_frames * height * width * rescale * rescale / 1e6


class _WrappedNetwork:
    """A Cellpose 3 CPnet behind another way of running it.

    Anything else Cellpose asks of the network (``nout``, ``device``, ``mkldnn``, ``diam_mean``) is the
    wrapped network's.
    """

    def __init__(self, net: Any) -> None:
        self.net = net

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("net", "batch"):  # copy and pickle look these up unset
            raise AttributeError(name)
        return getattr(self.net, name)

    def eval(self) -> _WrappedNetwork:
        """Return this object; the wrapped network is already in eval mode.

        Returns
        -------
        _WrappedNetwork
            ``self``.
        """
        return self


class AutocastNetwork(_WrappedNetwork):
    """The CPnet computing in bfloat16 under ``torch.autocast`` (``segment.cellpose.precision: bfloat16``).

    The weights stay float32; autocast runs convolutions in bfloat16 and keeps the operations that need the
    range (normalization, reductions) in float32. Outputs are returned as float32, as Cellpose reads them.
    On a CPU with AVX512-BF16 or AMX units oneDNN's bfloat16 convolutions ran a 512 px CPnet pass 2.5x faster
    than float32 (bench/RESULTS.md); without them bfloat16 is emulated and slower (:func:`warn_if_bfloat16_emulated`).
    """

    @property
    def dtype(self) -> Any:
        """torch.bfloat16: the arithmetic's format (the weights stay float32)."""
        import torch

        return torch.bfloat16

    def __call__(self, x: Any) -> tuple[Any, Any]:
        """Flows and cell probability (N, 3, Y, X) and styles (N, 256), float32, of tiles (N, 2, Y, X)."""
        import torch

        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            y, style = self.net(x)[:2]
        return y.float(), style.float()


def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), as torch's CPU kernels see it.

    Returns
    -------
    bool
        True where oneDNN's bfloat16 convolutions run natively.
    """
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def warn_if_bfloat16_emulated(setting: str, device: str) -> None:
    """Log a warning when bfloat16 arithmetic asked for by ``setting`` would be emulated on this CPU.

    Without AVX512-BF16 or AMX units oneDNN converts every bfloat16 operation in software. On a 2-core AMD
    EPYC with oneDNN limited to AVX-512 without BF16, a 512 px CPnet pass took 1.6x float32's time and a
    training step 1.9x; limited to AVX2, 4.5x and 9.6x (bench/RESULTS.md).

    Parameters
    ----------
    setting : str
        The configuration key that asked for bfloat16, named in the warning.
    device : str
        'cuda', 'mps' or 'cpu'; only 'cpu' is checked.
    """
    if device == "cpu" and not cpu_has_bfloat16_units():
        logger.warning(
            "%s is bfloat16, but this CPU has no bfloat16 units (AVX512-BF16 or AMX): the arithmetic is "
            "emulated, 1.6-10x slower than float32 (bench/RESULTS.md); use float32 on this machine", setting)


class _FixedShapeNetwork(_WrappedNetwork):
    """A Cellpose 3 CPnet behind a runtime that takes one input shape, for ``cellpose.core.run_net``.

    A pass of fewer than ``batch`` tiles (the last of a movie) is padded with empty tiles so the shape,
    and the code made for it, stay the same; the tiles of a batch do not influence each other in eval
    mode. Anything else ``run_net`` asks of the network (``nout``, ``device``, ``mkldnn``) is the wrapped
    network's.

    Parameters
    ----------
    net : torch.nn.Module
        The eval-mode CPnet (channels-last, as :func:`load_cellpose_model` leaves it).
    batch : int
        Tiles per call (tiles).
    """

    def __init__(self, net: Any, batch: int) -> None:
        super().__init__(net)
        self.batch = batch

    def __call__(self, x: Any) -> tuple[Any, Any]:
        """Flows and cell probability (N, 3, Y, X) and styles (N, 256) of N <= ``batch`` tiles (N, 2, Y, X)."""
        n = int(x.shape[0])
        if n < self.batch:
            x = _with_empty_tiles(x, self.batch - n)
        y, style = self._run(x)
        return y[:n], style[:n]

    def _run(self, x: Any) -> tuple[Any, Any]:
        raise NotImplementedError


def _with_empty_tiles(x: Any, n: int) -> Any:
    """``x`` (N, C, Y, X) with ``n`` all-zero tiles appended, on its device and of its dtype."""
    import torch

    return torch.cat([x, x.new_zeros((n, *x.shape[1:]))])


class CompiledNetwork(_FixedShapeNetwork):
    """The CPnet through ``torch.compile`` (``segment.cellpose.compile: true``).

    Compiled with ``dynamic=False`` and inductor's ``freezing`` (weights folded in as constants, so
    oneDNN convolutions get prepacked weights) at the first call.

    Parameters
    ----------
    net : torch.nn.Module
        The eval-mode CPnet.
    batch : int
        Tiles per call (tiles).
    """

    def __init__(self, net: Any, batch: int) -> None:
        import torch

        super().__init__(net, batch)
        self._compiled = torch.compile(net, dynamic=False, backend=COMPILE_BACKEND)

    def _run(self, x: Any) -> tuple[Any, Any]:
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True):
            y, style = self._compiled(x)[:2]
        return y, style


ONNX_EXPORT_FORMAT = 1
"""Bumped when what :class:`OnnxNetwork` exports changes (inputs, outputs, exporter options), so older cache
entries are no longer read."""


def onnx_cache_name(net: Any, shape: tuple[int, ...]) -> str:
    """The cache file name of ``net`` exported at input ``shape``: a hash of all the export depends on.

    Parameters
    ----------
    net : torch.nn.Module
        The network; every parameter and buffer (name, dtype, shape, values) enters the hash.
    shape : tuple of int
        The input shape (tiles, channels, Y px, X px).

    Returns
    -------
    str
        ``cpnet-<sha256 hex>.onnx``, the hash also covering torch's, onnx's and onnxscript's versions and
        :data:`ONNX_EXPORT_FORMAT`.
    """
    import hashlib

    digest = hashlib.sha256()
    header = [ONNX_EXPORT_FORMAT, list(shape), type(net).__name__,
              *(package_version(name) for name in ("torch", "onnx", "onnxscript"))]
    digest.update(repr(header).encode())
    for key, tensor in sorted(net.state_dict().items()):
        values = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{values.dtype}:{tuple(values.shape)}".encode())
        digest.update(values.numpy().tobytes())
    return f"cpnet-{digest.hexdigest()}.onnx"


class OnnxNetwork(_FixedShapeNetwork):
    """The CPnet exported to ONNX and run by ONNX Runtime on the CPU (``segment.cellpose.compile: onnxruntime``).

    At the first call of each tile shape the network is exported (``torch.onnx.export``, the
    ``torch.export``-based exporter; 3-7 s) and an ONNX Runtime session made with as many threads as torch
    uses; nothing is compiled with a C++ compiler. The exported model is kept in the user's cache
    (:mod:`cellpipe.io.cache`, about 27 MB per model and tile shape) under a key hashing the network's
    weights, the tile shape and the exporter's versions, so later jobs with the same model and shape read it
    instead of exporting; an entry ONNX Runtime cannot load is exported again and replaced.

    With ``fallback`` (``compile: auto``, where the user did not ask for ONNX Runtime) a network ONNX Runtime
    cannot export, load or run is run by torch instead, for the rest of the job, with a warning in the log;
    :attr:`failure` then says why (:func:`record_network_fallback` writes it into segmentation.json).

    Parameters
    ----------
    net : torch.nn.Module
        The eval-mode CPnet.
    batch : int
        Tiles per call (tiles).
    fallback : bool, default False
        Run torch where ONNX Runtime fails; otherwise the error is raised.
    """

    def __init__(self, net: Any, batch: int, fallback: bool = False) -> None:
        super().__init__(net, batch)
        self._sessions: dict[tuple[int, ...], Any] = {}
        self.fallback = fallback
        self.failure: str | None = None

    def _session(self, shape: tuple[int, ...]) -> Any:
        if shape not in self._sessions:
            name = onnx_cache_name(self.net, shape)
            cached = read_cached("onnx", name)
            session = None
            if cached is not None:
                try:
                    session = self._new_session(cached)
                    logger.info("network for input shape %s (tiles, channels, px, px) read from %s", shape, cached_path("onnx", name))
                except Exception as err:  # noqa: BLE001 - ONNX Runtime raises its own types for a bad model file
                    logger.warning("cached ONNX model %s not loaded (%s): exporting again", cached_path("onnx", name), err)
                    drop_cached("onnx", name)
            if session is None:
                started = time.perf_counter()
                model = self._export(shape)
                session = self._new_session(model)
                where = write_cached("onnx", name, model)
                logger.info("network for input shape %s exported to ONNX in %.1f s%s", shape, time.perf_counter() - started,
                            f", kept in {where}" if where else "")
            self._sessions[shape] = session
        return self._sessions[shape]

    def _export(self, shape: tuple[int, ...]) -> bytes:
        """The network at input ``shape`` as a serialized ONNX model (flows and cell probability, styles)."""
        import torch

        class FlowsAndStyle(torch.nn.Module):
            """CPnet's first two outputs (flows and cell probability, styles): what ``run_net`` reads."""

            def __init__(self, net: Any) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: Any) -> tuple[Any, Any]:
                y, style = self.net(x)[:2]
                return y, style

        # the exporter logs each torchvision operator it cannot register (torchvision is not installed and
        # CPnet uses none) and torch's own pytree deprecation: noise in the job's log, not about this network
        registration = logging.getLogger("torch.onnx._internal.exporter._registration")
        level = registration.level
        registration.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
                program = torch.onnx.export(
                    FlowsAndStyle(self.net).eval(), (torch.zeros(shape),), dynamo=True, verbose=False,
                    input_names=["tiles"], output_names=["flows", "style"],
                )
        finally:
            registration.setLevel(level)
        return bytes(program.model_proto.SerializeToString())

    @staticmethod
    def _new_session(model: bytes) -> Any:
        """An ONNX Runtime CPU session of a serialized model, with torch's thread count."""
        import onnxruntime
        import torch

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # idle workers sleep instead of spinning: the masks of the previous pass are rebuilt on the same cores
        # meanwhile (2 % less wall time per GOWT1 frame on 2 cores, 5 % less CPU time; bench/RESULTS.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # no memory pattern: with it, a second pass of a 1024 px tile held 3.5 GB against 2.2 GB without, at the same
        # speed (bench/RESULTS.md, "ONNX Runtime by default")
        options.enable_mem_pattern = False
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def _run(self, x: Any) -> tuple[Any, Any]:
        import torch

        if self.failure is None:
            tiles = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
            try:
                y, style = self._session(tuple(tiles.shape)).run(None, {"tiles": tiles})
                return torch.from_numpy(y), torch.from_numpy(style)
            except MemoryError:
                raise
            except Exception as err:  # noqa: BLE001 - the exporter and ONNX Runtime raise types of their own
                if not self.fallback:
                    raise
                self.failure = f"{type(err).__name__}: {err}"[:500]
                logger.warning("ONNX Runtime could not run the network (%s); torch runs it for the rest of the job "
                               "(segment.cellpose.compile: auto)", self.failure)
        y, style = self.net(x)[:2]
        return y, style


def network_for_runtime(model: Any, runtime: str, batch: int, fallback: bool = False) -> Any:
    """The model's network for ``runtime`` at ``batch`` tiles per call, made once per model, runtime and batch.

    The object is kept on the model, so a job that loads its model once compiles (or exports) once; the
    code itself is made at the first call of each tile shape.

    Parameters
    ----------
    model : cellpose.models.CellposeModel
        A Cellpose 3 model from :func:`load_cellpose_model`.
    runtime : str
        'torch' (the model's own network), 'inductor' or 'onnxruntime' (:func:`network_runtime`).
    batch : int
        Tiles per network call (tiles).
    fallback : bool, default False
        'onnxruntime' only: torch runs the network where ONNX Runtime fails (:class:`OnnxNetwork`).

    Returns
    -------
    object
        What to hand to ``cellpose.core.run_net``.
    """
    if runtime == "torch":
        return model.net
    cache = model.__dict__.setdefault("_cellpipe_networks", {})
    key = (runtime, batch, fallback)
    if key not in cache:
        cache[key] = OnnxNetwork(model.net, batch, fallback) if runtime == "onnxruntime" else \
            CompiledNetwork(model.net, batch)
    return cache[key]


def record_network_fallback(info: dict[str, Any], model: Any) -> dict[str, Any]:
    """``info`` (a run's segmentation.json record) with the runtime torch where ONNX Runtime was given up.

    Under ``compile: auto`` a network ONNX Runtime could not run is run by torch (:class:`OnnxNetwork`); after
    the run, ``network_runtime`` then says 'torch' and ``network_runtime_fallback`` why.

    Parameters
    ----------
    info : dict
        The run's record, changed in place.
    model : Any
        The run's Cellpose model, or None (classical).

    Returns
    -------
    dict
        ``info``.
    """
    wrappers = getattr(model, "__dict__", {}).get("_cellpipe_networks", {}).values()
    failures = [w.failure for w in wrappers if getattr(w, "failure", None)]
    if failures and info.get("network_runtime") == "onnxruntime":
        info["network_runtime"] = "torch"
        info["network_runtime_fallback"] = failures[0]
        info.pop("onnxruntime_version", None)
    return info


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


def effective_batch_size(settings: CellposeSettings, device: str) -> int:
    """Tiles per network pass: ``settings.batch_size``, or when unset 1 on a CPU and 4 on a GPU.

    Parameters
    ----------
    settings : CellposeSettings
        The ``segment.cellpose`` settings.
    device : str
        'cuda', 'mps' or 'cpu'.

    Returns
    -------
    int
        Tiles per pass.
    """
    if settings.batch_size is not None:
        return settings.batch_size
    return 1 if device == "cpu" else 4


def divide_batch_size(settings: SegmentSettings, device: str, divisor: int) -> SegmentSettings:
    """``settings`` with Cellpose's tiles per network pass divided by ``divisor`` (at least 1 tile).

    What a retry after running out of memory uses (rule segment_frames: divisor 2 on the second
    attempt, 4 on the third).  The division applies to :func:`effective_batch_size` on ``device``, so
    an unset ``batch_size`` is first resolved (4 on a GPU).

    Parameters
    ----------
    settings : SegmentSettings
        The job's settings.
    device : str
        'cuda', 'mps' or 'cpu'.
    divisor : int
        At least 1.

    Returns
    -------
    SegmentSettings
        A copy with the smaller ``cellpose.batch_size``; classical segmentation and divisor 1 as they are.

    Raises
    ------
    ValueError
        ``divisor`` below 1.
    """
    if divisor < 1:
        raise ValueError(f"batch divisor must be at least 1, got {divisor}")
    if divisor == 1 or settings.method != "cellpose":
        return settings
    batch = max(1, effective_batch_size(settings.cellpose, device) // divisor)
    return settings.model_copy(update={"cellpose": settings.cellpose.model_copy(update={"batch_size": batch})})


class SegmentationOutOfMemory(MemoryError):
    """Segmentation ran out of (GPU or host) memory; the message names the file and what to lower."""


def is_out_of_memory(error: BaseException) -> bool:
    """Tell whether ``error`` is running out of memory.

    Parameters
    ----------
    error : BaseException
        Any exception.

    Returns
    -------
    bool
        True for Python's ``MemoryError`` and torch's out-of-memory error (CUDA, MPS).
    """
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return oom is not None and isinstance(error, oom)


def _tiles_per_frame(height: int, width: int, rescale: float, tile_px: int, tile_overlap: float) -> int:
    """Network tiles of one frame of (height, width) px after rescaling and Cellpose's padding."""
    from cellpose import transforms

    ly, lx = int(height * rescale), int(width * rescale)
    pad = transforms.get_pad_yx(ly, lx)
    ly, lx = ly + pad[0] + pad[1], lx + pad[2] + pad[3]
    grow = 1.0 + 2.0 * tile_overlap
    ny = 1 if ly <= tile_px else int(math.ceil(grow * ly / tile_px))
    nx = 1 if lx <= tile_px else int(math.ceil(grow * lx / tile_px))
    return ny * nx


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


# --------------------------------------------------------------------------- cellpose, 3-D


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
