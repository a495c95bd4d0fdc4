"""What the tracking modules share: the columns of the tracks and lineage tables, the result and its errors.

Positions are in px (``y_px, x_px``) and µm (``y_um, x_um``); frames are 0-based indices; ``time_min`` is minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Columns and dtypes of :attr:`TrackingResult.tracks`.
_TRACK_SCHEMA: dict[str, str] = {
    "frame": "int64",
    "time_min": "float64",
    "track_id": "int64",
    "label": "int64",
    "y_px": "float64",
    "x_px": "float64",
    "y_um": "float64",
    "x_um": "float64",
    "parent": "int64",
    "root": "int64",
    "generation": "int64",
}

TRACK_COLUMNS: tuple[str, ...] = tuple(_TRACK_SCHEMA)

#: Columns and dtypes of the tracks of :func:`track_cells_3d`: those of 2-D, then the centroid's z (px, µm).
_TRACK_SCHEMA_3D: dict[str, str] = {**_TRACK_SCHEMA, "z_px": "float64", "z_um": "float64"}

TRACK_COLUMNS_3D: tuple[str, ...] = tuple(_TRACK_SCHEMA_3D)

#: Columns and dtypes of :attr:`TrackingResult.lineage`.
_LINEAGE_SCHEMA: dict[str, str] = {"parent": "int64", "child": "int64", "division_frame": "int64"}

LINEAGE_COLUMNS: tuple[str, ...] = tuple(_LINEAGE_SCHEMA)


class TrackingTimeLimitError(RuntimeError):
    """Frame-to-frame linking did not finish within ``TrackSettings.time_limit_s``."""


@dataclass
class TrackingResult:
    """What :func:`track_cells` returns.

    Attributes
    ----------
    tracks : pandas.DataFrame
        One row per tracked object per frame: ``frame`` (0-based), ``time_min``
        (frame x frame interval, minutes), ``track_id`` (positive int),
        ``label`` (the object's segmentation label in that frame), ``y_px,
        x_px`` (centroid, px), ``y_um, x_um`` (centroid, µm), ``parent``
        (track id of the mother track, 0 = none), ``root`` (track id of the
        first ancestor; the track itself when it has no parent),
        ``generation`` (0 for a root track, +1 per division).  Sorted by
        ``track_id, frame``.
    lineage : pandas.DataFrame
        One row per division edge: ``parent, child`` (track ids) and
        ``division_frame`` (the frame in which the child first appears).
    relabelled : numpy.ndarray or None
        (T, Y, X) uint32: every pixel of a tracked object carries its track id;
        background and dropped (too small) objects are 0.  None when
        :func:`track_cells` ran with ``relabel=False``.
    info : dict
        JSON-serialisable record of the run: ``update_method`` ('EXACT' or
        'APPROXIMATE'), ``search_radius_px``, ``n_objects``,
        ``max_objects_per_frame``, ``n_small_objects_dropped``,
        ``n_gap_objects_filled`` (lone objects put into gaps of tracks),
        ``optimizer`` ('solved', 'no solution (time limit?)', 'not run'),
        ``n_tracks``, ``n_divisions`` (tracks with two or more daughters), ``n_split_divisions``
        (divisions made by cutting a track that went on into one daughter, :func:`_split_divisions`, before
        the checks undo any),
        ``n_divisions_rejected`` and ``divisions_rejected`` (btrack's divisions undone into
        continuations, in all and per reason: ``single_child``, ``short_mother``, ``short_daughter``, ``lag``,
        ``not_together``, ``distance``, ``size``, ``merged``; see
        :func:`_check_divisions`), ``median_diameter_um`` and ``median_diameter_px`` (median equivalent diameter
        of the tracked objects, µm and px) and ``division_max_distance_used_um`` (the distance the division checks used, µm; see
        :func:`_division_distance_um`), ``min_track_frames`` and ``n_short_tracks`` (tracks present in
        fewer frames than that), ``linking_s`` and ``optimizer_s`` (s).
    """

    tracks: pd.DataFrame
    lineage: pd.DataFrame
    relabelled: np.ndarray | None
    info: dict[str, Any]


def _empty_frame(schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})


def _distance(delta: np.ndarray) -> float:
    """Length of a (y, x) or (z, y, x) difference; 2-D keeps ``np.hypot``, whose last bit the 2-D results rest on."""
    if len(delta) == 2:
        return float(np.hypot(*delta))
    return float(np.sqrt(np.dot(delta, delta)))


def _position_columns(table: pd.DataFrame) -> list[str]:
    """The object table's position columns in btrack's units (xy px): (y, x), or (z, y, x) for 3-D objects."""
    return ["z_scaled_px", "y_px", "x_px"] if "z_scaled_px" in table.columns else ["y_px", "x_px"]
