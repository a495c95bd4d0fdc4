"""Numba's on-disk cache for the functions Cellpose and traccuracy compile when imported, for every Python
process the tests start (sitecustomize.py imports this module when ``NUMBA_CACHE_DIR`` is set): the
workflow's jobs install it themselves (:mod:`cellpipe.runtime.numba_cache`); here the tests' own processes
(the Cellpose CLI of the benchmarks, scripts run by tests) get it too, in this session's cache folder.
"""

from cellpipe.runtime.numba_cache import install_numba_cache

install_numba_cache()
