"""Cost of checksumming one position of a store of several: the ingest checksum of each position of a 16-field plate.

    .venv/bin/python -m bench.position_checksum [--frames 10] [--side 512] [--work DIR]

An OME-Zarr plate (NGFF 0.4, written by ome-zarr-py) of 4 wells of 4 fields each, every field a (T=``--frames``,
Y=X=``--side`` px) uint16 movie, and a Micro-Manager-style folder of the same 16 movies (one
``exp_MMStack_Pos<p>.ome.tif`` per position, its OME-XML naming its own Image).  For every position, ingest's read
with its checksum (:func:`cellpipe.io.movies.open_movie` with ``checksum``: every frame read, then
``source_checksum()``), as each position sample's ingest job does.  Reported per store: the bytes hashed over all
16 positions (the sum of each ``source_checksum()``'s ``bytes``), the store's size, and the wall time (s).

Run it with the cellpipe to measure on ``PYTHONPATH``: a cellpipe that checksums the whole store for each position
hashes 16 stores' worth; one that checksums what a position reads, one store's worth.
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

WELLS = [("A", "1"), ("A", "2"), ("B", "1"), ("B", "2")]
FIELDS = 4
OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def movie(p: int, frames: int, side: int) -> np.ndarray:
    """(T, Y, X) uint16 of position ``p``: noise of its own seed."""
    return np.random.default_rng(p).integers(0, 4000, (frames, side, side), dtype=np.uint16)


def write_plate(path: Path, frames: int, side: int) -> Path:
    """The 16-field plate (module doc)."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    fmt = FormatV04()
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    write_plate_metadata(root, ["A", "B"], ["1", "2"], [f"{r}/{c}" for r, c in WELLS], fmt=fmt, field_count=FIELDS)
    for w, (row, column) in enumerate(WELLS):
        well = root.require_group(row).require_group(column)
        write_well_metadata(well, [str(f) for f in range(FIELDS)], fmt=fmt)
        for f in range(FIELDS):
            write_image(movie(FIELDS * w + f, frames, side), well.require_group(str(f)), fmt=fmt, axes=["t", "y", "x"],
                        scale_factors=[], storage_options={"chunks": (1, side, side)})
    return path


def write_mm_folder(folder: Path, n: int, frames: int, side: int) -> Path:
    """``n`` positions as ``exp_MMStack_Pos<p>.ome.tif`` files, each with the OME-XML of its own Image."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in range(n):
        name = f"exp_MMStack_Pos{p}.ome.tif"
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}"><Image ID="Image:{p}" Name="Pos{p}">'
               f'<Pixels ID="Pixels:{p}" DimensionOrder="XYCZT" Type="uint16" SizeX="{side}" SizeY="{side}" SizeC="1" '
               f'SizeZ="1" SizeT="{frames}"><Channel ID="Channel:{p}:0" SamplesPerPixel="1"/>'
               f'<TiffData IFD="0" PlaneCount="{frames}"/></Pixels></Image></OME>')
        with tifffile.TiffWriter(folder / name) as tif:
            for k, plane in enumerate(movie(p, frames, side)):
                tif.write(plane, description=xml if k == 0 else None, metadata=None)
    return folder


def ingest_checksums(path: Path, n: int) -> tuple[int, float]:
    """(bytes hashed, seconds) of ingest's read and checksum of each of the ``n`` positions of ``path``."""
    from cellpipe.io.movies import open_movie

    hashed, start = 0, time.perf_counter()
    for p in range(n):
        with open_movie(path, scene=p, checksum=True) as raw:
            for t in range(raw.data.shape[0]):
                raw.data[t]
            assert raw.source_checksum is not None
            hashed += raw.source_checksum()["bytes"]
    return hashed, time.perf_counter() - start


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--work", type=Path, help="folder for the files (default: a temporary one)")
    args = parser.parse_args()
    n = len(WELLS) * FIELDS
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        stores = {"OME-Zarr plate, 4 wells x 4 fields": write_plate(work / "plate.ome.zarr", args.frames, args.side),
                  "Micro-Manager folder, 16 positions": write_mm_folder(work / "mm", n, args.frames, args.side)}
        rows, figures = [], {}
        for name, path in stores.items():
            hashed, seconds = ingest_checksums(path, n)
            figures[name] = {"bytes_hashed": hashed, "store_bytes": size_of(path), "seconds": seconds}
            rows.append([name, f"{size_of(path) / 1e6:.1f}", f"{hashed / 1e6:.1f}", f"{seconds:.2f}"])
        print_table(f"Ingest checksum of each of {n} positions ({args.frames} frames of {args.side}² px uint16 each)",
                    ["store", "store MB", "MB hashed (16 positions)", "seconds"], rows)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
