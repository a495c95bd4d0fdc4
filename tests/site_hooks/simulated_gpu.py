"""A GPU that holds only a few network tiles at once, for tests of out-of-memory retries.

With ``CELLPIPE_SIMULATED_GPU_TILES=N`` in the environment (sitecustomize.py imports this module
then), a Cellpose network pass over more than N tiles raises ``torch.OutOfMemoryError``, the error
a CUDA device out of memory raises, before any work is done.  Passes of N tiles or fewer run as
usual.  Each such failure appends a line to ``$CELLPIPE_SIMULATED_GPU_LOG`` when that is set.

Nothing is imported eagerly: ``cellpose.core._forward`` is wrapped when ``cellpose.core`` is first
imported (a meta path finder), so processes that never load Cellpose are untouched.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

LIMIT = int(os.environ["CELLPIPE_SIMULATED_GPU_TILES"])
TARGET = "cellpose.core"


def _limit(core) -> None:
    import torch

    forward = core._forward

    def limited_forward(net, x):
        if x.shape[0] > LIMIT:
            message = (
                f"CUDA out of memory (simulated by cellpipe's tests: {x.shape[0]} tiles in one network pass, "
                f"at most {LIMIT} fit)"
            )
            log = os.environ.get("CELLPIPE_SIMULATED_GPU_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(f"{os.getpid()}\t{x.shape[0]}\n")
            raise torch.OutOfMemoryError(message)
        return forward(net, x)

    core._forward = limited_forward


class _WrapOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_limit(module):
            exec_module(module)
            _limit(module)

        spec.loader.exec_module = exec_and_limit
        return spec


if TARGET in sys.modules:
    _limit(sys.modules[TARGET])
else:
    sys.meta_path.insert(0, _WrapOnImport())
