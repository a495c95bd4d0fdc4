"""Cellpose model files: checked before Cellpose sees them, then loaded, never downloaded.

Cellpose silently falls back to downloading a default model ('cyto3' in Cellpose 3, 'cpsam_v2' in Cellpose 4) when
the file it is given does not exist, so every path is checked first (:func:`check_model_path`), the file's network
(Cellpose 3 CPnet or Cellpose-SAM) read from its tensors and held against ``segment.cellpose.network`` and the
installed cellpose (:func:`check_model_file`, :func:`check_cellpose_version`).  Diameters in px of the network's
own scale (the model's ``diam_mean``, Cellpose-SAM's fixed 30 px).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cellpipe.config import BUILTIN_MODELS, CellposeSettings
from cellpipe.versions import package_version

if TYPE_CHECKING:  # pragma: no cover
    from cellpose.models import CellposeModel
from cellpipe.segment.device import AutocastNetwork, _device_of, resolve_precision, warn_if_bfloat16_emulated

logger = logging.getLogger(__name__)


#: The cellpose release series that runs each network.
CELLPOSE_MAJOR: dict[str, int] = {"cellpose3": 3, "cellpose-sam": 4}

#: Cell diameter (px) Cellpose-SAM rescales frames to; fixed by cellpose 4 for every model.
SAM_DIAMETER_PX = 30.0

#: Tile side (px) of the Cellpose-SAM network; fixed by its position embeddings.
SAM_TILE_PX = 256


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
