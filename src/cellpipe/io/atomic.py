"""Write outputs under a temporary name and rename them when complete.

An interrupted job (SIGKILL, node failure) then leaves either the complete
output or nothing under the final name, never a half-written file.

The temporary is a hidden sibling in the same folder (so the rename stays on one
file system): ``.<name>.tmp-<host>-<pid>-<random>``, where ``<host>`` is a short
hash of the machine's name and ``<pid>`` the writing process.  A job killed
before its rename leaves that temporary behind (Python cleans up nothing on
SIGKILL); the next write of the same output removes it when it was made on this
machine by a process that no longer runs.  A temporary of a live process, or one
made on another machine, is never touched: after a kill on a cluster the old job
may still be running and will finish its own rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

TMP_MARK = ".tmp-"
"""Every temporary name holds this (``.<name>.tmp-<host>-<pid>-<random>``)."""


def host_tag() -> str:
    """Six hex digits naming this machine in temporary names (a hash of its host name)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _stale_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(path.name)}{re.escape(TMP_MARK)}([0-9a-f]{{6}})-(\d+)-[0-9a-f]{{8}}$")


def process_running(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one of another user counts)."""
    if pid <= 0:
        return True  # not a real process id: never treat as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Temporaries of ``path`` left by writers that died on this machine (see the module's docstring)."""
    final = Path(path)
    parent = final.parent
    if not parent.is_dir():
        return []
    pattern, here = _stale_pattern(final), host_tag()
    stale = []
    for entry in sorted(parent.iterdir()):
        match = pattern.match(entry.name)
        if match is None or match.group(1) != here:
            continue
        pid = int(match.group(2))
        if pid != os.getpid() and not process_running(pid):
            stale.append(entry)
    return stale


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove what :func:`stale_temporaries` finds; returns the removed paths."""
    removed = []
    for entry in stale_temporaries(path):
        with contextlib.suppress(FileNotFoundError):  # another writer may have removed it first
            _remove(entry)
            removed.append(entry)
            logger.info("removed %s, left by an interrupted write of %s", entry, Path(path).name)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` on success.

    Works for files and directories (e.g. Zarr stores).  On any exception the
    temporary is removed and the final path is left untouched.  Temporaries of
    ``path`` left by a killed writer on this machine are removed first.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = _tmp_sibling(final)
    try:
        yield tmp
        if final.exists() or final.is_symlink():
            _remove(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
