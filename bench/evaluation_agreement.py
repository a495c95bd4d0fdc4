"""The workflow's evaluation of GOWT1 01 next to the field's libraries run by hand on the same outputs.

    .venv/bin/python -m bench.evaluation_agreement [--work DIR]

Runs the whole workflow (``snakemake results/evaluation.tsv``: ingest, normalize, the shipped
Cellpose model, btrack, CTC export, rule evaluate_sample) on the raw frames of
Fluo-N2DH-GOWT1 01 with ``01_GT`` as the sample's ground truth, read in place from ../shared
(links, never copies).  Then it scores the same outputs by hand:

* traccuracy 0.4 (``CTCMatcher``; ``CTCMetrics`` for DET and TRA, ``DivisionMetrics`` with the
  same frame tolerance for division precision/recall/F1) on ``results/gowt1/ctc`` vs ``01_GT``;
* py-ctcmetrics' ``evaluate_sequence`` called directly (SEG, DET, TRA);
* Cellpose's ``metrics.average_precision`` on the completely annotated SEG frames (21, 31, 33,
  39) against the segmentation (``image.ome.zarr/labels/cells``).

and prints each number twice with the difference.  Segmentation of 92 frames of 1024x1024 px takes
about 7 minutes on 2 CPU cores; with ``--work`` an earlier run's outputs are reused.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import GOWT1, GOWT1_COMPLETE_SEG_FRAMES, machine, require
from bench.track_accuracy import run_workflow, set_up_gowt1


def by_hand(res: Path, gt_dir: Path, tolerance: int) -> dict[str, float]:
    """The same outputs scored directly with traccuracy, py-ctcmetrics and Cellpose."""
    from cellpose.metrics import average_precision
    from ctc_metrics import evaluate_sequence
    from skimage.segmentation import relabel_sequential
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CTCMetrics, DivisionMetrics

    from cellpipe.io.ctc import read_ctc_labels
    from cellpipe.io.omezarr import open_ome_image

    gt = load_ctc_data(str(gt_dir / "TRA"), str(gt_dir / "TRA" / "man_track.txt"), name="gt")
    pred = load_ctc_data(str(res / "gowt1" / "ctc"), str(res / "gowt1" / "ctc" / "res_track.txt"), name="pred")
    results, _ = run_metrics(gt, pred, matcher=CTCMatcher(),
                             metrics=[CTCMetrics(), DivisionMetrics(max_frame_buffer=tolerance)])
    ctc = results[0]["results"]
    div = results[1]["results"][f"Frame Buffer {tolerance}"]
    direct = evaluate_sequence(str(res / "gowt1" / "ctc"), str(gt_dir), metrics=["SEG", "DET", "TRA"], threads=1)
    seg = open_ome_image(res / "gowt1" / "image.ome.zarr" / "labels" / "cells")
    truth = read_ctc_labels(gt_dir / "SEG", "man_seg*.tif")
    pairs = [(relabel_sequential(truth[t].astype(np.int64))[0], relabel_sequential(np.asarray(seg.data[t]).astype(np.int64))[0])
             for t in GOWT1_COMPLETE_SEG_FRAMES]
    _, tp, fp, fn = average_precision([p[0] for p in pairs], [p[1] for p in pairs], threshold=[0.5])
    tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    return {
        "traccuracy DET": float(ctc["DET"]),
        "traccuracy TRA": float(ctc["TRA"]),
        "traccuracy division precision": float(div["Division Precision"]),
        "traccuracy division recall": float(div["Division Recall"]),
        "traccuracy division F1": float(div["Division F1"]),
        "py-ctcmetrics SEG": float(direct["SEG"]),
        "py-ctcmetrics DET": float(direct["DET"]),
        "py-ctcmetrics TRA": float(direct["TRA"]),
        "cellpose AP@0.5 (frames 21,31,33,39)": float(tp / (tp + fp + fn)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="workflow folder (default: a temp dir)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-eval-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"work: {work}")
    gt_dir = require(GOWT1 / "01_GT")
    set_up_gowt1(work, ground_truth=gt_dir)
    # the evaluation always runs again, so a reused --work folder is scored by the current code
    seconds = run_workflow(work, "results/evaluation.tsv", "--forcerun", "evaluate_sample")
    res = work / "results"
    ev = json.loads((res / "gowt1" / "evaluation.json").read_text())
    tolerance = int(ev["divisions"]["frame_tolerance"])
    hand = by_hand(res, gt_dir, tolerance)
    ap = ev["segmentation"]["average_precision"][ev["segmentation"]["iou_thresholds"].index(0.5)]
    rows: list[tuple[str, Any, str]] = [
        ("CTC SEG", ev["ctc"]["SEG"], "py-ctcmetrics SEG"),
        ("CTC DET", ev["ctc"]["DET"], "traccuracy DET"),
        ("CTC DET", ev["ctc"]["DET"], "py-ctcmetrics DET"),
        ("CTC TRA", ev["ctc"]["TRA"], "traccuracy TRA"),
        ("CTC TRA", ev["ctc"]["TRA"], "py-ctcmetrics TRA"),
        ("division precision", ev["divisions"]["precision"], "traccuracy division precision"),
        ("division recall", ev["divisions"]["recall"], "traccuracy division recall"),
        ("division F1", ev["divisions"]["f1"], "traccuracy division F1"),
        ("AP@0.5", ap, "cellpose AP@0.5 (frames 21,31,33,39)"),
    ]
    print(f"workflow: {seconds:.0f} s (snakemake results/evaluation.tsv, {work})")
    print(f"complete SEG frames used for AP: {ev['ground_truth']['complete_frames']}; "
          f"divisions: {ev['divisions']['gt_divisions']} true, {ev['divisions']['predicted_divisions']} predicted, "
          f"frame tolerance {tolerance}")
    print(f"{'measure':<20} {'evaluation.json':>16} {'by hand':>10} {'difference':>11}  by hand with")
    for name, ours, key in rows:
        theirs = hand[key]
        diff = (ours - theirs) if ours is not None else float("nan")
        ours_text = "None" if ours is None else f"{ours:.6f}"
        print(f"{name:<20} {ours_text:>16} {theirs:>10.6f} {diff:>11.2e}  {key}")
    (work / "evaluation_agreement.json").write_text(json.dumps({"evaluation": ev, "by_hand": hand}, indent=1))


if __name__ == "__main__":
    main()
