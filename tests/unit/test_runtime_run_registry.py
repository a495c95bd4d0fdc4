"""Runs writing one results folder (cellpipe.runtime.run_registry): a run from another working folder is refused
while a registered run is alive; records of dead runs are removed; runs from one working folder are left to
Snakemake's lock (tests/workflow/test_concurrent_runs.py runs real snakemake processes)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from cellpipe.runtime.run_registry import REGISTRY_DIR, conflicting_run, forget_run, register_run

from conftest import finished_pid


def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    results, first, second = tmp_path / "results", tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    return results, first, second


def test_a_live_run_from_another_working_folder_refuses_this_one(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    results, first, second = folders(tmp_path)
    other = register_run(results, workdir=first, pid=sleeper.pid)
    own = register_run(results, workdir=second)
    assert other.parent == own.parent == results / REGISTRY_DIR and other != own
    refusal = conflicting_run(own)
    assert refusal is not None and "\n" not in refusal
    assert f"snakemake process {sleeper.pid} on {socket.gethostname()}, started in {first.resolve()} " in refusal
    assert str(results.resolve()) in refusal and "wait until that run ends" in refusal
    assert other.exists()  # a live run's record stays


def test_a_dead_runs_record_is_removed(tmp_path: Path) -> None:
    results, first, second = folders(tmp_path)
    other = register_run(results, workdir=first, pid=finished_pid())
    own = register_run(results, workdir=second)
    assert conflicting_run(own) is None
    assert not other.exists() and own.exists()
    forget_run(own)
    assert list((results / REGISTRY_DIR).iterdir()) == []


def test_a_live_run_from_the_same_working_folder_is_left_to_snakemakes_lock(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    results, first, _ = folders(tmp_path)
    other = register_run(results, workdir=first, pid=sleeper.pid)
    own = register_run(results, workdir=first / ".")  # the same folder, spelled otherwise
    assert conflicting_run(own) is None
    assert other.exists()


def test_a_run_on_another_machine_cannot_be_proved_dead(tmp_path: Path) -> None:
    """Its process cannot be looked up from here: refuse, and say which record to delete once it has ended."""
    results, first, second = folders(tmp_path)
    other = register_run(results, workdir=first, pid=finished_pid())
    values = json.loads(other.read_text())
    other.write_text(json.dumps({**values, "host": "some-other-login-node"}))
    own = register_run(results, workdir=second)
    refusal = conflicting_run(own)
    assert refusal is not None and "on some-other-login-node" in refusal
    assert f"delete {other}" in refusal and other.exists()


def test_two_runs_starting_at_once_never_both_go_on(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    """Each writes its record before reading the others': whichever checks, sees the other."""
    results, first, second = folders(tmp_path)
    this = register_run(results, workdir=second)
    other = register_run(results, workdir=first, pid=sleeper.pid)
    assert conflicting_run(this) is not None
    # the other run's own check, from its side (it would see this process, alive, from another folder)
    assert conflicting_run(other) is not None


def test_what_is_not_a_record_is_ignored(tmp_path: Path) -> None:
    results, _, second = folders(tmp_path)
    own = register_run(results, workdir=second)
    (own.parent / "broken.json").write_text("{not json")
    (own.parent / ".x.json.tmp-abcdef-1-12345678").write_text("{}")  # a record still being written
    (own.parent / "notes.txt").write_text("hello")
    assert conflicting_run(own) is None
