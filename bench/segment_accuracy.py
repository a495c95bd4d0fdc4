"""Segmentation accuracy on real data (issue #3), measured with the field's own metrics.

    .venv/bin/python -m bench.segment_accuracy [--model PATH] [--finetuned PATH]

* Zero-shot: ``--model`` (default: the shipped resources/models/cellpipe_nuclei) on
  Fluo-N2DH-GOWT1 01, its completely annotated SEG frames 21, 31, 33 and 39; CTC SEG by
  py-ctcmetrics. The movie is normalized like the workflow's normalize stage (movie-wide 1 and
  99.8 percentiles) and segmented by cellpipe.segment.segment_cells, the function the rule
  segment_cells runs, at a nucleus diameter of 14.4 µm (60 px at 0.24 µm/px).
* Fine-tuned: ``--finetuned`` (default: results/models/gowt1_finetune/weights.pth when it exists,
  written by bench/configs/gowt1_finetune.yaml from frames 21 and 31) on frames 33 and 39.
* The DSB 2018 image (BBBC038, 125 nuclei): average precision at IoU 0.5 and 0.75
  (cellpipe.metrics.instance_scores, Cellpose's definition), diameter 24 px.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile

from bench.common import (
    DSB,
    GOWT1,
    GOWT1_COMPLETE_SEG_FRAMES,
    GOWT1_PIXEL_SIZE_UM,
    REPO,
    SHIPPED_MODEL,
    ctc_seg,
    machine,
    normalized_movie,
    print_table,
    read_ctc_movie,
    require,
)

GOWT1_DIAMETER_UM = 14.4
DSB_DIAMETER_PX = 24.0


def _segment(frames: np.ndarray, model_path: Path, pixel_size_um: float, **diameter: float) -> np.ndarray:
    from cellpipe.config import SegmentSettings
    from cellpipe.segment import load_cellpose_model, segment_cells, select_device

    settings = SegmentSettings.model_validate({"method": "cellpose", **diameter, "cellpose": {"model": str(model_path)}})
    model = load_cellpose_model(model_path, select_device("auto"))
    labels, _ = segment_cells(frames, settings, pixel_size_um, model=model)
    return labels


def gowt1_masks(model_path: Path, frames: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Labels of the given GOWT1 01 frames, the whole movie normalized as the workflow does."""
    movie = normalized_movie(read_ctc_movie(require(GOWT1 / "01")))
    labels = _segment(movie[list(frames)], model_path, GOWT1_PIXEL_SIZE_UM, diameter_um=GOWT1_DIAMETER_UM)
    return dict(zip(frames, labels))


def _frames_text(per_frame: dict[int, float]) -> str:
    return ", ".join(f"{t}: {v:.3f}" for t, v in per_frame.items())


def dsb_ap(model_path: Path) -> dict[str, dict[str, float]]:
    from cellpipe.metrics import instance_scores

    image = tifffile.imread(require(DSB / "img2d.tif")).astype(np.float32)
    truth = tifffile.imread(DSB / "mask2d.tif")
    labels = _segment(normalized_movie(image[np.newaxis]), model_path, 1.0, diameter_px=DSB_DIAMETER_PX)
    return instance_scores(truth, labels[0], (0.5, 0.75))


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--finetuned", type=Path, default=REPO / "results" / "models" / "gowt1_finetune" / "weights.pth")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    masks = gowt1_masks(args.model, GOWT1_COMPLETE_SEG_FRAMES)
    seg_all, per_frame = ctc_seg(GOWT1 / "01_GT", masks)
    rows.append(["GOWT1 01 zero-shot, frames 21 31 33 39", "CTC SEG", seg_all, _frames_text(per_frame), "SEG >= 0.80"])
    seg_held, _ = ctc_seg(GOWT1 / "01_GT", {t: masks[t] for t in (33, 39)})
    rows.append(["GOWT1 01 zero-shot, frames 33 39", "CTC SEG", seg_held, "", ""])
    if args.finetuned.is_file():
        seg_ft, per_ft = ctc_seg(GOWT1 / "01_GT", gowt1_masks(args.finetuned, (33, 39)))
        name = f"GOWT1 01 fine-tuned on frames 21 31 ({args.finetuned}), frames 33 39"
        rows.append([name, "CTC SEG", seg_ft, _frames_text(per_ft), "SEG >= 0.94"])
    else:
        rows.append(["GOWT1 01 fine-tuned on 21 31", "CTC SEG", "not run", f"{args.finetuned} not found", "SEG >= 0.94"])
    dsb = dsb_ap(args.model)
    counts = f"TP {dsb['0.5']['tp']:.0f} FP {dsb['0.5']['fp']:.0f} FN {dsb['0.5']['fn']:.0f}"
    rows.append(["DSB 2018 img2d (125 nuclei)", "AP@0.5", dsb["0.5"]["ap"], counts, "AP@0.5 >= 0.85"])
    rows.append(["DSB 2018 img2d (125 nuclei)", "AP@0.75", dsb["0.75"]["ap"], "", ""])
    title = (
        f"segmentation accuracy, model {args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model}"
        f"\n{machine()}\n(python -m bench.segment_accuracy; {time.perf_counter() - started:.0f} s)"
    )
    return print_table(title, ["data", "metric", "value", "details", "goal (issue #3)"], rows)


if __name__ == "__main__":
    main()
