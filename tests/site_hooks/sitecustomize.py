"""Loaded by every Python process the tests start (PYTHONPATH): forbids network connections; with
``CELLPIPE_SIMULATED_GPU_TILES`` set, simulates a GPU with little memory (simulated_gpu.py); with
``NUMBA_CACHE_DIR`` set, caches the numba functions Cellpose and traccuracy compile at import (numba_cache.py,
cellpipe.runtime.numba_cache).

Only loopback and Unix sockets are allowed.  Any other connection attempt, or a
DNS lookup of a non-local name, raises ``NetworkBlockedError``, so a pipeline
step that tries to download anything fails loudly instead of silently
succeeding on a machine with network.
"""

import os
import socket

if os.environ.get("CELLPIPE_BLOCK_NETWORK") == "1":

    class NetworkBlockedError(OSError):
        pass

    _LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
    _real_connect = socket.socket.connect
    _real_connect_ex = socket.socket.connect_ex
    _real_getaddrinfo = socket.getaddrinfo

    def _is_local(address):
        if isinstance(address, (str, bytes)):  # AF_UNIX path
            return True
        host = address[0] if isinstance(address, tuple) and address else address
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host in _LOCAL or host.startswith("127.")

    def _guard(address):
        if not _is_local(address):
            raise NetworkBlockedError(f"cellpipe tests: network access blocked (tried to connect to {address!r})")

    def connect(self, address):
        _guard(address)
        return _real_connect(self, address)

    def connect_ex(self, address):
        _guard(address)
        return _real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        _guard((host,) if host is not None else ("",))
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo

if os.environ.get("CELLPIPE_SIMULATED_GPU_TILES"):
    import simulated_gpu  # noqa: F401  (tests/site_hooks/simulated_gpu.py)

if os.environ.get("NUMBA_CACHE_DIR"):
    import numba_cache  # noqa: F401  (tests/site_hooks/numba_cache.py)
