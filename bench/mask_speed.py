"""Mask reconstruction speed (issue #28): Cellpose's ``dynamics.resize_and_compute_masks`` against
``cellpipe.masks`` on the same flows, and ``iter_segment_cells`` per frame with each.

``python -m bench.mask_speed [--frames 12] [--repeats 3] [--whole-frames 10] [--profile] [--against REF]
[--device cpu|cuda]``

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
``--against REF`` (a git commit) also times ``src/cellpipe/masks.py`` as it was at REF, read with
``git show``, on the same flows, interleaved with the current one and Cellpose, and splits
each GOWT1 frame's time into the steps of ``reconstruct_batch`` for both versions (seconds
per frame, median over repeats and frames).
``--device cuda`` runs the network and both reconstructions on the GPU (Cellpose's torch path with its
GPU flow-error check, cellpipe's torch path); the per-step split of ``--against`` stays on the CPU.
Nothing is written; the data stay in ../shared.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DSB, GOWT1, REPO, SHIPPED_MODEL, cuda_sync, machine, normalized_movie, print_table, read_ctc_movie, require

DIAMETER_PX = 60.0


def _settings(reconstruction: str, diameter_px: float | None, device: str = "cpu") -> Any:
    from cellpipe.config import SegmentSettings

    cellpose = {"model": str(SHIPPED_MODEL), "device": device, "reconstruction": reconstruction}
    return SegmentSettings.model_validate({"method": "cellpose", "diameter_px": diameter_px, "cellpose": cellpose})


def capture_flows(
    frames: np.ndarray, diameter_px: float | None, model: Any, device: str = "cpu"
) -> list[tuple[np.ndarray, np.ndarray, dict]]:
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
        _, results = iter_segment_cells(frames, _settings("cellpose", diameter_px, device), 1.0, model=model)
        for _ in results:
            pass
    finally:
        dynamics.resize_and_compute_masks = original
    return captured


def _old(dp: np.ndarray, cellprob: np.ndarray, options: dict) -> np.ndarray:
    from cellpose import dynamics

    return dynamics.resize_and_compute_masks(dp, cellprob, **options)


def _new(dp: np.ndarray, cellprob: np.ndarray, options: dict) -> np.ndarray:
    import cellpipe.masks

    return _new_at(cellpipe.masks, dp, cellprob, options)


def _new_at(masks: Any, dp: np.ndarray, cellprob: np.ndarray, options: dict) -> np.ndarray:
    keep = ("cellprob_threshold", "flow_threshold", "max_size_fraction", "device")
    return masks.reconstruct_masks(dp, cellprob, options["niter"], min_size=options["min_size"],
                                   **{k: options[k] for k in keep})


def load_masks_at(ref: str) -> Any:
    """``cellpipe.masks`` as it was at git commit ``ref``, as a module of its own (its source goes
    to a temporary folder, where numba can cache its compiled loops)."""
    import importlib.util
    import subprocess

    source = subprocess.run(["git", "show", f"{ref}:src/cellpipe/masks.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="mask_speed_")) / f"masks_at_{ref}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STEPS = ("follow flows", "seeds and masks", "flow check", "holes and small masks", "total")


def step_times(masks: Any, dp: np.ndarray, cellprob: np.ndarray, options: dict) -> list[float]:
    """Seconds of each step of ``masks.reconstruct_batch`` on one frame, in the order of ``STEPS``."""
    from cellpose import utils

    start = time.perf_counter()
    inside = (cellprob > options["cellprob_threshold"])[np.newaxis]
    scaled = dp[np.newaxis] * inside[:, np.newaxis] / np.float32(5.0)
    frame, ys, xs = masks.follow_flows(scaled, inside, options["niter"], "cpu")
    t1 = time.perf_counter()
    labels = masks.masks_from_end_points(inside, frame, ys, xs, options["max_size_fraction"])[0]
    t2 = time.perf_counter()
    errors = masks.flow_errors(labels, dp, "cpu")
    bad = np.nonzero(errors > options["flow_threshold"])[0] + 1
    labels = np.where(np.isin(labels, bad), 0, labels) if bad.size else labels
    t3 = time.perf_counter()
    # Cellpose's own function where that version of cellpipe.masks called it
    fill = getattr(masks, "fill_holes_and_remove_small_masks", utils.fill_holes_and_remove_small_masks)
    fill(labels.astype(np.uint16), min_size=options["min_size"])
    t4 = time.perf_counter()
    return [t1 - start, t2 - t1, t3 - t2, t4 - t3, t4 - start]


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    cuda_sync()
    start = time.perf_counter()
    out = fn(*args)
    cuda_sync()
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

    import cellpipe.masks
    from cellpipe.masks import reconstruct_masks
    from cellpipe.metrics import instance_scores
    from cellpipe.segment import iter_segment_cells, load_cellpose_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--whole-frames", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--against", metavar="REF", help="also time src/cellpipe/masks.py at this git commit")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the network and the masks run")
    args = parser.parse_args(argv)

    model = load_cellpose_model(SHIPPED_MODEL, args.device)
    movie = read_ctc_movie(require(GOWT1 / "01"))
    picked = list(range(0, len(movie), max(1, len(movie) // args.frames)))[: args.frames]
    flows = capture_flows(normalized_movie(movie[picked]), DIAMETER_PX, model, args.device)
    names = [f"GOWT1 01 t{t:03d}" for t in picked]
    dsb = np.asarray(tifffile.imread(require(DSB / "img2d.tif")), np.float32)
    flows += capture_flows(normalized_movie(dsb[np.newaxis]), None, model, args.device)
    names.append("DSB 2018 img2d")
    warm = {"device": flows[0][2].get("device", "cpu")}
    reconstruct_masks(flows[0][0][:, :64, :64], flows[0][1][:64, :64], 10, **warm)  # compiles the loops, untimed
    earlier = load_masks_at(args.against) if args.against else None
    if earlier is not None:
        earlier.reconstruct_masks(flows[0][0][:, :64, :64], flows[0][1][:64, :64], 10, **warm)
    steps: dict[str, list[list[float]]] = {"now": [], "ref": []}

    rows, old_all, new_all, ref_all = [], [], [], []
    for name, (dp, cellprob, options) in zip(names, flows, strict=True):
        olds, news, refs = [], [], []
        for _ in range(args.repeats):  # alternating, so all see the same machine load
            seconds, reference = _timed(_old, dp, cellprob, options)
            olds.append(seconds)
            seconds, ours = _timed(_new, dp, cellprob, options)
            news.append(seconds)
            if earlier is not None:
                seconds, theirs = _timed(_new_at, earlier, dp, cellprob, options)
                refs.append(seconds)
                if not np.array_equal(theirs, ours):
                    print(f"{name}: labels differ from {args.against}'s")
                if name.startswith("GOWT1"):
                    steps["ref"].append(step_times(earlier, dp, cellprob, options))
                    steps["now"].append(step_times(cellpipe.masks, dp, cellprob, options))
        score = instance_scores(reference, ours)["0.5"]
        rows.append([name, f"{dp.shape[1]}x{dp.shape[2]}", options["niter"], int(reference.max()), int(ours.max()),
                     f"{score['ap']:.4f}", "yes" if np.array_equal(reference, ours) else "no",
                     _stats(olds), _stats(news), f"{np.median(olds) / np.median(news):.2f}x"]
                    + ([_stats(refs), f"{np.median(refs) / np.median(news):.2f}x"] if refs else []))
        if name.startswith("GOWT1"):
            old_all += olds
            new_all += news
            ref_all += refs
    rows.append(["GOWT1, all frames", "", "", "", "", "", "", _stats(old_all), _stats(new_all),
                 f"{np.median(old_all) / np.median(new_all):.2f}x"]
                + ([_stats(ref_all), f"{np.median(ref_all) / np.median(new_all):.2f}x"] if ref_all else []))
    report = print_table(
        "Mask reconstruction on the same flows, s/frame min / median (cellpose = dynamics.resize_and_compute_masks)",
        ["frame", "px", "steps", "masks cellpose", "masks cellpipe", "AP@0.5", "same labels", "cellpose s", "cellpipe s",
         "cellpose / cellpipe"] + ([f"cellpipe at {args.against} s", f"{args.against} / cellpipe"] if earlier else []),
        rows,
    )
    if earlier is not None:
        now, ref = np.median(steps["now"], axis=0), np.median(steps["ref"], axis=0)
        report += print_table(
            f"Steps of reconstruct_batch, GOWT1 frames, s/frame median over frames and repeats, {args.against} and now",
            ["step", f"at {args.against} s", "now s", f"{args.against} / now"],
            [[step, f"{r:.3f}", f"{n:.3f}", f"{r / n:.1f}x"] for step, r, n in zip(STEPS, ref, now, strict=True)],
        )

    if args.whole_frames:
        frames = normalized_movie(movie[: args.whole_frames])
        times: dict[str, list[float]] = {"cellpose": [], "cellpipe": []}
        for _ in range(2):
            for way in times:
                cuda_sync()
                start = time.perf_counter()
                _, results = iter_segment_cells(frames, _settings(way, DIAMETER_PX, args.device), 1.0, model=model)
                for _ in results:
                    pass
                cuda_sync()
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
