"""Snakemake's working-directory lock after a killed run, and beside other runs in the folder.

Snakemake locks what a run reads and writes with files in ``.snakemake/locks/`` (``<n>.input.lock``,
``<n>.output.lock``, at most one of each per run, numbered from 0 by the first free number) and removes them when
the run ends. A run killed with SIGKILL (or a power loss) cannot remove its own, and the next
``snakemake`` in that folder that needs any of those files stops with "Directory cannot be locked"
until someone runs ``snakemake --unlock``. The lock files do not say which process made them, so
Snakemake cannot tell a stale lock from a live run's.

This module records that, one record per run: when a run starts (the workflow's ``onstart`` handler,
which runs in the main snakemake process only, after it took its lock), :func:`record_lock_owner`
writes ``.snakemake/cellpipe_lock_owners/<host>-<pid>-<random>.json`` with the process id, the
machine, the process's start time and boot id (Linux), and a fingerprint of that run's own lock files
(not of the other runs' lock files beside them). When the workflow is next parsed in a main snakemake
process, :func:`release_stale_locks` goes through the records and, for each run proved dead, removes
the lock files of its record that are still exactly the ones it took (same name, bytes, inode and
modification time) and then the record. A run that ended normally leaves its record too (Snakemake
removes its lock files after the workflow's last handler has run), and the next run removes it. A run
is proved dead when

* it ran on this machine (by host name), and
* it no longer runs: the machine rebooted since (boot id), no process has its id, or the process with
  its id started at another time (the id was reused).

Lock files of a live run, of a run on another machine (a login node sharing the folder), and lock
files no record claims (a run with ``--no-hooks``) are left for Snakemake to report as usual; so is a
lock file that was replaced after the record was written, even with the same content.

Snakemake deletes the whole ``.snakemake/locks`` folder when any run in the folder ends (Snakemake 9's
``FilePersistence._delete_locks``), the lock files of runs still going included, so a run started
after that with the same targets would not be refused by Snakemake. The records keep what each run
locked (the paths in its lock files: ``input`` and ``output``), and :func:`overlapping_live_run` names,
when a run starts, a live run on this machine that reads or writes a file the new run would write, or
writes one it would read (Snakemake's own rule), whether or not that run's lock files are still there;
the workflow then stops the new run.
Nothing can be done about a run that is not cellpipe's, e.g. one started with ``--no-hooks``.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cellpipe.io.atomic import atomic_path, host_tag, process_running
from cellpipe.io.checksums import file_sha256

PathLike = str | os.PathLike[str]
OWNERS_DIR = "cellpipe_lock_owners"
"""Folder of the owner records, one per run, in the ``.snakemake`` folder."""


def lock_files(snakemake_dir: PathLike = ".snakemake") -> list[Path]:
    """Snakemake's lock files in a ``.snakemake`` folder.

    Parameters
    ----------
    snakemake_dir : str or os.PathLike
        The ``.snakemake`` folder of the working folder.

    Returns
    -------
    list of pathlib.Path
        ``locks/<n>.input.lock`` and ``locks/<n>.output.lock`` files, sorted by name; empty without a
        ``locks`` folder.
    """
    locks = Path(snakemake_dir) / "locks"
    if not locks.is_dir():
        return []
    return sorted(p for p in locks.iterdir() if p.is_file() and p.name.endswith(".lock"))


def _fingerprint(path: Path) -> dict[str, Any]:
    """What identifies one lock file: its name, sha256, inode and modification time (ns)."""
    stat = path.stat()
    return {
        "name": path.name,
        "sha256": file_sha256(path),
        "inode": stat.st_ino,
        "mtime_ns": stat.st_mtime_ns,
    }


def boot_id() -> str | None:
    """The boot of the machine that runs this process.

    Returns
    -------
    str or None
        Linux's ``/proc/sys/kernel/random/boot_id``; None where it cannot be read.
    """
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When a process started.

    Parameters
    ----------
    pid : int
        Process id.

    Returns
    -------
    str or None
        Its start time in clock ticks since boot (field 22 of Linux ``/proc/<pid>/stat``), as written
        there; None when the process does not exist or there is no ``/proc``.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (command) "; the command may hold spaces
    return fields[19] if len(fields) > 19 else None  # field 22 of the line: starttime


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """What tells a process from any other, now and later (see :func:`process_gone`).

    Parameters
    ----------
    pid : int, optional
        Process id (default: this process).

    Returns
    -------
    dict
        ``pid``, ``host`` (host name), ``boot_id`` (:func:`boot_id`) and ``process_start``
        (:func:`process_start`, clock ticks since boot); the last two may be None.
    """
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "boot_id": boot_id(), "process_start": process_start(pid)}


def process_gone(identity: dict[str, Any]) -> str | None:
    """Why the process of a recorded identity no longer runs, if that can be proved.

    Parameters
    ----------
    identity : dict
        A record of :func:`process_identity`.

    Returns
    -------
    str or None
        The reason (the machine restarted, no process has the id, the id belongs to a process started at
        another time), or None when it may still run or that cannot be told (another machine, no usable
        process id, this very process).
    """
    if identity.get("host") != socket.gethostname():
        return None
    pid = identity.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
        return None
    recorded_boot, current_boot = identity.get("boot_id"), boot_id()
    if recorded_boot and current_boot and recorded_boot != current_boot:
        return "the machine restarted since"
    if not process_running(pid):
        return "it no longer runs"
    recorded_start = identity.get("process_start")
    if recorded_start and process_start(pid) not in (None, recorded_start):
        return "it no longer runs (its process id now belongs to another process)"
    return None


def record_lock_owner(
    own_locks: Iterable[PathLike], snakemake_dir: PathLike = ".snakemake", pid: int | None = None
) -> Path | None:
    """Record that a process took some of Snakemake's lock files, and the paths they lock.

    Parameters
    ----------
    own_locks : iterable of str or os.PathLike
        The run's own lock files; paths outside ``<snakemake_dir>/locks`` and files that do not exist
        are ignored.
    snakemake_dir : str or os.PathLike
        The ``.snakemake`` folder of the working folder.
    pid : int, optional
        Process id of the run's main snakemake process (default: this process).

    Returns
    -------
    pathlib.Path or None
        The record written (``<snakemake_dir>/cellpipe_lock_owners/<host>-<pid>-<random>.json``), or
        None when the run has no lock files there (``--nolock``).
    """
    locks = (Path(snakemake_dir) / "locks").resolve()
    files = sorted({Path(p).resolve() for p in own_locks})
    files = [p for p in files if p.parent == locks and p.is_file()]
    if not files:
        return None
    identity = process_identity(pid)
    paths: dict[str, list[str]] = {"input": [], "output": []}
    for lock in files:
        kind = lock.name.split(".")[-2]  # <n>.input.lock, <n>.output.lock
        if kind in paths:
            paths[kind] += [line for line in lock.read_text().splitlines() if line]
    record = {**identity, "locks": [_fingerprint(p) for p in files], "paths": paths}
    path = Path(snakemake_dir) / OWNERS_DIR / f"{host_tag()}-{identity['pid']}-{uuid.uuid4().hex[:8]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def _still_taken(snakemake_dir: Path, entry: Any) -> Path | None:
    """The lock file an owner record's ``locks`` entry names, when it is still the very file recorded."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return None
    path = snakemake_dir / "locks" / entry["name"]
    if path.name != entry["name"] or not path.is_file():
        return None  # a name with a folder in it is no lock file of Snakemake's
    try:
        return path if _fingerprint(path) == entry else None
    except OSError:
        return None


def release_stale_locks(snakemake_dir: PathLike = ".snakemake") -> list[str]:
    """Remove the lock files of runs proved dead, each run's own only (see the module's docstring).

    The records of dead runs are removed too, also those whose lock files are gone.

    Parameters
    ----------
    snakemake_dir : str or os.PathLike
        The ``.snakemake`` folder of the working folder.

    Returns
    -------
    list of str
        One line per run whose lock files were removed; empty when none were.
    """
    snakemake_dir = Path(snakemake_dir)
    owners = snakemake_dir / OWNERS_DIR
    if not owners.is_dir():
        return []
    messages = []
    for record_path in sorted(owners.glob("*.json")):
        if record_path.name.startswith("."):
            continue  # a record being written (cellpipe.io.atomic's temporary name)
        try:
            owner = json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(owner, dict) or not isinstance(owner.get("locks"), list):
            continue
        why = process_gone(owner)
        if why is None:
            continue
        taken = [p for p in (_still_taken(snakemake_dir, e) for e in owner["locks"]) if p is not None]
        for path in taken:
            path.unlink(missing_ok=True)
        record_path.unlink(missing_ok=True)
        if taken:
            messages.append(
                f"removed the lock of snakemake process {owner['pid']} on {owner['host']} ({why}): that run "
                "was interrupted; its unfinished jobs run again"
            )
    return messages


def _paths(record: dict[str, Any], kind: str) -> set[str]:
    """The paths an owner record says its run locked for ``kind`` (``input`` or ``output``); empty when unreadable."""
    paths = record.get("paths")
    found = paths.get(kind) if isinstance(paths, dict) else None
    return {p for p in found if isinstance(p, str)} if isinstance(found, list) else set()


def overlapping_live_run(own: PathLike) -> str | None:
    """A live run on this machine whose files overlap this run's.

    Overlap is Snakemake's own rule: the other run reads or writes what this run would write, or writes
    what it would read. Runs on other machines are not looked at (whether they still run cannot be told
    from here); their lock files, while they exist, are Snakemake's to check.

    Parameters
    ----------
    own : str or os.PathLike
        This run's record, as :func:`record_lock_owner` returned it; the other records are read from
        its folder.

    Returns
    -------
    str or None
        One line naming the other run (process id, machine, the number of shared files and one of them)
        and what to do, or None when there is none.
    """
    own = Path(own)
    mine = json.loads(own.read_text())
    my_inputs, my_outputs = _paths(mine, "input"), _paths(mine, "output")
    for path in sorted(own.parent.glob("*.json")):
        if path.name.startswith(".") or path.name == own.name:
            continue
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(other, dict) or other.get("host") != socket.gethostname() or process_gone(other):
            continue
        if other.get("pid") == os.getpid():
            continue
        their_outputs = _paths(other, "output")
        shared = sorted((my_outputs & (their_outputs | _paths(other, "input"))) | (my_inputs & their_outputs))
        if shared:
            return (
                f"snakemake process {other['pid']} on {other['host']} is still running in this folder on files this "
                f"run would use ({len(shared)}, e.g. {shared[0]}); Snakemake's "
                "lock no longer shows it, because Snakemake removes every lock file in .snakemake/locks when any "
                "run in the folder ends: wait until that run ends, then run again"
            )
    return None
