"""Where and in which precision the Cellpose network runs: the device (CUDA, MPS or CPU), float32 or bfloat16.

``segment.cellpose.device`` and ``segment.cellpose.precision`` are resolved here; bfloat16 runs the network under
``torch.autocast`` (:class:`AutocastNetwork`), and is named in a warning on a CPU that only emulates it (for
``train.<model>.precision`` too).  torch is imported only inside the functions, so importing this module stays
cheap.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


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


def _device_of(model: Any) -> str:
    device = getattr(model, "device", None)
    return str(getattr(device, "type", device or "cpu"))


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
