"""Test helper: a randomly initialised Cellpose 3 network saved as a local model file.

The weights are untrained, so its masks mean nothing; it exercises the
Cellpose code path (loading from a local path, batching, devices, the run
record) without downloading a model.
"""

from __future__ import annotations

from pathlib import Path

#: Channels per feature level of Cellpose 3's standard network for two input channels.
CPNET_NBASE: tuple[int, ...] = (2, 32, 64, 128, 256)


def save_untrained_cpnet(path: Path, diam_mean: float = 30.0, seed: int = 0) -> Path:
    """Build a randomly initialised ``cellpose.resnet_torch.CPnet`` and save it at ``path``.

    The network has Cellpose 3's default layout (``nbase`` [2, 32, 64, 128,
    256], 3 outputs, 3x3 kernels) and ``diam_mean`` (px) stored in its
    state, so ``CellposeModel(pretrained_model=path)`` loads it.  The same
    ``seed`` gives the same weights; torch's global random state is left as
    it was.  Returns ``path``.
    """
    import torch
    from cellpose.resnet_torch import CPnet

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CPnet(list(CPNET_NBASE), nout=3, sz=3, mkldnn=False, max_pool=True, diam_mean=float(diam_mean))
    net.save_model(str(path))
    return path
