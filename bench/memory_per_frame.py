"""Peak memory of ingest, normalize and segment against the frame size: what mem_mb should they ask?

    .venv/bin/python -m bench.memory_per_frame [--sides 256,1024,2048] [--frames 3] [--channels 1]
        [--methods cellpose,classical] [--compile auto,false] [--work DIR]

For each side a (T, C, Y, X) uint16 movie of ``--frames`` frames is drawn (bright disks on a noisy
background, bench.workflow_memory.write_movie, the same frame for every channel) and written as a
TIFF.  Each step then runs in a fresh Python process, as the rule's script would run it
(cellpipe.steps.ingest.ingest_movie_file, cellpipe.steps.normalize.normalize_movie_step,
cellpipe.steps.segment.segment_whole_movie with the repository's
config: Cellpose with the shipped model on the CPU, diameter 11.5 µm at 0.65 µm/px, so Cellpose
enlarges each frame by 30 / 17.7 = 1.7), and reports its peak resident set size
(``ru_maxrss`` of the process: exact, unlike Snakemake's benchmark records, which sample it
twice a second).  The table gives the peak (MB) per step and side, the frame size and what
cellpipe.resources asks for the same movie, so the estimate can be checked against the measurement.
Cellpose runs once per value of ``--compile`` (``segment.cellpose.compile``; default the config's), each with
an empty cache folder of its own (``CELLPIPE_CACHE_DIR``), so an ONNX Runtime run's peak includes the export,
as in a first job on a machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from bench.common import REPO, machine, print_table

PIXEL_SIZE_UM = 0.65
DIAMETER_UM = 11.5
"""The config's segment.diameter_um, which the steps use: 17.7 px at PIXEL_SIZE_UM."""
INTERVAL_MIN = 5.0

_STEP = """
import importlib, json, resource, sys
args = json.loads(sys.argv[1])
module, name = args.pop("step").rsplit(".", 1)
getattr(importlib.import_module(f"cellpipe.steps.{module}"), name)(**args)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))  # KiB on Linux -> MiB
"""


def peak_mb(step: str, cache: Path | None = None, **kwargs: object) -> float:
    """Run ``cellpipe.steps.<module>.<function>(**kwargs)`` (``step``: ``"<module>.<function>"``) in a fresh
    process, with ``cache`` as its ``CELLPIPE_CACHE_DIR`` when given; its peak resident set size (MiB)."""
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    if cache is not None:
        env["CELLPIPE_CACHE_DIR"] = str(cache)
    result = subprocess.run(
        [sys.executable, "-c", _STEP, json.dumps({"step": step, **kwargs})], capture_output=True, text=True, env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def write_tcyx(path: Path, n_frames: int, side: int, n_channels: int) -> None:
    """A (T, C, Y, X) uint16 TIFF: drifting disks on noise (bench.workflow_memory), the same in every channel."""
    from bench.workflow_memory import write_movie

    plain = path.with_suffix(".tyx.tif")
    write_movie(plain, n_frames, side)
    import tifffile

    movie = tifffile.imread(plain)
    tifffile.imwrite(path, np.repeat(movie[:, np.newaxis], n_channels, axis=1), metadata={"axes": "TCYX"})
    plain.unlink()


def measure(
    work: Path, side: int, n_frames: int, n_channels: int, methods: list[str], compiles: list[str]
) -> dict[str, tuple[str, float]]:
    """Peak MB of each step for one movie size, by row label: (what it is asked for, peak MB); Cellpose once per
    ``compiles`` value ('' for the config's)."""
    from cellpipe.config import load_config

    folder = work / f"{side}x{n_channels}"
    folder.mkdir(parents=True, exist_ok=True)
    movie = folder / "movie.tif"
    write_tcyx(movie, n_frames, side, n_channels)
    config = load_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()) | {"simulate": {}})
    image, normalized = folder / "image.ome.zarr", folder / "normalized.zarr"
    peaks = {
        "ingest": ("ingest", peak_mb("ingest.ingest_movie_file", sample="m", movie=str(movie), fmt="auto", axes=None,
                          pixel_size_um=PIXEL_SIZE_UM, frame_interval_min=INTERVAL_MIN, channel_names=[],
                          settings=config.ingest.model_dump(mode="json"), image=str(image))),
        "normalize": ("normalize", peak_mb(
            "normalize.normalize_movie_step", image=str(image), settings=config.normalize.model_dump(mode="json"),
            normalized=str(normalized), percentiles=str(folder / "percentiles.tsv"))),
    }
    for method in methods:
        for compile_ in compiles if method == "cellpose" else [""]:
            settings = config.segment.model_dump(mode="json")
            settings.pop("scatter")
            settings["method"] = method
            settings["cellpose"]["model"] = str(REPO / "resources/models/cellpipe_nuclei/weights.pth")
            if compile_:
                settings["cellpose"]["compile"] = {"true": True, "false": False}.get(compile_, compile_)
            name = f"{method}_{compile_}" if compile_ else method
            info = folder / f"segmentation_{name}.json"
            peak = peak_mb(
                "segment.segment_whole_movie", cache=folder / f"cache_{name}", normalized=str(normalized),
                image=str(image), settings=settings, labels=str(folder / f"labels_{name}.zarr"), info=str(info),
                threads=1,
            )
            runtime = json.loads(info.read_text()).get("network_runtime")
            peaks[f"segment ({method}{', ' + runtime if runtime else ''})"] = (method, peak)
    return peaks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", default="256,1024,2048")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--methods", default="cellpose,classical")
    parser.add_argument("--compile", default="", help="comma-separated segment.cellpose.compile values (default: the config's)")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    from cellpipe import resources
    from cellpipe.preflight import MovieSize

    work = args.work or Path(tempfile.mkdtemp(prefix="memframe"))
    methods = args.methods.split(",")
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        size = MovieSize((args.frames, args.channels, side, side), "uint16", PIXEL_SIZE_UM)
        peaks = measure(work, side, args.frames, args.channels, methods, args.compile.split(","))
        asked = {"ingest": resources.ingest_mem_mb(size), "normalize": resources.normalize_mem_mb(size)}
        for method in methods:
            asked[method] = resources.segment_mem_mb(size, method, DIAMETER_UM / PIXEL_SIZE_UM)
        for step, (kind, peak) in peaks.items():
            rows.append([f"{side}²×{args.channels}", step, f"{size.frame_megabytes:.1f}", f"{peak:.0f}", f"{asked[kind]}"])
        print(rows[-len(peaks):], flush=True)
    print(machine())
    print_table("Peak memory per step against the frame size", ["frame", "step", "frame MB", "peak MB", "asked MB"], rows)


if __name__ == "__main__":
    main()
