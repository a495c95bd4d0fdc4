"""TrackMate XML files of tracking results: the model file Fiji's TrackMate saves and loads.

:func:`write_trackmate_xml` writes a :class:`cellpipe.export.TrackGraph` (the graph behind ``tracks.geff``) as
TrackMate's model format (``TmXmlWriter`` / ``TmXmlReader`` in TrackMate 7):

* ``<Model spatialunits="µm" timeunits="min">``: positions in µm, times in minutes.
* ``<FeatureDeclarations>``: every spot, edge and track feature written, with its TrackMate dimension
  (``POSITION``, ``LENGTH``, ``AREA``, ``TIME``, ``VELOCITY``, ``INTENSITY``, ``NONE``) and ``isint``.
* ``<AllSpots>``: one ``<Spot>`` per tracked object per frame, grouped in ``<SpotsInFrame>`` (every frame of the
  movie, empty ones too).  ``ID`` is the geff node id; ``POSITION_X``/``POSITION_Y`` the centroid in µm
  (pixel index x pixel size, so the centre of pixel (0, 0) is at 0 µm, TrackMate's convention);
  ``POSITION_Z`` the centroid's z in µm for the tracks of a 3-D movie, else 0; ``POSITION_T`` frame x frame
  interval (minutes); ``FRAME`` the 0-based frame;
  ``RADIUS`` the equivalent-circle radius ``sqrt(area_um2 / pi)`` (µm); ``QUALITY`` 1 (cellpipe has no
  per-object detection score); ``VISIBILITY`` 1; ``CELLPIPE_TRACK_ID`` cellpipe's track id (``tracks.parquet``,
  the pixel value in ``labels/tracks``), ``GENERATION``, ``LABEL`` (``labels/cells``) and every numeric
  measurement of ``cells.parquet`` (``AREA`` µm², ``PERIMETER`` µm, the others by their column name in
  capitals, e.g. ``MEAN_INTENSITY_NUCLEI``).
* ``<AllTracks>``: a TrackMate track is a connected lineage, so a mother and her daughters are one
  ``<Track>``, ``TRACK_ID`` = cellpipe's ``lineage_id`` (the track id of the lineage's root).  Its ``<Edge>``
  elements are the links within cellpipe tracks (across frame gaps) and the division edges from a mother's
  last object to each daughter's first (``DIVISION`` 1), each pointing forward in time, with
  ``EDGE_TIME`` (minutes), ``DISPLACEMENT`` (µm) and ``SPEED`` (µm/min).  Track features: ``NUMBER_SPOTS``,
  ``NUMBER_GAPS`` (edges spanning more than one frame), ``NUMBER_SPLITS`` (spots with more than one
  successor), ``TRACK_START``, ``TRACK_STOP``, ``TRACK_DURATION`` (minutes).  As TrackMate does, a lineage
  of a single object (no edge) has no ``<Track>``: its spot is in ``<AllSpots>`` only.
* ``<FilteredTracks>``: every track (nothing is filtered).
* ``<Settings>``: ``<ImageData>`` (the image file, its size in pixels and frames, pixel size in µm, frame
  interval in minutes), the full frame as ``<BasicSettings>``, TrackMate's manual detector and manual tracker
  (the keys TrackMate uses for spots and links it did not compute), no filters, no analyzers.
* ``<GUIState state="ConfigureViews">``: TrackMate opens on its display panel.  No ``<DisplaySettings>``:
  TrackMate then uses the user's defaults.

A missing measurement (a tracked object without a ``cells.parquet`` row, or NaN there) is written ``NaN``
for a decimal feature, as TrackMate writes NaN; an integer feature that is missing is left out of that spot.

The file is written as a stream, one frame of spots and one track at a time, under a temporary name and
renamed when complete: memory holds the graph's arrays and one frame's strings, never the document.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from cellpipe.io.atomic import atomic_path

if TYPE_CHECKING:
    from cellpipe.export import TrackGraph

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

__all__ = ["FORMAT_VERSION", "SPACE_UNIT", "TIME_UNIT", "TrackMateImage", "spot_feature_keys", "write_trackmate_xml"]

FORMAT_VERSION = "7.11.1"
"""The TrackMate version whose file format this follows (the ``version`` attribute of the root element).

TrackMate reads files of version 2.1 and later with the same reader; the version decides only which reader."""

SPACE_UNIT = "µm"
"""The model's ``spatialunits``: positions, radii and lengths are in µm."""

TIME_UNIT = "min"
"""The model's ``timeunits``: ``POSITION_T`` and times are in minutes."""

#: TrackMate's key for features it did not compute: spots and links from another program.
MANUAL_DETECTOR = "MANUAL_DETECTOR"
MANUAL_TRACKER = "MANUAL_TRACKER"

#: graph node properties that are not spot features: the axes and pixel columns become POSITION_*,
#: lineage_id becomes the track's TRACK_ID.
_NOT_SPOT_FEATURES = ("t", "y", "x", "frame", "y_px", "x_px", "track_id", "lineage_id")

#: cellpipe columns written under TrackMate's own feature key, with the same meaning and unit.
_RENAMED = {"area_um2": "AREA", "perimeter_um": "PERIMETER", "track_id": "CELLPIPE_TRACK_ID"}

_DIMENSION_OF_UNIT = {"micrometer^2": "AREA", "micrometer": "LENGTH", "minute": "TIME"}

#: feature names (what TrackMate's tables and menus show) where the column name is not one.
_NAMES = {"area_um2": "Area", "perimeter_um": "Perimeter", "label": "Segmentation label", "generation": "Generation"}


@dataclass(frozen=True)
class TrackMateImage:
    """The image the spots lie on, as TrackMate's ``<ImageData>`` names it.

    Attributes
    ----------
    width_px : int
        Frame width (x) in px.
    height_px : int
        Frame height (y) in px.
    n_frames : int
        Frames of the movie; every frame gets a ``<SpotsInFrame>``.
    filename : str
        Image file name, relative to ``folder``; TrackMate opens it with ImageJ when it can, else shows
        the tracks over a blank image of the same size.
    folder : str
        Folder of the image; empty: the folder of the XML file.
    n_slices : int
        z-planes per stack (1: a 2-D movie).
    voxel_depth_um : float
        Step between z-planes in µm; TrackMate's ``voxeldepth``.
    """

    width_px: int
    height_px: int
    n_frames: int
    filename: str = ""
    folder: str = ""
    n_slices: int = 1
    voxel_depth_um: float = 1.0


@dataclass(frozen=True)
class _Feature:
    """One TrackMate feature declaration: key, names shown, dimension (``POSITION``, ``TIME``, ...) and whether it is an integer."""

    key: str
    name: str
    shortname: str
    dimension: str
    isint: bool


def _feature_key(column: str) -> str:
    """A TrackMate feature key for a cellpipe column.

    Its own key where TrackMate has one with the same meaning, else the name in capitals with anything but
    letters, digits and ``_`` as ``_`` (keys are XML attribute names).
    """
    if column in _RENAMED:
        return _RENAMED[column]
    key = re.sub(r"[^A-Za-z0-9_]", "_", column).upper()
    return key if re.match(r"[A-Z_]", key) else f"F_{key}"


def _dimension(column: str, unit: str | None) -> str:
    """TrackMate's dimension of a column from its geff unit, ``INTENSITY`` for intensity columns, else ``NONE``."""
    if unit in _DIMENSION_OF_UNIT:
        return _DIMENSION_OF_UNIT[unit]
    if "intensity" in column:
        return "INTENSITY"
    return "NONE"


_SPOT_BASE = (
    _Feature("QUALITY", "Quality", "Quality", "QUALITY", False),
    _Feature("POSITION_X", "X", "X", "POSITION", False),
    _Feature("POSITION_Y", "Y", "Y", "POSITION", False),
    _Feature("POSITION_Z", "Z", "Z", "POSITION", False),
    _Feature("POSITION_T", "T", "T", "TIME", False),
    _Feature("FRAME", "Frame", "Frame", "NONE", True),
    _Feature("RADIUS", "Radius", "R", "LENGTH", False),
    _Feature("VISIBILITY", "Visibility", "Visibility", "NONE", True),
    _Feature("CELLPIPE_TRACK_ID", "cellpipe track id", "cellpipe track", "NONE", True),
)

_EDGE_FEATURES = (
    _Feature("SPOT_SOURCE_ID", "Source spot ID", "Source ID", "NONE", True),
    _Feature("SPOT_TARGET_ID", "Target spot ID", "Target ID", "NONE", True),
    _Feature("EDGE_TIME", "Edge time", "Edge T", "TIME", False),
    _Feature("DISPLACEMENT", "Displacement", "Disp.", "LENGTH", False),
    _Feature("SPEED", "Speed", "Speed", "VELOCITY", False),
    _Feature("DIVISION", "Division (mother to daughter)", "Division", "NONE", True),
)

_TRACK_FEATURES = (
    _Feature("TRACK_INDEX", "Track index", "Index", "NONE", True),
    _Feature("TRACK_ID", "Track ID", "ID", "NONE", True),
    _Feature("NUMBER_SPOTS", "Number of spots in track", "N spots", "NONE", True),
    _Feature("NUMBER_GAPS", "Number of gaps", "N gaps", "NONE", True),
    _Feature("NUMBER_SPLITS", "Number of split events", "N splits", "NONE", True),
    _Feature("TRACK_START", "Track start", "Track start", "TIME", False),
    _Feature("TRACK_STOP", "Track stop", "Track stop", "TIME", False),
    _Feature("TRACK_DURATION", "Track duration", "Duration", "TIME", False),
)


def _measured_features(graph: TrackGraph) -> list[tuple[str, _Feature]]:
    """(graph node property, feature) of every node property written as a spot feature besides the base ones."""
    taken = {f.key for f in _SPOT_BASE}
    out = []
    for column, values in graph.node_props.items():
        if column in _NOT_SPOT_FEATURES:
            continue
        key = _feature_key(column)
        if key in taken:
            raise ValueError(f"TrackMate export: column {column!r} would be written as feature {key}, which is taken")
        taken.add(key)
        isint = values.dtype.kind in "iub"
        name = _NAMES.get(column, column)
        out.append((column, _Feature(key, name, column, _dimension(column, graph.units.get(column)), isint)))
    return out


def spot_feature_keys(graph: TrackGraph) -> dict[str, str]:
    """The spot features written besides TrackMate's own, and the graph node property each holds.

    Parameters
    ----------
    graph : cellpipe.export.TrackGraph
        The graph to be written.

    Returns
    -------
    dict of str to str
        TrackMate spot feature key -> the graph node property (cellpipe column) it holds, for every
        feature beyond TrackMate's position, frame, radius, quality and visibility.

    Raises
    ------
    ValueError
        When two columns would be written under one feature key.
    """
    return {"CELLPIPE_TRACK_ID": "track_id", **{f.key: column for column, f in _measured_features(graph)}}


def _number(value: float) -> str:
    """A decimal as Java's ``Double.valueOf`` reads it (``NaN``, ``Infinity``; Python writes ``nan``, ``inf``)."""
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _attrs(pairs: dict[str, str]) -> str:
    """``pairs`` as XML attributes, each value quoted and escaped."""
    return " ".join(f"{k}={quoteattr(v)}" for k, v in pairs.items())


def _declarations(out: TextIO, tag: str, features: list[_Feature] | tuple[_Feature, ...]) -> None:
    """Write the ``<tag>`` block of feature declarations (spot, edge or track features) to ``out``."""
    out.write(f"      <{tag}>\n")
    for f in features:
        out.write("        <Feature " + _attrs({"feature": f.key, "name": f.name, "shortname": f.shortname,
                                                 "dimension": f.dimension, "isint": "true" if f.isint else "false"}) + " />\n")
    out.write(f"      </{tag}>\n")


def _radii(graph: TrackGraph) -> np.ndarray:
    """Equivalent-circle (3-D: equivalent-sphere) radius (µm) per node; TrackMate needs a radius on every spot.

    Equivalent-circle radius (µm) per node, ``sqrt(area_um2 / pi)`` (3-D cells: the equivalent-sphere radius,
    ``(3 volume_um3 / (4 pi))^(1/3)``); a node without an area gets the median radius of the others (the pixel
    size when no node has one): TrackMate needs a radius on every spot.
    """
    n = len(graph.node_ids)
    column = "area_um2" if "area_um2" in graph.node_props or "volume_um3" not in graph.node_props else "volume_um3"
    size = graph.node_props.get(column)
    if size is None:
        return np.full(n, graph.pixel_size_um)
    if column == "area_um2":
        radius = np.sqrt(np.asarray(size, dtype=np.float64) / np.pi)
    else:
        radius = np.cbrt(3.0 * np.asarray(size, dtype=np.float64) / (4.0 * np.pi))
    missing = ~np.isfinite(radius)
    if column in graph.node_missing:
        missing |= graph.node_missing[column]
    if missing.any():
        fill = float(np.median(radius[~missing])) if (~missing).any() else graph.pixel_size_um
        logger.warning("TrackMate export: %d spot(s) without an area get the radius %.3g µm", int(missing.sum()), fill)
        radius = np.where(missing, fill, radius)
    return radius


def _lineage_order(graph: TrackGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lineage id per edge, edge order grouped by lineage then source frame, lineage ids with edges, sorted)."""
    lineage = np.asarray(graph.node_props["lineage_id"], dtype=np.int64)
    frame = np.asarray(graph.node_props["frame"], dtype=np.int64)
    edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
    edge_lineage = lineage[edges[:, 0]] if len(edges) else np.zeros(0, np.int64)
    if len(edges) and np.any(lineage[edges[:, 1]] != edge_lineage):
        raise ValueError("TrackMate export: an edge joins two lineages (lineage_id must follow the edges)")
    order = np.lexsort((edges[:, 1], edges[:, 0], frame[edges[:, 0]], edge_lineage)) if len(edges) else np.zeros(0, np.int64)
    return edge_lineage, order, np.unique(edge_lineage)


def _spot_lines(graph: TrackGraph, nodes: np.ndarray, radius: np.ndarray,
                measured: list[tuple[str, _Feature]]) -> Iterator[str]:
    """The ``<Spot>`` lines of ``nodes`` (one frame), formatted column by column."""
    props = graph.node_props
    ids = graph.node_ids[nodes].tolist()
    columns: list[tuple[str, list[str | None]]] = [
        ("QUALITY", ["1.0"] * len(nodes)),
        ("POSITION_X", [_number(v) for v in np.asarray(props["x"], np.float64)[nodes].tolist()]),
        ("POSITION_Y", [_number(v) for v in np.asarray(props["y"], np.float64)[nodes].tolist()]),
        ("POSITION_Z", [_number(v) for v in np.asarray(props["z"], np.float64)[nodes].tolist()]
                       if "z" in props else ["0.0"] * len(nodes)),
        ("POSITION_T", [_number(v) for v in np.asarray(props["t"], np.float64)[nodes].tolist()]),
        ("FRAME", [str(v) for v in np.asarray(props["frame"], np.int64)[nodes].tolist()]),
        ("RADIUS", [_number(v) for v in radius[nodes].tolist()]),
        ("VISIBILITY", ["1"] * len(nodes)),
        ("CELLPIPE_TRACK_ID", [str(v) for v in np.asarray(props["track_id"], np.int64)[nodes].tolist()]),
    ]
    for column, feature in measured:
        values = np.asarray(props[column])[nodes]
        missing = graph.node_missing.get(column)
        absent = missing[nodes] if missing is not None else np.zeros(len(nodes), dtype=bool)
        if feature.isint:
            text: list[str | None] = [None if a else str(int(v)) for v, a in zip(values.tolist(), absent.tolist())]
        else:
            text = ["NaN" if a else _number(float(v)) for v, a in zip(values.tolist(), absent.tolist())]
        columns.append((feature.key, text))
    tracks = columns[8][1]
    frames = columns[5][1]
    for i, node_id in enumerate(ids):
        parts = [f'ID="{node_id}" name="track {tracks[i]} frame {frames[i]}"']
        parts += [f'{key}="{text[i]}"' for key, text in columns if text[i] is not None]
        yield "        <Spot " + " ".join(parts) + " />\n"


def _edge_and_track_values(graph: TrackGraph) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per edge: EDGE_TIME (min), DISPLACEMENT (µm), SPEED (µm/min), DIVISION (0/1); and the frame step per edge."""
    edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
    t = np.asarray(graph.node_props["t"], np.float64)
    y = np.asarray(graph.node_props["y"], np.float64)
    x = np.asarray(graph.node_props["x"], np.float64)
    frame = np.asarray(graph.node_props["frame"], np.int64)
    s, d = edges[:, 0], edges[:, 1]
    displacement = np.hypot(y[d] - y[s], x[d] - x[s])
    dt = t[d] - t[s]
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, displacement / np.where(dt > 0, dt, 1.0), np.nan)
    division = np.asarray(graph.edge_props.get("division", np.zeros(len(edges), bool)), dtype=bool)
    values = {"EDGE_TIME": (t[s] + t[d]) / 2, "DISPLACEMENT": displacement, "SPEED": speed,
              "DIVISION": division.astype(np.int64)}
    return values, frame[d] - frame[s]


def write_trackmate_xml(path: PathLike, graph: TrackGraph, image: TrackMateImage, *, log: str = "") -> None:
    """Write a track graph as a TrackMate XML file (e.g. ``results/<sample>/tracks.trackmate.xml``).

    Parameters
    ----------
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    graph : cellpipe.export.TrackGraph
        Nodes with ``t`` (minutes), ``y``, ``x`` (µm), ``frame`` (0-based), ``track_id``,
        ``lineage_id`` and any measurements; edges pointing forward in time
        (:func:`cellpipe.export.to_track_graph`); pixel size (µm) and frame interval (minutes).
    image : TrackMateImage
        What ``<ImageData>`` says: frame size (px), frames, and the image file.
    log : str
        Text of the file's ``<Log>`` (what made it); a line saying cellpipe wrote it is always first.

    Raises
    ------
    ValueError
        A feature key would be written twice, an edge joins two lineages, a node lies outside the
        movie's frames, or the calibration is not positive.
    """
    from cellpipe import __version__

    px, dt_min = float(graph.pixel_size_um), float(graph.frame_interval_min)
    if not (math.isfinite(px) and px > 0 and math.isfinite(dt_min) and dt_min > 0):
        raise ValueError(f"TrackMate export: pixel size {px!r} µm and frame interval {dt_min!r} min must be positive")
    frame = np.asarray(graph.node_props["frame"], np.int64)
    if frame.size and (frame.min() < 0 or frame.max() >= image.n_frames):
        raise ValueError(f"TrackMate export: objects in frames {int(frame.min())}..{int(frame.max())}, "
                         f"but the movie has {image.n_frames} frames")
    measured = _measured_features(graph)
    spot_features = [*_SPOT_BASE, *(f for _, f in measured)]
    radius = _radii(graph)
    edge_values, steps = _edge_and_track_values(graph)
    edge_lineage, edge_order, lineages = _lineage_order(graph)
    edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
    t = np.asarray(graph.node_props["t"], np.float64)
    node_order = np.lexsort((graph.node_ids, frame))
    frame_bounds = np.searchsorted(frame[node_order], np.arange(image.n_frames + 1))

    header = f"Written by cellpipe {__version__} (not by TrackMate): tracks, lineages and per-cell measurements, " \
             f"positions in {SPACE_UNIT}, times in {TIME_UNIT}."
    log_text = header + ("\n" + log if log else "")
    image_data = {
        "filename": image.filename, "folder": image.folder, "width": str(int(image.width_px)),
        "height": str(int(image.height_px)), "nslices": str(int(image.n_slices)),
        "nframes": str(int(image.n_frames)), "pixelwidth": _number(px), "pixelheight": _number(px),
        "voxeldepth": _number(float(image.voxel_depth_um)), "timeinterval": _number(dt_min),
    }
    median_radius = float(np.median(radius)) if radius.size else px
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(f'<TrackMate version="{FORMAT_VERSION}">\n')
        out.write(f"  <Log>{escape(log_text)}</Log>\n")
        out.write("  <Model " + _attrs({"spatialunits": SPACE_UNIT, "timeunits": TIME_UNIT}) + ">\n")
        out.write("    <FeatureDeclarations>\n")
        _declarations(out, "SpotFeatures", spot_features)
        _declarations(out, "EdgeFeatures", _EDGE_FEATURES)
        _declarations(out, "TrackFeatures", _TRACK_FEATURES)
        out.write("    </FeatureDeclarations>\n")

        out.write(f'    <AllSpots nspots="{len(graph.node_ids)}">\n')
        for f in range(image.n_frames):
            nodes = node_order[frame_bounds[f]:frame_bounds[f + 1]]
            if not len(nodes):
                out.write(f'      <SpotsInFrame frame="{f}" />\n')
                continue
            out.write(f'      <SpotsInFrame frame="{f}">\n')
            out.writelines(_spot_lines(graph, nodes, radius, measured))
            out.write("      </SpotsInFrame>\n")
        out.write("    </AllSpots>\n")

        out.write("    <AllTracks>\n" if len(lineages) else "    <AllTracks />\n")
        node_lineage = np.asarray(graph.node_props["lineage_id"], np.int64)
        spots_per_lineage = dict(zip(*np.unique(node_lineage, return_counts=True)))
        sorted_lineage = edge_lineage[edge_order]
        bounds = np.searchsorted(sorted_lineage, np.append(lineages, np.iinfo(np.int64).max))
        for index, lineage in enumerate(lineages.tolist()):
            these = edge_order[bounds[index]:bounds[index + 1]]
            members = np.unique(edges[these].ravel())
            sources, successors = np.unique(edges[these, 0], return_counts=True)
            start, stop = float(t[members].min()), float(t[members].max())
            track = {
                "name": f"Track_{lineage}", "TRACK_ID": str(lineage), "TRACK_INDEX": str(index),
                "NUMBER_SPOTS": str(int(spots_per_lineage[lineage])), "NUMBER_GAPS": str(int((steps[these] > 1).sum())),
                "NUMBER_SPLITS": str(int((successors > 1).sum())), "TRACK_START": _number(start),
                "TRACK_STOP": _number(stop), "TRACK_DURATION": _number(stop - start),
            }
            out.write("      <Track " + _attrs(track) + ">\n")
            for e in these.tolist():
                out.write(
                    f'        <Edge SPOT_SOURCE_ID="{int(graph.node_ids[edges[e, 0]])}" '
                    f'SPOT_TARGET_ID="{int(graph.node_ids[edges[e, 1]])}" '
                    f'EDGE_TIME="{_number(float(edge_values["EDGE_TIME"][e]))}" '
                    f'DISPLACEMENT="{_number(float(edge_values["DISPLACEMENT"][e]))}" '
                    f'SPEED="{_number(float(edge_values["SPEED"][e]))}" '
                    f'DIVISION="{int(edge_values["DIVISION"][e])}" />\n'
                )
            out.write("      </Track>\n")
        if len(lineages):
            out.write("    </AllTracks>\n")
        if len(lineages):
            out.write("    <FilteredTracks>\n")
            out.writelines(f'      <TrackID TRACK_ID="{lineage}" />\n' for lineage in lineages.tolist())
            out.write("    </FilteredTracks>\n")
        else:
            out.write("    <FilteredTracks />\n")
        out.write("  </Model>\n")

        out.write("  <Settings>\n")
        out.write("    <ImageData " + _attrs(image_data) + " />\n")
        out.write("    <BasicSettings " + _attrs({
            "xstart": "0", "xend": str(max(int(image.width_px) - 1, 0)), "ystart": "0",
            "yend": str(max(int(image.height_px) - 1, 0)), "zstart": "0", "zend": "0", "tstart": "0",
            "tend": str(max(int(image.n_frames) - 1, 0))}) + " />\n")
        out.write("    <DetectorSettings " + _attrs({"DETECTOR_NAME": MANUAL_DETECTOR, "RADIUS": _number(median_radius)}) + " />\n")
        out.write('    <InitialSpotFilter feature="QUALITY" value="0.0" isabove="true" />\n')
        out.write("    <SpotFilterCollection />\n")
        out.write("    <TrackerSettings " + _attrs({"TRACKER_NAME": MANUAL_TRACKER}) + " />\n")
        out.write("    <TrackFilterCollection />\n")
        out.write("    <AnalyzerCollection>\n      <SpotAnalyzers />\n      <EdgeAnalyzers />\n      <TrackAnalyzers />\n"
                  "    </AnalyzerCollection>\n")
        out.write("  </Settings>\n")
        out.write('  <GUIState state="ConfigureViews" />\n')
        out.write("</TrackMate>\n")
    logger.info("wrote TrackMate XML %s: %d spots, %d edges in %d tracks", Path(path), len(graph.node_ids), len(edges),
                len(lineages))
