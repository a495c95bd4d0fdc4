"""Logging set-up for rule scripts: everything goes to the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator


@contextlib.contextmanager
def log_to_file(path: str | os.PathLike[str], level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Send all logging (and an uncaught exception) of the block to a log file.

    The root logger takes a file handler at ``level`` and a stderr handler for warnings and worse for the
    block's duration; both are removed and the root level restored afterwards. An exception leaving the
    block is logged as one ``ERROR`` line (its type and message; the traceback at ``DEBUG``) and
    re-raised, so Snakemake sees the job fail and the log's last line is the reason. A block that ends
    normally logs its wall-clock time (s).

    Parameters
    ----------
    path : str or os.PathLike
        The rule's log file; its folder is created, the file is overwritten.
    level : int
        Lowest level written to the file (a :mod:`logging` level, default ``INFO``).

    Yields
    ------
    logging.Logger
        The ``cellpipe`` logger.
    """
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(logging.WARNING)
    stream.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(level)
    root.addHandler(handler)
    root.addHandler(stream)
    log = logging.getLogger("cellpipe")
    start = time.perf_counter()
    try:
        yield log
        log.info("done in %.1f s", time.perf_counter() - start)
    except Exception as exc:
        log.debug("traceback", exc_info=True)
        log.error("%s: %s", type(exc).__name__, exc)
        raise
    finally:
        root.removeHandler(handler)
        root.removeHandler(stream)
        handler.close()
        root.setLevel(old_level)
