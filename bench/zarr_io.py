"""OME-Zarr write and read throughput against TIFF, and what chunking and compression cost.

    .venv/bin/python -m bench.zarr_io [--frames 50] [--side 1024] [--work DIR]

One movie of ``--frames`` frames of ``--side``² px is drawn (uint16 intensities: bright disks on
a noisy background, like a fluorescence movie) with its instance labels (uint32, as
segmentation writes them). Each is written frame by frame and read back frame by frame:

* ``cellpipe``: what the workflow writes (:func:`cellpipe.io.omezarr.new_ome_array`: the default NGFF
  version, 0.5, whose Zarr v3 chunks hold the same bytes as 0.4's Zarr v2 ones;
  one chunk per frame; intensities with Blosc lz4, zarr's default, and labels, written as a label
  image, with Blosc zstd);
* zarr with other compressors (Blosc zstd/lz4 with byte or bit shuffle, none) and with chunks of
  4 frames, for the choice;
* TIFF with tifffile (one page per frame; uncompressed, and zlib), the baseline.

MB/s are of the uncompressed array (frames x side² x bytes per pixel) over wall time; "size" is
the bytes on disk over the uncompressed bytes. Reads go through the page cache, as they do in
the workflow right after a write.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import machine, print_table


def draw_movie(n_frames: int, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, Y, X) uint16 intensities and uint32 labels of drifting disks (radius 12 px, ~60 per 1024²)."""
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    n_cells = max(1, int(60 * (side / 1024) ** 2))
    position = rng.uniform(20, side - 20, (n_cells, 2))
    image = np.empty((n_frames, side, side), np.uint16)
    labels = np.zeros((n_frames, side, side), np.uint32)
    for t in range(n_frames):
        frame = rng.normal(200.0, 20.0, (side, side))
        for i, (y, x) in enumerate(position):
            rr, cc = disk((y, x), 12.0, shape=(side, side))
            frame[rr, cc] += 1500.0
            labels[t, rr, cc] = i + 1
        image[t] = np.clip(frame, 0, 65535)
        position = np.clip(position + rng.normal(0, 1.5, position.shape), 20, side - 20)
    return image, labels


def disk_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _zarr_writer(compressor: object | None, frames_per_chunk: int) -> tuple[Callable, Callable]:
    import zarr

    def write(path: Path, movie: np.ndarray) -> None:
        kwargs = {} if compressor == "default" else {"compressors": compressor}
        arr = zarr.open_group(str(path), mode="w", zarr_format=2).create_array(
            "0", shape=movie.shape, chunks=(frames_per_chunk, *movie.shape[1:]), dtype=movie.dtype,
            fill_value=0, chunk_key_encoding={"name": "v2", "separator": "/"}, **kwargs,
        )
        for t in range(0, movie.shape[0], frames_per_chunk):
            arr[t:t + frames_per_chunk] = movie[t:t + frames_per_chunk]

    def read(path: Path, n_frames: int) -> None:
        arr = zarr.open_array(str(path / "0"), mode="r")
        for t in range(n_frames):
            np.asarray(arr[t])

    return write, read


def _cellpipe_writer(labels: bool) -> tuple[Callable, Callable]:
    from cellpipe.io import omezarr

    def write(path: Path, movie: np.ndarray) -> None:
        # labels: a label image of an image beside it (only its metadata names the image)
        label_of = path.parent / "image.ome.zarr" if labels else None
        with omezarr.new_ome_array(path, movie.shape, movie.dtype, "tyx", 0.65, 5.0, label_of=label_of) as arr:
            for t in range(movie.shape[0]):
                arr[t] = movie[t]

    def read(path: Path, n_frames: int) -> None:
        data = omezarr.open_ome_image(path).data
        for t in range(n_frames):
            np.asarray(data[t])

    return write, read


def _tiff_writer(compression: str | None) -> tuple[Callable, Callable]:
    import tifffile

    def write(path: Path, movie: np.ndarray) -> None:
        with tifffile.TiffWriter(path, bigtiff=True) as tif:
            for t in range(movie.shape[0]):
                tif.write(movie[t], compression=compression, contiguous=compression is None)

    def read(path: Path, n_frames: int) -> None:
        with tifffile.TiffFile(path) as tif:
            for t in range(n_frames):
                tif.pages[t].asarray()

    return write, read


def variants(labels: bool) -> dict[str, tuple[Callable, Callable]]:
    from numcodecs import Blosc

    return {
        f"cellpipe (OME-Zarr, 1 frame/chunk, Blosc {'zstd' if labels else 'lz4'})": _cellpipe_writer(labels),
        "zarr blosc zstd-5 byte shuffle": _zarr_writer([Blosc("zstd", 5, Blosc.SHUFFLE)], 1),
        "zarr blosc zstd-3 bit shuffle": _zarr_writer([Blosc("zstd", 3, Blosc.BITSHUFFLE)], 1),
        "zarr blosc lz4-5 byte shuffle": _zarr_writer([Blosc("lz4", 5, Blosc.SHUFFLE)], 1),
        "zarr uncompressed": _zarr_writer(None, 1),
        "zarr default, 4 frames/chunk": _zarr_writer("default", 4),
        "TIFF uncompressed (baseline)": _tiff_writer(None),
        "TIFF zlib": _tiff_writer("zlib"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=None, help="write here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="cellpipe-zarr-bench-"))
    print(f"machine: {machine()}")
    image, labels = draw_movie(args.frames, args.side)
    for kind, movie in (("intensities uint16", image), ("labels uint32", labels)):
        rows = []
        baseline: tuple[float, float] | None = None
        mb = movie.nbytes / 1e6
        results = []
        for name, (write, read) in variants(kind.startswith("labels")).items():
            path = work / f"{kind.split()[0]}-{len(results)}"
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            start = time.perf_counter()
            write(path, movie)
            w = time.perf_counter() - start
            start = time.perf_counter()
            read(path, movie.shape[0])
            r = time.perf_counter() - start
            results.append((name, mb / w, mb / r, disk_bytes(path) / movie.nbytes))
            if name.startswith("TIFF uncompressed"):
                baseline = (mb / w, mb / r)
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        assert baseline is not None
        for name, wr, rd, size in results:
            rows.append([name, f"{wr:.0f}", f"{rd:.0f}", f"{wr / baseline[0]:.2f}", f"{rd / baseline[1]:.2f}", f"{size:.3f}"])
        print_table(f"{kind}: {args.frames} frames of {args.side}² ({mb:.0f} MB uncompressed)",
                    ["writer", "write MB/s", "read MB/s", "write / TIFF", "read / TIFF", "size"], rows)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
