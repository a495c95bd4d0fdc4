"""``make bench``: every benchmark with its default arguments, one table each.

    .venv/bin/python -m bench [--quick]

--quick segments 12 frames instead of 92 in the speed benchmark. Needs ../shared beside the
checkout (real data); each module can also be run alone (python -m bench.<module> --help).
"""

from __future__ import annotations

import argparse

from bench import segment_accuracy, segment_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    segment_accuracy.main([])
    print()
    segment_speed.main(["--frames", "12"] if args.quick else [])


if __name__ == "__main__":
    main()
