"""Self-contained HTML quality-control reports, one per sample plus a summary.

The pages open from disk without a network: styles are inline, there are no
scripts, and every figure is a PNG rendered with matplotlib's Agg canvas and
embedded as a base64 ``data:`` URI.  Every string that comes from data or
configuration is HTML-escaped.  The functions return the HTML as a string;
writing it is :mod:`cellpipe.io`'s job.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import matplotlib
import matplotlib.patches
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import ndimage as ndi
from pydantic import Field
from skimage.segmentation import find_boundaries

from cellpipe._base import StageSettings
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)

__all__ = [
    "build_sample_report",
    "build_summary_report",
    "collect_versions",
    "summary_row",
]

#: Distributions whose versions :func:`collect_versions` reports, in this order.
VERSIONED_PACKAGES: tuple[str, ...] = (
    "cellpipe",
    "numpy",
    "scipy",
    "scikit-image",
    "pandas",
    "zarr",
    "cellpose",
    "torch",
    "btrack",
    "matplotlib",
)

NO_CELLS_MESSAGE = "No cells were found in this movie."

_FIG_DPI = 110
_ACCENT = "#2b6cb0"
_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
}

_CSS = """
:root { --fg:#1a202c; --muted:#4a5568; --line:#e2e8f0; --accent:#2b6cb0; --bg:#f7fafc; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); background:var(--bg); line-height:1.45; font-size:15px; }
header { background:#1f3a5f; color:#fff; padding:22px 32px 18px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:600; }
header .sub { color:#cbd5e0; font-size:13px; }
main { max-width:1120px; margin:0 auto; padding:18px 32px 48px; }
nav { font-size:13px; margin:4px 0 10px; color:var(--muted); }
nav a { color:var(--accent); text-decoration:none; margin-right:14px; }
a { color:var(--accent); }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:16px 22px 18px; margin:16px 0; }
h2 { font-size:18px; margin:0 0 10px; font-weight:600; }
p.note { color:var(--muted); font-size:13px; margin:6px 0 0; }
.empty { background:#fffaf0; border:1px solid #f6ad55; color:#7b341e; border-radius:4px; padding:10px 14px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin-top:6px; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 14px; min-width:150px; background:#fbfdff; }
.card .k { font-size:12px; color:var(--muted); }
.card .v { font-size:20px; font-weight:600; font-variant-numeric: tabular-nums; }
figure { margin:6px 0 0; }
figure img { max-width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
table { border-collapse:collapse; font-size:13px; margin-top:4px; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { background:#edf2f7; font-weight:600; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background:#f9fbfd; }
.scroll { overflow-x:auto; }
pre { margin:0; font-size:12px; white-space:pre-wrap; word-break:break-word; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px; }
"""


# --------------------------------------------------------------------------- helpers



class ReportSettings(StageSettings):
    """Settings of the per-sample HTML report."""

    overlay_frame: int | None = Field(
        None, ge=0, description="Frame (0-based) shown in the segmentation overlay; default: the middle frame."
    )
    max_track_rows: int = Field(20, ge=1, description="Tracks listed in the report's track table (longest first).")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt(value: Any) -> str:
    """Human-readable, escaped cell text: 4 significant digits for floats, an em dash for missing."""
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return _esc(value)
    if _is_missing(value):
        return "&mdash;"
    if isinstance(value, (bool, np.bool_)):
        return _esc(bool(value))
    if isinstance(value, (int, np.integer)):
        return _esc(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v == 0.0 or not math.isfinite(v):
            return _esc(f"{v:g}")
        if 1.0 <= abs(v) < 1e6:
            return _esc(f"{v:.2f}")
        if 0.001 <= abs(v) < 1.0:
            return _esc(f"{v:.3f}")
        return _esc(f"{v:.3g}")
    return _esc(value)


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _table(df: pd.DataFrame, max_rows: int | None = None) -> str:
    """An HTML table of ``df`` (index dropped), at most ``max_rows`` rows."""
    shown = df if max_rows is None else df.head(max_rows)
    # <wbr> lets long snake_case headers wrap at the underscores.
    head = "".join(f"<th>{_esc(col).replace('_', '_<wbr>')}</th>" for col in shown.columns)
    rows = []
    for record in shown.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="num">{_fmt(v)}</td>' if _is_numeric(v) else f"<td>{_fmt(v)}</td>" for v in record
        )
        rows.append(f"<tr>{cells}</tr>")
    body = "\n".join(rows)
    out = f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>'
    if max_rows is not None and len(df) > max_rows:
        out += f'<p class="note">Showing the first {max_rows} of {len(df)} rows.</p>'
    return out


def _png(fig: Figure) -> str:
    """Render ``fig`` with the Agg canvas to an ``<img>`` tag with a base64 PNG."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_FIG_DPI, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="">'


def _figure(img_tag: str, caption: str) -> str:
    return f"<figure>{img_tag}<figcaption>{caption}</figcaption></figure>"


def _empty_note(text: str) -> str:
    return f'<p class="empty">{_esc(text)}</p>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{_esc(anchor)}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'


def _lookup(provenance: Mapping[str, Any], key: str) -> Any:
    """``key`` at the top level of ``provenance`` or one level down, else None."""
    if key in provenance:
        return provenance[key]
    for value in provenance.values():
        if isinstance(value, Mapping) and key in value:
            return value[key]
    return None


def _as_float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out > 0 else None


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


def _fmt_quantity(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:.4g} {unit}"


# --------------------------------------------------------------------------- figures


def _counts_figure(counts: pd.DataFrame) -> str:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax = fig.add_subplot()
        ax.plot(
            counts["time_min"], counts["n_cells"], color=_ACCENT, marker="o", markersize=3, linewidth=1.4,
            clip_on=False, zorder=3,
        )
        ax.set_xlabel("time (min)")
        ax.set_ylabel("cells per frame (count)")
        ax.set_ylim(bottom=0, top=max(1.0, float(counts["n_cells"].max()) * 1.08))
        ax.set_title("Segmented cells over time")
        fig.tight_layout()
        return _png(fig)


def _label_colours(labels: np.ndarray) -> np.ndarray:
    """RGB (float, 0..1) per label value; neighbouring label ids get distinct colours."""
    tab10 = matplotlib.colormaps["tab10"].colors
    palette = np.asarray([c for i, c in enumerate(tab10) if i != 7], dtype=float)  # saturated, no grey
    idx = (labels.astype(np.int64) * 4) % len(palette)
    return palette[idx]


#: Frames larger than this (px, either axis) get a second, zoomed-in overlay panel.
_DETAIL_ABOVE_PX = 768
#: Side of the zoomed-in panel (px).
_DETAIL_SIZE_PX = 384


def _outline_rgba(labels: np.ndarray, thickness: int) -> np.ndarray:
    """(Y, X, 4) RGBA layer, transparent except for coloured object outlines ``thickness`` px wide."""
    boundaries = find_boundaries(labels, mode="inner") & (labels > 0)
    if thickness > 1:
        boundaries = ndi.binary_dilation(boundaries, iterations=thickness - 1) & (labels > 0)
    rgba = np.zeros((*labels.shape, 4), dtype=float)
    if boundaries.any():
        rgba[boundaries, :3] = _label_colours(labels[boundaries])
        rgba[boundaries, 3] = 1.0
    return rgba


def _overlay_panel(
    ax: Any,
    image: np.ndarray,
    labels: np.ndarray,
    origin: tuple[int, int],
    scale: float,
    unit: str,
    limits: tuple[float, float],
    thickness: int,
) -> None:
    """Grey ``image`` with outlines, placed at ``origin`` (y, x px) in ``unit`` (``scale`` units per px)."""
    ny, nx = image.shape
    y0, x0 = origin
    extent = (x0 * scale, (x0 + nx) * scale, (y0 + ny) * scale, y0 * scale)
    ax.imshow(image, cmap="gray", vmin=limits[0], vmax=limits[1], extent=extent, interpolation="antialiased")
    ax.imshow(_outline_rgba(labels, thickness), extent=extent, interpolation="nearest")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")


def _overlay_figure(
    image: np.ndarray, labels: np.ndarray, frame: int, time_min: float | None, pixel_size_um: float | None
) -> str:
    finite = image[np.isfinite(image)]
    if finite.size:
        vmin, vmax = (float(v) for v in np.percentile(finite, [1.0, 99.8]))
    else:
        vmin, vmax = 0.0, 1.0
    if not vmax > vmin:
        vmax = vmin + 1.0
    ny, nx = image.shape
    scale, unit = (pixel_size_um, "µm") if pixel_size_um is not None else (1.0, "px")
    # Keep outlines visible when a large frame is shrunk to the figure width.
    thickness = max(1, round(max(ny, nx) / 450))
    detail = max(ny, nx) > _DETAIL_ABOVE_PX
    when = f", t = {time_min:.4g} min" if time_min is not None else ""
    n_objects = int(np.unique(labels[labels > 0]).size)
    title = f"Frame {frame}{when}: {n_objects} segmented object(s)"

    with matplotlib.rc_context({**_RC, "axes.grid": False}):
        if not detail:
            width = 6.4
            fig = Figure(figsize=(width, min(6.4, max(2.5, width * (ny / nx) * 0.92))))
            ax = fig.add_subplot()
            _overlay_panel(ax, image, labels, (0, 0), scale, unit, (vmin, vmax), thickness)
            ax.set_title(title)
        else:
            fig = Figure(figsize=(11.0, 5.6))
            full, zoom = fig.subplots(1, 2)
            _overlay_panel(full, image, labels, (0, 0), scale, unit, (vmin, vmax), thickness)
            full.set_title(title)
            side = _DETAIL_SIZE_PX
            y0, x0 = max(0, (ny - side) // 2), max(0, (nx - side) // 2)
            window = (slice(y0, y0 + side), slice(x0, x0 + side))
            _overlay_panel(zoom, image[window], labels[window], (y0, x0), scale, unit, (vmin, vmax), 1)
            h, w = image[window].shape
            zoom.set_title(f"Detail: central {w} × {h} px")
            full.add_patch(
                matplotlib.patches.Rectangle(
                    (x0 * scale, y0 * scale), w * scale, h * scale, fill=False, edgecolor="#ffd500", linewidth=1.5
                )
            )
        fig.tight_layout()
        return _png(fig)


def _histogram_figure(values: np.ndarray, xlabel: str, ylabel: str, title: str, colour: str) -> str:
    values = values[np.isfinite(values)]
    edges = np.histogram_bin_edges(values, bins="auto")
    if edges.size > 61:
        edges = np.histogram_bin_edges(values, bins=60)
    median = float(np.median(values))
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax = fig.add_subplot()
        ax.hist(values, bins=edges, color=colour, edgecolor="white", linewidth=0.5)
        ax.axvline(median, color="#c53030", linestyle="--", linewidth=1.2, label=f"median {median:.3g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper right")
        fig.tight_layout()
        return _png(fig)


def _percentile_figure(per_frame: pd.DataFrame, frame_interval_min: float | None) -> str:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax = fig.add_subplot()
        colours = matplotlib.colormaps["tab10"].colors
        for i, (channel, rows) in enumerate(per_frame.groupby("channel", sort=True)):
            rows = rows.sort_values("frame")
            x = rows["frame"].to_numpy(dtype=float)
            if frame_interval_min is not None:
                x = x * frame_interval_min
            colour = colours[i % len(colours)]
            ax.plot(x, rows["high_value"], color=colour, linewidth=1.3, label=f"channel {channel} high")
            ax.plot(x, rows["low_value"], color=colour, linewidth=1.0, linestyle="--", label=f"channel {channel} low")
        ax.set_xlabel("time (min)" if frame_interval_min is not None else "frame (index)")
        ax.set_ylabel("intensity (raw units)")
        ax.set_title("Per-frame normalization percentiles")
        ax.legend(loc="best", fontsize=8, ncol=2)
        fig.tight_layout()
        return _png(fig)


# --------------------------------------------------------------------------- sections


def _provenance_table(provenance: Mapping[str, Any]) -> str:
    if not provenance:
        return '<p class="note">No provenance recorded.</p>'
    rows = []
    for key, value in provenance.items():
        if isinstance(value, (Mapping, list, tuple)):
            text = json.dumps(value, indent=2, sort_keys=isinstance(value, Mapping), default=str, ensure_ascii=False)
            cell = f"<pre>{_esc(text)}</pre>"
        elif isinstance(value, str) and "\n" in value:
            cell = f"<pre>{_esc(value)}</pre>"
        else:
            cell = _fmt(value)
        rows.append(f"<tr><th>{_esc(key)}</th><td>{cell}</td></tr>")
    return '<div class="scroll"><table><tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>"


def _cards(items: Iterable[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div></div>' for k, v in items
        )
        + "</div>"
    )


def _page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    links = "".join(f'<a href="#{_esc(anchor)}">{_esc(text)}</a>' for anchor, text in nav)
    nav_html = f"<nav>{links}</nav>" if links else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>{_esc(title)}</h1><div class="sub">{subtitle}</div></header>\n'
        f"<main>\n{nav_html}\n{body}\n</main>\n"
        f"<footer>Generated by cellpipe {_esc(package_version('cellpipe') or 'not installed')}. "
        "Self-contained page: no network access needed.</footer>\n"
        "</body>\n</html>\n"
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- public API


def summary_row(sample: str, counts: pd.DataFrame, cells: pd.DataFrame, track_summary: pd.DataFrame) -> dict[str, Any]:
    """The row describing one sample in :func:`build_summary_report`.

    Keys: ``sample, n_frames, n_cells`` (cell detections summed over
    frames), ``n_tracks, mean_cells_per_frame`` (NaN for a movie with no
    frames).
    """
    n_frames = int(len(counts))
    n_cells = int(len(cells))
    return {
        "sample": str(sample),
        "n_frames": n_frames,
        "n_cells": n_cells,
        "n_tracks": int(len(track_summary)),
        "mean_cells_per_frame": float(counts["n_cells"].mean()) if n_frames else float("nan"),
    }


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
    n_frames = int(len(counts))
    n_cells = int(len(cells))
    n_tracks = int(len(track_summary))
    no_cells = n_cells == 0
    mean_per_frame = float(counts["n_cells"].mean()) if n_frames else float("nan")
    n_dividing = int((track_summary["parent"] > 0).sum()) if n_tracks and "parent" in track_summary else 0

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
        ("mean cells per frame", "–" if math.isnan(mean_per_frame) else f"{mean_per_frame:.1f}"),
        ("tracks with a parent (after division)", f"{n_dividing}"),
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

    # Counts over time ---------------------------------------------------------
    if n_frames:
        body = _figure(_counts_figure(counts), "Number of segmented cells in each frame.")
        if no_cells:
            body = _empty_note(NO_CELLS_MESSAGE) + body
    else:
        body = _empty_note("The movie has no frames.")
    add("counts", "Cell count over time", body)

    # Overlay ------------------------------------------------------------------
    if overlay_image is not None and overlay_labels is not None and np.size(overlay_image) > 0:
        image = np.asarray(overlay_image, dtype=float)
        labels = np.asarray(overlay_labels)
        if image.shape != labels.shape or image.ndim != 2:
            raise ValueError(f"overlay image {image.shape} and labels {labels.shape} must be the same (Y, X) shape")
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

    # Areas --------------------------------------------------------------------
    areas = cells["area_um2"].to_numpy(dtype=float) if n_cells else np.zeros(0)
    if np.isfinite(areas).any():
        body = _figure(
            _histogram_figure(areas, "cell area (µm²)", "cells (count)", "Cell area, all frames", _ACCENT),
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
                finite_speeds, "mean track speed (µm/min)", "tracks (count)", "Track speed", "#2f855a"
            ),
            f"Path length divided by duration for the {finite_speeds.size} track(s) spanning at least two frames.",
        )
    elif no_cells:
        body = _empty_note(NO_CELLS_MESSAGE)
    else:
        body = _empty_note("No track spans two or more frames, so no speed can be computed.")
    add("speeds", "Track speed distribution", body)

    # Track table --------------------------------------------------------------
    if n_tracks:
        ordered = track_summary.sort_values(["n_frames", "track_id"], ascending=[False, True], kind="stable")
        body = (
            _table(ordered, max_rows=max_track_rows)
            + '<p class="note">Longest tracks first. Distances in µm, durations in minutes, speed in µm/min; '
            "straightness = displacement / path length.</p>"
        )
    else:
        body = _empty_note("No tracks were found.")
    add("tracks", "Track summary", body)

    # Percentiles --------------------------------------------------------------
    if percentiles is not None and len(percentiles):
        table = percentiles.sort_values(["frame", "channel"], kind="stable")
        per_frame = percentiles[percentiles["frame"] >= 0] if "frame" in percentiles else percentiles.iloc[:0]
        body = ""
        if per_frame["frame"].nunique() > 1:
            body += _figure(
                _percentile_figure(per_frame, interval),
                "Intensity at the low (dashed) and high (solid) normalization percentiles in each frame.",
            )
        body += _table(table, max_rows=max_percentile_rows)
        body += '<p class="note">frame = -1: one pair of values for the whole movie. Values in raw intensity units.</p>'
    else:
        body = '<p class="note">No normalization percentiles recorded.</p>'
    add("normalization", "Normalization percentiles", body)

    # Provenance ---------------------------------------------------------------
    add("provenance", "Provenance", _provenance_table(provenance))

    subtitle = _esc(
        f"cellpipe sample report · {n_frames} frames · {n_cells} cell detections · {n_tracks} tracks"
    )
    logger.info("built report for sample %s (%d frames, %d cells, %d tracks)", sample, n_frames, n_cells, n_tracks)
    return _page(f"Sample {sample}", subtitle, nav, "\n".join(sections))


def build_summary_report(rows: list[dict[str, Any]], *, generated: str | None = None) -> str:
    """HTML page with one row per sample and a link to ``<sample>/report.html``.

    Each row needs ``sample`` and reads ``n_frames, n_cells, n_tracks,
    mean_cells_per_frame`` (as made by :func:`summary_row`; ``frames, cells,
    tracks`` are accepted as short names).  A missing mean is computed from
    cells / frames.  Rows are shown sorted by sample name.
    """

    def get(row: Mapping[str, Any], key: str, short: str) -> Any:
        return row.get(key, row.get(short))

    records = []
    for row in sorted(rows, key=lambda r: str(r["sample"])):
        sample = str(row["sample"])
        n_frames = get(row, "n_frames", "frames")
        n_cells = get(row, "n_cells", "cells")
        mean = row.get("mean_cells_per_frame")
        if _is_missing(mean) and n_frames and not _is_missing(n_cells):
            mean = float(n_cells) / float(n_frames)
        href = f"{quote(sample, safe='')}/report.html"
        records.append(
            "<tr>"
            f'<td><a href="{_esc(href)}">{_esc(sample)}</a></td>'
            f'<td class="num">{_fmt(n_frames)}</td>'
            f'<td class="num">{_fmt(n_cells)}</td>'
            f'<td class="num">{_fmt(get(row, "n_tracks", "tracks"))}</td>'
            f'<td class="num">{_fmt(mean)}</td>'
            "</tr>"
        )
    if records:
        table = (
            '<div class="scroll"><table><thead><tr><th>sample</th><th>frames</th><th>cell detections</th>'
            "<th>tracks</th><th>mean cells per frame</th></tr></thead><tbody>\n"
            + "\n".join(records)
            + "\n</tbody></table></div>"
            + '<p class="note">Click a sample name to open its report.</p>'
        )
    else:
        table = _empty_note("No samples were processed.")
    body = _section("samples", "Samples", table)
    subtitle = _esc(f"cellpipe run summary · {len(records)} sample(s) · generated {generated or _now()}")
    return _page("cellpipe summary", subtitle, [], body)


def collect_versions() -> dict[str, str]:
    """Versions of Python and of the key packages (``"not installed"`` when absent)."""
    versions = {"python": platform.python_version()}
    versions.update({name: package_version(name) or "not installed" for name in VERSIONED_PACKAGES})
    return versions
