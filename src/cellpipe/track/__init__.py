"""Tracking: link segmented objects over time with btrack, divisions included.

:func:`track_cells` takes a (T, Y, X) movie of instance labels (labels are independent per frame), turns every
object into a btrack object (:mod:`cellpipe.track.linking`), runs btrack's Bayesian tracker (frame-to-frame linking
with a Kalman motion model) and, optionally, its global optimisation (gap closing, divisions, false positives),
mends the tracks where objects were missed (:mod:`cellpipe.track.gaps`), cuts and checks divisions
(:mod:`cellpipe.track.divisions`) and returns (tables by :mod:`cellpipe.track.labels`):

* ``tracks``: one row per segmented object per frame (interpolated "dummy" positions the tracker inserts across
  gaps are left out);
* ``lineage``: one row per parent -> child edge of a division;
* ``relabelled``: the label movie with every object's pixels set to its track id;
* ``info``: how the run went (update mode, search radius, objects per frame, whether the optimiser found a
  solution, seconds spent, divisions undone per reason, tracks shorter than ``min_track_frames``).

:func:`track_cells_3d` does the same for (T, Z, Y, X) label movies, on the objects' 3-D centroids.

Units: the settings are in µm and µm², converted with the movie's pixel size; btrack's configuration
(``resources/tracker/cellpipe_tracker.json``) is in pixels and frames.  Frames are 0-based indices.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import TrackSettings
from cellpipe.track.common import (
    _LINEAGE_SCHEMA,
    _TRACK_SCHEMA,
    _TRACK_SCHEMA_3D,
    LINEAGE_COLUMNS,
    TRACK_COLUMNS,
    TRACK_COLUMNS_3D,
    TrackingResult,
    TrackingTimeLimitError,
    _empty_frame,
)
from cellpipe.track.divisions import DIVISION_REJECTION_REASONS, _check_divisions, _split_divisions
from cellpipe.track.gaps import _fill_gaps, _link_by_overlap
from cellpipe.track.labels import _assemble, relabel_frames
from cellpipe.track.linking import _dense_mode, _objects_from_labels, _quiet_btrack, _run_btrack, tracker_configuration

logger = logging.getLogger(__name__)

__all__ = [
    "DIVISION_REJECTION_REASONS",
    "LINEAGE_COLUMNS",
    "TRACK_COLUMNS",
    "TRACK_COLUMNS_3D",
    "TrackingResult",
    "TrackingTimeLimitError",
    "relabel_frames",
    "track_cells",
    "track_cells_3d",
    "tracker_configuration",
]


def track_cells(
    labels: np.ndarray,
    settings: TrackSettings,
    tracker_config: dict[str, Any],
    pixel_size_um: float,
    frame_interval_min: float,
    relabel: bool = True,
) -> TrackingResult:
    """Track the objects of a label movie with btrack.

    Parameters
    ----------
    labels : array_like of int
        (T, Y, X) non-negative integer instance labels (frames, px, px), 0 = background;
        labels are independent per frame.  Any array with ``shape`` and ``dtype`` whose
        ``labels[t]`` is a frame (numpy, zarr): it is read one frame at a time.
    settings : TrackSettings
        Tracking settings (µm, µm², frames).
    tracker_config : dict
        The parsed btrack configuration (JSON dict, px and frames); see
        :func:`tracker_configuration` for what the settings override.
    pixel_size_um : float
        Pixel size (µm/px), to convert the settings to px and centroids to µm.
    frame_interval_min : float
        Time between frames (minutes), for the ``time_min`` column.
    relabel : bool
        Make the track-relabelled movie in memory (``relabelled``).  False leaves it None, for
        callers that write it frame by frame with :func:`relabel_frames` (memory then does not
        grow with the movie's length beyond the object table).

    Returns
    -------
    TrackingResult
        Tracks, lineage, track-relabelled masks and the run's record.  Track ids are positive
        and numbered 1, 2, ... in the order of (first frame, first y, first x),
        so identical input gives identical ids; a child's id is always larger
        than its parent's.  Every object that passes ``min_area_um2`` has
        exactly one track: an object btrack leaves unassigned gets a one-object track.

    Raises
    ------
    ValueError
        ``labels`` not (T, Y, X) integers, or a pixel size or frame interval not positive.
    TrackingTimeLimitError
        Frame-to-frame linking did not finish within ``settings.time_limit_s``.
    """
    shape = tuple(int(n) for n in np.shape(labels))  # .shape only: a zarr or dask array is not read here
    if len(shape) != 3:
        raise ValueError(f"labels must be (T, Y, X), got shape {shape}")
    dtype = np.dtype(labels.dtype) if hasattr(labels, "dtype") else np.asarray(labels[0]).dtype
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"labels must be integers, got {dtype}")
    if not pixel_size_um > 0 or not frame_interval_min > 0:
        raise ValueError(f"pixel_size_um and frame_interval_min must be > 0, got {pixel_size_um}, {frame_interval_min}")
    return _track(labels, shape, settings, tracker_config, pixel_size_um, frame_interval_min, relabel)


def _track(
    labels: Any,
    shape: tuple[int, ...],
    settings: TrackSettings,
    tracker_config: dict[str, Any],
    pixel_size_um: float,
    frame_interval_min: float,
    relabel: bool,
    z_size_um: float | None = None,
) -> TrackingResult:
    """Track checked input: the common body of :func:`track_cells` and :func:`track_cells_3d`.

    ``z_size_um`` None for (T, Y, X) labels (:func:`track_cells`); the z step in µm for (T, Z, Y, X)
    labels (:func:`track_cells_3d`).
    """
    three_d = z_size_um is not None
    z_scale = float(z_size_um) / pixel_size_um if z_size_um is not None else None
    relabelled = np.zeros(shape, dtype=np.uint32) if relabel else None
    config = tracker_configuration(tracker_config, settings, pixel_size_um, ndim=3 if three_d else 2)
    min_area_px = settings.min_area_um2 / pixel_size_um**2
    # 3-D: the volume (voxels) of the sphere whose central section has min_area_um2
    min_size = min_area_px if z_size_um is None else _sphere_volume_um3(settings.min_area_um2) / (
        float(z_size_um) * pixel_size_um**2
    )
    info: dict[str, Any] = {
        "update_method": "EXACT",
        "search_radius_px": float(config["max_search_radius"]),
        "min_area_px": float(min_area_px),
        "n_frames": shape[0],
        "n_objects": 0,
        "max_objects_per_frame": 0,
        "n_small_objects_dropped": 0,
        "n_gap_objects_filled": 0,
        "n_overlap_links": 0,
        "optimizer": "not run",
        "n_tracks": 0,
        "n_divisions": 0,
        "n_split_divisions": 0,
        "n_divisions_rejected": 0,
        "divisions_rejected": dict.fromkeys(DIVISION_REJECTION_REASONS, 0),
        "median_diameter_um": None,
        "median_diameter_px": None,
        "division_max_distance_used_um": settings.division_max_distance_um,
        "min_track_frames": settings.min_track_frames,
        "n_short_tracks": 0,
        "linking_s": 0.0,
        "optimizer_s": 0.0,
    }
    if z_size_um is not None:
        info["voxel_size_um"] = [float(z_size_um), float(pixel_size_um), float(pixel_size_um)]
        info["min_volume_vox"] = float(min_size)
    schema = _TRACK_SCHEMA_3D if three_d else _TRACK_SCHEMA
    empty = TrackingResult(_empty_frame(schema), _empty_frame(_LINEAGE_SCHEMA), relabelled, info)

    with _quiet_btrack():
        objects, table, n_small = _objects_from_labels(labels, min_size, z_scale)
        info["n_small_objects_dropped"] = n_small
        if not objects:
            logger.info("no objects of at least %.1f px in %d frame(s): nothing to track", min_size, shape[0])
            return empty
        config = _dense_mode(config, table, settings, pixel_size_um)
        info["update_method"] = "APPROXIMATE" if config.get("update_method") == 1 else "EXACT"
        info["search_radius_px"] = float(config["max_search_radius"])
        info["n_objects"] = len(objects)
        info["max_objects_per_frame"] = int(table["frame"].value_counts().max())
        logger.info(
            "tracking %d objects in %d frames (search radius %.1f px, %s updates)",
            len(objects), shape[0], config["max_search_radius"], info["update_method"].lower(),
        )
        if z_scale is None:
            raw_tracks, run = _run_btrack(objects, config, shape[1:], shape[0], settings)
        else:
            raw_tracks, run = _run_btrack(objects, config, shape[-2:], shape[0], settings, z_extent=shape[1] * z_scale)
        info.update(run)
    if settings.gap_fill_distance_um is not None:
        raw_tracks, info["n_gap_objects_filled"] = _fill_gaps(
            raw_tracks, table, settings.gap_fill_distance_um / pixel_size_um
        )
        if info["n_gap_objects_filled"]:
            logger.info(
                "%d lone object(s) put into gaps of tracks (track.gap_fill_distance_um %g µm)",
                info["n_gap_objects_filled"], settings.gap_fill_distance_um,
            )

    if settings.overlap_link_min_iou is not None:
        raw_tracks, info["n_overlap_links"] = _link_by_overlap(raw_tracks, table, labels, settings.overlap_link_min_iou)
        logger.info(
            "%d link(s) by mask overlap that btrack had not made (track.overlap_link_min_iou %g)",
            info["n_overlap_links"], settings.overlap_link_min_iou,
        )

    distance_um, median_um = _division_distance_um(table, settings, pixel_size_um, z_size_um)
    info["median_diameter_um"] = round(median_um, 3)
    info["median_diameter_px"] = round(median_um / pixel_size_um, 3)
    info["division_max_distance_used_um"] = round(distance_um, 3)
    if distance_um > settings.division_max_distance_um:
        logger.info(
            "daughters may start up to %.1f µm from their mother (%g median cell diameters of %.1f µm; "
            "track.division_max_distance_diameters)", distance_um, settings.division_max_distance_diameters, median_um,
        )
    settings = settings.model_copy(update={"division_max_distance_um": distance_um})

    if settings.divisions and settings.split_divisions:
        raw_tracks, info["n_split_divisions"] = _split_divisions(raw_tracks, table, settings, pixel_size_um)
        if info["n_split_divisions"]:
            logger.info("%d division(s) where a track went on into one daughter (track.split_divisions)",
                        info["n_split_divisions"])

    raw_tracks, rejected = _check_divisions(raw_tracks, table, settings, pixel_size_um)
    info["n_divisions_rejected"] = sum(rejected.values())
    info["divisions_rejected"] = rejected
    if info["n_divisions_rejected"]:
        logger.info(
            "%d division(s) of btrack undone into continuations (%s)", info["n_divisions_rejected"],
            ", ".join(f"{why}: {n}" for why, n in rejected.items() if n),
        )

    tracks, lineage = _assemble(table, raw_tracks, pixel_size_um, frame_interval_min, z_size_um)
    if relabelled is not None:
        for t, frame in enumerate(relabel_frames(labels, tracks)):
            relabelled[t] = frame
    info["n_tracks"] = int(tracks["track_id"].nunique())
    daughters = lineage.groupby("parent").size()
    info["n_divisions"] = int((daughters >= 2).sum())
    track_frames = tracks.groupby("track_id").size()
    info["n_short_tracks"] = int((track_frames < settings.min_track_frames).sum())
    logger.info(
        "%d tracks (%d from btrack), %d division edges, %d objects",
        tracks["track_id"].nunique(), len(raw_tracks), len(lineage), len(tracks),
    )
    return TrackingResult(tracks, lineage, relabelled, info)


def _division_distance_um(
    table: pd.DataFrame, settings: TrackSettings, pixel_size_um: float, z_size_um: float | None
) -> tuple[float, float]:
    """The distance (µm) within which daughters must start from their mother, and the median cell diameter (µm).

    The diameter is the median over ``table``'s objects of the circle's of equal area (2-D, ``area_px`` in
    px), or the sphere's of equal volume (3-D, ``area_px`` in voxels of ``z_size_um`` x ``pixel_size_um``²).
    The distance is the larger of ``settings.division_max_distance_um`` and
    ``settings.division_max_distance_diameters`` diameters (the first alone when that is None): daughters
    start about one of their mother's diameters apart, so a fixed distance chosen for nuclei rejects the
    divisions of larger cells.
    """
    area = table["area_px"].to_numpy(dtype=np.float64)
    if z_size_um is None:
        diameters = 2.0 * np.sqrt(area / math.pi) * pixel_size_um
    else:
        diameters = np.cbrt(6.0 * area * float(z_size_um) * pixel_size_um**2 / math.pi)
    median = float(np.median(diameters)) if diameters.size else 0.0
    distance = settings.division_max_distance_um
    if settings.division_max_distance_diameters is not None:
        distance = max(distance, settings.division_max_distance_diameters * median)
    return distance, median


def _sphere_volume_um3(section_area_um2: float) -> float:
    """Volume (µm³) of the sphere whose central section has ``section_area_um2`` (µm²)."""
    radius = math.sqrt(section_area_um2 / math.pi)
    return 4.0 / 3.0 * math.pi * radius**3


class _FirstPlane:
    """The (T, Y, X) movie of the single z plane of a (T, 1, Y, X) label movie, read one frame at a time."""

    def __init__(self, labels: Any) -> None:
        self._labels = labels
        shape = tuple(int(n) for n in np.shape(labels))
        self.shape = (shape[0], shape[2], shape[3])
        self.dtype = np.dtype(labels.dtype) if hasattr(labels, "dtype") else np.asarray(labels[0]).dtype

    def __getitem__(self, t: int) -> np.ndarray:
        return np.asarray(self._labels[t])[0]


def track_cells_3d(
    labels: Any,
    settings: TrackSettings,
    tracker_config: dict[str, Any],
    voxel_size_um: tuple[float, float, float],
    frame_interval_min: float,
    relabel: bool = True,
) -> TrackingResult:
    """Track the objects of a (T, Z, Y, X) label movie of z-stacks with btrack, in 3-D.

    Every object's centroid reaches btrack as (x, y, z) in xy px with z converted through µm
    (``z_px * dz / dy``), so distances along z count in µm exactly as in the plane: the search
    radius, the motion and position noise, gap filling (``gap_fill_distance_um``) and the division
    distance check (``division_max_distance_um``) all apply in 3-D, and the btrack configuration
    keeps the meaning it has in 2-D.  The motion model's z terms are set equal to its x terms (a 2-D
    configuration holds z fixed).  Objects smaller than the sphere whose central section has
    ``min_area_um2`` are dropped, except those touching a face of the stack (a nucleus cut by the
    imaged volume shows only a cap of itself); a label of several disconnected pieces is tracked by its largest
    26-connected piece.  A movie of one z plane is tracked exactly as :func:`track_cells` tracks its
    (T, Y, X) frames, with ``z_px = z_um = 0``.

    Parameters
    ----------
    labels : array_like of int
        (T, Z, Y, X) non-negative integer instance labels, 0 = background, independent per stack;
        any array with ``shape`` whose ``labels[t]`` is one stack (numpy, zarr), read one stack at a time.
    settings : TrackSettings
        As for :func:`track_cells` (µm, µm², frames).
    tracker_config : dict
        The parsed btrack configuration (xy px and frames), as for :func:`track_cells`.
    voxel_size_um : tuple of float
        Voxel size (µm, z, y, x); y and x must be equal (cellpipe refuses non-square pixels).
    frame_interval_min : float
        Time between frames (minutes), for the ``time_min`` column.
    relabel : bool, default True
        As for :func:`track_cells`.

    Returns
    -------
    TrackingResult
        As :func:`track_cells`, with the tracks' columns of 2-D followed by ``z_px`` (centroid, voxels
        along z) and ``z_um`` (µm); ``area_px``-based checks use volumes in voxels; ``relabelled`` is
        (T, Z, Y, X) (:func:`relabel_frames` relabels stacks as well as frames).

    Raises
    ------
    ValueError
        ``labels`` not (T, Z, Y, X) integers, a voxel size not three positive numbers, non-square
        pixels, or a frame interval not positive.
    """
    shape = tuple(int(n) for n in np.shape(labels))
    if len(shape) != 4:
        raise ValueError(f"labels must be (T, Z, Y, X), got shape {shape}")
    dtype = np.dtype(labels.dtype) if hasattr(labels, "dtype") else np.asarray(labels[0]).dtype
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"labels must be integers, got {dtype}")
    sizes = tuple(float(v) for v in voxel_size_um)
    if len(sizes) != 3 or not all(v > 0 and math.isfinite(v) for v in sizes):
        raise ValueError(f"voxel_size_um must be three positive numbers of µm (z, y, x), got {voxel_size_um}")
    dz, dy, dx = sizes
    if not math.isclose(dy, dx, rel_tol=1e-6):
        raise ValueError(f"non-square pixels ({dy} x {dx} µm) are not supported")
    if not frame_interval_min > 0:
        raise ValueError(f"frame_interval_min must be > 0, got {frame_interval_min}")
    if shape[1] == 1:
        result = track_cells(_FirstPlane(labels), settings, tracker_config, dy, frame_interval_min, relabel)
        tracks = result.tracks.assign(z_px=0.0, z_um=0.0).astype(_TRACK_SCHEMA_3D)
        relabelled = None if result.relabelled is None else result.relabelled[:, None]
        info = {**result.info, "voxel_size_um": [dz, dy, dx]}
        return TrackingResult(tracks, result.lineage, relabelled, info)
    return _track(labels, shape, settings, tracker_config, dy, frame_interval_min, relabel, z_size_um=dz)
