"""Numba's on-disk cache for the functions Cellpose and traccuracy compile when imported, for the
Python processes the tests start (sitecustomize.py imports this module when ``NUMBA_CACHE_DIR`` is set).

``cellpose.dynamics`` and ``traccuracy.matchers._compute_overlap`` compile their numba functions at
import, for fixed signatures and without ``cache=True``, so every process that imports them compiles
them again, which on the tests' tiny movies costs more than a job's own work: reading the cache saves about
3.8 s of CPU in a process that segments a frame, 5.2 s in one that also imports traccuracy, and takes an
evaluate_sample job of the tiny workflow run from 9.9 s to 3.6 s (bench/RESULTS.md, "Test suite cost").
While one of these modules is executed, ``numba.njit`` and ``numba.jit`` add ``cache=True`` (where the call
does not say otherwise), so the first process compiles and writes the machine code to ``$NUMBA_CACHE_DIR``
and every later one loads it.  The code run is the same: numba keys its cache on the function's source file, its signature, numba's
version and the CPU.  Functions that ask for ``cache=True`` themselves (cellpipe.masks) are cached there too.

Nothing is imported eagerly: the modules are wrapped when first imported (a meta path finder), so
processes that never load them are untouched.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys

TARGETS = frozenset({"cellpose.dynamics", "cellpose.metrics", "traccuracy.matchers._compute_overlap"})
"""The modules whose numba functions are compiled once per test session (the rest of numba is left alone)."""


def _caching(decorator):
    """``decorator`` (numba's njit or jit) adding ``cache=True`` when called from one of :data:`TARGETS`.

    Modules that a target imports for the first time may bind this wrapper while it is in place (numba's
    own jitclass does); for them it passes the call on unchanged.
    """

    @functools.wraps(decorator)
    def with_cache(*args, **kwargs):
        if sys._getframe(1).f_globals.get("__name__") in TARGETS:
            kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    return with_cache


class _CacheOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in TARGETS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_with_cache(module):
            import numba

            saved = numba.njit, numba.jit
            numba.njit, numba.jit = _caching(numba.njit), _caching(numba.jit)
            try:
                exec_module(module)
            finally:
                numba.njit, numba.jit = saved

        spec.loader.exec_module = exec_with_cache
        return spec


sys.meta_path.insert(0, _CacheOnImport())
