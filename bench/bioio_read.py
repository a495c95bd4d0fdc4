"""cellpipe's own TIFF and OME-Zarr readers against bioio-tifffile's and bioio-ome-zarr's, per frame, and memory in
movie length.

    python -m bench.bioio_read [--frames 10,200] [--side 1024] [--channels 2] [--work DIR]

Needs bioio-tifffile and bioio-ome-zarr (cellpipe dependencies, pinned for ``ingest.reader: bioio``).  One movie
(bright drifting disks on noise, :func:`bench.zarr_io.draw_movie`, the same in every channel; uint16, ``--side``² px,
``--channels`` channels) is written twice with the same pixels:

* as an ImageJ hyperstack TIFF by tifffile (one page per plane, uncompressed, 0.65 µm pixels in the ImageJ
  calibration): a plain TIFF as Fiji saves it, no OME-XML;
* as an OME-Zarr image (NGFF ``--ngff``, 0.5 by default, Zarr v3) by ome-zarr-py, one chunk per plane
  (1 frame x 1 channel x Y x X), one resolution level, ome-zarr-py's default compression.

Each file is read frame by frame, as ingest reads it: with cellpipe's reader (:func:`cellpipe.io.movies.open_movie`,
``movie.data[t]``), the baseline, and with the bioio plugin for the format (the plugin's lazy dask array
``Reader(path).get_image_dask_data("TCYX")``, one frame computed at a time, as cellpipe reads CZI, ND2 and LIF
files), and with the plugin as ingest reads it with ``ingest.reader: bioio`` (``open_movie(reader="bioio")``).  The
readers must return the same pixels.

Timing: opening the file (headers, metadata) and reading one frame (ms, the mean over every frame), each the best
of 3 passes (the files are in the page cache after the first), and the per-frame ratio to cellpipe's reader of the
same file.  Memory: each reader reads every frame of each movie length in a fresh Python process, and the peak of
what Python and numpy allocated while reading (tracemalloc, started after the imports) is reported; flat in movie
length means the peak grows by far less than the movie's size between the two lengths.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from bench.common import machine, print_table, reader_ms_per_frame, script_peak_mb

PIXEL_UM = 0.65
PLUGINS = {"tiff": "bioio-tifffile", "ome-zarr": "bioio-ome-zarr"}
THROUGH_CELLPIPE = "ingest.reader bioio"
"""The reader name of the plugin read as ingest reads it with ``ingest.reader: bioio`` (``open_movie(reader="bioio")``)."""

PEAK_SCRIPT = """
import sys, tracemalloc
sys.path.insert(0, {src!r})
from bench.bioio_read import read_all
import cellpipe.io.movies, bioio_tifffile, bioio_ome_zarr, dask.array
tracemalloc.start()  # after the imports: what the reading itself allocates (numpy buffers, dask's and bioio's objects)
read_all({path!r}, {reader!r})
print(tracemalloc.get_traced_memory()[1] / 2**20)
"""


def write_movies(work: Path, n_frames: int, side: int, n_channels: int, ngff: str) -> tuple[Path, Path, int]:
    """The same (T, C, Y, X) uint16 movie as ``movie<T>.tif`` (ImageJ hyperstack, tifffile) and ``movie<T>.ome.zarr``
    (ome-zarr-py); and the movie's size in bytes."""
    import tifffile
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    from bench.zarr_io import draw_movie

    image, _ = draw_movie(n_frames, side)
    movie = np.repeat(image[:, np.newaxis], n_channels, axis=1)
    tiff_path, zarr_path = work / f"movie{n_frames}.tif", work / f"movie{n_frames}.ome.zarr"
    tifffile.imwrite(tiff_path, movie, imagej=True, resolution=(1 / PIXEL_UM, 1 / PIXEL_UM),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 120.0})
    fmt = FormatV05() if ngff == "0.5" else FormatV04()
    location = parse_url(str(zarr_path), mode="w", fmt=fmt)
    assert location is not None
    group = zarr.open_group(location.store, mode="w", zarr_format=3 if ngff == "0.5" else 2)
    write_image(movie, group, fmt=fmt, axes=["t", "c", "y", "x"], scale_factors=[],
                scale={"t": 2.0, "c": 1, "y": PIXEL_UM, "x": PIXEL_UM},
                axes_units={"t": "minute", "y": "micrometer", "x": "micrometer"},
                storage_options={"chunks": (1, 1, side, side)})
    return tiff_path, zarr_path, movie.nbytes


@contextlib.contextmanager
def frame_reader(path: str, reader: str) -> Iterator[tuple[int, Callable[[int], np.ndarray]]]:
    """The number of frames of ``path`` and a function reading frame t (C, Y, X), opened with ``reader``:
    'cellpipe' (:func:`cellpipe.io.movies.open_movie`), 'bioio-tifffile' / 'bioio-ome-zarr' (the plugin's lazy
    dask array, one frame computed at a time), or :data:`THROUGH_CELLPIPE` (the plugin as ingest reads it, through
    ``open_movie(reader="bioio")``: its header checks and metadata, then the same lazy array)."""
    if reader.startswith("bioio-"):
        module = importlib.import_module(reader.replace("-", "_"))
        data = module.Reader(path).get_image_dask_data("TCYX")
        yield data.shape[0], lambda t: np.asarray(data[t].compute(scheduler="synchronous"))
        return
    from cellpipe.io.movies import open_movie

    with open_movie(path, reader="bioio" if reader == THROUGH_CELLPIPE else "cellpipe") as raw:
        yield raw.data.shape[0], raw.data.frame


def read_all(path: str, reader: str) -> float:
    """Read every frame of ``path`` with ``reader`` (:func:`frame_reader`); the sum of the pixels (so no read is
    skipped)."""
    with frame_reader(path, reader) as (n_frames, read):
        return sum(float(read(t).sum()) for t in range(n_frames))


def read_frames(path: str, reader: str) -> np.ndarray:
    """Every frame of ``path`` read with ``reader``, stacked (T, C, Y, X): to check the readers agree."""
    with frame_reader(path, reader) as (n_frames, read):
        return np.stack([read(t) for t in range(n_frames)])




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="10,200", help="two (or more) movie lengths, frames")
    parser.add_argument("--side", type=int, default=1024, help="frame side, px")
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--ngff", choices=("0.4", "0.5"), default="0.5", help="NGFF version of the OME-Zarr movie")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    lengths = [int(n) for n in args.frames.split(",")]
    for plugin in PLUGINS.values():
        try:
            importlib.import_module(plugin.replace("-", "_"))
        except ImportError:
            sys.exit(f"bench: {plugin} is not installed: pip install -c requirements/constraints.txt {plugin}")
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        files = {n: write_movies(work, n, args.side, args.channels, args.ngff) for n in lengths}
        n = lengths[0]
        paths = {"tiff": files[n][0], "ome-zarr": files[n][1]}
        for kind, path in paths.items():  # the same pixels through every reader
            ours = read_frames(str(path), "cellpipe")
            assert ours.shape == (n, args.channels, args.side, args.side), ours.shape
            np.testing.assert_array_equal(read_frames(str(path), PLUGINS[kind]), ours)
            np.testing.assert_array_equal(read_frames(str(path), THROUGH_CELLPIPE), ours)
        timings, rows = {}, []
        for kind, path in paths.items():
            baseline = reader_ms_per_frame(frame_reader, path, "cellpipe")
            plugin = reader_ms_per_frame(frame_reader, path, PLUGINS[kind])
            hatch = reader_ms_per_frame(frame_reader, path, THROUGH_CELLPIPE)
            timings[f"{kind} (cellpipe)"], timings[f"{kind} ({PLUGINS[kind]})"] = baseline, plugin
            timings[f"{kind} ({THROUGH_CELLPIPE})"] = hatch
            for name, (opening, frame) in ((f"{kind} (cellpipe), baseline", baseline), (f"{kind} ({PLUGINS[kind]})", plugin),
                                           (f"{kind} ({THROUGH_CELLPIPE})", hatch)):
                rows.append([name, f"{opening:.1f}", f"{frame:.2f}", f"{frame / baseline[1]:.2f}"])
        title = (f"Read per frame ({n} frames of {args.channels}x{args.side}² px uint16; TIFF uncompressed, OME-Zarr "
                 f"NGFF {args.ngff} as ome-zarr-py writes it), {machine()}")
        print_table(title, ["reader", "open (ms)", "ms per frame", "ratio to cellpipe, same file"], rows)
        memory_rows = []
        for kind, which in (("tiff", 0), ("ome-zarr", 1)):
            for reader in ("cellpipe", PLUGINS[kind], THROUGH_CELLPIPE):
                peaks = [script_peak_mb(PEAK_SCRIPT, files[length][which], reader) for length in lengths]
                movie_mb = [files[length][2] / 2**20 for length in lengths]
                memory_rows.append([f"{kind} ({reader})", *(f"{p:.1f}" for p in peaks),
                                    f"{peaks[-1] - peaks[0]:.1f} (movie: +{movie_mb[-1] - movie_mb[0]:.0f})"])
        print_table("Peak memory allocated while reading every frame (MiB, tracemalloc), fresh process",
                    ["reader", *(f"{length} frames" for length in lengths), "growth"], memory_rows)
        print(json.dumps({"open_ms_and_ms_per_frame": timings, "memory": memory_rows}))


if __name__ == "__main__":
    main()
