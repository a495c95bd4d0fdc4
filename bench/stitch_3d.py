"""Cellpose 'stitch' mode on z-stacks: the workflow's path against Cellpose's own eval, and its memory (#27, #28).

    PYTHONPATH=src .venv/bin/python -m bench.stitch_3d [--small] [--frames 6] [--shape 16 96 96] [--cells 6]
                                                       [--stacks N] [--seed 0] [--json FILE]
    PYTHONPATH=src .venv/bin/python -m bench.stitch_3d --memory 3,9 [--shape 16 96 96] [--cells 6]

Default: a movie from :mod:`cellpipe.simulate3d` (2 x 0.5 x 0.5 µm voxels; ``--small``: 6 stacks of
16 x 96 x 96 voxels and 6 nuclei, as ``bench.accuracy_3d --small`` draws it), normalized like the workflow's
normalize stage, and for each of its first ``--stacks`` stacks, one after the other in this process:

* ``cellpose``: Cellpose's own ``CellposeModel.eval(stack, z_axis=0, stitch_threshold=0.25, ...)`` with the
  options the workflow passed it before (the shipped model, ``channels=[0, 0]``, diameter 10 µm = 20 px,
  the default settings' thresholds, tiles and ``batch_size``, no renormalization);
* ``cellpipe``: :func:`cellpipe.segment.segment_stack_cellpose` in 'stitch' mode with the same settings (the
  planes as a batch of 2-D frames through the workflow's network passes and mask reconstruction, then
  :func:`cellpipe.segment.stitch_planes`).

The two alternate which runs first from stack to stack, so a change in the machine's load falls on both.
Printed per stack: wall-clock and processor seconds of each, objects, AP@0.5 and AP@0.75 of cellpipe's
objects against Cellpose's (:func:`cellpipe.metrics.instance_scores`, Cellpose's matching, objects matched
one to one in 3-D), and the CTC SEG of each against the simulator's nuclei (a true nucleus matches the found
object covering more than half of its voxels; mean IoU over the true nuclei, 0 for one unmatched).

``--memory 3,9``: for each number of stacks a movie of that many stacks is written as rule ``segment_frames``
reads it (OME-Zarr image and normalized Zarr movie), then a fresh process runs the rule's step function
(:func:`cellpipe.steps.segment.segment_frames_step`, Cellpose 'stitch', one part) on it and reports its peak
resident set size (``VmHWM``, MiB: the model, torch and everything) and the peak traced by ``tracemalloc``
during the step (MiB: numpy's and Python's allocations; torch's own buffers are not seen).  Bounded by one
stack, both stay flat as the movie grows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, SHIPPED_MODEL, machine, print_table

DIAMETER_UM = 10.0  # as bench.accuracy_3d: twice the simulator's default largest semi-axis (5 µm)


def seg_score(found: np.ndarray, truth: np.ndarray) -> float:
    """CTC SEG of one label image: per true object the IoU of the found object covering more than half of it
    (0 when none does), averaged over the true objects."""
    ious = []
    for i in np.unique(truth)[1:]:
        mask = truth == i
        hits = np.bincount(found[mask].astype(np.int64))
        hits[0] = 0
        best = int(hits.argmax())
        if best == 0 or hits[best] * 2 <= mask.sum():
            ious.append(0.0)
            continue
        other = found == best
        ious.append(float((mask & other).sum() / (mask | other).sum()))
    return float(np.mean(ious)) if ious else float("nan")


def cellpose_own_stitch(stack: np.ndarray, settings: Any, model: Any, diameter_px: float) -> np.ndarray:
    """Cellpose's ``eval`` in stitch mode with the options ``segment_stack_cellpose`` passed it before.

    ``normalize`` goes as a dict asking for the whole stack's percentiles: given a bool, cellpose 3.1 writes
    into its module-wide defaults (after one stack without normalizing, later stacks would be normalized
    plane by plane).
    """
    import torch

    from cellpipe.segment import effective_batch_size
    from cellpipe.segment.device import _deterministic_torch, _device_of

    device = _device_of(model)
    with _deterministic_torch(device), torch.no_grad():
        masks = model.eval(stack, z_axis=0, stitch_threshold=settings.stitch_threshold, channels=[0, 0],
                           batch_size=effective_batch_size(settings, device),
                           normalize={"normalize": settings.normalize, "norm3D": True}, diameter=diameter_px,
                           flow_threshold=settings.flow_threshold, cellprob_threshold=settings.cellprob_threshold,
                           min_size=settings.min_size_px, tile_overlap=settings.tile_overlap, bsize=settings.tile_px)[0]
    return np.asarray(masks).astype(np.uint32)


def simulated(n_frames: int, shape: tuple[int, int, int], n_cells: int, seed: int) -> Any:
    """The simulator's movie and its normalized (T, Z, Y, X) float32 stacks (the workflow's normalize defaults)."""
    from cellpipe.config import NormalizeSettings, Simulation3DSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.simulate3d import simulate_movie_3d

    sim = simulate_movie_3d(Simulation3DSettings(n_frames=n_frames, shape_zyx=shape, n_cells=n_cells, seed=seed))
    normalized, _ = normalize_movie(sim.image[:, np.newaxis], NormalizeSettings())
    return sim, np.asarray(normalized, dtype=np.float32)[:, 0]


def compare(stacks: np.ndarray, truth: np.ndarray, voxel: tuple[float, float, float]) -> list[dict[str, Any]]:
    """Both paths on every stack, alternating which runs first; one row per stack."""
    from cellpipe.config import CellposeSettings
    from cellpipe.metrics import instance_scores
    from cellpipe.segment import load_cellpose_model, segment_stack_cellpose

    settings = CellposeSettings(model=str(SHIPPED_MODEL), mode_3d="stitch")
    model = load_cellpose_model(SHIPPED_MODEL, "cpu")
    runs = {
        "cellpose": lambda stack: cellpose_own_stitch(stack, settings, model, DIAMETER_UM / voxel[1]),
        "cellpipe": lambda stack: segment_stack_cellpose(stack, voxel, settings, model, DIAMETER_UM),
    }
    rows = []
    for t in range(stacks.shape[0]):
        found, seconds = {}, {}
        for name in (("cellpose", "cellpipe") if t % 2 == 0 else ("cellpipe", "cellpose")):
            wall, cpu = time.perf_counter(), time.process_time()
            found[name] = runs[name](stacks[t])
            seconds[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        scores = instance_scores(found["cellpose"], found["cellpipe"])
        row = {
            "stack": t, "true_nuclei": int(len(np.unique(truth[t])) - 1),
            **{f"{name}_objects": int(len(np.unique(found[name])) - 1) for name in runs},
            **{f"{name}_s": seconds[name][0] for name in runs},
            **{f"{name}_cpu_s": seconds[name][1] for name in runs},
            "ap50": scores["0.5"]["ap"], "ap75": scores["0.75"]["ap"],
            **{f"{name}_seg": seg_score(found[name], truth[t]) for name in runs},
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


_STEP = """
import json, sys, tracemalloc
from cellpipe.steps.segment import segment_frames_step
args = json.loads(sys.argv[1])
tracemalloc.start()
segment_frames_step(**args)
traced = tracemalloc.get_traced_memory()[1] / 2**20
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"peak_rss_mib": peak, "traced_mib": traced}))
"""


def step_memory(n_stacks: int, shape: tuple[int, int, int], n_cells: int, seed: int, work: Path) -> dict[str, Any]:
    """Peak memory of rule segment_frames' step (Cellpose 'stitch', one part) on a movie of ``n_stacks`` stacks."""
    from cellpipe.io import omezarr
    from cellpipe.layout import DEFAULT_OME_ZARR_VERSION, OME_ZARR_METADATA

    sim, stacks = simulated(n_stacks, shape, n_cells, seed)
    folder = work / f"{n_stacks}"
    folder.mkdir(parents=True)
    image = folder / "image.ome.zarr" / OME_ZARR_METADATA[DEFAULT_OME_ZARR_VERSION]
    dz, dy, _ = sim.voxel_size_um
    omezarr.write_ome_image(image, sim.image[:, np.newaxis], "tczyx", dy, sim.frame_interval_min, pixel_size_z_um=dz)
    normalized = folder / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, (n_stacks, 1, *shape), "float32", {}) as out:
        out[:] = stacks[:, np.newaxis]
    settings = {"method": "cellpose", "diameter_um": DIAMETER_UM,
                "cellpose": {"model": str(SHIPPED_MODEL), "mode_3d": "stitch"}}
    args = {"normalized": str(normalized), "image": str(image), "settings": settings, "part": 0, "n_parts": 1,
            "labels_part": str(folder / "part.zarr"), "info_part": str(folder / "part.json")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _STEP, json.dumps(args)], capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise RuntimeError(f"segment_frames_step failed:\n{result.stderr[-3000:]}")
    info = json.loads((folder / "part.json").read_text())
    return {"stacks": n_stacks, **json.loads(result.stdout.strip().splitlines()[-1]),
            "seconds": time.perf_counter() - start, "objects": int(info["n_objects"]),
            "stack_mib": float(np.prod(shape)) * 4 / 2**20}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="6 stacks of 16 x 96 x 96 voxels, 6 nuclei")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--shape", type=int, nargs=3, default=(16, 96, 96), metavar=("Z", "Y", "X"))
    parser.add_argument("--cells", type=int, default=6)
    parser.add_argument("--stacks", type=int, default=None, help="stacks segmented (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory", default=None, help="movie lengths (stacks, comma-separated): memory instead")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    shape = (16, 96, 96) if args.small else tuple(args.shape)
    n_cells = 6 if args.small else args.cells
    if args.memory:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [step_memory(int(n), shape, n_cells, args.seed, Path(tmp)) for n in args.memory.split(",")]
        print_table(f"rule segment_frames' step, Cellpose stitch, stacks of {shape} voxels",
                    ["stacks", "peak RSS MiB", "traced MiB", "s", "objects", "one stack MiB"],
                    [[r["stacks"], r["peak_rss_mib"], r["traced_mib"], r["seconds"], r["objects"], r["stack_mib"]]
                     for r in rows])
    else:
        sim, stacks = simulated(6 if args.small else args.frames, shape, n_cells, args.seed)
        n = stacks.shape[0] if args.stacks is None else min(args.stacks, stacks.shape[0])
        print(f"movie {sim.image.shape}, voxel {sim.voxel_size_um} µm, diameter {DIAMETER_UM} µm", flush=True)
        rows = compare(stacks[:n], np.asarray(sim.labels[:n]), sim.voxel_size_um)
        columns = ["stack", "true", "objects cellpose / cellpipe", "s cellpose", "s cellpipe", "cpu s cellpose",
                   "cpu s cellpipe", "AP@0.5", "AP@0.75", "SEG cellpose", "SEG cellpipe"]
        table = [[r["stack"], r["true_nuclei"], f"{r['cellpose_objects']} / {r['cellpipe_objects']}", r["cellpose_s"],
                  r["cellpipe_s"], r["cellpose_cpu_s"], r["cellpipe_cpu_s"], r["ap50"], r["ap75"], r["cellpose_seg"],
                  r["cellpipe_seg"]] for r in rows]
        mean = [float(np.mean([r[k] for r in rows])) for k in
                ("cellpose_s", "cellpipe_s", "cellpose_cpu_s", "cellpipe_cpu_s", "ap50", "ap75", "cellpose_seg",
                 "cellpipe_seg")]
        table.append(["mean", "", "", *mean])
        print_table("Cellpose stitch: its own eval against the workflow's path", columns, table)
        print(f"wall-clock ratio cellpose / cellpipe: {mean[0] / mean[1]:.1f}x, processor time {mean[2] / mean[3]:.1f}x")
    print(f"\n{machine()}\n(python -m bench.stitch_3d; {time.perf_counter() - started:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
