"""Quality control of one sample: how sure the output is (``results/<sample>/qc.json``).

:func:`assess_quality` reads what the earlier stages recorded and computed (it segments, tracks and
measures nothing again) and gathers the signs of a doubtful result in one record:

* **object filters** (``segmentation.json``): objects found and removed by each filter, in all and
  per frame, and the fraction removed (objects removed / objects found, no unit);
* **tracks** (``track_metrics.parquet``, ``tracks.parquet``): tracks flagged short
  (``excluded='short'``) and the fraction of tracks touching the frame border: a track touches it when
  any of its centroids lies within half the cell diameter (px, ``segmentation.json``'s
  ``diameter_px``) of an edge, the distance being measured from the centroid to the centre of the
  outermost pixel row or column;
* **divisions** (``tracking.json``): divisions kept and those undone, by reason;
* **cell count** (``counts.tsv``): frames whose count jumps from the previous frame's by more than
  ``count_jump_fraction`` of it and by at least ``min_count_jump_cells`` cells;
* **confidence**: for Cellpose, the mean over frames of the mean cell probability (0-1) and the
  lowest frame;
* **cell size**: the median diameter of the tracked objects (``tracking.json``, px) against the diameter
  segmentation was given (``segmentation.json``, px).

Each threshold of :class:`~cellpipe.config.QCSettings` that is crossed adds a plain-language
warning; ``status`` is ``'check'`` when there is any warning, else ``'ok'``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import QCSettings
from cellpipe.filters import FILTER_REASONS

logger = logging.getLogger(__name__)

__all__ = [
    "assess_quality",
    "border_tracks",
    "count_jumps",
    "qc_headline",
]

STATUS_OK = "ok"
STATUS_CHECK = "check"

_REASON_TEXT = {
    "too_small": "too small",
    "too_large": "too large",
    "low_contrast": "low contrast",
    "touches_border": "touching the border",
}


def _percent(fraction: float) -> str:
    return f"{100.0 * fraction:.0f} %"


def _frames_text(frames: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


def count_jumps(counts: pd.DataFrame, jump_fraction: float, min_cells: int) -> list[dict[str, Any]]:
    """Frames whose cell count jumps from the previous frame's.

    Frame t jumps when ``|n(t) - n(t-1)| >= min_cells`` and ``|n(t) - n(t-1)| > jump_fraction * n(t-1)``
    (a previous count of 0 makes any change of ``min_cells`` or more a jump).

    Parameters
    ----------
    counts : pandas.DataFrame or None
        ``frame`` (0-based) and ``n_cells`` (cells) per frame (``counts.tsv``); None or fewer than two
        frames: no jump.
    jump_fraction : float
        Smallest change, as a fraction of the previous frame's count (no unit), that is a jump.
    min_cells : int
        Smallest change (cells) that is a jump.

    Returns
    -------
    list of dict
        One row per jump in frame order: ``frame``, ``previous``, ``n_cells``, ``change`` (cells,
        signed) and ``change_fraction`` (change / previous count, no unit; None when the previous
        count is 0).
    """
    if counts is None or len(counts) < 2:
        return []
    ordered = counts.sort_values("frame", kind="stable")
    frames = ordered["frame"].to_numpy(dtype=np.int64)
    n = ordered["n_cells"].to_numpy(dtype=np.int64)
    jumps: list[dict[str, Any]] = []
    for i in range(1, len(n)):
        previous, current = int(n[i - 1]), int(n[i])
        change = current - previous
        if abs(change) < min_cells or abs(change) <= jump_fraction * previous:
            continue
        jumps.append({
            "frame": int(frames[i]),
            "previous": previous,
            "n_cells": current,
            "change": change,
            "change_fraction": change / previous if previous else None,
        })
    return jumps


def border_tracks(tracks: pd.DataFrame, frame_shape_yx: tuple[int, int], margin_px: float) -> tuple[int, int]:
    """How many tracks touch the image border, and how many tracks there are.

    A track touches the border when any of its centroids lies within ``margin_px`` of an edge of the
    frame: ``min(y, x, height-1-y, width-1-x) <= margin_px`` (distances from the centres of the
    outermost pixels).

    Parameters
    ----------
    tracks : pandas.DataFrame or None
        One row per object per frame: ``track_id``, ``y_px``, ``x_px`` (centroid, px).  Rows without
        a track id (NA or 0) are ignored; None, empty or missing columns: (0, 0).
    frame_shape_yx : tuple of int
        (height, width) of a frame (px).
    margin_px : float
        Distance from an edge (px) within which a centroid touches the border.

    Returns
    -------
    n_border : int
        Tracks with a centroid within ``margin_px`` of an edge.
    n_tracks : int
        Tracks in ``tracks``.
    """
    if tracks is None or len(tracks) == 0 or not {"track_id", "y_px", "x_px"} <= set(tracks.columns):
        return 0, 0
    rows = tracks[tracks["track_id"].notna() & (tracks["track_id"] > 0)]
    if len(rows) == 0:
        return 0, 0
    height, width = (int(v) for v in frame_shape_yx)
    y = rows["y_px"].to_numpy(dtype=float)
    x = rows["x_px"].to_numpy(dtype=float)
    distance = np.minimum.reduce([y, x, (height - 1) - y, (width - 1) - x])
    near = pd.Series(distance <= margin_px, index=rows.index).groupby(rows["track_id"]).any()
    return int(near.sum()), int(len(near))


def _filters(segmentation: Mapping[str, Any]) -> dict[str, Any]:
    record = segmentation.get("object_filters") or {}
    per_frame_in = list(record.get("per_frame") or [])
    per_frame = []
    for row in sorted(per_frame_in, key=lambda r: int(r.get("frame", 0))):
        removed = {reason: int(row.get(reason, 0) or 0) for reason in FILTER_REASONS}
        objects = int(row.get("objects", 0) or 0)
        per_frame.append({
            "frame": int(row.get("frame", 0)),
            "objects": objects,
            "kept": objects - sum(removed.values()),
            **removed,
        })
    totals = {reason: sum(r[reason] for r in per_frame) for reason in FILTER_REASONS}
    found = sum(r["objects"] for r in per_frame)
    n_removed = sum(totals.values())
    return {
        "objects_found": found,
        "objects_removed": n_removed,
        "removed_fraction": n_removed / found if found else None,
        "removed": totals,
        "per_frame": per_frame,
    }


def _confidence(segmentation: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = (segmentation.get("object_filters") or {}).get("per_frame") or []
    values = [
        (int(r["frame"]), float(r["mean_cell_probability"]))
        for r in rows
        if r.get("mean_cell_probability") is not None and math.isfinite(float(r["mean_cell_probability"]))
    ]
    if not values:
        return None
    frame, lowest = min(values, key=lambda v: (v[1], v[0]))
    return {
        "mean_cell_probability": float(np.mean([v for _, v in values])),
        "lowest_frame": frame,
        "lowest_mean_cell_probability": lowest,
        "frames": len(values),
    }


def _short_tracks(tracking: Mapping[str, Any], track_metrics: pd.DataFrame) -> tuple[int, int]:
    """(short tracks, tracks): from track_metrics' ``excluded`` column, else tracking.json's counts."""
    if track_metrics is not None and "excluded" in track_metrics:
        flags = track_metrics["excluded"].fillna("").astype(str)
        return int((flags == "short").sum()), int(len(track_metrics))
    return int(tracking.get("n_short_tracks", 0) or 0), int(tracking.get("n_tracks", 0) or 0)


def assess_quality(
    segmentation: Mapping[str, Any],
    tracking: Mapping[str, Any],
    tracks: pd.DataFrame,
    track_metrics: pd.DataFrame,
    counts: pd.DataFrame,
    frame_shape_yx: tuple[int, int],
    settings: QCSettings,
) -> dict[str, Any]:
    """The quality record of one sample (the content of ``qc.json``).

    Parameters
    ----------
    segmentation : mapping
        The content of ``segmentation.json``: per-frame filter counts (objects), the diameter (px)
        and, with Cellpose, mean cell probabilities (0-1).
    tracking : mapping
        The content of ``tracking.json``: track and division counts, ``min_track_frames`` (frames).
    tracks : pandas.DataFrame
        ``tracks.parquet``: ``track_id``, ``y_px``, ``x_px`` (px) per object per frame.
    track_metrics : pandas.DataFrame
        ``track_metrics.parquet``: its ``excluded`` column (``'short'`` for tracks shorter than
        ``min_track_frames``).
    counts : pandas.DataFrame
        ``counts.tsv``: ``frame, n_cells`` (cells) per frame.
    frame_shape_yx : tuple of int
        (height, width) of a frame (px).
    settings : QCSettings
        Thresholds: fractions (no unit), the border margin (px) and count jumps (cells, fraction).

    Returns
    -------
    dict
        ``status`` ('ok' or 'check'), ``warnings`` (sentences), ``filters`` (``objects_found``,
        ``objects_removed``, ``removed_fraction``, ``removed`` per reason, ``per_frame`` rows with
        ``frame, objects, kept`` and each reason), ``tracks`` (``n_tracks, n_short, short_fraction,
        min_track_frames, n_border, border_fraction, border_margin_px``), ``divisions`` (``kept,
        rejected, rejected_by_reason``), ``count_jumps`` (:func:`count_jumps` rows), ``confidence``
        (``mean_cell_probability``, ``lowest_frame``, ``lowest_mean_cell_probability``, ``frames``;
        None without Cellpose probabilities), ``diameter_px`` (px) and ``diameter_source``,
        ``median_object_diameter_px`` (px, tracking.json's; None in an older one) and ``diameter_ratio`` (that over
        ``diameter_px``, no unit), ``denoise``
        (segmentation.json's record of the frames' noise and smoothing; None without one), and the
        ``settings`` used.  Fractions have no unit and are None when their denominator is 0.
    """
    warnings: list[str] = []

    filters = _filters(segmentation)
    if filters["objects_found"] == 0 and not filters["per_frame"]:
        pass  # no filter record (an older segmentation.json): nothing to check
    elif filters["objects_found"] == 0:
        warnings.append("Segmentation found no objects in any frame.")
    elif filters["removed_fraction"] > settings.max_removed_fraction:
        main = max(FILTER_REASONS, key=lambda r: filters["removed"][r])
        warnings.append(
            f"The object filters removed {filters['objects_removed']} of {filters['objects_found']} objects "
            f"({_percent(filters['removed_fraction'])}, more than the {_percent(settings.max_removed_fraction)} "
            f"allowed), most as {_REASON_TEXT.get(main, main)} ({filters['removed'][main]}): check the cell "
            "diameter and the filter settings."
        )

    n_short, n_tracks = _short_tracks(tracking, track_metrics)
    short_fraction = n_short / n_tracks if n_tracks else None
    if short_fraction is not None and short_fraction > settings.max_short_track_fraction:
        warnings.append(
            f"{n_short} of {n_tracks} tracks ({_percent(short_fraction)}) are shorter than "
            f"{tracking.get('min_track_frames', 'the minimum number of')} frames, more than the "
            f"{_percent(settings.max_short_track_fraction)} allowed: objects flicker in and out "
            "(segmentation noise or cells moving too far between frames)."
        )

    diameter = (segmentation.get("object_filters") or {}).get("diameter_px") or segmentation.get("diameter_px")
    margin = 0.5 * float(diameter) if diameter else None
    n_positioned = 0
    if margin is not None:
        n_border, n_positioned = border_tracks(tracks, frame_shape_yx, margin)
        border_fraction = n_border / n_positioned if n_positioned else None
    else:
        n_border, border_fraction = None, None
    if border_fraction is not None and border_fraction > settings.max_border_track_fraction:
        warnings.append(
            f"{n_border} of {n_positioned} tracks ({_percent(border_fraction)}) come within half a cell diameter "
            f"({margin:.1f} px) of the frame border, more than the {_percent(settings.max_border_track_fraction)} "
            "allowed: many cells are cut by the border or leave the field of view."
        )

    jumps = count_jumps(counts, settings.count_jump_fraction, settings.min_count_jump_cells)
    if jumps:
        warnings.append(
            f"The cell count jumps by more than {_percent(settings.count_jump_fraction)} from the previous frame "
            f"at frame(s) {_frames_text([j['frame'] for j in jumps])}: look at those frames for a focus, "
            "illumination or segmentation problem."
        )

    confidence = _confidence(segmentation)
    if confidence is not None and confidence["mean_cell_probability"] < settings.min_mean_cell_probability:
        warnings.append(
            f"Cellpose's mean cell probability is {confidence['mean_cell_probability']:.2f} (lowest "
            f"{confidence['lowest_mean_cell_probability']:.2f} at frame {confidence['lowest_frame']}), below "
            f"{settings.min_mean_cell_probability:.2f}: the model is unsure of these cells; try another model "
            "or fine-tune one."
        )

    found = tracking.get("median_diameter_px")
    size_ratio = float(found) / float(diameter) if found and diameter else None
    if size_ratio is not None and not 1.0 / settings.max_diameter_ratio <= size_ratio <= settings.max_diameter_ratio:
        warnings.append(
            f"The objects found are {float(found):.1f} px across (median), {size_ratio:.2f} times the cell diameter "
            f"segmentation was given ({float(diameter):.1f} px): cells may have been cut into pieces or merged; "
            "check the sample's diameter_um (or set it to auto)."
        )

    noise = (segmentation.get("denoise") or {}).get("noise_sd")
    if noise is not None and noise > settings.max_noise_sd:
        warnings.append(
            f"The frames are noisy (noise SD {noise:.3f} normalized units, above {settings.max_noise_sd:.3f}): "
            "dim cells may be missed; check the overlays, or fine-tune a model on annotated frames of this movie."
        )

    if n_tracks == 0 and filters["objects_found"] > 0:
        warnings.append("No tracks were made although segmentation found objects.")

    rejected = {str(k): int(v) for k, v in sorted((tracking.get("divisions_rejected") or {}).items())}
    record = {
        "status": STATUS_CHECK if warnings else STATUS_OK,
        "warnings": warnings,
        "filters": filters,
        "tracks": {
            "n_tracks": n_tracks,
            "n_short": n_short,
            "short_fraction": short_fraction,
            "min_track_frames": tracking.get("min_track_frames"),
            "n_border": n_border,
            "border_fraction": border_fraction,
            "border_margin_px": margin,
        },
        "divisions": {
            "kept": int(tracking.get("n_divisions", 0) or 0),
            "rejected": int(tracking.get("n_divisions_rejected", sum(rejected.values())) or 0),
            "rejected_by_reason": rejected,
        },
        "count_jumps": jumps,
        "confidence": confidence,
        "diameter_px": float(diameter) if diameter else None,
        "diameter_source": segmentation.get("diameter_source"),
        "median_object_diameter_px": float(found) if found else None,
        "diameter_ratio": size_ratio,
        # the frames' noise and whether Cellpose saw them smoothed (segment.cellpose.denoise)
        "denoise": segmentation.get("denoise"),
        "settings": settings.model_dump(mode="json"),
    }
    logger.info("quality: %s (%d warning(s))", record["status"], len(warnings))
    return record


def qc_headline(qc: Mapping[str, Any] | None) -> dict[str, Any]:
    """The key numbers of a ``qc.json`` record for the summary page.

    Parameters
    ----------
    qc : mapping or None
        The record of :func:`assess_quality`; None or empty when the sample has none.

    Returns
    -------
    dict
        ``qc_status`` ('ok', 'check' or None), ``qc_warnings`` (count), ``qc_removed_fraction``,
        ``qc_short_fraction``, ``qc_border_fraction`` (no unit, 0-1), ``qc_count_jumps`` (frames) and
        ``qc_mean_cell_probability`` (0-1); None where unknown.
    """
    if not qc:
        return {"qc_status": None, "qc_warnings": None, "qc_removed_fraction": None, "qc_short_fraction": None,
                "qc_border_fraction": None, "qc_count_jumps": None, "qc_mean_cell_probability": None}
    confidence = qc.get("confidence") or {}
    return {
        "qc_status": qc.get("status"),
        "qc_warnings": len(qc.get("warnings") or []),
        "qc_removed_fraction": (qc.get("filters") or {}).get("removed_fraction"),
        "qc_short_fraction": (qc.get("tracks") or {}).get("short_fraction"),
        "qc_border_fraction": (qc.get("tracks") or {}).get("border_fraction"),
        "qc_count_jumps": len(qc.get("count_jumps") or []),
        "qc_mean_cell_probability": confidence.get("mean_cell_probability"),
    }
