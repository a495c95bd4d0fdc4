"""The report page of one sample: its sections, in order."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.numbers import as_number
from cellpipe.report.evaluation import _evaluation_body
from cellpipe.report.figures import _ACCENT, _counts_figure, _figure, _histogram_figure
from cellpipe.report.html import _cards, _empty_note, _esc, _fmt_quantity, _now, _page, _section, _table
from cellpipe.report.images import _DETAIL_ABOVE_PX, _overlay_figure
from cellpipe.report.provenance import _lookup, _provenance_table
from cellpipe.report.qc import qc_body
from cellpipe.report.sections import _montage_body, _normalization_body
from cellpipe.report.tracks import (
    _lineage_body,
    _msd_body,
    _passing_tracks,
    _trajectories_body,
    _valid_tracks,
)

logger = logging.getLogger(__name__)


NO_CELLS_MESSAGE = "No cells were found in this movie."


def _as_float(value: Any) -> float | None:
    """A pixel size or frame interval: a finite number above 0, or None."""
    return as_number(value, finite=True, positive=True)


def _infer_pixel_size(cells: pd.DataFrame) -> float | None:
    if len(cells) == 0 or not {"area_um2", "area_px"} <= set(cells.columns):
        return None
    ratio = (cells["area_um2"].astype(float) / cells["area_px"].astype(float)).median()
    return _as_float(math.sqrt(ratio)) if ratio > 0 else None


def _infer_frame_interval(counts: pd.DataFrame) -> float | None:
    if len(counts) < 2 or not {"frame", "time_min"} <= set(counts.columns):
        return None
    frames = counts["frame"].to_numpy(dtype=float)
    times = counts["time_min"].to_numpy(dtype=float)
    return _as_float((times[-1] - times[0]) / (frames[-1] - frames[0])) if frames[-1] != frames[0] else None


def build_sample_report(
    sample: str,
    counts: pd.DataFrame,
    cells: pd.DataFrame,
    track_summary: pd.DataFrame,
    overlay_image: np.ndarray | None,
    overlay_labels: np.ndarray | None,
    overlay_frame: int,
    percentiles: pd.DataFrame,
    provenance: Mapping[str, Any],
    *,
    pixel_size_um: float | None = None,
    frame_interval_min: float | None = None,
    generated: str | None = None,
    max_track_rows: int = 20,
    max_percentile_rows: int = 40,
    tracks: pd.DataFrame | None = None,
    lineage: pd.DataFrame | None = None,
    montage: Sequence[tuple[int, np.ndarray, np.ndarray]] | None = None,
    intensity_samples: Mapping[str, np.ndarray] | None = None,
    intensity_channel: int | None = None,
    evaluation: Mapping[str, Any] | None = None,
    qc: Mapping[str, Any] | None = None,
) -> str:
    """HTML quality-control report of one sample (a complete, self-contained page).

    Parameters
    ----------
    sample:
        Sample name (escaped).
    counts:
        ``frame, time_min, n_cells`` per frame (:func:`cellpipe.measure.counts_per_frame`).
    cells:
        Per-cell table (:func:`cellpipe.measure.measure_cells`); ``area_um2`` is plotted.
    track_summary:
        Per-track table (:func:`cellpipe.measure.summarize_tracks`).
    overlay_image, overlay_labels:
        (Y, X) image (any float scale; displayed with a 1–99.8 % stretch) and
        labels of one frame for the segmentation overlay; ``None`` or empty
        arrays skip the figure.
    overlay_frame:
        Frame index (0-based) of the overlay.
    percentiles:
        Normalization table ``channel, frame (-1 = movie-wide), low_percentile,
        high_percentile, low_value, high_value``.
    provenance:
        Key/values shown verbatim (versions, device, method, config ...).
    pixel_size_um, frame_interval_min:
        Shown in the header (µm per px, minutes).  When omitted they are
        looked up in ``provenance`` (keys ``pixel_size_um``,
        ``frame_interval_min``, top level or one level down), then inferred
        from the tables, else shown as "unknown".
    generated:
        Date text of the header; default: now, UTC.
    max_track_rows, max_percentile_rows:
        Rows shown of the track summary and percentile tables.
    tracks:
        Tracks table, one row per object per frame: ``frame, time_min,
        track_id, label, y_px, x_px, y_um, x_um, parent`` (parent track id, 0 =
        none), ``root`` (root track id), ``generation``.  Drawn as
        trajectories over the overlay frame (pixels), as a lineage tree, and
        used for the mean squared displacement (µm², needs the frame interval).
    lineage:
        ``parent, child, division_frame`` (one row per daughter track; the
        frame in which the daughter first appears); adds to the ``parent``
        column of ``tracks`` in the lineage tree.
    montage:
        A few ``(frame index, image (Y, X) float, labels (Y, X) int)`` triples
        shown as a grid of segmentation overlays.
    intensity_samples:
        ``{"raw": values, "normalized": values}``, 1-D arrays of pixel values of
        the segmented channel before (raw units) and after normalization,
        shown as histograms.
    intensity_channel:
        Channel of ``intensity_samples``: its movie-wide percentiles
        (``percentiles`` rows with frame -1) are marked on the raw histogram;
        default: the smallest channel in the table.
    evaluation:
        Content of the sample's ``evaluation.json`` (comparison with ground
        truth: ``ctc``, ``segmentation``, ``counts``, ``divisions``, any of
        them null or ``{"reason": ...}``).
    qc:
        Content of the sample's ``qc.json`` (:func:`cellpipe.qc.assess_quality`): the "Quality
        control" section, right after the summary.

    Every section is always present; one whose input is missing or empty
    says so.  Sections (anchors): ``summary, qc, counts, overlay, montage,
    trajectories, lineage, areas, speeds, msd, tracks, normalization,
    evaluation, provenance``.
    """
    provenance = dict(provenance or {})
    pixel_size = (
        _as_float(pixel_size_um) or _as_float(_lookup(provenance, "pixel_size_um")) or _infer_pixel_size(cells)
    )
    interval = (
        _as_float(frame_interval_min)
        or _as_float(_lookup(provenance, "frame_interval_min"))
        or _infer_frame_interval(counts)
    )
    n_frames = len(counts)
    n_cells = len(cells)
    all_tracks = track_summary
    n_all_tracks = len(all_tracks)
    # per-track statistics (speeds, MSD, the track table) use the tracks that pass (excluded == '')
    track_summary, n_excluded = _passing_tracks(all_tracks)
    n_tracks = len(track_summary)
    no_cells = n_cells == 0
    mean_per_frame = float(counts["n_cells"].mean()) if n_frames else float("nan")
    n_dividing = int((all_tracks["parent"] > 0).sum()) if n_all_tracks and "parent" in all_tracks else 0
    n_divisions = int(all_tracks["n_divisions"].sum()) if n_all_tracks else 0
    track_rows = _valid_tracks(tracks)
    if n_excluded and len(track_rows):
        statistic_rows = track_rows[track_rows["track_id"].isin(track_summary["track_id"])]
    else:
        statistic_rows = track_rows

    sections: list[str] = []
    nav: list[tuple[str, str]] = []

    def add(anchor: str, title: str, body: str) -> None:
        sections.append(_section(anchor, title, body))
        nav.append((anchor, title))

    # Summary ------------------------------------------------------------------
    cards = [
        ("frames", f"{n_frames}"),
        ("cell detections (all frames)", f"{n_cells}"),
        ("tracks", f"{n_tracks}"),
        ("short tracks, left out of statistics", f"{n_excluded}"),
        ("mean cells per frame", "–" if math.isnan(mean_per_frame) else f"{mean_per_frame:.1f}"),
        ("tracks with a parent (after division)", f"{n_dividing}"),
        ("divisions", f"{n_divisions}"),
    ]
    meta = pd.DataFrame(
        {
            "property": ["sample", "report date", "pixel size", "frame interval", "movie duration"],
            "value": [
                str(sample),
                generated or _now(),
                _fmt_quantity(pixel_size, "µm/px"),
                _fmt_quantity(interval, "min"),
                _fmt_quantity(max(0, n_frames - 1) * interval, "min") if interval and n_frames else "unknown",
            ],
        }
    )
    summary_body = _cards(cards) + _table(meta)
    if no_cells:
        summary_body = _empty_note(NO_CELLS_MESSAGE + " The figures that need cells are left out.") + summary_body
    add("summary", "Summary", summary_body)

    # Quality control ------------------------------------------------------------
    add("qc", "Quality control", qc_body(qc))

    # Counts over time ---------------------------------------------------------
    if n_frames:
        body = _figure(_counts_figure(counts), "Number of segmented cells in each frame.")
        if no_cells:
            body = _empty_note(NO_CELLS_MESSAGE) + body
    else:
        body = _empty_note("The movie has no frames.")
    add("counts", "Cell count over time", body)

    # Overlay ------------------------------------------------------------------
    background: np.ndarray | None = None
    if overlay_image is not None and overlay_labels is not None and np.size(overlay_image) > 0:
        image = np.asarray(overlay_image, dtype=float)
        labels = np.asarray(overlay_labels)
        if image.shape != labels.shape or image.ndim != 2:
            raise ValueError(f"overlay image {image.shape} and labels {labels.shape} must be the same (Y, X) shape")
        background = image
        time_min = overlay_frame * interval if interval else None
        body = _figure(
            _overlay_figure(image, labels, overlay_frame, time_min, pixel_size),
            f"Frame {int(overlay_frame)}: image (grey, 1–99.8 % intensity stretch) with the outline of "
            "each segmented object in colour"
            + ("; right: the boxed central region at full resolution." if max(image.shape) > _DETAIL_ABOVE_PX else "."),
        )
        if not np.any(labels):
            body = _empty_note(f"No cells were segmented in frame {int(overlay_frame)}.") + body
    else:
        body = _empty_note("No image is available for an overlay.")
    add("overlay", "Segmentation overlay", body)

    # Montage, trajectories, lineage -----------------------------------------------
    add("montage", "Segmentation montage", _montage_body(montage, interval, pixel_size))
    add(
        "trajectories",
        "Tracks overlay",
        _trajectories_body(track_rows, all_tracks, background, int(overlay_frame), pixel_size),
    )
    # The lineage tree draws the tracker's output: without a tracks table the page has no tracks to draw.
    add("lineage", "Lineage tree", _lineage_body(all_tracks if len(track_rows) else all_tracks.iloc[:0], lineage, interval))

    # Areas --------------------------------------------------------------------
    areas = cells["area_um2"].to_numpy(dtype=float) if n_cells else np.zeros(0)
    if np.isfinite(areas).any():
        body = _figure(
            _histogram_figure(
                areas, "cell area (µm²)", "cells (count)", "Cell area, all frames", _ACCENT, "areas", "µm²", "cells"
            ),
            f"Areas of all {n_cells} cell detections, all frames pooled.",
        )
    else:
        body = _empty_note(NO_CELLS_MESSAGE)
    add("areas", "Cell area distribution", body)

    # Speeds -------------------------------------------------------------------
    speeds = track_summary["mean_speed_um_per_min"].to_numpy(dtype=float) if n_tracks else np.zeros(0)
    finite_speeds = speeds[np.isfinite(speeds)]
    if finite_speeds.size:
        body = _figure(
            _histogram_figure(
                finite_speeds, "mean track speed (µm/min)", "tracks (count)", "Track speed", "#2f855a", "speeds",
                "µm/min", "tracks",
            ),
            f"Path length divided by duration for the {finite_speeds.size} track(s) spanning at least two frames"
            + (f"; {n_excluded} short track(s) left out." if n_excluded else "."),
        )
    elif no_cells:
        body = _empty_note(NO_CELLS_MESSAGE)
    else:
        body = _empty_note("No track spans two or more frames, so no speed can be computed.")
    add("speeds", "Track speed distribution", body)

    # Mean squared displacement -------------------------------------------------------
    add("msd", "Mean squared displacement", _msd_body(statistic_rows, interval))

    # Track table --------------------------------------------------------------
    if n_tracks:
        ordered = track_summary.sort_values(["n_frames", "track_id"], ascending=[False, True], kind="stable")
        body = (
            _table(ordered, max_rows=max_track_rows)
            + '<p class="note">Longest tracks first. Distances in µm, durations in minutes, speed in µm/min; '
            "straightness = displacement / path length."
            + (f" {n_excluded} short track(s) (column excluded in track_metrics.parquet) are not shown and "
               "are left out of the speeds and the mean squared displacement." if n_excluded else "")
            + "</p>"
        )
    elif n_excluded:
        body = _empty_note(f"All {n_excluded} tracks are short (flagged excluded in track_metrics.parquet).")
    else:
        body = _empty_note("No tracks were found.")
    add("tracks", "Track summary", body)

    # Normalization -------------------------------------------------------------
    add(
        "normalization",
        "Normalization QC",
        _normalization_body(percentiles, intensity_samples, intensity_channel, interval, max_percentile_rows),
    )

    # Evaluation ------------------------------------------------------------------
    add("evaluation", "Evaluation", _evaluation_body(evaluation))

    # Provenance ---------------------------------------------------------------
    add("provenance", "Provenance", _provenance_table(provenance))

    subtitle = _esc(
        f"cellpipe sample report · {n_frames} frames · {n_cells} cell detections · {n_tracks} tracks"
    )
    logger.info("built report for sample %s (%d frames, %d cells, %d tracks)", sample, n_frames, n_cells, n_tracks)
    return _page(f"Sample {sample}", subtitle, nav, "\n".join(sections))
