"""Snakemake's lock after a killed run: removed only when the recorded owner is known to be dead and the lock
files are the ones it took (workflow/rules/interruptions.smk; the workflow test kills a real run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cellpipe.io.snakemake_lock import OWNER_FILE, boot_id, lock_files, process_start, record_lock_owner, release_stale_lock


def take_lock(root: Path) -> Path:
    """Lock files as Snakemake writes them (``.snakemake/locks/0.input.lock``, ``0.output.lock``)."""
    smk = root / ".snakemake"
    (smk / "locks").mkdir(parents=True)
    (smk / "locks" / "0.input.lock").write_text("results/a.txt\n")
    (smk / "locks" / "0.output.lock").write_text("results/b.txt\n")
    return smk


def finished_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def edit_record(smk: Path, **changes) -> None:
    path = smk / OWNER_FILE
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def test_lock_of_a_dead_run_is_removed(tmp_path: Path) -> None:
    smk = take_lock(tmp_path)
    pid = finished_pid()
    assert record_lock_owner(smk, pid=pid) == smk / OWNER_FILE
    message = release_stale_lock(smk)
    assert message is not None and f"snakemake process {pid}" in message and "no longer runs" in message
    assert lock_files(smk) == [] and not (smk / OWNER_FILE).exists()
    assert release_stale_lock(smk) is None  # nothing left to do


def test_lock_of_a_live_run_is_kept(tmp_path: Path) -> None:
    smk = take_lock(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record_lock_owner(smk, pid=sleeper.pid)
        assert release_stale_lock(smk) is None
        assert len(lock_files(smk)) == 2
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lock_taken_after_the_record_is_kept(tmp_path: Path) -> None:
    """Lock files other than the recorded ones (a later run, e.g. with --no-hooks, took the lock) stay, even
    with the same content."""
    smk = take_lock(tmp_path)
    record_lock_owner(smk, pid=finished_pid())
    for path in lock_files(smk):
        text = path.read_text()
        path.unlink()
        path.write_text(text)
        os.utime(path, ns=(1, 1))
    assert release_stale_lock(smk) is None
    assert len(lock_files(smk)) == 2


def test_lock_from_another_machine_or_without_a_record_is_kept(tmp_path: Path) -> None:
    smk = take_lock(tmp_path)
    assert release_stale_lock(smk) is None  # no record: the owner cannot be told
    record_lock_owner(smk, pid=finished_pid())
    edit_record(smk, host="some-other-login-node")
    assert release_stale_lock(smk) is None
    (smk / OWNER_FILE).write_text("{not json")
    assert release_stale_lock(smk) is None
    assert len(lock_files(smk)) == 2


@pytest.mark.skipif(boot_id() is None or process_start(os.getpid()) is None, reason="needs Linux /proc")
def test_reused_process_id_and_restart_are_recognised(tmp_path: Path) -> None:
    """A live process with the recorded id that started at another time is not the owner; after a restart
    (another boot id) no recorded process can still run."""
    smk = take_lock(tmp_path)
    record_lock_owner(smk, pid=os.getppid())
    assert release_stale_lock(smk) is None  # the parent of this test runs: its lock stays
    edit_record(smk, process_start="1")
    assert "another process" in (release_stale_lock(smk) or "")

    smk = take_lock(tmp_path / "restarted")
    record_lock_owner(smk, pid=os.getppid())
    edit_record(smk, boot_id="00000000-0000-0000-0000-000000000000")
    assert "restarted" in (release_stale_lock(smk) or "")


def test_no_lock_no_record(tmp_path: Path) -> None:
    assert record_lock_owner(tmp_path / ".snakemake") is None  # --nolock: nothing to own
    assert release_stale_lock(tmp_path / ".snakemake") is None
