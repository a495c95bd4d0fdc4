"""The workflow on a real (throwaway, single-node) SLURM cluster through profiles/slurm.

A cluster of this machine (tests/cluster/slurm.py: munged, MariaDB + slurmdbd, slurmctld, slurmd,
all under a temporary folder) runs the tiny simulated movie with
``snakemake --profile profiles/slurm``: the SLURM executor plugin submits every job with sbatch.
SLURM's own records (sacct, and the job completion log) must show the GPU rule in partition ``gpu``
with a GPU allocated and every other rule in partition ``cpu``; the results must equal those of a
local run of the same config. Needs root; skips with the reason where SLURM cannot start (fails under make test).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import tiny_reference_config, write_workdir
from runs import GPU_RULES, SAMPLES_TSV, SlurmRun, cluster_or_skip, run_on_slurm
from slurm import SlurmCluster

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]


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
    return run_on_slurm(cluster, write_workdir(tmp_path_factory.mktemp("onslurm"), tiny_reference_config(), SAMPLES_TSV))


def test_slurm_run_writes_the_results(slurm_run: SlurmRun, record_property) -> None:
    record_property("slurm_wall_time_s", round(slurm_run.seconds, 1))
    res = slurm_run.workdir / "results"
    for rel in ["tiny/counts.tsv", "tiny/tracks.parquet", "tiny/segmentation.json", "tiny/report.html",
                "summary.html", "evaluation.tsv"]:
        assert (res / rel).exists(), rel
    assert slurm_run.run_id and slurm_run.submitted, slurm_run.log[-3000:]
    # the GPU job is submitted; the gather of its one part (a rename) is a local rule, run by snakemake itself
    assert "segment_frames" in slurm_run.submitted.values() and "segment_cells" not in slurm_run.submitted.values()


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
        if rule in GPU_RULES:
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
            if rule in GPU_RULES:
                assert partition == "gpu" and "gres/gpu=1" in tres.split(","), (rule, partition, tres)
            else:
                assert partition == "cpu" and "gres/gpu" not in tres, (rule, partition, tres)
    print("[SLURM] sacct: " + "; ".join(f"{rule}: {jobs[0][0]} ({jobs[0][2]})" for rule, jobs in sorted(by_rule.items())))


def test_slurm_results_equal_a_local_run(slurm_run: SlurmRun, local_run: Path) -> None:
    on_slurm, local = slurm_run.workdir / "results" / "tiny", local_run / "results" / "tiny"
    pd.testing.assert_frame_equal(pd.read_csv(on_slurm / "counts.tsv", sep="\t"), pd.read_csv(local / "counts.tsv", sep="\t"))
    pd.testing.assert_frame_equal(pd.read_parquet(on_slurm / "tracks.parquet"), pd.read_parquet(local / "tracks.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(on_slurm / "cells.parquet"), pd.read_parquet(local / "cells.parquet"))
    assert json.loads((on_slurm / "evaluation.json").read_text())["ctc"] == json.loads((local / "evaluation.json").read_text())["ctc"]
