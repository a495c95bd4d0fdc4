"""OME-Zarr images, NGFF 0.5 (Zarr v3) or 0.4 (Zarr v2), and plain Zarr arrays.

Every 2-D array (t, c, y, x) is chunked one plane per chunk, so stages read and write frame by
frame; a 3-D one (t, c, z, y, x) one z-stack per chunk (:func:`stack_chunks`), so a stage reads a
stack with one chunk and never more than one stack.  Physical units are written into the NGFF metadata: space in
micrometer, time in minute.

Compression was chosen from ``bench.zarr_io`` (bench/RESULTS.md): intensities
use Blosc lz4 (zarr's default: half the disk of raw at the write speed of no
compression); label images use Blosc zstd, 7x smaller than lz4 on labels
(0.1 % of raw) and written far faster than segmentation makes them.
The NGFF metadata is written here rather than through ome-zarr-py, whose import
(dask, xarray) would add 2.6 s to every job's start-up; the tests read what this
module writes with ome-zarr-py's reader and validate it with ome-zarr-models.

What viewers need is written too: ``omero`` channels with a colour
(white for one channel, :data:`MULTI_CHANNEL_COLORS` for several), a display
``window`` (the dtype's range, and the 0.1 / 99.9 percentiles of a few frames)
and the channel name; a multiscale pyramid (:func:`pyramid_shapes`) so large
frames open fast; and, for a label image whose values mean the same object in
every frame (the track ids of ``labels/tracks``), an RGBA colour and properties
per label value in ``image-label``.  Every reader in the package reads level 0
(``s0``, the first dataset of ``multiscales``).

Both NGFF versions are written and read.  The workflow declares each store by its
metadata file (``.zattrs`` for 0.4, ``zarr.json`` for 0.5, :func:`cellpipe.layout.ome_zarr`)
and the writer takes the version from that name (:func:`ngff_version_of`), so the config's
``ome_zarr.version`` reaches it through the rules' paths alone.  0.5 keeps the NGFF metadata
under the ``ome`` key of the group's attributes (``cellpipe`` stays beside it); readers see
both in 0.4's shape (:func:`ngff_attributes`).  0.5 is the default (``ome_zarr.version``)
because every reader that matters here reads it on the installed versions: ome-zarr-models
1.7 validates image, labels group and label images, napari-ome-zarr 0.10.0 opens image and
both label layers with the µm / minute scale, ome-zarr-py 0.18 reads every level, and
ome-zarr-py itself writes 0.5 by default; 0.4 stays for tools that read Zarr v2 only
(config/README.md).  Plain arrays (``normalized.zarr``, :func:`new_zarr_array`) follow the same setting:
Zarr v2 beside NGFF 0.4, Zarr v3 beside 0.5 (:data:`ZARR_FORMATS`), with the same chunks and Blosc
compression in both; the workflow declares them by their metadata file too (``.zarray`` or ``zarr.json``,
:func:`cellpipe.layout.zarr_array`).
"""

from __future__ import annotations

import colorsys
import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import Blosc
from zarr.codecs import BloscCodec

from cellpipe import layout
from cellpipe.io.atomic import atomic_path

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]
IMAGE_DATASET = "s0"
"""Name of the full-resolution dataset inside every OME-Zarr this project writes."""
NGFF_VERSIONS = tuple(layout.OME_ZARR_METADATA)
"""NGFF versions written and read: 0.4 (Zarr v2, metadata in ``.zattrs``) and 0.5 (Zarr v3, in ``zarr.json``
under the ``ome`` key)."""
NGFF_VERSION = layout.DEFAULT_OME_ZARR_VERSION
ZARR_FORMATS = {"0.4": 2, "0.5": 3}
"""The Zarr format of each NGFF version, which plain arrays and the geff graph written beside the image follow."""
"""The version written when neither the path (its metadata file) nor the image labelled names one."""
IMAGE_COMPRESSOR = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
"""Compressor of intensity images and plain arrays (zarr's default)."""
LABEL_COMPRESSOR = Blosc(cname="zstd", clevel=5, shuffle=Blosc.SHUFFLE)
"""Compressor of label images (``new_ome_array(..., label_of=...)``)."""
IMAGE_CODEC = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
"""The same as :data:`IMAGE_COMPRESSOR` in a Zarr v3 (NGFF 0.5) store."""
LABEL_CODEC = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")
"""The same as :data:`LABEL_COMPRESSOR` in a Zarr v3 (NGFF 0.5) store."""
PYRAMID_MAX_SIZE = 1024
"""Levels halve y and x until the frame's longer side is at most this many pixels."""
PYRAMID_MAX_LEVELS = 10
"""At most this many resolution levels (level 0 included)."""
SINGLE_CHANNEL_COLOR = "FFFFFF"
"""``omero`` colour of the channel of a single-channel image."""
MULTI_CHANNEL_COLORS: tuple[str, ...] = ("00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF", "FF8000", "8000FF")
"""``omero`` colours of the channels of a multichannel image, in channel order (repeated past 8):
green and magenta first, the pair colour-blind viewers tell apart."""
WINDOW_FRAMES = 8
"""Display windows come from at most this many frames, evenly spaced over the movie."""
WINDOW_PIXELS = 1 << 18
"""... and at most about this many pixels per frame and channel (a regular subsample)."""
WINDOW_PERCENTILES = (0.1, 99.9)
"""Percentiles of those pixels that become a channel's window ``start`` and ``end``."""
MAX_LABEL_ENTRIES = 10_000
"""At most this many label values get ``image-label`` colours and properties; past it neither is
written (100,000 tracks would make a ~15 MB ``.zattrs`` every reader parses) and viewers colour
the labels themselves."""


def channel_colors(n_channels: int) -> list[str]:
    """The ``omero`` colours of an image's channels.

    Parameters
    ----------
    n_channels : int
        Channels of the image.

    Returns
    -------
    list of str
        Hex ``RRGGBB``: white for one channel, :data:`MULTI_CHANNEL_COLORS` in order (repeated past 8)
        for several.
    """
    if n_channels == 1:
        return [SINGLE_CHANNEL_COLOR]
    return [MULTI_CHANNEL_COLORS[i % len(MULTI_CHANNEL_COLORS)] for i in range(n_channels)]


def label_rgba(value: int) -> tuple[int, int, int, int]:
    """A colour for a label value, the same in every run.

    Hues step by the golden ratio, so consecutive values (sister tracks) differ clearly.

    Parameters
    ----------
    value : int
        The label value (a track id).

    Returns
    -------
    tuple of int
        Opaque RGBA, each 0-255.
    """
    hue = (int(value) * 0.6180339887498949) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.8, 1.0)
    return (round(r * 255), round(g * 255), round(b * 255), 255)


def pyramid_shapes(frame_shape: Sequence[int]) -> list[tuple[int, int]]:
    """The (y, x) sizes (px) of the resolution levels of frames of a given shape.

    Level 0 is the frame; each next level halves both (rounding up) while the last level's longer side
    exceeds :data:`PYRAMID_MAX_SIZE` (at most :data:`PYRAMID_MAX_LEVELS` levels), so a 2100 x 900 frame
    has levels 2100 x 900, 1050 x 450, 525 x 225 and a frame of at most 1024 px has one level.

    Parameters
    ----------
    frame_shape : sequence of int
        An array's shape; its last two entries are y and x (px).

    Returns
    -------
    list of (int, int)
        (y, x) per level, level 0 first.
    """
    shapes = [(int(frame_shape[-2]), int(frame_shape[-1]))]
    while max(shapes[-1]) > PYRAMID_MAX_SIZE and len(shapes) < PYRAMID_MAX_LEVELS:
        y, x = shapes[-1]
        shapes.append((-(-y // 2), -(-x // 2)))
    return shapes


def _downsample(frame: np.ndarray, labels: bool) -> np.ndarray:
    """Halve the last two axes of ``frame`` (sizes rounded up), keeping label values.

    Labels take the top-left pixel of each 2x2 block (never an average, which would invent label values),
    intensities the mean of the block (the last row/column of an odd size repeated), rounded back to the dtype.
    """
    if labels or frame.dtype.kind == "b":
        return frame[..., ::2, ::2]
    pad = [(0, 0)] * (frame.ndim - 2) + [(0, frame.shape[-2] % 2), (0, frame.shape[-1] % 2)]
    work = np.pad(frame, pad, mode="edge")
    work = work.astype(np.float32 if frame.dtype.itemsize <= 2 else np.float64)
    y, x = work.shape[-2] // 2, work.shape[-1] // 2
    mean = work.reshape(*work.shape[:-2], y, 2, x, 2).mean(axis=(-3, -1))
    if frame.dtype.kind in "iu":
        mean = np.rint(mean)
    return mean.astype(frame.dtype)


def level_transforms(axes: str, scale: dict[str, float], level: int, labels: bool) -> list[dict[str, Any]]:
    """NGFF ``coordinateTransformations`` of one resolution level of an image.

    A level-``level`` pixel stands for a block of ``f = 2**level`` level-0 pixels on y and x, so its
    scale is ``f`` times level 0's. NGFF places a pixel's centre at ``index * scale + translation``;
    the translation says which point of the block the pixel's value belongs to. An intensity level
    holds the block's mean, the value at the block's centre, ``(f - 1) / 2`` level-0 pixels from its
    first pixel: translation ``(f - 1) / 2 * pixel size`` µm, so a viewer draws every level over the
    same place. A label level holds the block's first (top-left) pixel (:func:`_downsample`), whose
    centre is at ``index * f`` level-0 pixels: translation 0, so each label pixel is drawn centred on
    the pixel it was taken from. t and c (and z, never downsampled) get 0.

    Parameters
    ----------
    axes : str
        Axis names in order, e.g. ``"tcyx"``.
    scale : dict of str to float
        Level-0 scale per axis: µm per px on z/y/x, minutes per frame on t, 1 on c.
    level : int
        Resolution level: 0 is full resolution, level ``n`` has 2**n level-0 px per px on y and x.
    labels : bool
        Whether the image is a label image.

    Returns
    -------
    list of dict
        The ``scale`` and ``translation`` transforms, one value per axis.
    """
    f = 2.0**level
    shift = 0.0 if labels else (f - 1.0) / 2.0
    return [
        {"type": "scale", "scale": [scale[a] * (f if a in "yx" else 1.0) for a in axes]},
        {"type": "translation", "translation": [scale[a] * shift if a in "yx" else 0.0 for a in axes]},
    ]


class PyramidWriter:
    """The full-resolution array of a store with a pyramid, while :func:`new_ome_array` writes it.

    ``writer[t] = frame`` writes frame ``t`` of level 0 and, from the frame in memory, the same frame
    of every lower level, so the movie is not read back.  Any other write (a slice, a scalar, part of
    a frame) goes to level 0 only, and the frames it touched get their lower levels from level 0
    when the block ends.  Reading and every other attribute are level 0's.
    """

    def __init__(self, arrays: Sequence[zarr.Array], labels: bool) -> None:
        """Write into ``arrays`` (level 0 first); ``labels`` picks label downsampling (top-left pixel) over the mean."""
        self._arrays = list(arrays)
        self._labels = labels
        self._done: set[int] = set()
        self._done_channels: dict[int, set[int]] = {}  # t -> channels written whole as out[t, c] (5-D)
        self._all_stale = False

    def __setitem__(self, key: Any, value: Any) -> None:
        """Write to level 0, and to the lower levels at once when ``value`` is a whole frame (or a whole stack of a 5-D image)."""
        level0 = self._arrays[0]
        level0[key] = value
        if isinstance(key, (int, np.integer)) and np.shape(value) == tuple(level0.shape[1:]):
            t = int(key) % int(level0.shape[0])
            frame = np.asarray(value).astype(level0.dtype, copy=False)
            for arr in self._arrays[1:]:
                frame = _downsample(frame, self._labels)
                arr[t] = frame
            self._done.add(t)
        elif (level0.ndim == 5 and isinstance(key, tuple) and len(key) == 2
              and all(isinstance(k, (int, np.integer)) for k in key) and np.shape(value) == tuple(level0.shape[2:])):
            # one whole (z, y, x) stack of a 3-D image: its lower levels from the stack in memory
            t, c = int(key[0]) % int(level0.shape[0]), int(key[1]) % int(level0.shape[1])
            stack = np.asarray(value).astype(level0.dtype, copy=False)
            for arr in self._arrays[1:]:
                stack = _downsample(stack, self._labels)
                arr[t, c] = stack
            channels = self._done_channels.setdefault(t, set())
            channels.add(c)
            if len(channels) == int(level0.shape[1]):
                self._done.add(t)
        elif isinstance(key, (int, np.integer)):
            self._done.discard(int(key) % int(level0.shape[0]))
        elif isinstance(key, slice):
            self._done.difference_update(range(*key.indices(int(level0.shape[0]))))
        else:
            self._all_stale = True

    def __getitem__(self, key: Any) -> Any:
        """Read from level 0."""
        return self._arrays[0][key]

    def __getattr__(self, name: str) -> Any:
        """Level 0's attribute (``shape``, ``dtype``, ...)."""
        return getattr(self._arrays[0], name)

    def finish(self) -> None:
        """Write the lower levels of the frames not written whole (from level 0, one frame at a time)."""
        for t in range(int(self._arrays[0].shape[0])):
            if t in self._done and not self._all_stale:
                continue
            frame = np.asarray(self._arrays[0][t])
            for arr in self._arrays[1:]:
                frame = _downsample(frame, self._labels)
                arr[t] = frame


def _channel_windows(arr: zarr.Array, axes: str) -> list[dict[str, float]]:
    """``omero`` windows of the channels of image ``arr``, from a subsample of the movie.

    ``min``/``max`` are the dtype's range (the data's range for floats), ``start``/``end`` the
    :data:`WINDOW_PERCENTILES` of a subsample (at most :data:`WINDOW_FRAMES` frames, :data:`WINDOW_PIXELS`
    pixels each), so no pass over the whole movie.
    """
    c_axis = axes.index("c")
    n_frames, n_c = int(arr.shape[0]), int(arr.shape[c_axis])
    frames = sorted({round(t) for t in np.linspace(0, n_frames - 1, min(n_frames, WINDOW_FRAMES))}) if n_frames else []
    step = max(1, math.isqrt(math.prod(int(n) for n in arr.shape[-2:]) // WINDOW_PIXELS))
    samples: list[list[np.ndarray]] = [[] for _ in range(n_c)]
    for t in frames:
        for c in range(n_c):  # one channel's plane (or z-stack) in memory at a time
            key: list[Any] = [t] + [slice(None)] * (len(arr.shape) - 1)
            key[c_axis] = c
            samples[c].append(np.asarray(arr[tuple(key)])[..., ::step, ::step].ravel())
    dtype = np.dtype(arr.dtype)
    windows = []
    for c in range(n_c):
        values = np.concatenate(samples[c]).astype(np.float64) if samples[c] else np.zeros(1)
        values = values[np.isfinite(values)] if values.size else values
        if not values.size:
            values = np.zeros(1)
        start, end = (float(v) for v in np.percentile(values, WINDOW_PERCENTILES))
        if dtype.kind in "iu":
            lo, hi = float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)
            start, end = float(math.floor(start)), float(math.ceil(end))
        elif dtype.kind == "b":
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(values.min()), float(values.max())
        if end <= start:  # a flat channel: a window of one step, inside the range
            end = min(start + 1.0, hi) if start < hi else end
            start = end - 1.0 if end <= start else start
        windows.append({"min": lo, "max": hi, "start": start, "end": end})
    return windows


def _image_label_entries(label_properties: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """``image-label`` colours and properties per label value; none past :data:`MAX_LABEL_ENTRIES`; ValueError for a value given twice."""
    if not label_properties:
        return {}
    if len(label_properties) > MAX_LABEL_ENTRIES:
        logger.info("%d label values: more than %d, so no image-label colours or properties are written",
                    len(label_properties), MAX_LABEL_ENTRIES)
        return {}
    properties = [{k: _plain(v) for k, v in row.items()} for row in label_properties]
    values = [int(row["label-value"]) for row in properties]
    if len(set(values)) != len(values):
        raise ValueError("label_properties: a label-value is given twice")
    return {
        "colors": [{"label-value": v, "rgba": list(label_rgba(v))} for v in values],
        "properties": properties,
    }


def _plain(value: Any) -> Any:
    """A JSON value from a numpy scalar (or the value itself)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class OmeImage:
    """An opened OME-Zarr image: lazy data plus the physical metadata.

    Attributes
    ----------
    data : zarr.Array
        The full-resolution level, read lazily.
    axes : str
        Axis names in order, e.g. ``"tcyx"``.
    pixel_size_um : float
        Pixel size on y and x (µm per px).
    frame_interval_min : float
        Time between frames (minutes).
    channel_names : list of str
        ``omero`` channel labels.
    attrs : dict
        What cellpipe recorded under its ``cellpipe`` key.
    pixel_size_z_um : float or None
        Step between z-planes (µm) of an image with a z axis; None without one.
    """

    data: zarr.Array
    axes: str
    pixel_size_um: float
    frame_interval_min: float
    channel_names: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    pixel_size_z_um: float | None = None
    """Step between z-planes (µm) of an image with a z axis; None without one."""

    @property
    def n_frames(self) -> int:
        """Number of frames (time points)."""
        return int(self.data.shape[0])


_METADATA_FILES = (".zattrs", ".zgroup", ".zarray", "zarr.json")


def store_path(path: PathLike) -> Path:
    """The Zarr store a path names.

    The workflow declares OME-Zarr stores by their metadata file (Snakemake allows no output inside a
    ``directory()`` output, and the label images live inside the image store's ``labels/`` group), so
    every reader and writer here accepts either form.

    Parameters
    ----------
    path : str or os.PathLike
        The store itself, or its metadata file (``.zattrs``/``.zgroup``/``.zarray`` of Zarr v2,
        ``zarr.json`` of Zarr v3).

    Returns
    -------
    pathlib.Path
        The store.
    """
    path = Path(path)
    return path.parent if path.name in _METADATA_FILES else path


def ngff_version_of(path: PathLike, label_of: PathLike | None = None) -> str:
    """The NGFF version to write at a path.

    Parameters
    ----------
    path : str or os.PathLike
        The store or its metadata file; ``.zattrs``/``.zgroup`` name 0.4, ``zarr.json`` 0.5 (the
        workflow declares every store so).
    label_of : str or os.PathLike, optional
        The image these are labels of; its stored version applies when ``path`` names none.

    Returns
    -------
    str
        ``"0.4"`` or ``"0.5"``; :data:`NGFF_VERSION` when neither decides.
    """
    name = Path(path).name
    if name in (".zattrs", ".zgroup"):
        return "0.4"
    if name == "zarr.json":
        return "0.5"
    if label_of is not None:
        found = stored_ngff_version(label_of)
        if found is not None:
            return found
    return NGFF_VERSION


def stored_ngff_version(path: PathLike) -> str | None:
    """The NGFF version of the OME-Zarr group at a path.

    Parameters
    ----------
    path : str or os.PathLike
        The store or its metadata file.

    Returns
    -------
    str or None
        ``"0.5"`` for a Zarr v3 store (``zarr.json``), ``"0.4"`` for Zarr v2 (``.zattrs``), None when
        neither file is there.
    """
    store = store_path(path)
    if (store / "zarr.json").is_file():
        return "0.5"
    if (store / ".zattrs").is_file():
        return "0.4"
    return None


def ngff_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """The NGFF metadata of a group's attributes in NGFF 0.4's shape, whatever the version.

    Parameters
    ----------
    attrs : dict
        The group's attributes. NGFF 0.5 keeps ``multiscales``, ``omero``, ``labels`` and
        ``image-label`` under the ``ome`` key (with the version there); other keys (``cellpipe``) stay
        at the top in both.

    Returns
    -------
    dict
        The attributes with ``ome`` unpacked and its ``version`` dropped.
    """
    out = {k: v for k, v in attrs.items() if k != "ome"}
    ome = attrs.get("ome")
    if isinstance(ome, dict):
        out.update({k: v for k, v in ome.items() if k != "version"})
    return out


def _ome_attributes(ngff: dict[str, Any], other: dict[str, Any], version: str) -> dict[str, Any]:
    """Group attributes holding the NGFF metadata ``ngff`` as ``version`` places them, and the keys ``other``.

    ``ngff`` holds ``multiscales``, ``omero``, ``labels``, ``image-label``; ``other`` the ``cellpipe`` key.  0.4
    names the version in each of multiscales, omero and image-label; 0.5 once, in ``ome``.
    """
    if version == "0.4":
        versioned: dict[str, Any] = {}
        for key, value in ngff.items():
            if key == "multiscales":
                versioned[key] = [{**ms, "version": version} for ms in value]
            elif key in ("omero", "image-label"):
                versioned[key] = {"version": version, **value}
            else:
                versioned[key] = value
        return {**versioned, **other}
    if version == "0.5":
        return {"ome": {"version": version, **ngff}, **other}
    raise ValueError(f"NGFF version {version!r}: cellpipe writes {', '.join(NGFF_VERSIONS)}")


def write_labels_group(image: PathLike, names: Sequence[str], version: str | None = None) -> None:
    """Write the NGFF ``labels`` group of an OME-Zarr image.

    OME-Zarr readers such as napari-ome-zarr then open the label images with the image. Written are
    ``labels/.zgroup`` and ``labels/.zattrs`` (NGFF 0.4) or ``labels/zarr.json`` (0.5).

    Parameters
    ----------
    image : str or os.PathLike
        The image's store or metadata file.
    names : sequence of str
        The label images listed, each ``labels/<name>``, written before in the group's version.
    version : str, optional
        ``"0.4"`` or ``"0.5"``; by default the image's (:func:`stored_ngff_version`).

    Raises
    ------
    FileNotFoundError
        When a label image is missing or of another version.
    """
    store = store_path(image)
    version = version or stored_ngff_version(store) or NGFF_VERSION
    labels = store / "labels"
    meta = layout.OME_ZARR_METADATA[version]
    missing = [n for n in names if stored_ngff_version(labels / n) != version]
    if missing:
        raise FileNotFoundError(f"{labels}: label image(s) {missing} not found (as NGFF {version}, {meta})")
    attrs = _ome_attributes({"labels": list(names)}, {}, version)
    if version == "0.4":
        with atomic_path(labels / ".zgroup") as tmp:
            tmp.write_text(json.dumps({"zarr_format": 2}) + "\n")
        with atomic_path(labels / ".zattrs") as tmp:
            tmp.write_text(json.dumps(attrs, indent=2) + "\n")
    else:
        group = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
        with atomic_path(labels / "zarr.json") as tmp:
            tmp.write_text(json.dumps(group, indent=2) + "\n")


def _frame_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """Chunks of one (y, x) plane for an array of ``shape``: 1 on every leading axis."""
    return (1,) * (len(shape) - 2) + tuple(int(s) for s in shape[-2:])


STACK_CHUNK_MAX_BYTES = 64 << 20
"""A z-stack of at most this many bytes (64 MiB: 32 planes of 1024² uint16) is one chunk; a larger one is
chunked in z-slabs of as many whole planes as fit (at least one), so no chunk outgrows what one job reads
comfortably at once and Blosc's 2 GiB chunk limit is never reached."""


def stack_chunks(shape: Sequence[int], dtype: Any) -> tuple[int, ...]:
    """Chunks of an array: one z-stack, or one plane for arrays without z.

    Parameters
    ----------
    shape : sequence of int
        The array's shape; 5 entries mean (t, c, z, y, x).
    dtype : numpy.dtype or str
        The array's pixel type.

    Returns
    -------
    tuple of int
        (t, c, z, y, x): one z-stack of one time point and channel, or z-slabs of as many whole planes
        as fit in :data:`STACK_CHUNK_MAX_BYTES` (bytes) when the stack is larger. Arrays of other ranks:
        one plane (:func:`_frame_chunks`).
    """
    if len(shape) != 5:
        return _frame_chunks(shape)
    z, y, x = (int(n) for n in shape[2:])
    plane = max(1, y * x * np.dtype(dtype).itemsize)
    slab = max(1, min(z, STACK_CHUNK_MAX_BYTES // plane))
    return (1, 1, slab, y, x)


def _axes_metadata(axes: str) -> list[dict[str, str]]:
    """NGFF ``axes`` entries for ``axes``: type per axis, unit minute on t and micrometer on z/y/x."""
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
    label_properties: Sequence[dict[str, Any]] | None = None,
    version: str | None = None,
    pixel_size_z_um: float | None = None,
) -> Iterator[zarr.Array]:
    """Create an NGFF 0.4 or 0.5 image (one chunk per frame) and yield its full-resolution array.

    The caller fills the array frame by frame inside the ``with`` block, so a movie never has to be in
    memory at once; the store appears under ``path`` only when the block completes.

    Frames larger than :data:`PYRAMID_MAX_SIZE` get lower resolution levels (:func:`pyramid_shapes`;
    ``s1``, ``s2`` ...; labels: top-left pixel of each 2x2 block, intensities: its mean): the array
    yielded is then a :class:`PyramidWriter`, which writes them from each whole frame the caller writes
    as ``out[t] = frame``. When the block ends an image with channels gets ``omero`` metadata: colour,
    display window (:func:`_channel_windows`), label and ``active`` per channel.

    An image with a ``z`` axis (``"tczyx"``, the 3-D movie ingest writes with ``z_projection: keep``)
    is chunked one z-stack per time point and channel (:func:`stack_chunks`), its pyramid levels halve
    y and x only (z is never downsampled), and ``out[t, c] = stack`` writes one whole stack and its
    lower levels, so a caller holds one stack at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The store, or its metadata file.
    shape : sequence of int
        The array's shape, in the order of ``axes``.
    dtype : numpy.dtype or str
        Pixel type.
    axes : str
        Axis names, e.g. ``"tcyx"``, ``"tyx"`` or ``"tczyx"``.
    pixel_size_um : float
        Pixel size on y and x (µm per px).
    frame_interval_min : float
        Time between frames (minutes).
    channel_names : sequence of str, optional
        One per channel (default ``ch0``, ``ch1``, ...).
    name : str
        The image's name in ``multiscales`` and ``omero``.
    extra_attrs : dict, optional
        Stored under the ``cellpipe`` key of the store's attributes, as they are when the block ends
        (the caller may add to them while writing the frames).
    label_of : str or os.PathLike, optional
        The OME-Zarr image these are labels of; the store then carries NGFF ``image-label`` metadata
        whose source is that image's path relative to this one, so OME-Zarr readers (ome-zarr-py,
        napari-ome-zarr) open it as a label layer over its image. Labels are compressed with zstd.
    label_properties : sequence of dict, optional
        Label images only: one dict per label value, with its ``"label-value"``, written as
        ``image-label`` properties with a colour per value (:func:`label_rgba`); only for labels whose
        values name the same object in every frame, and not past :data:`MAX_LABEL_ENTRIES`.
    version : str, optional
        ``"0.4"`` (Zarr v2, ``.zattrs``) or ``"0.5"`` (Zarr v3, ``zarr.json``, the NGFF metadata under
        its ``ome`` key, ``cellpipe`` beside it); by default the one ``path`` names by its metadata
        file, else the labelled image's (:func:`ngff_version_of`).
    pixel_size_z_um : float, optional
        Step between z-planes (µm); required when ``axes`` has z.

    Yields
    ------
    zarr.Array or PyramidWriter
        The full-resolution array to fill.

    Raises
    ------
    ValueError
        An unknown version, axes that do not match ``shape``, channel names that do not match the
        channels, ``label_properties`` without ``label_of``, a z axis without ``pixel_size_z_um``.
    """
    version = version or ngff_version_of(path, label_of)
    if version not in NGFF_VERSIONS:
        raise ValueError(f"NGFF version {version!r}: cellpipe writes {', '.join(NGFF_VERSIONS)}")
    path = store_path(path)
    label_of = store_path(label_of) if label_of is not None else None
    axes = axes.lower()
    if len(axes) != len(shape):
        raise ValueError(f"axes {axes!r} do not match shape {tuple(shape)}")
    if label_properties is not None and label_of is None:
        raise ValueError("label_properties are for label images (label_of)")
    shape = tuple(int(s) for s in shape)
    names: list[str] = []
    if "c" in axes:
        n_c = shape[axes.index("c")]
        names = list(channel_names) if channel_names else [f"ch{i}" for i in range(n_c)]
        if len(names) != n_c:
            raise ValueError(f"{len(names)} channel names for {n_c} channels")
    if "z" in axes and pixel_size_z_um is None:
        raise ValueError(f"axes {axes!r} have z: give pixel_size_z_um (µm between planes)")
    levels = pyramid_shapes(shape)
    z_scale = float(pixel_size_z_um) if "z" in axes and pixel_size_z_um is not None else 1.0
    scale = {"t": float(frame_interval_min), "c": 1.0, "z": z_scale, "y": float(pixel_size_um), "x": float(pixel_size_um)}
    if version == "0.4":
        compressor: Any = LABEL_COMPRESSOR if label_of is not None else IMAGE_COMPRESSOR
        # NGFF 0.4 asks for "/" between chunk indices (Zarr v2's default is ".")
        key_encoding: dict[str, Any] = {"name": "v2", "separator": "/"}
    else:
        compressor = LABEL_CODEC if label_of is not None else IMAGE_CODEC
        key_encoding = {"name": "default", "separator": "/"}
    with atomic_path(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2 if version == "0.4" else 3)
        arrays = [
            group.create_array(
                f"s{level}" if level else IMAGE_DATASET,
                shape=(*shape[:-2], *yx),
                chunks=stack_chunks((*shape[:-2], *yx), dtype) if "z" in axes else _frame_chunks((*shape[:-2], *yx)),
                dtype=dtype,
                fill_value=0,
                compressors=compressor,
                chunk_key_encoding=key_encoding,
                **({} if version == "0.4" else {"dimension_names": list(axes)}),
            )
            for level, yx in enumerate(levels)
        ]
        if len(arrays) == 1:
            yield arrays[0]
        else:
            writer = PyramidWriter(arrays, labels=label_of is not None)
            yield writer  # type: ignore[misc]
            writer.finish()
        datasets = [
            {"path": arr.basename, "coordinateTransformations": level_transforms(axes, scale, level, label_of is not None)}
            for level, arr in enumerate(arrays)
        ]
        multiscale = {"datasets": datasets, "name": name, "axes": _axes_metadata(axes)}
        attrs: dict[str, Any] = {"multiscales": [multiscale]}
        if "c" in axes:
            windows = _channel_windows(arrays[0], axes)
            attrs["omero"] = {
                "name": name,
                "channels": [
                    {"label": n, "color": color, "window": window, "active": True}
                    for n, color, window in zip(names, channel_colors(len(names)), windows, strict=True)
                ],
            }
        if label_of is not None:
            source = os.path.relpath(os.fspath(label_of), os.fspath(path))
            attrs["image-label"] = {
                "source": {"image": source.replace(os.sep, "/")},
                **_image_label_entries(label_properties),
            }
        # what the caller learnt while writing the frames (ingest: the sha256 of the bytes read) is in
        # ``extra_attrs`` by now
        group.attrs.update(_ome_attributes(attrs, {"cellpipe": dict(extra_attrs or {})}, version))


def move_label_image(path: PathLike, to: PathLike, label_of: PathLike) -> None:
    """Rename a label image of an OME-Zarr image, keeping its ``image-label`` source right.

    Its ``image-label`` source is first set to ``label_of``'s path relative to ``to``, as
    :func:`new_ome_array` writes it there, so the moved store equals one written at ``to`` byte for
    byte; no chunk is read or rewritten.

    Parameters
    ----------
    path : str or os.PathLike
        The label image (store or metadata file); on the same file system as ``to``.
    to : str or os.PathLike
        Where it goes; appears whole or not at all (a store there is replaced).
    label_of : str or os.PathLike
        The image it labels.

    Raises
    ------
    ValueError
        When ``path`` is no label image (no ``image-label`` metadata).
    """
    path, to = store_path(path), store_path(to)
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    ngff = attrs["ome"] if "ome" in attrs else attrs  # NGFF 0.5 keeps image-label under "ome"
    if "image-label" not in ngff:
        raise ValueError(f"{path}: not a label image (no 'image-label' metadata)")
    source = os.path.relpath(os.fspath(store_path(label_of)), os.fspath(to)).replace(os.sep, "/")
    if ngff["image-label"]["source"]["image"] != source:
        ngff["image-label"]["source"]["image"] = source
        group.attrs.put(attrs)
    with atomic_path(to) as tmp:
        os.replace(path, tmp)


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
    label_properties: Sequence[dict[str, Any]] | None = None,
    version: str | None = None,
    pixel_size_z_um: float | None = None,
) -> None:
    """Write an in-memory array as an NGFF image, frame by frame.

    Parameters
    ----------
    path : str or os.PathLike
        The store, or its metadata file.
    data : array_like
        The image, axes in the order of ``axes``; the first axis is t.
    axes : str
        Axis names, e.g. ``"tcyx"``.
    pixel_size_um : float
        Pixel size on y and x (µm per px).
    frame_interval_min : float
        Time between frames (minutes).
    channel_names, name, extra_attrs, label_of, label_properties, version, pixel_size_z_um
        As for :func:`new_ome_array` (``pixel_size_z_um`` in µm).
    """
    data_shape = np.shape(data)
    with new_ome_array(path, data_shape, np.asarray(data[:1]).dtype, axes, pixel_size_um, frame_interval_min,
                       channel_names, name, extra_attrs, label_of, label_properties, version,
                       pixel_size_z_um=pixel_size_z_um) as arr:
        for t in range(data_shape[0]):
            arr[t] = np.asarray(data[t])


DEFAULT_UNITS = {"time": "minute", "space": "micrometer"}
"""Units of NGFF axes that name none, by axis type (NGFF and napari both use pint's unit names)."""


@dataclass(frozen=True)
class Multiscales:
    """The NGFF ``multiscales`` of an OME-Zarr image or label image.

    Attributes
    ----------
    levels : list of zarr.Array
        Every resolution level, opened lazily, full resolution first.
    axes : list of str
        Axis names.
    units : list of str
        Unit per axis (pint names); an axis naming none gets :data:`DEFAULT_UNITS` of its type, else
        ``pixel``.
    scale : list of float
        Level 0's scale per axis, in those units per px or frame (1 where the metadata give none).
    translate : list of float
        Level 0's translation per axis, in those units (0 where the metadata give none).
    name : str
        The image's name.
    attrs : dict
        The store's attributes, NGFF 0.5's ``ome`` key unpacked.
    """

    levels: list[Any]
    axes: list[str]
    units: list[str]
    scale: list[float]
    translate: list[float]
    name: str
    attrs: dict[str, Any]


def open_multiscales(path: PathLike) -> Multiscales:
    """Open an NGFF 0.4 or 0.5 image or label image.

    What both the workflow's reader (:func:`open_ome_image`) and the napari reader
    (:mod:`cellpipe.napari_reader`) read of it.

    Parameters
    ----------
    path : str or os.PathLike
        The store or its metadata file.

    Returns
    -------
    Multiscales
        ``attrs`` are the group's attributes with NGFF 0.5's ``ome`` key unpacked
        (:func:`ngff_attributes`).

    Raises
    ------
    FileNotFoundError
        When there is no store.
    ValueError
        When the group has no ``multiscales`` metadata.
    """
    path = store_path(path)
    if not path.exists():
        raise FileNotFoundError(f"OME-Zarr not found: {path}")
    attrs = ngff_attributes(dict(zarr.open_group(str(path), mode="r").attrs))
    try:
        ms = attrs["multiscales"][0]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{path}: not an OME-Zarr image (no 'multiscales' metadata)") from exc
    axes = [a["name"] for a in ms["axes"]]
    units = [a.get("unit") or DEFAULT_UNITS.get(a.get("type", ""), "pixel") for a in ms["axes"]]
    scale, translate = [1.0] * len(axes), [0.0] * len(axes)
    for transform in ms["datasets"][0].get("coordinateTransformations", []):
        if transform["type"] == "scale":
            scale = [float(s) for s in transform["scale"]]
        elif transform["type"] == "translation":
            translate = [float(s) for s in transform["translation"]]
    levels = [zarr.open_array(str(path / dataset["path"]), mode="r") for dataset in ms["datasets"]]
    return Multiscales(levels, axes, units, scale, translate, str(ms.get("name", path.name)), attrs)


def open_ome_image(path: PathLike) -> OmeImage:
    """Open an OME-Zarr image written by :func:`write_ome_image` (or any NGFF 0.4 / 0.5 image).

    Parameters
    ----------
    path : str or os.PathLike
        The store or its metadata file.

    Returns
    -------
    OmeImage
        ``data`` is the full-resolution level (the first dataset of ``multiscales``); lower levels of a
        pyramid are for viewers. Pixel size (µm) and frame interval (minutes) come from level 0's
        scale, 1 where the metadata give none.
    """
    image = open_multiscales(path)
    axes = "".join(image.axes)
    scale_by_axis = dict(zip(axes, image.scale, strict=True))
    channels = [c.get("label", f"ch{i}") for i, c in enumerate(image.attrs.get("omero", {}).get("channels", []))]
    return OmeImage(
        data=image.levels[0],
        axes=axes,
        pixel_size_um=float(scale_by_axis.get("x", 1.0)),
        frame_interval_min=float(scale_by_axis.get("t", 1.0)),
        channel_names=channels,
        attrs=dict(image.attrs.get("cellpipe", {})),
        pixel_size_z_um=float(scale_by_axis["z"]) if "z" in scale_by_axis else None,
    )


def _v3_codec(compressor: Blosc) -> BloscCodec:
    """The Zarr v3 codec that compresses as the numcodecs Blosc ``compressor`` of a Zarr v2 array does."""
    shuffle = {Blosc.NOSHUFFLE: "noshuffle", Blosc.SHUFFLE: "shuffle", Blosc.BITSHUFFLE: "bitshuffle"}[compressor.shuffle]
    return BloscCodec(cname=compressor.cname, clevel=compressor.clevel, shuffle=shuffle, blocksize=compressor.blocksize)


def zarr_format_of(path: PathLike, zarr_format: int | None = None) -> int:
    """The Zarr format to write a plain array in, from the metadata file its path names.

    Parameters
    ----------
    path : str or os.PathLike
        The store, or its metadata file: ``.zarray`` names Zarr v2, ``zarr.json`` Zarr v3 (the workflow
        declares ``normalized.zarr`` so, :func:`cellpipe.layout.zarr_array`).
    zarr_format : int, optional
        2 or 3, for a path that names none; by default that of :data:`NGFF_VERSION`.

    Returns
    -------
    int
        2 or 3.

    Raises
    ------
    ValueError
        When ``zarr_format`` is neither 2 nor 3, or differs from the one the path names.
    """
    if zarr_format is not None and zarr_format not in (2, 3):
        raise ValueError(f"zarr_format {zarr_format!r}: 2 or 3")
    named = {".zarray": 2, "zarr.json": 3}.get(Path(path).name)
    if named is not None and zarr_format is not None and named != zarr_format:
        raise ValueError(f"{path}: names Zarr v{named}, but Zarr v{zarr_format} was asked for")
    return named or zarr_format or ZARR_FORMATS[NGFF_VERSION]


@contextlib.contextmanager
def new_zarr_array(
    path: PathLike,
    shape: Sequence[int],
    dtype: Any,
    attrs: dict[str, Any] | None = None,
    compressor: Blosc = IMAGE_COMPRESSOR,
    zarr_format: int | None = None,
    dimension_names: Sequence[str] | None = None,
) -> Iterator[zarr.Array]:
    """Create a plain Zarr array (v2 or v3) at a temporary path and yield it.

    The caller fills it inside the ``with`` block; the store is renamed to ``path`` only when the block
    finishes without error. Chunks: one plane per chunk, or one z-stack for a 5-D (t, c, z, y, x) array
    (:func:`stack_chunks`), in both formats; Zarr v3 compresses with the Blosc codec of the same settings
    (:func:`_v3_codec`), so a chunk holds the same compressed bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The array's store, or its metadata file, which names the format (:func:`zarr_format_of`).
    shape : sequence of int
        Its shape in elements (frames, channels, z-planes, px), e.g. (t, c, y, x).
    dtype : numpy.dtype or str
        Its element type.
    attrs : dict, optional
        The array's attributes.
    compressor : numcodecs.Blosc
        :data:`IMAGE_COMPRESSOR`, or :data:`LABEL_COMPRESSOR` for labels.
    zarr_format : int, optional
        2 or 3 where ``path`` is the store itself; by default that of the default NGFF version (3).
    dimension_names : sequence of str, optional
        Zarr v3 only: the axes' names (e.g. ``"tcyx"``), recorded in the array's metadata.

    Yields
    ------
    zarr.Array

    Raises
    ------
    ValueError
        A format other than 2 or 3, or one that differs from the one ``path`` names.
    """
    fmt = zarr_format_of(path, zarr_format)
    v3: dict[str, Any] = {}
    if fmt == 3:
        v3["compressors"] = _v3_codec(compressor)
        if dimension_names is not None:
            v3["dimension_names"] = list(dimension_names)
    with atomic_path(store_path(path)) as tmp:
        arr = zarr.create_array(
            store=str(tmp),
            shape=tuple(int(s) for s in shape),
            chunks=stack_chunks(shape, dtype),
            dtype=dtype,
            zarr_format=fmt,
            fill_value=0,
            **(v3 or {"compressors": compressor}),
            attributes=dict(attrs or {}),
        )
        yield arr


def open_zarr_array(path: PathLike) -> zarr.Array:
    """Open a Zarr array read-only.

    Parameters
    ----------
    path : str or os.PathLike
        The array's store (Zarr v2 or v3), or its metadata file (``.zarray`` or ``zarr.json``).

    Returns
    -------
    zarr.Array

    Raises
    ------
    FileNotFoundError
        When there is no store.
    """
    path = store_path(path)
    if not path.exists():
        raise FileNotFoundError(f"Zarr array not found: {path}")
    return zarr.open_array(str(path), mode="r")
