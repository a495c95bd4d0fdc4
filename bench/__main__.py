"""``make bench``: every benchmark with its default arguments, one table each.

    .venv/bin/python -m bench [--quick]

--quick segments 12 frames instead of 92 in the speed benchmark, skips the whole-workflow
tracking run on GOWT1 and times tracking on small movies only. Needs ../shared beside the
checkout (real data); each module can also be run alone (python -m bench.<module> --help).
"""

from __future__ import annotations

import argparse

from bench import segment_accuracy, segment_speed, track_accuracy, track_scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    segment_accuracy.main([])
    print()
    segment_speed.main(["--frames", "12"] if args.quick else [])
    print()
    track_accuracy.main(["--parts", "gt,simulated,demo"] if args.quick else [])
    print()
    track_scale.main(["--cells", "100,300", "--frames", "30"] if args.quick else [])


if __name__ == "__main__":
    main()
