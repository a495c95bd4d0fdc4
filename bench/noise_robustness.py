"""The shipped model (or another, ``--model``) on noisier movies, with and without ``segment.cellpose.denoise`` (issue #22).

    PYTHONPATH=src .venv/bin/python -m bench.noise_robustness [--noise 0 0.025 0.05 0.1] [--precision bfloat16]
        [--model PATH]

Fluo-N2DH-GOWT1 01 is an unusually clean movie (most background pixels are 0). To see what a noisier
microscope would give, Gaussian noise of SD ``noise`` x (99.8th - 1st percentile of the raw SEG frames) is
added to the raw frames (seed 0) before they are normalized together as the normalize stage does; then
cellpipe.segment.segment_cells segments them with config/config.yaml's segment section at 15 µm, once with
``denoise`` false and once true (``auto`` takes true for this model where the noise SD it measures, in the
table, is above cellpipe.segment.cellpose.DENOISE_ABOVE_NOISE_SD):

* GOWT1 01, its 30 SEG frames: CTC SEG (py-ctcmetrics), and against the TRA markers of those frames the
  markers no mask covers by half (FN) and the masks over no marker (FP);
* the DSB 2018 image with the same relative noise, 24 px: AP@0.5 and the mean IoU of matched nuclei
  (cellpipe.evaluate.frame_segmentation_scores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from bench.common import (
    DSB,
    GOWT1,
    GOWT1_PIXEL_SIZE_UM,
    config_segment,
    ctc_seg,
    machine,
    normalized_movie,
    print_table,
    read_ctc_movie,
    require,
)

GOWT1_DIAMETER_UM = 15.0
DSB_DIAMETER_PX = 24.0


def with_noise(raw: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """``raw`` (float32) plus Gaussian noise of SD ``fraction`` x its 1st-99.8th percentile range."""
    low, high = np.percentile(raw, [1.0, 99.8])
    noise = np.random.default_rng(seed).normal(0.0, fraction * (high - low), raw.shape)
    return (raw.astype(np.float32) + noise.astype(np.float32)) if fraction else raw.astype(np.float32)


def marker_errors(markers: dict[int, np.ndarray], masks: dict[int, np.ndarray]) -> tuple[int, int]:
    """TRA markers that no mask covers by more than half (FN), and masks over no such marker (FP)."""
    missed = spurious = 0
    for t, labels in masks.items():
        matched: set[int] = set()
        for marker in np.unique(markers[t])[1:]:
            inside = markers[t] == marker
            values, counts = np.unique(labels[inside], return_counts=True)
            cover = [v for v, n in zip(values, counts) if v and n > 0.5 * inside.sum()]
            if cover:
                matched.add(int(cover[0]))
            else:
                missed += 1
        spurious += len(set(int(v) for v in np.unique(labels)[1:]) - matched)
    return missed, spurious


def segment_with(frames: np.ndarray, segment: dict[str, Any], denoise: bool, pixel_size_um: float,
                 model: object) -> tuple[np.ndarray, dict[str, Any]]:
    """``frames`` (normalized) through segment_cells with a config segment section and ``denoise`` set.

    ``segment`` is config.yaml's segment section without its workflow-only keys; ``pixel_size_um`` (µm)
    turns its diameter_um into pixels; ``model`` is a loaded Cellpose model. Returns the labels and
    segment_cells' record.
    """
    from cellpipe.config import SegmentSettings
    from cellpipe.segment import segment_cells

    settings = SegmentSettings.model_validate({**segment, "cellpose": {**segment["cellpose"], "denoise": denoise}})
    return segment_cells(frames, settings, pixel_size_um, model=model)


def main(argv: list[str] | None = None) -> str:
    from cellpipe.config import CellposeSettings
    from cellpipe.evaluate import frame_segmentation_scores
    from cellpipe.segment import denoise_plan, load_cellpose_model, select_device
    from cellpipe.segment.cellpose import DENOISE_ABOVE_NOISE_SD

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.025, 0.05, 0.1],
                        help="noise SD as a fraction of the 1st-99.8th percentile range")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--model", type=Path, default=None, help="a Cellpose 3 model file (default: config.yaml's)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    segment = config_segment(args.model, precision=args.precision)
    model_path = Path(segment["cellpose"]["model"])
    model = load_cellpose_model(model_path, select_device("auto"), precision=args.precision)
    gt = require(GOWT1 / "01_GT")
    seg_frames = sorted(int(p.stem[-3:]) for p in (gt / "SEG").glob("man_seg*.tif"))
    raw = read_ctc_movie(require(GOWT1 / "01"))[seg_frames].astype(np.float32)
    markers = {t: tifffile.imread(gt / "TRA" / f"man_track{t:03d}.tif") for t in seg_frames}
    dsb_raw = tifffile.imread(require(DSB / "img2d.tif")).astype(np.float32)[np.newaxis]
    dsb_truth = tifffile.imread(DSB / "mask2d.tif")
    rows = []
    for fraction in args.noise:
        movie = normalized_movie(with_noise(raw, fraction))
        dsb = normalized_movie(with_noise(dsb_raw, fraction))
        noise = [denoise_plan(CellposeSettings(denoise="auto"), frames, None, 30.0, 30.0)["noise_sd"]
                 for frames in (movie, dsb)]
        for denoise in (False, True):
            labels, _ = segment_with(movie, {**segment, "diameter_um": GOWT1_DIAMETER_UM}, denoise,
                                     GOWT1_PIXEL_SIZE_UM, model)
            masks = dict(zip(seg_frames, labels))
            missed, spurious = marker_errors(markers, masks)
            dsb_labels, _ = segment_with(dsb, {**segment, "diameter_um": None, "diameter_px": DSB_DIAMETER_PX}, denoise,
                                         1.0, model)
            scores = frame_segmentation_scores(dsb_truth, dsb_labels[0], [0.5])
            tp, fp, fn = scores["tp"][0], scores["fp"][0], scores["fn"][0]
            rows.append([f"{fraction:g}", str(denoise).lower(), noise[0], ctc_seg(gt, masks)[0], f"{missed} / {spurious}",
                         noise[1], tp / (tp + fp + fn), float(np.mean(scores["matched_ious"]))])
    model_option = f" --model {args.model}" if args.model else ""
    title = (
        f"{model_path.name} ({model_path}), GOWT1 01 ({len(seg_frames)} SEG frames, {GOWT1_DIAMETER_UM:g} µm) "
        f"and DSB 2018 ({DSB_DIAMETER_PX:g} px) with noise added, segment.cellpose.denoise false / true; 'auto' "
        f"takes true where the noise SD is above {DENOISE_ABOVE_NOISE_SD:g}\n"
        f"(python -m bench.noise_robustness --precision {args.precision}{model_option}; {machine()}; "
        f"{time.perf_counter() - started:.0f} s)"
    )
    columns = ["noise / range", "denoise", "GOWT1 noise SD", "GOWT1 SEG", "GOWT1 FN / FP", "DSB noise SD", "DSB AP@0.5",
               "DSB matched IoU"]
    return print_table(title, columns, rows)


if __name__ == "__main__":
    main()
