"""The sections of a sample's report: :data:`SAMPLE_SECTIONS`, each an (anchor, title, body function).

A body function takes the sample's :class:`SampleData` and returns the section's HTML; the lineage,
trajectory, MSD, evaluation, quality and provenance bodies live with their topic's module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.report.evaluation import _evaluation_body
from cellpipe.report.figures import _ACCENT, _counts_figure, _figure, _histogram_figure, _intensity_figure, _percentile_figure
from cellpipe.report.html import _cards, _empty_note, _esc, _fmt_quantity, _now, _num, _table
from cellpipe.report.images import _DETAIL_ABOVE_PX, _montage_figure, _orthogonal_figure, _overlay_figure
from cellpipe.report.provenance import _provenance_table
from cellpipe.report.qc import qc_body
from cellpipe.report.tracks import _lineage_body, _msd_body, _trajectories_body

#: Panels drawn at most in the segmentation montage.
_MAX_MONTAGE_PANELS = 12


def _finite_samples(samples: Mapping[str, np.ndarray] | None, key: str, limit: int = 2_000_000) -> np.ndarray | None:
    """Finite values of ``samples[key]`` (every n-th when more than ``limit``); None when there are none."""
    if not samples or samples.get(key) is None:
        return None
    values = np.asarray(samples[key], dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size > limit:
        values = values[:: math.ceil(values.size / limit)]
    return values if values.size else None


def _movie_percentiles(
    percentiles: pd.DataFrame | None, intensity_channel: int | None
) -> tuple[tuple[float, float] | None, tuple[float, float] | None, str]:
    """The movie-wide (frame -1) low and high percentile values to mark on the raw histogram.

    Parameters
    ----------
    percentiles : pandas.DataFrame or None
        Normalization table: ``channel, frame`` (-1 = movie-wide), ``low_percentile, high_percentile`` (%),
        ``low_value, high_value`` (raw intensity).
    intensity_channel : int or None
        Channel (0-based index) of the histograms; None or a channel not in the table: the smallest one.

    Returns
    -------
    tuple
        ``(low, high)`` values (raw intensity) or None, ``(low, high)`` percentiles (%) or None, and the
        caption's "of channel c" text.
    """
    if percentiles is None or len(percentiles) == 0 or not {"frame", "low_value", "high_value"} <= set(
        percentiles.columns
    ):
        return None, None, ""
    channel_text = ""
    movie = percentiles[percentiles["frame"] == -1]
    if "channel" in movie and len(movie):
        channels = sorted(movie["channel"].unique().tolist())
        chosen = intensity_channel if intensity_channel in channels else channels[0]
        movie = movie[movie["channel"] == chosen]
        channel_text = f" of channel {chosen}"
    if len(movie):
        first = movie.iloc[0]
        low, high = _num(first["low_value"]), _num(first["high_value"])
        if math.isfinite(low) and math.isfinite(high):
            pct = (_num(first.get("low_percentile")), _num(first.get("high_percentile")))
            return (low, high), pct, channel_text
    return None, None, channel_text


def _intensity_histograms(
    percentiles: pd.DataFrame | None,
    intensity_samples: Mapping[str, np.ndarray] | None,
    intensity_channel: int | None,
) -> str:
    """Histograms of sampled pixel values before (raw intensity) and after normalization (0-1 scale).

    Parameters
    ----------
    percentiles : pandas.DataFrame or None
        Normalization table (see :func:`_movie_percentiles`).
    intensity_samples : Mapping or None
        ``{"raw": values, "normalized": values}``: 1-D pixel values of the segmented channel in raw
        intensity units and after normalization (no unit).
    intensity_channel : int or None
        Channel (0-based index) the samples come from.
    """
    raw = _finite_samples(intensity_samples, "raw")
    normalized = _finite_samples(intensity_samples, "normalized")
    if raw is None and normalized is None:
        return _empty_note(
            "No intensity samples were given, so the histograms before and after normalization are left out."
        )
    movie_values, movie_pct, channel_text = _movie_percentiles(percentiles, intensity_channel)
    parts = []
    if raw is not None:
        marked = (
            f"red lines mark the movie-wide low (dashed) and high (solid) percentile values{channel_text}, "
            "which normalization maps to 0 and 1"
            if movie_values is not None
            else "no movie-wide percentiles (frame = -1) were recorded, so none are marked"
        )
        parts.append(f"left: {raw.size} raw pixel values; {marked}")
    if normalized is not None:
        below = 100.0 * float(np.mean(normalized < 0.0))
        above = 100.0 * float(np.mean(normalized > 1.0))
        parts.append(
            f"{'right' if raw is not None else 'shown'}: {normalized.size} normalized values, 0 and 1 marked; "
            f"{below:.2g} % lie below 0 and {above:.2g} % above 1"
        )
    return _figure(
        _intensity_figure(raw, normalized, movie_values, movie_pct),
        _esc(
            "Intensity histograms of pixels sampled from the segmented channel, counts on a log scale; "
            + "; ".join(parts)
            + "."
        ),
    )


def _normalization_body(
    percentiles: pd.DataFrame | None,
    intensity_samples: Mapping[str, np.ndarray] | None,
    intensity_channel: int | None,
    frame_interval_min: float | None,
    max_rows: int,
) -> str:
    """The normalization section: intensity histograms, percentiles per frame and the percentile table.

    Parameters
    ----------
    percentiles : pandas.DataFrame or None
        Normalization table (see :func:`_movie_percentiles`).
    intensity_samples : Mapping or None
        Pixel values before and after normalization (see :func:`_intensity_histograms`).
    intensity_channel : int or None
        Channel (0-based index) the samples come from.
    frame_interval_min : float or None
        Time between frames (min); None plots against the frame index.
    max_rows : int
        Rows of the percentile table shown.
    """
    body = _intensity_histograms(percentiles, intensity_samples, intensity_channel)
    if percentiles is None or len(percentiles) == 0:
        return body + '<p class="note">No normalization percentiles recorded.</p>'
    keys = [c for c in ("frame", "channel") if c in percentiles]
    table = percentiles.sort_values(keys, kind="stable") if keys else percentiles
    per_frame = percentiles[percentiles["frame"] >= 0] if "frame" in percentiles else percentiles.iloc[:0]
    if len(per_frame) and per_frame["frame"].nunique() > 1:
        body += _figure(
            _percentile_figure(per_frame, frame_interval_min),
            "Intensity at the low (dashed) and high (solid) normalization percentiles in each frame.",
        )
    body += _table(table, max_rows=max_rows)
    return body + '<p class="note">frame = -1: one pair of values for the whole movie. Values in raw intensity units.</p>'


def _montage_body(
    montage: Sequence[tuple[int, np.ndarray, np.ndarray]] | None,
    frame_interval_min: float | None,
    pixel_size_um: float | None,
) -> str:
    """The segmentation montage: frames with their labels, titled with the time (min), scale bars in µm.

    The segmentation montage: at most :data:`_MAX_MONTAGE_PANELS` ``(frame, (Y, X) image, (Y, X) labels)`` panels,
    titled with the time (min, from ``frame_interval_min``) and scale bars in µm (``pixel_size_um``, µm per
    px).
    """
    panels: list[tuple[int, np.ndarray, np.ndarray]] = []
    given = list(montage or [])
    for frame, image, labels in given[:_MAX_MONTAGE_PANELS]:
        image = np.asarray(image, dtype=float)
        labels = np.asarray(labels)
        if image.ndim != 2 or image.shape != labels.shape:
            raise ValueError(f"montage image {image.shape} and labels {labels.shape} must be the same (Y, X) shape")
        if image.size:
            panels.append((int(frame), image, labels))
    if not panels:
        return _empty_note("No montage frames were given, so the segmentation montage is left out.")
    caption = (
        f"Segmentation in {len(panels)} frames: image (grey, 1–99.8 % intensity stretch per panel) with the outline "
        "of each segmented object in colour; titles give the frame, its time and the number of objects."
        + (" Scale bar in µm." if pixel_size_um is not None else "")
    )
    if len(given) > len(panels):
        caption += f" {len(given) - len(panels)} further frame(s) left out."
    return _figure(_montage_figure(panels, frame_interval_min, pixel_size_um), _esc(caption))


NO_CELLS_MESSAGE = "No cells were found in this movie."


@dataclass(frozen=True)
class SampleData:
    """What one sample's report draws, its inputs resolved once by :func:`cellpipe.report.build_sample_report`.

    Attributes
    ----------
    sample : str
        Sample name (escaped where shown).
    generated : str or None
        Date text of the page; None: now, UTC.
    counts, cells : pandas.DataFrame
        ``counts.tsv`` (cells per frame) and ``cells.parquet`` (one row per cell per frame, areas in µm²).
    all_tracks, passing : pandas.DataFrame
        ``track_metrics.parquet``: every track, and the tracks that enter per-track statistics
        (``excluded`` empty); distances in µm, durations in min, speeds in µm/min.
    n_excluded : int
        Tracks left out of per-track statistics.
    tracks : pandas.DataFrame
        ``tracks.parquet`` rows with a track id and frame (positions in px and µm); empty without a tracks
        table.
    lineage : pandas.DataFrame or None
        ``lineage.parquet``: ``parent, child`` (track ids), ``division_frame`` (frame).
    overlay : tuple or None
        ((Y, X) float image, (Y, X) labels) of the overlay frame; None without an image.
    overlay_frame : int
        Frame index (0-based) of the overlay.
    montage : Sequence or None
        ``(frame index, (Y, X) image, (Y, X) labels)`` panels.
    percentiles : pandas.DataFrame
        ``normalization.tsv`` (percentiles in %, values in raw intensity).
    intensity_samples : Mapping or None
        ``{"raw": values, "normalized": values}``: pixel values (raw intensity, normalized 0-1 scale).
    intensity_channel : int or None
        Channel (0-based index) of the intensity samples.
    evaluation, qc : Mapping or None
        Contents of ``evaluation.json`` and ``qc.json``.
    provenance : Mapping
        Key/values of the provenance section.
    pixel_size_um, frame_interval_min : float or None
        µm per px and min between frames; None when unknown.
    max_track_rows, max_percentile_rows : int
        Rows shown of the track table and of the percentile table.
    orthogonal : Sequence or None
        ``(frame index, (Z, Y, X) float image, (Z, Y, X) labels)`` stacks of a 3-D movie drawn as orthogonal
        views beside the overlay; None for a 2-D movie.
    z_step_um : float or None
        µm between the planes of a 3-D movie; None when unknown or 2-D.
    msd : pandas.DataFrame or None
        ``msd.parquet`` (:func:`cellpipe.measure.msd_table`): mean squared displacement (µm²) per lag
        (frames, min), pooled (``track_id`` 0, with the fitted exponent) and per track; None without one.
    """

    sample: str
    generated: str | None
    counts: pd.DataFrame
    cells: pd.DataFrame
    all_tracks: pd.DataFrame
    passing: pd.DataFrame
    n_excluded: int
    tracks: pd.DataFrame
    lineage: pd.DataFrame | None
    overlay: tuple[np.ndarray, np.ndarray] | None
    overlay_frame: int
    montage: Sequence[tuple[int, np.ndarray, np.ndarray]] | None
    percentiles: pd.DataFrame
    intensity_samples: Mapping[str, np.ndarray] | None
    intensity_channel: int | None
    evaluation: Mapping[str, Any] | None
    qc: Mapping[str, Any] | None
    provenance: Mapping[str, Any]
    pixel_size_um: float | None
    frame_interval_min: float | None
    max_track_rows: int
    max_percentile_rows: int
    orthogonal: Sequence[tuple[int, np.ndarray, np.ndarray]] | None = None
    z_step_um: float | None = None
    msd: pd.DataFrame | None = None


def _summary_section(d: SampleData) -> str:
    """Key numbers as cards (divisions as ``measure`` counted them) and the sample's units."""
    n_frames, n_cells, n_all = len(d.counts), len(d.cells), len(d.all_tracks)
    mean_per_frame = float(d.counts["n_cells"].mean()) if n_frames else float("nan")
    n_dividing = int((d.all_tracks["parent"] > 0).sum()) if n_all and "parent" in d.all_tracks else 0
    n_divisions = int(d.all_tracks["n_divisions"].sum()) if n_all else 0
    cards = [
        ("frames", f"{n_frames}"),
        ("cell detections (all frames)", f"{n_cells}"),
        ("tracks", f"{len(d.passing)}"),
        ("short tracks, left out of statistics", f"{d.n_excluded}"),
        ("mean cells per frame", "–" if math.isnan(mean_per_frame) else f"{mean_per_frame:.1f}"),
        ("tracks with a parent (after division)", f"{n_dividing}"),
        ("divisions", f"{n_divisions}"),
    ]
    interval = d.frame_interval_min
    meta = pd.DataFrame(
        {
            "property": ["sample", "report date", "pixel size", "frame interval", "movie duration"],
            "value": [
                d.sample,
                d.generated or _now(),
                _fmt_quantity(d.pixel_size_um, "µm/px"),
                _fmt_quantity(interval, "min"),
                _fmt_quantity(max(0, n_frames - 1) * interval, "min") if interval and n_frames else "unknown",
            ],
        }
    )
    body = _cards(cards) + _table(meta)
    if n_cells == 0:
        body = _empty_note(NO_CELLS_MESSAGE + " The figures that need cells are left out.") + body
    return body


def _counts_section(d: SampleData) -> str:
    """Cells per frame over time (min)."""
    if not len(d.counts):
        return _empty_note("The movie has no frames.")
    body = _figure(_counts_figure(d.counts), "Number of segmented cells in each frame.")
    return _empty_note(NO_CELLS_MESSAGE) + body if len(d.cells) == 0 else body


def _overlay_section(d: SampleData) -> str:
    """One frame with the outline of each segmented object, a zoomed-in panel for large frames."""
    if d.overlay is None:
        return _empty_note("No image is available for an overlay.")
    image, labels = d.overlay
    time_min = d.overlay_frame * d.frame_interval_min if d.frame_interval_min else None
    body = _figure(
        _overlay_figure(image, labels, d.overlay_frame, time_min, d.pixel_size_um),
        f"Frame {d.overlay_frame}: image (grey, 1–99.8 % intensity stretch) with the outline of "
        "each segmented object in colour"
        + ("; right: the boxed central region at full resolution." if max(image.shape) > _DETAIL_ABOVE_PX else "."),
    )
    if not np.any(labels):
        body = _empty_note(f"No cells were segmented in frame {d.overlay_frame}.") + body
    return body + _orthogonal_body(d)


def _orthogonal_body(d: SampleData) -> str:
    """Orthogonal views (xy, xz, yz) of the given frames of a 3-D movie, beside the projection overlay.

    Orthogonal views (xy, xz, yz through the middle of the stack) of the given frames of a 3-D movie, beside
    the maximum-intensity projection overlay; nothing for a 2-D movie (``d.orthogonal`` None or empty).
    """
    figures = []
    for frame, image, labels in d.orthogonal or ():
        image = np.asarray(image, dtype=float)
        labels = np.asarray(labels)
        if image.ndim != 3 or image.shape != labels.shape:
            raise ValueError(f"orthogonal view image {image.shape} and labels {labels.shape} must be the same "
                             "(Z, Y, X) shape")
        if not image.size:
            continue
        nz, ny, nx = image.shape
        time_min = frame * d.frame_interval_min if d.frame_interval_min else None
        caption = (
            f"Frame {frame}, orthogonal views of the {nz} × {ny} × {nx} voxel stack: xy at the middle plane "
            f"(z = {nz // 2}), xz at y = {ny // 2} (below) and yz at x = {nx // 2} (right), image (grey, 1–99.8 % "
            "intensity stretch of the stack) with the outline of each segmented object cut by the plane in colour; "
            "dashed lines mark the other views' planes."
        )
        if d.pixel_size_um is not None and d.z_step_um is not None:
            caption += f" Drawn to scale: {d.pixel_size_um:g} µm per px, {d.z_step_um:g} µm between planes."
        elif d.pixel_size_um is not None:
            caption += " The z step is unknown: planes are drawn one pixel apart."
        figures.append(_figure(_orthogonal_figure(int(frame), image, labels, time_min, d.pixel_size_um, d.z_step_um),
                               _esc(caption)))
    return "".join(figures)


def _trajectories_section(d: SampleData) -> str:
    """Every trajectory over the overlay frame (a dark background without one)."""
    background = d.overlay[0] if d.overlay is not None else None
    return _trajectories_body(d.tracks, d.all_tracks, background, d.overlay_frame, d.pixel_size_um)


def _lineage_section(d: SampleData) -> str:
    """The lineage tree of every track."""
    # The tree draws the tracker's output: without a tracks table the page has no tracks to draw.
    shown = d.all_tracks if len(d.tracks) else d.all_tracks.iloc[:0]
    return _lineage_body(shown, d.lineage, d.frame_interval_min)


def _msd_section(d: SampleData) -> str:
    """The mean squared displacement of the passing tracks, as ``msd.parquet`` holds it."""
    # as the lineage tree: without a tracks table the page has no tracks, whatever track_metrics holds
    return _msd_body(d.msd, d.passing if len(d.tracks) else d.passing.iloc[:0])


def _areas_section(d: SampleData) -> str:
    """Histogram of the cell areas (µm²), or of the cell volumes (µm³) of a 3-D movie, all frames pooled."""
    n_cells = len(d.cells)
    if "area_um2" not in d.cells and "volume_um3" in d.cells:  # cells of a 3-D movie (measure_volumes)
        volumes = d.cells["volume_um3"].to_numpy(dtype=float)
        if not np.isfinite(volumes).any():
            return _empty_note(NO_CELLS_MESSAGE)
        return _figure(
            _histogram_figure(volumes, "cell volume (µm³)", "cells (count)", "Cell volume, all frames", _ACCENT,
                              "volumes", "µm³", "cells"),
            f"Volumes of all {n_cells} cell detections (z-stacks), all frames pooled.",
        )
    areas = d.cells["area_um2"].to_numpy(dtype=float) if n_cells else np.zeros(0)
    if not np.isfinite(areas).any():
        return _empty_note(NO_CELLS_MESSAGE)
    return _figure(
        _histogram_figure(
            areas, "cell area (µm²)", "cells (count)", "Cell area, all frames", _ACCENT, "areas", "µm²", "cells"
        ),
        f"Areas of all {n_cells} cell detections, all frames pooled.",
    )


def _speeds_section(d: SampleData) -> str:
    """Histogram of the passing tracks' mean speeds (µm/min)."""
    speeds = d.passing["mean_speed_um_per_min"].to_numpy(dtype=float) if len(d.passing) else np.zeros(0)
    finite_speeds = speeds[np.isfinite(speeds)]
    if finite_speeds.size:
        return _figure(
            _histogram_figure(
                finite_speeds, "mean track speed (µm/min)", "tracks (count)", "Track speed", "#2f855a", "speeds",
                "µm/min", "tracks",
            ),
            f"Path length divided by duration for the {finite_speeds.size} track(s) spanning at least two frames"
            + (f"; {d.n_excluded} short track(s) left out." if d.n_excluded else "."),
        )
    if len(d.cells) == 0:
        return _empty_note(NO_CELLS_MESSAGE)
    return _empty_note("No track spans two or more frames, so no speed can be computed.")


def _tracks_section(d: SampleData) -> str:
    """The passing tracks of ``track_metrics.parquet``, longest first."""
    if len(d.passing):
        ordered = d.passing.sort_values(["n_frames", "track_id"], ascending=[False, True], kind="stable")
        return (
            _table(ordered, max_rows=d.max_track_rows)
            + '<p class="note">Longest tracks first. Distances in µm, durations in minutes, speed in µm/min; '
            "straightness = displacement / path length."
            + (f" {d.n_excluded} short track(s) (column excluded in track_metrics.parquet) are not shown and "
               "are left out of the speeds and the mean squared displacement." if d.n_excluded else "")
            + "</p>"
        )
    if d.n_excluded:
        return _empty_note(f"All {d.n_excluded} tracks are short (flagged excluded in track_metrics.parquet).")
    return _empty_note("No tracks were found.")


#: The sections of a sample's report, in page order: (anchor, title, body of the section).
SAMPLE_SECTIONS: tuple[tuple[str, str, Callable[[SampleData], str]], ...] = (
    ("summary", "Summary", _summary_section),
    ("qc", "Quality control", lambda d: qc_body(d.qc)),
    ("counts", "Cell count over time", _counts_section),
    ("overlay", "Segmentation overlay", _overlay_section),
    ("montage", "Segmentation montage", lambda d: _montage_body(d.montage, d.frame_interval_min, d.pixel_size_um)),
    ("trajectories", "Tracks overlay", _trajectories_section),
    ("lineage", "Lineage tree", _lineage_section),
    ("areas", "Cell area distribution", _areas_section),
    ("speeds", "Track speed distribution", _speeds_section),
    ("msd", "Mean squared displacement", _msd_section),
    ("tracks", "Track summary", _tracks_section),
    (
        "normalization",
        "Normalization QC",
        lambda d: _normalization_body(
            d.percentiles, d.intensity_samples, d.intensity_channel, d.frame_interval_min, d.max_percentile_rows
        ),
    ),
    ("evaluation", "Evaluation", lambda d: _evaluation_body(d.evaluation)),
    ("provenance", "Provenance", lambda d: _provenance_table(d.provenance)),
)
