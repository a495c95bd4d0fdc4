"""OME-Zarr (NGFF 0.4 and 0.5) images, and the stores that hold several: a bioformats2raw layout, a plate, a well.

Axes, scale (µm, minutes), channel names and levels come from the ``multiscales`` metadata, without reading a pixel;
the positions of a store are its layout's images or its wells' fields (named ``<row><column>_<field>``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.io.movies.common import (
    POSITIONS_HINT,
    MovieError,
    MovieHeader,
    _first_plane,
    _information,
    _one_line,
    _only_scene_zero,
    tczyx_shape,
    z_stack_refusal,
)
from cellpipe.io.movies.ome import _ome_stage_position
from cellpipe.io.movies.units import NGFF_UNIT_SYMBOLS, OME_LENGTH_TO_UM, OME_TIME_TO_MIN, _in_unit

NGFF_VERSIONS = ("0.4", "0.5")
"""OME-Zarr (NGFF) versions read as movies: 0.4 (Zarr v2, metadata in ``.zattrs``) and 0.5 (Zarr v3,
metadata under ``ome`` in ``zarr.json``)."""

_ZARR_MARKERS = (".zattrs", ".zgroup", ".zarray", "zarr.json")
"""Files at the top of a Zarr v2 (.zattrs, .zgroup, .zarray) or v3 (zarr.json) folder."""

_ZARR_METADATA = frozenset({*_ZARR_MARKERS, ".zmetadata"})
"""Zarr metadata files of a group or array (v2 consolidated metadata too)."""


@dataclass(frozen=True)
class _NgffImage:
    """An OME-Zarr image's full-resolution level (opened, nothing read) and what its metadata say."""

    header: MovieHeader
    level: Any
    """The level's Zarr array, in the file's axis order."""


def _ngff_metadata(path: Path) -> tuple[dict[str, Any], str]:
    """The NGFF attributes of the Zarr group at ``path`` and the file they were read from.

    The attributes are ``multiscales``, ``omero``, ...; the file is ``.zattrs`` of Zarr v2, or ``zarr.json`` of
    Zarr v3, whose ``ome`` key holds them in NGFF 0.5.
    """
    for name in ("zarr.json", ".zattrs"):
        meta_file = path / name
        if not meta_file.is_file():
            continue
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise MovieError(f"{meta_file}: not readable Zarr metadata ({_one_line(exc)})") from exc
        if not isinstance(meta, dict):
            raise MovieError(f"{meta_file}: not readable Zarr metadata (not a JSON object)")
        if name == "zarr.json":
            attributes = meta.get("attributes") or {}
            meta = attributes.get("ome", attributes) if isinstance(attributes, dict) else {}
        return (meta if isinstance(meta, dict) else {}), name
    return {}, ".zattrs"


def _bioformats2raw_series(path: Path) -> list[tuple[str, str]] | None:
    """The images of a bioformats2raw layout at ``path``, as (path in the store, name) in order; None for any other store.

    A bioformats2raw layout has its root's ``bioformats2raw.layout`` attribute.

    The paths are the ``series`` list of the ``OME`` group where it has one, else the numbered groups ``0``, ``1``,
    ... found; the names are the OME Images' ``Name`` in ``OME/METADATA.ome.xml`` ('' where it names none).
    """
    meta, _ = _ngff_metadata(path)
    if "bioformats2raw.layout" not in meta:
        return None
    ome_meta, _ = _ngff_metadata(path / "OME")
    listed = ome_meta.get("series")
    if isinstance(listed, list) and listed:
        paths = [str(p) for p in listed]
    else:
        paths = []
        while (path / str(len(paths))).is_dir():
            paths.append(str(len(paths)))
    names = [""] * len(paths)
    xml = path / "OME" / "METADATA.ome.xml"
    if xml.is_file():
        try:
            root = ET.fromstring(xml.read_text(encoding="utf-8"))
            images = [e for e in root if e.tag.rsplit("}", 1)[-1] == "Image"]
            names = [(images[i].get("Name") or "") if i < len(images) else "" for i in range(len(paths))]
        except (OSError, UnicodeDecodeError, ET.ParseError):
            pass  # names are a courtesy: the images are still read, by index
    return list(zip(paths, names, strict=True))


def _bioformats2raw_stage_position(path: Path, scene: int | None) -> tuple[float | None, float | None, float | None] | None:
    """The stage position (µm) of image ``scene`` of a bioformats2raw layout at ``path``, from its OME-XML.

    The stage position (µm, as :attr:`MovieHeader.stage_position_um`) of image ``scene`` (0-based; None: the
    first) of a bioformats2raw layout at ``path``, from the first ``Plane`` of that OME Image in its
    ``OME/METADATA.ome.xml``; None for any other store (NGFF metadata hold no stage position) or where the XML gives
    none or cannot be read.
    """
    xml = path / "OME" / "METADATA.ome.xml"
    if not xml.is_file() or _bioformats2raw_series(path) is None:
        return None
    try:
        root = ET.fromstring(xml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ET.ParseError):
        return None  # information only: the image is still read
    images = [e for e in root if e.tag.rsplit("}", 1)[-1] == "Image"]
    index = scene or 0
    if index >= len(images):
        return None
    plane = _first_plane([e for pixels in images[index] if pixels.tag.rsplit("}", 1)[-1] == "Pixels"
                          for e in pixels if e.tag.rsplit("}", 1)[-1] == "Plane"])
    return _ome_stage_position(plane, xml) if plane is not None else None


def _ngff_column_label(name: str) -> str:
    """A plate column's name as it goes into a position's name: a number with two digits at least.

    ``3`` becomes ``03``, so that the wells of a plate sort as a plate reader lists them; any other name is kept
    as it is.
    """
    return f"{int(name):02d}" if name.isdigit() else name


def _ngff_well_fields(well: Path, label: str) -> list[tuple[str, str]] | None:
    """The images (fields) of the OME-Zarr well group ``well``, as (path below ``well``, name).

    The fields are the well's ``well.images``; each name is ``<label>_<field index>`` (0-based, in the order of
    the well's list; the field index alone when ``label`` is ''); None when ``well`` is no well group.
    """
    meta, meta_name = _ngff_metadata(well)
    described = meta.get("well")
    if not isinstance(described, dict):
        return None
    images = described.get("images")
    if not isinstance(images, list) or not all(isinstance(i, dict) and "path" in i for i in images):
        raise MovieError(f"{well}: an OME-Zarr well whose 'images' ({meta_name}) do not list its fields' paths")
    prefix = f"{label}_" if label else ""
    return [(str(image["path"]), f"{prefix}{index}") for index, image in enumerate(images)]


def _ngff_plate_fields(path: Path) -> list[tuple[str, str]] | None:
    """The fields of every well of the OME-Zarr plate (HCS) at ``path``, as (path in the store, name).

    In the order of the plate's ``wells`` and of each well's ``images``; None when ``path`` is no plate.

    A field is named by its well's row and column names and its index in the well (``B03_0``: row ``B``, column
    ``3``, first field; a numeric column gets two digits).  Only metadata are read: the plate's, then each well's.
    """
    meta, meta_name = _ngff_metadata(path)
    plate = meta.get("plate")
    if not isinstance(plate, dict):
        return None
    wells = plate.get("wells")
    if not isinstance(wells, list) or not all(isinstance(w, dict) and "path" in w for w in wells):
        raise MovieError(f"{path}: an OME-Zarr plate whose 'wells' ({meta_name}) do not list the wells' paths")
    rows = [str(r.get("name", "")) if isinstance(r, dict) else "" for r in plate.get("rows") or []]
    columns = [str(c.get("name", "")) if isinstance(c, dict) else "" for c in plate.get("columns") or []]
    fields: list[tuple[str, str]] = []
    for well in wells:
        well_path = str(well["path"])
        row_name, _, column_name = well_path.rpartition("/")  # NGFF: <row>/<column>
        row_index, column_index = well.get("rowIndex"), well.get("columnIndex")
        if isinstance(row_index, int) and 0 <= row_index < len(rows) and rows[row_index]:
            row_name = rows[row_index]
        if isinstance(column_index, int) and 0 <= column_index < len(columns) and columns[column_index]:
            column_name = columns[column_index]
        in_well = _ngff_well_fields(path / well_path, f"{row_name}{_ngff_column_label(column_name)}")
        if in_well is None:
            raise MovieError(f"{path}: well {well_path!r} of the OME-Zarr plate is no well group (no 'well' metadata)")
        fields += [(f"{well_path}/{field_path}", name) for field_path, name in in_well]
    if not fields:
        raise MovieError(f"{path}: an OME-Zarr plate with no fields (images) in its wells ({meta_name})")
    return fields


def _ngff_positions(path: Path) -> tuple[list[tuple[str, str]], str] | None:
    """The positions of an OME-Zarr store that holds several images, as (path in the store, name) in order.

    Also returns what holds them (said in errors); None for a store that is one image.

    Positions are the images of a bioformats2raw layout (:func:`_bioformats2raw_series`), the fields of every
    well of a plate (:func:`_ngff_plate_fields`), or the fields of one well group, named ``<row><column>_<field>``
    when the well lies in a plate (its folder ``<row>/<column>`` below the plate's), else by field index.
    """
    series = _bioformats2raw_series(path)
    if series is not None:
        return series, "bioformats2raw layout"
    fields = _ngff_plate_fields(path)
    if fields is not None:
        return fields, "OME-Zarr plate"
    in_plate = "plate" in _ngff_metadata(path.parent.parent)[0]
    fields = _ngff_well_fields(path, f"{path.parent.name}{_ngff_column_label(path.name)}" if in_plate else "")
    if fields is not None:
        if not fields:
            raise MovieError(f"{path}: an OME-Zarr well with no fields (images)")
        return fields, "OME-Zarr well"
    return None


def _ngff_scene(path: Path, scene: int | None) -> tuple[Path, str | None]:
    """The OME-Zarr image to read at ``path`` and its name.

    Position ``scene`` (0-based) of a store of several images (:func:`_ngff_positions`), such a store's only
    image, or ``path`` itself (scene 0 or None).
    """
    found = _ngff_positions(path)
    if found is None:
        _only_scene_zero(path, "ome-zarr", scene)
        return path, None
    positions, holder = found
    if scene is None:
        if len(positions) != 1:
            named = [n for _, n in positions if n]
            shown = ", ".join(repr(n) for n in named[:10]) + (", ..." if len(named) > 10 else "")
            names = f" ({shown})" if named else ""
            raise MovieError(f"{path}: {len(positions)} images (positions){names} in one {holder}; {POSITIONS_HINT}")
        return path / positions[0][0], None
    if not 0 <= scene < len(positions):
        raise MovieError(f"{path}: no position {scene}: the {holder} holds {len(positions)} image(s) "
                         f"(0 to {len(positions) - 1})")
    return path / positions[scene][0], positions[scene][1] or None


def _ngff_scale(transforms: Any) -> list[float] | None:
    """The ``scale`` of an NGFF ``coordinateTransformations`` list (one factor per axis); None when it has none."""
    for transform in transforms or []:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            return [float(v) for v in transform["scale"]]
    return None


def _ngff_image(path: Path, axes: str | None, allow_z: bool) -> _NgffImage:
    """Open the OME-Zarr (NGFF 0.4 or 0.5) image at ``path`` without reading a pixel.

    Its first ``multiscales``, its first dataset (full resolution), the axes, pixel size (µm), frame
    interval (minutes) and channel names.

    Raises
    ------
    MovieError
        No ``multiscales``, a version other than :data:`NGFF_VERSIONS`, no axes, a level that is not
        there or does not match the axes, units not known, axes that make no time-lapse.
    """
    import zarr

    meta, meta_name = _ngff_metadata(path)
    multiscales = meta.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise MovieError(f"{path}: not an OME-Zarr image: no 'multiscales' in its metadata ({meta_name})")
    ms = multiscales[0]
    version = meta.get("version", ms.get("version"))  # 0.5: next to multiscales; 0.4: inside it
    if str(version) not in NGFF_VERSIONS:
        given = f"NGFF version {version!r}" if version is not None else "no NGFF version"
        raise MovieError(f"{path}: {given} in {meta_name}; supported: {', '.join(NGFF_VERSIONS)}")
    file_axes = ms.get("axes")
    if not isinstance(file_axes, list) or not file_axes:
        raise MovieError(f"{path}: no 'axes' in multiscales ({meta_name}); NGFF {version} names them (t, c, z, y, x)")
    names = [str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in file_axes]
    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets or "path" not in datasets[0]:
        raise MovieError(f"{path}: no 'datasets' in multiscales ({meta_name}): no resolution level to read")
    level_path = str(datasets[0]["path"])
    if not any((path / level_path / marker).is_file() for marker in (".zarray", "zarr.json")):
        raise MovieError(f"{path}: level {level_path!r} (the first dataset of multiscales) not found")
    try:
        level = zarr.open_array(str(path / level_path), mode="r")
    except Exception as exc:  # zarr's errors for a broken array have no common base class
        raise MovieError(f"{path}: level {level_path!r} is not a readable Zarr array ({_one_line(exc)})") from exc
    if level.ndim != len(names):
        raise MovieError(f"{path}: level {level_path!r} has {level.ndim} dimensions but multiscales names "
                         f"{len(names)} axes ({''.join(names)})")
    use_axes = axes or "".join(names).upper()
    t, c, z, y, x = tczyx_shape(tuple(level.shape), use_axes, path)
    if z != 1 and not allow_z:
        raise MovieError(z_stack_refusal(path, z))
    # the physical size of a level-0 pixel: the dataset's scale times the multiscales' own, if any
    scale = _ngff_scale(datasets[0].get("coordinateTransformations")) or [1.0] * len(names)
    overall = _ngff_scale(ms.get("coordinateTransformations")) or [1.0] * len(names)
    sizes: dict[str, float | None] = {}
    for i, entry in enumerate(file_axes):
        unit = entry.get("unit") if isinstance(entry, dict) else None
        name = names[i].lower()
        if name not in ("t", "z", "y", "x") or unit is None or len(scale) != len(names):
            continue
        unit = NGFF_UNIT_SYMBOLS.get(str(unit), str(unit))
        where = f"unit of axis {names[i]!r} in {meta_name}"
        value = scale[i] * (overall[i] if len(overall) == len(names) else 1.0)
        if name == "t":
            sizes[name] = _in_unit(value, unit, OME_TIME_TO_MIN, "OME-Zarr time unit", where, path)
        elif name == "z":
            sizes[name] = _information(
                lambda v=value, u=unit, w=where: _in_unit(v, u, OME_LENGTH_TO_UM, "OME-Zarr length unit", w, path))
        else:
            sizes[name] = _in_unit(value, unit, OME_LENGTH_TO_UM, "OME-Zarr length unit", where, path)
    omero = meta.get("omero") if isinstance(meta.get("omero"), dict) else {}
    labels = [ch.get("label") for ch in omero.get("channels", []) if isinstance(ch, dict)]
    # omero is display metadata, often left as a viewer wrote it: labels that do not name every channel once
    # are no names (ch0, ch1, ... or the sheet's), not a reason to refuse the movie
    channel_names = tuple(str(label) for label in labels) if len(labels) == c and all(labels) else ()
    pixel_x = sizes.get("x") or sizes.get("y")
    header = MovieHeader((t, c, y, x), np.dtype(level.dtype), use_axes, pixel_x, sizes.get("t"), channel_names,
                         sizes.get("y") or pixel_x, z_planes=z, pixel_size_z_um=sizes.get("z"))
    return _NgffImage(header, level)
