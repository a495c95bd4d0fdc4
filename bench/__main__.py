"""``make bench``: every benchmark with its default arguments, one table each.

    .venv/bin/python -m bench [--quick]

--quick segments 12 frames instead of 92 in the speed benchmark, skips the whole-workflow
tracking run on GOWT1, times tracking on small movies only and measures the workflow's memory
on 20- and 100-frame movies of 512² instead of 100 and 500 frames of 1024² (the evaluation's on 20 and
100 frames of 256² instead of 100 and 500 of 512²), and builds the job
graph for 10 and 100 samples instead of up to 1,000. Needs ../shared beside the
checkout (real data); each module can also be run alone (python -m bench.<module> --help).
"""

from __future__ import annotations

import argparse

from bench import (
    dag_scale,
    evaluate_memory,
    msc_classical,
    segment_accuracy,
    segment_speed,
    track_accuracy,
    track_scale,
    workflow_memory,
    workflow_overhead,
    zarr_io,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    segment_accuracy.main([])
    print()
    msc_classical.main([])
    print()
    segment_speed.main(["--frames", "12"] if args.quick else [])
    print()
    track_accuracy.main(["--parts", "gt,simulated,demo"] if args.quick else [])
    print()
    track_scale.main(["--cells", "100,300", "--frames", "30"] if args.quick else [])
    print()
    workflow_memory.main(["--frames", "20,100", "--side", "512"] if args.quick else [])
    print()
    evaluate_memory.main(["--frames", "20,100", "--side", "256"] if args.quick else [])
    print()
    dag_scale.main(["--floors", *(["--samples", "10,100"] if args.quick else [])])
    print()
    zarr_io.main(["--frames", "10"] if args.quick else [])
    print()
    workflow_overhead.main(["--frames", "10", "--side", "256", "--repeats", "1"] if args.quick else [])


if __name__ == "__main__":
    main()
