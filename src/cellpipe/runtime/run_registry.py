"""Runs writing one results folder: a registry that refuses a second run started from another folder.

Snakemake keeps two runs apart by its lock in the working folder's ``.snakemake/locks``. Two working
folders whose configs name one results folder (an absolute ``results:`` path) have two ``.snakemake``
folders, so neither run sees the other's lock, and both write the same files: a job of one reads an
image the other is rewriting (e.g. ``track_cells`` failing with "not an OME-Zarr image (no
'multiscales' metadata)" while ``ingest_movie`` of the other run renames a new image into place).

So each real run (the workflow's ``onstart`` handler: the main snakemake process, never a dry run,
never a job) registers in the results folder, ``<results>/.cellpipe/runs/<host>-<pid>-<random>.json``,
with its process identity (:func:`cellpipe.runtime.snakemake_lock.process_identity`: process id, machine,
boot id and process start time) and its working folder, and removes its record when it ends
(``onsuccess``, ``onerror``). :func:`conflicting_run` then looks at the other records:

* a record whose process is proved dead (on this machine: by boot id, process id and start time, as for
  Snakemake's lock) is removed;
* a live run from the same working folder is left to Snakemake's lock, which sees it;
* a live run from another working folder, or a run on another machine (whose process cannot be looked
  up from here, so it may still run), refuses this run with one line naming it and what to do.

Two runs starting at the same moment: each writes its own record (atomically, under a name no other run
uses) before it reads the others', so at least one of them sees the other; both may, and then both are
refused, which is safe. The check reads one small folder, so it costs nothing noticeable at start-up.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cellpipe import layout
from cellpipe.io.atomic import atomic_path, host_tag
from cellpipe.runtime.snakemake_lock import process_gone, process_identity

PathLike = str | os.PathLike[str]
REGISTRY_DIR = Path(layout.pattern(layout.RUN_REGISTRY, "."))
"""The registry's folder, relative to the results folder."""


def registry(results: PathLike) -> Path:
    """The folder of the run records of a results folder.

    Parameters
    ----------
    results : str or os.PathLike
        The results folder (config key ``results``).

    Returns
    -------
    pathlib.Path
        ``<results>/.cellpipe/runs``; it may not exist yet.
    """
    return Path(results) / REGISTRY_DIR


def register_run(results: PathLike, workdir: PathLike | None = None, pid: int | None = None) -> Path:
    """Record that a process writes into a results folder.

    Parameters
    ----------
    results : str or os.PathLike
        The results folder the run writes.
    workdir : str or os.PathLike, optional
        The folder the run was started in (default: the current folder); stored as a real path.
    pid : int, optional
        Process id of the run's main snakemake process (default: this process).

    Returns
    -------
    pathlib.Path
        The record written (``<host>-<pid>-<random>.json``, a name no other run uses), for
        :func:`conflicting_run` and :func:`forget_run`.
    """
    identity = process_identity(pid)
    record = {
        **identity,
        "workdir": os.path.realpath(os.getcwd() if workdir is None else workdir),
        "results": os.path.realpath(results),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = registry(results) / f"{host_tag()}-{identity['pid']}-{uuid.uuid4().hex[:8]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def forget_run(record: PathLike | None) -> None:
    """Remove a record of :func:`register_run` when its run ends.

    Parameters
    ----------
    record : str or os.PathLike or None
        The record's path; None (no record was written) and a record already gone are accepted.
    """
    if record is not None:
        Path(record).unlink(missing_ok=True)


def _other_records(own: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The parsed run records beside ``own`` (itself, records being written and unreadable files left out)."""
    records = []
    for path in sorted(own.parent.glob("*.json")):
        if path.name.startswith(".") or path.name == own.name:
            continue  # a record being written (cellpipe.io.atomic's temporary name), or this run's
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed meanwhile; records are written whole, so anything else is not a record
        if isinstance(values, dict):
            records.append((path, values))
    return records


def conflicting_run(own: PathLike) -> str | None:
    """The run, if any, that writes the same results folder from another working folder.

    Records of runs proved dead are removed on the way; a live run from the same working folder is left
    to Snakemake's lock (see the module's docstring).

    Parameters
    ----------
    own : str or os.PathLike
        This run's record, as :func:`register_run` returned it.

    Returns
    -------
    str or None
        One line naming the other run (process id, machine, working folder, start time in UTC) and what
        to do, or None when there is none.
    """
    own = Path(own)
    mine = json.loads(own.read_text())
    for path, other in _other_records(own):
        if process_gone(other) is not None:
            path.unlink(missing_ok=True)
            continue
        if other.get("workdir") == mine["workdir"]:
            continue  # Snakemake's lock in that folder keeps the two apart
        who = (
            f"snakemake process {other.get('pid')} on {other.get('host')}, started in {other.get('workdir')} "
            f"at {other.get('started_utc')} (UTC)"
        )
        if other.get("host") != mine["host"]:
            return (
                f"the results folder {mine['results']} is used by {who}, and whether that run still goes cannot "
                f"be told from {mine['host']}: wait until it ends, or if it has ended, delete {path} and run again"
            )
        return (
            f"the results folder {mine['results']} is being written by {who}: wait until that run ends (or stop "
            "it) and run again, or set another results folder (config key results) for this one"
        )
    return None
