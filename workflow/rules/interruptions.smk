# Interrupted runs: rerunning the same snakemake command after a kill finishes the work
# (profiles/README.md, "Interrupted runs").
#
# Outputs are written under a temporary name and renamed when complete (cellpipe.io.atomic), so a
# killed job leaves nothing a rerun would take as done. What a SIGKILL of snakemake itself leaves is
# its lock (.snakemake/locks/), which would stop the rerun with "Directory cannot be locked" until
# `snakemake --unlock`. The main snakemake process records which process holds the lock when a run
# starts, and the next run removes the lock when that process is known to be dead
# (cellpipe.io.snakemake_lock); the recording is in the workflow's one onstart handler (provenance.smk).

import sys

from snakemake_interface_executor_plugins.settings import ExecMode

from cellpipe.io.snakemake_lock import release_stale_lock


if workflow.exec_mode == ExecMode.DEFAULT:  # the main process; never a job, which runs under its lock
    _released = release_stale_lock()
    if _released:
        print(f"cellpipe: {_released}", file=sys.stderr)
