"""Segmentation and tracking accuracy in 3-D on a simulated movie, and time per stack (issue #27).

    .venv/bin/python -m bench.accuracy_3d [--small] [--frames 30] [--shape 32 256 256] [--seed 0]
                                          [--methods gt,classical,stitch,do_3d] [--cellpose-frames N]
                                          [--classical KEY=VALUE ...] [--simulate KEY=VALUE ...] [--json FILE]

A movie from :mod:`cellpipe.simulate3d` (defaults: 30 stacks of 32 x 256 x 256 voxels of 2 x 0.5 x 0.5 µm,
32 nuclei of 5 µm largest semi-axis at the start, divisions, entries), normalized like the workflow's
normalize stage (movie-wide 1 and 99.8 percentiles), is segmented stack by stack by

* ``classical``: :func:`cellpipe.segment.segment_stack_classical` with default settings at a nucleus
  diameter of 10 µm, or with the settings ``--classical`` changes (``segment.classical`` keys, values as in
  YAML: ``--classical object_threshold=null`` is the method before each object was cut to its own level);
* ``stitch`` / ``do_3d``: :func:`cellpipe.segment.segment_stack_cellpose` with the shipped 2-D model
  (resources/models/cellpipe_nuclei) in each ``mode_3d``, default settings, diameter 10 µm (20 px);

then tracked by :func:`cellpipe.track.track_cells_3d` (default settings and tracker configuration),
exported by :func:`cellpipe.export.to_ctc` as 3-D CTC masks and scored against the simulator's 3-D ground
truth by py-ctcmetrics (:func:`cellpipe.evaluate.ctc_scores`: SEG, DET, TRA; division precision, recall,
F1 within one frame).  ``gt``: the ground-truth masks with their identities removed (each stack's objects
renumbered in a random order) tracked and scored the same way, which isolates the tracker.

``--simulate`` changes the simulator's settings (:class:`cellpipe.config.Simulation3DSettings` keys, values as
YAML, e.g. ``--simulate axial_blur_sigma_um=2.0``); the nucleus diameter given to every method stays twice
``nucleus_radius_um``.

Cellpose runs on the first ``--cellpose-frames`` stacks only (default: all), scored against the ground
truth of those stacks; the table says how many stacks each row used.  Seconds are wall-clock on this
machine, per stack (segmentation) and per movie (tracking).  ``--small``: 6 stacks of 16 x 96 x 96 voxels
and 6 nuclei, a check that everything runs (on 2 shared CPU cores classical: under a second per stack;
Cellpose 'stitch': 10-22 s per small stack and about 30-60 s per 32 x 256 x 256 stack; 'do_3d' 8-34 minutes
per small stack; bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import REPO, SHIPPED_MODEL, machine
from bench.track_accuracy import remove_identities

TRACKER_CONFIG = REPO / "resources" / "tracker" / "cellpipe_tracker.json"
DIAMETER_UM = 10.0  # twice the simulator's default largest semi-axis (5 µm)
METHODS = ("gt", "classical", "stitch", "do_3d")


def truncated_truth(labels: np.ndarray, tracks: pd.DataFrame, n_frames: int) -> tuple[np.ndarray, pd.DataFrame]:
    """The ground truth of the first ``n_frames`` stacks: masks and CTC tracks ending by frame ``n_frames - 1``.

    A parent always starts before its daughters, so every kept daughter keeps its parent."""
    kept = tracks[tracks["first_frame"] < n_frames].copy()
    kept["last_frame"] = kept["last_frame"].clip(upper=n_frames - 1)
    return labels[:n_frames], kept.reset_index(drop=True)


def track_and_score(labels: np.ndarray, gt_dir: Path, work: Path, voxel_size_um: tuple[float, float, float],
                    frame_interval_min: float, min_area_um2: float | None = None) -> dict[str, Any]:
    """Track (T, Z, Y, X) ``labels`` in 3-D, export them as a CTC result under ``work`` and score it against ``gt_dir``.

    ``min_area_um2``: the tracker's ``min_area_um2`` (µm²; None: its default)."""
    from cellpipe.config import TrackSettings
    from cellpipe.evaluate import ctc_scores
    from cellpipe.export import to_ctc
    from cellpipe.io.ctc import write_ctc_results
    from cellpipe.track import track_cells_3d

    config = json.loads(TRACKER_CONFIG.read_text())
    start = time.perf_counter()
    settings = TrackSettings() if min_area_um2 is None else TrackSettings(min_area_um2=min_area_um2)
    result = track_cells_3d(labels, settings, config, voxel_size_um, frame_interval_min)
    tracking_s = time.perf_counter() - start
    ctc_labels, ctc_tracks = to_ctc(result.relabelled, result.tracks)
    res_dir = work / "RES"
    write_ctc_results(res_dir, ctc_labels, ctc_tracks)
    scores = ctc_scores(res_dir, gt_dir)
    divisions = scores.get("divisions") or {}
    return {
        "SEG": scores["SEG"], "DET": scores["DET"], "TRA": scores["TRA"],
        "division_f1": divisions.get("f1"), "gt_divisions": divisions.get("gt_divisions"),
        "predicted_divisions": divisions.get("predicted_divisions"), "tracks": int(len(ctc_tracks)),
        "tracking_s": tracking_s,
    }


def classical_overrides(pairs: list[str]) -> dict[str, Any]:
    """Settings from ``KEY=VALUE`` strings, each value read as YAML (null, numbers, words, [lists])."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--classical and --simulate take KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def segment(method: str, stacks: np.ndarray, voxel_size_um: tuple[float, float, float],
            classical: dict[str, Any] | None = None,
            diameter_um: float = DIAMETER_UM) -> tuple[np.ndarray, list[float]]:
    """(T, Z, Y, X) labels of ``stacks`` by ``method`` and the seconds each stack took.

    ``classical``: ``segment.classical`` settings that differ from the defaults (classical only);
    ``diameter_um``: the nucleus diameter (µm) every method is given."""
    from cellpipe.config import CellposeSettings, ClassicalSettings
    from cellpipe.segment import load_cellpose_model, segment_stack_cellpose, segment_stack_classical

    if method == "classical":
        settings: Any = ClassicalSettings(**(classical or {}))

        def run(stack: np.ndarray) -> np.ndarray:
            return segment_stack_classical(stack, voxel_size_um, settings, diameter_um)
    else:
        settings = CellposeSettings(model=str(SHIPPED_MODEL), mode_3d=method)
        model = load_cellpose_model(SHIPPED_MODEL, "cpu")

        def run(stack: np.ndarray) -> np.ndarray:
            return segment_stack_cellpose(stack, voxel_size_um, settings, model, diameter_um)
    labels = np.zeros(stacks.shape, dtype=np.uint32)
    seconds = []
    for t in range(stacks.shape[0]):
        start = time.perf_counter()
        labels[t] = run(stacks[t])
        seconds.append(time.perf_counter() - start)
        print(f"  {method}: stack {t + 1}/{stacks.shape[0]}, {labels[t].max()} objects, {seconds[-1]:.1f} s", flush=True)
    return labels, seconds


def main(argv: list[str] | None = None) -> None:
    from cellpipe.config import NormalizeSettings, Simulation3DSettings
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.normalize import normalize_movie
    from cellpipe.simulate3d import simulate_movie_3d

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="6 stacks of 16 x 96 x 96 voxels, 6 nuclei")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 256, 256), metavar=("Z", "Y", "X"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--cellpose-frames", type=int, default=None, help="stacks Cellpose segments (default all)")
    parser.add_argument("--track-min-area-um2", type=float, default=None,
                        help="the tracker's min_area_um2 (µm²; default: TrackSettings' own)")
    parser.add_argument("--classical", action="append", default=[], metavar="KEY=VALUE",
                        help="a segment.classical setting for the classical method (repeatable; value as YAML)")
    parser.add_argument("--simulate", action="append", default=[], metavar="KEY=VALUE",
                        help="a Simulation3DSettings field of the movie (repeatable; value as YAML)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}")
    classical = classical_overrides(args.classical)
    simulate = classical_overrides(args.simulate)
    if args.small:
        sim_fields: dict[str, Any] = {"n_frames": 6, "shape_zyx": (16, 96, 96), "n_cells": 6, "seed": args.seed}
    else:
        sim_fields = {"n_frames": args.frames, "shape_zyx": tuple(args.shape), "seed": args.seed}
    sim_settings = Simulation3DSettings(**{**sim_fields, **simulate})
    diameter_um = 2.0 * sim_settings.nucleus_radius_um
    started = time.perf_counter()
    sim = simulate_movie_3d(sim_settings)
    voxel = sim.voxel_size_um
    nuclei = [len(np.unique(stack)) - 1 for stack in sim.labels]
    print(f"movie {sim.image.shape}, voxel {voxel} µm, nuclei per stack {min(nuclei)}-{max(nuclei)}, "
          f"{len(sim.tracks)} tracks, {sim.n_divisions} divisions", flush=True)
    normalized, _ = normalize_movie(sim.image[:, np.newaxis], NormalizeSettings())
    stacks = np.asarray(normalized)[:, 0]
    n_all = stacks.shape[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gts: dict[int, Path] = {}

        def truth(n: int) -> Path:
            if n not in gts:
                gts[n] = Path(tmp) / f"GT_{n}"
                write_ctc_ground_truth(gts[n], *truncated_truth(sim.labels, sim.tracks, n))
            return gts[n]

        for method in methods:
            n = n_all if method in ("gt", "classical") or args.cellpose_frames is None else min(args.cellpose_frames, n_all)
            if method == "gt":
                labels, seconds = remove_identities(sim.labels[:n]), []
            else:
                labels, seconds = segment(method, stacks[:n], voxel, classical, diameter_um)
            name = method
            if method == "classical" and classical:
                name += " (" + ", ".join(f"{k}={json.dumps(v)}" for k, v in classical.items()) + ")"
            row = {"method": name, "stacks": n, "s_per_stack": float(np.mean(seconds)) if seconds else None,
                   **track_and_score(labels, truth(n), Path(tmp) / method, voxel, sim.frame_interval_min,
                                     args.track_min_area_um2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    header = ("| method | stacks | SEG | DET | TRA | division F1 (GT / predicted divisions) | s per stack "
              "(segmentation) | s tracking |")
    print(f"\nmovie (T, Z, Y, X) {sim.image.shape}, voxel {voxel} µm, nuclei per stack {min(nuclei)}-{max(nuclei)}, "
          f"{sim.n_divisions} divisions, nucleus diameter given {diameter_um:g} µm"
          + (f", simulator settings changed: {simulate}" if simulate else "") + "\n")
    print(header)
    print("|---|---|---|---|---|---|---|---|")

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for r in rows:
        print(f"| {r['method']} | {r['stacks']} | {fmt(r['SEG'])} | {fmt(r['DET'])} | {fmt(r['TRA'])} | "
              f"{fmt(r['division_f1'])} ({r['gt_divisions']} / {r['predicted_divisions']}) | "
              f"{fmt(r['s_per_stack'])} | {r['tracking_s']:.1f} |")
    print(f"\n{machine()}\n(python -m bench.accuracy_3d; {time.perf_counter() - started:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
