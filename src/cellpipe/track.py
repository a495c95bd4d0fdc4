"""Tracking: link segmented objects over time with btrack, divisions included.

:func:`track_cells` takes a (T, Y, X) movie of instance labels (labels are
independent per frame), turns every object into a btrack object with
``btrack.utils.segmentation_to_objects``, runs btrack's Bayesian tracker
(frame-to-frame linking with a Kalman motion model) and, optionally, its
global optimisation (gap closing, divisions, false positives), and returns:

* ``tracks``: one row per segmented object per frame (interpolated "dummy"
  positions the tracker inserts across gaps are left out);
* ``lineage``: one row per parent -> child edge of a division;
* ``relabelled``: the label movie with every object's pixels set to its track id;
* ``info``: how the run went (update mode, search radius, objects per frame,
  whether the optimiser found a solution, seconds spent).

Where btrack carried a mother on into one daughter while the sister started a
track of her own, the track is cut into a division (``split_divisions``).
Divisions are then checked: one is kept only when its daughters last
(``min_track_frames``, or to the movie's end), start within
``division_max_daughter_lag_frames`` of each other, near the mother's last
position (``division_max_distance_um``) and with plausible areas
(``division_min_area_fraction`` .. ``division_max_area_fraction`` of the
mother's last area).  Otherwise, and for a mother with a single daughter, the
daughter that best continues the mother joins her track and any other becomes a
new root track: flickering objects (dim out-of-focus nuclei, fragments beside
bright nuclei) are not reported as divisions.  ``info`` counts the
divisions undone per reason and the tracks shorter than ``min_track_frames``.

Dense movies: when a frame has more objects than ``dense_objects_per_frame``,
btrack's approximate update mode is used with a search radius bounded by
``dense_search_radius_um``, since the exact mode's all-pairs updates grow with
the square of the objects per frame.  Frame-to-frame linking runs under a
wall-clock bound (``time_limit_s``): when it is hit the run stops with
:class:`TrackingTimeLimitError`, saying where it stopped, instead of hanging;
the optimiser has its own bound (``optimizer_time_limit_s``), past which the
tracks are btrack's tracklets and ``info`` and the log say so.

Units: the btrack configuration (``resources/tracker/cellpipe_tracker.json``)
is in pixels and frames; the settings here are in µm and µm² and converted
with the movie's pixel size.  Frames are 0-based indices.

btrack's C++ library must load; on Debian 12 run ``python tools/ensure_btrack.py``
once (the Makefile does) to rebuild it against the system's libstdc++.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cellpipe.config import TrackSettings

if TYPE_CHECKING:  # pragma: no cover
    import btrack.btypes

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

#: Hypothesis names in btrack's hypothesis model switched by the settings.
_DIVISION_HYPOTHESIS = "P_branch"
_APOPTOSIS_HYPOTHESIS = "P_dead"


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


def tracker_configuration(
    tracker_config: dict[str, Any], settings: TrackSettings, pixel_size_um: float, ndim: int = 2
) -> dict[str, Any]:
    """The btrack configuration to run with: ``tracker_config`` overridden by ``settings``.

    ``max_search_radius`` (frame-to-frame links) and the hypothesis model's
    ``dist_thresh`` (joins across gaps, divisions) become
    ``settings.max_search_radius_um`` in px, P_branch / P_dead are added to or removed from the hypotheses following
    ``settings.divisions`` / ``settings.apoptosis``, the optimiser gets the
    time limit and is silenced, and ``verbose`` is off.

    Parameters
    ----------
    tracker_config : dict
        The parsed btrack configuration (JSON, distances in px, times in frames); ``motion_model``
        is required.
    settings : TrackSettings
        Tracking settings (µm, frames, seconds for the optimiser's time limit).
    pixel_size_um : float
        Pixel size (µm/px), to convert the settings' distances to px.
    ndim : int, default 2
        2, or 3 for :func:`track_cells_3d`: z then reaches btrack in xy px and the motion model's z
        terms are made those of x.

    Returns
    -------
    dict
        A new configuration (px and frames); ``tracker_config`` is not changed.

    Raises
    ------
    ValueError
        Unknown top-level keys (btrack itself would ignore a misspelt key), or no ``motion_model``.
    """
    with warnings.catch_warnings():  # pydantic deprecations raised while btrack defines its models
        warnings.simplefilter("ignore", DeprecationWarning)
        from btrack.config import TrackerConfig

    unknown = sorted(set(tracker_config) - set(TrackerConfig.model_fields))
    if unknown:
        raise ValueError(f"btrack configuration: unknown key(s) {unknown}; allowed: {sorted(TrackerConfig.model_fields)}")
    if "motion_model" not in tracker_config:
        raise ValueError("btrack configuration: motion_model is required")
    cfg = dict(tracker_config)
    cfg["verbose"] = False
    cfg["max_search_radius"] = float(settings.max_search_radius_um / pixel_size_um)
    motion = dict(cfg["motion_model"])
    if settings.motion_noise_um is not None:
        motion["Q"] = _white_noise_acceleration(settings.motion_noise_um / pixel_size_um)
    if settings.position_noise_um is not None:
        sigma2 = (settings.position_noise_um / pixel_size_um) ** 2
        motion["R"] = [sigma2, 0, 0, 0, sigma2, 0, 0, 0, sigma2]
    if ndim == 3:  # track_cells_3d: z in xy px as well, moving and measured as x is
        motion = _z_like_x(motion)
    cfg["motion_model"] = motion
    options = dict(cfg.get("optimizer_options") or {})
    options["tm_lim"] = int(round(settings.optimizer_time_limit_s * 1000))
    options["msg_lev"] = "GLP_MSG_OFF"
    cfg["optimizer_options"] = options
    if cfg.get("hypothesis_model") is not None:
        model = dict(cfg["hypothesis_model"])
        hypotheses = [h for h in model.get("hypotheses", []) if h not in (_DIVISION_HYPOTHESIS, _APOPTOSIS_HYPOTHESIS)]
        if settings.divisions:
            hypotheses.append(_DIVISION_HYPOTHESIS)
        if settings.apoptosis:
            hypotheses.append(_APOPTOSIS_HYPOTHESIS)
        model["hypotheses"] = hypotheses
        model["dist_thresh"] = cfg["max_search_radius"]
        if settings.border_distance_um is not None:
            model["theta_dist"] = float(settings.border_distance_um / pixel_size_um)
        cfg["hypothesis_model"] = model
    elif settings.optimize:
        raise ValueError("btrack configuration: hypothesis_model is required when track.optimize is true")
    return cfg


def _white_noise_acceleration(sigma_px: float) -> list[float]:
    """Process noise Q (6x6, row-major) of btrack's constant-velocity model with state (x, y, z, vx, vy, vz).

    A random change of velocity with standard deviation ``sigma_px`` (px/frame) per frame, dt = 1
    frame: per axis Q = sigma² G Gᵀ with G = (1/2, 1) for (position, velocity); z is not used.
    """
    g = np.array([0.5, 0.5, 0.0, 1.0, 1.0, 0.0])
    q = np.outer(g, g) * float(sigma_px) ** 2
    q[0, 1] = q[1, 0] = q[0, 4] = q[4, 0] = q[1, 3] = q[3, 1] = q[3, 4] = q[4, 3] = 0.0  # axes independent
    return [float(v) for v in q.ravel()]


def _z_like_x(motion: dict[str, Any]) -> dict[str, Any]:
    """Copy a constant-velocity motion model (state x, y, z, vx, vy, vz), making its z terms those of x.

    The z rows and columns of P, Q and R become those of x.  3-D positions reach btrack in the units of
    the xy pixel (z in µm divided by the xy pixel size), so a cell is as free to move, and measured as
    precisely, along z as along x; a 2-D configuration leaves z without process noise, which would hold
    a cell's z velocity fixed.
    """
    out = dict(motion)
    pos, vel, z_pos, z_vel = 0, 3, 2, 5
    for name in ("P", "Q"):
        m = np.asarray(out[name], dtype=np.float64).reshape(6, 6).copy()
        for a in (z_pos, z_vel):
            m[a, :] = 0.0
            m[:, a] = 0.0
        m[z_pos, z_pos], m[z_vel, z_vel] = m[pos, pos], m[vel, vel]
        m[z_pos, z_vel] = m[pos, vel]
        m[z_vel, z_pos] = m[vel, pos]
        out[name] = [float(v) for v in m.ravel()]
    r = np.asarray(out["R"], dtype=np.float64).reshape(3, 3).copy()
    r[2, :] = 0.0
    r[:, 2] = 0.0
    r[2, 2] = r[0, 0]
    out["R"] = [float(v) for v in r.ravel()]
    return out


def _distance(delta: np.ndarray) -> float:
    """Length of a (y, x) or (z, y, x) difference; 2-D keeps ``np.hypot``, whose last bit the 2-D results rest on."""
    if len(delta) == 2:
        return float(np.hypot(*delta))
    return float(np.sqrt(np.dot(delta, delta)))


def _position_columns(table: pd.DataFrame) -> list[str]:
    """The object table's position columns in btrack's units (xy px): (y, x), or (z, y, x) for 3-D objects."""
    return ["z_scaled_px", "y_px", "x_px"] if "z_scaled_px" in table.columns else ["y_px", "x_px"]


@contextlib.contextmanager
def _quiet_btrack() -> Iterator[None]:
    """Route btrack's log records through cellpipe's logging at WARNING and up, silence its deprecation warnings.

    btrack installs its own stdout handler at DEBUG level when imported; while
    tracking, that handler is detached (records still propagate to the root
    logger) and the level raised to WARNING.  Everything is restored afterwards.
    """
    btrack_logger = logging.getLogger("btrack")
    core_logger = logging.getLogger("btrack.core")
    saved = (btrack_logger.level, list(btrack_logger.handlers), core_logger.level)
    btrack_logger.setLevel(logging.WARNING)
    for handler in saved[1]:
        btrack_logger.removeHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        btrack_logger.setLevel(saved[0])
        for handler in saved[1]:
            btrack_logger.addHandler(handler)
        core_logger.setLevel(saved[2])


def _frame_objects(frame: np.ndarray, t: int) -> pd.DataFrame:
    """One row per connected piece of every label of one frame: ``frame, label, y_px, x_px, area_px``.

    Pieces are 8-connected regions of equal label value; centroids are the unweighted means of
    the pixel coordinates (px).  Computed with one labelling pass and bincounts, so the cost does
    not grow with a per-object Python loop.
    """
    from skimage.measure import label as connected

    pieces = connected(frame, background=0, connectivity=2)
    n = int(pieces.max())
    if n == 0:
        return pd.DataFrame({"frame": [], "label": [], "y_px": [], "x_px": [], "area_px": []})
    flat = pieces.ravel()
    area = np.bincount(flat, minlength=n + 1)
    yy, xx = np.indices(frame.shape, dtype=np.float64)
    sum_y = np.bincount(flat, weights=yy.ravel(), minlength=n + 1)
    sum_x = np.bincount(flat, weights=xx.ravel(), minlength=n + 1)
    original = np.zeros(n + 1, dtype=np.int64)
    original[flat] = frame.ravel()
    ids = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "frame": np.full(n, t, dtype=np.int64),
            "label": original[ids],
            "y_px": sum_y[ids] / area[ids],
            "x_px": sum_x[ids] / area[ids],
            "area_px": area[ids].astype(np.float64),
        }
    )


def _stack_objects(stack: np.ndarray, t: int) -> pd.DataFrame:
    """One row per connected piece of every label of one (z, y, x) stack.

    Columns ``frame, label, y_px, x_px, area_px, z_px, on_face`` (``area_px``: the piece's volume in
    voxels; centroids in voxels of each axis; ``on_face``: the piece touches one of the stack's six
    faces).  Pieces are 26-connected regions of equal label value (the 3-D
    counterpart of the 8-connected pieces of :func:`_frame_objects`); centroids are unweighted means of
    the voxel coordinates.
    """
    from skimage.measure import label as connected

    pieces = connected(stack, background=0, connectivity=3)
    n = int(pieces.max())
    if n == 0:
        return pd.DataFrame({"frame": [], "label": [], "y_px": [], "x_px": [], "area_px": [], "z_px": [], "on_face": []})
    flat = pieces.ravel()
    on_face = np.zeros(n + 1, dtype=bool)
    for axis in range(3):
        for index in (0, -1):
            on_face[np.take(pieces, index, axis=axis)] = True
    volume = np.bincount(flat, minlength=n + 1)
    zz, yy, xx = np.indices(stack.shape, dtype=np.float64)
    sums = [np.bincount(flat, weights=c.ravel(), minlength=n + 1) for c in (zz, yy, xx)]
    original = np.zeros(n + 1, dtype=np.int64)
    original[flat] = stack.ravel()
    ids = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "frame": np.full(n, t, dtype=np.int64),
            "label": original[ids],
            "y_px": sums[1][ids] / volume[ids],
            "x_px": sums[2][ids] / volume[ids],
            "area_px": volume[ids].astype(np.float64),
            "z_px": sums[0][ids] / volume[ids],
            "on_face": on_face[ids],
        }
    )


def _objects_from_labels(
    labels: np.ndarray, min_area_px: float, z_scale: float | None = None
) -> tuple[list[btrack.btypes.PyTrackObject], pd.DataFrame, int]:
    """The btrack objects of area >= ``min_area_px`` (px), their table, and how many were too small.

    The table has one row per returned object, in the same order: ``frame,
    label, y_px, x_px, area_px``.  A label made of several disconnected pieces
    is represented by its largest piece.  In stacks (``z_scale`` set) an object touching a face of
    the stack is kept whatever its volume: a nucleus entering through a face shows a cap much
    smaller than the whole-sphere bound, and dropping it breaks its track at the face (the
    segmentation filters exempt border objects for the same reason).
    """
    from btrack.btypes import PyTrackObject

    n_frames = int(np.shape(labels)[0])
    if n_frames == 0:
        return [], pd.DataFrame({"frame": [], "label": [], "y_px": [], "x_px": [], "area_px": []}), 0
    every = max(1, n_frames // 20)
    pieces = []
    for t in range(n_frames):
        frame = np.asarray(labels[t])
        if frame.dtype.kind == "i" and frame.size and frame.min() < 0:
            raise ValueError(f"labels must be non-negative; frame {t} has {frame.min()}")
        # z_scale set: (T, Z, Y, X) stacks (see track_cells_3d)
        pieces.append(_frame_objects(frame, t) if z_scale is None else _stack_objects(frame, t))
        if (t + 1) % every == 0 or t + 1 == n_frames:
            logger.info("read objects of frame %d of %d (%d in it)", t + 1, n_frames, len(pieces[-1]))
    table = pd.concat(pieces, ignore_index=True)
    table = table.astype({"frame": "int64", "label": "int64", "y_px": "float64", "x_px": "float64", "area_px": "float64"})
    if z_scale is not None:
        # btrack's units are xy px: z in µm over the xy pixel size, so distances along z count as in the plane
        table = table.astype({"z_px": "float64"})
        table["z_scaled_px"] = table["z_px"] * float(z_scale)
    # one object per (frame, label): the largest piece (ties: the first in raster order)
    table = table.sort_values(["frame", "label", "area_px"], ascending=[True, True, False], kind="stable")
    n_pieces = int(table.duplicated(["frame", "label"]).sum())
    table = table.drop_duplicates(["frame", "label"], keep="first")
    keep = table["area_px"].to_numpy() >= min_area_px
    if z_scale is not None:
        keep |= table["on_face"].to_numpy(dtype=bool)
    n_small = int((~keep).sum())
    table = table[keep].reset_index(drop=True)
    if n_small:
        logger.info("dropped %d object(s) smaller than %.1f px before tracking", n_small, min_area_px)
    if n_pieces:
        logger.warning("%d extra disconnected piece(s) of labels ignored (each label is tracked by its largest piece)", n_pieces)
    objects = []
    zs = table["z_scaled_px"].tolist() if z_scale is not None else [0.0] * len(table)
    for i, (t, y, x, z) in enumerate(zip(table["frame"].tolist(), table["y_px"].tolist(), table["x_px"].tolist(), zs)):
        obj = PyTrackObject()
        obj.ID, obj.t, obj.x, obj.y, obj.z = i, int(t), float(x), float(y), float(z)
        obj.properties = {}
        objects.append(obj)
    return objects, table, n_small


def _link_frames(tracker: Any, n_frames: int, settings: TrackSettings) -> None:
    """Run btrack's frame-to-frame linking (what ``BayesianTracker.track`` does) with a wall-clock bound.

    ``step_size`` frames at a time, with a wall-clock check between steps: raises
    :class:`TrackingTimeLimitError` past ``time_limit_s`` (s).  Uses the tracker's library handle as
    ``track`` does (btrack 0.7.0 pinned), since ``track`` itself has no time bound.
    """
    # bitwise OR of the update features, as BayesianTracker.track sets them
    tracker._lib.set_update_features(  # noqa: SLF001
        tracker._engine, sum(int(f.value) for f in tracker.configuration.tracking_updates)  # noqa: SLF001
    )
    step = settings.step_size
    start = time.perf_counter()
    stats = tracker.step()
    frame = 0
    while stats.tracker_active:
        elapsed = time.perf_counter() - start
        if elapsed > settings.time_limit_s:
            raise TrackingTimeLimitError(
                f"btrack's frame-to-frame linking reached track.time_limit_s ({settings.time_limit_s:g} s) at "
                f"frame {frame} of {n_frames}; lower track.dense_objects_per_frame (approximate mode) or "
                "track.max_search_radius_um, or raise track.time_limit_s"
            )
        stats = tracker.step(step)
        frame = min(frame + step, n_frames)
        logger.info("linked frames up to %d of %d, %.1f s", frame, n_frames, time.perf_counter() - start)
    # btrack 0.7.0 reports itself inactive one step early when the frame count is 3 more than a multiple
    # of the step (3 frames at any step, 103 at 100): its last frame would stay unlinked and every cell in
    # it start a one-frame track.  A step after the last frame is linked changes nothing, so one more
    # always runs.
    tracker.step(step)


def _run_btrack(
    objects: list[btrack.btypes.PyTrackObject],
    config: dict[str, Any],
    shape_yx: tuple[int, int],
    n_frames: int,
    settings: TrackSettings,
    z_extent: float | None = None,
) -> tuple[list[tuple[int, int, list[int]]], dict[str, Any]]:
    """Track ``objects``; return per track (btrack id, btrack parent id, object indices) and run info.

    Object indices refer to positions in ``objects``; the tracker's dummy
    (interpolated) objects are left out.  The parent of a root track is 0.
    """
    import btrack

    out: list[tuple[int, int, list[int]]] = []
    info: dict[str, Any] = {"optimizer": "not run"}
    with btrack.BayesianTracker(verbose=False) as tracker:
        tracker.configure(config)
        volume = ((0.0, float(shape_yx[1])), (0.0, float(shape_yx[0])))
        # 3-D: the stack's depth in btrack's units (xy px), so that tracks leave and enter through z too
        tracker.volume = volume if z_extent is None else (*volume, (0.0, float(z_extent)))
        tracker.append(objects)
        start = time.perf_counter()
        _link_frames(tracker, n_frames, settings)
        info["linking_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        if settings.optimize and tracker.n_tracks > 1:
            logger.info("optimising %d tracklets (gap closing, divisions)", tracker.n_tracks)
            if tracker.optimise():
                info["optimizer"] = "solved"
            else:
                info["optimizer"] = "no solution (time limit?)"
                logger.warning(
                    "btrack's optimiser returned no solution (track.optimizer_time_limit_s is %.0f s): the "
                    "tracks are the frame-to-frame tracklets, without gap closing or divisions",
                    settings.optimizer_time_limit_s,
                )
        info["optimizer_s"] = round(time.perf_counter() - start, 3)
        for trk in tracker.tracks:
            refs = [int(r) for r, dummy in zip(trk.refs, trk.dummy) if not dummy and r >= 0]
            if not refs:
                continue
            parent = 0 if trk.is_root else int(trk.parent)
            out.append((int(trk.ID), parent, refs))
    return out, info


def _fill_gaps(
    raw_tracks: list[tuple[int, int, list[int]]], table: pd.DataFrame, max_distance_px: float
) -> tuple[list[tuple[int, int, list[int]]], int]:
    """Put objects left on their own into the gaps of btrack's tracks; return the tracks and how many moved.

    A lone object is one btrack left out of every track, or the only object of a track with no
    parent and no children.  A gap is a frame missing between two consecutive objects of a
    track.  A lone object in such a frame joins the track when its centroid is within
    ``max_distance_px`` (px) of the track's position interpolated linearly across the gap; the
    nearest (object, gap) pairs are taken first, each object and each gap frame once, so the
    result does not depend on the order of the tracks.  A lone object's own one-object track
    disappears when its object moves.
    """
    frames = table["frame"].to_numpy(np.int64)
    yx = table[_position_columns(table)].to_numpy(np.float64)
    parents = {parent for _, parent, _ in raw_tracks if parent}
    in_track = np.zeros(len(table), dtype=bool)
    lone_track: dict[int, int] = {}  # lone object -> index of its one-object track in raw_tracks (-1: none)
    for i, (bt_id, parent, refs) in enumerate(raw_tracks):
        in_track[refs] = True
        if len(refs) == 1 and parent == 0 and bt_id not in parents:
            lone_track[refs[0]] = i
    for obj in np.flatnonzero(~in_track):
        lone_track[int(obj)] = -1
    lone_by_frame: dict[int, list[int]] = {}
    for obj in sorted(lone_track):
        lone_by_frame.setdefault(int(frames[obj]), []).append(obj)
    candidates: list[tuple[float, int, int, int]] = []  # (distance px, track index, frame, object)
    for i, (_, _, refs) in enumerate(raw_tracks):
        ordered = sorted(refs, key=lambda r: frames[r])
        for a, b in zip(ordered, ordered[1:]):
            fa, fb = int(frames[a]), int(frames[b])
            for t in range(fa + 1, fb):
                w = (t - fa) / (fb - fa)
                expected = yx[a] * (1.0 - w) + yx[b] * w
                for obj in lone_by_frame.get(t, ()):
                    distance = _distance(yx[obj] - expected)
                    if distance <= max_distance_px:
                        candidates.append((distance, i, t, obj))
    added: dict[int, list[int]] = {}
    used: set[int] = set()
    filled: set[tuple[int, int]] = set()
    for _, i, t, obj in sorted(candidates):
        if obj in used or (i, t) in filled:
            continue
        used.add(obj)
        filled.add((i, t))
        added.setdefault(i, []).append(obj)
    if not used:
        return raw_tracks, 0
    emptied = {lone_track[obj] for obj in used if lone_track[obj] >= 0}
    out = [
        (bt_id, parent, sorted(refs + added.get(i, []), key=lambda r: frames[r]))
        for i, (bt_id, parent, refs) in enumerate(raw_tracks)
        if i not in emptied
    ]
    return out, len(used)


def _mask_overlaps(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping label pairs of two frames (or stacks): labels before, labels after, shared and joint px.

    Returns four arrays of equal length, one entry per pair of non-zero labels that share at least
    one pixel: the label in ``before``, the label in ``after``, the shared area and the area of the
    union (px, or voxels for stacks).
    """
    a = np.asarray(before).ravel().astype(np.int64, copy=False)
    b = np.asarray(after).ravel().astype(np.int64, copy=False)
    both = (a > 0) & (b > 0)
    n_after = int(b.max(initial=0)) + 1
    # one int64 code per pixel pair: a 1-D unique sorts several times faster than unique(axis=1)
    codes, shared = np.unique(a[both] * n_after + b[both], return_counts=True)
    label_a, label_b = np.divmod(codes, n_after)
    area_a = np.bincount(a, minlength=int(a.max(initial=0)) + 1)
    area_b = np.bincount(b, minlength=n_after)
    union = area_a[label_a] + area_b[label_b] - shared
    return label_a, label_b, shared, union


def _overlap_matches(
    before: np.ndarray, after: np.ndarray, rows_before: dict[int, int], rows_after: dict[int, int], min_iou: float
) -> list[tuple[int, int]]:
    """Objects of two consecutive frames matched one to one by mask overlap: (row before, row after) pairs.

    ``rows_before`` and ``rows_after`` map each frame's labels to object rows; labels not in them
    (objects dropped before tracking) take no part.  The pairs maximise the summed intersection over
    union (Hungarian method); pairs below ``min_iou`` (no unit) are left out.
    """
    from scipy.optimize import linear_sum_assignment

    label_a, label_b, shared, union = _mask_overlaps(before, after)
    keep = np.array([int(x) in rows_before and int(y) in rows_after for x, y in zip(label_a, label_b)], dtype=bool)
    if not keep.any():
        return []
    label_a, label_b, iou = label_a[keep], label_b[keep], shared[keep] / union[keep]
    ua, ia = np.unique(label_a, return_inverse=True)
    ub, ib = np.unique(label_b, return_inverse=True)
    matrix = np.zeros((len(ua), len(ub)))
    matrix[ia, ib] = iou
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [
        (rows_before[int(ua[r])], rows_after[int(ub[c])]) for r, c in zip(rows, cols, strict=True) if matrix[r, c] >= min_iou
    ]


def _link_by_overlap(
    raw_tracks: list[tuple[int, int, list[int]]], table: pd.DataFrame, labels: Any, min_iou: float
) -> tuple[list[tuple[int, int, list[int]]], int]:
    """Let links by mask overlap between consecutive frames take precedence over btrack's links.

    The objects of each pair of consecutive frames t, t + 1 are matched one to one by the largest
    summed intersection over union of their masks (Hungarian method), pairs below ``min_iou`` left
    out.  Where such a pair is not already linked, the link is made and the links it contradicts
    are cut: the earlier object's other successors lose it as predecessor (a division through it is
    undone), and the later object leaves the track it was in.  btrack's other links (gap closing over
    missing frames, divisions whose daughters overlap their mother, links of cells whose masks do
    not overlap) stay.  The tracks are then rebuilt from the links: a run of single successors is
    one track; an object with several successors ends a mother track whose daughters start there.

    Parameters
    ----------
    raw_tracks : list of (int, int, list of int)
        btrack's tracks: (btrack id, parent's btrack id or 0, object indices into ``table``).
    table : pandas.DataFrame
        The objects: columns ``frame`` and ``label`` (the object's value in ``labels[frame]``).
    labels : array_like of int
        The label movie, (T, Y, X) or (T, Z, Y, X); each frame is read once, in order.
    min_iou : float
        Smallest intersection over union of a link by overlap (0-1].

    Returns
    -------
    tuple of (list of (int, int, list of int), int)
        The tracks in the same form (new ids from 1, parents refer to them) and the number of links
        by overlap that btrack had not made.
    """
    frames = table["frame"].to_numpy(np.int64)
    label_of = table["label"].to_numpy(np.int64)
    rows_of: dict[int, dict[int, int]] = {}
    for row, (t, label) in enumerate(zip(frames.tolist(), label_of.tolist(), strict=True)):
        rows_of.setdefault(t, {})[label] = row
    successors: dict[int, list[int]] = {}
    predecessor: dict[int, int] = {}
    objects: set[int] = set()
    refs_of = {bt_id: sorted(refs, key=lambda r: frames[r]) for bt_id, _, refs in raw_tracks}
    for refs in refs_of.values():
        objects.update(refs)
        for a, b in zip(refs, refs[1:]):
            successors.setdefault(a, []).append(b)
            predecessor[b] = a
    for bt_id, parent, _ in raw_tracks:
        if parent in refs_of:
            mother, first = refs_of[parent][-1], refs_of[bt_id][0]
            if first not in predecessor and frames[first] > frames[mother]:
                successors.setdefault(mother, []).append(first)
                predecessor[first] = mother

    n_new = 0
    previous = None  # labels[t] when it was read as the later frame of the pair before
    for t in sorted(rows_of):
        if t + 1 not in rows_of:
            previous = None
            continue
        before = np.asarray(labels[t]) if previous is None else previous
        previous = np.asarray(labels[t + 1])
        for a, b in _overlap_matches(before, previous, rows_of[t], rows_of[t + 1], min_iou):
            if b in successors.get(a, ()):
                continue
            n_new += 1
            objects.update((a, b))
            for s in successors.get(a, ()):
                if predecessor.get(s) == a:
                    del predecessor[s]
            before = predecessor.pop(b, None)
            if before is not None:
                successors[before] = [s for s in successors[before] if s != b]
            successors[a] = [b]
            predecessor[b] = a

    out: list[tuple[int, int, list[int]]] = []
    pending = [(start, 0) for start in sorted((o for o in objects if o not in predecessor), reverse=True)]
    while pending:
        start, parent = pending.pop()
        refs = [start]
        while len(successors.get(refs[-1], ())) == 1:
            refs.append(successors[refs[-1]][0])
        out.append((len(out) + 1, parent, refs))
        pending.extend((child, len(out)) for child in sorted(successors.get(refs[-1], ()), reverse=True))
    return out, n_new


def _indexed_tracks(
    raw_tracks: list[tuple[int, int, list[int]]], table: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, list[int]], dict[int, int], list[int]]:
    """What the division steps read of btrack's tracks.

    Each object's frame, position (px) and area (px) from ``table``, and per track its objects in frame order,
    its parent and the tracks' order.  Tracks without objects, and a track id given twice after its first, are
    left out (``_assemble`` drops them).
    """
    frames = table["frame"].to_numpy(np.int64)
    yx = table[_position_columns(table)].to_numpy(np.float64)
    area = table["area_px"].to_numpy(np.float64)
    refs_of: dict[int, list[int]] = {}
    parent_of: dict[int, int] = {}
    order: list[int] = []
    for bt_id, parent, refs in raw_tracks:
        if refs and bt_id not in refs_of:
            refs_of[bt_id] = sorted(refs, key=lambda r: frames[r])
            parent_of[bt_id] = parent
            order.append(bt_id)
    return frames, yx, area, refs_of, parent_of, order


def _children_of(parent_of: dict[int, int], order: list[int]) -> dict[int, list[int]]:
    """Each track's daughter tracks (btrack ids), in the tracks' order."""
    children: dict[int, list[int]] = {}
    for bt_id in order:
        if parent_of[bt_id] in parent_of and parent_of[bt_id] != bt_id:
            children.setdefault(parent_of[bt_id], []).append(bt_id)
    return children


def _reach(bt_id: int, frames: np.ndarray, refs_of: dict[int, list[int]], children: dict[int, list[int]]) -> int:
    """The last frame of a track or of any of its descendants."""
    end, stack = int(frames[refs_of[bt_id][-1]]), list(children.get(bt_id, ()))
    while stack:
        d = stack.pop()
        end = max(end, int(frames[refs_of[d][-1]]))
        stack.extend(children.get(d, ()))
    return end


#: A division found by splitting a track (:func:`_split_divisions`): the sisters' first areas within this
#: factor of each other, so that a fragment beside a nucleus is not taken for its sister.
SPLIT_SISTER_AREA_RATIO = 2.0
#: ... and the mother's last centroid within this fraction of half the sisters' separation from their midpoint,
#: so that a cell appearing beside one that goes on unchanged (a nucleus coming into focus, a cell entering) is
#: not taken for her daughter.
SPLIT_MOTHER_CENTRAL = 0.75
#: ... and each sister at least this fraction as far from the mother's last centroid as the other: where the
#: track barely moves while an object comes out from beside or under it, that object is no daughter.
SPLIT_MIN_BALANCE = 0.5


def _split_divisions(
    raw_tracks: list[tuple[int, int, list[int]]],
    table: pd.DataFrame,
    settings: TrackSettings,
    pixel_size_um: float,
) -> tuple[list[tuple[int, int, list[int]]], int]:
    """Divisions that btrack cannot make: a track going on into one daughter while her sister starts beside it.

    btrack's optimiser lets only a track that ends divide.  Where the frame-to-frame linking has carried the
    mother on into one daughter (more often the fewer frames per cell cycle, as the daughters drift apart
    between frames), the sister starts a root track and the division is lost.  Here, as TrackMate's track
    splitting does, every root track that starts in frame t > 0 with object b is matched to a track with
    objects m in frame t - 1 and a in frame t when

    * b and a lie within ``settings.division_max_distance_um`` of m;
    * the areas of a and b are ``division_min_area_fraction`` to ``division_max_area_fraction`` of m's and
      within :data:`SPLIT_SISTER_AREA_RATIO` of each other;
    * m lies near the middle of a and b (:data:`SPLIT_MOTHER_CENTRAL`), each about as far from it as the
      other (:data:`SPLIT_MIN_BALANCE`).

    A cut that :func:`_check_divisions` would undo for length is not made, so that the track keeps its cells:
    the track has fewer than ``settings.min_track_frames`` objects before a, or b's track or a's part of the
    track (each with descendants) spans fewer frames and ends before the movie's last frame.

    Nearest pairs (m to b) first, each root track and each cut once; the track is cut between m and a: its
    part up to m is the mother, its part from a a new daughter track (taking the track's own daughters), the
    root track the other daughter.  :func:`_check_divisions` then tests these divisions as btrack's.

    Returns the tracks (new tracks get ids above btrack's, placed after the track they were cut from) and the
    number of divisions made.
    """
    frames, yx, area, refs_of, parent_of, order = _indexed_tracks(raw_tracks, table)
    going_on: dict[int, list[tuple[int, int]]] = {}  # frame t -> (track, index of its object in t, after one in t - 1)
    for bt_id, refs in refs_of.items():
        for j in range(1, len(refs)):
            if frames[refs[j]] == frames[refs[j - 1]] + 1:
                going_on.setdefault(int(frames[refs[j]]), []).append((bt_id, j))
    max_distance_px = settings.division_max_distance_um / pixel_size_um
    low, high = settings.division_min_area_fraction, settings.division_max_area_fraction
    children, enough = _children_of(parent_of, order), settings.min_track_frames
    movie_end = int(frames.max()) if len(frames) else 0

    def lasting(track: int, j: int) -> bool:
        end = _reach(track, frames, refs_of, children)
        return end == movie_end or end - int(frames[refs_of[track][j]]) + 1 >= enough

    def plausible(m: int, a: int, b: int) -> bool:
        to_a, to_b = _distance(yx[a] - yx[m]), _distance(yx[b] - yx[m])
        if max(to_a, to_b) > max_distance_px or min(to_a, to_b) < SPLIT_MIN_BALANCE * max(to_a, to_b):
            return False
        if not (low <= area[a] / area[m] <= high and low <= area[b] / area[m] <= high):
            return False
        if not 1.0 / SPLIT_SISTER_AREA_RATIO <= area[a] / area[b] <= SPLIT_SISTER_AREA_RATIO:
            return False
        return _distance(yx[m] - (yx[a] + yx[b]) / 2.0) <= SPLIT_MOTHER_CENTRAL * _distance(yx[a] - yx[b]) / 2.0

    roots_at: dict[int, list[int]] = {}  # frame t -> root tracks starting there
    for bt_id in order:
        if parent_of[bt_id] not in refs_of:
            roots_at.setdefault(int(frames[refs_of[bt_id][0]]), []).append(bt_id)
    proposals: list[tuple[float, int, int, int]] = []
    for t, sisters in roots_at.items():
        pairs = going_on.get(t, [])
        if not pairs:
            continue
        firsts = np.array([refs_of[sister][0] for sister in sisters])
        mothers = np.array([refs_of[track][j - 1] for track, j in pairs])
        # all pairs at once for the distance, then the few near ones one by one (dense frames)
        gaps = np.linalg.norm(yx[firsts][:, None, :] - yx[mothers][None, :, :], axis=-1)
        for i, k in zip(*np.nonzero(gaps <= max_distance_px + 1e-6), strict=True):
            sister, (track, j) = sisters[i], pairs[k]
            m, a, b = refs_of[track][j - 1], refs_of[track][j], refs_of[sister][0]
            if track != sister and j >= enough and lasting(track, j) and lasting(sister, 0) and plausible(m, a, b):
                proposals.append((_distance(yx[b] - yx[m]), sister, track, j))
    cuts: dict[int, list[tuple[int, int]]] = {}
    sisters_taken: set[int] = set()
    cuts_taken: set[tuple[int, int]] = set()
    for _, sister, track, j in sorted(proposals):
        if sister not in sisters_taken and (track, j) not in cuts_taken:
            sisters_taken.add(sister)
            cuts_taken.add((track, j))
            cuts.setdefault(track, []).append((j, sister))
    next_id = max(refs_of, default=0) + 1
    for track in sorted(cuts):
        refs = refs_of[track]
        own_daughters = [d for d in order if parent_of[d] == track]
        piece, start, pieces = track, 0, []
        for j, sister in sorted(cuts[track]):
            daughter, next_id = next_id, next_id + 1
            refs_of[piece] = refs[start:j]
            parent_of[daughter] = parent_of[sister] = piece
            pieces.append(daughter)
            piece, start = daughter, j
        refs_of[piece] = refs[start:]
        for d in own_daughters:
            parent_of[d] = piece
        at = order.index(track) + 1
        order[at:at] = pieces
    return [(bt_id, parent_of[bt_id], refs_of[bt_id]) for bt_id in order], len(cuts_taken)


#: Why a division is undone, in the order the tests are made (the first failing one is counted).
DIVISION_REJECTION_REASONS: tuple[str, ...] = (
    "single_child", "short_mother", "short_daughter", "lag", "not_together", "distance", "size", "merged",
)

#: A mother whose area grew this many times from one frame to the next while a track without daughters ended
#: beside her the frame before was two cells segmented as one (``merged`` in :func:`_check_divisions`).
MERGE_AREA_JUMP = 1.5


def _check_divisions(
    raw_tracks: list[tuple[int, int, list[int]]],
    table: pd.DataFrame,
    settings: TrackSettings,
    pixel_size_um: float,
) -> tuple[list[tuple[int, int, list[int]]], dict[str, int]]:
    """Keep the divisions that look like divisions; undo the others into continuations.

    Returns the tracks and the number undone per reason (keys :data:`DIVISION_REJECTION_REASONS`).

    A mother (a track other tracks name as parent) and her daughters pass when there are at least
    two daughters and (tests in this order; the first failing one is the reason counted):

    * ``short_mother``: the mother's track (with what earlier continuations joined to it) has at
      least ``settings.min_track_frames`` objects: a flickering object is no mother;
    * ``short_daughter``: every daughter, with her own descendants, spans at least
      ``settings.min_track_frames`` frames, or reaches the last frame of the movie: a "daughter" that
      is gone again a frame or two after the division, mid-movie, is an object flickering beside the
      mother (at a low frame rate the lag test cannot tell it from a sister);
    * ``lag``: the daughters' first frames differ by at most
      ``settings.division_max_daughter_lag_frames``;
    * ``not_together``: every daughter is present in the frame in which the last one first appears
      (a "daughter" that is gone again by then is one object flickering between two tracks, not
      two cells);
    * ``distance``: every daughter's first centroid lies within ``settings.division_max_distance_um``
      of the mother's last centroid;
    * ``size``: every daughter's first area (``area_px`` of ``table``) is between
      ``settings.division_min_area_fraction`` and ``division_max_area_fraction`` times the mother's
      last area.
    * ``merged``: the mother's track did not, at some frame, grow :data:`MERGE_AREA_JUMP` times or more
      from the frame before while a track without daughters ended within
      ``settings.division_max_distance_um`` of her in that frame before: two touching cells segmented as
      one that come apart again are not mother and daughters.

    A single daughter (``single_child``) or a failed test undoes the division: the daughter that best
    continues the mother (earliest first frame, then one of plausible area before a fragment, then
    nearest the mother's last centroid, then btrack's id) joins the mother's track when she starts after the mother's last frame (her own
    daughters become the mother's, and are checked in turn as the mother's new division); every other
    daughter becomes a root track (parent 0) keeping its own descendants.  Mothers are taken in
    the order of their last frame, so the result does not depend on the order of ``raw_tracks``; the
    tracks keep their order, a track joined into its mother disappears.
    """
    counts = dict.fromkeys(DIVISION_REJECTION_REASONS, 0)
    frames, yx, area, refs_of, parent_of, order = _indexed_tracks(raw_tracks, table)
    children = _children_of(parent_of, order)
    max_distance_px = settings.division_max_distance_um / pixel_size_um
    movie_end = int(frames.max()) if len(frames) else 0
    ended_at: dict[int, list[int]] = {}  # frame -> last objects of the tracks without daughters that end there
    for bt_id in order:
        if bt_id not in children:
            ended_at.setdefault(int(frames[refs_of[bt_id][-1]]), []).append(refs_of[bt_id][-1])

    def first(bt_id: int) -> int:
        return refs_of[bt_id][0]

    def last(bt_id: int) -> int:
        return refs_of[bt_id][-1]

    def distance(mother: int, daughter: int) -> float:
        return _distance(yx[first(daughter)] - yx[last(mother)])

    def short(daughter: int) -> bool:
        end = _reach(daughter, frames, refs_of, children)
        return end < movie_end and end - int(frames[first(daughter)]) + 1 < settings.min_track_frames

    def merged(mother: int) -> bool:
        refs = refs_of[mother]
        for before, now in zip(refs, refs[1:]):
            if frames[now] == frames[before] + 1 and area[now] >= MERGE_AREA_JUMP * area[before] and any(
                _distance(yx[gone] - yx[now]) <= max_distance_px for gone in ended_at.get(int(frames[before]), ())
            ):
                return True
        return False

    def sized(mother: int, daughter: int) -> bool:
        ratio = area[first(daughter)] / area[last(mother)]
        return bool(settings.division_min_area_fraction <= ratio <= settings.division_max_area_fraction)

    def reason(mother: int, daughters: list[int]) -> str | None:
        if len(daughters) < 2:
            return "single_child"
        if len(refs_of[mother]) < settings.min_track_frames:
            return "short_mother"
        if any(short(d) for d in daughters):
            return "short_daughter"
        starts = [int(frames[first(d)]) for d in daughters]
        if max(starts) - min(starts) > settings.division_max_daughter_lag_frames:
            return "lag"
        together = max(starts)  # every daughter must be there when the last one appears
        if any(together not in {int(frames[r]) for r in refs_of[d]} for d in daughters):
            return "not_together"
        if any(distance(mother, d) > max_distance_px for d in daughters):
            return "distance"
        if not all(sized(mother, d) for d in daughters):
            return "size"
        if merged(mother):
            return "merged"
        return None

    removed: set[int] = set()
    pending = sorted(children, key=lambda m: (int(frames[last(m)]), m))
    while pending:
        mother = pending.pop(0)
        daughters = children.pop(mother, [])
        if not daughters:
            continue
        why = reason(mother, daughters)
        if why is None:
            children[mother] = daughters
            continue
        counts[why] += 1
        best = min(daughters, key=lambda d, m=mother: (int(frames[first(d)]), not sized(m, d), distance(m, d), d))
        for d in daughters:
            parent_of[d] = 0
        if frames[first(best)] > frames[last(mother)]:
            refs_of[mother] = refs_of[mother] + refs_of.pop(best)
            removed.add(best)
            grandchildren = children.pop(best, [])
            for g in grandchildren:
                parent_of[g] = mother
            if grandchildren:
                children[mother] = grandchildren
                pending.append(mother)
            pending = sorted((m for m in pending if m not in removed), key=lambda m: (int(frames[last(m)]), m))
    out = [(bt_id, parent_of[bt_id], refs_of[bt_id]) for bt_id in order if bt_id not in removed]
    return out, counts


def _dense_mode(config: dict[str, Any], table: pd.DataFrame, settings: TrackSettings, pixel_size_um: float) -> dict[str, Any]:
    """``config`` switched to btrack's approximate updates with a bounded radius when frames are dense."""
    per_frame = int(table["frame"].value_counts().max()) if len(table) else 0
    if per_frame <= settings.dense_objects_per_frame:
        return config
    from btrack.constants import BayesianUpdates

    dense = dict(config)
    dense["update_method"] = BayesianUpdates.APPROXIMATE.value
    radius = min(float(config["max_search_radius"]), settings.dense_search_radius_um / pixel_size_um)
    dense["max_search_radius"] = radius
    if dense.get("hypothesis_model") is not None:
        dense["hypothesis_model"] = {**dense["hypothesis_model"], "dist_thresh": radius}
    logger.info(
        "up to %d objects per frame (> track.dense_objects_per_frame %d): btrack's approximate update mode, "
        "search radius %.1f px", per_frame, settings.dense_objects_per_frame, radius,
    )
    return dense


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


def relabel_frames(labels: Any, tracks: pd.DataFrame) -> Iterator[np.ndarray]:
    """The track-relabelled masks, one frame at a time.

    One frame is read and one made at a time, so memory does not grow with the movie's length.

    Parameters
    ----------
    labels : array_like of int
        The (T, Y, X) label movie (frames, px, px) :func:`track_cells` tracked: any array with
        ``shape`` whose ``labels[t]`` is a frame (numpy, zarr).
    tracks : pandas.DataFrame
        Its tracks table: ``frame`` (0-based), ``label`` (the object's value in that frame) and
        ``track_id``.

    Yields
    ------
    numpy.ndarray
        (Y, X) uint32 frame (px) of track ids, 0 where no track; one per frame of ``labels``.
    """
    by_frame = {int(t): g for t, g in tracks.groupby("frame", sort=True)}
    for t in range(int(np.shape(labels)[0])):
        frame = np.asarray(labels[t])
        group = by_frame.get(t)
        if group is None:
            yield np.zeros(frame.shape, dtype=np.uint32)
        else:
            yield _map_labels(frame, group["label"].to_numpy(), group["track_id"].to_numpy())


def _map_labels(image: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``image`` with every pixel of label ``old[i]`` set to ``new[i]`` and all other pixels 0 (uint32)."""
    top = int(image.max())
    if top <= 4 * image.size + 1024:  # a lookup table
        lut = np.zeros(top + 1, dtype=np.uint32)
        lut[old] = new
        return lut[image]
    order = np.argsort(old)  # sparse huge label values: search instead
    old_sorted, new_sorted = old[order], new[order].astype(np.uint32)
    pos = np.clip(np.searchsorted(old_sorted, image), 0, len(old_sorted) - 1)
    return np.where(old_sorted[pos] == image, new_sorted[pos], np.uint32(0)).astype(np.uint32)


def _assemble(
    table: pd.DataFrame,
    raw_tracks: list[tuple[int, int, list[int]]],
    pixel_size_um: float,
    frame_interval_min: float,
    z_size_um: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tracks and lineage tables from the object table and btrack's tracks, with cellpipe's track ids."""
    # group = one output track: btrack's tracks first, then one per object btrack left out
    owner = np.full(len(table), -1, dtype=np.int64)
    bt_ids: list[int] = []
    bt_parents: list[int] = []
    for bt_id, bt_parent, refs in raw_tracks:
        refs = [r for r in refs if owner[r] < 0]  # an object belongs to one track only
        if not refs:
            continue
        owner[refs] = len(bt_ids)
        bt_ids.append(bt_id)
        bt_parents.append(bt_parent)
    orphans = np.flatnonzero(owner < 0)
    if len(orphans):
        logger.info("%d object(s) not in any btrack track: each becomes a one-object track", len(orphans))
    owner[orphans] = len(bt_ids) + np.arange(len(orphans))
    n_groups = len(bt_ids) + len(orphans)

    # number the tracks by (first frame, y, x) of their first object
    keys = ["frame", "y_px", "x_px", "_group"] if z_size_um is None else ["frame", "y_px", "x_px", "z_px", "_group"]
    objs = table.assign(_group=owner).sort_values(keys, kind="stable")
    order = objs.drop_duplicates("_group", keep="first")["_group"].to_numpy()
    new_id = np.zeros(n_groups, dtype=np.int64)
    new_id[order] = np.arange(1, n_groups + 1)
    by_bt_id = {bt: int(new_id[g]) for g, bt in enumerate(bt_ids)}

    parent = np.zeros(n_groups + 1, dtype=np.int64)  # indexed by new track id
    for g, bt_parent in enumerate(bt_parents):
        if bt_parent == 0:
            continue
        if bt_parent in by_bt_id:
            parent[new_id[g]] = by_bt_id[bt_parent]
        else:
            logger.warning("btrack track %d names parent %d, which has no objects: treated as a root", bt_ids[g], bt_parent)
    root = np.arange(n_groups + 1, dtype=np.int64)
    generation = np.zeros(n_groups + 1, dtype=np.int64)
    # parents have smaller ids than their children (they start earlier), so one pass in id order suffices
    for tid in range(1, n_groups + 1):
        if parent[tid]:
            if parent[tid] >= tid:
                logger.warning("track %d starts no later than its parent %d: treated as a root", tid, parent[tid])
                parent[tid] = 0
                continue
            root[tid] = root[parent[tid]]
            generation[tid] = generation[parent[tid]] + 1

    track_id = new_id[owner]
    tracks = pd.DataFrame(
        {
            "frame": table["frame"].to_numpy(np.int64),
            "time_min": table["frame"].to_numpy(np.float64) * frame_interval_min,
            "track_id": track_id,
            "label": table["label"].to_numpy(np.int64),
            "y_px": table["y_px"].to_numpy(np.float64),
            "x_px": table["x_px"].to_numpy(np.float64),
            "y_um": table["y_px"].to_numpy(np.float64) * pixel_size_um,
            "x_um": table["x_px"].to_numpy(np.float64) * pixel_size_um,
            "parent": parent[track_id],
            "root": root[track_id],
            "generation": generation[track_id],
        }
    )
    if z_size_um is not None:
        tracks["z_px"] = table["z_px"].to_numpy(np.float64)
        tracks["z_um"] = table["z_px"].to_numpy(np.float64) * float(z_size_um)
    tracks = tracks.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
    tracks = tracks.astype(_TRACK_SCHEMA if z_size_um is None else _TRACK_SCHEMA_3D)

    children = np.flatnonzero(parent)
    first_frame = tracks.groupby("track_id", sort=True)["frame"].min()
    lineage = pd.DataFrame(
        {
            "parent": parent[children],
            "child": children.astype(np.int64),
            "division_frame": first_frame.reindex(children).to_numpy(np.int64),
        }
    )
    lineage = lineage.sort_values(["division_frame", "parent", "child"], kind="stable").reset_index(drop=True)
    return tracks, lineage.astype(_LINEAGE_SCHEMA)
