"""Mask reconstruction speed (issue #28): Cellpose's ``dynamics.resize_and_compute_masks`` against
``cellpipe.masks`` on the same flows, and ``iter_segment_cells`` per frame with each.

``python -m bench.mask_speed [--frames 12] [--repeats 3] [--whole-frames 10] [--profile]``

The flows are the network's output for GOWT1 01 frames (every ``92 // frames``-th frame,
normalized as the workflow does, the shipped model, diameter 60 px) and for the DSB 2018
image (the model's own diameter), taken from a real ``iter_segment_cells`` run by recording
the arguments of Cellpose's reconstruction call. Both reconstructions then run on those
flows, alternating, ``--repeats`` times; the table gives seconds per frame (min and median
over repeats and frames) and AP@0.5 of cellpipe's masks against Cellpose's
(``cellpipe.metrics.instance_scores``) per frame, and whether
the two label images are equal pixel for pixel. ``--whole-frames`` frames then go through
``iter_segment_cells`` with ``cellpose.reconstruction`` 'cellpose' and 'cellpipe', alternating,
twice each. ``--profile`` prints cProfile of one GOWT1 frame's reconstruction both ways.
Nothing is written; the data stay in ../shared.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from typing import Any

import numpy as np

from bench.common import DSB, GOWT1, SHIPPED_MODEL, machine, normalized_movie, print_table, read_ctc_movie, require

DIAMETER_PX = 60.0


def _settings(reconstruction: str, diameter_px: float | None) -> Any:
    from cellpipe.config import SegmentSettings

    cellpose = {"model": str(SHIPPED_MODEL), "device": "cpu", "reconstruction": reconstruction}
    return SegmentSettings.model_validate({"method": "cellpose", "diameter_px": diameter_px, "cellpose": cellpose})


def capture_flows(frames: np.ndarray, diameter_px: float | None, model: Any) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """(dP, cellprob, options) of every frame as ``iter_segment_cells`` hands them to Cellpose."""
    from cellpose import dynamics

    from cellpipe.segment import iter_segment_cells

    captured: list[tuple[np.ndarray, np.ndarray, dict]] = []
    original = dynamics.resize_and_compute_masks

    def record(dp: np.ndarray, cellprob: np.ndarray, **options: Any) -> np.ndarray:
        captured.append((np.array(dp), np.array(cellprob), options))
        return original(dp, cellprob, **options)

    dynamics.resize_and_compute_masks = record
    try:
        _, results = iter_segment_cells(frames, _settings("cellpose", diameter_px), 1.0, model=model)
        for _ in results:
            pass
    finally:
        dynamics.resize_and_compute_masks = original
    return captured


def _old(dp: np.ndarray, cellprob: np.ndarray, options: dict) -> np.ndarray:
    from cellpose import dynamics

    return dynamics.resize_and_compute_masks(dp, cellprob, **options)


def _new(dp: np.ndarray, cellprob: np.ndarray, options: dict) -> np.ndarray:
    from cellpipe.masks import reconstruct_masks

    keep = ("cellprob_threshold", "flow_threshold", "max_size_fraction", "device")
    return reconstruct_masks(dp, cellprob, options["niter"], min_size=options["min_size"],
                             **{k: options[k] for k in keep})


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def _stats(values: list[float]) -> str:
    return f"{min(values):.3f} / {float(np.median(values)):.3f}"


def _profile(fn: Any, *args: Any) -> str:
    profile = cProfile.Profile()
    profile.enable()
    fn(*args)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(16)
    return out.getvalue()


def main(argv: list[str] | None = None) -> str:
    import tifffile

    from cellpipe.masks import reconstruct_masks
    from cellpipe.metrics import instance_scores
    from cellpipe.segment import iter_segment_cells, load_cellpose_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--whole-frames", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    model = load_cellpose_model(SHIPPED_MODEL, "cpu")
    movie = read_ctc_movie(require(GOWT1 / "01"))
    picked = list(range(0, len(movie), max(1, len(movie) // args.frames)))[: args.frames]
    flows = capture_flows(normalized_movie(movie[picked]), DIAMETER_PX, model)
    names = [f"GOWT1 01 t{t:03d}" for t in picked]
    dsb = np.asarray(tifffile.imread(require(DSB / "img2d.tif")), np.float32)
    flows += capture_flows(normalized_movie(dsb[np.newaxis]), None, model)
    names.append("DSB 2018 img2d")
    reconstruct_masks(flows[0][0][:, :64, :64], flows[0][1][:64, :64], 10)  # compiles the loops, untimed

    rows, old_all, new_all = [], [], []
    for name, (dp, cellprob, options) in zip(names, flows, strict=True):
        olds, news = [], []
        for _ in range(args.repeats):  # alternating, so both see the same machine load
            seconds, reference = _timed(_old, dp, cellprob, options)
            olds.append(seconds)
            seconds, ours = _timed(_new, dp, cellprob, options)
            news.append(seconds)
        score = instance_scores(reference, ours)["0.5"]
        rows.append([name, f"{dp.shape[1]}x{dp.shape[2]}", options["niter"], int(reference.max()), int(ours.max()),
                     f"{score['ap']:.4f}", "yes" if np.array_equal(reference, ours) else "no",
                     _stats(olds), _stats(news), f"{np.median(olds) / np.median(news):.2f}x"])
        if name.startswith("GOWT1"):
            old_all += olds
            new_all += news
    rows.append(["GOWT1, all frames", "", "", "", "", "", "", _stats(old_all), _stats(new_all),
                 f"{np.median(old_all) / np.median(new_all):.2f}x"])
    report = print_table(
        "Mask reconstruction on the same flows, s/frame min / median (cellpose = dynamics.resize_and_compute_masks)",
        ["frame", "px", "steps", "masks cellpose", "masks cellpipe", "AP@0.5", "same labels", "cellpose s", "cellpipe s",
         "cellpose / cellpipe"],
        rows,
    )

    if args.whole_frames:
        frames = normalized_movie(movie[: args.whole_frames])
        times: dict[str, list[float]] = {"cellpose": [], "cellpipe": []}
        for _ in range(2):
            for way in times:
                start = time.perf_counter()
                _, results = iter_segment_cells(frames, _settings(way, DIAMETER_PX), 1.0, model=model)
                for _ in results:
                    pass
                times[way].append((time.perf_counter() - start) / len(frames))
        report += print_table(
            f"iter_segment_cells on GOWT1 01 t000-t{args.whole_frames - 1:03d}, s/frame min / median of 2 runs",
            ["reconstruction", "s/frame", "cellpose / cellpipe (medians)"],
            [[way, _stats(v), f"{np.median(times['cellpose']) / np.median(v):.2f}x"] for way, v in times.items()],
        )
    if args.profile:
        dp, cellprob, options = flows[0]
        for title, fn in (("cellpose", _old), ("cellpipe", _new)):
            text = _profile(fn, dp, cellprob, options)
            print(f"--- cProfile, {names[0]}, {title}\n{text}")
    report += f"\n{machine()}\n"
    print(machine())
    return report


if __name__ == "__main__":
    main()
