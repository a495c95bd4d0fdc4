"""Concurrent runs (issue #23): what one run's end or death does to another run that is still going.

Each test holds a real ``snakemake`` run in the middle of its work by stopping its process group with
SIGSTOP once it holds its lock (a stopped process still runs, as far as any liveness check can tell),
and starts other real ``snakemake`` processes beside it. The jobs are ``simulate_movie`` jobs of tiny
movies, so the tests cost a few Snakemake start-ups and no segmentation.

- Two runs in one working folder: the held run A, and run B, started after A with other targets and
  SIGKILLed. The next run removes B's lock, not A's, and a run of A's targets is still refused by
  Snakemake's lock while A is alive.
- Two runs in one working folder, the second ending normally while the held one goes on: Snakemake
  deletes every lock file then, the held run's too; a run of the held run's targets is still refused.
- Two working folders writing one results folder (each with its own ``.snakemake``, so Snakemake's
  locks do not see each other): a real run from the second folder is refused with one line naming the
  held run while it is alive, and runs once that run was killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import default_config, run_snakemake, snakemake_command, snakemake_env, write_workdir

pytestmark = pytest.mark.workflow

MOVIE = {"n_frames": 2, "shape": [32, 32], "n_cells": 2, "seed": 1}
SAMPLES_TSV = "sample\tmovie\na\tresults/simulated/a/movie.ome.tif\n"


def config(results: str = "results") -> dict:
    values = default_config()
    values["results"] = results
    values["simulate"] = {"a": dict(MOVIE), "b": dict(MOVIE, seed=2), "c": dict(MOVIE, seed=3)}
    return values


def movie(results: str | Path, name: str) -> str:
    return f"{results}/simulated/{name}/movie.ome.tif"


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"snakemake ended (exit {proc.returncode}) before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.01)


@contextlib.contextmanager
def started(workdir: Path, *targets: str, log: Path) -> Iterator[subprocess.Popen]:
    """A real snakemake run of ``targets`` in ``workdir``, in its own process group; killed (SIGKILL, the
    whole group) when the block ends if it still runs."""
    with log.open("w") as out:
        proc = subprocess.Popen(snakemake_command(workdir, *targets), cwd=workdir, env=snakemake_env(True),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def lock_names(workdir: Path) -> set[str]:
    locks = workdir / ".snakemake" / "locks"
    return {p.name for p in locks.iterdir()} if locks.is_dir() else set()


def owner_recorded(workdir: Path, pid: int) -> bool:
    """Whether cellpipe recorded ``pid`` as the owner of lock files (the workflow's onstart handler ran)."""
    for path in (workdir / ".snakemake").glob("cellpipe_lock_owner*"):
        files = [path] if path.is_file() else list(path.iterdir())
        for record in files:
            with contextlib.suppress(OSError):
                if f'"pid": {pid},' in record.read_text():
                    return True
    return False


def test_a_killed_run_releases_its_own_lock_only(tmp_path: Path) -> None:
    workdir = write_workdir(tmp_path / "work", config(), SAMPLES_TSV)
    with started(workdir, movie("results", "a"), log=tmp_path / "a.txt") as run_a:
        wait_for(lambda: owner_recorded(workdir, run_a.pid), run_a, tmp_path / "a.txt", "run A recorded its lock")
        os.killpg(run_a.pid, signal.SIGSTOP)  # A stays alive, holding its lock, until the test is done with it
        locks_of_a = lock_names(workdir)
        assert locks_of_a == {"0.input.lock", "0.output.lock"} or locks_of_a == {"0.output.lock"}, locks_of_a

        with started(workdir, movie("results", "b"), log=tmp_path / "b.txt") as run_b:
            wait_for(lambda: owner_recorded(workdir, run_b.pid), run_b, tmp_path / "b.txt", "run B recorded its lock")
            os.killpg(run_b.pid, signal.SIGKILL)
            run_b.wait(timeout=60)
        assert lock_names(workdir) > locks_of_a  # B's lock files stay behind, beside A's

        dry = run_snakemake(workdir, "--dry-run", timeout=300)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert f"cellpipe: removed the lock of snakemake process {run_b.pid} " in dry.stderr, dry.stderr[-3000:]
        assert str(run_a.pid) not in dry.stderr
        assert lock_names(workdir) == locks_of_a  # A's lock files, and only they, are left

        again = run_snakemake(workdir, movie("results", "a"), timeout=300)  # A's targets while A is alive
        assert again.returncode != 0 and "Directory cannot be locked" in again.stdout + again.stderr, again.stderr[-3000:]
        assert not (workdir / movie("results", "a")).exists()

        os.killpg(run_a.pid, signal.SIGCONT)
        assert run_a.wait(timeout=300) == 0, (tmp_path / "a.txt").read_text()[-3000:]
    assert (workdir / movie("results", "a")).is_file()


def test_a_run_of_a_live_runs_targets_is_refused_after_snakemake_removed_its_lock(tmp_path: Path) -> None:
    """Run B, started beside the held run A in one folder, ends normally, and Snakemake deletes every lock
    file, A's too. A run of A's targets started then is still refused (by cellpipe, with one line naming A)."""
    workdir = write_workdir(tmp_path / "work", config(), SAMPLES_TSV)
    with started(workdir, movie("results", "a"), log=tmp_path / "a.txt") as run_a:
        wait_for(lambda: owner_recorded(workdir, run_a.pid), run_a, tmp_path / "a.txt", "run A recorded its lock")
        os.killpg(run_a.pid, signal.SIGSTOP)
        assert lock_names(workdir)

        run_b = run_snakemake(workdir, movie("results", "b"), timeout=300)
        assert run_b.returncode == 0, run_b.stderr[-3000:]
        assert lock_names(workdir) == set()  # Snakemake's end of B removed A's lock files as well

        run_c = run_snakemake(workdir, movie("results", "a"), timeout=300)
        output = run_c.stdout + run_c.stderr
        assert run_c.returncode != 0, output[-3000:]
        lines = [line for line in output.splitlines() if line.startswith("cellpipe: ")]
        assert len(lines) == 1, output[-3000:]
        assert f"snakemake process {run_a.pid} on {socket.gethostname()} is still running in this folder" in lines[0]
        assert "results/simulated/a/" in lines[0]
        assert "rule simulate_movie" not in output and not (workdir / movie("results", "a")).exists()

        os.killpg(run_a.pid, signal.SIGCONT)
        assert run_a.wait(timeout=300) == 0, (tmp_path / "a.txt").read_text()[-3000:]
    assert (workdir / movie("results", "a")).is_file()


def registered(results: Path, pid: int) -> bool:
    """Whether ``pid`` registered as a run writing ``results`` (cellpipe.runtime.run_registry)."""
    for record in (results / ".cellpipe" / "runs").glob("*.json"):
        with contextlib.suppress(OSError):
            if f'"pid": {pid},' in record.read_text():
                return True
    return False


def test_a_second_working_folder_on_one_results_folder_waits_for_the_first(tmp_path: Path) -> None:
    """Two working folders whose configs name one absolute results folder: while a run from the first is
    alive, a real run from the second stops with one line naming it, before any job; a dry run is not
    stopped; once the first run was killed, the second runs."""
    results = tmp_path / "shared" / "results"
    sheet = f"sample\tmovie\na\t{movie(results, 'a')}\n"
    first = write_workdir(tmp_path / "first", config(str(results)), sheet)
    second = write_workdir(tmp_path / "second", config(str(results)), sheet)
    with started(first, movie(results, "a"), log=tmp_path / "first.txt") as run_a:
        # onstart registers the run in the results folder, records its lock files, then its command line
        invocation = results / "logs" / "snakemake_invocation.json"
        wait_for(lambda: owner_recorded(first, run_a.pid) and invocation.exists(), run_a, tmp_path / "first.txt",
                 "the first run started")
        assert registered(results, run_a.pid)
        command_of_a = invocation.read_bytes()
        os.killpg(run_a.pid, signal.SIGSTOP)

        refused = run_snakemake(second, movie(results, "b"), timeout=300)
        assert refused.returncode != 0
        output = refused.stdout + refused.stderr
        lines = [line for line in output.splitlines() if line.startswith("cellpipe: ")]
        assert len(lines) == 1, output[-3000:]
        assert f"snakemake process {run_a.pid} on {socket.gethostname()}, started in {first.resolve()} " in lines[0]
        assert "wait until that run ends" in lines[0] and str(results.resolve()) in lines[0]
        assert "rule simulate_movie" not in output and not (results / "simulated" / "b").exists()
        assert invocation.read_bytes() == command_of_a  # the first run's provenance keeps its own command
        records = [p.read_text() for p in (results / ".cellpipe" / "runs").iterdir()]
        assert len(records) == 1 and f'"pid": {run_a.pid},' in records[0]  # the refused run left none

        dry = run_snakemake(second, movie(results, "b"), "--dry-run", timeout=300)
        assert dry.returncode == 0 and "cellpipe: " not in dry.stdout + dry.stderr, dry.stderr[-3000:]

        os.killpg(run_a.pid, signal.SIGKILL)
        run_a.wait(timeout=60)

    after = run_snakemake(second, movie(results, "b"), timeout=300)
    assert after.returncode == 0, after.stderr[-3000:]
    assert (results / "simulated" / "b" / "movie.ome.tif").is_file()
    assert list((results / ".cellpipe" / "runs").iterdir()) == []  # the dead run's record and its own are gone
