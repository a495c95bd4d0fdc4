"""Peak memory of the CTC evaluation against movie length: the libraries on CTC folders vs one frame at a time.

    .venv/bin/python -m bench.evaluate_memory [--frames 100,500] [--side 512] [--work DIR]

For each length a movie of ``--side`` x ``--side`` px frames with dividing nuclei is simulated
(cellpipe.simulate, seed 0, 40 nuclei at the start, division probability 0.001 per frame) and
written as CTC ground truth (TRA markers in every frame, SEG masks in every tenth) and, as the
result to score, a perturbed copy of it (the longest track that does not divide deleted, the
first division missed, every third frame's masks shifted by 2 px).  Each way of scoring then runs
in a fresh Python process and reports its peak resident set size (``VmHWM`` of /proc/self/status,
MB: exact, not sampled, and unlike ``ru_maxrss`` not raised by the memory of the process that
started it; Linux only):

* ``imports``: the libraries imported, nothing scored (the floor every way shares);
* ``folders``: py-ctcmetrics' ``evaluate_sequence`` and traccuracy's ``load_ctc_data`` on the
  folders (cellpipe.evaluate.ctc_scores and division_scores, what evaluate_sample ran before issue #29);
* ``streamed``: cellpipe.evaluate.streamed_ctc_scores and streamed_division_scores on the same
  folders read one frame at a time (cellpipe.io.ctc.TiffFrames), what evaluate_sample runs now.

Both give CTC SEG, DET, TRA, AOGM and its error counts, BC(1) and traccuracy's division
detection; the table says whether every value is equal, and gives the peaks side by side with
their ratio, and the growth of each from the shortest movie to the longest.

``--step-against COMMIT`` (needs ../shared and git) also runs the whole evaluate_sample step on
GOWT1 01 (92 frames of 1024², its real ground truth; as the result, the TRA markers with the
longest non-dividing track deleted and every fourth frame shifted by 3 px, as the segmentation
and as ``ctc/``) with this checkout's ``src/`` and with COMMIT's (``git archive``), each in a
fresh process and in one thread, and compares the two evaluation.json files in full.
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

import numpy as np
import pandas as pd

from bench.common import GOWT1, REPO, machine, print_table, require

_CHILD = """
import json, sys, time
how, gt, res = sys.argv[1:4]
start = time.perf_counter()
from cellpipe.evaluate import (ctc_scores, division_scores, json_safe, streamed_ctc_scores,
                               streamed_division_scores)
from cellpipe.io.ctc import TiffFrames, read_ctc_tracks
scores = None
if how == "imports":
    import ctc_metrics.scripts.evaluate, traccuracy.loaders, traccuracy.matchers, traccuracy.metrics  # noqa: F401
elif how == "folders":
    scores = {"ctc": ctc_scores(res, gt), "divisions": division_scores(res, gt)}
elif how == "streamed":
    markers, result = TiffFrames(gt + "/TRA", "man_track*.tif"), TiffFrames(res, "mask*.tif")
    truth_tracks, result_tracks = read_ctc_tracks(gt + "/TRA/man_track.txt"), read_ctc_tracks(res + "/res_track.txt")
    scores = {
        "ctc": streamed_ctc_scores(markers, truth_tracks, result, result_tracks,
                                   truth_segmentation=TiffFrames(gt + "/SEG", "man_seg*.tif")),
        "divisions": streamed_division_scores(markers, truth_tracks, result, result_tracks),
    }
# this process's own high-water mark (ru_maxrss would include the parent's memory at the fork)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024  # KiB -> MiB
print(json.dumps({"peak_mb": peak, "seconds": time.perf_counter() - start, "scores": json_safe(scores)}))
"""

WAYS = ("imports", "folders", "streamed")

_STEP = """
import inspect, json, sys
src, sample, gt, out = sys.argv[1:5]
sys.path.insert(0, src)
import cellpipe
from cellpipe.steps.evaluate import evaluate_sample_step
kwargs = dict(sample="gowt1", ground_truth=gt, segmentation=sample + "/segmentation.ome.zarr",
              image=sample + "/image.ome.zarr", ctc_dir=sample + "/ctc", settings={}, evaluation=out)
if "threads" in inspect.signature(evaluate_sample_step).parameters:  # before issue #29: a process pool
    kwargs["threads"] = 1
evaluate_sample_step(**kwargs)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"peak_mb": peak, "cellpipe": cellpipe.__file__}))
"""


def perturbed(labels: np.ndarray, tracks: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """A result with detection, segmentation and division errors (see the module doc), from the truth."""
    labels, tracks = labels.copy(), tracks.copy()
    dividing = set(tracks.parent[tracks.parent > 0])
    candidates = tracks[~tracks.label.isin(dividing) & (tracks.parent == 0)]
    longest = int(candidates.label[(candidates.last_frame - candidates.first_frame).idxmax()])
    labels[labels == longest] = 0
    tracks = tracks[tracks.label != longest].copy()
    if dividing:
        tracks.loc[tracks.parent == min(dividing), "parent"] = 0
    labels[::3] = np.roll(labels[::3], 2, axis=2)
    return labels, tracks


def set_up(folder: Path, n_frames: int, side: int) -> dict[str, str]:
    """The CTC ground truth and the perturbed result of one simulated movie under ``folder``."""
    from cellpipe.io.ctc import write_ctc_ground_truth, write_ctc_results
    from cellpipe.simulate import make_nuclei_movie

    # a division rate that keeps the population near GOWT1's (about 40 to 65 nuclei over 500 frames)
    sim = make_nuclei_movie(n_frames=n_frames, shape=(side, side), seed=0, n_cells=40, division_probability=0.001, entry_rate=0.0)
    gt, res = folder / "01_GT", folder / "01_RES"
    write_ctc_ground_truth(gt, sim.labels, sim.tracks, seg_frames=range(0, n_frames, 10))
    write_ctc_results(res, *perturbed(sim.labels, sim.tracks))
    print(f"{n_frames} frames of {side}x{side} px: {len(sim.tracks)} tracks, {sim.n_divisions} divisions", flush=True)
    return {"gt": str(gt), "res": str(res)}


def measure(how: str, gt: str, res: str) -> dict:
    """Peak RSS (MB), seconds and scores of one way of scoring, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", _CHILD, how, gt, res], capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{how} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gowt1_sample(folder: Path) -> None:
    """image.ome.zarr, segmentation.ome.zarr and ctc/ of a degraded copy of GOWT1 01's TRA markers, under ``folder``."""
    import tifffile

    from cellpipe.io import omezarr
    from cellpipe.io.ctc import read_ctc_label_stack, read_ctc_tracks, write_ctc_results

    tra = require(GOWT1 / "01_GT") / "TRA"
    raw = np.stack([tifffile.imread(f) for f in sorted((GOWT1 / "01").glob("t*.tif"))])
    omezarr.write_ome_image(folder / "image.ome.zarr", raw[:, None], "tcyx", 0.24, 5.0)
    del raw
    labels, tracks = read_ctc_label_stack(tra, "man_track*.tif"), read_ctc_tracks(tra / "man_track.txt")
    dividing = set(tracks.parent[tracks.parent > 0])
    candidates = tracks[~tracks.label.isin(dividing) & (tracks.parent == 0)]
    gone = int(candidates.label[(candidates.last_frame - candidates.first_frame).idxmax()])
    labels[labels == gone] = 0
    labels[::4] = np.roll(labels[::4], 3, axis=2)
    omezarr.write_ome_image(folder / "segmentation.ome.zarr", labels.astype(np.uint32), "tyx", 0.24, 5.0, name="cells")
    write_ctc_results(folder / "ctc", labels, tracks[tracks.label != gone])


def step_against(commit: str, work: Path) -> None:
    """evaluate_sample on GOWT1 01 with this checkout's code and with ``commit``'s: peaks and evaluation.json."""
    old_src = work / f"src-{commit}"
    old_src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive, check=True)
    sample = work / "gowt1"
    sample.mkdir()
    gowt1_sample(sample)
    peaks, evaluations = {}, {}
    for name, src in ((commit, old_src / "src"), ("this checkout", REPO / "src")):
        out = work / f"evaluation-{len(peaks)}.json"
        done = subprocess.run([sys.executable, "-c", _STEP, str(src), str(sample), str(GOWT1 / "01_GT"), str(out)],
                              capture_output=True, text=True, cwd=work, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"evaluate_sample with {name} failed:\n{done.stderr[-3000:]}")
        peaks[name] = json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]
        evaluations[name] = json.loads(out.read_text())
        print(f"  evaluate_sample with {name}: {peaks[name]:.0f} MB", flush=True)
    old, new = peaks[commit], peaks["this checkout"]
    ctc = evaluations["this checkout"]["ctc"]
    print_table("evaluate_sample on GOWT1 01 (92 frames of 1024², one thread; peak MB)",
                ["code", "peak MB", "SEG/DET/TRA", "evaluation.json"],
                [[commit, f"{old:.0f}", "", ""],
                 ["this checkout", f"{new:.0f}", f"{ctc['SEG']:.4f}/{ctc['DET']:.4f}/{ctc['TRA']:.4f}",
                  "identical" if evaluations[commit] == evaluations["this checkout"] else "DIFFERENT"]])
    print(f"this checkout / {commit} = {new / old:.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="100,500", help="movie lengths, comma-separated (frames)")
    parser.add_argument("--side", type=int, default=512, help="frame side (px)")
    parser.add_argument("--work", type=Path, default=None, help="keep the folders here (default: a temp dir, removed)")
    parser.add_argument("--step-against", metavar="COMMIT", default=None,
                        help="also run evaluate_sample on GOWT1 01 with COMMIT's code and this checkout's (needs ../shared)")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.frames.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-evaluate-memory-"))
    print(f"machine: {machine()}")
    found: dict[int, dict[str, dict]] = {}
    for n in lengths:
        folder = work / f"frames{n}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        paths = set_up(folder, n, args.side)
        found[n] = {}
        for how in WAYS:
            start = time.perf_counter()
            found[n][how] = measure(how, paths["gt"], paths["res"])
            print(f"  {how}: {found[n][how]['peak_mb']:.0f} MB in {time.perf_counter() - start:.0f} s", flush=True)
        shutil.rmtree(folder)
    rows = []
    for n in lengths:
        old, new, floor = found[n]["folders"], found[n]["streamed"], found[n]["imports"]
        ctc = new["scores"]["ctc"]
        rows.append([
            n, f"{args.side}x{args.side}", f"{floor['peak_mb']:.0f}", f"{old['peak_mb']:.0f}", f"{new['peak_mb']:.0f}",
            f"{new['peak_mb'] / old['peak_mb']:.2f}", f"{old['seconds']:.0f}", f"{new['seconds']:.0f}",
            f"{ctc['SEG']:.4f}/{ctc['DET']:.4f}/{ctc['TRA']:.4f}", "yes" if old["scores"] == new["scores"] else "NO",
        ])
    print_table("Peak memory of the CTC evaluation (py-ctcmetrics SEG/DET/TRA/AOGM/BC(1) + traccuracy divisions; MB)",
                ["frames", "frame px", "imports MB", "folders MB", "streamed MB", "streamed/folders", "folders s",
                 "streamed s", "SEG/DET/TRA", "all scores equal"], rows)
    if len(lengths) > 1:
        short, long = lengths[0], lengths[-1]
        for how in ("folders", "streamed"):
            growth = found[long][how]["peak_mb"] / found[short][how]["peak_mb"]
            print(f"{how}: peak {long} frames / peak {short} frames = {growth:.2f}x")
    if args.step_against:
        step_against(args.step_against, work / "step")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
