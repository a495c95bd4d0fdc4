"""Snakemake's lock after a killed run: a run's own lock files are removed only when the run that took them
is known to be dead and they are the files it took; other runs' lock files stay (workflow/rules/
interruptions.smk; tests/workflow/test_concurrent_runs.py kills real runs)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cellpipe.runtime.snakemake_lock import (
    OWNERS_DIR,
    boot_id,
    lock_files,
    overlapping_live_run,
    process_start,
    record_lock_owner,
    release_stale_locks,
)

from conftest import finished_pid


def take_lock(smk: Path, n: int = 0) -> list[Path]:
    """Lock files as Snakemake writes them for one run (``.snakemake/locks/<n>.input.lock``, ``<n>.output.lock``)."""
    (smk / "locks").mkdir(parents=True, exist_ok=True)
    files = [smk / "locks" / f"{n}.input.lock", smk / "locks" / f"{n}.output.lock"]
    files[0].write_text("results/a.txt\n")
    files[1].write_text("results/b.txt\n")
    return files


def edit_record(record: Path, **changes) -> None:
    values = json.loads(record.read_text())
    values.update(changes)
    record.write_text(json.dumps(values))


def names(smk: Path) -> list[str]:
    return [p.name for p in lock_files(smk)]


def test_lock_of_a_dead_run_is_removed(tmp_path: Path) -> None:
    smk = tmp_path / ".snakemake"
    pid = finished_pid()
    record = record_lock_owner(take_lock(smk), smk, pid=pid)
    assert record is not None and record.parent == smk / OWNERS_DIR
    [message] = release_stale_locks(smk)
    assert f"snakemake process {pid}" in message and "no longer runs" in message
    assert lock_files(smk) == [] and not record.exists()
    assert release_stale_locks(smk) == []  # nothing left to do


def test_only_the_dead_runs_own_lock_files_go(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    """Run A (alive) took 0.*.lock, then run B (killed) took 1.*.lock beside them: the clean-up removes B's
    files and record, never A's."""
    smk = tmp_path / ".snakemake"
    record_a = record_lock_owner(take_lock(smk, 0), smk, pid=sleeper.pid)
    dead = finished_pid()
    record_b = record_lock_owner(take_lock(smk, 1), smk, pid=dead)
    assert record_a != record_b
    assert [e["name"] for e in json.loads(record_b.read_text())["locks"]] == ["1.input.lock", "1.output.lock"]

    [message] = release_stale_locks(smk)
    assert f"snakemake process {dead} " in message
    assert names(smk) == ["0.input.lock", "0.output.lock"]
    assert record_a.exists() and not record_b.exists()
    assert release_stale_locks(smk) == []
    assert names(smk) == ["0.input.lock", "0.output.lock"]


def test_two_dead_runs_are_both_released(tmp_path: Path) -> None:
    smk = tmp_path / ".snakemake"
    record_lock_owner(take_lock(smk, 0), smk, pid=finished_pid())
    record_lock_owner(take_lock(smk, 1), smk, pid=finished_pid())
    assert len(release_stale_locks(smk)) == 2
    assert lock_files(smk) == [] and list((smk / OWNERS_DIR).iterdir()) == []


def test_lock_of_a_live_run_is_kept(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    smk = tmp_path / ".snakemake"
    record = record_lock_owner(take_lock(smk), smk, pid=sleeper.pid)
    assert release_stale_locks(smk) == []
    assert len(lock_files(smk)) == 2 and record.exists()


def test_record_of_an_ended_run_without_lock_files_is_removed_quietly(tmp_path: Path) -> None:
    """A run that ended normally (Snakemake removed its lock files, or the whole locks folder) leaves its
    record; the next clean-up removes the record and says nothing."""
    smk = tmp_path / ".snakemake"
    files = take_lock(smk)
    record = record_lock_owner(files, smk, pid=finished_pid())
    for path in files:
        path.unlink()
    assert release_stale_locks(smk) == []
    assert not record.exists()


def test_lock_taken_after_the_record_is_kept(tmp_path: Path) -> None:
    """Lock files other than the recorded ones (a later run, e.g. with --no-hooks, took the lock under the same
    names) stay, even with the same content."""
    smk = tmp_path / ".snakemake"
    record_lock_owner(take_lock(smk), smk, pid=finished_pid())
    for path in lock_files(smk):
        text = path.read_text()
        path.unlink()
        path.write_text(text)
        os.utime(path, ns=(1, 1))
    assert release_stale_locks(smk) == []
    assert len(lock_files(smk)) == 2


def test_lock_files_the_run_did_not_take_are_not_recorded(tmp_path: Path) -> None:
    """Only the run's own lock files, inside .snakemake/locks, go into its record."""
    smk = tmp_path / ".snakemake"
    others = take_lock(smk, 0)
    own = take_lock(smk, 1)
    elsewhere = tmp_path / "9.output.lock"
    elsewhere.write_text("x\n")
    record = record_lock_owner([*own, elsewhere], smk, pid=finished_pid())
    assert [e["name"] for e in json.loads(record.read_text())["locks"]] == ["1.input.lock", "1.output.lock"]
    release_stale_locks(smk)
    assert lock_files(smk) == others and elsewhere.exists()


def test_lock_from_another_machine_or_without_a_record_is_kept(tmp_path: Path) -> None:
    smk = tmp_path / ".snakemake"
    files = take_lock(smk)
    assert release_stale_locks(smk) == []  # no record: the owner cannot be told
    record = record_lock_owner(files, smk, pid=finished_pid())
    edit_record(record, host="some-other-login-node")
    assert release_stale_locks(smk) == []
    record.write_text("{not json")
    assert release_stale_locks(smk) == []
    assert len(lock_files(smk)) == 2


@pytest.mark.skipif(boot_id() is None or process_start(os.getpid()) is None, reason="needs Linux /proc")
def test_reused_process_id_and_restart_are_recognised(tmp_path: Path) -> None:
    """A live process with the recorded id that started at another time is not the owner; after a restart
    (another boot id) no recorded process can still run."""
    smk = tmp_path / ".snakemake"
    record = record_lock_owner(take_lock(smk), smk, pid=os.getppid())
    assert release_stale_locks(smk) == []  # the parent of this test runs: its lock stays
    edit_record(record, process_start="1")
    assert "another process" in " ".join(release_stale_locks(smk))

    smk = tmp_path / "restarted" / ".snakemake"
    record = record_lock_owner(take_lock(smk), smk, pid=os.getppid())
    edit_record(record, boot_id="00000000-0000-0000-0000-000000000000")
    assert "restarted" in " ".join(release_stale_locks(smk))


def lock_of(smk: Path, n: int, inputs: list[str], outputs: list[str]) -> list[Path]:
    """A run's lock files with these paths (Snakemake writes no file for an empty list)."""
    (smk / "locks").mkdir(parents=True, exist_ok=True)
    files = []
    for kind, paths in (("input", inputs), ("output", outputs)):
        if paths:
            files.append(smk / "locks" / f"{n}.{kind}.lock")
            files[-1].write_text("\n".join(paths) + "\n")
    return files


def test_a_run_using_the_files_of_a_live_run_is_named_even_after_its_lock_files_went(
    tmp_path: Path, sleeper: subprocess.Popen
) -> None:
    """Snakemake deletes every lock file when any run in the folder ends; the records still tell that a live
    run writes what a new run would write (or read), or reads what it would write."""
    smk = tmp_path / ".snakemake"
    live = record_lock_owner(lock_of(smk, 0, ["in/a.tif"], ["results/a/x", "results/a/y"]), smk, pid=sleeper.pid)
    record_lock_owner(lock_of(smk, 1, [], ["results/a/x"]), smk, pid=finished_pid())  # ended: not looked at
    (smk / "locks").rename(tmp_path / "removed_locks")  # another run in the folder ended

    same_output = record_lock_owner(lock_of(smk, 0, [], ["results/a/y", "results/c"]), smk)
    message = overlapping_live_run(same_output)
    assert message is not None and f"snakemake process {sleeper.pid} " in message and "results/a/y" in message
    assert "\n" not in message

    reads_its_output = record_lock_owner(lock_of(smk, 1, ["results/a/x"], ["results/d"]), smk)
    assert "results/a/x" in (overlapping_live_run(reads_its_output) or "")
    writes_its_input = record_lock_owner(lock_of(smk, 2, [], ["in/a.tif"]), smk)
    assert "in/a.tif" in (overlapping_live_run(writes_its_input) or "")
    both_read = record_lock_owner(lock_of(smk, 3, ["in/a.tif"], ["results/b"]), smk)
    assert overlapping_live_run(both_read) is None  # reading the same input is no conflict (nor is it for Snakemake)

    edit_record(live, host="some-other-login-node")  # cannot be looked up from here: left to Snakemake's lock
    assert overlapping_live_run(same_output) is None


def test_no_lock_no_record(tmp_path: Path) -> None:
    assert record_lock_owner([], tmp_path / ".snakemake") is None  # --nolock: nothing to own
    assert release_stale_locks(tmp_path / ".snakemake") == []
