"""The report page of one sample: its inputs resolved once, then the sections of :data:`SAMPLE_SECTIONS`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.numbers import as_number
from cellpipe.report.html import _esc, _page, _section
from cellpipe.report.provenance import provenance_value
from cellpipe.report.sections import SAMPLE_SECTIONS, SampleData
from cellpipe.report.tracks import passing_tracks, valid_tracks

logger = logging.getLogger(__name__)


def _as_float(value: Any) -> float | None:
    """A pixel size (µm/px) or frame interval (min): a finite number above 0, or None."""
    return as_number(value, finite=True, positive=True)


def _overlay(image: np.ndarray | None, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The overlay frame as ((Y, X) float image, (Y, X) labels); None without an image.

    Raises
    ------
    ValueError
        When image and labels are not the same (Y, X) shape.
    """
    if image is None or labels is None or np.size(image) == 0:
        return None
    image = np.asarray(image, dtype=float)
    labels = np.asarray(labels)
    if image.shape != labels.shape or image.ndim != 2:
        raise ValueError(f"overlay image {image.shape} and labels {labels.shape} must be the same (Y, X) shape")
    return image, labels


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
    orthogonal: Sequence[tuple[int, np.ndarray, np.ndarray]] | None = None,
    z_step_um: float | None = None,
    msd: pd.DataFrame | None = None,
) -> str:
    """HTML quality-control report of one sample (a complete, self-contained page).

    Parameters
    ----------
    sample : str
        Sample name (escaped).
    counts : pandas.DataFrame
        ``frame, time_min`` (min), ``n_cells`` per frame (:func:`cellpipe.measure.counts_per_frame`).
    cells : pandas.DataFrame
        Per-cell table (:func:`cellpipe.measure.measure_cells`); ``area_um2`` (µm²) is plotted.
    track_summary : pandas.DataFrame
        Per-track table (:func:`cellpipe.measure.summarize_tracks`, ``track_metrics.parquet``): lengths in
        µm, durations in min, speeds in µm/min; its ``n_divisions``, ``n_children``, ``root`` and
        ``generation`` give the division and family counts and the lineage tree.
    overlay_image, overlay_labels : numpy.ndarray or None
        (Y, X) image (any intensity scale; displayed with a 1–99.8 % stretch) and (Y, X) labels of one
        frame for the segmentation overlay; ``None`` or empty arrays skip the figure.
    overlay_frame : int
        Frame index (0-based) of the overlay.
    percentiles : pandas.DataFrame
        Normalization table ``channel, frame`` (-1 = movie-wide), ``low_percentile, high_percentile`` (%),
        ``low_value, high_value`` (raw intensity).
    provenance : Mapping
        Key/values shown verbatim (versions, device, method, config ...).
    pixel_size_um : float, optional
        µm per px, shown in the header: rule report_sample gives the one ingest recorded in
        ``image.ome.zarr``.  When omitted, looked up in ``provenance`` (key ``pixel_size_um``, top level
        or one level down), else shown as "unknown" (never guessed from the tables).
    frame_interval_min : float, optional
        Minutes between frames, from ``image.ome.zarr`` the same way; looked up in ``provenance`` (key
        ``frame_interval_min``) when omitted, else unknown.
    generated : str, optional
        Date text of the header; default: now, UTC.
    max_track_rows, max_percentile_rows : int
        Rows shown of the track summary and percentile tables.
    tracks : pandas.DataFrame, optional
        Tracks table, one row per object per frame: ``frame, time_min`` (min), ``track_id, label``,
        ``y_px, x_px`` (px), ``y_um, x_um`` (µm), ``parent`` (parent track id, 0 = none), ``root``
        (root track id), ``generation``.  Drawn as trajectories over the overlay frame; without it the
        track figures say so.
    lineage : pandas.DataFrame, optional
        ``parent, child`` (track ids), ``division_frame`` (the frame in which the daughter first
        appears); its links are drawn in the lineage tree besides the ``parent`` column.
    montage : Sequence, optional
        A few ``(frame index, (Y, X) float image, (Y, X) int labels)`` triples shown as a grid of
        segmentation overlays.
    intensity_samples : Mapping, optional
        ``{"raw": values, "normalized": values}``, 1-D arrays of pixel values of the segmented channel
        before (raw intensity) and after normalization (no unit), shown as histograms.
    intensity_channel : int, optional
        Channel (0-based index) of ``intensity_samples``: its movie-wide percentiles (``percentiles``
        rows with frame -1) are marked on the raw histogram; default: the smallest channel in the table.
    evaluation : Mapping, optional
        Content of the sample's ``evaluation.json`` (comparison with ground truth: ``ctc``,
        ``segmentation``, ``counts``, ``divisions``, any of them null or ``{"reason": ...}``).
    qc : Mapping, optional
        Content of the sample's ``qc.json`` (:func:`cellpipe.qc.assess_quality`): the "Quality control"
        section, right after the summary.
    orthogonal : Sequence, optional
        For a 3-D movie, a few ``(frame index, (Z, Y, X) float image, (Z, Y, X) int labels)`` stacks drawn in
        the overlay section as orthogonal views (xy at the middle plane, xz and yz through the middle) with
        the outlines of the objects each plane cuts; the overlay and montage then show maximum-intensity
        projections.
    z_step_um : float, optional
        µm between the planes of ``orthogonal``'s stacks, so that the views are drawn to scale; when omitted,
        looked up in ``provenance`` (key ``pixel_size_z_um``).
    msd : pandas.DataFrame, optional
        ``msd.parquet`` of rule measure_cells (:func:`cellpipe.measure.msd_table`): the mean squared
        displacement (µm²) per lag (frames, min) of the passing tracks, pooled (``track_id`` 0, with the
        fitted exponent ``msd_exponent``) and per track, drawn as it is; without it the MSD section says so.

    Returns
    -------
    str
        The page's HTML.

    Every section of :data:`~cellpipe.report.sections.SAMPLE_SECTIONS` is always present, in its
    order; one whose input is missing or empty says so.  Sections (anchors): ``summary, qc, counts,
    overlay, montage, trajectories, lineage, areas, speeds, msd, tracks, normalization, evaluation,
    provenance``.

    Raises
    ------
    ValueError
        When the overlay image and labels, or a montage image and its labels, differ in (Y, X) shape, or an
        ``orthogonal`` stack and its labels in (Z, Y, X) shape.
    """
    provenance = dict(provenance or {})
    pixel_size = _as_float(pixel_size_um) or _as_float(provenance_value(provenance, "pixel_size_um"))
    interval = _as_float(frame_interval_min) or _as_float(provenance_value(provenance, "frame_interval_min"))
    # per-track statistics (speeds, the track table) use the tracks that pass (excluded == ''), as msd.parquet does
    passing, n_excluded = passing_tracks(track_summary)
    data = SampleData(
        sample=str(sample), generated=generated, counts=counts, cells=cells, all_tracks=track_summary,
        passing=passing, n_excluded=n_excluded, tracks=valid_tracks(tracks), lineage=lineage,
        overlay=_overlay(overlay_image, overlay_labels), overlay_frame=int(overlay_frame), montage=montage,
        percentiles=percentiles, intensity_samples=intensity_samples, intensity_channel=intensity_channel,
        evaluation=evaluation, qc=qc, provenance=provenance, pixel_size_um=pixel_size, frame_interval_min=interval,
        max_track_rows=max_track_rows, max_percentile_rows=max_percentile_rows, orthogonal=orthogonal,
        z_step_um=_as_float(z_step_um) or _as_float(provenance_value(provenance, "pixel_size_z_um")), msd=msd,
    )
    sections = [_section(anchor, title, body(data)) for anchor, title, body in SAMPLE_SECTIONS]
    nav = [(anchor, title) for anchor, title, _ in SAMPLE_SECTIONS]
    n_frames, n_cells, n_tracks = len(counts), len(cells), len(passing)
    subtitle = _esc(
        f"cellpipe sample report · {n_frames} frames · {n_cells} cell detections · {n_tracks} tracks"
    )
    logger.info("built report for sample %s (%d frames, %d cells, %d tracks)", sample, n_frames, n_cells, n_tracks)
    return _page(f"Sample {sample}", subtitle, nav, "\n".join(sections))
