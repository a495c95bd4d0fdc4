"""OME-Zarr (NGFF 0.4, Zarr v2 on disk) images and plain Zarr arrays.

Every array is chunked one frame per chunk, so stages read and write frame by
frame.  Physical units are written into the NGFF metadata: space in
micrometer, time in minute.

Compression was chosen from ``bench.zarr_io`` (bench/RESULTS.md): intensities
use Blosc lz4 (zarr's default: half the disk of raw at the write speed of no
compression); label images use Blosc zstd, 7x smaller than lz4 on labels
(0.1 % of raw) and written far faster than segmentation makes them.
The NGFF metadata is written here rather than through ome-zarr-py, whose import
(dask, xarray) took 2.6 s of every job's start-up; the tests read what this
module writes with ome-zarr-py's reader.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import Blosc

from cellpipe.io.atomic import atomic_path

PathLike = str | os.PathLike[str]
IMAGE_DATASET = "s0"
"""Name of the full-resolution dataset inside every OME-Zarr this project writes."""
NGFF_VERSION = "0.4"
IMAGE_COMPRESSOR = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
"""Compressor of intensity images and plain arrays (zarr's default)."""
LABEL_COMPRESSOR = Blosc(cname="zstd", clevel=5, shuffle=Blosc.SHUFFLE)
"""Compressor of label images (``new_ome_array(..., label_of=...)``)."""


@dataclass
class OmeImage:
    """An opened OME-Zarr image: lazy data plus the physical metadata."""

    data: zarr.Array
    axes: str
    pixel_size_um: float
    frame_interval_min: float
    channel_names: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])


def store_path(path: PathLike) -> Path:
    """The Zarr store a path names: the store itself, or its ``.zattrs``/``.zgroup`` metadata file.

    The workflow declares OME-Zarr stores by their metadata file (Snakemake allows no output inside
    a ``directory()`` output, and the label images live inside the image store's ``labels/`` group),
    so every reader and writer here accepts either form.
    """
    path = Path(path)
    return path.parent if path.name in (".zattrs", ".zgroup") else path


def write_labels_group(image: PathLike, names: Sequence[str]) -> None:
    """Write the NGFF ``labels`` group of an OME-Zarr image: ``labels/.zgroup`` and ``labels/.zattrs``
    listing the label images ``names`` (each ``labels/<name>``, written before), so OME-Zarr readers
    such as napari-ome-zarr open them with the image."""
    labels = store_path(image) / "labels"
    missing = [n for n in names if not (labels / n / ".zattrs").is_file()]
    if missing:
        raise FileNotFoundError(f"{labels}: label image(s) {missing} not found")
    with atomic_path(labels / ".zgroup") as tmp:
        tmp.write_text(json.dumps({"zarr_format": 2}) + "\n")
    with atomic_path(labels / ".zattrs") as tmp:
        tmp.write_text(json.dumps({"labels": list(names)}, indent=2) + "\n")


def _frame_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    return (1,) * (len(shape) - 2) + tuple(int(s) for s in shape[-2:])


def _axes_metadata(axes: str) -> list[dict[str, str]]:
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    units = {"t": "minute", "z": "micrometer", "y": "micrometer", "x": "micrometer"}
    out = []
    for a in axes:
        entry = {"name": a, "type": kinds[a]}
        if a in units:
            entry["unit"] = units[a]
        out.append(entry)
    return out


@contextlib.contextmanager
def new_ome_array(
    path: PathLike,
    shape: Sequence[int],
    dtype: Any,
    axes: str,
    pixel_size_um: float,
    frame_interval_min: float,
    channel_names: Sequence[str] | None = None,
    name: str = "image",
    extra_attrs: dict[str, Any] | None = None,
    label_of: PathLike | None = None,
) -> Iterator[zarr.Array]:
    """Create an NGFF 0.4 image (one resolution level, one chunk per frame) and yield its array.

    The caller fills the array frame by frame inside the ``with`` block, so a
    movie never has to be in memory at once; the store appears under ``path``
    only when the block completes.  Axes are e.g. ``"tcyx"`` or ``"tyx"``;
    ``pixel_size_um`` is the y/x pixel size in µm, ``frame_interval_min`` the
    time between frames in minutes.  ``extra_attrs`` go under the ``cellpipe`` key of the
    store's attributes, as they are when the block ends (the caller may add to them while
    writing the frames).  ``label_of``: the OME-Zarr image these are
    labels of; the store then carries NGFF ``image-label`` metadata whose source is
    that image's path relative to this one, so OME-Zarr readers (ome-zarr-py,
    napari-ome-zarr) open it as a label layer over its image.
    """
    path = store_path(path)
    label_of = store_path(label_of) if label_of is not None else None
    axes = axes.lower()
    if len(axes) != len(shape):
        raise ValueError(f"axes {axes!r} do not match shape {tuple(shape)}")
    scale = {"t": float(frame_interval_min), "c": 1.0, "z": 1.0, "y": float(pixel_size_um), "x": float(pixel_size_um)}
    with atomic_path(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        arr = group.create_array(
            IMAGE_DATASET,
            shape=tuple(int(s) for s in shape),
            chunks=_frame_chunks(shape),
            dtype=dtype,
            fill_value=0,
            compressors=LABEL_COMPRESSOR if label_of is not None else IMAGE_COMPRESSOR,
            chunk_key_encoding={"name": "v2", "separator": "/"},
        )
        multiscale = {
            "datasets": [
                {"path": IMAGE_DATASET, "coordinateTransformations": [{"type": "scale", "scale": [scale[a] for a in axes]}]}
            ],
            "name": name,
            "axes": _axes_metadata(axes),
            "version": NGFF_VERSION,
        }
        attrs: dict[str, Any] = {"multiscales": [multiscale]}
        if "c" in axes:
            n_c = int(shape[axes.index("c")])
            names = list(channel_names) if channel_names else [f"ch{i}" for i in range(n_c)]
            if len(names) != n_c:
                raise ValueError(f"{len(names)} channel names for {n_c} channels")
            attrs["omero"] = {"version": NGFF_VERSION, "channels": [{"label": n, "active": True} for n in names]}
        if label_of is not None:
            source = os.path.relpath(os.fspath(label_of), os.fspath(path))
            attrs["image-label"] = {"version": NGFF_VERSION, "source": {"image": source.replace(os.sep, "/")}}
        attrs["cellpipe"] = dict(extra_attrs or {})
        group.attrs.update(attrs)
        yield arr
        # written again once the frames are: what the caller learnt while writing them (ingest: the sha256
        # of the bytes read) goes into ``extra_attrs`` inside the block
        if extra_attrs:
            group.attrs.update({"cellpipe": dict(extra_attrs)})


def write_ome_image(
    path: PathLike,
    data: Any,
    axes: str,
    pixel_size_um: float,
    frame_interval_min: float,
    channel_names: Sequence[str] | None = None,
    name: str = "image",
    extra_attrs: dict[str, Any] | None = None,
    label_of: PathLike | None = None,
) -> None:
    """Write an in-memory array (axes e.g. ``"tcyx"``) as an NGFF 0.4 image, frame by frame
    (``label_of``: see :func:`new_ome_array`)."""
    data_shape = np.shape(data)
    with new_ome_array(path, data_shape, np.asarray(data[:1]).dtype, axes, pixel_size_um, frame_interval_min,
                       channel_names, name, extra_attrs, label_of) as arr:
        for t in range(data_shape[0]):
            arr[t] = np.asarray(data[t])


def open_ome_image(path: PathLike) -> OmeImage:
    """Open an OME-Zarr written by :func:`write_ome_image` (or any NGFF 0.4 image); ``path`` is the store
    or its ``.zattrs``."""
    path = store_path(path)
    if not path.exists():
        raise FileNotFoundError(f"OME-Zarr not found: {path}")
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    try:
        ms = attrs["multiscales"][0]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{path}: not an OME-Zarr image (no 'multiscales' metadata)") from exc
    axes = "".join(a["name"] for a in ms["axes"])
    dataset = ms["datasets"][0]
    scale = next(t["scale"] for t in dataset["coordinateTransformations"] if t["type"] == "scale")
    scale_by_axis = dict(zip(axes, scale, strict=True))
    channels = [c.get("label", f"ch{i}") for i, c in enumerate(attrs.get("omero", {}).get("channels", []))]
    return OmeImage(
        data=zarr.open_array(str(path / dataset["path"]), mode="r"),
        axes=axes,
        pixel_size_um=float(scale_by_axis.get("x", 1.0)),
        frame_interval_min=float(scale_by_axis.get("t", 1.0)),
        channel_names=channels,
        attrs=dict(attrs.get("cellpipe", {})),
    )


@contextlib.contextmanager
def new_zarr_array(
    path: PathLike,
    shape: Sequence[int],
    dtype: Any,
    attrs: dict[str, Any] | None = None,
    compressor: Blosc = IMAGE_COMPRESSOR,
) -> Iterator[zarr.Array]:
    """Create a plain Zarr v2 array, one chunk per frame, at a temporary path
    (``compressor``: :data:`LABEL_COMPRESSOR` for labels).

    The caller fills it inside the ``with`` block; the store is renamed to
    ``path`` only when the block finishes without error.
    """
    with atomic_path(path) as tmp:
        arr = zarr.create_array(
            store=str(tmp),
            shape=tuple(int(s) for s in shape),
            chunks=_frame_chunks(shape),
            dtype=dtype,
            zarr_format=2,
            fill_value=0,
            compressors=compressor,
            attributes=dict(attrs or {}),
        )
        yield arr


def open_zarr_array(path: PathLike) -> zarr.Array:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Zarr array not found: {path}")
    return zarr.open_array(str(path), mode="r")
