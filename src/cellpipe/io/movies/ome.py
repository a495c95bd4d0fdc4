"""OME-XML metadata (an OME-TIFF's description, a bioformats2raw layout's OME/METADATA.ome.xml) as µm and minutes.

The pixel size (µm), the frame interval (minutes, from ``TimeIncrement`` or the planes' ``DeltaT``), the channel names
and the stage position (µm) of each OME Image; a unit that does not convert is refused, naming it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from cellpipe.io.movies.common import FileMetadata, PathLike, _first_plane, _information
from cellpipe.io.movies.units import OME_LENGTH_TO_UM, OME_TIME_TO_MIN, _in_unit


def _ome_metadata(xml: str, path: PathLike, image: int = 0) -> FileMetadata:
    """The metadata of OME Image ``image`` (0-based, in the order of the XML) of an OME-TIFF."""
    images = _ome_images_metadata(xml, path, [image])
    return images[0]


def _ome_images_metadata(xml: str, path: PathLike, images: list[int]) -> list[FileMetadata]:
    """The metadata of each OME Image of ``images`` (0-based, in the order of the XML), from one parse of the XML.

    A file of many positions is parsed once, not once per position.
    """
    root = ET.fromstring(xml)
    ns = {"ome": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
    prefix = "ome:" if ns else ""
    found = root.findall(f"{prefix}Image", ns)
    return [_ome_pixels_metadata(found[i].find(f"{prefix}Pixels", ns) if i < len(found)
                                 else root.find(f".//{prefix}Pixels", ns), prefix, ns, path) for i in images]


def _ome_pixels_metadata(pixels: ET.Element | None, prefix: str, ns: dict[str, str], path: PathLike) -> FileMetadata:
    """Pixel size (µm), frame interval (minutes), channel names and z-step (µm) of one OME ``Pixels`` element."""
    if pixels is None:
        return FileMetadata()
    sizes: dict[str, float | None] = {}
    for axis in "XY":
        size = pixels.get(f"PhysicalSize{axis}")
        unit = pixels.get(f"PhysicalSize{axis}Unit", "µm")  # the OME schema's default unit
        sizes[axis] = _in_unit(float(size), unit, OME_LENGTH_TO_UM, "length unit", f"PhysicalSize{axis}Unit", path) if size else None
    sizes["Z"] = _information(lambda: _in_unit(float(pixels.get("PhysicalSizeZ", "")), pixels.get("PhysicalSizeZUnit", "µm"),
                                               OME_LENGTH_TO_UM, "length unit", "PhysicalSizeZUnit", path))
    tinc = pixels.get("TimeIncrement")
    tunit = pixels.get("TimeIncrementUnit", "s")  # the OME schema's default unit
    dt = _in_unit(float(tinc), tunit, OME_TIME_TO_MIN, "time unit", "TimeIncrementUnit", path) if tinc else None
    names = tuple(c.get("Name") or f"ch{i}" for i, c in enumerate(pixels.findall(f"{prefix}Channel", ns)))
    # A file that gives the x size only is taken as square pixels, as OME readers (Fiji, napari) do.
    px_y = sizes["Y"] if sizes["Y"] is not None else sizes["X"]
    planes = pixels.findall(f"{prefix}Plane", ns)
    plane = _first_plane(planes)
    stage = _ome_stage_position(plane, path) if plane is not None else None
    # TimeIncrement is the acquisition's set interval; the planes' times stand in only where it is absent
    dt_from = None
    if dt is None:
        dt, dt_from = _ome_timestamps_interval(planes, path)
    return FileMetadata(sizes["X"], px_y if sizes["X"] is not None else None, dt, names, sizes["Z"], stage,
                        frame_interval_from=dt_from)


IRREGULAR_STEP = 0.01
"""Relative difference from the mean step beyond which a step between two frames' recorded times is irregular: the
frame interval is still their mean, and the range of the steps is named where the interval's source is recorded."""


def _ome_timestamps_interval(planes: list[ET.Element], path: PathLike) -> tuple[float | None, str | None]:
    """The frame interval (minutes) from OME ``Plane`` ``DeltaT`` (time since the acquisition started), and its source.

    The planes of the first plane's channel and z-plane are used, since the channels of a frame are taken one after
    the other.  The interval is (DeltaT of the last frame that gives one - DeltaT of the first) / the frames between
    them: the mean step, as a vendor file's acquisition times are read (:func:`_vendor_interval`); a frame taken
    late moves it only when it is the last.  Steps more than :data:`IRREGULAR_STEP` from that mean are named in the
    source (``...; irregular: steps 1 to 2 min)``), which ingest records (``file_frame_interval_from``).
    ``DeltaTUnit`` defaults to seconds (the OME schema's default).
    ``(None, None)`` where fewer than two frames carry a readable time (a unit not known, a value not a number)
    or the last time is not after the first: the interval then comes from the sample sheet or the config.
    """
    first = _first_plane(planes)
    if first is None:
        return None, None
    channel_z = (first.get("TheC", "0"), first.get("TheZ", "0"))
    times: dict[int, float] = {}
    for plane in planes:
        value = plane.get("DeltaT")
        if value is None or (plane.get("TheC", "0"), plane.get("TheZ", "0")) != channel_z:
            continue
        # the factor alone: the first frame's time is 0, which _in_unit takes for no value
        factor = _information(lambda plane=plane: _in_unit(1.0, plane.get("DeltaTUnit", "s"), OME_TIME_TO_MIN,
                                                           "time unit", "DeltaTUnit", path))
        try:
            frame, minutes = int(plane.get("TheT", "0")), float(value) * factor if factor is not None else None
        except ValueError:
            continue
        if minutes is not None and np.isfinite(minutes):
            times.setdefault(frame, minutes)
    if len(times) < 2:
        return None, None
    frames = sorted(times)
    n_steps = frames[-1] - frames[0]
    interval = (times[frames[-1]] - times[frames[0]]) / n_steps
    if not (np.isfinite(interval) and interval > 0):
        return None, None
    how = f"timestamps (OME Plane DeltaT: frame {frames[0]} to frame {frames[-1]}, mean of {n_steps} intervals"
    steps = [(times[b] - times[a]) / (b - a) for a, b in zip(frames, frames[1:], strict=False)]
    if max(abs(step - interval) for step in steps) > IRREGULAR_STEP * interval:
        how += f"; irregular: steps {min(steps):.4g} to {max(steps):.4g} min"
    return interval, how + ")"


def _ome_stage_position(plane: ET.Element, path: PathLike) -> tuple[float | None, float | None, float | None] | None:
    """The stage's (x, y, z) position (µm) an OME ``Plane`` gives; None when it gives none.

    ``PositionX/Y/Z`` are read with their units.  An axis whose value cannot be read, or whose unit is missing
    (the OME schema's default unit is the dimensionless 'reference frame'), not a length or unknown, is None:
    the position is information only and refuses no movie.
    """
    position: list[float | None] = []
    for axis in "XYZ":
        value = plane.get(f"Position{axis}")
        unit = plane.get(f"Position{axis}Unit")
        factor = None
        if value is not None and unit is not None:
            # The factor alone: a stage coordinate may be 0 or negative, which _in_unit takes for no value.
            factor = _information(lambda unit=unit, axis=axis: _in_unit(
                1.0, unit, OME_LENGTH_TO_UM, "length unit", f"Position{axis}Unit", path))
        try:
            um = float(value) * factor if factor is not None and value is not None else None
        except ValueError:
            um = None
        position.append(um if um is not None and np.isfinite(um) else None)
    return None if all(v is None for v in position) else (position[0], position[1], position[2])
