"""Running the workflow on the test cluster (tests/cluster/slurm.py) with profiles/slurm: shared by the
SLURM tests."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, REPO, TINY_160, TINY_160_SAMPLES_TSV, default_config, snakemake_env
from slurm import ClusterUnavailable, SlurmCluster

# The 160 x 160 px simulated movie of the SLURM retry test (nothing is downloaded); test_slurm.py runs
# tests/conftest.py's tiny_reference_config instead, as its results are compared with tiny_reference_run's.
TINY = TINY_160
SAMPLES_TSV = TINY_160_SAMPLES_TSV
GPU_RULES = {"segment_frames", "train_cellpose"}  # the rules that declare resources: gpu=1
GPU_GROUP = "gpu_segment"  # profiles/slurm's group of segment_frames jobs, submitted as one sbatch job
GPU_GROUP_JOB = f"{GPU_GROUP}_segment_frames"  # its job's name (snakemake's: the group's, then its rules')
SLURM_TIMEOUT_S = 45 * 60
QUICK_POLLS = Path(__file__).resolve().parent / "quick_polls.py"


def tiny_config() -> dict:
    config = default_config()
    config["simulate"] = {"tiny": dict(TINY)}
    return config


def segment_mem_mb_of(config: dict) -> int:
    """mem_mb of a segment_frames job's first attempt on the config's simulated movie ``tiny``: sized from
    its header, as workflow/rules/common.smk sizes it (a simulated movie's header is its simulate settings)."""
    from cellpipe.config import load_config
    from cellpipe.preflight import MovieSize
    from cellpipe.resources import segment_diameter_px, segment_mem_mb

    loaded = load_config(config)
    sim = loaded.simulate["tiny"]
    size = MovieSize((sim.n_frames, 1, *sim.shape), "uint16", sim.pixel_size_um)
    diameter_px = segment_diameter_px(loaded.segment.model_dump(mode="json"), size.pixel_size_um)
    return segment_mem_mb(size, loaded.segment.method, diameter_px)


def cluster_or_skip(root: Path, accounting: str) -> Iterator[SlurmCluster]:
    """A module fixture's body: a test cluster under ``root``, stopped afterwards; skips with the
    reason where SLURM or the plugin is not there."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    try:
        cluster = SlurmCluster.start_in(root, accounting=accounting)
    except ClusterUnavailable as reason:
        pytest.skip(str(reason))
    try:
        yield cluster
    finally:
        cluster.stop()


class SlurmRun:
    def __init__(self, workdir: Path, proc: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.workdir, self.proc, self.seconds = workdir, proc, seconds
        self.log = proc.stdout + proc.stderr
        found = re.search(r"SLURM run ID: (\S+)", self.log)
        self.run_id = found.group(1) if found else None
        # "Job 3 has been submitted with SLURM jobid 7 (log: .../slurm_logs/rule_track_cells/tiny/7.log)."; a group
        # job's log is under group_<group job's name>/: the rule's name, or the group job's (GPU_GROUP_JOB)
        self.submitted = {
            m.group(1): m.group(2)
            for m in re.finditer(r"submitted with SLURM jobid (\d+) \(log: \S*?/(?:rule|group)_(\w+?)/", self.log)
        }


def run_on_slurm(
    cluster: SlurmCluster, workdir: Path, *targets: str, env: dict[str, str] | None = None
) -> SlurmRun:
    """``snakemake --profile profiles/slurm`` in ``workdir`` on the test cluster; asserts it succeeded.

    snakemake runs through tests/cluster/quick_polls.py: the plugin checks job states every
    ``quick_polls.POLL_S`` seconds and submits without its 5 s pause, only to keep the test short.
    """
    cmd = [
        str(BIN / "python"), str(QUICK_POLLS),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--profile", str(REPO / "profiles" / "slurm"),
        *targets,
    ]
    # The jobs inherit this environment (sbatch --export=ALL): the venv's bin first on PATH,
    # sockets blocked in every Python, SLURM_CONF naming the test cluster.
    full_env = cluster.env(snakemake_env())
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, env=full_env, capture_output=True, text=True, timeout=SLURM_TIMEOUT_S)
    seconds = time.monotonic() - start
    print(f"\n[SLURM] snakemake --profile profiles/slurm {' '.join(targets)} on the test cluster "
          f"(accounting: {cluster.accounting}): wall time {seconds:.1f} s (exit {proc.returncode})")
    run = SlurmRun(workdir, proc, seconds)
    assert proc.returncode == 0, (
        f"{proc.stderr[-5000:]}\n--- slurmctld.log ---\n{(cluster.root / 'log' / 'slurmctld.log').read_text()[-2000:]}"
    )
    return run
