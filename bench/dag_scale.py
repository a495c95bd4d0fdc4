"""How long Snakemake takes to build the workflow's job graph for many samples (``snakemake -n``).

    .venv/bin/python -m bench.dag_scale [--samples 10,100,1000] [--work DIR]

For each count, a folder holds that many small movies (8 frames of 64 x 64 px, uint16 TIFF, one
per sample) and a sample sheet listing them; ``snakemake --dry-run`` of the whole workflow runs
there. The time covers everything before a job would start: parsing the Snakefile, validating the
config and the sample sheet, the header checks of every movie (cellpipe reads each file's header,
not its pixels) and Snakemake's graph of about 11 jobs per sample. Goal (issue #7): 1,000 samples
in under 15 s. The table also gives the time per sample, to show how it grows.
"""

from __future__ import annotations

import argparse
import shutil
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


def dry_run(workdir: Path) -> tuple[float, int]:
    """Seconds of ``snakemake --dry-run`` of the whole workflow in ``workdir``, and the jobs it planned."""
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", "--dry-run", "--quiet", "rules"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"bench: snakemake --dry-run failed in {workdir}:\n{proc.stderr[-2000:]}")
    jobs = 0
    for line in proc.stdout.splitlines():  # the "Job stats" table: "<rule> <count>", then "total <count>"
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            jobs = int(parts[1])
    return seconds, jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", default="10,100,1000", help="sample counts, comma-separated")
    parser.add_argument("--work", type=Path, default=None, help="keep the folders here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-dag-bench-"))
    print(f"machine: {machine()}")
    rows = []
    for n in (int(c) for c in args.samples.split(",")):
        workdir = work / f"samples{n}"
        if workdir.exists():
            shutil.rmtree(workdir)
        set_up(workdir, n)
        dry_run(workdir)  # warm the file system cache and Python's bytecode; not counted
        seconds, jobs = dry_run(workdir)
        rows.append([n, jobs, f"{seconds:.2f}", f"{1000 * seconds / n:.1f}",
                     "" if n < 1000 else ("meets" if seconds < GOAL_S else "misses") + f" < {GOAL_S:.0f} s"])
    print_table("snakemake --dry-run of the whole workflow", ["samples", "jobs", "seconds", "ms/sample", "goal"], rows)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
