"""What runs the Cellpose network on a CPU or GPU: torch eagerly, torch.compile or ONNX Runtime, and in what batches.

``segment.cellpose.compile`` (auto, false, true, onnxruntime) is resolved by :func:`network_runtime` from the
movie's size after rescaling (megapixels of network input); the exported ONNX graphs are cached by a hash of all
they depend on (:func:`onnx_cache_name`).  Batches are counted in tiles of ``segment.cellpose.tile_px`` px; a job
that ran out of memory is retried with fewer tiles per pass (:func:`divide_batch_size`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

from cellpipe.config import CellposeSettings, SegmentSettings
from cellpipe.io.cache import cached_path, drop_cached, read_cached, write_cached
from cellpipe.segment.device import _WrappedNetwork
from cellpipe.segment.models import _cellpose_diameter, _model_diam_mean
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)


#: Network input of a CPU job (frames x rescaled frame area, megapixels) from which
#: ``segment.cellpose.compile: auto`` runs the network through ONNX Runtime: 50 frames of 512 x 512 px, twice
#: the break-even of exporting the network (about 7 s) against the 0.31 s it saved per 512 px frame in a
#: 92-frame GOWT1 job on 2 cores (bench/RESULTS.md, issue #28).
COMPILE_MIN_MEGAPIXELS = 50 * 512 * 512 / 1e6

#: torch.compile backend of :class:`CompiledNetwork`; the unit tests swap in 'eager' (graph capture without
#: code generation), which checks the wrapper in seconds where inductor compiles for minutes.
COMPILE_BACKEND = "inductor"


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
