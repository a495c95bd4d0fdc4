"""Start-up cost of a sample sheet whose positions become samples, first and second start.

    .venv/bin/python -m bench.positions_start [--positions 1000] [--work DIR]

One OME-TIFF of ``--positions`` OME Images (3 frames of 16² px uint16 each, its own name, pixel size and frame
interval) on one sheet row with ``positions: all``, against the baseline: the same movies as one OME-TIFF each,
one row each (one position per file, as before positions became samples).  Each sheet is loaded twice with a
record of checked files (:func:`cellpipe.preflight.check_samples` with ``checked_record``, as the workflow's start
does): the first start lists the positions and checks every header; the second finds the files unchanged.
The loads fill ``sizes`` and ``reads`` (the files each movie reads, inputs of ingest) as the workflow's does.
Reported: the samples, the headers read (calls of :func:`cellpipe.io.movies.list_scenes`,
:func:`cellpipe.io.movies.inspect_movie` and :func:`cellpipe.io.movies.movie_files`) and the wall time of each
load (s).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from bench.common import print_table

FRAMES, SIDE = 3, 16
UNITS = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0, "TimeIncrementUnit": "min"}


def write_sheets(work: Path, n: int) -> tuple[Path, Path]:
    """The sheet of one file of ``n`` positions, and the baseline's sheet of ``n`` files."""
    plate = work / "plate.ome.tif"
    (work / "single").mkdir(parents=True, exist_ok=True)
    rows = ["sample\tmovie"]
    with tifffile.TiffWriter(plate, ome=True) as tif:
        for i in range(n):
            movie = np.full((FRAMES, SIDE, SIDE), i % 65536, np.uint16)
            tif.write(movie, metadata={"axes": "TYX", "Name": f"P{i:04d}", **UNITS})
            single = work / "single" / f"P{i:04d}.ome.tif"
            tifffile.imwrite(single, movie, ome=True, metadata={"axes": "TYX", **UNITS})
            rows.append(f"P{i:04d}\t{single}")
    positioned = work / "positions.tsv"
    positioned.write_text(f"sample\tmovie\tpositions\nplate\t{plate}\tall\n")
    baseline = work / "files.tsv"
    baseline.write_text("\n".join(rows) + "\n")
    return positioned, baseline


def load_twice(sheet: Path, record: Path) -> list[tuple[int, int, float]]:
    """(samples, header reads, seconds) of a first and a second load of ``sheet`` with the record ``record``."""
    import cellpipe.io.movies as movies
    from cellpipe.config import load_config
    from cellpipe.preflight import check_samples

    reads = [0]
    saved = {name: getattr(movies, name) for name in ("list_scenes", "inspect_movie", "movie_files")}

    def counted(real):
        def call(*args, **kwargs):
            reads[0] += 1
            return real(*args, **kwargs)
        return call

    try:
        for name, real in saved.items():
            setattr(movies, name, counted(real))
        results = []
        for _ in range(2):
            reads[0] = 0
            start = time.perf_counter()
            rows = check_samples(sheet, load_config({}), checked_record=record, sizes={}, reads={})
            results.append((len(rows), reads[0], time.perf_counter() - start))
        return results
    finally:
        for name, real in saved.items():
            setattr(movies, name, real)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--work", type=Path, help="folder for the files (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        positioned, baseline = write_sheets(work, args.positions)
        figures = {}
        rows = []
        for name, sheet in (("baseline: one file per position, one row each", baseline),
                            ("one file of all positions, positions: all", positioned)):
            (first, second) = load_twice(sheet, work / f"{sheet.stem}.checked.json")
            figures[name] = {"first": first, "second": second}
            for which, (samples, reads, seconds) in (("first", first), ("second", second)):
                rows.append([name, which, samples, reads, f"{seconds:.2f}"])
        print_table(f"Sample sheet start-up, {args.positions} positions of {FRAMES}x{SIDE}² px",
                    ["sheet", "start", "samples", "headers read", "seconds"], rows)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
