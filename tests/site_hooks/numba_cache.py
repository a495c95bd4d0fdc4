"""Numba's on-disk cache for the functions Cellpose and traccuracy compile when imported, for every Python
process the tests start (sitecustomize.py imports this module when ``NUMBA_CACHE_DIR`` is set): the
workflow's jobs that load those libraries install it themselves (:mod:`cellpipe.runtime.numba_cache`); here
every process the tests start gets it, in this session's cache folder.
"""

from cellpipe.runtime.numba_cache import install_numba_cache

install_numba_cache()
