"""Per-cell measurements of 2-D label movies (shape, position, intensity per channel) and cells per frame.

Units are stated in column names: ``_px`` (pixels), ``_um`` (µm), ``_um2`` (µm²), ``_min`` (minutes), ``_per_mm2``
(per mm²); frames are 0-based.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from skimage.measure import regionprops_table

from cellpipe.config import MeasureSettings
from cellpipe.measure.common import _channel_names, _check_positive, _empty, _track_lookup

logger = logging.getLogger(__name__)


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

#: Columns and dtypes of the cells-per-frame table.
_COUNTS_SCHEMA: dict[str, Any] = {
    "frame": "int64",
    "time_min": "float64",
    "n_cells": "int64",
    "density_per_mm2": "float64",
}
COUNTS_COLUMNS: tuple[str, ...] = tuple(_COUNTS_SCHEMA)


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
