"""Cellpose's cell-probability and flow-error thresholds for the shipped model on real data (issue #22).

    PYTHONPATH=src .venv/bin/python -m bench.cellprob_threshold [--thresholds 0 -0.5 -1 -1.5] [--flow-thresholds 0.4]

The shipped model (resources/models/cellpipe_nuclei) learnt its mask borders from simulated nuclei;
real annotators draw theirs a little further out. ``segment.cellpose.cellprob_threshold`` moves the
border (a lower logit takes in more of the blurred edge). ``segment.cellpose.flow_threshold`` drops a mask whose
flows, recomputed from the mask, differ from the network's by more than it (0: no check). For each pair of
thresholds:

* Fluo-N2DH-GOWT1 01, every SEG frame (30; SEG scores only annotated nuclei, so the sparse frames
  count too), normalized like the normalize stage, segmented by cellpipe.segment.segment_cells at
  15 µm and at the config's 11.5 µm (0.24 µm/px); CTC SEG by py-ctcmetrics; at 15 µm also the TRA markers no mask
  covers by half (FN) and the masks over no marker (FP) in those frames.
* The DSB 2018 image (125 nuclei; it was among the model's training images, so it shows whether the
  threshold breaks what the model was taught): AP@0.5 and the mean IoU of matched nuclei
  (cellpipe.evaluate.frame_segmentation_scores), and CTC SEG, diameter 24 px.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tifffile

from bench.common import (
    DSB,
    GOWT1,
    GOWT1_PIXEL_SIZE_UM,
    SHIPPED_MODEL,
    ctc_seg,
    machine,
    normalized_movie,
    print_table,
    read_ctc_movie,
    require,
)
from bench.intensity_robustness import image_seg
from bench.noise_robustness import marker_errors

GOWT1_DIAMETERS_UM = (15.0, 11.5)
DSB_DIAMETER_PX = 24.0


def _labels(frames: np.ndarray, threshold: float, flow: float, pixel_size_um: float, model: object,
            **diameter: float) -> np.ndarray:
    from cellpipe.config import SegmentSettings
    from cellpipe.segment import segment_cells

    cellpose = {"model": str(SHIPPED_MODEL), "cellprob_threshold": threshold, "flow_threshold": flow}
    settings = SegmentSettings.model_validate({"method": "cellpose", **diameter, "cellpose": cellpose})
    labels, _ = segment_cells(frames, settings, pixel_size_um, model=model)
    return labels


def main(argv: list[str] | None = None) -> str:
    from cellpipe.evaluate import frame_segmentation_scores
    from cellpipe.segment import load_cellpose_model, select_device

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, -0.5, -1.0, -1.5])
    parser.add_argument("--flow-thresholds", type=float, nargs="+", default=[0.4],
                        help="segment.cellpose.flow_threshold values, each with every cellprob threshold (0: no check)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = load_cellpose_model(SHIPPED_MODEL, select_device("auto"))
    gt = require(GOWT1 / "01_GT")
    seg_frames = sorted(int(p.stem[-3:]) for p in (gt / "SEG").glob("man_seg*.tif"))
    movie = normalized_movie(read_ctc_movie(require(GOWT1 / "01")))[seg_frames]
    dsb_image = tifffile.imread(require(DSB / "img2d.tif")).astype(np.float32)
    dsb_truth = tifffile.imread(DSB / "mask2d.tif")
    dsb_image = normalized_movie(dsb_image[np.newaxis])
    markers = {t: tifffile.imread(gt / "TRA" / f"man_track{t:03d}.tif") for t in seg_frames}
    rows = []
    for flow in args.flow_thresholds:
        for threshold in args.thresholds:
            row: list[object] = [f"{threshold:g}", f"{flow:g}"]
            for diameter_um in GOWT1_DIAMETERS_UM:
                labels = _labels(movie, threshold, flow, GOWT1_PIXEL_SIZE_UM, model, diameter_um=diameter_um)
                masks = dict(zip(seg_frames, labels))
                row.append(ctc_seg(gt, masks)[0])
                if diameter_um == GOWT1_DIAMETERS_UM[0]:
                    row.append("{} / {}".format(*marker_errors(markers, masks)))
            dsb = _labels(dsb_image, threshold, flow, 1.0, model, diameter_px=DSB_DIAMETER_PX)[0]
            scores = frame_segmentation_scores(dsb_truth, dsb, [0.5])
            tp, fp, fn = scores["tp"][0], scores["fp"][0], scores["fn"][0]
            row += [tp / (tp + fp + fn), float(np.mean(scores["matched_ious"])), image_seg(dsb_truth, dsb)]
            rows.append(row)
    title = (
        f"shipped model, cellprob_threshold and flow_threshold; GOWT1 01 CTC SEG (py-ctcmetrics) on its "
        f"{len(seg_frames)} SEG frames; DSB 2018 AP@0.5, matched IoU and SEG\n(python -m bench.cellprob_threshold; "
        f"{machine()}; {time.perf_counter() - started:.0f} s)"
    )
    d0 = GOWT1_DIAMETERS_UM[0]
    columns = ["cellprob_threshold", "flow_threshold", f"GOWT1 SEG, {d0:g} µm", f"GOWT1 FN / FP, {d0:g} µm",
               *(f"GOWT1 SEG, {d:g} µm" for d in GOWT1_DIAMETERS_UM[1:]), "DSB AP@0.5", "DSB matched IoU", "DSB SEG"]
    return print_table(title, columns, rows)


if __name__ == "__main__":
    main()
