"""Per-track summaries: duration, path, speed, divisions and cell-cycle times, and which tracks enter statistics.

A track shorter than ``min_track_frames`` stays in the table with ``excluded`` saying why
(:data:`EXCLUSION_REASONS`), and is left out of per-track statistics by default.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import TrackSettings
from cellpipe.measure.common import _check_positive, _empty
from cellpipe.measure.msd import _msd_exponent, _msd_positions, _msd_sums

logger = logging.getLogger(__name__)


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

#: ``min_track_frames`` of :func:`summarize_tracks` when not given: the tracking setting's default.
DEFAULT_MIN_TRACK_FRAMES: int = TrackSettings.model_fields["min_track_frames"].default

#: Values of ``excluded`` in the per-track table: '' (the track enters per-track statistics) or why not.
EXCLUSION_REASONS: tuple[str, ...] = ("short",)


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
