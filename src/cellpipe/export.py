"""Tracking results in formats other tools read: Cell Tracking Challenge (CTC) and napari.

Both functions are pure: they take the outputs of :func:`cellpipe.track.track_cells`
(the ``tracks`` table, one row per object per frame, and the track-relabelled
``(T, Y, X)`` mask movie) and return arrays and tables; writing them is
:func:`cellpipe.steps_export.export_tracks_step`'s job.  Frames are 0-based
indices, positions are in pixels.

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
    napari's Tracks layer takes an ``(N, 4)`` array of ``track_id, t, y, x`` rows
    (sorted by track id, then t; y and x in pixels, so tracks overlay the image) and a
    ``graph`` dict mapping a track id to the list of its parent track ids.  The workflow
    writes them as ``tracks_napari.csv`` (header ``track_id,t,y,x``) and
    ``tracks_napari_graph.json`` (JSON keys are strings).  To open them::

        import json
        import napari
        import pandas as pd

        df = pd.read_csv("results/<sample>/tracks_napari.csv")
        with open("results/<sample>/tracks_napari_graph.json") as f:
            graph = {int(k): v for k, v in json.load(f).items()}
        viewer = napari.Viewer()
        viewer.add_tracks(df[["track_id", "t", "y", "x"]].to_numpy(), graph=graph, name="tracks")
        napari.run()

    Add the image (``results/<sample>/image.ome.zarr``) as a layer with the default
    scale of 1 so that pixels and track coordinates agree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.io.ctc import TRACK_COLUMNS as CTC_TRACK_COLUMNS
from cellpipe.settings import ExportSettings

logger = logging.getLogger(__name__)

__all__ = [
    "ExportSettings",
    "MAX_CTC_LABEL",
    "MAX_CTC_LABEL_UINT32",
    "NAPARI_COLUMNS",
    "SEGMENT_COLUMNS",
    "ctc_mask_dtype",
    "ctc_segments",
    "iter_ctc_frames",
    "to_ctc",
    "to_napari_tracks",
]

MAX_CTC_LABEL = int(np.iinfo(np.uint16).max)
"""Largest CTC label of a uint16 mask (the CTC convention): up to 65535 segments the masks are uint16."""

MAX_CTC_LABEL_UINT32 = int(np.iinfo(np.uint32).max)
"""Largest CTC label at all: above :data:`MAX_CTC_LABEL` segments the masks are uint32."""


def ctc_mask_dtype(n_segments: int) -> np.dtype:
    """The dtype of CTC masks holding labels 1..``n_segments``: uint16 when they fit (the CTC
    convention, what every CTC tool reads), else uint32 (read by py-ctcmetrics and traccuracy).

    Raises:
        ValueError: more than :data:`MAX_CTC_LABEL_UINT32` segments.
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

NAPARI_COLUMNS: tuple[str, ...] = ("track_id", "t", "y", "x")
"""Columns of :func:`to_napari_tracks`: track id, frame (0-based), centroid y and x in pixels."""


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

    Args:
        tracks: One row per object per frame with at least ``track_id`` (positive int),
            ``frame`` (0-based) and ``parent`` (track id of the mother track, 0 = none; the
            same on every row of a track), as :func:`cellpipe.track.track_cells` returns.

    Returns:
        One row per segment with :data:`SEGMENT_COLUMNS`, sorted by label.  Labels are
        1..n in the order of (track id, first frame).  A segment after the first of its
        track has the previous segment as parent; a track's first segment has the last
        segment of the parent track as parent.  A division the CTC format cannot express
        (the mother's last frame is not before the daughter's first frame) is dropped
        (parent 0) with a warning.  Columns ``label .. parent`` restricted to
        ``label, first_frame, last_frame, parent`` form a valid CTC track table.

    Raises:
        ValueError: a column is missing; a track id is not positive or a frame negative;
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
        # was an error that stopped export_tracks, and with it the sample's provenance, report and summary
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

    Args:
        relabelled: (T, Y, X) non-negative integer masks whose pixel values are track ids
            (0 = background), e.g. ``image.ome.zarr/labels/tracks``; a NumPy array or anything with
            ``shape`` and frame indexing (Zarr), read one frame at a time.
        tracks: The tracks table (``track_id``, ``frame``, ``parent``; see :func:`ctc_segments`).
        segments: ``ctc_segments(tracks)`` when the caller already has it (it is computed otherwise).

    Returns:
        ``(labels, ctc_tracks)``: ``labels`` (T, Y, X) uint16 (uint32 above :data:`MAX_CTC_LABEL`
        segments: :func:`ctc_mask_dtype`) where each object carries the
        CTC label of its segment, and ``ctc_tracks`` with columns ``label, first_frame,
        last_frame, parent`` (:data:`cellpipe.io.ctc.TRACK_COLUMNS`).  Together they pass
        :func:`cellpipe.io.ctc.check_ctc_tracks`: every label is present in every frame from
        its first to its last frame and a parent ends before its daughter starts.  An empty
        tracks table with an all-zero movie gives all-zero labels and an empty table.

    Raises:
        ValueError: ``relabelled`` is not 3-D integers; a frame of the tracks table is outside
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
    """
    if not hasattr(relabelled, "shape"):
        relabelled = np.asarray(relabelled)
    shape = tuple(int(s) for s in relabelled.shape)
    if len(shape) != 3:
        raise ValueError(f"relabelled masks must be (T, Y, X); got shape {shape}")
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


def to_napari_tracks(tracks: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, list[int]]]:
    """The data and graph of a napari Tracks layer (``viewer.add_tracks(data, graph=graph)``).

    Args:
        tracks: The tracks table: ``track_id``, ``frame`` (0-based), ``y_px``, ``x_px``
            (centroid, pixels) and ``parent`` (track id of the mother track, 0 = none).

    Returns:
        ``(data, graph)``: ``data`` has columns :data:`NAPARI_COLUMNS` — ``track_id`` (int),
        ``t`` (frame, int), ``y``, ``x`` (pixels, float) — one row per object per frame,
        sorted by track id then t (gaps stay gaps: napari draws across them); ``graph`` maps
        each track id that has a parent to ``[parent track id]``, in increasing track id.
        An empty table gives an empty ``data`` with the same columns and ``{}``.

    Raises:
        ValueError: a column is missing, a track names two parents, or a parent has no rows.
    """
    _require(tracks, ("track_id", "frame", "y_px", "x_px", "parent"), "the napari export")
    data = pd.DataFrame(
        {
            "track_id": tracks["track_id"].to_numpy(np.int64),
            "t": tracks["frame"].to_numpy(np.int64),
            "y": tracks["y_px"].to_numpy(np.float64),
            "x": tracks["x_px"].to_numpy(np.float64),
        }
    )
    data = data.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
    if tracks.empty:
        return data, {}
    parents = _track_parents(tracks.astype({"track_id": np.int64, "parent": np.int64}))
    graph = {int(child): [int(mother)] for child, mother in parents.items() if mother != 0}
    return data, graph
