"""Speed of the 3-D nuclei simulator on the issue's benchmark movie (issue #27).

    .venv/bin/python -m bench.simulate3d_speed [--frames 30] [--shape 32 256 256] [--seed 0]

Simulates a movie with :class:`cellpipe.config.Simulation3DSettings` defaults (32 nuclei at the
start, 2 x 0.5 x 0.5 µm voxels) except the options given, and prints the wall-clock seconds (total and
per stack), the nuclei per stack, tracks and divisions, and the ratio of the time to one minute.
Run it on one core (``taskset -c 0``, ``OMP_NUM_THREADS=1``) to compare with the issue's target.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cellpipe.config import Simulation3DSettings
from cellpipe.simulate3d import simulate_movie_3d


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 256, 256), metavar=("Z", "Y", "X"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = Simulation3DSettings(n_frames=args.frames, shape_zyx=tuple(args.shape), seed=args.seed)
    start = time.perf_counter()
    sim = simulate_movie_3d(settings)
    seconds = time.perf_counter() - start
    nuclei = [len(np.unique(stack)) - 1 for stack in sim.labels]
    print("| movie (T, Z, Y, X) | seconds | s/stack | nuclei per stack (min-max) | tracks | divisions | time / 60 s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {sim.image.shape} | {seconds:.1f} | {seconds / args.frames:.2f} | {min(nuclei)}-{max(nuclei)} "
          f"| {len(sim.tracks)} | {sim.n_divisions} | {seconds / 60:.2f} |")


if __name__ == "__main__":
    main()
