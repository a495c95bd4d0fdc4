"""Numba's on-disk cache for the functions Cellpose and traccuracy compile when they are imported.

``cellpose.dynamics`` (and ``cellpose.metrics``) and ``traccuracy.matchers._compute_overlap`` compile their
numba functions at import, for fixed signatures and without ``cache=True``, so every job that imports them
compiles them again: about 2.6 s (2.4 s of processor time) in each job that loads Cellpose and 0.9 s in each that loads
traccuracy (bench/RESULTS.md, issue #28), paid per segmentation job, scattered part, training and
evaluation. After :func:`install_numba_cache`, while one of these modules is executed, ``numba.njit`` and ``numba.jit``
add ``cache=True`` (where the call does not say otherwise), so the first job on a machine compiles and
writes the machine code where numba keeps its cache (``$NUMBA_CACHE_DIR``, else a ``__pycache__`` folder
beside the package or the user's cache folder, numba's own choice, as for :mod:`cellpipe.masks`) and every
later job loads it. The code run is the same: numba keys its cache on the function's source file, its
signature, numba's version and the CPU.

Nothing is imported eagerly: the modules are wrapped when first imported (a meta path finder), so a
process that never loads them is untouched, and one that already has is left as it is.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

TARGETS = frozenset({"cellpose.dynamics", "cellpose.metrics", "traccuracy.matchers._compute_overlap"})
"""The modules whose numba functions are cached (the rest of numba is left alone)."""


def _caching(decorator: Callable[..., Any]) -> Callable[..., Any]:
    """``decorator`` (numba's njit or jit) adding ``cache=True`` when called from one of :data:`TARGETS`.

    Modules that a target imports for the first time may bind this wrapper while it is in place (numba's
    own jitclass does); for them it passes the call on unchanged.
    """

    @functools.wraps(decorator)
    def with_cache(*args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__") in TARGETS:
            kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    return with_cache


class _CacheOnImport(importlib.abc.MetaPathFinder):
    """Finds :data:`TARGETS` as Python would and executes them with numba's decorators caching."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in TARGETS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_with_cache(module: ModuleType) -> None:
            import numba

            saved = numba.njit, numba.jit
            numba.njit, numba.jit = _caching(numba.njit), _caching(numba.jit)
            try:
                exec_module(module)
            finally:
                numba.njit, numba.jit = saved

        spec.loader.exec_module = exec_with_cache  # type: ignore[method-assign]
        return spec


def install_numba_cache() -> bool:
    """Cache the numba functions of :data:`TARGETS` imported from now on in this process.

    Call it at the start of a job, before anything imports Cellpose or traccuracy; calling it again does
    nothing more.

    Returns
    -------
    bool
        True when the finder was added by this call, False when it was in place already.
    """
    if any(isinstance(finder, _CacheOnImport) for finder in sys.meta_path):
        return False
    sys.meta_path.insert(0, _CacheOnImport())
    return True
