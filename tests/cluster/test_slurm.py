"""The workflow on a real (throwaway, single-node) SLURM cluster through profiles/slurm.

A cluster of this machine (tests/cluster/slurm.py: munged, MariaDB + slurmdbd, slurmctld, slurmd,
all under a temporary folder) runs the tiny simulated movie with
``snakemake --profile profiles/slurm``: the SLURM executor plugin submits every job with sbatch.
SLURM's own records (sacct, and the job completion log) must show the GPU rule in partition ``gpu``
with a GPU allocated and every other rule in partition ``cpu``; the results must equal those of a
local run of the same config. The run has two samples of the same movie, so the profile's group of GPU jobs
(``groups: segment_frames=gpu_segment``, ``group-components``) has two movies to put in one sbatch job: SLURM
must show one job with one GPU that ran both samples' segment_frames, one after the other, and each sample's
results must equal the local run's. Needs root; skips with the reason where SLURM cannot start (fails under make test).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import tiny_reference_config, write_workdir
from runs import GPU_GROUP_JOB, GPU_RULES, SAMPLES_TSV, SlurmRun, cluster_or_skip, run_on_slurm, segment_mem_mb_of
from slurm import SlurmCluster

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

# A second sample of the same movie and ground truth: its results must equal the local run's of the first
SAMPLES = ("tiny", "tiny_b")
TWO_SAMPLES_TSV = SAMPLES_TSV + SAMPLES_TSV.splitlines()[1].replace("tiny\t", "tiny_b\t", 1) + "\n"
GPU_JOBS = GPU_RULES | {GPU_GROUP_JOB}  # what the profile submits to the GPU partition: the GPU rules, their group


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # with slurmdbd, so sacct can confirm what the job completion log says (GPUs in AllocTRES)
    yield from cluster_or_skip(tmp_path_factory.mktemp("slurm"), accounting="slurmdbd")


@pytest.fixture(scope="module")
def local_run(tiny_reference_run: Path) -> Path:
    """The same config run locally with the workstation profile: the reference results (one run per
    session, tests/conftest.py; test_interruptions compares with it too)."""
    return tiny_reference_run


@pytest.fixture(scope="module")
def slurm_run(cluster: SlurmCluster, tmp_path_factory) -> SlurmRun:
    # the reference's config: Cellpose on the CPU in both runs, so equal tables are expected on a GPU host too
    return run_on_slurm(cluster, write_workdir(tmp_path_factory.mktemp("onslurm"), tiny_reference_config(), TWO_SAMPLES_TSV))


def test_slurm_run_writes_the_results(slurm_run: SlurmRun, record_property) -> None:
    record_property("slurm_wall_time_s", round(slurm_run.seconds, 1))
    res = slurm_run.workdir / "results"
    for rel in [f"{s}/{name}" for s in SAMPLES for name in ("counts.tsv", "tracks.parquet", "segmentation.json", "report.html")]:
        assert (res / rel).exists(), rel
    for rel in ["summary.html", "evaluation.tsv"]:
        assert (res / rel).exists(), rel
    assert slurm_run.run_id and slurm_run.submitted, slurm_run.log[-3000:]
    # the GPU jobs are submitted in their group; the gather of each one part (a rename) is a local rule, run by
    # snakemake itself
    assert GPU_GROUP_JOB in slurm_run.submitted.values() and "segment_cells" not in slurm_run.submitted.values()


def test_slurm_records_show_gpu_rules_in_gpu_partition_and_the_rest_in_cpu(slurm_run: SlurmRun, cluster: SlurmCluster) -> None:
    """Every job snakemake submitted is in SLURM's job completion log (jobcomp/filetxt) and in sacct:
    the GPU rule ran in partition gpu with gres/gpu=1, every other rule in partition cpu without a
    GPU, all COMPLETED. sacct's Comment (the plugin's ``--comment rule_<rule>_wildcards_...``) names
    each job's rule; it must agree with what snakemake reported when it submitted the job."""
    jobcomp = {r["JobId"]: r for r in cluster.completed_jobs() if r.get("Name") == slurm_run.run_id}
    assert set(jobcomp) == set(slurm_run.submitted), (sorted(jobcomp), slurm_run.submitted)
    for jobid, rule in slurm_run.submitted.items():
        record = jobcomp[jobid]
        tres = record["Tres"].split(",")
        assert record["JobState"] == "COMPLETED", (rule, record)
        if rule in GPU_JOBS:
            assert record["Partition"] == "gpu" and "gres/gpu=1" in tres, (rule, record)
        else:
            assert record["Partition"] == "cpu" and not any(t.startswith("gres/gpu") for t in tres), (rule, record)

    sacct = cluster.run("sacct", "-X", "--parsable2", "--noheader", "--starttime", "2000-01-01", "--name", slurm_run.run_id,
                        "--format=JobIDRaw,Partition,State,AllocTRES,Comment")
    assert sacct.returncode == 0, sacct.stderr
    rows = [line.split("|") for line in sacct.stdout.splitlines() if line.strip()]
    by_rule: dict[str, list[tuple[str, str, str]]] = {}
    for jobid, partition, state, tres, comment in rows:
        rule = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", comment).group(1)  # the plugin's --comment
        assert slurm_run.submitted[jobid] == rule, (jobid, rule)
        by_rule.setdefault(rule, []).append((partition, state, tres))
    assert set(by_rule) == set(slurm_run.submitted.values())
    for rule, jobs in by_rule.items():
        for partition, state, tres in jobs:
            assert state == "COMPLETED", (rule, state)
            if rule in GPU_JOBS:
                assert partition == "gpu" and "gres/gpu=1" in tres.split(","), (rule, partition, tres)
            else:
                assert partition == "cpu" and "gres/gpu" not in tres, (rule, partition, tres)
    print("[SLURM] sacct: " + "; ".join(f"{rule}: {jobs[0][0]} ({jobs[0][2]})" for rule, jobs in sorted(by_rule.items())))


def test_both_samples_segment_frames_ran_in_one_sbatch_job_with_one_gpu(slurm_run: SlurmRun, cluster: SlurmCluster) -> None:
    """profiles/slurm's group: no segment_frames job submitted on its own, one sbatch job for the group, with
    one GPU (gres/gpu=1, not one per job), the largest job's memory (not the sum) and the sum of the jobs'
    runtimes as its time limit, in which snakemake ran both samples' segment_frames one after the other."""
    groups = [jobid for jobid, name in slurm_run.submitted.items() if name == GPU_GROUP_JOB]
    assert len(groups) == 1 and "segment_frames" not in slurm_run.submitted.values(), slurm_run.submitted
    jobid = groups[0]
    record = next(r for r in cluster.completed_jobs() if r["JobId"] == jobid)
    tres = dict(t.split("=", 1) for t in record["Tres"].split(","))
    assert record["JobState"] == "COMPLETED" and record["Partition"] == "gpu", record
    assert tres["gres/gpu"] == "1" and tres["mem"] == f"{segment_mem_mb_of(tiny_reference_config())}M", record
    sacct = cluster.run("sacct", "-X", "--parsable2", "--noheader", "-j", jobid, "--format=Timelimit,AllocTRES")
    timelimit, alloc = sacct.stdout.strip().split("|")
    assert timelimit == "04:00:00" and "gres/gpu=1" in alloc.split(","), sacct.stdout  # 2 x 120 min

    # the group's SLURM log: snakemake in the job ran segment_frames of each sample, the second after the first ended
    log = (slurm_run.workdir / ".snakemake" / "slurm_logs" / f"group_{GPU_GROUP_JOB}" / f"{jobid}.log").read_text()
    starts = sorted(log.index(f"wildcards: sample={sample}, part=0") for sample in SAMPLES)
    ends = [m.start() for m in re.finditer(r"Finished jobid: \d+ \(Rule: segment_frames\)", log)]
    assert ends and starts[0] < ends[0] < starts[1] < ends[-1], log[-3000:]
    print(f"[SLURM] group job {GPU_GROUP_JOB}: SLURM job {jobid}, {record['Partition']}, {record['Tres']}, time limit {timelimit}")


@pytest.mark.parametrize("sample", SAMPLES)
def test_slurm_results_equal_a_local_run(slurm_run: SlurmRun, local_run: Path, sample: str) -> None:
    """Each sample segmented in the group job gives the local (ungrouped) run's tables."""
    on_slurm, local = slurm_run.workdir / "results" / sample, local_run / "results" / "tiny"
    pd.testing.assert_frame_equal(pd.read_csv(on_slurm / "counts.tsv", sep="\t"), pd.read_csv(local / "counts.tsv", sep="\t"))
    pd.testing.assert_frame_equal(pd.read_parquet(on_slurm / "tracks.parquet"), pd.read_parquet(local / "tracks.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(on_slurm / "cells.parquet"), pd.read_parquet(local / "cells.parquet"))
    assert json.loads((on_slurm / "evaluation.json").read_text())["ctc"] == json.loads((local / "evaluation.json").read_text())["ctc"]
