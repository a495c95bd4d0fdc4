"""How long Snakemake takes to build the workflow's job graph for many samples (``snakemake -n``).

    .venv/bin/python -m bench.dag_scale [--samples 10,100,1000] [--work DIR]

For each count, a folder holds that many small movies (8 frames of 64 x 64 px, uint16 TIFF, one
per sample) and a sample sheet listing them; ``snakemake --dry-run`` of the whole workflow runs
there. The time covers everything before a job would start: parsing the Snakefile, validating the
config and the sample sheet, the header checks of every movie (cellpipe reads each file's header,
not its pixels) and Snakemake's graph of 8 jobs per sample. Goal (issue #7): 1,000 samples in
under 15 s. The table also gives the time per sample, to show how it grows.

Two named baselines show what Snakemake itself costs for the same number of jobs (``--floors``):
a generated Snakefile with as many rules per sample as cellpipe plans, each rule chained to the
previous one, plus one rule gathering every sample (so the job count is cellpipe's):

- ``snakemake floor, bare``: each rule one input, one output and a ``shell:`` command; the least
  Snakemake can do per job;
- ``snakemake floor, DESIGN shape``: each rule in the shape ../shared/DESIGN.md asks of cellpipe's
  rules (named input and output, ``log:``, ``benchmark:``, ``threads:``, memory and run time that
  grow per attempt, a params dict and a ``script:``), with no cellpipe code, sample sheet or checks.

The ratio of cellpipe to the DESIGN-shape floor is cellpipe's own overhead on top of Snakemake.

cellpipe records the sample-sheet rows whose files passed the header checks
(``.snakemake/cellpipe/checked_files.json``) and reads only changed files again: "this checkout" is a
later start (the record exists, as after any earlier run), "this checkout, first start" removes the
record before each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from bench.common import REPO, machine, print_table

BIN = Path(sys.executable).parent
GOAL_S = 15.0


def set_up(workdir: Path, n_samples: int) -> None:
    """``n_samples`` small TIFF movies and a config and sample sheet naming them."""
    import tifffile

    movie = np.random.default_rng(0).integers(100, 2000, (8, 64, 64)).astype(np.uint16)
    (workdir / "movies").mkdir(parents=True)
    rows = ["sample\tmovie\taxes\tpixel_size_um\tframe_interval_min"]
    for i in range(n_samples):
        path = workdir / "movies" / f"pos{i:04d}.tif"
        tifffile.imwrite(path, movie, metadata={"axes": "TYX"})
        rows.append(f"pos{i:04d}\tmovies/{path.name}\tTYX\t0.65\t5")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"] = {}
    (workdir / "config").mkdir()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "config" / "samples.tsv").write_text("\n".join(rows) + "\n")


FIRST_START = "this checkout, first start"
"""The row timed without cellpipe's record of checked rows (every movie's headers read)."""
FLOORS = {"bare": "snakemake floor, bare", "design": "snakemake floor, DESIGN shape"}


def floor_snakefile(shape: str, n_samples: int, rules_per_sample: int) -> str:
    """A Snakefile with ``rules_per_sample`` chained rules per sample and one gathering rule (see module doc).

    ``shape`` is ``"bare"`` or ``"design"``; the first rule reads the sample's movie ``movies/pos{i:04d}.tif``.
    """
    lines = [f'SAMPLES = [f"pos{{i:04d}}" for i in range({n_samples})]', "",
             "def per_attempt(base):", "    return lambda wildcards, attempt: base * attempt", "",
             "rule all:", '    input: "r/summary.txt"', "    default_target: True", ""]
    previous = '"movies/{sample}.tif"'
    for k in range(rules_per_sample):
        lines += [f"rule step{k}:", f"    input: data={previous}", f'    output: data="r/{{sample}}/step{k}.out"']
        if shape == "design":
            lines += ['    params: settings={"threshold": 0.5, "sizes": [1, 2, 3]}',
                      f'    log: "r/logs/step{k}/{{sample}}.log"', f'    benchmark: "r/benchmarks/step{k}/{{sample}}.tsv"',
                      "    threads: 1", "    resources:", "        mem_mb=per_attempt(4000),", "        runtime=per_attempt(30),",
                      '    script: "step.py"', ""]
        else:
            lines += ['    shell: "touch {output}"', ""]
        previous = f'"r/{{sample}}/step{k}.out"'
    lines += ["rule gather:", f'    input: expand({previous}, sample=SAMPLES)', '    output: "r/summary.txt"',
              '    shell: "touch {output}"', ""]
    return "\n".join(lines)


def set_up_floor(workdir: Path, shape: str, n_samples: int, rules_per_sample: int) -> Path:
    """The Snakefile of one floor in ``workdir`` (which holds the movies), and its one-line script."""
    snakefile = workdir / f"floor_{shape}.smk"
    snakefile.write_text(floor_snakefile(shape, n_samples, rules_per_sample))
    (workdir / "step.py").write_text("open(snakemake.output[0], 'w').close()\n")
    return snakefile


def dry_run(workdir: Path, checkout: Path = REPO, snakefile: Path | None = None, first_start: bool = False) -> tuple[float, int]:
    """Seconds of ``snakemake --dry-run`` of the whole workflow of ``checkout`` (or of ``snakefile``) in
    ``workdir``, and the jobs it planned.  ``first_start``: remove cellpipe's record of checked sample-sheet
    rows first (``.snakemake/cellpipe``), so every movie's headers are read as at a first start."""
    if first_start:
        shutil.rmtree(workdir / ".snakemake" / "cellpipe", ignore_errors=True)
    snakefile = snakefile or checkout / "Snakefile"
    cmd = [str(BIN / "snakemake"), "--snakefile", str(snakefile), "--directory", str(workdir),
           "--cores", "2", "--dry-run", "--quiet", "rules"]
    # bytecode is cached for both checkouts alike (the warm-up run writes it)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(checkout / "src")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"bench: snakemake --dry-run failed in {workdir}:\n{proc.stderr[-2000:]}")
    jobs = 0
    for line in proc.stdout.splitlines():  # the "Job stats" table: "<rule> <count>", then "total <count>"
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            jobs = int(parts[1])
    return seconds, jobs


def baseline_checkout(work: Path, revision: str) -> Path:
    """A ``git worktree`` of ``revision`` of this repository under ``work`` (made once, reused)."""
    path = work / f"baseline-{revision}"
    if not (path / "Snakefile").is_file():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(path), revision],
                       check=True, capture_output=True, text=True)
    return path


def baseline_config(workdir: Path, baseline: Path) -> None:
    """Keep only the config keys the baseline's own config.yaml has, so both checkouts accept the file."""
    ours = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    theirs = yaml.safe_load((baseline / "config" / "config.yaml").read_text())

    def common(a: object, b: object) -> object:
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: common(v, b[k]) for k, v in a.items() if k in b}
        return a

    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(common(ours, theirs), sort_keys=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", default="10,100,1000", help="sample counts, comma-separated")
    parser.add_argument("--baseline", default=None, help="a git revision to time alternately with this checkout")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each checkout (median reported)")
    parser.add_argument("--floors", action="store_true",
                        help="also time Snakemake alone on generated Snakefiles with as many jobs (see above)")
    parser.add_argument("--work", type=Path, default=None, help="keep the folders here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-dag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    baseline = baseline_checkout(work, args.baseline) if args.baseline else None
    rows = []
    for n in (int(c) for c in args.samples.split(",")):
        workdir = work / f"samples{n}"
        if workdir.exists():
            shutil.rmtree(workdir)
        set_up(workdir, n)
        checkouts = {"this checkout": REPO, FIRST_START: REPO}
        if baseline is not None:
            baseline_config(workdir, baseline)
            checkouts = {f"baseline {args.baseline}": baseline, **checkouts}
        snakefiles: dict[str, Path | None] = {name: None for name in checkouts}
        jobs: dict[str, int] = {}
        for name, checkout in checkouts.items():
            # warm the file system cache and Python's bytecode; not counted
            _, jobs[name] = dry_run(workdir, checkout)
        if args.floors:
            per_sample = (jobs["this checkout"] - 2) // n  # less rule all and summarize_samples
            for shape, name in FLOORS.items():
                checkouts[name] = REPO
                snakefiles[name] = set_up_floor(workdir, shape, n, per_sample)
                _, jobs[name] = dry_run(workdir, REPO, snakefiles[name])
                if jobs[name] != jobs["this checkout"]:
                    sys.exit(f"bench: the {name} Snakefile plans {jobs[name]} jobs, cellpipe {jobs['this checkout']}")
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                seconds, jobs[name] = dry_run(workdir, checkout, snakefiles[name], first_start=name == FIRST_START)
                times[name].append(seconds)
        ours = statistics.median(times["this checkout"])
        for name in checkouts:
            median = statistics.median(times[name])
            rows.append([n, name, jobs[name], " ".join(f"{t:.1f}" for t in times[name]), f"{median:.2f}",
                         f"{1000 * median / n:.1f}", f"{median / ours:.2f}",
                         "" if n < 1000 or name not in ("this checkout", FIRST_START) else
                         ("meets" if median < GOAL_S else "misses") + f" < {GOAL_S:.0f} s"])
    print_table("snakemake --dry-run of the whole workflow",
                ["samples", "workflow", "jobs", "runs s", "median s", "ms/sample", "row / this", "goal"], rows)
    if baseline is not None:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], capture_output=True)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
