"""Snakemake's working-directory lock after a killed run.

Snakemake locks its working directory with files in ``.snakemake/locks/`` and removes them when it
ends. A run killed with SIGKILL (or a power loss) cannot remove them, and the next ``snakemake``
in that folder stops with "Directory cannot be locked" until someone runs ``snakemake --unlock``.
The lock files do not say which process made them, so Snakemake cannot tell a stale lock from a
live run.

This module records that: when a run starts (the workflow's ``onstart`` handler, which runs in the
main snakemake process only, after it took the lock), :func:`record_lock_owner` writes
``.snakemake/cellpipe_lock_owner.json`` with the process id, the machine, the process's start time
and boot id (Linux), and a fingerprint of the lock files. When the workflow is next parsed in a
main snakemake process, :func:`release_stale_lock` removes the lock files only when all of these
hold:

* the lock files are exactly the ones recorded (same names, bytes, inode and modification time), so a
  lock taken by any later run, e.g. one started with ``--no-hooks``, is never removed;
* the recorded process ran on this machine (by host name), and
* it no longer runs: the machine rebooted since (boot id), no process has its id, or the process with
  its id started at another time (the id was reused).

A lock held by a live run, or by a run on another machine (a login node sharing the folder), is
left for Snakemake to report as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from cellpipe.io.atomic import atomic_path, process_running

PathLike = str | os.PathLike[str]
OWNER_FILE = "cellpipe_lock_owner.json"
"""Name of the owner record in the ``.snakemake`` folder."""


def lock_files(snakemake_dir: PathLike = ".snakemake") -> list[Path]:
    """Snakemake's lock files (``locks/<n>.input.lock``, ``locks/<n>.output.lock``), sorted by name."""
    locks = Path(snakemake_dir) / "locks"
    if not locks.is_dir():
        return []
    return sorted(p for p in locks.iterdir() if p.is_file() and p.name.endswith(".lock"))


def _fingerprint(files: list[Path]) -> list[dict[str, Any]]:
    out = []
    for path in files:
        stat = path.stat()
        out.append({
            "name": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "inode": stat.st_ino,
            "mtime_ns": stat.st_mtime_ns,
        })
    return out


def boot_id() -> str | None:
    """This boot of the machine (Linux: ``/proc/sys/kernel/random/boot_id``), or None elsewhere."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc/<pid>/stat``), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (command) "; the command may hold spaces
    return fields[19] if len(fields) > 19 else None  # field 22 of the line: starttime


def record_lock_owner(snakemake_dir: PathLike = ".snakemake", pid: int | None = None) -> Path | None:
    """Record that process ``pid`` (default: this one) holds the current lock files; returns the record's
    path, or None when there are no lock files (``--nolock``)."""
    files = lock_files(snakemake_dir)
    if not files:
        return None
    pid = os.getpid() if pid is None else pid
    record = {
        "pid": pid,
        "host": socket.gethostname(),
        "boot_id": boot_id(),
        "process_start": process_start(pid),
        "locks": _fingerprint(files),
    }
    path = Path(snakemake_dir) / OWNER_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def _owner_gone(owner: dict[str, Any]) -> str | None:
    """Why the recorded process no longer runs, or None when it may still run (or cannot be told)."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return None
    recorded_boot, current_boot = owner.get("boot_id"), boot_id()
    if recorded_boot and current_boot and recorded_boot != current_boot:
        return "the machine restarted since"
    if not process_running(pid):
        return "it no longer runs"
    recorded_start = owner.get("process_start")
    if recorded_start and process_start(pid) not in (None, recorded_start):
        return "it no longer runs (its process id now belongs to another process)"
    return None


def release_stale_lock(snakemake_dir: PathLike = ".snakemake") -> str | None:
    """Remove Snakemake's lock files when the run that took them is known to be dead (see the module's
    docstring); returns a one-line message saying what was removed, or None when nothing was."""
    files = lock_files(snakemake_dir)
    record_path = Path(snakemake_dir) / OWNER_FILE
    if not files or not record_path.is_file():
        return None
    try:
        owner = json.loads(record_path.read_text())
        if not isinstance(owner, dict) or owner.get("locks") != _fingerprint(files):
            return None
    except (OSError, ValueError):
        return None
    why = _owner_gone(owner)
    if why is None:
        return None
    for path in files:
        path.unlink(missing_ok=True)
    record_path.unlink(missing_ok=True)
    return (
        f"removed the lock of snakemake process {owner['pid']} on {owner['host']} ({why}): that run was "
        "interrupted; its unfinished jobs run again"
    )
