"""What one segment_frames job pays before its first frame, against the time per frame (issue #28).

    .venv/bin/python -m bench.gpu_job_startup [--frames 10] [--repeats 2] [--device cpu]

A fresh Python process (as a job's script runs in one) goes through the steps of segment_frames'
Cellpose path in order, and the wall clock (s) is taken after each: interpreter start and this module,
``import torch``, ``import cellpose.models`` with ``cellpipe.segment``, the shipped model loaded on the
device (``load_segmentation_model``), then ``--frames`` frames of Fluo-N2DH-GOWT1 01 (1024 x 1024 px,
normalized as the workflow does, before the clock of the frames starts; diameter 60 px) through
``iter_segment_cells``. The first frame carries the one-time warm-up (numba's compiled mask code
loaded or compiled, first network pass); ``iter_segment_cells`` runs the network ahead of the mask
reconstruction, so frames come out in bursts, and the time per frame is the steady rate from the first
frame's arrival to the last one's, (t_last - t_first) / (frames - 1). Each repeat is a new process.
Snakemake's own start-up in a job (``snakemake --executor slurm-jobstep`` parsing the Snakefile) comes
on top and is not measured here (bench/RESULTS.md, "Test suite cost": 11-20 s).
Nothing is written; the data stay in ../shared.
"""

from __future__ import annotations

import time

STARTED_AT = time.time()  # as early as this module can take it: after the interpreter's own start-up

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

DIAMETER_PX = 60.0


def worker(n_frames: int, device: str) -> dict[str, float]:
    """Seconds since this process was launched (``BENCH_LAUNCHED_AT``) after each step."""
    launched = float(os.environ["BENCH_LAUNCHED_AT"])
    marks = {"interpreter": STARTED_AT - launched}
    import torch  # noqa: F401

    marks["import torch"] = time.time() - launched
    import cellpose.models  # noqa: F401

    from cellpipe.config import SegmentSettings
    from cellpipe.segment import iter_segment_cells, load_segmentation_model, select_device

    marks["import cellpose, cellpipe.segment"] = time.time() - launched
    from bench.common import GOWT1, SHIPPED_MODEL, normalized_movie, read_ctc_movie, require

    frames = normalized_movie(read_ctc_movie(require(GOWT1 / "01"))[:n_frames])
    settings = SegmentSettings.model_validate(
        {"method": "cellpose", "diameter_px": DIAMETER_PX, "cellpose": {"model": str(SHIPPED_MODEL), "device": device}}
    )
    torch.set_num_threads(2)  # the rule's threads
    before = time.time()
    model = load_segmentation_model(settings.cellpose, select_device(device))
    marks["model loaded"] = time.time() - before
    _, results = iter_segment_cells(frames, settings, 1.0, model=model)
    last = time.time()
    for i, _labels in results:
        now = time.time()
        marks[f"frame {i + 1}"] = now - last
        last = now
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.frames, args.device)))
        return
    from bench.common import machine

    print(machine())
    for repeat in range(args.repeats):
        env = dict(os.environ, BENCH_LAUNCHED_AT=repr(time.time()))
        proc = subprocess.run(
            [sys.executable, "-m", "bench.gpu_job_startup", "--worker", "--frames", str(args.frames),
             "--device", args.device], env=env, capture_output=True, text=True, check=True,
        )
        marks = json.loads(proc.stdout.strip().splitlines()[-1])
        frame_s = [v for k, v in marks.items() if k.startswith("frame ")]
        per_frame = sum(frame_s[1:]) / (len(frame_s) - 1)  # = (t_last - t_first) / (frames - 1)
        before_first = marks["import cellpose, cellpipe.segment"] + marks["model loaded"] + frame_s[0] - per_frame
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in marks.items()))
        print(f"  paid once per process: {before_first:.2f} s (imports {marks['import cellpose, cellpipe.segment']:.2f}, "
              f"model {marks['model loaded']:.2f}, first frame's extra {frame_s[0] - per_frame:.2f}); "
              f"per frame after the first {per_frame:.2f} s; paid once = {before_first / per_frame:.1f} frames")


if __name__ == "__main__":
    main()
