"""Per-cell measurements, per-track summaries and cell counts over time.

All functions are pure: they take label movies, raw intensity movies and
tables in memory and return :class:`pandas.DataFrame` objects.  Units are
stated in column names: ``_px`` (pixels), ``_um`` (µm), ``_um2`` (µm²),
``_min`` (minutes); frames are 0-based integer indices.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import Field, field_validator
from skimage.measure import regionprops_table

from cellpipe._base import StageSettings

logger = logging.getLogger(__name__)

__all__ = [
    "MeasureSettings",
    "cell_columns",
    "counts_per_frame",
    "measure_cells",
    "summarize_tracks",
    "TRACK_SUMMARY_COLUMNS",
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
}
TRACK_SUMMARY_COLUMNS: tuple[str, ...] = tuple(_TRACK_SUMMARY_SCHEMA)

_COUNTS_SCHEMA: dict[str, Any] = {"frame": "int64", "time_min": "float64", "n_cells": "int64"}


class MeasureSettings(StageSettings):
    """Settings of the measurement stage."""

    channel_names: list[str] | None = Field(
        default=None,
        description=(
            "Names of the image channels, in channel order, used in the intensity column names "
            "(mean_intensity_<name>, integrated_intensity_<name>); None means ch0, ch1, ... (no unit)"
        ),
    )

    @field_validator("channel_names")
    @classmethod
    def _check_channel_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if any(not name.strip() for name in value):
            raise ValueError("channel names must be non-empty strings")
        if len(set(value)) != len(value):
            raise ValueError(f"channel names must be unique, got {value}")
        return value


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
    """Column name -> dtype of the table returned by :func:`measure_cells` for these channels."""
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
    labels:
        (T, Y, X) integer label movie; 0 is background and labels are
        independent per frame.  Any array supporting ``labels[t]`` (numpy,
        zarr, dask) works; frames are read one at a time.
    image:
        (T, C, Y, X) raw intensities, any numeric dtype.  A (T, Y, X) movie
        is treated as a single channel.
    tracks:
        Tracks table with at least ``frame, label, track_id``; used to give
        each object its track id.  ``None`` or empty: every track id is NA.
    pixel_size_um:
        Pixel size (µm per px), same in y and x.
    frame_interval_min:
        Time between frames (minutes).
    settings:
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


def summarize_tracks(cells: pd.DataFrame, tracks: pd.DataFrame, frame_interval_min: float) -> pd.DataFrame:
    """One row per track: lineage, lifetime, size and motility.

    Positions come from the measured cell centroids (``centroid_y_um``,
    ``centroid_x_um`` of ``cells``, matched by ``track_id`` and ``frame``);
    where a track has no measured cell in a frame (e.g. a gap filled by the
    tracker) the tracker's ``y_um, x_um`` are used.

    Columns: ``track_id, parent, root, generation, first_frame, last_frame,
    n_frames`` (frames in which the track has a position), ``duration_min``
    ((last_frame - first_frame) × frame interval), ``mean_area_um2`` (over
    measured cells; NaN if none), ``displacement_um`` (straight line from the
    first to the last position), ``path_length_um`` (sum of the steps between
    consecutive positions), ``mean_speed_um_per_min`` (path length /
    duration; NaN for single-frame tracks) and ``straightness`` (displacement
    / path length, in [0, 1]; NaN when the path length is 0).  Sorted by
    ``track_id``; empty inputs give an empty table with the same columns.
    """
    _check_positive("frame_interval_min", frame_interval_min)
    if tracks is None or len(tracks) == 0:
        return _empty(_TRACK_SUMMARY_SCHEMA)
    missing = {"frame", "track_id"} - set(tracks.columns)
    if missing:
        raise ValueError(f"tracks table lacks columns {sorted(missing)}")

    positions = tracks[["track_id", "frame"]].astype("int64").copy()
    for axis in ("y", "x"):
        col = f"{axis}_um"
        positions[col] = tracks[col].astype("float64").to_numpy() if col in tracks else np.nan
    positions = positions.drop_duplicates(subset=["track_id", "frame"], keep="first")

    measured_cols = ["track_id", "frame", "centroid_y_um", "centroid_x_um", "area_um2"]
    if cells is not None and len(cells) > 0 and set(measured_cols) <= set(cells.columns):
        measured = cells.loc[cells["track_id"].notna(), measured_cols].copy()
        measured = measured.astype({"track_id": "int64", "frame": "int64"})
        measured = measured.drop_duplicates(subset=["track_id", "frame"], keep="first")
        positions = positions.merge(measured, on=["track_id", "frame"], how="left")
        positions["y_um"] = positions["centroid_y_um"].fillna(positions["y_um"])
        positions["x_um"] = positions["centroid_x_um"].fillna(positions["x_um"])
    else:
        positions["area_um2"] = np.nan
    positions = positions.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)

    # Steps between consecutive rows of the same track.
    same_track = positions["track_id"].to_numpy()[1:] == positions["track_id"].to_numpy()[:-1]
    dy = np.diff(positions["y_um"].to_numpy())
    dx = np.diff(positions["x_um"].to_numpy())
    steps = np.where(same_track, np.hypot(dy, dx), 0.0)
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

    summary = summary.join(_track_info(tracks), how="left").reset_index()
    summary = summary[list(_TRACK_SUMMARY_SCHEMA)].astype(_TRACK_SUMMARY_SCHEMA)
    logger.info("summarised %d tracks", len(summary))
    return summary


def counts_per_frame(cells: pd.DataFrame, n_frames: int, frame_interval_min: float) -> pd.DataFrame:
    """Number of cells in each frame ``0 .. n_frames-1``, frames without cells included.

    Returns columns ``frame``, ``time_min`` (frame × interval, minutes) and
    ``n_cells``.  Raises :class:`ValueError` if ``cells`` refers to a frame
    outside the movie.
    """
    _check_positive("frame_interval_min", frame_interval_min)
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
    counts = pd.DataFrame({"frame": frames, "time_min": frames * float(frame_interval_min), "n_cells": n_cells})
    return counts.astype(_COUNTS_SCHEMA)
