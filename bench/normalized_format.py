"""normalized.zarr as Zarr v2 (NGFF 0.4 beside it, and every run before issue #24) against Zarr v3 (0.5).

    .venv/bin/python -m bench.normalized_format [--frames 40] [--side 384] [--repeats 5] [--work DIR]

The demo's movie (``simulate.demo`` of config/config.yaml: 40 frames of 384² px, one channel, seed 0) is
written as an OME-Zarr image in each NGFF version, then the ``normalize_movie`` step
(:func:`cellpipe.steps.normalize.normalize_movie_step`, default settings) writes ``normalized.zarr`` as the
workflow declares it for that version (``.zarray``: Zarr v2; ``zarr.json``: Zarr v3), and the array is read
back frame by frame through :func:`cellpipe.io.omezarr.open_zarr_array`, as segmentation and the report read
it.  Both formats run ``--repeats`` times, alternating, and the median is shown; "normalize step" is the whole
step (percentiles, reading the image of that version, rescaling, writing), "array write" the normalized frames
alone written from memory in the step's batches of frames, "read" the frame-by-frame read of every frame.  Sizes are
the files' bytes and the disk blocks they take (``st_blocks``); both arrays must hold the same values.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import print_table

VERSIONS = {"0.4": "Zarr v2 (.zarray; before #24, and NGFF 0.4 now)", "0.5": "Zarr v3 (zarr.json; NGFF 0.5, default)"}


def store_sizes(store: Path) -> tuple[int, int, int]:
    """(files, bytes of the files, bytes of the disk blocks they take) under ``store``."""
    files = [p for p in store.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files), sum(p.stat().st_blocks * 512 for p in files)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--side", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)

    from cellpipe import layout
    from cellpipe.io import omezarr
    from cellpipe.simulate import make_nuclei_movie
    from cellpipe.steps.normalize import FRAMES_PER_BATCH, normalize_movie_step

    movie = make_nuclei_movie(n_frames=args.frames, shape=(args.side, args.side), seed=0).image[:, np.newaxis]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-normalized-"))
    images = {}
    for version in VERSIONS:
        images[version] = Path(layout.ome_zarr(str(work / version / "image.ome.zarr"), version))
        with omezarr.new_ome_array(images[version], movie.shape, movie.dtype, "tcyx", 0.65, 5.0) as out:
            out[:] = movie
    write_s: dict[str, list[float]] = {v: [] for v in VERSIONS}
    array_s: dict[str, list[float]] = {v: [] for v in VERSIONS}
    expected = None
    read_s: dict[str, list[float]] = {v: [] for v in VERSIONS}
    arrays: dict[str, Path] = {}
    for _ in range(args.repeats):
        for version in VERSIONS:
            normalized = Path(layout.zarr_array(str(work / version / "normalized.zarr"), version))
            shutil.rmtree(normalized.parent, ignore_errors=True)
            start = time.perf_counter()
            normalize_movie_step(images[version], {}, normalized, work / version / "normalization.tsv")
            write_s[version].append(time.perf_counter() - start)
            start = time.perf_counter()
            array = omezarr.open_zarr_array(normalized)
            for t in range(array.shape[0]):
                np.asarray(array[t, 0])
            read_s[version].append(time.perf_counter() - start)
            arrays[version] = normalized.parent
            # the array alone: the normalized frames, in memory, written in the step's batches
            expected = np.asarray(array[:]) if expected is None else expected
            alone = Path(layout.zarr_array(str(work / version / "alone.zarr"), version))
            shutil.rmtree(alone.parent, ignore_errors=True)
            start = time.perf_counter()
            with omezarr.new_zarr_array(alone, expected.shape, "float32", {}, dimension_names="tcyx") as out:
                for first in range(0, len(expected), FRAMES_PER_BATCH):
                    out[first:first + FRAMES_PER_BATCH] = expected[first:first + FRAMES_PER_BATCH]
            array_s[version].append(time.perf_counter() - start)
    v2, v3 = (omezarr.open_zarr_array(arrays[v])[:] for v in VERSIONS)
    assert np.array_equal(v2, v3), "Zarr v2 and v3 hold different values"
    raw_mb = v2.nbytes / 1e6
    rows = []
    for version, name in VERSIONS.items():
        files, size, blocks = store_sizes(arrays[version])
        rows.append([name, files, f"{size / 1e6:.2f}", f"{blocks / 1e6:.2f}", f"{size / v2.nbytes:.3f}",
                     *(f"{statistics.median(times[version]):.3f}" for times in (write_s, array_s, read_s))])
    ratios = (statistics.median(times["0.5"]) / statistics.median(times["0.4"]) for times in (write_s, array_s, read_s))
    rows.append(["v3 / v2", "", "", "", "", *(f"{r:.2f}" for r in ratios)])
    text = print_table(
        f"normalized.zarr, {args.frames} frames of {args.side}² px float32 ({raw_mb:.1f} MB raw), median of "
        f"{args.repeats}",
        ["format", "files", "MB (files)", "MB (disk blocks)", "size / raw", "normalize step s", "array write s",
         "read s"],
        rows,
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return text


if __name__ == "__main__":
    main()
