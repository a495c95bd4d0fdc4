"""Writes into an array in a background thread, so that the next frame's computation need not wait for it.

A segmentation job writes one compressed chunk per frame (about 10 ms for a 1024 x 1024 px label frame
with the label compressor on a 2-core CPU): at the tens of frames per second a GPU segments, writing in
the job's main thread would take a large part of the time the network could run.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class WriteBehind:
    """``writer[i] = value`` stores ``value`` as ``out[i]`` in a background thread, in the order given.

    At most ``max_pending`` writes wait or run at any time: a further assignment first waits for the
    oldest, which bounds the memory held to that many values.  A write that failed raises its error at a
    later assignment or when the block ends.  Leaving the block waits for every write; leaving it with an
    error cancels the writes not started and waits for the one running, so the caller's clean-up (e.g. an
    atomic output removed) never races a write.  The caller must not change a value after handing it over.

    Parameters
    ----------
    out : Any
        The array written into (anything with ``out[index] = value``, e.g. a Zarr array).
    max_pending : int, default 2
        Writes waiting or running at most (at least 1).

    Raises
    ------
    ValueError
        ``max_pending`` below 1.
    """

    def __init__(self, out: Any, max_pending: int = 2) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self._out = out
        self._max_pending = int(max_pending)
        self._pending: deque[Future[None]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cellpipe-write-behind")

    def _write(self, index: Any, value: Any) -> None:
        self._out[index] = value

    def __setitem__(self, index: Any, value: Any) -> None:
        # finished writes are collected first, so an error surfaces at the next assignment after it
        while self._pending and (len(self._pending) >= self._max_pending or self._pending[0].done()):
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, index, value))

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                while self._pending:
                    self._pending.popleft().result()
        finally:
            # after an error (the caller's, or a write's) the writes not started are dropped and the one
            # running is waited for
            for future in self._pending:
                future.cancel()
            self._pending.clear()
            self._pool.shutdown(wait=True)
