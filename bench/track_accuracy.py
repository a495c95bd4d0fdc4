"""Tracking accuracy on real and simulated data, scored by the field's own libraries.

    .venv/bin/python -m bench.track_accuracy [--parts gt,simulated,large,demo,pipeline,labels] [--work DIR]
                                             [--labels gowt1_01_labels.npy] [--labels-of gowt1|msc]
                                             [--track KEY=VALUE ...]

* ``gt``: the Cell Tracking Challenge ground-truth masks of Fluo-N2DH-GOWT1 01
  (``01_GT/TRA/man_trackTTT.tif``) with their identities removed (every frame's labels
  renumbered in a random order), tracked by cellpipe's tracking stage with the workflow's
  default settings, exported as a CTC result and scored against ``01_GT/TRA``.  This isolates
  the tracker: segmentation is perfect.
* ``pipeline``: the whole workflow (``snakemake results/gowt1/ctc``: ingest, normalize, the
  shipped Cellpose model, tracking, CTC export) from the raw frames of GOWT1 01, scored the same
  way.  Segmentation of 92 frames takes about 7 minutes on 2 CPU cores.
* ``labels``: a segmentation of GOWT1 01 made elsewhere (``--labels``: a (92, 1024, 1024) label
  movie saved with ``numpy.save``, e.g. the shipped Cellpose model's, or an OME-Zarr label image such
  as a workflow run's ``results/<sample>/image.ome.zarr/labels/cells``), tracked with the workflow's
  default settings and scored the same way: the tracker on real segmentation errors (flickering
  objects, fragments) without running the workflow's segmentation.  ``--labels-of msc``: the labels
  are of Fluo-C2DL-MSC 02 (0.3 µm pixels, 20 min apart), scored against ``02_GT``.
* ``simulated``: movies from cellpipe's simulator with many divisions, ground-truth masks with
  identities removed, tracked and scored against the simulator's lineage.
* ``large``: the same with every length of the simulation (nuclei, frame, speed) :data:`LARGE_CELL_SCALE` times
  larger at the same pixel size, nuclei of about 29 µm (seeds 1 and 11): divisions of cells larger than
  ``track.division_max_distance_um``.
* ``demo``: the whole workflow on its embedded demo (``config/config.yaml``: a simulated movie,
  the shipped Cellpose model), scored against the simulator's ground truth.

DET and TRA come from py-ctcmetrics (``ctc_metrics.evaluate_sequence``, the CTC's own
definitions); division precision, recall and F1 from traccuracy's ``DivisionMetrics`` with the
CTC matcher (a division counts when the mother and both daughters match within one frame), or,
where a predicted object covers two ground-truth markers and the CTC matching is not one-to-one,
IoU >= 0.5 one-to-one matching (the output names the matcher used). ``link_errors`` lists each
link the CTC scoring counts against a result (missing, extra, of the wrong kind), with its frames,
tracks and position: where on the movie the linking goes wrong.
``--track KEY=VALUE`` changes a ``track:`` setting of config/config.yaml for the ``gt``, ``labels``
``simulated`` and ``large`` parts (values as YAML: ``--track overlap_link_min_iou=null``).
The Cell Tracking Challenge data are read in place from ../shared and never copied into the
repository.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.common import GOWT1, GOWT1_PIXEL_SIZE_UM, REPO, machine, require

BIN = Path(sys.executable).parent
GOWT1_INTERVAL_MIN = 5.0  # Cell Tracking Challenge: Fluo-N2DH-GOWT1, 5 min between frames
# (ground truth, pixel size µm, minutes between frames) of the sequences --labels-of names
LABELED_SEQUENCES = {
    "gowt1": (GOWT1 / "01_GT", GOWT1_PIXEL_SIZE_UM, GOWT1_INTERVAL_MIN),
    "msc": (GOWT1.parent / "Fluo-C2DL-MSC" / "02_GT", 0.3, 20.0),
}
# part large: the simulated movies' lengths times this (nuclei of 32 px semi-major axis instead of 9)
LARGE_CELL_SCALE = 32.0 / 9.0
# --track KEY=VALUE: changes to config.yaml's track settings, set once by main()
TRACK_OVERRIDES: dict[str, Any] = {}


def remove_identities(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """``labels`` (T, Y, X) with each frame's objects renumbered 1..n in a random order: no identity survives."""
    rng = np.random.default_rng(seed)
    out = np.zeros(labels.shape, dtype=np.uint32)
    for t in range(labels.shape[0]):
        values = np.unique(labels[t])
        values = values[values > 0]
        lut = np.zeros(int(labels[t].max()) + 1, dtype=np.uint32)
        lut[values] = rng.permutation(len(values)) + 1
        out[t] = lut[labels[t]]
    return out


def score_ctc(res_dir: Path, gt_dir: Path, min_area_px: float | None = None) -> dict[str, Any]:
    """DET and TRA (py-ctcmetrics), division scores and recovered tracks (traccuracy) of a CTC result.

    A ground-truth track counts as recovered when every one of its objects is matched (CTC
    matcher) by a predicted object of one and the same predicted track.  With ``min_area_px``
    (the tracker's minimum object area, px) the same count is also made over the objects at least
    that large only, since smaller ones (border slivers of cells entering or leaving the field)
    are dropped before tracking by design; tracks with no such object are counted apart.
    """
    from ctc_metrics import evaluate_sequence, validate_sequence
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher, IOUMatcher
    from traccuracy.metrics import CompleteTracks, CTCMetrics, DivisionMetrics

    valid = validate_sequence(str(res_dir))["Valid"]
    ctc = evaluate_sequence(str(res_dir), str(gt_dir), metrics=["DET", "TRA"])
    gt = load_ctc_data(str(gt_dir / "TRA"), str(gt_dir / "TRA" / "man_track.txt"), name="gt")
    pred = load_ctc_data(str(res_dir), str(res_dir / "res_track.txt"), name="pred")
    # traccuracy's division and complete-track metrics need a one-to-one matching; the CTC matcher gives
    # one unless a predicted object covers two ground-truth markers, and then IoU >= 0.5 one-to-one is used
    matcher_name = "CTC"
    try:
        results, matched = run_metrics(
            gt, pred, matcher=CTCMatcher(),
            metrics=[DivisionMetrics(max_frame_buffer=1), CompleteTracks(), CTCMetrics()],
        )
    except TypeError:
        matcher_name = "IoU >= 0.5, one-to-one"
        results, matched = run_metrics(
            gt, pred, matcher=IOUMatcher(iou_threshold=0.5, one_to_one=True),
            metrics=[DivisionMetrics(max_frame_buffer=1), CompleteTracks()],
        )
    div = results[0]["results"]["Frame Buffer 1"]
    complete = results[1]["results"]
    pred_of = dict(matched.mapping)
    gt_tracks: dict[int, list[Any]] = {}
    for node, attrs in gt.graph.nodes(data=True):
        gt_tracks.setdefault(int(attrs["segmentation_id"]), []).append(node)
    def whole(nodes: list[Any]) -> bool:
        preds = [pred_of.get(n) for n in nodes]
        labels = {pred.graph.nodes[p]["segmentation_id"] for p in preds if p is not None}
        return None not in preds and len(labels) == 1

    recovered = sum(whole(nodes) for nodes in gt_tracks.values())
    above: dict[str, Any] = {}
    if min_area_px is not None:
        from cellpipe.io.ctc import read_ctc_label_stack

        masks = read_ctc_label_stack(gt_dir / "TRA")
        area = {(t, int(v)): int(n) for t in range(masks.shape[0])
                for v, n in zip(*np.unique(masks[t], return_counts=True), strict=True) if v}
        big = {k: [n for n in nodes if area.get((int(gt.graph.nodes[n]["t"]), k), 0) >= min_area_px]
               for k, nodes in gt_tracks.items()}
        kept = {k: nodes for k, nodes in big.items() if nodes}
        above = {
            "gt_tracks_never_above_min_area": len(big) - len(kept),
            "gt_tracks_above_min_area_detected": sum(any(n in pred_of for n in nodes) for nodes in kept.values()),
            "gt_tracks_above_min_area_recovered_whole": sum(whole(nodes) for nodes in kept.values()),
        }
    return {
        "ctc_format_valid": bool(valid),
        "traccuracy_matcher": matcher_name,
        "DET": float(ctc["DET"]),
        "TRA": float(ctc["TRA"]),
        "division_precision": float(div["Division Precision"]),
        "division_recall": float(div["Division Recall"]),
        "division_f1": float(div["Division F1"]),
        "gt_divisions": int(div["Total GT Divisions"]),
        "predicted_divisions": int(div["Total Predicted Divisions"]),
        "true_positive_divisions": int(div["True Positive Divisions"]),
        "false_positive_divisions": int(div["False Positive Divisions"]),
        "false_negative_divisions": int(div["False Negative Divisions"]),
        "wrong_children_divisions": int(div["Wrong Children Divisions"]),
        "gt_tracks": len(gt_tracks),
        "gt_tracks_recovered_whole": recovered,
        "gt_tracks_detected": sum(any(n in pred_of for n in nodes) for nodes in gt_tracks.values()),
        "complete_tracklets": float(complete["complete_tracklets"]),
        "complete_lineages": float(complete["complete_lineages"]),
        **above,
        "link_errors": link_errors(matched) if matcher_name == "CTC" else None,
    }


def link_errors(matched: Any) -> list[str]:
    """Each link error the CTC matcher's scoring flagged in ``matched`` (traccuracy's ``Matched``), a line each.

    ``missing``: a ground-truth link the result lacks (AOGM's EA), ``extra``: a result link the ground truth lacks (ED),
    ``wrong kind``: a result link between the right objects that is a mother-daughter link where the ground truth's is a
    continuation, or the other way round (EC; traccuracy takes a link for a mother-daughter one where its mother has
    two or more successors). Each line names the frames, the tracks (ground truth's or result's) and where the link
    starts (px), sorted by frame: where on a movie the linking goes wrong.
    """
    from traccuracy import EdgeFlag

    kinds = ((matched.gt_graph, "ground truth", {EdgeFlag.CTC_FALSE_NEG: "missing"}),
             (matched.pred_graph, "result", {EdgeFlag.CTC_FALSE_POS: "extra", EdgeFlag.WRONG_SEMANTIC: "wrong kind"}))
    errors = []
    for graph, whose, flags in kinds:
        for u, v, attrs in graph.graph.edges(data=True):
            for flag, kind in flags.items():
                if attrs.get(flag):
                    a, b = graph.graph.nodes[u], graph.graph.nodes[v]
                    errors.append((int(a["t"]), f"{kind}: frame {int(a['t'])} -> {int(b['t'])}, {whose} track "
                                   f"{int(a['segmentation_id'])} -> {int(b['segmentation_id'])}, from y {a['y']:.0f}, "
                                   f"x {a['x']:.0f} px"))
    return [line for _, line in sorted(errors)]


def default_track_settings() -> Any:
    """The workflow's tracking settings (``track:`` of config/config.yaml)."""
    from cellpipe.config import TrackSettings

    settings = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["track"]
    return TrackSettings.model_validate({**settings, **TRACK_OVERRIDES})


def track_and_export(labels: np.ndarray, pixel_size_um: float, interval_min: float, res_dir: Path) -> dict[str, Any]:
    """Track ``labels`` with the workflow's default tracking settings and write the CTC result to ``res_dir``."""
    from cellpipe.export import to_ctc
    from cellpipe.io import tables
    from cellpipe.io.ctc import write_ctc_results
    from cellpipe.track import track_cells

    settings = default_track_settings()
    tracker = tables.read_json(REPO / settings.tracker_config)
    start = time.perf_counter()
    result = track_cells(labels, settings, tracker, pixel_size_um, interval_min)
    seconds = time.perf_counter() - start
    ctc_labels, ctc_tracks = to_ctc(result.relabelled, result.tracks)[:2]
    if res_dir.exists():  # an earlier run of this benchmark in the same --work folder
        shutil.rmtree(res_dir)
    write_ctc_results(res_dir, ctc_labels, ctc_tracks)
    keys = ("n_tracks", "n_divisions", "n_split_divisions", "n_divisions_rejected", "divisions_rejected", "n_short_tracks",
            "n_overlap_links", "median_diameter_um", "division_max_distance_used_um")
    return {"tracking_s": round(seconds, 2), **{key: result.info[key] for key in keys}}


def run_workflow(workdir: Path, target: str | list[str], *extra: str) -> float:
    """Build ``target`` (one or several) with the repository's Snakefile in ``workdir`` (log:
    workdir/snakemake.log); seconds.

    ``extra`` are further snakemake arguments (after the target)."""
    targets = [target] if isinstance(target, str) else list(target)
    cmd = [
        str(BIN / "snakemake"), *targets, "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--cores", "2", "--resources", "gpu=1", *extra,
    ]
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        proc = subprocess.run(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.exit(f"bench: the workflow failed, see {workdir / 'snakemake.log'}")
    return time.perf_counter() - start


def part_gt(work: Path) -> dict[str, Any]:
    from cellpipe.io.ctc import read_ctc_label_stack

    gt_dir = require(GOWT1 / "01_GT")
    labels = remove_identities(read_ctc_label_stack(gt_dir / "TRA"))
    run = track_and_export(labels, GOWT1_PIXEL_SIZE_UM, GOWT1_INTERVAL_MIN, work / "gt_tracked" / "01_RES")
    return {**run, **score_ctc(work / "gt_tracked" / "01_RES", gt_dir)}


def part_labels(work: Path, labels_path: Path | None, sequence: str = "gowt1") -> dict[str, Any]:
    if labels_path is None:
        sys.exit("bench: --parts labels needs --labels (a .npy label movie or an OME-Zarr label image)")
    gt_dir, pixel_size_um, interval_min = LABELED_SEQUENCES[sequence]
    gt_dir = require(gt_dir)
    if labels_path.suffix == ".npy":
        labels = np.load(labels_path, mmap_mode="r")
    else:
        from cellpipe.io import omezarr

        labels = np.asarray(omezarr.open_ome_image(labels_path).data[:])
    run = track_and_export(labels, pixel_size_um, interval_min, work / "labels_tracked" / "01_RES")
    return {"labels": str(labels_path), "sequence": sequence, **run,
            **score_ctc(work / "labels_tracked" / "01_RES", gt_dir)}


def set_up_gowt1(pipeline: Path, ground_truth: Path | None = None) -> None:
    """A workflow folder for GOWT1 01: its raw frames linked (never copied: the CTC data stays in
    ../shared), the repository's config without the simulated demo, and a one-row sample sheet
    (with ``ground_truth`` when given)."""
    source = require(GOWT1 / "01")
    movie = pipeline / "movie"
    movie.mkdir(parents=True, exist_ok=True)
    for frame in sorted(source.glob("t*.tif")):
        link = movie / frame.name
        if not link.exists():
            link.symlink_to(frame)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"] = {}
    (pipeline / "config").mkdir(exist_ok=True)
    (pipeline / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    columns, values = "sample\tmovie\tpixel_size_um\tframe_interval_min", f"gowt1\tmovie\t{GOWT1_PIXEL_SIZE_UM}\t{GOWT1_INTERVAL_MIN:g}"
    if ground_truth is not None:
        columns, values = columns + "\tground_truth", values + f"\t{ground_truth}"
    (pipeline / "config" / "samples.tsv").write_text(f"{columns}\n{values}\n")


def part_pipeline(work: Path) -> dict[str, Any]:
    gt_dir = require(GOWT1 / "01_GT")
    pipeline = work / "pipeline"
    set_up_gowt1(pipeline)
    seconds = run_workflow(pipeline, "results/gowt1/ctc")
    info = json.loads((pipeline / "results" / "gowt1" / "tracking.json").read_text())
    scores = score_ctc(pipeline / "results" / "gowt1" / "ctc", gt_dir)
    return {"workflow_s": round(seconds, 1), "btrack_linking_and_optimiser_s": info["linking_s"] + info["optimizer_s"],
            "n_tracks": info["n_tracks"], "n_divisions": info["n_divisions"], **scores}


def part_demo(work: Path) -> dict[str, Any]:
    """The whole workflow on its embedded demo (simulated movie, shipped model), scored against the
    simulator's ground truth: divisions and tracks through real segmentation."""
    demo = work / "demo"
    (demo / "config").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "config.yaml", demo / "config" / "config.yaml")
    shutil.copy(REPO / "config" / "samples.tsv", demo / "config" / "samples.tsv")
    seconds = run_workflow(demo, "results/demo/ctc")
    scores = score_ctc(demo / "results" / "demo" / "ctc", demo / "results" / "simulated" / "demo" / "01_GT")
    return {"workflow_s": round(seconds, 1), **scores}


def part_simulated(
    work: Path, seeds: tuple[int, ...] = (1, 2, 3), scale: float = 1.0, name: str = "simulated"
) -> dict[str, Any]:
    """Simulated movies of 60 frames (384 px square, 14 cells, many divisions), ground-truth masks tracked;
    ``scale`` multiplies the frame side, the nuclei's size and their speed (px), the pixel size staying."""
    from cellpipe.config import SimulationSettings
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.simulate import simulate_movie

    plain = SimulationSettings()
    side = int(round(384 * scale / 16)) * 16
    rows = []
    for seed in seeds:
        sim = simulate_movie(SimulationSettings(
            n_frames=60, shape=(side, side), n_cells=14, seed=seed, division_probability=0.06,
            nucleus_radius_px=plain.nucleus_radius_px * scale, radius_sd_px=plain.radius_sd_px * scale,
            speed_px_per_frame=plain.speed_px_per_frame * scale,
        ))
        gt_dir = work / name / f"seed{seed}" / "01_GT"
        if gt_dir.exists():
            shutil.rmtree(gt_dir.parent)
        write_ctc_ground_truth(gt_dir, sim.labels, sim.tracks)
        run = track_and_export(remove_identities(sim.labels, seed), sim.pixel_size_um, sim.frame_interval_min,
                               gt_dir.parent / "01_RES")
        min_area_px = default_track_settings().min_area_um2 / sim.pixel_size_um**2
        scores = score_ctc(gt_dir.parent / "01_RES", gt_dir, min_area_px)
        rows.append({"seed": seed, **run, **scores})
    tp = sum(r["true_positive_divisions"] for r in rows)
    n_gt = sum(r["gt_divisions"] for r in rows)
    n_pred = sum(r["predicted_divisions"] for r in rows)
    return {
        "movies": rows,
        "division_f1_pooled": 2 * tp / (n_gt + n_pred) if n_gt + n_pred else float("nan"),
        "division_f1_min": min(r["division_f1"] for r in rows),
        "TRA_min": min(r["TRA"] for r in rows),
        "gt_tracks": sum(r["gt_tracks"] for r in rows),
        "gt_tracks_detected": sum(r["gt_tracks_detected"] for r in rows),
        "gt_tracks_recovered_whole": sum(r["gt_tracks_recovered_whole"] for r in rows),
        **{key: sum(r[key] for r in rows) for key in (
            "gt_tracks_never_above_min_area", "gt_tracks_above_min_area_detected",
            "gt_tracks_above_min_area_recovered_whole",
        )},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="gt,simulated,demo,pipeline")
    parser.add_argument("--work", type=Path, default=None, help="keep intermediate results here (default: a temp dir)")
    parser.add_argument("--labels", type=Path, default=None,
                        help="part labels: a .npy label movie or an OME-Zarr label image")
    parser.add_argument("--labels-of", choices=sorted(LABELED_SEQUENCES), default="gowt1",
                        help="part labels: the sequence --labels segments (GOWT1 01 or MSC 02)")
    parser.add_argument("--track", action="append", default=[], metavar="KEY=VALUE",
                        help="change a track: setting (value as YAML), e.g. overlap_link_min_iou=null")
    args = parser.parse_args(argv)
    for item in args.track:
        key, _, value = item.partition("=")
        TRACK_OVERRIDES[key.strip()] = yaml.safe_load(value)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-track-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"work: {work}")
    if TRACK_OVERRIDES:
        print(f"track settings changed: {TRACK_OVERRIDES}")
    report: dict[str, Any] = {}
    runners = {"gt": part_gt, "pipeline": part_pipeline, "simulated": part_simulated, "demo": part_demo,
               "large": lambda work: part_simulated(work, (1, 11), LARGE_CELL_SCALE, "large"),
               "labels": lambda work: part_labels(work, args.labels, args.labels_of)}
    for part in parts:
        if part not in runners:
            sys.exit(f"bench: unknown part {part!r}; choose from {', '.join(runners)}")
        report[part] = runners[part](work)
        print(f"{part}: {json.dumps(report[part], indent=1)}", flush=True)
    (work / "track_accuracy.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
