"""A per-user cache of files cellpipe can make again: derived from inputs named by their content, never results.

What is kept here (the network of a Cellpose model exported to ONNX, ``segment.cellpose.compile:
onnxruntime``) is found by a key that hashes everything it was made from, so a stale entry is never
read; deleting the folder costs only the time to make its files again. The folder is
``$CELLPIPE_CACHE_DIR`` where set, else ``$XDG_CACHE_HOME/cellpipe``, else ``~/.cache/cellpipe``.
A cache that cannot be read or written (a read-only home on a cluster node) is skipped with a log line:
the job then makes the file in memory, as without a cache.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cellpipe.io.atomic import atomic_path

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The cache folder (not created here).

    Returns
    -------
    pathlib.Path
        ``$CELLPIPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/cellpipe``, else ``~/.cache/cellpipe``.
    """
    if os.environ.get("CELLPIPE_CACHE_DIR"):
        return Path(os.environ["CELLPIPE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cellpipe"


def cached_path(kind: str, name: str) -> Path:
    """Where entry ``name`` of ``kind`` (a subfolder, e.g. 'onnx') is kept.

    Parameters
    ----------
    kind : str
        The subfolder.
    name : str
        The file name, which holds the entry's key.

    Returns
    -------
    pathlib.Path
        ``cache_dir() / kind / name``.
    """
    return cache_dir() / kind / name


def read_cached(kind: str, name: str) -> bytes | None:
    """The bytes of a cache entry, or None where there is none or it cannot be read.

    Parameters
    ----------
    kind : str
        The subfolder.
    name : str
        The file name.

    Returns
    -------
    bytes or None
        The entry's content.
    """
    path = cached_path(kind, name)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        logger.info("cache entry %s not read (%s)", path, err)
        return None


def write_cached(kind: str, name: str, data: bytes) -> Path | None:
    """Keep ``data`` as entry ``name`` of ``kind``, written whole under a temporary name and renamed.

    Jobs that write the same entry at once each rename a complete file of the same content.

    Parameters
    ----------
    kind : str
        The subfolder.
    name : str
        The file name.
    data : bytes
        The content.

    Returns
    -------
    pathlib.Path or None
        The entry's path, or None where the cache folder cannot be written (logged, not raised).
    """
    path = cached_path(kind, name)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as err:
        logger.info("cache entry %s not written (%s)", path, err)
        return None
    return path


def drop_cached(kind: str, name: str) -> None:
    """Remove a cache entry that turned out unusable (no error where it is gone already).

    Parameters
    ----------
    kind : str
        The subfolder.
    name : str
        The file name.
    """
    try:
        cached_path(kind, name).unlink(missing_ok=True)
    except OSError as err:
        logger.info("cache entry %s not removed (%s)", cached_path(kind, name), err)
