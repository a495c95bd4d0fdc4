"""Per-cell measurements, per-track summaries and cell counts over time.

All functions are pure: they take label movies, raw intensity movies and
tables in memory and return :class:`pandas.DataFrame` objects.  Units are
stated in column names: ``_px`` (pixels), ``_um`` (µm), ``_um2`` (µm²),
``_um3`` (µm³), ``_voxels`` (voxels), ``_min`` (minutes), ``_per_mm2`` (per mm²); frames are 0-based integer
indices and lags are counted in frames (``_frames``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import ndimage
from skimage.measure import marching_cubes, mesh_surface_area, regionprops_table

from cellpipe.config import MeasureSettings, TrackSettings

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MIN_TRACK_FRAMES",
    "EXCLUSION_REASONS",
    "cell_columns",
    "counts_per_frame",
    "ensemble_msd",
    "fit_msd_exponent",
    "measure_cells",
    "msd_curves",
    "msd_table",
    "summarize_tracks",
    "COUNTS_COLUMNS",
    "MSD_COLUMNS",
    "MSD_TABLE_COLUMNS",
    "TRACK_SUMMARY_COLUMNS",
    "CELL_3D_COLUMNS",
    "measure_cells_3d",
    "measure_volumes",
    "measure_stack_3d",
    "surface_area_um2",
]

#: Shape properties computed per object by :func:`skimage.measure.regionprops_table`.
_SHAPE_PROPERTIES: tuple[str, ...] = ("label", "area", "centroid", "eccentricity", "solidity", "perimeter")

#: Columns and dtypes of the per-cell table that do not depend on the channels.
_BASE_CELL_SCHEMA: dict[str, Any] = {
    "frame": "int64",
    "time_min": "float64",
    "label": "int64",
    "track_id": "Int64",
    "area_px": "int64",
    "area_um2": "float64",
    "centroid_y_um": "float64",
    "centroid_x_um": "float64",
    "eccentricity": "float64",
    "solidity": "float64",
    "perimeter_um": "float64",
}

#: Columns and dtypes of the per-track summary table.
_TRACK_SUMMARY_SCHEMA: dict[str, Any] = {
    "track_id": "int64",
    "parent": "int64",
    "root": "int64",
    "generation": "int64",
    "first_frame": "int64",
    "last_frame": "int64",
    "n_frames": "int64",
    "duration_min": "float64",
    "mean_area_um2": "float64",
    "displacement_um": "float64",
    "path_length_um": "float64",
    "mean_speed_um_per_min": "float64",
    "straightness": "float64",
    "msd_1_um2": "float64",
    "msd_exponent": "float64",
    "n_children": "int64",
    "n_divisions": "int64",
    "cell_cycle_min": "float64",
    "excluded": "object",
}
TRACK_SUMMARY_COLUMNS: tuple[str, ...] = tuple(_TRACK_SUMMARY_SCHEMA)

#: Columns and dtypes of the per-object table of one 3-D stack (:func:`measure_stack_3d`).
_CELL_3D_SCHEMA: dict[str, Any] = {
    "label": "int64",
    "volume_voxels": "int64",
    "volume_um3": "float64",
    "centroid_z_um": "float64",
    "centroid_y_um": "float64",
    "centroid_x_um": "float64",
    "surface_area_um2": "float64",
    "sphericity": "float64",
}
CELL_3D_COLUMNS: tuple[str, ...] = tuple(_CELL_3D_SCHEMA)

#: Columns and dtypes of the cells-per-frame table.
_COUNTS_SCHEMA: dict[str, Any] = {
    "frame": "int64",
    "time_min": "float64",
    "n_cells": "int64",
    "density_per_mm2": "float64",
}
COUNTS_COLUMNS: tuple[str, ...] = tuple(_COUNTS_SCHEMA)

#: Columns and dtypes of the mean squared displacement tables (:func:`msd_curves`, :func:`ensemble_msd`).
_MSD_SCHEMA: dict[str, Any] = {
    "track_id": "int64",
    "lag_frames": "int64",
    "lag_min": "float64",
    "msd_um2": "float64",
    "n_pairs": "int64",
}
MSD_COLUMNS: tuple[str, ...] = tuple(_MSD_SCHEMA)

#: Columns and dtypes of ``msd.parquet`` (:func:`msd_table`): the MSD columns and the ensemble's exponent.
_MSD_TABLE_SCHEMA: dict[str, Any] = {**_MSD_SCHEMA, "msd_exponent": "float64"}
MSD_TABLE_COLUMNS: tuple[str, ...] = tuple(_MSD_TABLE_SCHEMA)

#: Fewest lags with at least one pair for which :func:`summarize_tracks` fits an MSD exponent.
_MIN_FIT_LAGS = 3

#: ``min_track_frames`` of :func:`summarize_tracks` when not given: the tracking setting's default.
DEFAULT_MIN_TRACK_FRAMES: int = TrackSettings.model_fields["min_track_frames"].default

#: Values of ``excluded`` in the per-track table: '' (the track enters per-track statistics) or why not.
EXCLUSION_REASONS: tuple[str, ...] = ("short",)


def _channel_names(settings: MeasureSettings, n_channels: int) -> list[str]:
    if settings.channel_names is None:
        return [f"ch{c}" for c in range(n_channels)]
    if len(settings.channel_names) != n_channels:
        raise ValueError(
            f"{len(settings.channel_names)} channel names {settings.channel_names} "
            f"for an image with {n_channels} channels"
        )
    return list(settings.channel_names)


def cell_columns(channel_names: list[str]) -> dict[str, Any]:
    """Column name -> dtype of the table returned by :func:`measure_cells` for these channels.

    Parameters
    ----------
    channel_names : list of str
        The channels measured, in order.

    Returns
    -------
    dict
        Column name -> pandas dtype, columns in the table's order.
    """
    schema = dict(_BASE_CELL_SCHEMA)
    for name in channel_names:
        schema[f"mean_intensity_{name}"] = "float64"
    for name in channel_names:
        schema[f"integrated_intensity_{name}"] = "float64"
    return schema


def _empty(schema: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({col: pd.Series([], dtype=dtype) for col, dtype in schema.items()})


def _check_positive(name: str, value: float) -> None:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _track_lookup(tracks: pd.DataFrame | None) -> pd.DataFrame:
    """(frame, label) -> track_id table from the tracks table, one row per segmented object."""
    columns = {"frame": "int64", "label": "int64", "track_id": "Int64"}
    if tracks is None or len(tracks) == 0:
        return _empty(columns)
    missing = {"frame", "label", "track_id"} - set(tracks.columns)
    if missing:
        raise ValueError(f"tracks table lacks columns {sorted(missing)}")
    lookup = tracks[["frame", "label", "track_id"]].dropna(subset=["label"])
    lookup = lookup[lookup["label"] > 0]
    lookup = lookup.astype(columns)
    duplicated = lookup.duplicated(subset=["frame", "label"], keep="first")
    if duplicated.any():
        logger.warning(
            "tracks table assigns %d (frame, label) objects to more than one track; keeping the first",
            int(duplicated.sum()),
        )
        lookup = lookup[~duplicated]
    return lookup


def _measure_frame(
    frame: int,
    labels: np.ndarray,
    image: np.ndarray,
    channel_names: list[str],
    pixel_size_um: float,
    frame_interval_min: float,
) -> pd.DataFrame | None:
    """Measure every object of one frame; ``labels`` is (Y,X), ``image`` is (C,Y,X)."""
    if not labels.any():
        return None
    props = regionprops_table(labels, properties=_SHAPE_PROPERTIES)
    ids = props["label"].astype(np.int64)
    area_px = props["area"].astype(np.int64)
    out: dict[str, Any] = {
        "frame": np.full(ids.size, frame, dtype=np.int64),
        "time_min": np.full(ids.size, frame * frame_interval_min, dtype=np.float64),
        "label": ids,
        "area_px": area_px,
        "area_um2": area_px * pixel_size_um**2,
        "centroid_y_um": props["centroid-0"] * pixel_size_um,
        "centroid_x_um": props["centroid-1"] * pixel_size_um,
        "eccentricity": props["eccentricity"].astype(np.float64),
        "solidity": props["solidity"].astype(np.float64),
        "perimeter_um": props["perimeter"] * pixel_size_um,
    }
    # Sums per label in float64 (exact for integer images up to 2**53); the
    # mean is the sum over the same pixels divided by their number.
    flat_labels = labels.ravel()
    n_bins = int(ids.max()) + 1
    sums = [
        np.bincount(flat_labels, weights=image[c].ravel().astype(np.float64), minlength=n_bins)[ids]
        for c in range(len(channel_names))
    ]
    for name, total in zip(channel_names, sums):
        out[f"mean_intensity_{name}"] = total / area_px
    for name, total in zip(channel_names, sums):
        out[f"integrated_intensity_{name}"] = total
    return pd.DataFrame(out)


def measure_cells(
    labels: ArrayLike,
    image: ArrayLike,
    tracks: pd.DataFrame | None,
    pixel_size_um: float,
    frame_interval_min: float,
    settings: MeasureSettings,
) -> pd.DataFrame:
    """Measure shape and intensity of every segmented object in every frame.

    Parameters
    ----------
    labels : array_like of int
        (T, Y, X) integer label movie; 0 is background and labels are
        independent per frame.  Any array supporting ``labels[t]`` (numpy,
        zarr, dask) works; frames are read one at a time.
    image : array_like
        (T, C, Y, X) raw intensities, any numeric dtype.  A (T, Y, X) movie
        is treated as a single channel.
    tracks : pandas.DataFrame or None
        Tracks table with at least ``frame, label, track_id``; used to give
        each object its track id.  ``None`` or empty: every track id is NA.
    pixel_size_um : float
        Pixel size (µm per px), same in y and x.
    frame_interval_min : float
        Time between frames (minutes).
    settings : MeasureSettings
        :class:`MeasureSettings`.

    Returns
    -------
    pandas.DataFrame
        One row per object per frame, sorted by (frame, label), with columns
        ``frame, time_min, label, track_id`` (nullable Int64, NA for objects
        absent from ``tracks``), ``area_px, area_um2, centroid_y_um,
        centroid_x_um, eccentricity, solidity, perimeter_um`` and, per
        channel, ``mean_intensity_<name>`` and ``integrated_intensity_<name>``
        (sum of raw intensities inside the mask).  An empty movie gives an
        empty table with the same columns and dtypes.
    """
    _check_positive("pixel_size_um", pixel_size_um)
    _check_positive("frame_interval_min", frame_interval_min)
    label_shape = tuple(int(n) for n in np.shape(labels))  # uses .shape: no full read of zarr/dask arrays
    image_shape = tuple(int(n) for n in np.shape(image))
    if len(label_shape) != 3:
        raise ValueError(f"labels must be (T, Y, X), got shape {label_shape}")
    if len(image_shape) == 3:
        image_shape = (image_shape[0], 1, *image_shape[1:])
        single_channel = True
    elif len(image_shape) == 4:
        single_channel = False
    else:
        raise ValueError(f"image must be (T, C, Y, X), got shape {image_shape}")
    if image_shape[0] != label_shape[0] or image_shape[2:] != label_shape[1:]:
        raise ValueError(f"labels {label_shape} and image {image_shape} do not match in T, Y, X")

    n_frames, n_channels = label_shape[0], image_shape[1]
    channel_names = _channel_names(settings, n_channels)
    schema = cell_columns(channel_names)

    pieces: list[pd.DataFrame] = []
    for t in range(n_frames):
        frame_labels = np.asarray(labels[t])  # type: ignore[index]
        if not np.issubdtype(frame_labels.dtype, np.integer):
            raise TypeError(f"labels must be an integer array, got {frame_labels.dtype}")
        frame_image = np.asarray(image[t])  # type: ignore[index]
        if single_channel:
            frame_image = frame_image[np.newaxis]
        piece = _measure_frame(t, frame_labels, frame_image, channel_names, pixel_size_um, frame_interval_min)
        if piece is not None:
            pieces.append(piece)

    if not pieces:
        logger.info("no objects in %d frame(s)", n_frames)
        return _empty(schema)

    cells = pd.concat(pieces, ignore_index=True)
    lookup = _track_lookup(tracks)
    cells = cells.merge(lookup, on=["frame", "label"], how="left", validate="one_to_one")
    cells = cells[list(schema)].astype(schema)
    cells = cells.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    n_untracked = int(cells["track_id"].isna().sum())
    logger.info(
        "measured %d objects in %d frame(s); %d without a track id", len(cells), n_frames, n_untracked
    )
    return cells


def _track_info(tracks: pd.DataFrame) -> pd.DataFrame:
    """Lineage columns per track (first value per track), defaults when absent."""
    tracks = tracks.sort_values(["track_id", "frame"], kind="stable")
    grouped = tracks.groupby("track_id", sort=True)
    info = pd.DataFrame(index=pd.Index(sorted(tracks["track_id"].unique()), name="track_id"))
    info["parent"] = grouped["parent"].first() if "parent" in tracks else 0
    info["root"] = grouped["root"].first() if "root" in tracks else info.index.to_numpy()
    info["generation"] = grouped["generation"].first() if "generation" in tracks else 0
    info["parent"] = info["parent"].fillna(0)
    info["root"] = info["root"].fillna(pd.Series(info.index.to_numpy(), index=info.index))
    info["generation"] = info["generation"].fillna(0)
    return info


def _default_max_lag(n_positions: np.ndarray) -> np.ndarray:
    """Largest lag (frames) used per track: ``max(n // 4, min(3, n - 1))``, 0 for n < 2."""
    n = np.asarray(n_positions, dtype=np.int64)
    return np.maximum(n // 4, np.minimum(3, n - 1)).clip(min=0)


def _msd_positions(table: pd.DataFrame) -> pd.DataFrame:
    """Positions per (track, frame) for the MSD: ``track_id, frame, y_um, x_um`` (and ``z_um`` in 3-D), sorted.

    Only finite positions, one row per (track, frame).  Positions are ``y_um, x_um`` (with ``z_um`` when
    present) when present, otherwise ``centroid_y_um, centroid_x_um`` (with ``centroid_z_um``: a cells
    table); rows without a track id are dropped.
    """
    columns = {"track_id": "int64", "frame": "int64", "y_um": "float64", "x_um": "float64"}
    if table is None or len(table) == 0:
        return _empty(columns)
    if {"y_um", "x_um"} <= set(table.columns):
        y_col, x_col, z_col = "y_um", "x_um", "z_um"
    elif {"centroid_y_um", "centroid_x_um"} <= set(table.columns):
        y_col, x_col, z_col = "centroid_y_um", "centroid_x_um", "centroid_z_um"
    else:
        raise ValueError("positions table needs y_um, x_um or centroid_y_um, centroid_x_um columns")
    missing = {"track_id", "frame"} - set(table.columns)
    if missing:
        raise ValueError(f"positions table lacks columns {sorted(missing)}")
    axes = [y_col, x_col] + ([z_col] if z_col in table.columns else [])
    if z_col in table.columns:  # 3-D positions: z in µm joins the displacements
        columns["z_um"] = "float64"
    pos = table[["track_id", "frame", *axes]].rename(columns={y_col: "y_um", x_col: "x_um", z_col: "z_um"})
    pos = pos[pos["track_id"].notna()]
    pos = pos.astype(columns)
    finite = np.isfinite(pos["y_um"].to_numpy()) & np.isfinite(pos["x_um"].to_numpy())
    if "z_um" in pos:
        finite &= np.isfinite(pos["z_um"].to_numpy())
    pos = pos[finite]
    pos = pos.drop_duplicates(subset=["track_id", "frame"], keep="first")
    return pos.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)


def _msd_sums(positions: pd.DataFrame, max_lag_frames: int | None) -> pd.DataFrame:
    """Sum of squared displacements and pair counts per (track, lag).

    ``positions`` comes from :func:`_msd_positions`.  A pair is two positions
    of the same track whose frame numbers differ by exactly the lag, so gaps
    in a track are respected.  Lags run from 1 to ``max_lag_frames`` for every
    track, or to :func:`_default_max_lag` of the track's number of positions
    when it is None.  Returns ``track_id, lag_frames, sum_sq_um2, n_pairs``
    with one row per (track, lag) having at least one pair, sorted.
    """
    out_schema = {"track_id": "int64", "lag_frames": "int64", "sum_sq_um2": "float64", "n_pairs": "int64"}
    if len(positions) < 2:
        return _empty(out_schema)
    track_ids = positions["track_id"].to_numpy(np.int64)
    frames = positions["frame"].to_numpy(np.int64)
    y = positions["y_um"].to_numpy(np.float64)
    x = positions["x_um"].to_numpy(np.float64)
    z = positions["z_um"].to_numpy(np.float64) if "z_um" in positions else None
    codes, uniques = pd.factorize(track_ids, sort=True)
    n_tracks = len(uniques)
    first = np.full(n_tracks, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n_tracks, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, codes, frames)
    np.maximum.at(last, codes, frames)
    span = last - first  # no pair exists beyond a track's frame span
    if max_lag_frames is None:
        track_max_lag = _default_max_lag(np.bincount(codes, minlength=n_tracks))
    else:
        track_max_lag = np.full(n_tracks, int(max_lag_frames), dtype=np.int64)
    track_max_lag = np.minimum(track_max_lag, span)
    global_max = int(track_max_lag.max())
    if global_max < 1:
        return _empty(out_schema)

    # One sorted integer key per position: track code * stride + frame offset;
    # key + lag is the key of the partner position, if it exists.
    offset = frames - frames.min()
    stride = int(offset.max()) + global_max + 1
    keys = codes.astype(np.int64) * stride + offset
    row_max_lag = track_max_lag[codes]
    pieces: list[pd.DataFrame] = []
    for lag in range(1, global_max + 1):
        src = np.flatnonzero(row_max_lag >= lag)
        target = keys[src] + lag
        dst = np.minimum(np.searchsorted(keys, target), len(keys) - 1)
        hit = keys[dst] == target
        src, dst = src[hit], dst[hit]
        if src.size == 0:
            continue
        sq = (y[dst] - y[src]) ** 2 + (x[dst] - x[src]) ** 2
        if z is not None:
            sq = sq + (z[dst] - z[src]) ** 2
        n_pairs = np.bincount(codes[src], minlength=n_tracks)
        sums = np.bincount(codes[src], weights=sq, minlength=n_tracks)
        has = np.flatnonzero(n_pairs)
        pieces.append(
            pd.DataFrame(
                {
                    "track_id": uniques[has],
                    "lag_frames": np.full(has.size, lag, dtype=np.int64),
                    "sum_sq_um2": sums[has],
                    "n_pairs": n_pairs[has],
                }
            )
        )
    if not pieces:
        return _empty(out_schema)
    table = pd.concat(pieces, ignore_index=True).astype(out_schema)
    return table.sort_values(["track_id", "lag_frames"], kind="stable").reset_index(drop=True)


def _msd_table(sums: pd.DataFrame, frame_interval_min: float) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "track_id": sums["track_id"].to_numpy(np.int64),
            "lag_frames": sums["lag_frames"].to_numpy(np.int64),
            "lag_min": sums["lag_frames"].to_numpy(np.float64) * float(frame_interval_min),
            "msd_um2": sums["sum_sq_um2"].to_numpy(np.float64) / sums["n_pairs"].to_numpy(np.float64),
            "n_pairs": sums["n_pairs"].to_numpy(np.int64),
        }
    )
    return table.astype(_MSD_SCHEMA)


def _check_max_lag(max_lag_frames: int | None) -> None:
    if max_lag_frames is None:
        return
    if isinstance(max_lag_frames, bool) or int(max_lag_frames) != max_lag_frames or max_lag_frames < 1:
        raise ValueError(f"max_lag_frames must be None or an integer >= 1, got {max_lag_frames!r}")


def msd_curves(
    tracks_or_positions: pd.DataFrame, frame_interval_min: float, max_lag_frames: int | None = None
) -> pd.DataFrame:
    """Time-averaged mean squared displacement of every track, per lag.

    For a track with positions r(f) (µm) at frames f and a lag τ (frames),
    ``MSD(τ) = mean over all pairs (f, f + τ) of |r(f + τ) − r(f)|²``, where a
    pair is two positions of the track whose *frame numbers* differ by exactly
    τ (a track with gaps contributes only the pairs that exist; lags are not
    counted in rows).

    Parameters
    ----------
    tracks_or_positions : pandas.DataFrame
        Table with ``track_id, frame`` and positions in µm: ``y_um, x_um``
        (tracks table) or else ``centroid_y_um, centroid_x_um`` (cells
        table).  Rows without a track id or with a non-finite position are
        ignored; a repeated (track, frame) keeps its first row.
    frame_interval_min : float
        Time between frames (minutes).
    max_lag_frames : int, optional
        Largest lag (frames) for every track.  None: per track, the lags
        ``1 .. max(n // 4, min(3, n − 1))`` where n is the track's number of
        positions (the lags :func:`summarize_tracks` fits ``msd_exponent`` on).

    Returns
    -------
    pandas.DataFrame
        Columns ``track_id, lag_frames, lag_min`` (lag × frame interval,
        minutes), ``msd_um2`` (µm²) and ``n_pairs`` (pairs averaged); one row
        per track and lag with at least one pair, sorted by (track_id,
        lag_frames).  Empty input gives an empty table with these columns.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    _check_max_lag(max_lag_frames)
    sums = _msd_sums(_msd_positions(tracks_or_positions), max_lag_frames)
    return _msd_table(sums, frame_interval_min)


def ensemble_msd(
    tracks_or_positions: pd.DataFrame, frame_interval_min: float, max_lag_frames: int | None = None
) -> pd.DataFrame:
    """Mean squared displacement of all tracks pooled, per lag.

    ``MSD(τ)`` = sum over every track of the squared displacements of its
    pairs exactly τ frames apart, divided by the total number of such pairs
    (each pair weighs the same, so long tracks weigh more).  Pairs and lags
    are those of :func:`msd_curves` with the same arguments (by default each
    track contributes lags up to its own ``max(n // 4, min(3, n − 1))``).

    Parameters
    ----------
    tracks_or_positions : pandas.DataFrame
        As for :func:`msd_curves`: positions in µm per track and frame.
    frame_interval_min : float
        Time between frames (minutes), for ``lag_min``.
    max_lag_frames : int, optional
        Largest lag (frames); None: each track's own default.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`msd_curves` (µm², frames, minutes) with ``track_id`` = 0 (the
        ensemble), one row per lag with at least one pair, sorted by lag; empty input gives an
        empty table with these columns.

    Raises
    ------
    ValueError
        A frame interval not positive or a largest lag below 1.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    _check_max_lag(max_lag_frames)
    sums = _msd_sums(_msd_positions(tracks_or_positions), max_lag_frames)
    return _msd_table(_pooled_sums(sums), frame_interval_min)


def _pooled_sums(sums: pd.DataFrame) -> pd.DataFrame:
    """The per-(track, lag) sums of :func:`_msd_sums` added up over the tracks, per lag, as track 0."""
    pooled = sums.groupby("lag_frames", sort=True)[["sum_sq_um2", "n_pairs"]].sum().reset_index()
    pooled.insert(0, "track_id", 0)
    return pooled


def fit_msd_exponent(lag_min: ArrayLike, msd_um2: ArrayLike) -> float | None:
    """Exponent α of MSD(τ) ∝ τ^α fitted to one MSD curve, e.g. the ensemble of :func:`ensemble_msd`.

    The least-squares slope of log MSD on log lag over the points where both are finite and above 0.

    Parameters
    ----------
    lag_min : array-like
        Lags (min; any time unit gives the same slope).
    msd_um2 : array-like
        Mean squared displacement at each lag (µm²).

    Returns
    -------
    float or None
        α (no unit): about 1 for a random walk, 2 for motion at constant velocity, below 1 for confined
        motion; None with fewer than 2 usable points or a single distinct lag.
    """
    lag = np.asarray(lag_min, dtype=float)
    msd = np.asarray(msd_um2, dtype=float)
    ok = np.isfinite(lag) & np.isfinite(msd) & (lag > 0) & (msd > 0)
    if np.count_nonzero(ok) < 2 or np.unique(lag[ok]).size < 2:
        return None
    slope = np.polyfit(np.log(lag[ok]), np.log(msd[ok]), 1)[0]
    return float(slope)


def msd_table(
    tracks: pd.DataFrame, frame_interval_min: float, track_metrics: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The ensemble and per-track mean squared displacement of the tracks, with the ensemble's exponent.

    The table rule ``measure_cells`` writes as ``msd.parquet`` and the report draws.  Positions are the
    tracker's (``y_um, x_um`` of ``tracks``, with ``z_um`` for a 3-D movie, so z displacements in µm count
    too); pairs and lags are those of :func:`msd_curves` with its default lags (each track up to
    ``max(n // 4, min(3, n − 1))`` frames, n its number of positions).

    Parameters
    ----------
    tracks : pandas.DataFrame
        The tracks table of :func:`cellpipe.track.track_cells` (``track_id, frame`` and positions in µm).
    frame_interval_min : float
        Time between frames (minutes), for ``lag_min``.
    track_metrics : pandas.DataFrame, optional
        The per-track table of :func:`summarize_tracks`: tracks whose ``excluded`` is not empty (too
        short) are left out, as from every other per-track statistic.  None: every track enters.

    Returns
    -------
    pandas.DataFrame
        Columns ``track_id`` (0 for the ensemble, else one track), ``lag_frames`` (frames), ``lag_min``
        (minutes), ``msd_um2`` (µm²), ``n_pairs`` (pairs of positions averaged) and ``msd_exponent`` (no
        unit).  First the ensemble's rows (every pair of every entering track weighs the same, as in
        :func:`ensemble_msd`), one per lag, then each track's (:func:`msd_curves`), sorted by (track_id,
        lag_frames).  ``msd_exponent`` is α of MSD(τ) ∝ τ^α fitted to the ensemble
        (:func:`fit_msd_exponent` over its lags with an MSD above 0), repeated on each ensemble row;
        NaN there when fewer than 2 lags can be fitted, and NaN on the tracks' rows, whose own α is
        ``msd_exponent`` of ``track_metrics.parquet``.  Empty input gives an empty table with these columns.

    Raises
    ------
    ValueError
        A frame interval not positive, or positions missing from ``tracks``.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    if track_metrics is not None and len(track_metrics) and "excluded" in track_metrics and len(tracks):
        passing = track_metrics.loc[track_metrics["excluded"].fillna("").astype(str) == "", "track_id"]
        tracks = tracks[tracks["track_id"].isin(passing)]
    sums = _msd_sums(_msd_positions(tracks), None)
    ensemble = _msd_table(_pooled_sums(sums), frame_interval_min)
    exponent = fit_msd_exponent(ensemble["lag_min"].to_numpy(), ensemble["msd_um2"].to_numpy())
    ensemble["msd_exponent"] = np.nan if exponent is None else exponent
    per_track = _msd_table(sums, frame_interval_min).assign(msd_exponent=np.nan)
    table = pd.concat([ensemble, per_track], ignore_index=True) if len(ensemble) else per_track
    logger.info(
        "mean squared displacement of %d track(s) over %d lag(s); ensemble exponent %s",
        per_track["track_id"].nunique(), len(ensemble), "none" if exponent is None else f"{exponent:.3f}",
    )
    return table.astype(_MSD_TABLE_SCHEMA).reset_index(drop=True)


def _msd_exponent(sums: pd.DataFrame) -> pd.Series:
    """Least-squares slope of log MSD on log lag per track (NaN when not defined).

    ``sums`` comes from :func:`_msd_sums` with the default lags.  NaN for a
    track with fewer than ``_MIN_FIT_LAGS`` lags having pairs, or with an MSD
    of 0 at any of them.
    """
    if len(sums) == 0:
        return pd.Series([], dtype="float64", index=pd.Index([], dtype="int64", name="track_id"))
    msd = sums["sum_sq_um2"].to_numpy(np.float64) / sums["n_pairs"].to_numpy(np.float64)
    fit = pd.DataFrame({"track_id": sums["track_id"].to_numpy(np.int64)})
    fit["log_lag"] = np.log(sums["lag_frames"].to_numpy(np.float64))
    with np.errstate(divide="ignore"):
        fit["log_msd"] = np.log(msd)
    grouped = fit.groupby("track_id", sort=True)
    n_lags = grouped["log_lag"].size()
    all_positive = grouped["log_msd"].min() > -np.inf
    fit["dx"] = fit["log_lag"] - grouped["log_lag"].transform("mean")
    fit["dy"] = fit["log_msd"] - grouped["log_msd"].transform("mean")
    fit["dxdy"] = fit["dx"] * fit["dy"]
    fit["dx2"] = fit["dx"] ** 2
    sums_by_track = fit.groupby("track_id", sort=True)[["dxdy", "dx2"]].sum()
    slope = sums_by_track["dxdy"] / sums_by_track["dx2"]
    return slope.where((n_lags >= _MIN_FIT_LAGS) & all_positive)


def _division_columns(summary: pd.DataFrame, frame_interval_min: float) -> pd.DataFrame:
    """``n_children, n_divisions, cell_cycle_min`` per track from ``parent``, ``first_frame`` and ``excluded``.

    ``summary`` is indexed by track id and has ``parent``, ``first_frame`` and ``excluded``; an
    excluded track has no cell-cycle time.
    """
    out = pd.DataFrame(index=summary.index)
    children = summary.loc[summary["parent"] != 0, ["parent", "first_frame"]]
    by_parent = children.groupby("parent", sort=True)["first_frame"]
    out["n_children"] = by_parent.size().reindex(out.index, fill_value=0)
    divides = out["n_children"] >= 2  # a lone child continues its parent (e.g. across a gap): no division
    out["n_divisions"] = divides.astype("int64")
    born_by_division = summary["parent"].map(out["n_children"]).fillna(0) >= 2
    children_first = by_parent.min().reindex(out.index)
    cycle = (children_first - summary["first_frame"]) * float(frame_interval_min)
    out["cell_cycle_min"] = cycle.where(divides & born_by_division & (summary["excluded"] == ""))
    return out


def summarize_tracks(
    cells: pd.DataFrame,
    tracks: pd.DataFrame,
    frame_interval_min: float,
    min_track_frames: int = DEFAULT_MIN_TRACK_FRAMES,
) -> pd.DataFrame:
    """One row per track: lineage, lifetime, size and motility, and whether it enters statistics.

    Positions come from the measured cell centroids (``centroid_y_um``,
    ``centroid_x_um`` of ``cells``, matched by ``track_id`` and ``frame``);
    where a track has no measured cell in a frame (e.g. a gap filled by the
    tracker) the tracker's ``y_um, x_um`` are used.  Tracks of a 3-D movie (a ``z_um`` column,
    :func:`cellpipe.track.track_cells_3d`) are followed in 3-D: ``centroid_z_um`` / ``z_um`` (µm) join every
    step, displacement and squared displacement, ``mean_area_um2`` is NaN and ``mean_volume_um3`` (mean
    ``volume_um3`` of the measured cells, µm³) is added as the last column.

    Columns: ``track_id, parent, root, generation, first_frame, last_frame,
    n_frames`` (frames in which the track has a position), ``duration_min``
    ((last_frame - first_frame) × frame interval), ``mean_area_um2`` (over
    measured cells; NaN if none), ``displacement_um`` (straight line from the
    first to the last position), ``path_length_um`` (sum of the steps between
    consecutive positions), ``mean_speed_um_per_min`` (path length /
    duration; NaN for single-frame tracks), ``straightness`` (displacement
    / path length, in [0, 1]; NaN when the path length is 0), then:

    * ``msd_1_um2``: mean squared displacement at a lag of 1 frame (µm²), the
      mean of |r(f + 1) − r(f)|² over the pairs of positions exactly one frame
      apart; NaN when the track has no such pair.
    * ``msd_exponent``: α of MSD(τ) ∝ τ^α (no unit), the least-squares slope
      of log MSD(τ) on log τ over the lags τ = 1 .. max(n // 4, min(3, n − 1))
      frames that have at least one pair, n being the track's number of
      positions.  Lags are differences of frame numbers, so a track with gaps
      uses only pairs exactly τ frames apart (see :func:`msd_curves`, whose
      default rows are exactly the fitted points).  NaN when fewer than 3 such
      lags exist or the MSD is 0 at any of them.  2 for motion at constant
      velocity, about 1 for a random walk, below 1 for confined motion.
    * ``n_children``: number of tracks whose ``parent`` is this track.
    * ``n_divisions``: 1 when the track ends by dividing (two or more
      children, as the tracker's lineage has them), else 0; a single child
      continues the track and is no division.
    * ``cell_cycle_min``: time between the division that created the cell and
      the division that ends it, (earliest first frame of its children −
      its own first frame) × frame interval (minutes); NaN unless the track's
      parent divided (two or more children) and the track itself divides, and NaN for an excluded
      track.
    * ``excluded``: '' for a track that enters per-track statistics, else why not: 'short' when
      ``n_frames`` < ``min_track_frames`` (flickering segmentation objects more often than cells;
      ``track.min_track_frames`` in the workflow).  Every track keeps its row and its own
      measurements; averages, histograms and counts over tracks (the report's) use the rows with
      ``excluded == ''`` only.

    Positions with a non-finite coordinate are left out of the MSD columns.
    Sorted by ``track_id``; empty inputs give an empty table with the same
    columns.

    Parameters
    ----------
    cells : pandas.DataFrame
        The cells table of :func:`measure_cells` or :func:`measure_volumes` (µm, µm², µm³).
    tracks : pandas.DataFrame
        The tracks table of :func:`cellpipe.track.track_cells` (or ``track_cells_3d``); needs
        ``frame`` and ``track_id``.
    frame_interval_min : float
        Time between frames (minutes).
    min_track_frames : int, default DEFAULT_MIN_TRACK_FRAMES
        Tracks present in fewer frames are ``excluded = 'short'``.

    Returns
    -------
    pandas.DataFrame
        One row per track, the columns above.

    Raises
    ------
    ValueError
        A frame interval not positive, ``min_track_frames`` not an integer >= 1, or a tracks table
        without ``frame`` or ``track_id``.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    if isinstance(min_track_frames, bool) or int(min_track_frames) != min_track_frames or min_track_frames < 1:
        raise ValueError(f"min_track_frames must be an integer >= 1, got {min_track_frames!r}")
    if tracks is None or len(tracks) == 0:
        return _empty(_TRACK_SUMMARY_SCHEMA)
    missing = {"frame", "track_id"} - set(tracks.columns)
    if missing:
        raise ValueError(f"tracks table lacks columns {sorted(missing)}")

    # tracks of track_cells_3d (z_um) and cells of measure_volumes (centroid_z_um, volume_um3): positions in 3-D
    three_d = "z_um" in tracks.columns
    axes = ("y", "x", "z") if three_d else ("y", "x")
    positions = tracks[["track_id", "frame"]].astype("int64").copy()
    for axis in axes:
        col = f"{axis}_um"
        positions[col] = tracks[col].astype("float64").to_numpy() if col in tracks else np.nan
    positions = positions.drop_duplicates(subset=["track_id", "frame"], keep="first")

    size_col = "volume_um3" if three_d else "area_um2"
    measured_cols = ["track_id", "frame", *(f"centroid_{axis}_um" for axis in axes), size_col]
    if cells is not None and len(cells) > 0 and set(measured_cols) <= set(cells.columns):
        measured = cells.loc[cells["track_id"].notna(), measured_cols].copy()
        measured = measured.astype({"track_id": "int64", "frame": "int64"})
        measured = measured.drop_duplicates(subset=["track_id", "frame"], keep="first")
        positions = positions.merge(measured, on=["track_id", "frame"], how="left")
        for axis in axes:
            positions[f"{axis}_um"] = positions[f"centroid_{axis}_um"].fillna(positions[f"{axis}_um"])
    else:
        positions[size_col] = np.nan
    if three_d:  # no area per cell in 3-D: mean_area_um2 is NaN, mean_volume_um3 joins the table
        positions["area_um2"] = np.nan
    positions = positions.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)

    # Steps between consecutive rows of the same track.
    same_track = positions["track_id"].to_numpy()[1:] == positions["track_id"].to_numpy()[:-1]
    deltas = [np.diff(positions[f"{axis}_um"].to_numpy()) for axis in axes]
    steps = np.where(same_track, np.sqrt(sum(d**2 for d in deltas)) if three_d else np.hypot(*deltas), 0.0)
    positions["step_um"] = np.concatenate([[0.0], steps])

    positions["step_missing"] = positions["step_um"].isna()

    grouped = positions.groupby("track_id", sort=True)
    summary = pd.DataFrame(index=grouped["frame"].min().index)
    summary["first_frame"] = grouped["frame"].min()
    summary["last_frame"] = grouped["frame"].max()
    summary["n_frames"] = grouped["frame"].size()
    summary["duration_min"] = (summary["last_frame"] - summary["first_frame"]) * float(frame_interval_min)
    summary["mean_area_um2"] = grouped["area_um2"].mean()
    first_rows = positions.drop_duplicates("track_id", keep="first").set_index("track_id")
    last_rows = positions.drop_duplicates("track_id", keep="last").set_index("track_id")
    if three_d:
        summary["mean_volume_um3"] = grouped["volume_um3"].mean()
        summary["displacement_um"] = np.sqrt(sum((last_rows[f"{a}_um"] - first_rows[f"{a}_um"]) ** 2 for a in axes))
    else:
        summary["displacement_um"] = np.hypot(
            last_rows["y_um"] - first_rows["y_um"], last_rows["x_um"] - first_rows["x_um"]
        )
    # A missing position makes the path length unknown rather than shorter.
    summary["path_length_um"] = grouped["step_um"].sum().where(~grouped["step_missing"].any())
    duration = summary["duration_min"].where(summary["duration_min"] > 0)
    summary["mean_speed_um_per_min"] = summary["path_length_um"] / duration
    path = summary["path_length_um"].where(summary["path_length_um"] > 0)
    # Mathematically <= 1; clip rounding noise of the summed steps.
    summary["straightness"] = np.minimum(summary["displacement_um"] / path, 1.0)

    msd_sums = _msd_sums(_msd_positions(positions), None)
    lag_1 = msd_sums[msd_sums["lag_frames"] == 1].set_index("track_id")
    summary["msd_1_um2"] = (lag_1["sum_sq_um2"] / lag_1["n_pairs"]).reindex(summary.index)
    summary["msd_exponent"] = _msd_exponent(msd_sums).reindex(summary.index)

    summary["excluded"] = np.where(summary["n_frames"] < int(min_track_frames), "short", "")
    summary = summary.join(_track_info(tracks), how="left")
    summary = summary.join(_division_columns(summary, frame_interval_min), how="left").reset_index()
    schema = {**_TRACK_SUMMARY_SCHEMA, "mean_volume_um3": "float64"} if three_d else _TRACK_SUMMARY_SCHEMA
    summary = summary[list(schema)].astype(schema)
    n_short = int((summary["excluded"] == "short").sum())
    logger.info(
        "summarised %d tracks; %d shorter than %d frames flagged excluded='short' (left out of per-track statistics)",
        len(summary), n_short, min_track_frames,
    )
    return summary


def counts_per_frame(
    cells: pd.DataFrame, n_frames: int, frame_interval_min: float, field_area_um2: float | None = None
) -> pd.DataFrame:
    """Number of cells in each frame ``0 .. n_frames-1``, frames without cells included.

    Parameters
    ----------
    cells : pandas.DataFrame
        The cells table (a ``frame`` column, 0-based); None or empty: no cells.
    n_frames : int
        The movie's length (frames).
    frame_interval_min : float
        Time between frames (minutes).
    field_area_um2 : float, optional
        The imaged area in µm², image height × width (px) × pixel size² (µm²).

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``time_min`` (frame × interval, minutes), ``n_cells`` and
        ``density_per_mm2`` (cells per mm²: ``n_cells / (field_area_um2 / 1e6)``; NaN when
        ``field_area_um2`` is None).

    Raises
    ------
    ValueError
        ``cells`` refers to a frame outside the movie, ``n_frames`` is negative, or the interval or
        the area is not a positive finite number.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    if field_area_um2 is not None:
        _check_positive("field_area_um2", field_area_um2)
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    frames = np.arange(n_frames, dtype=np.int64)
    if cells is not None and len(cells) > 0:
        cell_frames = cells["frame"].to_numpy(dtype=np.int64)
        if cell_frames.min() < 0 or cell_frames.max() >= n_frames:
            raise ValueError(
                f"cells refer to frames {cell_frames.min()}..{cell_frames.max()}, movie has {n_frames} frames"
            )
        n_cells = np.bincount(cell_frames, minlength=n_frames).astype(np.int64)
    else:
        n_cells = np.zeros(n_frames, dtype=np.int64)
    field_area_mm2 = np.nan if field_area_um2 is None else float(field_area_um2) / 1e6
    counts = pd.DataFrame(
        {
            "frame": frames,
            "time_min": frames * float(frame_interval_min),
            "n_cells": n_cells,
            "density_per_mm2": n_cells / field_area_mm2,
        }
    )
    return counts.astype(_COUNTS_SCHEMA)


# ------------------------------------------------------------------------------------------
# 3-D stacks
# ------------------------------------------------------------------------------------------


def _check_voxel_size(voxel_size_um: tuple[float, float, float]) -> tuple[float, float, float]:
    voxel = tuple(float(v) for v in voxel_size_um)
    if len(voxel) != 3:
        raise ValueError(f"voxel_size_um must be (z, y, x) in µm, got {voxel_size_um!r}")
    for name, value in zip(("z", "y", "x"), voxel, strict=True):
        _check_positive(f"voxel_size_um ({name})", value)
    return voxel  # type: ignore[return-value]


def surface_area_um2(mask: ArrayLike, voxel_size_um: tuple[float, float, float]) -> float:
    """Surface area (µm²) of one object given as a (Z, Y, X) boolean mask.

    The surface is the 0.5 isosurface (marching cubes, in µm) of the mask smoothed by a Gaussian of
    sigma one pixel (the smallest voxel side, in µm) across and the larger of one pixel and half a z
    step along z.  Without the smoothing the isosurface follows the voxel staircase and overestimates
    the area: by 8-9 % for ellipsoids at 0.5 µm isotropic voxels and 13-18 % at 2 x 0.5 x 0.5
    µm.  With it, measured over random sub-voxel centres (tests/unit/test_measure_3d.py checks some):
    ellipsoids of semi-axes 4-8 µm within -3.5 % to +0.3 % at z steps of 0.5-1 µm; at 2 µm z steps
    within -1.6 % to +2.1 % when the semi-axis along z is at least 5 µm, -4.6 % to +2.9 % at 4 µm
    (two planes per semi-axis).  An object cut by the edge of the stack is closed by the cut face,
    which counts in the area.

    Parameters
    ----------
    mask : array_like of bool
        (Z, Y, X) mask of the object.
    voxel_size_um : tuple of float
        Voxel size (µm, z, y, x).

    Returns
    -------
    float
        The area (µm²); NaN for an object too small to have a surface (fewer than a few voxels).

    Raises
    ------
    ValueError
        ``mask`` not 3-D, or a voxel size not a positive finite number.
    """
    voxel = _check_voxel_size(voxel_size_um)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (Z, Y, X), got shape {mask.shape}")
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found or found[0] is None:
        return float("nan")
    pixel = min(voxel)
    sigma_um = (max(pixel, voxel[0] / 2), pixel, pixel)
    sigma = [su / v for su, v in zip(sigma_um, voxel, strict=True)]
    pad = [int(np.ceil(3 * s)) + 1 for s in sigma]
    padded = np.pad(mask[found[0]], [(p, p) for p in pad]).astype(np.float32)
    smooth = ndimage.gaussian_filter(padded, sigma, mode="constant")
    if smooth.max() <= 0.5:
        return float("nan")
    vertices, faces, _, _ = marching_cubes(smooth, 0.5, spacing=voxel)
    return float(mesh_surface_area(vertices, faces))


def measure_stack_3d(labels: ArrayLike, voxel_size_um: tuple[float, float, float]) -> pd.DataFrame:
    """Volume, centroid, surface area and sphericity of every object of one (Z, Y, X) label stack.

    Parameters
    ----------
    labels : array_like of int
        (Z, Y, X) instance labels, 0 = background.
    voxel_size_um : tuple of float
        (z step, y, x) in µm.

    Returns
    -------
    pandas.DataFrame
        One row per label present, in label order, columns :data:`CELL_3D_COLUMNS`:
        ``volume_voxels``; ``volume_um3`` (voxel count × voxel volume, µm³);
        ``centroid_z_um``/``_y_um``/``_x_um`` (mean voxel index × voxel size, µm, from the stack's first
        voxel); ``surface_area_um2`` (:func:`surface_area_um2`); ``sphericity`` (π^(1/3) (6 V)^(2/3) / A:
        1 for a sphere, smaller for any other shape; it can come out a few % above 1 for small round
        objects, whose smoothed surface is a little small; NaN where the area is).

    Raises
    ------
    ValueError
        ``labels`` is not 3-D integers or a voxel size is not a positive finite number.
    """
    voxel = _check_voxel_size(voxel_size_um)
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be (Z, Y, X), got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if labels.size == 0 or not labels.any():
        return _empty(_CELL_3D_SCHEMA)
    flat = labels.ravel().astype(np.int64)
    counts = np.bincount(flat)
    ids = np.flatnonzero(counts)
    ids = ids[ids > 0]
    n = counts[ids]
    boxes = ndimage.find_objects(labels)
    centroids = np.empty((len(ids), 3))
    areas = np.empty(len(ids))
    for row, i in enumerate(ids):
        box = boxes[i - 1]
        mask = labels[box] == i  # one object's bounding box at a time: memory of the largest object
        start = np.array([sl.start for sl in box])
        centroids[row] = (np.argwhere(mask).mean(axis=0) + start) * np.array(voxel)
        areas[row] = surface_area_um2(mask, voxel)
    volume = n * float(np.prod(voxel))
    table = pd.DataFrame({
        "label": ids,
        "volume_voxels": n,
        "volume_um3": volume,
        "centroid_z_um": centroids[:, 0],
        "centroid_y_um": centroids[:, 1],
        "centroid_x_um": centroids[:, 2],
        "surface_area_um2": areas,
        "sphericity": np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / areas,
    })
    return table.astype(_CELL_3D_SCHEMA)


def measure_cells_3d(
    labels: ArrayLike, voxel_size_um: tuple[float, float, float], frame_interval_min: float
) -> pd.DataFrame:
    """:func:`measure_stack_3d` of every stack of a (T, Z, Y, X) label movie, one stack at a time.

    Columns ``frame`` (0-based), ``time_min`` (frame × ``frame_interval_min``, minutes), then
    :data:`CELL_3D_COLUMNS`; rows by frame, then label.  ``labels`` may be any array with ``shape``
    and frame indexing (Zarr, dask).

    Parameters
    ----------
    labels : array_like of int
        (T, Z, Y, X) instance labels, 0 = background.
    voxel_size_um : tuple of float
        (z step, y, x) in µm.
    frame_interval_min : float
        Time between frames (minutes).

    Returns
    -------
    pandas.DataFrame
        One row per object per stack.

    Raises
    ------
    ValueError
        ``labels`` not 4-D, or a frame interval or voxel size not positive.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    if not hasattr(labels, "shape"):
        labels = np.asarray(labels)
    shape = tuple(labels.shape)  # type: ignore[union-attr]
    if len(shape) != 4:
        raise ValueError(f"labels must be (T, Z, Y, X), got shape {shape}")
    parts = []
    for t in range(shape[0]):
        table = measure_stack_3d(np.asarray(labels[t]), voxel_size_um)  # type: ignore[index]
        table.insert(0, "time_min", t * float(frame_interval_min))
        table.insert(0, "frame", t)
        parts.append(table)
    schema = {"frame": "int64", "time_min": "float64", **_CELL_3D_SCHEMA}
    if not parts:
        return _empty(schema)
    return pd.concat(parts, ignore_index=True).astype(schema)


def measure_volumes(
    labels: ArrayLike,
    image: ArrayLike,
    tracks: pd.DataFrame | None,
    voxel_size_um: tuple[float, float, float],
    frame_interval_min: float,
    settings: MeasureSettings,
) -> pd.DataFrame:
    """Shape and intensity of every object of a (T, Z, Y, X) label movie: the 3-D ``cells.parquet``.

    ``labels`` and ``image`` are read one stack at a time (any array with ``shape`` whose ``[t]`` reads
    one time point: numpy, zarr).

    Parameters
    ----------
    labels : array_like of int
        (T, Z, Y, X) instance labels, 0 = background.
    image : array_like
        (T, C, Z, Y, X) raw intensities, any numeric dtype.
    tracks : pandas.DataFrame or None
        The tracks table, giving each object its ``track_id`` as in :func:`measure_cells`.
    voxel_size_um : tuple of float
        (z step, y, x) in µm.
    frame_interval_min : float
        Time between frames (minutes).
    settings : MeasureSettings
        Measurement settings (the channel names).

    Returns
    -------
    pandas.DataFrame
        One row per object per stack, sorted by (frame, label): ``frame, time_min, label, track_id``
        (nullable Int64), then :data:`CELL_3D_COLUMNS` of :func:`measure_stack_3d` (volume in voxels and
        µm³, centroid z, y, x in µm, surface area µm², sphericity) and, per channel,
        ``mean_intensity_<name>`` (mean over the object's voxels) and ``integrated_intensity_<name>``
        (sum over them).

    Raises
    ------
    ValueError
        ``labels`` and ``image`` not (T, Z, Y, X) and (T, C, Z, Y, X) of matching sizes, or a frame
        interval not positive.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    label_shape = tuple(int(n) for n in np.shape(labels))
    image_shape = tuple(int(n) for n in np.shape(image))
    if len(label_shape) != 4:
        raise ValueError(f"labels must be (T, Z, Y, X), got shape {label_shape}")
    if len(image_shape) != 5 or image_shape[0] != label_shape[0] or image_shape[2:] != label_shape[1:]:
        raise ValueError(f"labels {label_shape} and image {image_shape} do not match as (T, Z, Y, X), (T, C, Z, Y, X)")
    channel_names = _channel_names(settings, image_shape[1])
    schema: dict[str, Any] = {"frame": "int64", "time_min": "float64", "label": "int64", "track_id": "Int64",
                              **_CELL_3D_SCHEMA}
    for prefix in ("mean_intensity", "integrated_intensity"):
        schema.update({f"{prefix}_{name}": "float64" for name in channel_names})
    pieces: list[pd.DataFrame] = []
    for t in range(label_shape[0]):
        stack = np.asarray(labels[t])  # type: ignore[index]
        table = measure_stack_3d(stack, voxel_size_um)
        if table.empty:
            continue
        ids = table["label"].to_numpy(np.int64)
        flat = stack.ravel().astype(np.int64)
        raw = np.asarray(image[t])  # type: ignore[index]
        # sums per label in float64 (exact for integer images up to 2**53), means over the same voxels
        sums = [np.bincount(flat, weights=raw[c].ravel().astype(np.float64), minlength=int(ids.max()) + 1)[ids]
                for c in range(len(channel_names))]
        table.insert(0, "time_min", t * float(frame_interval_min))
        table.insert(0, "frame", t)
        for name, total in zip(channel_names, sums, strict=True):
            table[f"mean_intensity_{name}"] = total / table["volume_voxels"].to_numpy(np.float64)
        for name, total in zip(channel_names, sums, strict=True):
            table[f"integrated_intensity_{name}"] = total
        pieces.append(table)
    if not pieces:
        logger.info("no objects in %d stack(s)", label_shape[0])
        return _empty(schema)
    cells = pd.concat(pieces, ignore_index=True)
    cells = cells.merge(_track_lookup(tracks), on=["frame", "label"], how="left", validate="one_to_one")
    cells = cells[list(schema)].astype(schema).sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    logger.info("measured %d objects in %d stack(s); %d without a track id", len(cells), label_shape[0],
                int(cells["track_id"].isna().sum()))
    return cells
