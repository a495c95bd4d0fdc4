"""Frame-to-frame linking by btrack: objects from label frames, btrack's configuration from the settings, the run.

Units: the btrack configuration (``resources/tracker/cellpipe_tracker.json``) is in pixels and frames; the settings
are in µm and µm² and converted with the movie's pixel size.

Dense movies: when a frame has more objects than ``dense_objects_per_frame``, btrack's approximate update mode is
used with a search radius bounded by ``dense_search_radius_um`` (:func:`_dense_mode`), since the exact mode's
all-pairs updates grow with the square of the objects per frame.  Frame-to-frame linking runs under a wall-clock
bound (``time_limit_s``): when it is hit the run stops with :class:`TrackingTimeLimitError`, saying where it
stopped, instead of hanging; the optimiser has its own bound (``optimizer_time_limit_s``), past which the tracks
are btrack's tracklets and the run's record and the log say so.

btrack's C++ library must load; on Debian 12 run ``python tools/ensure_btrack.py`` once (the Makefile does) to
rebuild it against the system's libstdc++.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cellpipe.config import TrackSettings
from cellpipe.track.common import TrackingTimeLimitError

if TYPE_CHECKING:  # pragma: no cover
    import btrack.btypes


logger = logging.getLogger(__name__)


#: Hypothesis names in btrack's hypothesis model switched by the settings.
_DIVISION_HYPOTHESIS = "P_branch"
_APOPTOSIS_HYPOTHESIS = "P_dead"


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


def _label_pieces(labels: np.ndarray, t: int) -> pd.DataFrame:
    """One row per connected piece of every label of one frame (y, x) or stack (z, y, x).

    Columns ``frame, label, y_px, x_px, area_px``, and for stacks also ``z_px, on_face``.
    ``area_px`` is the piece's size in pixels (voxels in a stack); centroids are the unweighted
    means of the pixel coordinates of each axis (px); ``on_face``: the piece touches one of the
    stack's six faces.  Pieces are regions of equal label value connected through edges and
    corners (8-connected in a frame, 26-connected in a stack).  Computed with one labelling pass
    and bincounts, so the cost does not grow with a per-object Python loop.
    """
    from skimage.measure import label as connected

    pieces = connected(labels, background=0, connectivity=labels.ndim)
    n = int(pieces.max())
    flat = pieces.ravel()
    size = np.bincount(flat, minlength=n + 1)
    ids = np.arange(1, n + 1)
    centroid = [
        np.bincount(flat, weights=coordinate.ravel(), minlength=n + 1)[ids] / size[ids]
        for coordinate in np.indices(labels.shape, dtype=np.float64)
    ]
    original = np.zeros(n + 1, dtype=np.int64)
    original[flat] = labels.ravel()
    columns = {
        "frame": np.full(n, t, dtype=np.int64),
        "label": original[ids],
        "y_px": centroid[-2],
        "x_px": centroid[-1],
        "area_px": size[ids].astype(np.float64),
    }
    if labels.ndim == 3:
        on_face = np.zeros(n + 1, dtype=bool)
        for axis in range(3):
            for index in (0, -1):
                on_face[np.take(pieces, index, axis=axis)] = True
        columns["z_px"] = centroid[0]
        columns["on_face"] = on_face[ids]
    return pd.DataFrame(columns)


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
        frame = np.asarray(labels[t])  # (Y, X), or (Z, Y, X) where z_scale is set (track_cells_3d)
        if frame.dtype.kind == "i" and frame.size and frame.min() < 0:
            raise ValueError(f"labels must be non-negative; frame {t} has {frame.min()}")
        pieces.append(_label_pieces(frame, t))
        if (t + 1) % every == 0 or t + 1 == n_frames:
            logger.info("read objects of frame %d of %d (%d in it)", t + 1, n_frames, len(pieces[-1]))
    table = pd.concat(pieces, ignore_index=True)
    table = table.astype({"frame": "int64", "label": "int64", "y_px": "float64", "x_px": "float64", "area_px": "float64"})
    if z_scale is not None:
        # btrack's units are xy px: z in µm over the xy pixel size, so distances along z count as in the plane
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
