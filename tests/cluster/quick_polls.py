"""``snakemake`` for the test cluster: the real command line, the real SLURM executor plugin, with its
idle pauses shortened (the SLURM tests start this file instead of ``bin/snakemake``).

snakemake-executor-plugin-slurm 2.6.1 paces itself for a shared production cluster: it sleeps 5 s before
every ``sbatch``, and after a status check that finds no job finished it waits 10 s longer than the
time before (5, 15, 25, ... up to 180 s), going back to the first wait only when a job ends. On the
single-node test cluster every rule is a job of 10-40 s, one after another, so each job's end was
seen 5-20 s late and each next job was submitted 5 s after that: about a third of a SLURM test's wall
time was spent in those pauses, none in SLURM or in the workflow. Here the executor asks ``squeue``
every :data:`POLL_S` seconds and submits without the pause; everything else (what is submitted, with
which options, how states are read and failures retried) is the plugin's own code. profiles/slurm is
unchanged: a real cluster keeps the plugin's pacing.

Usage (as ``snakemake``)::

    python tests/cluster/quick_polls.py --profile profiles/slurm ...
"""

from __future__ import annotations

import sys
import time

import snakemake_executor_plugin_slurm as slurm_plugin
from snakemake.cli import main

POLL_S = 1  # seconds between two squeue status checks of the running jobs


class _NoPause:
    """The ``time`` module as the plugin sees it, with ``sleep`` (only its fixed 5 s pauses) a no-op."""

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


def shorten_the_plugins_pauses() -> None:
    slurm_plugin.time = _NoPause()
    # RemoteExecutor.sleep() waits next_seconds_between_status_checks between two status checks; the
    # plugin's check_active_jobs() sets it (growing), so the setter is made to keep POLL_S.
    slurm_plugin.Executor.next_seconds_between_status_checks = property(lambda self: POLL_S, lambda self, value: None)


if __name__ == "__main__":
    shorten_the_plugins_pauses()
    sys.argv[0] = "snakemake"
    sys.exit(main())
