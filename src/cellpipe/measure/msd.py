"""Mean squared displacement (MSD) of tracks: per track, pooled over tracks, and its exponent.

Lags are counted in frames (``lag_frames``) and minutes (``lag_min``); displacements are in µm, MSD in µm².  The
exponent is the slope of log MSD against log lag (1: diffusion, 2: directed motion).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cellpipe.measure.common import _check_positive, _empty

logger = logging.getLogger(__name__)


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
