"""How far a model's accuracy depends on where normalization puts the nuclei's intensities (issue #22).

    PYTHONPATH=src .venv/bin/python -m bench.intensity_robustness [--gain 0.5 0.7 1 1.5 2] [--model PATH]

The workflow gives the network frames normalized between the movie's 1st and 99.8th percentiles, so the
nuclei's normalized intensities depend on what else the movie holds (the brightest few nuclei, mitotic cells,
the background's share). Here the normalized frames are multiplied by each ``gain`` before the network, as
if the 99.8th percentile had come out 1 / gain times as high, and segmented by
cellpipe.segment.segment_cells with config/config.yaml's segment section (``denoise`` false: it stretches the
frames again and would undo the gain; the shipped model by default, ``--model`` for another):

* Fluo-N2DH-GOWT1 01, its 30 SEG frames, the whole movie normalized as the normalize stage does, 15 µm: CTC
  SEG (py-ctcmetrics) over all 30 frames, the 4 complete frames (21, 31, 33, 39; mostly bright nuclei) and
  the 26 sparse ones (mostly dim nuclei), and against the TRA markers the markers no mask covers by half (FN)
  and the masks over no marker (FP);
* the DSB 2018 image, 24 px: CTC SEG and AP@0.5 / AP@0.75 (cellpipe.metrics.instance_scores);
* held-out simulated movies (:data:`SIMULATED`, 6 frames each, none of them trained on), each at its objects'
  median diameter in the first frame: CTC SEG over the 6 frames.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tifffile
import yaml

from bench.common import (
    DSB,
    GOWT1,
    GOWT1_COMPLETE_SEG_FRAMES,
    GOWT1_PIXEL_SIZE_UM,
    REPO,
    config_segment,
    ctc_seg,
    machine,
    normalized_movie,
    print_table,
    read_ctc_movie,
    require,
)
from bench.noise_robustness import DSB_DIAMETER_PX, GOWT1_DIAMETER_UM, marker_errors, segment_with

#: Simulated movies (cellpipe.config.SimulationSettings fields): the demo's look, two of the shipped model's training
#: looks (config/train_shipped_model.yaml) with other seeds, and a field of HeLa-sized nuclei.
SIMULATED: dict[str, dict[str, object]] = {
    "demo": {"shape": (384, 384), "n_cells": 22, "seed": 0},
    "sparse large": {"look": "train_sparse_large", "seed": 201},
    "dense": {"look": "train_dense", "seed": 202},
    "HeLa-like": {"shape": (560, 880), "n_cells": 90, "seed": 1, "pixel_size_um": 0.645, "nucleus_radius_px": 14.0,
                  "radius_sd_px": 1.5},
}


def image_seg(truth: np.ndarray, labels: np.ndarray) -> float:
    """CTC SEG (py-ctcmetrics) of one labelled image against one completely annotated ground-truth image."""
    from ctc_metrics.metrics import seg

    from cellpipe.evaluate import ctc_match_frame

    with tempfile.TemporaryDirectory() as tmp:
        labels_ref, _, _, _, ious = ctc_match_frame(truth, labels, tmp)
    return float(seg([labels_ref], [ious]))


def seg_by_frames(gt_dir: Path, masks: Mapping[int, np.ndarray], complete: tuple[int, ...]) -> tuple[float, ...]:
    """CTC SEG over all frames of ``masks``, over those in ``complete`` and over the others (NaN where none)."""
    parts = [dict(masks), {t: m for t, m in masks.items() if t in complete},
             {t: m for t, m in masks.items() if t not in complete}]
    return tuple(ctc_seg(gt_dir, part)[0] if part else float("nan") for part in parts)


def simulated_movies(work: Path) -> dict[str, tuple[np.ndarray, Path, float]]:
    """:data:`SIMULATED` made in ``work``: per movie its normalized frames, its ground-truth folder and its median
    object diameter in the first frame (px, of a disc of the median area)."""
    from cellpipe.config import SimulationSettings
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.simulate import simulate_movie

    looks = yaml.safe_load((REPO / "config" / "train_shipped_model.yaml").read_text())["simulate"]
    movies = {}
    for name, spec in SIMULATED.items():
        fields = {**looks.get(str(spec.get("look")), {}), **{k: v for k, v in spec.items() if k != "look"}, "n_frames": 6}
        sim = simulate_movie(SimulationSettings.model_validate(fields))
        gt = work / name.replace(" ", "_") / "01_GT"
        write_ctc_ground_truth(gt, sim.labels, sim.tracks, seg_frames=range(sim.labels.shape[0]))
        areas = np.bincount(sim.labels[0].ravel())[1:]
        diameter = 2.0 * float(np.sqrt(np.median(areas[areas > 0]) / np.pi))
        movies[name] = (normalized_movie(sim.image), gt, diameter)
    return movies


def main(argv: list[str] | None = None) -> str:
    from cellpipe.metrics import instance_scores
    from cellpipe.segment import load_cellpose_model, select_device

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gain", type=float, nargs="+", default=[0.5, 0.7, 1.0, 1.5, 2.0],
                        help="factors on the normalized intensities")
    parser.add_argument("--model", type=Path, default=None, help="a Cellpose 3 model file (default: config.yaml's)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    segment = config_segment(args.model)
    model_path = Path(segment["cellpose"]["model"])
    model = load_cellpose_model(model_path, select_device("auto"))
    gt = require(GOWT1 / "01_GT")
    seg_frames = sorted(int(p.stem[-3:]) for p in (gt / "SEG").glob("man_seg*.tif"))
    movie = normalized_movie(read_ctc_movie(require(GOWT1 / "01")))[seg_frames]
    markers = {t: tifffile.imread(gt / "TRA" / f"man_track{t:03d}.tif") for t in seg_frames}
    dsb = normalized_movie(tifffile.imread(require(DSB / "img2d.tif")).astype(np.float32)[np.newaxis])
    dsb_truth = tifffile.imread(DSB / "mask2d.tif")
    work = Path(tempfile.mkdtemp(prefix="intensity_robustness_"))
    simulated = simulated_movies(work)
    rows = []
    for gain in args.gain:
        labels, _ = segment_with(movie * gain, {**segment, "diameter_um": GOWT1_DIAMETER_UM}, False, GOWT1_PIXEL_SIZE_UM,
                                 model)
        masks = dict(zip(seg_frames, labels))
        missed, spurious = marker_errors(markers, masks)
        dsb_labels, _ = segment_with(dsb * gain, {**segment, "diameter_um": None, "diameter_px": DSB_DIAMETER_PX}, False,
                                     1.0, model)
        ap = instance_scores(dsb_truth, dsb_labels[0], (0.5, 0.75))
        sims = []
        for frames, sim_gt, diameter in simulated.values():
            sim_labels, _ = segment_with(frames * gain, {**segment, "diameter_um": None, "diameter_px": diameter}, False,
                                         1.0, model)
            sims.append(ctc_seg(sim_gt, dict(enumerate(sim_labels)))[0])
        rows.append([f"{gain:g}", *seg_by_frames(gt, masks, GOWT1_COMPLETE_SEG_FRAMES), f"{missed} / {spurious}",
                     image_seg(dsb_truth, dsb_labels[0]), ap["0.5"]["ap"], ap["0.75"]["ap"], *sims])
    shutil.rmtree(work)
    title = (
        f"{model_path.name} ({model_path}), normalized intensities times a gain before the network: GOWT1 01 "
        f"({len(seg_frames)} SEG frames, {GOWT1_DIAMETER_UM:g} µm) and DSB 2018 ({DSB_DIAMETER_PX:g} px)\n"
        f"(python -m bench.intensity_robustness; {machine()}; {time.perf_counter() - started:.0f} s)"
    )
    columns = ["gain", "GOWT1 SEG all", "complete", "sparse", "GOWT1 FN / FP", "DSB SEG", "DSB AP@0.5", "DSB AP@0.75",
               *(f"{name} SEG" for name in simulated)]
    return print_table(title, columns, rows)


if __name__ == "__main__":
    main()
