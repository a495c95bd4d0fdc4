"""Reading raw movies (TIFF stacks, OME-TIFF, CTC folders) into (T, C, Y, X).

The physical metadata found in the file (pixel size in µm, frame interval in
minutes, channel names) is returned with the pixels so the ingest step can
combine it with what the sample sheet says.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import tifffile

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
MovieFormat = Literal["auto", "tiff", "ome-tiff", "ctc"]

# Conversion factors to micrometres / minutes for the units OME and ImageJ write.
_LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0,
                 "micrometer": 1.0, "micrometre": 1.0, "\\u00B5m": 1.0, "nm": 1e-3}
_TIME_TO_MIN = {"s": 1 / 60, "sec": 1 / 60, "second": 1 / 60, "seconds": 1 / 60, "ms": 1 / 60000,
                "min": 1.0, "minute": 1.0, "minutes": 1.0, "h": 60.0, "hour": 60.0, "hours": 60.0}


class MovieError(ValueError):
    """A movie that cannot be read as a time-lapse; the message names the file and the problem."""


@dataclass
class RawMovie:
    """Pixels in (T, C, Y, X) order with whatever metadata the file carried."""

    data: np.ndarray
    source_axes: str
    pixel_size_um: float | None = None
    frame_interval_min: float | None = None
    channel_names: list[str] = field(default_factory=list)


def detect_format(path: PathLike) -> MovieFormat:
    """Guess the format from the path: a folder is a CTC folder, ``.ome.tif(f)`` OME-TIFF, ``.tif(f)`` TIFF."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return "ctc"
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "ome-tiff"
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    raise MovieError(f"{p}: cannot tell the movie format from the name (expected a CTC folder, .tif, .tiff, .ome.tif)")


def to_tcyx(data: np.ndarray, axes: str, path: PathLike) -> np.ndarray:
    """Reorder ``data`` with axes like ``"TYX"``, ``"CTYX"`` or ``"TZCYX"`` (Z of size 1) to (T, C, Y, X).

    ``I`` and ``Q`` (tifffile's names for an unspecified page sequence) count as T.
    """
    axes = axes.upper().replace("I", "T").replace("Q", "T")
    if len(axes) != data.ndim:
        raise MovieError(f"{path}: axes {axes!r} do not match the {data.ndim}-D array of shape {data.shape}")
    unknown = set(axes) - set("TCZYXS")
    if unknown or len(set(axes)) != len(axes):
        raise MovieError(f"{path}: cannot interpret axes {axes!r} (use letters T, C, Z, Y, X once each)")
    if "S" in axes:  # RGB samples are channels
        if "C" in axes:
            raise MovieError(f"{path}: both C and S (RGB) axes present; not supported")
        axes = axes.replace("S", "C")
    for ax in "Z":
        if ax in axes:
            size = data.shape[axes.index(ax)]
            if size != 1:
                raise MovieError(f"{path}: {size} z-planes found; cellpipe processes 2D time-lapses (one plane)")
            data = np.take(data, 0, axis=axes.index(ax))
            axes = axes.replace(ax, "")
    if "T" not in axes:
        raise MovieError(f"{path}: no time axis in {axes!r} (shape {data.shape}); a movie (T, Y, X) is expected")
    if "Y" not in axes or "X" not in axes:
        raise MovieError(f"{path}: axes {axes!r} lack Y or X")
    if "C" not in axes:
        data = np.expand_dims(data, axis=0)
        axes = "C" + axes
    return np.transpose(data, [axes.index(a) for a in "TCYX"])


def _ome_metadata(xml: str) -> tuple[float | None, float | None, list[str]]:
    root = ET.fromstring(xml)
    ns = {"ome": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
    prefix = "ome:" if ns else ""
    pixels = root.find(f".//{prefix}Pixels", ns)
    if pixels is None:
        return None, None, []
    size = pixels.get("PhysicalSizeX")
    unit = pixels.get("PhysicalSizeXUnit", "µm")
    px = float(size) * _LENGTH_TO_UM.get(unit, np.nan) if size else None
    tinc = pixels.get("TimeIncrement")
    tunit = pixels.get("TimeIncrementUnit", "s")
    dt = float(tinc) * _TIME_TO_MIN.get(tunit, np.nan) if tinc else None
    names = [c.get("Name") or f"ch{i}" for i, c in enumerate(pixels.findall(f"{prefix}Channel", ns))]
    px = None if px is not None and not np.isfinite(px) else px
    dt = None if dt is not None and not np.isfinite(dt) else dt
    return px, dt, names


def _imagej_metadata(tif: tifffile.TiffFile) -> tuple[float | None, float | None]:
    meta = tif.imagej_metadata or {}
    px = None
    page = tif.pages.first
    tag = page.tags.get("XResolution")
    unit = str(meta.get("unit", "")).replace("\\u00B5", "µ")
    if tag is not None and unit in _LENGTH_TO_UM:
        num, den = tag.value
        if num > 0:
            px = den / num * _LENGTH_TO_UM[unit]
    dt = None
    if meta.get("finterval"):
        dt = float(meta["finterval"]) * _TIME_TO_MIN.get(str(meta.get("tunit", "s")), 1 / 60)
    return px, dt


def read_tiff_movie(path: PathLike, axes: str | None = None) -> RawMovie:
    """Read a (OME-)TIFF stack; ``axes`` overrides the axes the file declares."""
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data = series.asarray()
            file_axes = series.axes
            px = dt = None
            names: list[str] = []
            if tif.is_ome and tif.ome_metadata:
                px, dt, names = _ome_metadata(tif.ome_metadata)
            elif tif.is_imagej:
                px, dt = _imagej_metadata(tif)
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
        raise MovieError(f"{path}: not a readable TIFF ({exc})") from exc
    use_axes = axes or file_axes
    if axes is None and data.ndim == 3 and set(file_axes) <= set("IQTYX"):
        use_axes = "TYX"
    if axes is None and data.ndim == 4 and file_axes.startswith(("IQ", "QQ", "II")):
        use_axes = "TCYX"  # an unlabelled 4-D stack: the documented default
    tcyx = to_tcyx(data, use_axes, path)
    logger.info("read %s: axes %s -> TCYX %s", path, use_axes, tcyx.shape)
    return RawMovie(tcyx, use_axes, px, dt, names)


def read_ctc_folder(path: PathLike) -> RawMovie:
    """Read a Cell Tracking Challenge folder of ``tNNN.tif`` frames."""
    from cellpipe.io.ctc import read_ctc_movie

    data = read_ctc_movie(Path(path))
    return RawMovie(to_tcyx(data, "TYX", path), "TYX")


def read_movie(path: PathLike, fmt: MovieFormat = "auto", axes: str | None = None) -> RawMovie:
    """Read any supported raw movie into (T, C, Y, X) with its metadata."""
    path = Path(path)
    if not path.exists():
        raise MovieError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "ctc":
        if not path.is_dir():
            raise MovieError(f"{path}: format 'ctc' expects a folder of tNNN.tif frames")
        return read_ctc_folder(path)
    return read_tiff_movie(path, axes)


def write_ome_tiff(
    path: PathLike,
    movie: np.ndarray,
    pixel_size_um: float,
    frame_interval_min: float,
    channel_names: list[str] | None = None,
) -> None:
    """Write a (T, Y, X) or (T, C, Y, X) movie as OME-TIFF with physical pixel size and frame interval."""
    from cellpipe.io.atomic import atomic_path

    axes = "TYX" if movie.ndim == 3 else "TCYX"
    meta: dict[str, object] = {
        "axes": axes,
        "PhysicalSizeX": float(pixel_size_um),
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um),
        "PhysicalSizeYUnit": "µm",
        "TimeIncrement": float(frame_interval_min),
        "TimeIncrementUnit": "min",
    }
    if channel_names:
        meta["Channel"] = {"Name": list(channel_names)}
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, movie, ome=True, metadata=meta, compression="zlib")
