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

A write that runs out of disk space fails with :class:`DiskFullError`, one line naming the
output, the free space and the mount point, instead of what the library writing the bytes says
(numpy and tifffile: "65536 requested and 10112 written"; pyarrow: "Error writing bytes to file");
its temporary is removed like that of any failed write.
"""

from __future__ import annotations

import contextlib
import errno
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


class DiskFullError(OSError):
    """An output could not be written because its file system is full (errno ``ENOSPC``).

    An :class:`OSError` with ``errno.ENOSPC``, so code that handles OSError still does; its message is
    one line: ``<output>: not written, the disk is full (<N> MB free on <mount point>)``.
    """

    def __str__(self) -> str:  # the message alone: OSError's own would prefix "[Errno 28] "
        return str(self.strerror)


# A short write is how numpy's ``tofile`` (and so tifffile, which writes pixels with it) reports a full
# disk: an OSError without errno, "<n> requested and <m> written". pyarrow's OSError may also lack the
# errno, so its strerror text is matched as well.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
_NO_SPACE_TEXT = os.strerror(errno.ENOSPC)  # "No space left on device"


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) says the disk is full.

    Parameters
    ----------
    err : BaseException
        The exception; its ``__cause__`` and ``__context__`` chain is followed.

    Returns
    -------
    bool
        True for an OSError with ``ENOSPC`` or ``EDQUOT``, a short write (numpy, tifffile) or the text
        "No space left on device" anywhere in the chain.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            text = str(current)
            if current.errno in (errno.ENOSPC, errno.EDQUOT) or _SHORT_WRITE.search(text) or _NO_SPACE_TEXT in text:
                return True
        current = current.__cause__ or current.__context__
    return False


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the file system holding ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A file or folder; it need not exist (its nearest existing parent is used).

    Returns
    -------
    pathlib.Path
        The absolute mount point.
    """
    here = Path(os.path.abspath(path))
    while not here.exists() and here != here.parent:
        here = here.parent
    while not os.path.ismount(here) and here != here.parent:
        here = here.parent
    return here


def disk_full_error(path: str | os.PathLike[str]) -> DiskFullError:
    """The :class:`DiskFullError` for an output ``path``, with the free space and mount point as they are at the call.

    Parameters
    ----------
    path : str or os.PathLike
        The output that could not be written.

    Returns
    -------
    DiskFullError
        ``<path>: not written, the disk is full (<N> MB free on <mount point>)`` (free space in MB,
        10^6 bytes; "free space unknown" when it cannot be measured).
    """
    where = mount_point(Path(path).parent)
    try:
        free = f"{shutil.disk_usage(where).free / 1e6:.0f} MB free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(errno.ENOSPC, f"{os.fspath(path)}: not written, the disk is full ({free} on {where})")


def host_tag() -> str:
    """Six hex digits naming this machine in temporary names.

    Returns
    -------
    str
        The first 6 hex digits of the sha256 of the host name.
    """
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _stale_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(path.name)}{re.escape(TMP_MARK)}([0-9a-f]{{6}})-(\d+)-[0-9a-f]{{8}}$")


def process_running(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one of another user counts).

    Parameters
    ----------
    pid : int
        Process id; a value <= 0 (not a real process) counts as running, so it is never treated as dead.

    Returns
    -------
    bool
        False only when the system says no process has this id.
    """
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
    """Temporaries of ``path`` left by writers that died on this machine (see the module's docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The final output whose temporaries (``.<name>.tmp-<host>-<pid>-<random>`` beside it) are looked for.

    Returns
    -------
    list of pathlib.Path
        Sorted; those of this machine whose process no longer exists, never this process's own.
    """
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
    """Remove what :func:`stale_temporaries` finds.

    Parameters
    ----------
    path : str or os.PathLike
        The final output whose dead writers' temporaries are removed (files or folders).

    Returns
    -------
    list of pathlib.Path
        The temporaries removed (one another writer removed first is left out).
    """
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

    Parameters
    ----------
    path : str or os.PathLike
        The final output, file or folder; its parent folders are made.

    Yields
    ------
    pathlib.Path
        The temporary to write (in the same folder, so the rename stays on one file system).

    Raises
    ------
    DiskFullError
        Running out of disk space, in the block or in the rename, naming ``path`` (see the
        module's docstring).
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if is_disk_full(err):
            raise disk_full_error(final) from err
        raise
    remove_stale_temporaries(final)
    tmp = _tmp_sibling(final)
    try:
        yield tmp
        if final.exists() or final.is_symlink():
            _remove(final)
        os.replace(tmp, final)
    except DiskFullError:
        raise  # an inner atomic_path (a file inside a store) already named the disk: keep its message
    except Exception as err:  # noqa: BLE001 - a library may wrap the OSError (zarr's thread pool): is_disk_full follows the chain
        # measured before the temporary is removed (finally), so the free space shown is what the write met
        if is_disk_full(err):
            raise disk_full_error(final) from err
        raise
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
