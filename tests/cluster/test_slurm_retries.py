"""profiles/slurm on a cluster without accounting, and a GPU job that runs out of memory.

A throwaway single-node cluster (tests/cluster/slurm.py) with ``accounting="none"``: no slurmdbd,
``sacct`` answers "Slurm accounting storage is disabled", so the SLURM executor plugin can follow
jobs only with ``squeue`` (the profile's ``slurm-status-command``). Every Python the jobs start
simulates a GPU that holds 4 Cellpose tiles at once (tests/site_hooks/simulated_gpu.py), and the
config asks segment_frames for 8 tiles per network pass: the first segment_frames job fails with
torch's out-of-memory error, and the profile's retry asks SLURM for twice the memory and runs 4
tiles per pass, and succeeds. SLURM's job completion log is the witness: the same job (the profile's
group of segment_frames jobs, here of one) twice in partition ``gpu``, FAILED with the memory sized from
the movie's header (cellpipe.resources), then COMPLETED with twice that. Needs root; skips with
the reason where SLURM cannot start (fails under make test).
"""

from __future__ import annotations

import contextlib
import json

import pytest

from conftest import write_workdir
from runs import GPU_GROUP_JOB, SAMPLES_TSV, SlurmRun, cluster_or_skip, run_on_slurm, segment_mem_mb_of, tiny_config
from slurm import SlurmCluster

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

GPU_TILES = 4  # what the simulated GPU holds in one network pass
ASKED_TILES = 8  # segment.cellpose.batch_size: one 160x160 px frame is one tile, so 8 frames per pass


SEGMENT_MEM_MB = segment_mem_mb_of(tiny_config())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with contextlib.closing(cluster_or_skip(tmp_path_factory.mktemp("slurm_noacct"), accounting="none")) as started:
        cluster = next(started)  # stopped when the with block closes the generator
        if cluster.memory_mb < 2 * SEGMENT_MEM_MB:
            pytest.skip(f"the test node has {cluster.memory_mb} MB; the retry asks SLURM for {2 * SEGMENT_MEM_MB} MB")
        yield cluster


@pytest.fixture(scope="module")
def retried_run(cluster: SlurmCluster, tmp_path_factory) -> SlurmRun:
    config = tiny_config()
    config["segment"]["cellpose"]["batch_size"] = ASKED_TILES
    workdir = write_workdir(tmp_path_factory.mktemp("retry"), config, SAMPLES_TSV)
    failures = workdir / "simulated_gpu_failures.tsv"
    env = {"CELLPIPE_SIMULATED_GPU_TILES": str(GPU_TILES), "CELLPIPE_SIMULATED_GPU_LOG": str(failures)}
    return run_on_slurm(cluster, workdir, "results/tiny/segmentation.json", env=env)


def test_the_cluster_has_no_accounting(cluster: SlurmCluster) -> None:
    """So the run below was followed with squeue: sacct has nothing to answer with."""
    sacct = cluster.run("sacct", "-X", "--noheader")
    assert sacct.returncode != 0 and "accounting storage is disabled" in (sacct.stdout + sacct.stderr).lower()


def test_out_of_memory_gpu_job_is_retried_with_more_memory_and_a_smaller_batch(
    retried_run: SlurmRun, cluster: SlurmCluster
) -> None:
    records = [r for r in cluster.completed_jobs() if r.get("Name") == retried_run.run_id]
    assert {r["JobId"] for r in records} == set(retried_run.submitted), (records, retried_run.submitted)
    # segment_frames is submitted in profiles/slurm's group (here of one job), retried as a group
    segment = [r for r in records if retried_run.submitted[r["JobId"]] == GPU_GROUP_JOB]
    assert [r["JobState"] for r in segment] == ["FAILED", "COMPLETED"], segment
    assert all(r["Partition"] == "gpu" for r in segment), segment
    memory = [dict(t.split("=", 1) for t in r["Tres"].split(","))["mem"] for r in segment]
    assert memory == [f"{SEGMENT_MEM_MB}M", f"{2 * SEGMENT_MEM_MB}M"], segment
    others = [r for r in records if retried_run.submitted[r["JobId"]] != GPU_GROUP_JOB]
    assert others and all(r["JobState"] == "COMPLETED" and r["Partition"] == "cpu" for r in others), others

    # the failure was the simulated GPU's, with 8 tiles in one pass; the retry ran 4 per pass
    failures = (retried_run.workdir / "simulated_gpu_failures.tsv").read_text().splitlines()
    assert [line.split("\t")[1] for line in failures] == [str(ASKED_TILES)]
    results = retried_run.workdir / "results"
    info = json.loads((results / "tiny" / "segmentation.json").read_text())
    assert info["batch_size"] == GPU_TILES and info["batch_divisor"] == 2
    assert info["n_frames"] == 12
    assert "tiles per network pass divided by 2, now 4" in (results / "logs" / "segment_frames" / "tiny.part0.log").read_text()
    failed_id = segment[0]["JobId"]
    slurm_log = retried_run.workdir / ".snakemake" / "slurm_logs" / f"group_{GPU_GROUP_JOB}" / f"{failed_id}.log"
    assert "SegmentationOutOfMemory" in slurm_log.read_text() and "with 8 tile(s)" in slurm_log.read_text()

