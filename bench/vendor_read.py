"""Reading a Zeiss CZI (bioio-czi, libCZI) against cellpipe's own TIFF reader, per frame, and memory in movie length.

    .venv/bin/python -m bench.vendor_read [--frames 20,80] [--side 1024] [--channels 2] [--work DIR]

One movie (bright drifting disks on noise, bench.zarr_io.draw_movie, the same in every channel; uint16,
``--side``² px, ``--channels`` channels) is written twice, uncompressed, with the same pixels: as a CZI by libCZI
(pylibCZIrw, one subblock per plane) and as an OME-TIFF by tifffile (one page per plane).  Each file is read
frame by frame through :func:`cellpipe.io.movies.open_movie`, as ingest reads it:

* ``tiff (cellpipe)``, the baseline: cellpipe's TIFF reader (tifffile's pages through its Zarr view);
* ``czi (cellpipe)``: what ingest does with a CZI: bioio-czi reads the metadata, libCZI (pylibCZIrw, which bioio-czi
  reads with underneath) one plane at a time;
* ``czi (bioio-czi's dask array)``: bioio-czi's lazy array, one frame computed at a time: the path cellpipe takes
  for ND2 and LIF, and for a CZI whose geometry libCZI reports otherwise than bioio-czi;
* ``tiff (bioio-ome-tiff)``, when installed (it is not a cellpipe dependency): bioio's reader of the same TIFF,
  to show whether bioio would be the faster path for a format cellpipe reads itself.

Timing: opening the file (headers, metadata) and then reading one frame (ms, the mean over every frame), each the
best of 3 passes (the files are in the page cache after the first pass, as they are for a movie read again), and
the per-frame ratio to the baseline.  Memory: each reader runs on each movie length in
a fresh Python process that reads every frame, and the peak of what Python and numpy allocated while reading
(tracemalloc, started after the imports; libCZI's own C++ buffers are not seen) is reported; flat in movie length
means the peak grows by far less than the movie's size between the two lengths.  The control reads the whole CZI
at once (:func:`cellpipe.io.movies.read_movie`) and grows with the movie.  (The process's peak RSS is no measure
here: importing cellpipe's dependencies peaks at about 600 MiB, above what reading adds.)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from bench.common import machine, print_table, reader_ms_per_frame, script_peak_mb

PEAK_SCRIPT = """
import contextlib, sys, tracemalloc
sys.path.insert(0, {src!r})
from bench.vendor_read import read_all
import cellpipe.io.movies, bioio_czi
with contextlib.suppress(ImportError):
    import bioio_ome_tiff
tracemalloc.start()  # after the imports: what the reading itself allocates (numpy buffers, dask's and bioio's objects)
read_all({path!r}, {reader!r})
print(tracemalloc.get_traced_memory()[1] / 2**20)
"""


def write_movies(work: Path, n_frames: int, side: int, n_channels: int) -> tuple[Path, Path, int]:
    """The same (T, C, Y, X) uint16 movie as ``movie.czi`` (libCZI) and ``movie.ome.tif`` (tifffile), both
    uncompressed, 0.65 µm pixels; and the movie's size in bytes."""
    import tifffile
    from pylibCZIrw import czi as pyczi

    from bench.zarr_io import draw_movie

    image, _ = draw_movie(n_frames, side)
    czi_path, tiff_path = work / f"movie{n_frames}.czi", work / f"movie{n_frames}.ome.tif"
    with pyczi.create_czi(str(czi_path), exist_ok=True) as czi:
        for t, plane in enumerate(image):
            for c in range(n_channels):
                czi.write(plane[..., np.newaxis], plane={"T": t, "C": c, "Z": 0})
        czi.write_metadata(scale_x=0.65e-6, scale_y=0.65e-6)
    with tifffile.TiffWriter(tiff_path, ome=True) as tif:
        movie = np.repeat(image[:, np.newaxis], n_channels, axis=1)
        tif.write(movie, metadata={"axes": "TCYX", "PhysicalSizeX": 0.65, "PhysicalSizeY": 0.65})
    return czi_path, tiff_path, image.nbytes * n_channels


@contextlib.contextmanager
def frame_reader(path: str, reader: str) -> Iterator[tuple[int, Callable[[int], np.ndarray]]]:
    """The number of frames of ``path`` and a function reading frame t (C, Y, X), opened with ``reader``:
    'cellpipe' (:func:`cellpipe.io.movies.open_movie`), or 'bioio-czi' / 'bioio-ome-tiff' (the plugin's lazy dask
    array, one frame computed at a time)."""
    if reader in ("bioio-ome-tiff", "bioio-czi"):
        module = importlib.import_module(reader.replace("-", "_"))
        data = module.Reader(path).get_image_dask_data("TCYX")
        yield data.shape[0], lambda t: np.asarray(data[t].compute(scheduler="synchronous"))
        return
    from cellpipe.io.movies import open_movie

    with open_movie(path) as raw:
        yield raw.data.shape[0], raw.data.frame


def read_all(path: str, reader: str) -> float:
    """Read every frame of ``path`` with ``reader`` (:func:`frame_reader`'s, or 'whole': cellpipe's reader reading
    the whole movie at once, the control that shows a growth the measure can see); the sum of the pixels (so no
    read is skipped)."""
    if reader == "whole":
        from cellpipe.io.movies import read_movie

        return float(read_movie(path).data.sum())
    with frame_reader(path, reader) as (n_frames, read):
        return sum(float(read(t).sum()) for t in range(n_frames))




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="20,80", help="two (or more) movie lengths, frames")
    parser.add_argument("--side", type=int, default=1024, help="frame side, px")
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    lengths = [int(n) for n in args.frames.split(",")]
    try:
        import bioio_ome_tiff  # noqa: F401

        readers = ["cellpipe", "bioio-ome-tiff"]
    except ImportError:
        readers = ["cellpipe"]
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        files = {n: write_movies(work, n, args.side, args.channels) for n in lengths}
        n = lengths[0]
        czi, tiff, _ = files[n]
        checks = {read_all(str(czi), "cellpipe"), read_all(str(tiff), "cellpipe")}
        checks.add(read_all(str(czi), "bioio-czi"))
        assert len(checks) == 1, f"the CZI and the TIFF read differently: {checks}"
        timings = {"tiff (cellpipe), baseline": reader_ms_per_frame(frame_reader, tiff, "cellpipe"),
                   "czi (cellpipe: libCZI planes)": reader_ms_per_frame(frame_reader, czi, "cellpipe"),
                   "czi (bioio-czi's dask array)": reader_ms_per_frame(frame_reader, czi, "bioio-czi")}
        if "bioio-ome-tiff" in readers:
            timings["tiff (bioio-ome-tiff)"] = reader_ms_per_frame(frame_reader, tiff, "bioio-ome-tiff")
        baseline = timings["tiff (cellpipe), baseline"][1]
        rows = [[name, f"{opening:.1f}", f"{frame:.2f}", f"{frame / baseline:.2f}"] for name, (opening, frame) in timings.items()]
        title = (f"Read per frame ({n} frames of {args.channels}x{args.side}² px uint16, uncompressed), {machine()}")
        print_table(title, ["reader", "open (ms)", "ms per frame", "ratio to baseline"], rows)
        memory_rows = []
        cases = [("czi (cellpipe: libCZI planes)", 0, "cellpipe"), ("czi (bioio-czi's dask array)", 0, "bioio-czi"),
                 ("tiff (cellpipe)", 1, "cellpipe"), ("control: czi read whole", 0, "whole")]
        if "bioio-ome-tiff" in readers:
            cases.append(("tiff (bioio-ome-tiff)", 1, "bioio-ome-tiff"))
        for name, which, reader in cases:
            peaks = [script_peak_mb(PEAK_SCRIPT, files[length][which], reader) for length in lengths]
            movie_mb = [files[length][2] / 2**20 for length in lengths]
            memory_rows.append([name, *(f"{p:.1f}" for p in peaks),
                                f"{peaks[-1] - peaks[0]:.1f} (movie: +{movie_mb[-1] - movie_mb[0]:.0f})"])
        print_table("Peak memory allocated while reading every frame (MiB, tracemalloc), fresh process",
                    ["reader", *(f"{length} frames" for length in lengths), "growth"], memory_rows)
        print(json.dumps({"open_ms_and_ms_per_frame": timings, "memory": memory_rows}))


if __name__ == "__main__":
    main()
