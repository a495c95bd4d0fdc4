"""SHA-256 checksums of files and folders, for provenance records and their replay.

A folder (a Cell Tracking Challenge movie or ground truth, a Zarr store) is described by every
regular file under it, hidden ones included (Zarr's ``.zarray``/``.zattrs``), in sorted order,
and by one digest over their relative paths and checksums (:func:`tree_digest`).  Every sha256 of a
file's bytes in cellpipe is computed here (:func:`sha256_of_stream`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

PathLike = str | os.PathLike[str]

SNAKEMAKE_MARKERS = frozenset({".snakemake_timestamp"})
"""Files Snakemake puts into folders it writes (``directory()`` outputs); not part of the data."""


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (never cached: a replay must see edits).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        The sha256, 64 hex digits.
    """
    with open(path, "rb") as handle:
        return sha256_of_handle(handle)[1]


@functools.lru_cache(maxsize=16)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    """:func:`file_sha256` of ``path``, kept for its size (bytes) and modification time (ns)."""
    return file_sha256(path)


def cached_file_sha256(path: PathLike) -> str:
    """SHA-256 of a file's bytes, computed once while its size and modification time are unchanged.

    For model weights, which every segment job's set-up hashes and its record again: the last 16
    files hashed are kept, by resolved path, size and modification time.  A provenance record and
    its replay use :func:`file_sha256`, which reads the bytes every time.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        The sha256, 64 hex digits.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _cached_sha256(str(resolved), stat.st_size, stat.st_mtime_ns)


BLOCK = 1 << 20
"""Bytes read at a time when hashing (1 MiB)."""


def sha256_of_stream(handle: BinaryIO, copy_to: BinaryIO | None = None) -> tuple[int, str]:
    """Size and sha256 of what is left to read of an open binary file, read in :data:`BLOCK`-byte blocks.

    Parameters
    ----------
    handle : binary file
        Open for reading; read to its end from where it stands.
    copy_to : binary file or None
        Open for writing; each block read is also written to it when given.

    Returns
    -------
    n_bytes : int
        Bytes read.
    sha256 : str
        Their sha256, 64 hex digits.
    """
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: handle.read(BLOCK), b""):
        digest.update(block)
        size += len(block)
        if copy_to is not None:
            copy_to.write(block)
    return size, digest.hexdigest()


def sha256_of_handle(handle: BinaryIO) -> tuple[int, str]:
    """Size and sha256 of an open binary file from its start.

    Parameters
    ----------
    handle : binary file
        Open for reading and seekable; left at its start, for a reader of the same open file
        (:func:`cellpipe.io.movies.open_movie`).

    Returns
    -------
    n_bytes : int
        The file's size in bytes.
    sha256 : str
        The sha256 of its bytes, 64 hex digits.
    """
    handle.seek(0)
    described = sha256_of_stream(handle)
    handle.seek(0)
    return described


def tree_digest(files: Iterable[Mapping[str, Any]]) -> str:
    r"""One sha256 for a folder: over ``"<relative path>\0<sha256>\n"`` of its files in path order.

    Renaming, adding, removing or changing any file changes it.  Provenance records hold it, and a trained
    model's record holds it for each training dataset given as a folder (cellpipe.train.data).

    Parameters
    ----------
    files : iterable of mapping
        One entry per file with ``path`` (relative to the folder, POSIX) and ``sha256`` (hex).

    Returns
    -------
    str
        The sha256, 64 hex digits.
    """
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: str(f["path"])):
        digest.update(f"{entry['path']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()


def file_description(n_bytes: int, sha256: str) -> dict[str, Any]:
    """A file as :func:`describe_path` describes it, without role and path.

    Parameters
    ----------
    n_bytes : int
        The file's size in bytes.
    sha256 : str
        The sha256 of its bytes (hex).

    Returns
    -------
    dict
        ``{"type": "file", "bytes": n_bytes, "sha256": sha256}``.
    """
    return {"type": "file", "bytes": int(n_bytes), "sha256": sha256}


def folder_description(files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A folder as :func:`describe_path` describes it, without role and path.

    Parameters
    ----------
    files : sequence of mapping
        One entry per file under the folder: ``path`` (relative, POSIX), ``bytes`` (size in bytes) and
        ``sha256`` (hex).

    Returns
    -------
    dict
        ``type`` ("directory"), ``bytes`` (the sum of the files' sizes), ``sha256`` (:func:`tree_digest`)
        and ``files`` in path order.
    """
    ordered = sorted(({"path": str(f["path"]), "bytes": int(f["bytes"]), "sha256": str(f["sha256"])} for f in files),
                     key=lambda f: f["path"])
    return {"type": "directory", "bytes": sum(f["bytes"] for f in ordered), "sha256": tree_digest(ordered), "files": ordered}


class ChangedWhileRead(OSError):
    """A file changed between the moment its bytes were hashed and the end of the job's reading of it."""


_IDENTITY = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
"""What tells that a path still holds the same file: an in-place rewrite changes the change time (ctime)
even when the modification time is restored, as `cp -p` does; a replacement by renaming changes the inode."""


@contextlib.contextmanager
def file_as_read(path: PathLike) -> Iterator[dict[str, Any]]:
    """Describe a file that a library reads by its path inside the ``with`` block.

    The description of a file that a library reads by its path inside the ``with`` block (torch
    loading a Cellpose model).

    The library opens the path itself, so the bytes cannot be hashed as it parses them: the file is
    hashed first and, when the block ends, the path must still be the same file, unchanged (device,
    inode, size, mtime and ctime as when it was hashed).  So the checksum is that of the bytes the
    library read.

    Parameters
    ----------
    path : str or os.PathLike
        The file the library reads.

    Yields
    ------
    dict
        ``type, bytes, sha256`` of the file (size in bytes; :func:`file_description`).

    Raises
    ------
    ChangedWhileRead
        The path was replaced, removed or rewritten before the block ended.
    """
    with open(path, "rb") as handle:
        before = os.fstat(handle.fileno())
        n_bytes, sha256 = sha256_of_handle(handle)
        hashed = os.fstat(handle.fileno())
    yield file_description(n_bytes, sha256)
    try:
        after = os.stat(path)
    except FileNotFoundError:
        after = None
    if after is None or any(getattr(s, k) != getattr(before, k) for s in (hashed, after) for k in _IDENTITY):
        raise ChangedWhileRead(f"{path}: changed while it was being read (replaced, or its size or change time "
                               "differ); run the job again")


def copy_as_read(source: PathLike, into: PathLike) -> tuple[Path, dict[str, Any]]:
    """Copy a file, or every file of a folder, into ``into``, hashing each byte as it is copied.

    Copy a file, or every file of a folder (:func:`files_under`), into the folder ``into``, hashing each
    byte as it is copied.

    For a job whose readers (py-ctcmetrics, traccuracy) open the files themselves, several times: they read
    the copy, so the checksum is that of the bytes they read even when the source is replaced meanwhile.

    Parameters
    ----------
    source : str or os.PathLike
        The file or folder to copy.
    into : str or os.PathLike
        The folder that receives the copy (made when missing).

    Returns
    -------
    copy : pathlib.Path
        ``into/<source's name>``.
    description : dict
        The source as read, as :func:`describe_path` describes it without role and path: ``type, bytes,
        sha256`` (size in bytes), a folder's ``files`` too.

    Raises
    ------
    FileNotFoundError
        ``source`` is neither a file nor a folder.
    """
    source, target = Path(source), Path(into) / Path(source).name

    def copy_one(src: Path, dst: Path) -> tuple[int, str]:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            return sha256_of_stream(fin, copy_to=fout)

    if source.is_dir():
        files = []
        for rel in files_under(source):
            size, sha256 = copy_one(source / rel, target / rel)
            files.append({"path": rel, "bytes": size, "sha256": sha256})
        target.mkdir(parents=True, exist_ok=True)  # an empty folder too
        return target, folder_description(files)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file or folder")
    return target, file_description(*copy_one(source, target))


def files_under(folder: PathLike) -> list[str]:
    """Every regular file under ``folder``: recursive, hidden files too, Snakemake's :data:`SNAKEMAKE_MARKERS` left out.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder; symbolic links to folders are followed.

    Returns
    -------
    list of str
        Paths relative to ``folder`` (POSIX), sorted.
    """
    root = Path(folder)
    found = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=True):
        for name in filenames:
            full = Path(dirpath) / name
            if full.is_file() and name not in SNAKEMAKE_MARKERS:
                found.append(full.relative_to(root).as_posix())
    return sorted(found)


def describe_files(where: PathLike, files: Sequence[str]) -> dict[str, Any]:
    """The files of a movie that reads some files only, described as :func:`describe_path` describes a folder.

    For one position of a Micro-Manager folder or of an OME-Zarr plate, or a multi-file OME-TIFF named by
    its first file.

    Parameters
    ----------
    where : str or os.PathLike
        The movie: a folder, or a file (a multi-file OME-TIFF's first file).
    files : sequence of str
        POSIX paths of the files read, relative to ``where`` when it is a folder, to its folder when it is a file.

    Returns
    -------
    dict
        ``type, bytes, sha256`` (:func:`tree_digest`), ``files`` (no role, no path).  ``type`` is ``directory``
        for a folder, ``files`` for a file (the file and the files beside it that it names); ``subset`` is true
        when the folder holds other files too, which were not read and are not described.  A file that is its
        own only file is described as a file (``type: file``), as :func:`describe_path` does.

    Raises
    ------
    FileNotFoundError
        One of the files does not exist.
    """
    where = Path(where)
    folder = where if where.is_dir() else where.parent
    names = sorted(set(files))
    if not where.is_dir() and names == [where.name]:
        return file_description(where.stat().st_size, file_sha256(where))
    entries = [{"path": rel, "bytes": (folder / rel).stat().st_size, "sha256": file_sha256(folder / rel)} for rel in names]
    described = folder_description(entries)
    if not where.is_dir():
        described["type"] = "files"
    elif names != files_under(where):
        described["subset"] = True
    return described


def describe_path(
    role: str, path: PathLike, workdir: PathLike | None = None, files: Sequence[str] | None = None
) -> dict[str, Any]:
    """The provenance entry of one input.

    Parameters
    ----------
    role : str
        What the input is to the job (``movie``, ``model``, ...), recorded as given.
    path : str or os.PathLike
        The file or folder, recorded as given (relative to the working directory, or absolute).
    workdir : str or os.PathLike or None
        Folder that a relative ``path`` is read from; None: the current directory.
    files : sequence of str or None
        Describe only these files of the movie at ``path`` (:func:`describe_files`), as ingest read them;
        None: the whole file or folder.

    Returns
    -------
    dict
        ``role, path, type`` (file / directory), ``bytes`` (size in bytes; a folder's sum) and ``sha256``
        (hex).  A folder also lists ``files`` (``path`` relative to the folder, ``bytes``, ``sha256`` each)
        and its ``sha256`` is :func:`tree_digest` of them.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    """
    where = Path(workdir, path) if workdir is not None else Path(path)
    if files is not None and where.exists():
        return {"role": role, "path": os.fspath(path), **describe_files(where, files)}
    if where.is_dir():
        files = [
            {"path": rel, "bytes": (where / rel).stat().st_size, "sha256": file_sha256(where / rel)}
            for rel in files_under(where)
        ]
        return {"role": role, "path": os.fspath(path), **folder_description(files)}
    if not where.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return {"role": role, "path": os.fspath(path), "type": "file", "bytes": where.stat().st_size, "sha256": file_sha256(where)}


def git_revision(folder: PathLike) -> dict[str, Any] | None:
    """The commit of the git checkout holding ``folder`` and whether tracked files differ from it.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder inside the checkout.

    Returns
    -------
    dict or None
        ``{"commit": <40 hex digits>, "dirty": bool}``; None when ``folder`` is not in a checkout or git
        cannot be run.
    """
    try:
        commit = subprocess.run(
            ["git", "-C", os.fspath(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", os.fspath(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())} if commit else None
