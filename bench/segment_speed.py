"""Segmentation speed: the workflow's rule segment_frames against Cellpose's own command line (issue #3).

    .venv/bin/python -m bench.segment_speed [--frames 92] [--repeats 1] [--runner snakemake|library]
        [--compile false,true,onnxruntime] [--precision float32,bfloat16] [--tile-px 1024,224] [--filters config|off]
        [--frame-px 1024|2048] [--network-only]

Both segment the same frames of Fluo-N2DH-GOWT1 01 (1024x1024 px), normalized once by the
workflow's normalize stage, with the same model (default: the shipped one) at the same nucleus
diameter (60 px), side by side in one run:

* baseline "cellpose CLI": ``python -m cellpose --dir <normalized frames as float32 TIFF>
  --pretrained_model <model> --diameter 60 --chan 0 --chan2 0 --no_norm --save_tif --no_npy
  --savedir <out> --flow_threshold F --cellprob_threshold P`` (plus ``--use_gpu`` when a GPU is there),
  F and P being config/config.yaml's ``segment.cellpose`` values, which the rule uses too, Cellpose's
  defaults otherwise;
* "cellpipe rule": ``snakemake --forcerun segment_frames results/gowt1/segmentation.json`` in a
  work folder (reads the normalized zarr, writes the OME-Zarr labels, its log and benchmark), or
  with ``--runner library`` (for a machine without snakemake) the rule's function
  ``cellpipe.segment.iter_segment_cells`` on the frames in memory, model loading included, timed
  after one untimed warm-up frame (numba compilation, cuDNN autotuning).

Both times are wall clock of the whole command, Python start-up and model loading included.
Runs alternate (the CLI first in odd repeats); sockets are blocked in both (tests/site_hooks), so
neither can download anything. Printed: seconds, seconds per frame, megapixels per second, the
ratio CLI / cellpipe, and how well the masks agree: AP@0.5 of cellpipe's masks against the
CLI's (cellpipe.metrics.instance_scores), mean and minimum over frames.

``--compile`` runs cellpipe once per value of ``segment.cellpose.compile`` in each repeat (the
config's value is rewritten before each rule run, which reruns the rule by its params). A compiled
run's time includes the compilation, from torch's on-disk cache after the first one; the first
repeat shows the cold cost. The rule runs with caches of this bench run's own (``CELLPIPE_CACHE_DIR``
and ``NUMBA_CACHE_DIR`` in the work folder), so the first repeat is a first job on a fresh machine: an
``onnxruntime`` run exports the network and numba compiles Cellpose's and cellpipe's functions, and later
repeats read both from the caches, as a user's later jobs do. The CLI runs as a user runs it (numba
compiles Cellpose's functions in every run).

``--precision`` runs cellpipe once per value of ``segment.cellpose.precision`` (float32, bfloat16: the
network under torch's bfloat16 autocast), for each value of ``--compile`` that runs through torch.

``--tile-px`` runs cellpipe once per value of ``segment.cellpose.tile_px`` (the side of the network's
tiles after rescaling, px): the default 1024 passes a rescaled GOWT1 frame (512 px) whole, 224 tiles it
as Cellpose 3 does (224 px tiles overlapping by 10 %), so that the masks can be compared with the CLI's
at equal tiling. Each run's masks are compared with the CLI's frame by frame; frames under AP@0.5 0.98
are listed. ``--filters off`` turns the workflow's object filters off (``segment.filters``: no area or
contrast bounds, border objects kept), which the CLI does not have, so that the masks compare like for
like; by default the rule runs with config/config.yaml's filters.

With ``--runner library``, ``--frame-px 2048`` gives both sides frames of 2048 x 2048 px: each normalized
GOWT1 frame tiled 2 x 2 (four times the cells at the same size), for the Mpx/s of large frames.
``--network-only`` adds, per batch size, a run whose mask reconstruction is replaced by empty masks
(``cellpipe.masks.reconstruct_batch`` patched): reading, the network, resizing the flows back, so the
end-to-end figure can be set against what the network alone allows. Its masks are empty and are not
compared.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import yaml

from bench.common import GOWT1, REPO, SHIPPED_MODEL, cuda_sync, machine, normalized_movie, print_table, read_ctc_movie, require

DIAMETER_PX = 60.0
SITE_HOOKS = REPO / "tests" / "site_hooks"
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE_HOOKS), env.get("PYTHONPATH", "")]))
    env["CELLPIPE_BLOCK_NETWORK"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _run(cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env or _env(), stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:3])} ... failed (exit {proc.returncode}); see {log}")
    return seconds


def _gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def prepare(work: Path, n_frames: int, model: Path, runner: str, repeat_xy: int = 1) -> np.ndarray:
    """The normalized frames (T, Y, X); written as float32 TIFFs for the CLI (and as a workflow folder).
    ``repeat_xy`` > 1 (library runner) tiles each frame that many times along y and x."""
    source = require(GOWT1 / "01")
    movie_dir = work / "movie"
    movie_dir.mkdir(parents=True, exist_ok=True)
    for t in range(n_frames):  # links, never copies: the CTC data stays in ../shared
        link = movie_dir / f"t{t:03d}.tif"
        if not link.exists():
            link.symlink_to(source / f"t{t:03d}.tif")
    if runner == "snakemake":
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config["simulate"] = {}
        config["segment"].update({"method": "cellpose", "diameter_um": None, "diameter_px": DIAMETER_PX})
        config["segment"]["cellpose"]["model"] = str(model)
        (work / "config").mkdir(exist_ok=True)
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (work / "config" / "samples.tsv").write_text(
            "sample\tmovie\tpixel_size_um\tframe_interval_min\ngowt1\tmovie\t0.24\t5\n"
        )
        from cellpipe import layout

        # the rules name the store by its metadata file (zarr.json or .zarray, by the config's ome_zarr.version)
        target = layout.zarr_array("results/gowt1/normalized.zarr", str(config["ome_zarr"]["version"]))
        _run(_snakemake_cmd(work, target), work, work / "prepare.log")
        from cellpipe.io import omezarr

        frames = np.asarray(omezarr.open_zarr_array(work / "results" / "gowt1" / "normalized.zarr")[:, 0])
    else:
        frames = np.tile(normalized_movie(read_ctc_movie(movie_dir)), (1, repeat_xy, repeat_xy))
    cli_in = work / "cli_in"
    cli_in.mkdir(exist_ok=True)
    for t, frame in enumerate(frames):
        tifffile.imwrite(cli_in / f"t{t:03d}.tif", frame.astype(np.float32))
    return frames


def _snakemake_cmd(work: Path, *targets: str) -> list[str]:
    return [  # targets (and --forcerun's rule) first: --resources takes every value after it
        str(BIN / "snakemake"), *targets, "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--cores", "2", "--resources", "gpu=1",
    ]


def thresholds() -> tuple[float, float]:
    """config/config.yaml's ``segment.cellpose`` flow_threshold and cellprob_threshold, for both runners."""
    cellpose = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["segment"]["cellpose"]
    return float(cellpose["flow_threshold"]), float(cellpose["cellprob_threshold"])


def run_cli(work: Path, model: Path, batch_size: int) -> tuple[float, np.ndarray]:
    out = work / "cli_out"
    out.mkdir(exist_ok=True)
    for f in out.glob("*"):
        f.unlink()
    cmd = [
        sys.executable, "-m", "cellpose", "--dir", str(work / "cli_in"), "--pretrained_model", str(model),
        "--diameter", f"{DIAMETER_PX:g}", "--chan", "0", "--chan2", "0", "--no_norm", "--save_tif", "--no_npy",
        "--savedir", str(out), "--batch_size", str(batch_size), "--verbose",
        "--flow_threshold", f"{thresholds()[0]:g}", "--cellprob_threshold", f"{thresholds()[1]:g}",
    ]
    if _gpu():
        cmd.append("--use_gpu")
    seconds = _run(cmd, work, work / "cli.log")
    masks = np.stack([tifffile.imread(f) for f in sorted(out.glob("t*_cp_masks.tif"))])
    return seconds, masks


FILTERS_OFF = {"min_area_fraction": None, "max_area_fraction": None, "min_contrast": None, "border": "keep"}

COMPILE_VALUES = ("false", "true", "auto", "onnxruntime")


def compile_value(compile: str) -> bool | str:
    """The config value of ``segment.cellpose.compile`` for the command-line word ``compile``."""
    return {"false": False, "true": True}.get(compile, compile)


def set_compile(
    work: Path, compile: str, tile_px: int = 1024, filters_off: bool = False, precision: str = "float32"
) -> None:
    """Write ``segment.cellpose.compile`` (one of :data:`COMPILE_VALUES`), ``precision``, ``tile_px`` (px) and,
    with ``filters_off``, object filters that remove nothing into the work folder's config."""
    path = work / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["segment"]["cellpose"]["compile"] = compile_value(compile)
    config["segment"]["cellpose"]["precision"] = precision
    config["segment"]["cellpose"]["tile_px"] = tile_px
    if filters_off:
        config["segment"]["filters"].update(FILTERS_OFF)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def run_rule(work: Path) -> tuple[float, np.ndarray, float]:
    from cellpipe.io import omezarr

    caches = {"CELLPIPE_CACHE_DIR": str(work / "cellpipe-cache"), "NUMBA_CACHE_DIR": str(work / "numba-cache")}
    seconds = _run(
        _snakemake_cmd(work, "results/gowt1/segmentation.json", "--forcerun", "segment_frames"), work, work / "rule.log",
        env={**_env(), **caches},
    )
    labels = np.asarray(omezarr.open_ome_image(work / "results" / "gowt1" / "image.ome.zarr" / "labels" / "cells").data[:])
    bench_tsv = (work / "results" / "benchmarks" / "segment_frames" / "gowt1.part0.tsv").read_text().splitlines()
    rule_seconds = float(bench_tsv[1].split("\t")[0])
    return seconds, labels, rule_seconds


def _empty_masks(dp: np.ndarray, cellprob: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    """Stands in for ``cellpipe.masks.reconstruct_batch`` in the network-only runs: no objects."""
    return np.zeros(cellprob.shape, np.uint32)


def run_library(
    frames: np.ndarray, model: Path, batch_size: int | None, compile: str = "false", tile_px: int = 1024,
    filters_off: bool = False, network_only: bool = False, precision: str = "float32",
) -> tuple[float, np.ndarray]:

    import cellpipe.masks
    from cellpipe.config import SegmentSettings
    from cellpipe.segment import iter_segment_cells, load_cellpose_model, select_device

    settings = SegmentSettings.model_validate(
        {
            "method": "cellpose",
            "diameter_px": DIAMETER_PX,
            "cellpose": {
                "model": str(model),
                "batch_size": batch_size,
                "compile": compile_value(compile),
                "precision": precision,
                "tile_px": tile_px,
                "flow_threshold": thresholds()[0],
                "cellprob_threshold": thresholds()[1],
            },
            **({"filters": FILTERS_OFF} if filters_off else {}),
        }
    )
    cuda_sync()
    started = time.perf_counter()
    net = load_cellpose_model(model, select_device("auto"), precision=precision)
    labels = np.zeros(frames.shape, np.uint32)
    full = cellpipe.masks.reconstruct_batch
    if network_only:  # the segmentation code imports it from the module at each call
        cellpipe.masks.reconstruct_batch = _empty_masks
    try:
        _, results = iter_segment_cells(frames, settings, 1.0, model=net)
        for t, frame_labels in results:
            labels[t] = frame_labels
        cuda_sync()
    finally:
        cellpipe.masks.reconstruct_batch = full
    return time.perf_counter() - started, labels


def agreement(reference: np.ndarray, ours: np.ndarray) -> tuple[float, float, dict[int, float]]:
    """AP@0.5 of ``ours`` against ``reference`` per frame: mean, minimum and the frames under 0.98."""
    from cellpipe.metrics import instance_scores

    aps = [instance_scores(r, o)["0.5"]["ap"] for r, o in zip(reference, ours, strict=True)]
    return float(np.mean(aps)), float(np.min(aps)), {t: ap for t, ap in enumerate(aps) if ap < 0.98}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=92, help="first N frames of GOWT1 01 (at most 92)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--runner", choices=["snakemake", "library"], default="snakemake")
    parser.add_argument("--batch-sizes", default="", help="library runner: comma-separated cellpipe batch sizes to sweep")
    parser.add_argument("--cli-batch-size", type=int, default=8, help="Cellpose's --batch_size (224 px tiles)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--compile", default="false", help="comma-separated values of segment.cellpose.compile to run (false,true,auto,onnxruntime)"
    )
    parser.add_argument(
        "--precision", default="float32", help="comma-separated values of segment.cellpose.precision to run (float32,bfloat16)"
    )
    parser.add_argument("--tile-px", default="1024", help="comma-separated values of segment.cellpose.tile_px (px)")
    parser.add_argument("--filters", choices=["config", "off"], default="config", help="the rule's object filters")
    parser.add_argument("--frame-px", type=int, default=1024, help="library runner: frame side, a multiple of 1024 (px)")
    parser.add_argument("--network-only", action="store_true", help="library runner: also time without mask reconstruction")
    args = parser.parse_args(argv)
    if args.frame_px % 1024 or (args.frame_px != 1024 and args.runner != "library"):
        sys.exit("bench: --frame-px takes a multiple of 1024, other than 1024 only with --runner library")
    if args.network_only and args.runner != "library":
        sys.exit("bench: --network-only needs --runner library")
    tiles = [int(v) for v in args.tile_px.split(",") if v.strip()]
    compiles = [c.strip() for c in args.compile.split(",") if c.strip()]
    if not compiles or any(c not in COMPILE_VALUES for c in compiles):
        sys.exit("bench: --compile takes false, true, auto and onnxruntime, comma-separated")
    precisions = [c.strip() for c in args.precision.split(",") if c.strip()]
    if not precisions or any(c not in ("float32", "bfloat16") for c in precisions):
        sys.exit("bench: --precision takes float32 and bfloat16, comma-separated")
    if "bfloat16" in precisions and any(c in ("true", "onnxruntime") for c in compiles):
        sys.exit("bench: --precision bfloat16 runs through torch: combine it with --compile auto or false only")
    n = min(args.frames, 92)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cellpipe-bench-speed-"))
    frames = prepare(work, n, args.model.resolve(), args.runner, args.frame_px // 1024)
    megapixels = frames.shape[0] * frames.shape[1] * frames.shape[2] / 1e6
    sweep = [int(b) for b in args.batch_sizes.split(",") if b] or [None]
    if args.runner == "library":  # one untimed frame first: numba compilation, cuDNN autotuning, cold caches
        run_library(frames[:1], args.model.resolve(), sweep[0])
    rows, cli_times, ours_times = [], [], []
    reference = None
    for repeat in range(args.repeats):
        order = ["cli", "ours"] if repeat % 2 == 0 else ["ours", "cli"]
        for which in order:
            if which == "cli":
                seconds, reference = run_cli(work, args.model.resolve(), args.cli_batch_size)
                cli_times.append(seconds)
                rows.append([f"cellpose CLI (--batch_size {args.cli_batch_size})", repeat + 1, seconds, "", ""])
                continue
            for compile, precision, tile, batch in itertools.product(compiles, precisions, tiles, sweep):
                word = "" if precision == "float32" else f", precision {precision}"
                if args.runner == "snakemake":
                    set_compile(work, compile, tile, args.filters == "off", precision)
                    seconds, labels, inside = run_rule(work)
                    name = f"cellpipe rule segment_frames, compile {compile}{word}, tile_px {tile} (job {inside:.1f} s)"
                else:
                    seconds, labels = run_library(
                        frames, args.model.resolve(), batch, compile, tile, args.filters == "off", precision=precision
                    )
                    name = (
                        f"cellpipe iter_segment_cells (batch_size {batch or 'auto'}, compile {compile}{word}, "
                        f"tile_px {tile})"
                    )
                ours_times.append((name, seconds, labels))
                rows.append([name, repeat + 1, seconds, "", ""])
                if args.network_only:
                    seconds, _ = run_library(
                        frames, args.model.resolve(), batch, compile, tile, args.filters == "off", network_only=True,
                        precision=precision,
                    )
                    rows.append([f"{name}, network only (no masks)", repeat + 1, seconds, "", ""])
    best_cli = min(cli_times)
    for row in rows:
        row.extend([row[2] / n, megapixels / row[2]])
        if not row[0].startswith("cellpose CLI"):
            row[3] = f"{best_cli / row[2]:.2f}x"
    agreements = {name: agreement(reference, labels) for name, _, labels in ours_times}
    rows = [[r[0], r[1], r[2], r[5], r[6], r[3]] for r in rows]
    title = (
        f"segmentation speed: {n} frames of GOWT1 01 ({frames.shape[1]}x{frames.shape[2]} px"
        f"{', each tiled' if args.frame_px != 1024 else ''}), diameter {DIAMETER_PX:g} px, "
        f"model {args.model}\n{machine()}\n"
        + "".join(
            f"masks of {name}: against the CLI's, AP@0.5 mean {mean:.3f}, min {low:.3f} over {n} frames; "
            f"{len(under)} frame(s) under 0.98"
            + (": " + ", ".join(f"t{t:03d} {ap:.3f}" for t, ap in under.items()) if under else "")
            + "\n"
            for name, (mean, low, under) in agreements.items()
        )
        + ("library runner: timed after one untimed warm-up frame in the same process; the CLI is a fresh process\n"
           if args.runner == "library" else "")
        +
        f"(python -m bench.segment_speed --frames {n} --repeats {args.repeats} --runner {args.runner}"
        f"{' --batch-sizes ' + args.batch_sizes if args.batch_sizes else ''} --compile {','.join(compiles)} "
        f"--precision {','.join(precisions)} "
        f"--tile-px {','.join(map(str, tiles))} --filters {args.filters} --frame-px {args.frame_px}"
        f"{' --network-only' if args.network_only else ''}; "
        f"work folder {work})"
    )
    return print_table(title, ["run", "repeat", "wall s", "s/frame", "Mpx/s", "CLI / this"], rows)


if __name__ == "__main__":
    main()
