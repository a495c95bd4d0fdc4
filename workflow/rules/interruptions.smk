# Interrupted runs: rerunning the same snakemake command after a kill finishes the work
# (profiles/README.md, "Interrupted runs").
#
# Outputs are written under a temporary name and renamed when complete (cellpipe.io.atomic), so a
# killed job leaves nothing a rerun would take as done. What a SIGKILL of snakemake itself leaves is
# its lock (.snakemake/locks/), which would stop the rerun with "Directory cannot be locked" until
# `snakemake --unlock`. The main snakemake process records which lock files it took when a run
# starts, and the next run removes the lock files of runs known to be dead, each run's own only
# (cellpipe.runtime.snakemake_lock). Those records also keep what each run locked, because Snakemake
# deletes every run's lock files when any run in the folder ends: a run using the files of a live run
# is refused at its start even when that run's lock files are gone.
#
# Snakemake's lock does not reach across working folders: two folders whose configs name one results
# folder would write the same files at once. Each real run registers in the results folder, and a run
# from another working folder is refused while a registered one is alive (cellpipe.runtime.run_registry).
#
# The workflow has one onstart handler and one onsuccess and onerror handler each (provenance.smk);
# they call start_run and end_run below.

import sys

from snakemake_interface_executor_plugins.settings import ExecMode

from cellpipe.runtime.run_registry import conflicting_run, forget_run, register_run
from cellpipe.runtime.snakemake_lock import overlapping_live_run, record_lock_owner, release_stale_locks


if workflow.exec_mode == ExecMode.DEFAULT:  # the main process; never a job, which runs under its lock
    for _released in release_stale_locks():
        print(f"cellpipe: {_released}", file=sys.stderr)


RUN_RECORDS = {}  # the registry record start_run wrote, for end_run to remove


def own_lock_files():
    """The lock files this run took. Snakemake keeps their paths, one per kind (input, output), in its
    file persistence's _lockfile; other persistence backends (--persistence-backend db) have none, and
    then nothing is recorded and nothing will be removed."""
    return list(getattr(workflow.persistence, "_lockfile", {}).values())


def start_run():
    """In the main process when a real run starts (onstart), before any job: register the run in the
    results folder, stop it if a run from another working folder writes there, record the lock files it
    took, and stop it if a live run in this folder uses the same files although Snakemake let this run
    take its lock (that run's lock files were removed: snakemake_lock). Each own record is written before
    the others are read, so of two runs starting at once at least one sees the other."""
    record = register_run(RESULTS)
    refusal = conflicting_run(record)
    if refusal:
        forget_run(record)
        raise WorkflowError(f"cellpipe: {refusal}")
    RUN_RECORDS["run"] = record
    owner = record_lock_owner(own_lock_files())
    overlap = overlapping_live_run(owner) if owner is not None else None
    if overlap:
        owner.unlink()
        forget_run(RUN_RECORDS.pop("run"))
        raise WorkflowError(f"cellpipe: {overlap}")


def end_run():
    """When the run ends (onsuccess, onerror): leave the results folder's registry. The record of the lock
    files stays: Snakemake removes the lock files only after these handlers, and a kill in between would
    leave lock files that no record claims; the next run in this folder removes the record of this (then
    ended) process."""
    forget_run(RUN_RECORDS.pop("run", None))
