"""Tracking results in formats other tools read: Cell Tracking Challenge (CTC), napari and geff.

The functions are pure: they take the outputs of :func:`cellpipe.track.track_cells`
(the ``tracks`` table, one row per object per frame, and the track-relabelled
``(T, Y, X)`` mask movie), and for geff :func:`cellpipe.measure.measure_cells`' table, and
return arrays and tables; writing them is :func:`cellpipe.steps.export.export_tracks_step`'s
job.  Frames are 0-based indices; positions are in pixels, and in µm and minutes where a
column or property says so (computed from the image's pixel size and frame interval).

CTC (:func:`to_ctc`)
    The CTC format requires every track to be present in *every* frame from its first
    to its last frame.  cellpipe tracks may have frame gaps (btrack closes gaps of a few
    frames), so each track is split into gap-free *segments*.  Each segment gets its own
    CTC label (1, 2, ... in the order of track id, then first frame); a segment after the
    first has the previous segment of the same track as its parent (the CTC convention for
    gaps), and a track's first segment has the *last* segment of the cellpipe parent track
    as its parent.  :func:`ctc_segments` gives the mapping from CTC label back to the
    cellpipe ``track_id`` (``ctc_segments.tsv`` in the workflow).

    CTC masks are uint16 by the challenge's convention, which holds 65535 labels: a dense
    movie (cells x frame gaps over the whole movie) can need more.  Masks are then uint32
    (:func:`ctc_mask_dtype`), every frame of the movie the same: py-ctcmetrics and traccuracy
    read them (traccuracy stacks the frames in the first frame's dtype, so a movie must not mix
    the two); the CTC's own Java tools expect 16-bit masks.  The report says which was written.

napari (:func:`to_napari_tracks`)
    napari's Tracks layer takes an ``(N, 4)`` array of ``track_id, t, y, x`` rows (sorted by
    track id, then t) and a ``graph`` dict mapping a track id to the list of its parent track
    ids.  The workflow writes them as ``tracks_napari.csv`` and ``tracks_napari_graph.json``
    (JSON keys are strings).  The CSV has the pixel columns ``track_id,t,y,x`` (t in frames,
    y and x in pixels, as always) followed by the same positions in physical units,
    ``t_min,y_um,x_um`` (frame x frame interval, pixel x pixel size, from the image's own
    metadata).  The OME-Zarr image (``results/<sample>/image.ome.zarr``, opened with
    napari-ome-zarr) is scaled to minutes and µm, so give napari the physical columns::

        import json
        import napari
        import pandas as pd

        df = pd.read_csv("results/<sample>/tracks_napari.csv")
        with open("results/<sample>/tracks_napari_graph.json") as f:
            graph = {int(k): v for k, v in json.load(f).items()}
        viewer = napari.Viewer()
        viewer.open("results/<sample>/image.ome.zarr", plugin="napari-ome-zarr")
        viewer.add_tracks(df[["track_id", "t_min", "y_um", "x_um"]].to_numpy(), graph=graph, name="tracks")
        napari.run()

    or give the pixel columns with the image's scale, ``viewer.add_tracks(df[["track_id", "t", "y", "x"]]
    .to_numpy(), graph=graph, scale=(frame_interval_min, pixel_size_um, pixel_size_um))``.  The pixel
    columns alone (scale 1) match the image only when it too is added with scale 1.

geff (:func:`to_track_graph`, written by :func:`cellpipe.io.geff.write_track_geff`)
    The graph exchange format of the tracking tools (https://liveimagetrackingtools.org/geff):
    one node per object per frame, an edge from each object to the next object of its track
    (across frame gaps) and from a mother's last object to each daughter's first.  Node
    properties: ``t`` (minutes), ``y``, ``x`` (µm; the three axes, with their units),
    ``frame``, ``y_px``, ``x_px``, ``track_id`` (cellpipe's), ``lineage_id`` (track id of the
    lineage's root), ``generation``, ``label`` (segmentation label in ``labels/cells``) and
    every per-cell measurement of ``cells.parquet`` (``area_um2``, ``perimeter_um``,
    intensities, ...).  Edge property ``division`` (True for mother -> daughter).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.io.ctc import TRACK_COLUMNS as CTC_TRACK_COLUMNS

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_CTC_LABEL",
    "MAX_CTC_LABEL_UINT32",
    "NAPARI_COLUMNS",
    "NAPARI_COLUMNS_3D",
    "NAPARI_PHYSICAL_COLUMNS",
    "NAPARI_PIXEL_COLUMNS",
    "SEGMENT_COLUMNS",
    "TrackGraph",
    "ctc_mask_dtype",
    "ctc_segments",
    "iter_ctc_frames",
    "to_ctc",
    "to_napari_tracks",
    "to_track_graph",
]

MAX_CTC_LABEL = int(np.iinfo(np.uint16).max)
"""Largest CTC label of a uint16 mask (the CTC convention): up to 65535 segments the masks are uint16."""

MAX_CTC_LABEL_UINT32 = int(np.iinfo(np.uint32).max)
"""Largest CTC label at all: above :data:`MAX_CTC_LABEL` segments the masks are uint32."""


def ctc_mask_dtype(n_segments: int) -> np.dtype:
    """The dtype of CTC masks holding labels 1..``n_segments``.

    Parameters
    ----------
    n_segments : int
        Number of CTC segments (labels) in the masks.

    Returns
    -------
    numpy.dtype
        uint16 when they fit (the CTC convention, what every CTC tool reads), else uint32 (read by
        py-ctcmetrics and traccuracy).

    Raises
    ------
    ValueError
        More than :data:`MAX_CTC_LABEL_UINT32` segments.
    """
    if n_segments <= MAX_CTC_LABEL:
        return np.dtype(np.uint16)
    if n_segments <= MAX_CTC_LABEL_UINT32:
        return np.dtype(np.uint32)
    raise ValueError(f"{n_segments} CTC segments: more than the {MAX_CTC_LABEL_UINT32} labels a uint32 mask holds")

SEGMENT_COLUMNS: tuple[str, ...] = ("label", "track_id", "segment", "first_frame", "last_frame", "parent")
"""Columns of :func:`ctc_segments`: CTC ``label``, cellpipe ``track_id``, ``segment`` (0-based
index of the segment within its track), ``first_frame``/``last_frame`` (inclusive, 0-based) and
``parent`` (CTC label of the parent segment, 0 = none)."""

NAPARI_PIXEL_COLUMNS: tuple[str, ...] = ("track_id", "t", "y", "x")
"""napari Tracks data in pixels and frames: track id, frame (0-based), centroid y and x in pixels."""

NAPARI_PHYSICAL_COLUMNS: tuple[str, ...] = ("track_id", "t_min", "y_um", "x_um")
"""napari Tracks data in minutes and µm, to overlay the OME-Zarr image as napari-ome-zarr scales it."""

NAPARI_COLUMNS: tuple[str, ...] = (*NAPARI_PIXEL_COLUMNS, "t_min", "y_um", "x_um")
"""Columns of :func:`to_napari_tracks` (``tracks_napari.csv``): the pixel columns, then the physical ones."""

NAPARI_COLUMNS_3D: tuple[str, ...] = ("track_id", "t", "z", "y", "x", "t_min", "z_um", "y_um", "x_um")
"""Columns of :func:`to_napari_tracks` for the tracks of :func:`cellpipe.track.track_cells_3d` (with ``z_px`` and
``z_um``): ``z`` (centroid, voxels along z) and ``z_um`` join the 2-D columns, in napari's axis order (t, z, y, x);
the napari reader gives the Tracks layer the image's z scale as it does for y and x."""


def _require(tracks: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in tracks.columns]
    if missing:
        raise ValueError(f"tracks table lacks column(s) {missing}, needed for {what}")


def _track_parents(tracks: pd.DataFrame) -> pd.Series:
    """Parent track id per track id (0 = none); raises if a track names two parents or a missing one."""
    per_track = tracks[["track_id", "parent"]].drop_duplicates()
    dup = per_track["track_id"][per_track["track_id"].duplicated()]
    if len(dup):
        raise ValueError(f"tracks table: track(s) {sorted(set(dup.tolist()))[:10]} have more than one parent")
    parents = per_track.set_index("track_id")["parent"].sort_index()
    named = parents[parents != 0]
    unknown = named[~named.isin(parents.index)]
    if len(unknown):
        track, parent = int(unknown.index[0]), int(unknown.iloc[0])
        raise ValueError(
            f"tracks table: track {track} names parent track {parent}, which has no rows in the table"
            + (f" ({len(unknown)} tracks like this)" if len(unknown) > 1 else "")
        )
    return parents


def _objects(tracks: pd.DataFrame) -> pd.DataFrame:
    """Distinct (track_id, frame) pairs as int64, sorted by track id then frame; checks the values."""
    obj = tracks[["track_id", "frame"]]
    if obj.isna().any().any():
        raise ValueError("tracks table: track_id and frame must not be missing")
    obj = obj.astype(np.int64).drop_duplicates().sort_values(["track_id", "frame"], kind="stable")
    bad_ids = obj["track_id"][obj["track_id"] < 1]
    if len(bad_ids):
        raise ValueError(f"tracks table: track ids must be positive; got {sorted(set(bad_ids.tolist()))[:10]}")
    if (obj["frame"] < 0).any():
        raise ValueError("tracks table: frames must be >= 0")
    return obj.reset_index(drop=True)


def _segment_of_objects(obj: pd.DataFrame) -> np.ndarray:
    """0-based segment number (over the whole movie) of each row of :func:`_objects`."""
    track = obj["track_id"].to_numpy()
    frame = obj["frame"].to_numpy()
    starts = np.ones(len(obj), dtype=bool)
    starts[1:] = (track[1:] != track[:-1]) | (frame[1:] - frame[:-1] > 1)
    return np.cumsum(starts) - 1


def ctc_segments(tracks: pd.DataFrame) -> pd.DataFrame:
    """Split cellpipe tracks into gap-free CTC segments and give each a CTC label and parent.

    Parameters
    ----------
    tracks : pandas.DataFrame
        One row per object per frame with at least ``track_id`` (positive int),
        ``frame`` (0-based) and ``parent`` (track id of the mother track, 0 = none; the
        same on every row of a track), as :func:`cellpipe.track.track_cells` returns.

    Returns
    -------
    pandas.DataFrame
        One row per segment with :data:`SEGMENT_COLUMNS` (frames 0-based), sorted by label.  Labels are
        1..n in the order of (track id, first frame).  A segment after the first of its
        track has the previous segment as parent; a track's first segment has the last
        segment of the parent track as parent.  A division the CTC format cannot express
        (the mother's last frame is not before the daughter's first frame) is dropped
        (parent 0) with a warning.  Columns ``label .. parent`` restricted to
        ``label, first_frame, last_frame, parent`` form a valid CTC track table.

    Raises
    ------
    ValueError
        A column is missing; a track id is not positive or a frame negative;
        a track names two parents or a parent track that has no rows; more than
        :data:`MAX_CTC_LABEL_UINT32` segments.  More than :data:`MAX_CTC_LABEL` are fine:
        the masks are then uint32 (:func:`ctc_mask_dtype`).
    """
    _require(tracks, ("track_id", "frame", "parent"), "the CTC export")
    if tracks.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in SEGMENT_COLUMNS})
    parents = _track_parents(tracks.astype({"track_id": np.int64, "parent": np.int64}))
    obj = _objects(tracks)
    seg = _segment_of_objects(obj)
    n_segments = int(seg[-1]) + 1
    if ctc_mask_dtype(n_segments) != np.uint16:
        # a warning, not an error: stopping export_tracks would also stop the sample's provenance, report and summary
        logger.warning(
            "%d CTC segments (%d tracks split at frame gaps): more than the %d labels of a uint16 mask, "
            "so the CTC masks are uint32 (read by py-ctcmetrics and traccuracy; the CTC's Java tools expect 16-bit)",
            n_segments, obj["track_id"].nunique(), MAX_CTC_LABEL,
        )
    grouped = obj.assign(_seg=seg).groupby("_seg", sort=True)
    segments = pd.DataFrame(
        {
            "label": np.arange(1, n_segments + 1, dtype=np.int64),
            "track_id": grouped["track_id"].first().to_numpy(np.int64),
            "first_frame": grouped["frame"].min().to_numpy(np.int64),
            "last_frame": grouped["frame"].max().to_numpy(np.int64),
        }
    )
    segments["segment"] = segments.groupby("track_id", sort=False).cumcount().astype(np.int64)
    previous = np.concatenate([[0], segments["label"].to_numpy()[:-1]])
    parent = np.where(segments["segment"].to_numpy() > 0, previous, 0).astype(np.int64)

    last_segment = segments.groupby("track_id", sort=True).last()
    first_rows = np.flatnonzero(segments["segment"].to_numpy() == 0)
    for row in first_rows:
        track = int(segments.at[row, "track_id"])
        mother = int(parents.at[track])
        if mother == 0:
            continue
        mother_label, mother_last = int(last_segment.at[mother, "label"]), int(last_segment.at[mother, "last_frame"])
        first = int(segments.at[row, "first_frame"])
        if mother_last >= first:
            logger.warning(
                "track %d starts at frame %d but its parent track %d ends at frame %d: "
                "the CTC format cannot express this division; exported without a parent",
                track, first, mother, mother_last,
            )
            continue
        parent[row] = mother_label
    segments["parent"] = parent
    return segments.loc[:, list(SEGMENT_COLUMNS)].reset_index(drop=True)


def _present(frame: np.ndarray) -> np.ndarray:
    """Sorted non-zero values of a label frame."""
    if frame.dtype.kind in "ub" and frame.size and int(frame.max()) <= 4 * frame.size + 1024:
        values = np.flatnonzero(np.bincount(frame.ravel()))
    else:
        values = np.unique(frame)
    return values[values != 0].astype(np.int64)


def _relabel(frame: np.ndarray, old: np.ndarray, new: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``frame`` with value ``old[i]`` replaced by ``new[i]`` (every non-zero value is in ``old``), as ``dtype``."""
    out = np.zeros(frame.shape, dtype=dtype)
    if not len(old):
        return out
    top = int(old.max())
    if top <= 4 * frame.size + 1024:
        lut = np.zeros(top + 1, dtype=dtype)
        lut[old] = new
        return lut[frame]
    order = np.argsort(old)
    old_sorted, new_sorted = old[order], new[order].astype(dtype)
    pos = np.clip(np.searchsorted(old_sorted, frame), 0, len(old_sorted) - 1)
    return np.where(old_sorted[pos] == frame, new_sorted[pos], dtype.type(0)).astype(dtype)


def _listing(values: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in values[:10])
    return shown + (" ..." if len(values) > 10 else "")


def to_ctc(
    relabelled: Any, tracks: pd.DataFrame, segments: pd.DataFrame | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Masks and track table in the CTC format from cellpipe's track-relabelled masks and tracks.

    Parameters
    ----------
    relabelled : array_like of int
        (T, Y, X) non-negative integer masks (frames, px, px) whose pixel values are track ids
        (0 = background), e.g. ``image.ome.zarr/labels/tracks``; a NumPy array or anything with
        ``shape`` and frame indexing (Zarr), read one frame at a time.
    tracks : pandas.DataFrame
        The tracks table (``track_id``, ``frame`` 0-based, ``parent``; see :func:`ctc_segments`).
    segments : pandas.DataFrame or None
        ``ctc_segments(tracks)`` when the caller already has it (it is computed otherwise).

    Returns
    -------
    labels : numpy.ndarray
        (T, Y, X) uint16 masks (frames, px, px; uint32 above :data:`MAX_CTC_LABEL` segments:
        :func:`ctc_mask_dtype`) where each object carries the CTC label of its segment.
    ctc_tracks : pandas.DataFrame
        Columns ``label, first_frame, last_frame, parent`` (frames 0-based;
        :data:`cellpipe.io.ctc.TRACK_COLUMNS`).  Together with ``labels`` they pass
        :func:`cellpipe.io.ctc.check_ctc_tracks`: every label is present in every frame from
        its first to its last frame and a parent ends before its daughter starts.  An empty
        tracks table with an all-zero movie gives all-zero labels and an empty table.

    Raises
    ------
    ValueError
        ``relabelled`` is not 3-D integers; a frame of the tracks table is outside
        0..T-1; a track id is in a frame's mask but not in the table for that frame, or the
        other way round (the message names the frame and the track ids); and the
        errors of :func:`ctc_segments`.
    """
    frames, ctc_tracks = iter_ctc_frames(relabelled, tracks, segments)
    shape = tuple(int(s) for s in np.shape(relabelled))
    labels = None
    for t, frame in enumerate(frames):
        if labels is None:
            labels = np.zeros(shape, dtype=frame.dtype)
        labels[t] = frame
    if labels is None:  # no frames: the dtype the segments call for
        labels = np.zeros(shape, dtype=ctc_mask_dtype(len(ctc_tracks)))
    return labels, ctc_tracks


def iter_ctc_frames(
    relabelled: Any, tracks: pd.DataFrame, segments: pd.DataFrame | None = None
) -> tuple[Iterator[np.ndarray], pd.DataFrame]:
    """:func:`to_ctc` one frame at a time: an iterator of (Y, X) CTC label frames, and the CTC track table.

    Every frame has the dtype :func:`ctc_mask_dtype` gives for the number of segments (uint16, or
    uint32 for a dense movie), so a folder written from them never mixes the two.

    The table and the checks that need no pixels come at once; each frame is read from
    ``relabelled``, checked against the tracks table (the same ValueErrors as :func:`to_ctc`,
    naming the frame) and converted only when the iterator reaches it, so memory does not grow
    with the movie's length.  Every frame that passes holds exactly the CTC labels whose tracks
    span it, so the frames and the table are consistent CTC data (:func:`cellpipe.io.ctc.check_ctc_tracks`).

    Parameters
    ----------
    relabelled : array_like of int
        (T, Y, X) track-id masks (frames, px, px), as for :func:`to_ctc`.
    tracks : pandas.DataFrame
        The tracks table (``track_id``, ``frame`` 0-based, ``parent``).
    segments : pandas.DataFrame or None
        ``ctc_segments(tracks)`` when the caller already has it (it is computed otherwise).

    Returns
    -------
    frames : iterator of numpy.ndarray
        One (Y, X) CTC label frame (px) per frame of ``relabelled``, made when reached.
    ctc_tracks : pandas.DataFrame
        ``label, first_frame, last_frame, parent`` (frames 0-based).

    Raises
    ------
    ValueError
        At once for the masks' shape or type and the tracks table; while iterating, naming the
        frame, as :func:`to_ctc`.
    """
    if not hasattr(relabelled, "shape"):
        relabelled = np.asarray(relabelled)
    shape = tuple(int(s) for s in relabelled.shape)
    # (T, Z, Y, X): the stacks of track_cells_3d, exported as 3-D CTC masks (one (Z, Y, X) mask per frame)
    if len(shape) not in (3, 4):
        raise ValueError(f"relabelled masks must be (T, Y, X) or (T, Z, Y, X); got shape {shape}")
    if np.dtype(relabelled.dtype).kind not in "iub":
        raise ValueError(f"relabelled masks must be integers; got {relabelled.dtype}")
    if segments is None:
        segments = ctc_segments(tracks)
    obj = _objects(tracks) if len(tracks) else pd.DataFrame({"track_id": [], "frame": []}, dtype=np.int64)
    seg_of_obj = _segment_of_objects(obj) if len(obj) else np.zeros(0, np.int64)
    if len(segments) != (int(seg_of_obj.max()) + 1 if len(obj) else 0):
        raise ValueError(f"segments has {len(segments)} rows; ctc_segments(tracks) gives a different number")
    seg_label = segments["label"].to_numpy(np.int64)[seg_of_obj]
    dtype = ctc_mask_dtype(len(segments))
    n_frames = shape[0]
    if len(obj) and int(obj["frame"].max()) >= n_frames:
        bad = obj[obj["frame"] >= n_frames].iloc[0]
        raise ValueError(
            f"tracks table: track {int(bad['track_id'])} has a row at frame {int(bad['frame'])}, "
            f"but the masks have {n_frames} frames (0..{n_frames - 1})"
        )
    by_frame = np.argsort(obj["frame"].to_numpy(), kind="stable")
    frames_sorted = obj["frame"].to_numpy()[by_frame]
    bounds = np.searchsorted(frames_sorted, np.arange(n_frames + 1))
    track_ids = obj["track_id"].to_numpy()


    def frames() -> Iterator[np.ndarray]:
        for t in range(n_frames):
            frame = np.asarray(relabelled[t])
            rows = by_frame[bounds[t]:bounds[t + 1]]
            expected = np.sort(track_ids[rows])
            present = _present(frame)
            if present.size and present[0] < 0:
                raise ValueError(f"frame {t}: masks have negative values")
            extra = np.setdiff1d(present, expected, assume_unique=True)
            missing = np.setdiff1d(expected, present, assume_unique=True)
            if extra.size or missing.size:
                msg = f"frame {t}:"
                if extra.size:
                    msg += f" track id(s) {_listing(extra)} in the mask but not in the tracks table for this frame;"
                if missing.size:
                    msg += f" track(s) {_listing(missing)} in the tracks table but absent from the mask;"
                raise ValueError(msg.rstrip(";") + " (masks and tracks must come from the same track_cells run)")
            yield _relabel(frame, track_ids[rows], seg_label[rows], dtype)

    logger.info("CTC export: %d tracks -> %d segments (%d frame gaps) in %d frames",
                segments["track_id"].nunique(), len(segments), len(segments) - segments["track_id"].nunique(),
                n_frames)
    return frames(), segments.loc[:, list(CTC_TRACK_COLUMNS)].reset_index(drop=True)


def _check_calibration(pixel_size_um: float, frame_interval_min: float) -> None:
    for name, value in (("pixel_size_um", pixel_size_um), ("frame_interval_min", frame_interval_min)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def to_napari_tracks(
    tracks: pd.DataFrame, *, pixel_size_um: float, frame_interval_min: float
) -> tuple[pd.DataFrame, dict[int, list[int]]]:
    """The data and graph of a napari Tracks layer (``viewer.add_tracks(data, graph=graph)``).

    Parameters
    ----------
    tracks : pandas.DataFrame
        The tracks table: ``track_id``, ``frame`` (0-based), ``y_px``, ``x_px``
        (centroid, pixels) and ``parent`` (track id of the mother track, 0 = none).
    pixel_size_um : float
        Pixel size of the image (µm), as its OME-Zarr metadata gives it.
    frame_interval_min : float
        Time between frames (minutes), likewise.

    Returns
    -------
    data : pandas.DataFrame
        Columns :data:`NAPARI_COLUMNS` — ``track_id`` (int), ``t`` (frame, int), ``y``, ``x``
        (pixels, float), ``t_min`` (``t`` x frame interval), ``y_um``, ``x_um`` (``y``, ``x`` x
        pixel size) — one row per object per frame, sorted by track id then t (gaps stay gaps:
        napari draws across them).  An empty table gives an empty ``data`` with the same columns.
    graph : dict of int to list of int
        Each track id that has a parent mapped to ``[parent track id]``, in increasing track id;
        ``{}`` for an empty table.

    Raises
    ------
    ValueError
        A column is missing, a track names two parents, a parent has no rows, or the
        pixel size or frame interval is not a positive number.
    """
    _require(tracks, ("track_id", "frame", "y_px", "x_px", "parent"), "the napari export")
    _check_calibration(pixel_size_um, frame_interval_min)
    data = pd.DataFrame(
        {
            "track_id": tracks["track_id"].to_numpy(np.int64),
            "t": tracks["frame"].to_numpy(np.int64),
            "y": tracks["y_px"].to_numpy(np.float64),
            "x": tracks["x_px"].to_numpy(np.float64),
        }
    )
    three_d = "z_px" in tracks.columns and "z_um" in tracks.columns  # tracks of track_cells_3d
    if three_d:
        data.insert(2, "z", tracks["z_px"].to_numpy(np.float64))
        data["z_um"] = tracks["z_um"].to_numpy(np.float64)
    data = data.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
    data["t_min"] = data["t"].to_numpy(np.float64) * float(frame_interval_min)
    data["y_um"] = data["y"] * float(pixel_size_um)
    data["x_um"] = data["x"] * float(pixel_size_um)
    if three_d:
        data = data[list(NAPARI_COLUMNS_3D)]
    if tracks.empty:
        return data, {}
    parents = _track_parents(tracks.astype({"track_id": np.int64, "parent": np.int64}))
    graph = {int(child): [int(mother)] for child, mother in parents.items() if mother != 0}
    return data, graph


#: cells.parquet columns the graph does not copy: the node's keys and what its axes already say.
_CELL_KEY_COLUMNS = ("frame", "time_min", "label", "track_id", "centroid_y_um", "centroid_x_um")


# Column names whose ``_px`` suffix counts pixels rather than measuring a length.
_COUNT_UNITS = {"area_px": "pixel^2"}


def _unit_of(column: str) -> str | None:
    """Unit of a column from its name (cellpipe's naming).

    ``_um3``, ``_um2``, ``_um`` are µm³, µm², µm; ``_min`` minutes; ``_px`` a length in pixels, except
    ``area_px`` (a pixel count: pixel^2); ``_voxels`` a voxel count ("voxel").  Other names have no unit.
    """
    if column in _COUNT_UNITS:
        return _COUNT_UNITS[column]
    for suffix, unit in (("_um3", "micrometer^3"), ("_um2", "micrometer^2"), ("_um", "micrometer"),
                         ("_voxels", "voxel"), ("_px", "pixel"), ("_min", "minute")):
        if column.endswith(suffix):
            return unit
    return None


@dataclass
class TrackGraph:
    """A tracking result as a directed graph, ready for :func:`cellpipe.io.geff.write_track_geff`.

    Attributes
    ----------
    node_ids : numpy.ndarray
        (N,) int64, 0..N-1, in the order of (track id, frame).
    node_props : dict of str to numpy.ndarray
        Property name -> (N,) values.  ``t`` (minutes), ``y``, ``x`` (µm) are the axes.
    edges : numpy.ndarray
        (E, 2) int64 ``source, target`` node ids, each pointing forward in time.
    edge_props : dict of str to numpy.ndarray
        Property name -> (E,) values (``division``: True for mother -> daughter).
    pixel_size_um : float
        The pixel size (µm) the positions were computed with.
    frame_interval_min : float
        The frame interval (minutes) the times were computed with.
    tracklets : bool
        True when every track is a geff tracklet (a maximal unbranched path): no mother has
        exactly one daughter edge.  Only then does the geff name ``track_id`` as its tracklet property.
    node_missing : dict of str to numpy.ndarray
        Property name -> (N,) bool, True where the value is missing (NaN or NA in
        ``cells.parquet``, or a tracked object without a row there); only properties with one.
    units : dict of str to str
        Property name -> unit (OME-NGFF names where one exists).
    descriptions : dict of str to str
        Property name -> one line saying what it is.
    """

    node_ids: np.ndarray
    node_props: dict[str, np.ndarray]
    edges: np.ndarray
    edge_props: dict[str, np.ndarray]
    pixel_size_um: float
    frame_interval_min: float
    tracklets: bool = True
    node_missing: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


_DESCRIPTIONS = {
    "t": "time of the frame (frame x frame interval)",
    "y": "centroid, row axis (y_px x pixel size)",
    "x": "centroid, column axis (x_px x pixel size)",
    "frame": "0-based frame index of the movie",
    "y_px": "centroid, row axis, in pixels of the image",
    "x_px": "centroid, column axis, in pixels of the image",
    "track_id": "cellpipe track id (tracks.parquet, pixel value in image.ome.zarr/labels/tracks)",
    "lineage_id": "track id of the lineage's first track (the root of its division tree)",
    "generation": "divisions since the lineage's root track (0 for the root)",
    "label": "segmentation label of the object in this frame (image.ome.zarr/labels/cells)",
    "division": "True for a mother -> daughter edge, False for a link within a track",
    "z": "centroid, plane axis (z_px x z step)",
    "z_px": "centroid, plane axis, in voxels of the stack",
}


def to_track_graph(
    tracks: pd.DataFrame, cells: pd.DataFrame | None, *, pixel_size_um: float, frame_interval_min: float
) -> TrackGraph:
    """Tracks (and per-cell measurements) as a directed graph of objects, for the geff export.

    Parameters
    ----------
    tracks : pandas.DataFrame
        The tracks table of :func:`cellpipe.track.track_cells`: ``track_id``, ``frame`` (0-based),
        ``label``, ``y_px``, ``x_px`` (px), ``parent`` (0 = none); ``generation`` is copied when present.
    cells : pandas.DataFrame or None
        ``cells.parquet`` of :func:`cellpipe.measure.measure_cells` (one row per object per
        frame, keyed by ``frame, label``; µm, µm², minutes), whose measurements become node
        properties; None: none.
    pixel_size_um : float
        Pixel size (µm) that turns ``y_px, x_px`` into the ``y, x`` axes.
    frame_interval_min : float
        Frame interval (minutes) that turns ``frame`` into the ``t`` axis.

    Returns
    -------
    TrackGraph
        A node per row of ``tracks`` (``t`` in minutes, ``y, x`` in µm), an edge from each object to
        the next object of its track and from the mother's last object to each daughter's first.  A
        division that does not go forward in time (the daughter starts before the mother ends) gets
        no edge, with a warning, as in the CTC export; ``lineage_id`` follows the edges written.

    Raises
    ------
    ValueError
        A column is missing, a track has two rows in one frame, a track names two parents
        or a missing one, or the calibration is not positive.
    """
    _require(tracks, ("track_id", "frame", "label", "y_px", "x_px", "parent"), "the geff export")
    _check_calibration(pixel_size_um, frame_interval_min)
    table = tracks.astype({"track_id": np.int64, "frame": np.int64, "label": np.int64, "parent": np.int64})
    table = table.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
    twice = table[table.duplicated(["track_id", "frame"], keep=False)]
    if len(twice):
        row = twice.iloc[0]
        raise ValueError(f"tracks table: track {int(row['track_id'])} has {len(twice)} rows in frame "
                         f"{int(row['frame'])}; a track has one object per frame")
    n = len(table)
    track = table["track_id"].to_numpy(np.int64)
    frame = table["frame"].to_numpy(np.int64)
    node_ids = np.arange(n, dtype=np.int64)

    same_track = track[1:] == track[:-1] if n else np.zeros(0, dtype=bool)
    links = np.stack([node_ids[:-1][same_track], node_ids[1:][same_track]], axis=1) if n else np.zeros((0, 2), np.int64)

    parents = _track_parents(table) if n else pd.Series(dtype=np.int64)
    first_node = pd.Series(node_ids, index=track).groupby(level=0).first()
    last_node = pd.Series(node_ids, index=track).groupby(level=0).last()
    divisions: list[tuple[int, int]] = []
    mother_of: dict[int, int] = {}
    for child, mother in parents.items():
        if mother == 0:
            continue
        mother_end, child_start = int(last_node[mother]), int(first_node[child])
        if frame[mother_end] >= frame[child_start]:
            logger.warning(
                "track %d starts at frame %d but its parent track %d ends at frame %d: "
                "exported to geff without the division edge",
                int(child), int(frame[child_start]), int(mother), int(frame[mother_end]),
            )
            continue
        divisions.append((mother_end, child_start))
        mother_of[int(child)] = int(mother)
    division_edges = np.array(divisions, dtype=np.int64).reshape(-1, 2)
    edges = np.concatenate([links.astype(np.int64), division_edges])
    is_division = np.concatenate([np.zeros(len(links), dtype=bool), np.ones(len(division_edges), dtype=bool)])

    def root(t: int) -> int:
        while t in mother_of:
            t = mother_of[t]
        return t

    roots = {int(t): root(int(t)) for t in first_node.index}
    daughters = pd.Series(list(mother_of.values()), dtype=np.int64).value_counts()
    single = sorted(int(m) for m, k in daughters.items() if k == 1)
    if single:
        logger.info("geff export: track(s) %s have one daughter, so track ids are not geff tracklets there",
                    single[:10])

    props: dict[str, np.ndarray] = {
        "t": frame.astype(np.float64) * float(frame_interval_min),
        "y": table["y_px"].to_numpy(np.float64) * float(pixel_size_um),
        "x": table["x_px"].to_numpy(np.float64) * float(pixel_size_um),
        "frame": frame,
        "y_px": table["y_px"].to_numpy(np.float64),
        "x_px": table["x_px"].to_numpy(np.float64),
        "track_id": track,
        "lineage_id": np.array([roots[int(t)] for t in track], dtype=np.int64),
        "label": table["label"].to_numpy(np.int64),
    }
    if "generation" in table.columns:
        props["generation"] = table["generation"].to_numpy(np.int64)
    units = {"t": "minute", "y": "micrometer", "x": "micrometer", "frame": "frame", "y_px": "pixel", "x_px": "pixel"}
    if "z_px" in table.columns and "z_um" in table.columns:  # tracks of track_cells_3d: z joins the axes
        z_props = {"z": table["z_um"].to_numpy(np.float64), "z_px": table["z_px"].to_numpy(np.float64)}
        props = {"t": props["t"], **z_props, **{k: v for k, v in props.items() if k != "t"}}
        units.update({"z": "micrometer", "z_px": "pixel"})
    missing: dict[str, np.ndarray] = {}
    if cells is not None:
        _require(cells, ("frame", "label"), "the geff export's measurements")
        measured = [c for c in cells.columns if c not in _CELL_KEY_COLUMNS]
        keys = cells[["frame", "label"]].astype(np.int64)
        if keys.duplicated().any():
            raise ValueError("cells table: more than one row for a (frame, label)")
        joined = table[["frame", "label"]].merge(
            cells[measured].assign(frame=keys["frame"], label=keys["label"], _found=True),
            on=["frame", "label"], how="left", validate="one_to_one",
        )
        found = joined["_found"].eq(True).to_numpy()
        if not found.all():
            logger.warning("geff export: %d tracked object(s) have no row in the cells table; their "
                           "measurements are marked missing", int((~found).sum()))
        for column in measured:
            values, dtype = joined[column], cells[column].dtype
            if pd.api.types.is_bool_dtype(dtype):
                props[column] = values.fillna(False).to_numpy(bool)
            elif pd.api.types.is_integer_dtype(dtype):
                props[column] = values.fillna(0).to_numpy(np.int64)
            elif pd.api.types.is_float_dtype(dtype):
                props[column] = values.to_numpy(np.float64)
            else:
                continue  # text columns are not measurements
            absent = values.isna().to_numpy(bool)
            if absent.any():
                missing[column] = absent
            unit = _unit_of(column)
            if unit is not None:
                units[column] = unit
    return TrackGraph(
        node_ids=node_ids,
        node_props=props,
        edges=edges,
        edge_props={"division": is_division},
        pixel_size_um=float(pixel_size_um),
        frame_interval_min=float(frame_interval_min),
        tracklets=not single,
        node_missing=missing,
        units=units,
        descriptions={k: v for k, v in _DESCRIPTIONS.items() if k in props or k == "division"},
    )
