"""Self-contained HTML quality-control reports, one per sample plus a summary.

The pages open from disk without a network: styles are inline, there are no
scripts, and every figure is a PNG rendered with matplotlib's Agg canvas and
embedded as a base64 ``data:`` URI.  Each ``<figure>`` carries the numbers it
draws in a ``data-values`` attribute (JSON: per series its name, units and
x/y values or histogram counts and bin edges; at most :data:`_MAX_CARRIED_NUMBERS`
numbers per figure, whole series beyond it counted in ``series_left_out``).  Every string that comes from data or
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from cellpipe.layout import PIPELINE_RULES
from cellpipe.measure import ensemble_msd, msd_curves
from cellpipe.numbers import as_number
from cellpipe.provenance import recorded_as_read
from cellpipe.qc import qc_headline
from cellpipe.settings import ReportSettings
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)

__all__ = [
    "HEADLINE_KEYS",
    "ReportSettings",
    "build_sample_report",
    "build_summary_report",
    "provenance_view",
    "qc_body",
    "summary_row",
]

NO_CELLS_MESSAGE = "No cells were found in this movie."

_FIG_DPI = 110
#: The ten colours (RGB, 0..1) of matplotlib's "tab10" palette.
_TAB10: tuple[tuple[float, ...], ...] = tuple(
    tuple(float(v) for v in rgba[:3]) for rgba in np.asarray(matplotlib.colormaps["tab10"](np.arange(10)))
)
_ACCENT = "#2b6cb0"
_RC: dict[Any, Any] = {
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
h3 { font-size:15px; margin:16px 0 6px; font-weight:600; }
p.note { color:var(--muted); font-size:13px; margin:6px 0 0; }
.empty { background:#fffaf0; border:1px solid #f6ad55; color:#7b341e; border-radius:4px; padding:10px 14px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin-top:6px; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 14px; min-width:150px; background:#fbfdff; }
.card .k { font-size:12px; color:var(--muted); }
.card .v { font-size:20px; font-weight:600; font-variant-numeric: tabular-nums; }
figure { margin:6px 0 0; }
figure img { max-width:100%; height:auto; display:block; }
/* A phone (400 px) would shrink a plot to a third of its size, its 9 pt text to 5 px: there, plots keep
   their own size and scroll sideways inside their figure, and the page's margins shrink. */
@media (max-width: 760px) {
  header { padding:14px 12px 12px; }
  main { padding:8px 6px 32px; }
  section { padding:10px 10px 12px; }
  figure { overflow-x:auto; }
  figure img { max-width:none; }
}
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
table { border-collapse:collapse; font-size:13px; margin-top:4px; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { background:#edf2f7; font-weight:600; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background:#f9fbfd; }
.scroll { overflow-x:auto; }
table.kv { margin:0; }
table.kv th { background:none; font-weight:normal; color:var(--muted); padding:1px 10px 1px 0; border:0; }
table.kv td { padding:1px 0; border:0; }
table.kv tr { background:none !important; }
pre { margin:0; font-size:12px; white-space:pre-wrap; word-break:break-word; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px; }
.qc-status { display:inline-block; border-radius:4px; padding:3px 10px; font-weight:600; }
.qc-ok { background:#c6f6d5; color:#22543d; }
.qc-check { background:#fed7d7; color:#822727; }
ul.qc-warnings { margin:8px 0 4px; padding-left:20px; color:#822727; }
tbody tr.qc-check-row, tbody tr.qc-check-row:nth-child(even) { background:#fed7d7; }
tr.qc-check-row td:first-child { border-left:4px solid #c53030; }
"""


# --------------------------------------------------------------------------- helpers


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


#: Significant digits of the numbers a figure carries: more than a plot can show, fewer bytes than repr.
_VALUE_DIGITS = 7
#: Numbers one figure carries at most (about 1 MB of the page): a movie with thousands of tracks over hundreds
#: of frames would otherwise put tens of MB of trajectory positions into its report.
_MAX_CARRIED_NUMBERS = 100_000


@dataclass(frozen=True)
class _Plot:
    """A rendered figure and the numbers drawn in it.

    ``img`` is the ``<img>`` tag (base64 PNG); ``values`` is ``{"figure": name, "series": [...]}``,
    one entry per drawn series, built from the very arrays handed to matplotlib (see :func:`_line`,
    :func:`_hist`), so a test or a reader can check a figure's numbers without reading pixels.
    """

    img: str
    values: dict[str, Any]


def _numbers(values: Any) -> list[Any]:
    """``values`` (array-like) as a JSON list of floats rounded to :data:`_VALUE_DIGITS` significant digits;
    NaN and infinities become null (JSON has no NaN)."""
    flat = np.asarray(values, dtype=float).ravel()
    return [float(f"{v:.{_VALUE_DIGITS}g}") if math.isfinite(v) else None for v in flat.tolist()]


def _line(name: str, x: Any, y: Any, x_units: str, y_units: str, **extra: Any) -> dict[str, Any]:
    """A drawn line or set of points: ``x`` in ``x_units`` against ``y`` in ``y_units``."""
    return {"name": name, "kind": "line", "x": _numbers(x), "y": _numbers(y), "x_units": x_units, "y_units": y_units,
            **extra}


def _hist(name: str, counts: Any, edges: Any, units: str, count_units: str, **extra: Any) -> dict[str, Any]:
    """A drawn histogram: ``counts`` (``count_units``) per bin between consecutive ``edges`` (``units``)."""
    return {"name": name, "kind": "histogram", "counts": _numbers(counts), "bin_edges": _numbers(edges),
            "units": units, "count_units": count_units, **extra}


def _size(series: Mapping[str, Any]) -> int:
    """Numbers in one series: the lengths of its lists, 1 for each other value."""
    return sum(len(v) if isinstance(v, list) else 1 for v in series.values())


def _png(fig: Figure, name: str, series: Sequence[Mapping[str, Any]]) -> _Plot:
    """Render ``fig`` with the Agg canvas to an ``<img>`` tag with a base64 PNG, kept with the ``series`` it draws.

    Series are kept whole and in order up to :data:`_MAX_CARRIED_NUMBERS` numbers; those beyond are left
    out and counted in ``series_left_out`` (0 when every series is carried).
    """
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_FIG_DPI, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    carried: list[dict[str, Any]] = []
    total = 0
    for entry in series:
        total += _size(entry)
        if total > _MAX_CARRIED_NUMBERS and carried:
            break
        carried.append(dict(entry))
    values = {"figure": name, "series": carried, "series_left_out": len(series) - len(carried)}
    return _Plot(f'<img src="data:image/png;base64,{data}" alt="">', values)


def _figure(plot: _Plot, caption: str) -> str:
    """``<figure>`` with the image, the caption and, in ``data-values``, the figure's numbers as escaped JSON."""
    values = _esc(json.dumps(plot.values, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    return f'<figure data-values="{values}">{plot.img}<figcaption>{caption}</figcaption></figure>'


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


def _fmt_quantity(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:.4g} {unit}"


# --------------------------------------------------------------------------- figures


def _counts_figure(counts: pd.DataFrame) -> _Plot:
    """Cells per frame (count) against time (min)."""
    time_min = counts["time_min"].to_numpy(dtype=float)
    n_cells = counts["n_cells"].to_numpy(dtype=float)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax = fig.add_subplot()
        ax.plot(
            time_min, n_cells, color=_ACCENT, marker="o", markersize=3, linewidth=1.4,
            clip_on=False, zorder=3,
        )
        ax.set_xlabel("time (min)")
        ax.set_ylabel("cells per frame (count)")
        ax.set_ylim(bottom=0, top=max(1.0, float(n_cells.max()) * 1.08))
        ax.set_title("Segmented cells over time")
        fig.tight_layout()
        return _png(fig, "counts", [_line("cells per frame", time_min, n_cells, "min", "cells")])


def _label_colours(labels: np.ndarray) -> np.ndarray:
    """RGB (float, 0..1) per label value; neighbouring label ids get distinct colours."""
    tab10 = _TAB10
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
) -> dict[str, Any]:
    """Grey ``image`` with outlines, placed at ``origin`` (y, x px) in ``unit`` (``scale`` units per px).

    Returns the panel's series: ``extent`` (left, right, bottom, top in ``unit``), the grey
    ``display_limits`` (image units) and the ``labels`` outlined (ids, sorted).
    """
    ny, nx = image.shape
    y0, x0 = origin
    extent = (x0 * scale, (x0 + nx) * scale, (y0 + ny) * scale, y0 * scale)
    ax.imshow(image, cmap="gray", vmin=limits[0], vmax=limits[1], extent=extent, interpolation="antialiased")
    ax.imshow(_outline_rgba(labels, thickness), extent=extent, interpolation="nearest")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    drawn = np.unique(labels[labels > 0])
    return {"kind": "image", "extent": _numbers(extent), "extent_units": unit, "display_limits": _numbers(limits),
            "labels": [int(v) for v in drawn], "n_objects": int(drawn.size)}


def _stretch(image: np.ndarray) -> tuple[float, float]:
    """Display limits of ``image``: its 1 and 99.8 % percentiles of finite values (0, 1 when none)."""
    finite = image[np.isfinite(image)]
    if finite.size:
        vmin, vmax = (float(v) for v in np.percentile(finite, [1.0, 99.8]))
    else:
        vmin, vmax = 0.0, 1.0
    if not vmax > vmin:
        vmax = vmin + 1.0
    return vmin, vmax


def _nice_length(span: float) -> float:
    """A round length (1, 2 or 5 × 10^k) of about a fifth of ``span`` (same unit)."""
    target = span / 5.0
    if not (math.isfinite(target) and target > 0):
        return 1.0
    base = 10.0 ** math.floor(math.log10(target))
    return max(m * base for m in (1.0, 2.0, 5.0) if m * base <= target)


def _scale_bar(ax: Any, width_um: float) -> None:
    """A white scale bar (µm) in the lower right of ``ax``, whose data unit is µm; ``width_um``: image width."""
    length = _nice_length(width_um)
    bar = AnchoredSizeBar(
        ax.transData, length, f"{length:g} µm", loc="lower right", color="white", frameon=False,
        size_vertical=width_um / 150.0, pad=0.4, sep=3, fontproperties=FontProperties(size=8, weight="bold"),
    )
    ax.add_artist(bar)


def _overlay_figure(
    image: np.ndarray, labels: np.ndarray, frame: int, time_min: float | None, pixel_size_um: float | None
) -> _Plot:
    """One frame (grey) with object outlines; a second, zoomed panel for a frame larger than
    :data:`_DETAIL_ABOVE_PX`.  ``time_min`` in minutes, ``pixel_size_um`` in µm per px (None: axes in px)."""
    vmin, vmax = _stretch(image)
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
            panels = [{"name": f"frame {frame}", "frame": int(frame),
                       **_overlay_panel(ax, image, labels, (0, 0), scale, unit, (vmin, vmax), thickness)}]
            ax.set_title(title)
        else:
            fig = Figure(figsize=(11.0, 5.6))
            full, zoom = fig.subplots(1, 2)
            panels = [{"name": f"frame {frame}", "frame": int(frame),
                       **_overlay_panel(full, image, labels, (0, 0), scale, unit, (vmin, vmax), thickness)}]
            full.set_title(title)
            side = _DETAIL_SIZE_PX
            y0, x0 = max(0, (ny - side) // 2), max(0, (nx - side) // 2)
            window = (slice(y0, y0 + side), slice(x0, x0 + side))
            panels.append({"name": f"frame {frame}, central detail", "frame": int(frame),
                           **_overlay_panel(zoom, image[window], labels[window], (y0, x0), scale, unit, (vmin, vmax), 1)})
            h, w = image[window].shape
            zoom.set_title(f"Detail: central {w} × {h} px")
            full.add_patch(
                matplotlib.patches.Rectangle(
                    (x0 * scale, y0 * scale), w * scale, h * scale, fill=False, edgecolor="#ffd500", linewidth=1.5
                )
            )
        fig.tight_layout()
        return _png(fig, "overlay", panels)


def _histogram_figure(
    values: np.ndarray, xlabel: str, ylabel: str, title: str, colour: str, name: str, units: str, count_units: str
) -> _Plot:
    """Histogram of the finite ``values`` (in ``units``) with their median marked; ``name`` names the figure."""
    values = values[np.isfinite(values)]
    edges = np.histogram_bin_edges(values, bins="auto")
    if edges.size > 61:
        edges = np.histogram_bin_edges(values, bins=60)
    median = float(np.median(values))
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax = fig.add_subplot()
        drawn, drawn_edges, _ = ax.hist(values, bins=edges.tolist(), color=colour, edgecolor="white", linewidth=0.5)
        ax.axvline(median, color="#c53030", linestyle="--", linewidth=1.2, label=f"median {median:.3g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper right")
        fig.tight_layout()
        return _png(fig, name, [_hist(xlabel, drawn, drawn_edges, units, count_units, median=_numbers([median])[0])])


def _percentile_figure(per_frame: pd.DataFrame, frame_interval_min: float | None) -> _Plot:
    """Low and high normalization percentile values (raw intensity units) per frame, one colour per channel;
    x in minutes when ``frame_interval_min`` (min) is known, else in frames."""
    x_units = "min" if frame_interval_min is not None else "frame"
    series: list[dict[str, Any]] = []
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax = fig.add_subplot()
        colours = _TAB10
        for i, (channel, rows) in enumerate(per_frame.groupby("channel", sort=True)):
            rows = rows.sort_values("frame")
            x = rows["frame"].to_numpy(dtype=float)
            if frame_interval_min is not None:
                x = x * frame_interval_min
            colour = colours[i % len(colours)]
            high = rows["high_value"].to_numpy(dtype=float)
            low = rows["low_value"].to_numpy(dtype=float)
            ax.plot(x, high, color=colour, linewidth=1.3, label=f"channel {channel} high")
            ax.plot(x, low, color=colour, linewidth=1.0, linestyle="--", label=f"channel {channel} low")
            series.append(_line(f"channel {channel} high", x, high, x_units, "raw intensity", channel=_clean(channel)))
            series.append(_line(f"channel {channel} low", x, low, x_units, "raw intensity", channel=_clean(channel)))
        ax.set_xlabel("time (min)" if frame_interval_min is not None else "frame (index)")
        ax.set_ylabel("intensity (raw units)")
        ax.set_title("Per-frame normalization percentiles")
        ax.legend(loc="best", fontsize=8, ncol=2)
        fig.tight_layout()
        return _png(fig, "normalization percentiles", series)


# --------------------------------------------------------------------------- tracks, lineage, MSD

#: Families (trees sharing a root track) drawn at most in the lineage tree.
_MAX_FAMILIES = 40
#: Tracks (rows) drawn at most in the lineage tree; whole families are left out beyond it.
_MAX_LINEAGE_ROWS = 400
#: Individual tracks (the longest) drawn as grey curves in the MSD figure.
_MAX_MSD_TRACKS = 30
#: Panels drawn at most in the segmentation montage.
_MAX_MONTAGE_PANELS = 12
#: Rows shown of the per-frame evaluation tables.
_MAX_EVALUATION_ROWS = 60
#: Columns a tracks table needs for the track figures.
_TRACK_COLUMNS = ("frame", "track_id")


def _num(value: Any) -> float:
    """``value`` as a float; NaN when missing or not a number."""
    number = as_number(value)
    return float("nan") if number is None else number


def _count_divisions(parent_ids: Iterable[Any]) -> int:
    """Divisions: parent ids > 0 that occur at least twice (a mother with two or more daughters).

    A parent with a single child is a continuation of the track, not a
    division (the convention of :func:`cellpipe.measure.summarize_tracks`).
    """
    values = pd.to_numeric(pd.Series(list(parent_ids), dtype=object), errors="coerce").dropna()
    values = values[values > 0]
    return int((values.value_counts() >= 2).sum())


def _passing_tracks(track_summary: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of ``track_summary`` that enter per-track statistics (``excluded`` empty), and how many
    do not.  A table without an ``excluded`` column (made before it existed) passes whole."""
    if len(track_summary) == 0 or "excluded" not in track_summary:
        return track_summary, 0
    keep = track_summary["excluded"].fillna("").astype(str) == ""
    return track_summary[keep], int((~keep).sum())


def _valid_tracks(tracks: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of ``tracks`` with a track id and frame (ints), sorted by (track_id, frame); empty when unusable."""
    if tracks is None or len(tracks) == 0 or not set(_TRACK_COLUMNS) <= set(tracks.columns):
        return pd.DataFrame(columns=list(_TRACK_COLUMNS))
    out = tracks[tracks["track_id"].notna() & tracks["frame"].notna()].copy()
    out["track_id"] = out["track_id"].astype(np.int64)
    out["frame"] = out["frame"].astype(np.int64)
    return out.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)


def _track_info(tracks: pd.DataFrame) -> pd.DataFrame:
    """Per track (index ``track_id``): ``first_frame, last_frame, n_positions, parent, root, generation``.

    ``tracks`` comes from :func:`_valid_tracks` (not empty).  Missing lineage
    columns or values give parent 0, root = the track itself, generation 0.
    """
    grouped = tracks.groupby("track_id", sort=True)
    info = pd.DataFrame(
        {
            "first_frame": grouped["frame"].min(),
            "last_frame": grouped["frame"].max(),
            "n_positions": grouped.size(),
        }
    )
    zeros = pd.Series(0, index=info.index)
    defaults = {"parent": zeros, "root": pd.Series(info.index.to_numpy(), index=info.index), "generation": zeros}
    for column, fill in defaults.items():
        if column in tracks:
            values = pd.to_numeric(grouped[column].first(), errors="coerce")
        else:
            values = pd.Series(np.nan, index=info.index)
        info[column] = values.fillna(fill).astype(np.int64)
    return info


def _parent_map(info: pd.DataFrame, lineage: pd.DataFrame | None) -> dict[int, int]:
    """Child track id -> parent track id (> 0) from the tracks' ``parent`` column and the ``lineage`` table."""
    parent_of = {int(t): int(p) for t, p in info["parent"].items() if p > 0 and p != t}
    if lineage is not None and len(lineage) and {"parent", "child"} <= set(lineage.columns):
        for p, c in zip(lineage["parent"], lineage["child"], strict=True):
            p_val, c_val = _num(p), _num(c)
            if math.isfinite(p_val) and math.isfinite(c_val) and p_val > 0 and p_val != c_val:
                parent_of[int(c_val)] = int(p_val)
    return parent_of


def _families(info: pd.DataFrame, parent_of: Mapping[int, int]) -> list[list[int]]:
    """Tracks grouped by family (a root and its descendants), each in depth-first order.

    A track whose parent is absent from ``info`` is a root.  Children are
    visited by first frame, then id.  Families with a division (a mother
    with two or more daughters) come first, then larger ones, longer ones and
    smaller root ids.
    """
    ids = {int(t) for t in info.index}
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        if child in ids and parent in ids:
            children.setdefault(parent, []).append(child)
    first = info["first_frame"].to_dict()
    for kids in children.values():
        kids.sort(key=lambda t: (first[t], t))
    roots = [int(t) for t in info.index if parent_of.get(int(t), 0) not in ids]
    visited: set[int] = set()
    families: list[list[int]] = []

    def walk(root: int) -> list[int]:
        order: list[int] = []
        stack = [root]
        while stack:
            track = stack.pop()
            if track in visited:
                continue
            visited.add(track)
            order.append(track)
            stack.extend(reversed(children.get(track, [])))
        return order

    for root in roots:
        families.append(walk(root))
    for track in sorted(ids - visited):  # parent cycles (bad input): draw what is left as roots
        if track not in visited:
            families.append(walk(track))

    last = info["last_frame"].to_dict()

    def key(family: list[int]) -> tuple[int, int, int, int]:
        divides = any(len(children.get(t, [])) >= 2 for t in family)
        span = max(last[t] for t in family) - min(first[t] for t in family)
        return (0 if divides else 1, -len(family), -span, family[0])

    return sorted(families, key=key)


def _family_colours(roots: np.ndarray, generations: np.ndarray) -> np.ndarray:
    """RGB (0..1) per track: one hue per family (root id), lighter for later generations."""
    base = _label_colours(np.asarray(roots, dtype=np.int64))
    mix = np.minimum(0.55, 0.2 * np.clip(np.asarray(generations, dtype=float), 0.0, None))[:, None]
    return np.asarray(base + (1.0 - base) * mix)


def _lineage_figure(
    info: pd.DataFrame, parent_of: Mapping[int, int], families: Sequence[list[int]], frame_interval_min: float | None
) -> _Plot:
    """Tracks as horizontal bars over time, daughters joined to their mother at the division.

    Each bar runs from half a frame before a track's first frame to half a frame after its last one, in
    minutes when ``frame_interval_min`` (min) is known, else in frames.
    """
    order = [t for family in families for t in family]
    row = {t: i for i, t in enumerate(order)}
    step = frame_interval_min if frame_interval_min is not None else 1.0
    shown = info.loc[order]
    starts = (shown["first_frame"].to_numpy(dtype=float) - 0.5) * step
    ends = (shown["last_frame"].to_numpy(dtype=float) + 0.5) * step
    colours = _family_colours(shown["root"].to_numpy(), shown["generation"].to_numpy())
    n_rows = len(order)
    height = min(11.0, max(2.4, 1.1 + 0.14 * n_rows))
    with matplotlib.rc_context({**_RC, "axes.grid": False}):
        fig = Figure(figsize=(10.0, height))
        ax = fig.add_subplot()
        axes_height_pt = max(1.0, (height - 1.0) * 72.0)
        bar_width = float(np.clip(0.55 * axes_height_pt / max(n_rows, 1), 0.8, 6.0))
        top = 0
        for i, family in enumerate(families):  # light bands tell neighbouring families apart
            if i % 2 == 1:
                ax.axhspan(top - 0.5, top + len(family) - 0.5, color="#edf2f7", zorder=0, linewidth=0)
            top += len(family)
        bars = [[(a, r), (b, r)] for r, (a, b) in enumerate(zip(starts, ends, strict=True))]
        ax.add_collection(LineCollection(bars, colors=colours, linewidths=bar_width, capstyle="butt", zorder=3))
        links: list[list[tuple[float, float]]] = []
        gaps: list[list[tuple[float, float]]] = []
        n_children: dict[int, int] = {}
        for child in order:
            parent = parent_of.get(child)
            if parent is None or parent not in row:
                continue
            n_children[parent] = n_children.get(parent, 0) + 1
            x = (float(info.at[parent, "last_frame"]) + 0.5) * step
            links.append([(x, row[parent]), (x, row[child])])
            child_start = (float(info.at[child, "first_frame"]) - 0.5) * step
            if child_start > x:
                gaps.append([(x, row[child]), (child_start, row[child])])
        if links:
            ax.add_collection(LineCollection(links, colors="#2d3748", linewidths=0.9, zorder=4))
        if gaps:
            ax.add_collection(LineCollection(gaps, colors="#718096", linewidths=0.8, linestyles=":", zorder=4))
        mothers = [p for p, k in n_children.items() if k >= 2]
        if mothers:
            ax.scatter(
                [(float(info.at[p, "last_frame"]) + 0.5) * step for p in mothers],
                [row[p] for p in mothers],
                s=18, color="#1a202c", zorder=5, label="division",
            )
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlim(float(starts.min()) - 0.5 * step, float(ends.max()) + 0.5 * step)
        ax.set_ylim(n_rows - 0.5, -0.5)
        if n_rows <= 50:
            ax.set_yticks(range(n_rows))
            ax.set_yticklabels([str(t) for t in order], fontsize=6 if n_rows > 25 else 7)
            ax.set_ylabel("track id (families depth-first)")
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{n_rows} tracks (families depth-first)")
        ax.grid(True, axis="x")
        ax.set_xlabel("time (min)" if frame_interval_min is not None else "frame (index)")
        ax.set_title("Lineage tree")
        fig.tight_layout()
        units = "min" if frame_interval_min is not None else "frame"
        series = [
            {"name": "tracks", "kind": "bars", "track_id": [int(t) for t in order], "start": _numbers(starts),
             "end": _numbers(ends), "units": units},
            {"name": "divisions", "kind": "links", "parent": [int(p) for p in mothers],
             "time": _numbers([(float(info.at[p, "last_frame"]) + 0.5) * step for p in mothers]), "units": units},
        ]
        return _png(fig, "lineage", series)


def _fit_exponent(lag: np.ndarray, msd: np.ndarray) -> float | None:
    """Least-squares slope of log MSD on log lag over the points with both > 0; None with fewer than 2."""
    lag = np.asarray(lag, dtype=float)
    msd = np.asarray(msd, dtype=float)
    ok = np.isfinite(lag) & np.isfinite(msd) & (lag > 0) & (msd > 0)
    if np.count_nonzero(ok) < 2 or np.unique(lag[ok]).size < 2:
        return None
    slope = np.polyfit(np.log(lag[ok]), np.log(msd[ok]), 1)[0]
    return float(slope)


def _msd_figure(ensemble: pd.DataFrame, per_track: pd.DataFrame) -> _Plot:
    """Ensemble MSD (µm²) against lag (min) on log-log axes, grey per-track curves, slope 1 and 2 guides."""
    ens = ensemble[(ensemble["lag_min"] > 0) & (ensemble["msd_um2"] > 0)]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 4.0))
        ax = fig.add_subplot()
        curves = []
        series: list[dict[str, Any]] = []
        for track_id, rows in per_track.groupby("track_id", sort=True):
            rows = rows[(rows["lag_min"] > 0) & (rows["msd_um2"] > 0)]
            if len(rows) >= 2:
                curves.append(np.column_stack([rows["lag_min"].to_numpy(float), rows["msd_um2"].to_numpy(float)]))
                series.append(_line(f"track {track_id}", curves[-1][:, 0], curves[-1][:, 1], "min", "µm²",
                                    track_id=int(track_id)))
        if curves:
            ax.add_collection(
                LineCollection(curves, colors="#a0aec0", linewidths=0.6, alpha=0.8, label="single tracks", zorder=2)
            )
        lag = ens["lag_min"].to_numpy(float)
        msd = ens["msd_um2"].to_numpy(float)
        ax.plot(lag, msd, color=_ACCENT, marker="o", markersize=3, linewidth=1.8, label="ensemble", zorder=4)
        series.insert(0, _line("ensemble", lag, msd, "min", "µm²"))
        if lag.size:
            x = np.array([lag.min(), lag.max()]) if lag.max() > lag.min() else np.array([lag.min(), lag.min() * 2])
            ax.plot(x, msd[0] * (x / lag[0]), color="#1a202c", linestyle="--", linewidth=1.0,
                    label="slope 1 (diffusive)", zorder=3)
            ax.plot(x, msd[0] * (x / lag[0]) ** 2, color="#c53030", linestyle=":", linewidth=1.0,
                    label="slope 2 (directed)", zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.autoscale_view()
        plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            axis.set_major_formatter(plain)
            # Label the 2..9 ticks too when the axis spans less than about a decade and a half.
            narrow = low > 0 and math.log10(high / low) < 1.5
            axis.set_minor_formatter(plain if narrow else matplotlib.ticker.NullFormatter())
        ax.set_xlabel("lag (min)")
        ax.set_ylabel("mean squared displacement (µm²)")
        ax.set_title("Mean squared displacement")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        return _png(fig, "msd", series)


def _track_polylines(tracks: pd.DataFrame, scale: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Per track (sorted ids): (x, y) points in display units at pixel centres, and the track ids.

    ``tracks`` comes from :func:`_valid_tracks` and has ``x_px, y_px``.
    Non-finite positions are dropped.
    """
    xy = np.column_stack(
        [(tracks["x_px"].to_numpy(float) + 0.5) * scale, (tracks["y_px"].to_numpy(float) + 0.5) * scale]
    )
    ids = tracks["track_id"].to_numpy(np.int64)
    finite = np.isfinite(xy).all(axis=1)
    xy, ids = xy[finite], ids[finite]
    if ids.size == 0:
        return [], np.zeros(0, dtype=np.int64)
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return np.split(xy, cuts), ids[np.r_[0, cuts]]


def _tracks_overlay_figure(
    image: np.ndarray | None, tracks: pd.DataFrame, info: pd.DataFrame, frame: int, pixel_size_um: float | None
) -> _Plot:
    """Trajectories over the overlay frame, one colour per family, a dot at each track's position in ``frame``.

    Positions are pixel centres, ``(x_px + 0.5, y_px + 0.5)``, in µm (× ``pixel_size_um``, µm per px) or,
    when the pixel size is unknown, in px.
    """
    scale, unit = (pixel_size_um, "µm") if pixel_size_um is not None else (1.0, "px")
    lines, line_ids = _track_polylines(tracks, scale)
    if image is not None:
        ny, nx = image.shape
    else:
        ys, xs = tracks["y_px"].to_numpy(float), tracks["x_px"].to_numpy(float)
        ny = max(1, int(np.max(ys[np.isfinite(ys)])) + 1) if np.isfinite(ys).any() else 1
        nx = max(1, int(np.max(xs[np.isfinite(xs)])) + 1) if np.isfinite(xs).any() else 1
    colour_of = dict(
        zip(
            info.index.to_numpy(),
            _family_colours(info["root"].to_numpy(), info["generation"].to_numpy()),
            strict=True,
        )
    )
    width = 7.6
    with matplotlib.rc_context({**_RC, "axes.grid": False}):
        fig = Figure(figsize=(width, min(7.6, max(3.0, width * (ny / max(nx, 1)) * 0.9))))
        ax = fig.add_subplot()
        extent = (0.0, nx * scale, ny * scale, 0.0)
        if image is not None:
            vmin, vmax = _stretch(image)
            ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, extent=extent, interpolation="antialiased")
        else:
            ax.set_facecolor("#1a202c")
        keep = [i for i, line in enumerate(lines) if len(line) >= 2]
        if keep:
            ax.add_collection(
                LineCollection(
                    [lines[i] for i in keep], colors=[colour_of[int(line_ids[i])] for i in keep],
                    linewidths=1.1, alpha=0.9, zorder=3,
                )
            )
        now = tracks[tracks["frame"] == frame]
        now = now[np.isfinite(now["x_px"].to_numpy(float)) & np.isfinite(now["y_px"].to_numpy(float))]
        dots_x = (now["x_px"].to_numpy(float) + 0.5) * scale
        dots_y = (now["y_px"].to_numpy(float) + 0.5) * scale
        # The dots first: a movie with very many tracks may have later trajectories left out of the numbers.
        series = [_line(f"tracks in frame {frame}", dots_x, dots_y, unit, unit, track_id=[int(t) for t in now["track_id"]])]
        series += [
            _line(f"track {int(line_ids[i])}", lines[i][:, 0], lines[i][:, 1], unit, unit, track_id=int(line_ids[i]))
            for i in keep
        ]
        if len(now):
            ax.scatter(
                dots_x, dots_y,
                s=16, c=[colour_of[int(t)] for t in now["track_id"]], edgecolors="white", linewidths=0.6, zorder=4,
            )
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel(f"x ({unit})")
        ax.set_ylabel(f"y ({unit})")
        if pixel_size_um is not None:
            _scale_bar(ax, nx * scale)
        ax.set_title(f"Tracks over frame {frame}: {len(keep)} trajectories, {len(now)} tracks in this frame")
        fig.tight_layout()
        return _png(fig, "trajectories", series)


def _downsample(image: np.ndarray, step: int) -> np.ndarray:
    """``image`` (Y, X) averaged over ``step`` × ``step`` blocks (edges that do not fill a block are cut).

    ``step`` must not exceed the image's smaller side.
    """
    if step <= 1:
        return image
    ny, nx = (image.shape[0] // step) * step, (image.shape[1] // step) * step
    blocks = image[:ny, :nx].reshape(ny // step, step, nx // step, step)
    return np.asarray(blocks.mean(axis=(1, 3)))


def _montage_figure(
    panels: Sequence[tuple[int, np.ndarray, np.ndarray]], frame_interval_min: float | None, pixel_size_um: float | None
) -> _Plot:
    """Grid of segmentation overlays (at most 4 per row), each titled with frame, time and object count."""
    n = len(panels)
    nrows = math.ceil(n / 4)
    ncols = math.ceil(n / nrows)
    ny, nx = panels[0][1].shape
    width = 10.0
    panel_in = width / ncols
    height = min(12.0, nrows * (panel_in * ny / nx + 0.35) + 0.2)
    pixel = pixel_size_um if pixel_size_um is not None else 1.0
    unit = "µm" if pixel_size_um is not None else "px"
    with matplotlib.rc_context({**_RC, "axes.grid": False, "axes.titlesize": 9}):
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        series: list[dict[str, Any]] = []
        for ax, (frame, image, labels) in zip(axes, panels, strict=False):
            n_objects = int(np.unique(labels[labels > 0]).size)
            # Shrink large frames to about the panel's size first: faster, and outlines stay 1 px wide.
            step = max(1, int(max(image.shape) // (panel_in * _FIG_DPI)))
            if min(image.shape) < step:
                step = 1
            small = _downsample(image, step)
            small_labels = labels[::step, ::step][: small.shape[0], : small.shape[1]]
            drawn = _overlay_panel(ax, small, small_labels, (0, 0), pixel * step, unit, _stretch(small), 1)
            when = f" ({frame * frame_interval_min:.4g} min)" if frame_interval_min is not None else ""
            # The title counts the objects of the full-resolution frame; the panel may show fewer after shrinking.
            series.append({"name": f"frame {frame}", "frame": int(frame), **drawn, "n_objects": n_objects})
            ax.set_title(f"frame {frame}{when}: {n_objects} object{'' if n_objects == 1 else 's'}")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
            if pixel_size_um is not None:
                _scale_bar(ax, small.shape[1] * pixel * step)
        for ax in axes[n:]:
            ax.set_axis_off()
        fig.tight_layout()
        return _png(fig, "montage", series)


def _intensity_figure(
    raw: np.ndarray | None,
    normalized: np.ndarray | None,
    movie_values: tuple[float, float] | None,
    movie_percentiles: tuple[float, float] | None,
) -> _Plot:
    """Histograms (log count axis) of raw and normalized intensities, side by side, with the mapping marked.

    ``movie_values``: the movie-wide low and high percentile values (raw units) at ``movie_percentiles`` (%).
    """
    panels = [(name, values) for name, values in (("raw", raw), ("normalized", normalized)) if values is not None]
    series: list[dict[str, Any]] = []
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10.0, 3.2))
        axes = fig.subplots(1, len(panels), squeeze=False).ravel()
        for ax, (name, values) in zip(axes, panels, strict=True):
            span = (float(values.min()), float(values.max()))
            if not span[1] > span[0]:
                span = (span[0] - 0.5, span[0] + 0.5)
            counts, edges = np.histogram(values, bins=100, range=span)
            units = "raw intensity" if name == "raw" else "normalized intensity"
            marks = [0.0, 1.0] if name == "normalized" else list(movie_values) if movie_values is not None else []
            series.append(_hist(name, counts, edges, units, "pixels", marked=_numbers(marks)))
            # Empty bins sit on the baseline (a log axis has no 0).
            ax.stairs(
                np.maximum(counts, 0.8), edges, baseline=0.8, fill=True,
                color="#718096" if name == "raw" else _ACCENT,
            )
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.8, top=max(10.0, float(counts.max()) * 1.6))
            if name == "raw":
                ax.set_xlabel("raw intensity (camera units)")
                ax.set_title("Before normalization")
                if movie_values is not None:
                    q = movie_percentiles or (float("nan"), float("nan"))
                    for value, pct, style in ((movie_values[0], q[0], "--"), (movie_values[1], q[1], "-")):
                        label = f"{pct:g} % = {value:.4g}" if math.isfinite(pct) else f"{value:.4g}"
                        ax.axvline(value, color="#c53030", linestyle=style, linewidth=1.2, label=label)
                    ax.legend(loc="upper right", fontsize=8)
            else:
                ax.set_xlabel("normalized intensity (1 = high percentile)")
                ax.set_title("After normalization")
                ax.axvline(0.0, color="#c53030", linestyle="--", linewidth=1.2, label="0 (low percentile)")
                ax.axvline(1.0, color="#c53030", linestyle="-", linewidth=1.2, label="1 (high percentile)")
                ax.legend(loc="upper right", fontsize=8)
            ax.set_ylabel("pixels (count, log scale)")
        fig.tight_layout()
        return _png(fig, "intensity", series)


# --------------------------------------------------------------------------- evaluation figures

#: (key in the segmentation results, legend label, colour) of the IoU-threshold plot.
_IOU_SERIES: tuple[tuple[str, str, str], ...] = (
    ("average_precision", "average precision", _ACCENT),
    ("precision", "precision", "#2f855a"),
    ("recall", "recall", "#dd6b20"),
    ("f1", "F1", "#805ad5"),
)


def _iou_figure(segmentation: Mapping[str, Any]) -> _Plot:
    """Average precision, precision, recall and F1 (0-1) against the IoU threshold (0-1)."""
    thresholds = np.asarray([_num(v) for v in segmentation.get("iou_thresholds") or []], dtype=float)
    series: list[dict[str, Any]] = []
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.4))
        ax = fig.add_subplot()
        for key, label, colour in _IOU_SERIES:
            values = np.asarray([_num(v) for v in segmentation.get(key) or []], dtype=float)
            if values.size == thresholds.size and np.isfinite(values).any():
                ax.plot(thresholds, values, marker="o", markersize=3, linewidth=1.4, color=colour, label=label)
                series.append(_line(label, thresholds, values, "IoU", "score", key=key))
        ax.set_ylim(0.0, 1.03)
        ax.set_xlabel("IoU threshold (intersection over union, 0–1)")
        ax.set_ylabel("score (0–1)")
        ax.set_title("Segmentation matching against ground truth")
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        return _png(fig, "segmentation evaluation", series)


def _evaluation_counts_figure(per_frame: pd.DataFrame) -> _Plot:
    """Cells per frame (count) in the ground truth and the prediction, and their difference, against time
    (min) when every frame has one, else against the frame index."""
    use_time = "time_min" in per_frame and bool(np.isfinite(per_frame["time_min"].to_numpy(float)).all())
    x = per_frame["time_min" if use_time else "frame"].to_numpy(float)
    truth = per_frame["n_true"].to_numpy(float)
    predicted = per_frame["n_predicted"].to_numpy(float)
    error = per_frame["error"].to_numpy(float) if "error" in per_frame else predicted - truth
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 4.2))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1.0]})
        top.plot(x, truth, color="#1a202c", marker="o", markersize=3, linewidth=1.3, label="ground truth")
        top.plot(x, predicted, color=_ACCENT, marker="s", markersize=3, linewidth=1.3, label="predicted")
        top.set_ylabel("cells (count)")
        top.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(np.r_[truth, predicted, 0.0])) * 1.1))
        top.set_title("Cell count: ground truth vs predicted")
        top.legend(loc="lower right", fontsize=8)
        step = float(np.min(np.diff(np.unique(x)))) if np.unique(x).size > 1 else 1.0
        colours = np.where(error > 0, "#dd6b20", np.where(error < 0, "#805ad5", "#a0aec0"))
        bottom.bar(x, error, width=0.8 * step, color=colours)
        bottom.axhline(0.0, color="#1a202c", linewidth=0.8)
        bottom.set_ylabel("error (cells)")
        bottom.set_xlabel("time (min)" if use_time else "frame (index)")
        fig.tight_layout()
        x_units = "min" if use_time else "frame"
        series = [
            _line("ground truth", x, truth, x_units, "cells"),
            _line("predicted", x, predicted, x_units, "cells"),
            _line("error", x, error, x_units, "cells"),
        ]
        return _png(fig, "count evaluation", series)


def _summary_evaluation_figure(samples: Sequence[str], values: Mapping[str, Sequence[float]]) -> _Plot:
    """Grouped bars: one group per sample, one bar per measure (scores 0-1; missing values leave a gap)."""
    n = len(samples)
    keys = list(values)
    width = 0.8 / max(len(keys), 1)
    colours = ("#2b6cb0", "#2f855a", "#dd6b20", "#805ad5")
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(min(10.0, max(5.0, 1.6 + 0.6 * n)), 3.6))
        ax = fig.add_subplot()
        x = np.arange(n, dtype=float)
        series: list[dict[str, Any]] = []
        for i, key in enumerate(keys):
            heights = np.asarray(values[key], dtype=float)
            series.append({"name": key, "kind": "bars", "sample": [str(s) for s in samples],
                           "height": _numbers(heights), "units": "score"})
            ax.bar(x + (i - (len(keys) - 1) / 2) * width, np.nan_to_num(heights, nan=0.0), width=width,
                   color=colours[i % len(colours)], label=key)
        ax.set_xticks(x)
        ax.set_xticklabels([s if len(s) <= 18 else s[:17] + "…" for s in samples],
                           rotation=45 if n > 6 else 0, ha="right" if n > 6 else "center")
        ax.set_ylim(0.0, 1.05)
        ax.grid(False, axis="x")
        ax.set_ylabel("score (0–1)")
        ax.set_title("Evaluation against ground truth")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        fig.tight_layout()
        return _png(fig, "summary evaluation", series)


# --------------------------------------------------------------------------- sections


def _is_flat_mapping(value: Any) -> bool:
    """A non-empty mapping of at most 60 scalar values (shown as a small key/value table)."""
    return (
        isinstance(value, Mapping)
        and 0 < len(value) <= 60
        and not any(isinstance(v, (Mapping, list, tuple, set, np.ndarray)) for v in value.values())
    )


def _is_record_list(value: Any) -> bool:
    """A non-empty list of mappings of scalars (shown as a table with one column per key)."""
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, Mapping) and not any(isinstance(x, (Mapping, list, tuple)) for x in v.values()) for v in value)
    )


def _provenance_table(provenance: Mapping[str, Any]) -> str:
    """Key/value table; a mapping of scalars (e.g. versions, timings) becomes a nested table, a list of
    such mappings (input files, timings per rule) a table with a column per key, deeper ones JSON."""
    if not provenance:
        return '<p class="note">No provenance recorded.</p>'
    rows = []
    for key, value in provenance.items():
        if _is_record_list(value):
            cell = _table(pd.DataFrame(list(value)).astype(object))
        elif _is_flat_mapping(value):
            inner = "".join(
                f"<tr><th>{_esc(k)}</th>" + ('<td class="num">' if _is_numeric(v) else "<td>") + f"{_fmt(v)}</td></tr>"
                for k, v in value.items()
            )
            cell = f'<table class="kv"><tbody>{inner}</tbody></table>'
        elif isinstance(value, (Mapping, list, tuple)):
            text = json.dumps(value, indent=2, sort_keys=isinstance(value, Mapping), default=str, ensure_ascii=False)
            cell = f"<pre>{_esc(text)}</pre>"
        elif isinstance(value, str) and "\n" in value:
            cell = f"<pre>{_esc(value)}</pre>"
        else:
            cell = _fmt(value)
        rows.append(f"<tr><th>{_esc(key)}</th><td>{cell}</td></tr>")
    return '<div class="scroll"><table><tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>"


def ctc_export_text(n_segments: int | None) -> str:
    """What the report says of the sample's CTC export (``ctc/``): ``n_segments`` is the number of rows of
    ``ctc_segments.tsv``, None when export.ctc is false (no CTC export)."""
    from cellpipe.export import MAX_CTC_LABEL, ctc_mask_dtype

    if n_segments is None:
        return "not written (config export.ctc: false)"
    if ctc_mask_dtype(n_segments) == np.uint16:
        return f"ctc/: {n_segments} CTC segments, uint16 masks (the CTC convention)"
    return (
        f"ctc/: {n_segments} CTC segments, more than the {MAX_CTC_LABEL} a uint16 mask holds, so the masks are uint32: "
        "py-ctcmetrics and traccuracy read them, the Cell Tracking Challenge's own (Java) tools expect 16-bit masks"
    )


def as_read_text(entry: Mapping[str, Any]) -> str:
    """What the report says of one entry of a record's ``as_read`` (:func:`cellpipe.provenance.as_read_entry`):
    whether the results come from the input file the record lists."""
    role = str(entry.get("role", "input")).replace("_", " ")
    if entry.get("matches") is None:
        return "; ".join(entry.get("differences") or ["not recorded"])
    if entry.get("matches"):
        return f"sha256 {entry.get('sha256')}: the {role} file listed above, byte for byte"
    return (
        f"MISMATCH: the results were computed from a {role} with sha256 {entry.get('sha256')} (as "
        f"{entry.get('read_by')} read it), not from the {role} file listed above (replaced since?); a replay "
        "refuses this record. " + "; ".join(entry.get("differences") or [])
    )


def as_read_view(record: Mapping[str, Any]) -> dict[str, str] | str:
    """``{"<role> as <job> read it": text}`` for every input the record says a job read
    (:func:`cellpipe.provenance.recorded_as_read`)."""
    entries = recorded_as_read(record)
    if not entries:
        return "not recorded (a provenance record older than this check)"
    return {f"{e.get('role')} as {e.get('read_by')} read it": as_read_text(e) for e in entries}


def provenance_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the report shows of a provenance record (``provenance.json``, :mod:`cellpipe.provenance`):
    input files with size and sha256 (a folder as one row: its file count and folder digest), model,
    device, versions, command line, run time and memory per rule, result checksums, configuration."""
    if not record:
        return {}
    command = record.get("command")
    if command:
        revision = command.get("workflow_revision") or {}
        shown_command: Any = {
            "command line": command.get("command_line"),
            "working directory": command.get("workdir"),
            "Snakefile": command.get("snakefile"),
            "snakemake": command.get("snakemake"),
            "workflow commit": (revision.get("commit") or "unknown") + (" (uncommitted changes)" if revision.get("dirty") else "")
            if revision else "unknown (not a git checkout)",
            "started": command.get("started_utc"),
        }
    else:
        shown_command = "not recorded (snakemake ran with --no-hooks, or the record was written outside snakemake)"
    model = {k: v for k, v in (record.get("model") or {}).items() if v is not None}
    return {
        "input files": [
            {
                "role": entry.get("role"),
                "path": entry.get("path"),
                "files": len(entry.get("files", [])) if entry.get("type") == "directory" else 1,
                "bytes": entry.get("bytes"),
                "sha256": entry.get("sha256"),
            }
            for entry in record.get("inputs", [])
        ],
        "inputs as the jobs read them": as_read_view(record),
        "model": model or "none",
        "device": record.get("device"),
        "versions": {k: v if v is not None else "not installed" for k, v in (record.get("versions") or {}).items()},
        "command": shown_command,
        "timings": [
            {"rule": rule, "seconds": t.get("seconds"), "CPU seconds": t.get("cpu_seconds"), "peak memory (MB)": t.get("max_rss_mb")}
            for rule, t in sorted(
                (record.get("timings") or {}).items(),
                key=lambda item: (PIPELINE_RULES.index(item[0]) if item[0] in PIPELINE_RULES else len(PIPELINE_RULES), item[0]),
            )
        ],
        "result checksums": [
            {"file": o.get("path"), "bytes": o.get("bytes"), "sha256": o.get("sha256")} for o in record.get("outputs", [])
        ],
        "record written": record.get("created_utc"),
        "working directory": record.get("workdir"),
        "config": record.get("config"),
    }


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
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- new section bodies

#: Headline evaluation numbers: key in :func:`summary_row` rows, card title, digits shown.
_HEADLINE: tuple[tuple[str, str, int], ...] = (
    ("SEG", "CTC SEG", 3),
    ("DET", "CTC DET", 3),
    ("TRA", "CTC TRA", 3),
    ("AP50", "AP at IoU 0.5", 3),
    ("F1_50", "F1 at IoU 0.5", 3),
    ("division_precision", "division precision", 3),
    ("division_recall", "division recall", 3),
    ("count_mae", "count mean absolute error (cells)", 2),
)
HEADLINE_KEYS: tuple[str, ...] = tuple(key for key, _, _ in _HEADLINE)

_CTC_MEANING = {
    "SEG": "mean IoU of the ground-truth objects with their matched predicted object (0–1)",
    "DET": "1 − normalized cost of fixing the detections (0–1)",
    "TRA": "1 − AOGM / AOGM_0: cost of fixing the tracking graph relative to building it (0–1)",
    "AOGM": "acyclic oriented graph matching cost: weighted sum of the errors below",
    "AOGM_0": "cost of building the ground-truth graph from nothing",
}
_AOGM_ERRORS = {
    "NS": "splits needed (one predicted object covers several true ones)",
    "FN": "missing detections (vertices to add)",
    "FP": "spurious detections (vertices to delete)",
    "ED": "redundant links (edges to delete)",
    "EA": "missing links (edges to add)",
    "EC": "links of the wrong kind (edges to change)",
}


def _sub(evaluation: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(results, reason) of the ``key`` part of an evaluation: results when present, else the reason given."""
    value = evaluation.get(key)
    if not isinstance(value, Mapping) or not value:
        return None, None
    if "reason" in value:
        return None, str(value["reason"])
    return value, None


def _at_iou(segmentation: Mapping[str, Any], key: str, threshold: float = 0.5) -> float:
    """``segmentation[key]`` at the IoU ``threshold`` (NaN when not evaluated there)."""
    thresholds = segmentation.get("iou_thresholds") or []
    values = segmentation.get(key) or []
    for t, v in zip(thresholds, values, strict=False):
        if math.isclose(_num(t), threshold, abs_tol=1e-6):
            return _num(v)
    return float("nan")


def _evaluation_headline(evaluation: Mapping[str, Any] | None) -> dict[str, float]:
    """The :data:`HEADLINE_KEYS` numbers of an evaluation (``evaluation.json``); NaN where not available."""
    out = dict.fromkeys(HEADLINE_KEYS, float("nan"))
    if not evaluation:
        return out
    ctc, _ = _sub(evaluation, "ctc")
    if ctc is not None:
        for key in ("SEG", "DET", "TRA"):
            out[key] = _num(ctc.get(key))
    segmentation, _ = _sub(evaluation, "segmentation")
    if segmentation is not None:
        out["AP50"] = _at_iou(segmentation, "average_precision")
        out["F1_50"] = _at_iou(segmentation, "f1")
    divisions, _ = _sub(evaluation, "divisions")
    if divisions is not None:
        out["division_precision"] = _num(divisions.get("precision"))
        out["division_recall"] = _num(divisions.get("recall"))
    counts, _ = _sub(evaluation, "counts")
    if counts is not None:
        out["count_mae"] = _num(counts.get("mean_absolute_error"))
    return out


def _clean(value: Any) -> Any:
    """``value`` for a table cell: ints stay ints, other numbers become floats (NaN when missing), else text."""
    if _is_missing(value):
        return float("nan")
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return str(value)


def _records(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """A table (object columns, so ints are not turned into floats) from equally long columns."""
    return pd.DataFrame({name: pd.Series([_clean(v) for v in values], dtype=object) for name, values in columns.items()})


def _number_text(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def _not_done(what: str, reason: str | None) -> str:
    return _empty_note(f"{what} not evaluated" + (f": {reason}" if reason else "."))


def _segmentation_evaluation(evaluation: Mapping[str, Any]) -> str:
    segmentation, reason = _sub(evaluation, "segmentation")
    if segmentation is None:
        return _not_done("Segmentation was", reason)
    body = ""
    thresholds = list(segmentation.get("iou_thresholds") or [])
    if thresholds:
        body += _figure(
            _iou_figure(segmentation),
            "Predicted objects matched one-to-one to ground-truth objects at each IoU threshold, all evaluated "
            "frames pooled: average precision = TP / (TP + FP + FN), precision = TP / (TP + FP), "
            "recall = TP / (TP + FN), F1 = their harmonic mean.",
        )
        columns = {"IoU threshold": thresholds}
        for key, label in (
            ("average_precision", "AP"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
            ("tp", "TP"), ("fp", "FP"), ("fn", "FN"),
        ):
            values = list(segmentation.get(key) or [])
            if len(values) == len(thresholds):
                columns[label] = values
        body += _table(_records(columns))
    frames = segmentation.get("frames") or []
    overview = _records(
        {
            "measure": [
                "frames evaluated", "mean average precision (over IoU thresholds)", "Jaccard index (pixels)",
                "Dice coefficient (pixels)", "mean IoU of matched objects",
            ],
            "value": [
                ", ".join(str(f) for f in frames) if frames else "none",
                segmentation.get("mean_average_precision"),
                segmentation.get("jaccard"),
                segmentation.get("dice"),
                segmentation.get("mean_matched_iou"),
            ],
        }
    )
    body += _table(overview)
    skipped = segmentation.get("skipped_frames") or {}
    if isinstance(skipped, Mapping) and skipped:
        body += '<p class="note">Frames skipped:</p>' + _table(
            _records({"frame": list(skipped), "reason": list(skipped.values())})
        )
    per_frame = segmentation.get("per_frame") or []
    if per_frame:
        table = pd.DataFrame(list(per_frame))
        first = [c for c in ("frame", "n_true", "n_predicted", "tp", "fp", "fn") if c in table]
        table = table[first + [c for c in table.columns if c not in first]]  # JSON stores keys sorted
        body += '<p class="note">Per evaluated frame (matching at IoU 0.5):</p>' + _table(
            table, max_rows=_MAX_EVALUATION_ROWS
        )
    return body


def _count_evaluation(evaluation: Mapping[str, Any]) -> str:
    counts, reason = _sub(evaluation, "counts")
    if counts is None:
        return _not_done("Cell counts were", reason)
    body = ""
    per_frame = pd.DataFrame(list(counts.get("per_frame") or []))
    if len(per_frame) and {"n_true", "n_predicted"} <= set(per_frame.columns) and "frame" in per_frame:
        truth = f" ({counts['truth']})" if counts.get("truth") else ""
        body += _figure(
            _evaluation_counts_figure(per_frame),
            _esc(
                f"Top: cells per frame in the ground truth{truth} and in the prediction. "
                "Bottom: error = predicted − true (orange: too many, purple: too few)."
            ),
        )
    overview = _records(
        {
            "measure": [
                "mean error (cells)", "mean absolute error (cells)", "mean absolute percentage error (%)",
                "largest absolute error (cells)",
            ],
            "value": [
                counts.get("mean_error"),
                counts.get("mean_absolute_error"),
                counts.get("mean_absolute_percentage_error"),
                counts.get("max_absolute_error"),
            ],
        }
    )
    return body + _table(overview)


def _tracking_evaluation(evaluation: Mapping[str, Any]) -> str:
    ctc, reason = _sub(evaluation, "ctc")
    if ctc is None:
        return _not_done("Tracking (Cell Tracking Challenge measures) was", reason)
    body = ""
    if ctc.get("valid") is False:
        body += _empty_note("The predicted CTC result did not pass validation; the numbers below may not be meaningful.")
    measures = _records(
        {
            "measure": list(_CTC_MEANING),
            "value": [ctc.get(key) for key in _CTC_MEANING],
            "meaning": list(_CTC_MEANING.values()),
        }
    )
    body += _table(measures)
    errors = ctc.get("errors")
    if isinstance(errors, Mapping) and errors:
        keys = [k for k in _AOGM_ERRORS if k in errors] + [k for k in errors if k not in _AOGM_ERRORS]
        body += '<p class="note">AOGM error counts:</p>' + _table(
            _records(
                {
                    "error": keys,
                    "count": [errors[k] for k in keys],
                    "meaning": [_AOGM_ERRORS.get(k, "") for k in keys],
                }
            )
        )
    source = ", ".join(f"{k}: {ctc[k]}" for k in ("library", "result") if ctc.get(k))
    if source:
        body += f'<p class="note">{_esc(source)}</p>'
    return body


def _division_evaluation(evaluation: Mapping[str, Any]) -> str:
    divisions, reason = _sub(evaluation, "divisions")
    if divisions is None:
        return _not_done("Divisions were", reason)
    keys = (
        ("gt_divisions", "divisions in the ground truth"),
        ("predicted_divisions", "predicted divisions"),
        ("tp", "matched (true positives)"),
        ("fp", "false positives"),
        ("fn", "false negatives"),
        ("wrong_children", "mother matched, daughters wrong"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("f1", "F1"),
        ("frame_tolerance", "frame tolerance (frames)"),
    )
    keys = tuple((key, label) for key, label in keys if key in divisions)
    body = _table(
        _records({"measure": [label for _, label in keys], "value": [divisions.get(key) for key, _ in keys]})
    )
    if divisions.get("library"):
        matcher = f", {divisions['matcher']} matching" if divisions.get("matcher") else ""
        body += (
            f'<p class="note">{_esc(divisions["library"] + matcher)}; precision, recall and F1 are undefined (—) '
            "without divisions.</p>"
        )
    ctc = evaluation.get("ctc")
    bc = ctc.get("branching_correctness") if isinstance(ctc, Mapping) else None
    if isinstance(bc, Mapping) and bc.get("BC") is not None:
        body += (
            f'<p class="note">The CTC\'s stricter branching correctness {_esc(bc.get("measure", "BC"))} '
            f'(mother end and each daughter start within the tolerance): {_number_text(float(bc["BC"]), 3)} '
            f'({_esc(bc.get("tp"))} of {_esc(bc.get("gt_divisions"))} true divisions, {_esc(bc.get("library", ""))}).</p>'
        )
    return body


def _evaluation_body(evaluation: Mapping[str, Any] | None) -> str:
    if not evaluation:
        return _empty_note("No ground truth was given for this sample, so nothing was evaluated.")
    body = ""
    truth = evaluation.get("ground_truth")
    if isinstance(truth, Mapping):
        body += (
            f'<p class="note">Ground truth: {_esc(truth.get("path", "unknown"))} '
            f'(format: {_esc(truth.get("format", "unknown"))}).</p>'
        )
    headline = _evaluation_headline(evaluation)
    body += _cards((title, _number_text(headline[key], digits)) for key, title, digits in _HEADLINE)
    body += "<h3>Segmentation</h3>" + _segmentation_evaluation(evaluation)
    body += "<h3>Cell counts</h3>" + _count_evaluation(evaluation)
    body += "<h3>Tracking (Cell Tracking Challenge measures)</h3>" + _tracking_evaluation(evaluation)
    body += "<h3>Divisions</h3>" + _division_evaluation(evaluation)
    versions = evaluation.get("versions")
    if isinstance(versions, Mapping) and versions:
        body += '<p class="note">' + _esc("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>"
    return body


def _finite_samples(samples: Mapping[str, np.ndarray] | None, key: str, limit: int = 2_000_000) -> np.ndarray | None:
    """Finite values of ``samples[key]`` (every n-th when more than ``limit``); None when there are none."""
    if not samples or samples.get(key) is None:
        return None
    values = np.asarray(samples[key], dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size > limit:
        values = values[:: math.ceil(values.size / limit)]
    return values if values.size else None


def _normalization_body(
    percentiles: pd.DataFrame | None,
    intensity_samples: Mapping[str, np.ndarray] | None,
    intensity_channel: int | None,
    frame_interval_min: float | None,
    max_rows: int,
) -> str:
    has_table = percentiles is not None and len(percentiles) > 0
    raw = _finite_samples(intensity_samples, "raw")
    normalized = _finite_samples(intensity_samples, "normalized")
    body = ""
    if raw is None and normalized is None:
        body += _empty_note(
            "No intensity samples were given, so the histograms before and after normalization are left out."
        )
    else:
        movie_values: tuple[float, float] | None = None
        movie_pct: tuple[float, float] | None = None
        channel_text = ""
        if has_table and percentiles is not None and {"frame", "low_value", "high_value"} <= set(percentiles.columns):
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
                    movie_values = (low, high)
                    movie_pct = (_num(first.get("low_percentile")), _num(first.get("high_percentile")))
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
        body += _figure(
            _intensity_figure(raw, normalized, movie_values, movie_pct),
            _esc(
                "Intensity histograms of pixels sampled from the segmented channel, counts on a log scale; "
                + "; ".join(parts)
                + "."
            ),
        )
    if has_table and percentiles is not None:
        keys = [c for c in ("frame", "channel") if c in percentiles]
        table = percentiles.sort_values(keys, kind="stable") if keys else percentiles
        per_frame = percentiles[percentiles["frame"] >= 0] if "frame" in percentiles else percentiles.iloc[:0]
        if len(per_frame) and per_frame["frame"].nunique() > 1:
            body += _figure(
                _percentile_figure(per_frame, frame_interval_min),
                "Intensity at the low (dashed) and high (solid) normalization percentiles in each frame.",
            )
        body += _table(table, max_rows=max_rows)
        body += '<p class="note">frame = -1: one pair of values for the whole movie. Values in raw intensity units.</p>'
    else:
        body += '<p class="note">No normalization percentiles recorded.</p>'
    return body


def _msd_body(tracks: pd.DataFrame, frame_interval_min: float | None) -> str:
    if len(tracks) == 0:
        return _empty_note("No tracks were found.")
    if frame_interval_min is None:
        return _empty_note(
            "The frame interval is unknown, so lags in minutes and the mean squared displacement cannot be computed."
        )
    if not {"y_um", "x_um"} <= set(tracks.columns):
        return _empty_note("The tracks table has no positions in µm (y_um, x_um), so no displacement is computed.")
    ensemble = ensemble_msd(tracks, frame_interval_min)
    usable = ensemble[(ensemble["lag_min"] > 0) & (ensemble["msd_um2"] > 0)]
    if len(usable) == 0:
        return _empty_note("No track moves between two frames, so there is no mean squared displacement to plot.")
    lengths = tracks.groupby("track_id", sort=True).size().sort_values(ascending=False, kind="stable")
    longest = lengths.index[:_MAX_MSD_TRACKS]
    per_track = msd_curves(tracks[tracks["track_id"].isin(longest)], frame_interval_min)
    exponent = _fit_exponent(usable["lag_min"].to_numpy(), usable["msd_um2"].to_numpy())
    fit = (
        f"Fitted exponent α = {exponent:.2f} (least-squares slope of log MSD on log lag over the "
        f"{len(usable)} lags of the ensemble curve): about 1 for a random walk, 2 for motion at constant "
        "velocity, below 1 for confined motion."
        if exponent is not None
        else "Too few lags to fit an exponent."
    )
    caption = (
        f"Blue: ensemble mean squared displacement of all {lengths.size} tracks pooled (every pair of positions "
        "weighs the same; a track contributes lags up to a quarter of its length, at least 3 frames); grey: the "
        f"{min(lengths.size, _MAX_MSD_TRACKS)} longest tracks individually; dashed and dotted: slopes 1 "
        "(diffusive) and 2 (directed) through the first point. " + fit
    )
    return _figure(_msd_figure(ensemble, per_track), _esc(caption))


def _lineage_body(tracks: pd.DataFrame, lineage: pd.DataFrame | None, frame_interval_min: float | None) -> str:
    if len(tracks) == 0:
        return _empty_note("No tracks were found.")
    info = _track_info(tracks)
    parent_of = _parent_map(info, lineage)
    families = _families(info, parent_of)
    n_divisions = _count_divisions(parent_of.values())
    shown: list[list[int]] = []
    rows = 0
    for family in families:
        if len(shown) >= _MAX_FAMILIES or (shown and rows + len(family) > _MAX_LINEAGE_ROWS):
            break
        shown.append(family)
        rows += len(family)
    when = "time (min)" if frame_interval_min is not None else "time in frames (the frame interval is unknown)"
    caption = (
        f"Each bar is one track from its first to its last frame; x: {when}. A vertical line joins a mother to "
        "its daughters where it divides (dot); one colour per family (tracks sharing a root), lighter for later "
        "generations; families are drawn together in depth-first order, those with a division first. "
    )
    n_families = len(families)
    if n_divisions:
        caption += f"{n_divisions} division(s) in {len(info)} tracks and {n_families} famil{'y' if n_families == 1 else 'ies'}."
    else:
        caption += f"No divisions were found in the {len(info)} tracks."
    single = sum(1 for p in pd.Series(list(parent_of.values())).value_counts() if p == 1) if parent_of else 0
    if single:
        caption += f" {single} track(s) continue with a single daughter (drawn linked, not counted as divisions)."
    if len(shown) < n_families:
        caption += (
            f" Showing {len(shown)} of {n_families} families ({rows} of {len(info)} tracks); "
            f"{n_families - len(shown)} families were left out."
        )
    return _figure(_lineage_figure(info, parent_of, shown, frame_interval_min), _esc(caption))


def _trajectories_body(
    tracks: pd.DataFrame, image: np.ndarray | None, frame: int, pixel_size_um: float | None
) -> str:
    if len(tracks) == 0:
        return _empty_note("No tracks were found.")
    if not {"y_px", "x_px"} <= set(tracks.columns):
        return _empty_note("The tracks table has no pixel positions (y_px, x_px), so no trajectories are drawn.")
    info = _track_info(tracks)
    background = (
        f"over frame {frame} (grey, 1–99.8 % intensity stretch)"
        if image is not None
        else "on a dark background (no image is available)"
    )
    caption = (
        f"Trajectories of all {len(info)} tracks {background}: one colour per family, daughters lighter than "
        f"their mother; dots: the tracks present in frame {frame}."
        + (" Scale bar in µm." if pixel_size_um is not None else " Positions in pixels (pixel size unknown).")
    )
    return _figure(_tracks_overlay_figure(image, tracks, info, frame, pixel_size_um), _esc(caption))


def _montage_body(
    montage: Sequence[tuple[int, np.ndarray, np.ndarray]] | None,
    frame_interval_min: float | None,
    pixel_size_um: float | None,
) -> str:
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


# --------------------------------------------------------------------------- public API


# --------------------------------------------------------------------------- quality control

_FILTER_TEXT: dict[str, str] = {
    "too_small": "too small (area below min_area_fraction of the cell's disc)",
    "too_large": "too large (area above max_area_fraction of the cell's disc)",
    "low_contrast": "low contrast (against the background ring)",
    "touches_border": "touching the border (border: remove)",
}


def _fraction_text(value: Any) -> str:
    """A fraction (0-1) as a percentage, a dash when missing."""
    number = _num(value)
    return "–" if not math.isfinite(number) else f"{100.0 * number:.0f} %"


def qc_body(qc: Mapping[str, Any] | None) -> str:
    """Body of the report's "Quality control" section from a ``qc.json`` record (:func:`cellpipe.qc.assess_quality`):
    the status ('ok' green, 'check' red), the warnings, key numbers as cards and tables of the objects
    removed by each filter, the rejected divisions by reason and the frames where the cell count jumps."""
    if not qc:
        return _empty_note("No quality record (qc.json) was given for this sample.")
    status = str(qc.get("status") or "unknown")
    warnings = list(qc.get("warnings") or [])
    filters = qc.get("filters") or {}
    tracks = qc.get("tracks") or {}
    divisions = qc.get("divisions") or {}
    jumps = list(qc.get("count_jumps") or [])
    confidence = qc.get("confidence") or {}
    thresholds = qc.get("settings") or {}
    out = [
        f'<p><span class="qc-status qc-{_esc(status)}">Status: {_esc(status)}</span> '
        + (f"{len(warnings)} warning(s)." if warnings else "no threshold crossed.")
        + "</p>"
    ]
    if warnings:
        out.append('<ul class="qc-warnings">' + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>")
    found, removed = filters.get("objects_found"), filters.get("objects_removed")
    cards = [
        ("objects removed by filters", f"{removed if removed is not None else '–'} of {found if found is not None else '–'}"
         f" ({_fraction_text(filters.get('removed_fraction'))})"),
        ("short tracks", f"{tracks.get('n_short', '–')} of {tracks.get('n_tracks', '–')} "
         f"({_fraction_text(tracks.get('short_fraction'))})"),
        ("tracks near the border", _fraction_text(tracks.get("border_fraction"))
         if tracks.get("border_fraction") is not None else "unknown (no cell diameter)"),
        ("frames where the count jumps", f"{len(jumps)}"),
        ("divisions kept / rejected", f"{divisions.get('kept', '–')} / {divisions.get('rejected', '–')}"),
    ]
    if confidence.get("mean_cell_probability") is not None:
        cards.append(("mean cell probability (Cellpose)", f"{float(confidence['mean_cell_probability']):.2f}"))
    out.append(_cards(cards))

    by_reason = filters.get("removed") or {}
    if by_reason:
        total = float(found or 0)
        rows = _records({
            "filter": [_FILTER_TEXT.get(k, k) for k in by_reason],
            "objects removed": [int(v) for v in by_reason.values()],
            "of objects found": [_fraction_text(int(v) / total) if total else "–" for v in by_reason.values()],
        })
        out.append("<h3>Objects removed by the filters</h3>" + _table(rows))
        per_frame = [r for r in filters.get("per_frame") or [] if int(r.get("objects", 0)) != int(r.get("kept", 0))]
        if per_frame:
            out.append("<details><summary>Per frame (frames where a filter removed something)</summary>"
                       + _table(pd.DataFrame(per_frame), max_rows=_MAX_EVALUATION_ROWS) + "</details>")
    rejected = divisions.get("rejected_by_reason") or {}
    if rejected:
        out.append("<h3>Divisions rejected by the tracking checks</h3>"
                   + _table(_records({"reason": list(rejected), "divisions": [int(v) for v in rejected.values()]})))
    if jumps:
        table = pd.DataFrame(jumps).rename(columns={"previous": "cells before", "n_cells": "cells",
                                                     "change": "change (cells)", "change_fraction": "relative change"})
        out.append("<h3>Frames where the cell count jumps</h3>" + _table(table, max_rows=_MAX_EVALUATION_ROWS))
    if confidence.get("lowest_frame") is not None:
        out.append(f'<p class="note">Lowest mean cell probability: '
                   f"{float(confidence['lowest_mean_cell_probability']):.2f} in frame {int(confidence['lowest_frame'])} "
                   f"(mean over {int(confidence.get('frames', 0))} frames "
                   f"{float(confidence['mean_cell_probability']):.2f}).</p>")
    margin = tracks.get("border_margin_px")
    out.append(
        '<p class="note">From qc.json (rule assess_quality). A track is near the border when a centroid lies within '
        + (f"{float(margin):.1f} px (half the cell diameter)" if margin is not None else "half the cell diameter")
        + " of an edge; short: fewer than "
        + f"{_esc(tracks.get('min_track_frames', '?'))} frames. Thresholds (config qc:): "
        + _esc(", ".join(f"{k} {v}" for k, v in thresholds.items()))
        + ".</p>"
    )
    return "\n".join(out)


def summary_row(
    sample: str,
    counts: pd.DataFrame,
    cells: pd.DataFrame,
    track_summary: pd.DataFrame,
    *,
    evaluation: Mapping[str, Any] | None = None,
    qc: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The row describing one sample in :func:`build_summary_report`.

    Keys: ``sample, n_frames, n_cells`` (cell detections summed over
    frames), ``n_tracks`` (tracks that enter per-track statistics: ``excluded``
    empty in ``track_summary``), ``n_tracks_excluded`` (the others, e.g. short
    flickering tracks), ``mean_cells_per_frame`` (NaN for a movie with no
    frames), ``n_divisions`` (mothers with two or more daughters: parent ids
    > 0 occurring at least twice in ``track_summary``; a single daughter
    continues its mother's track), ``mean_speed_um_per_min`` (µm/min, the
    median over the passing tracks of their mean speed; NaN without such a
    track spanning two frames), and the evaluation headline ``SEG, DET, TRA`` (Cell Tracking
    Challenge), ``AP50, F1_50`` (average precision and F1 of the segmentation
    at IoU 0.5), ``division_precision, division_recall`` and ``count_mae``
    (mean absolute error of the cell count, cells) from ``evaluation`` (the
    content of ``evaluation.json``); NaN where not evaluated.  With ``qc`` (the content of ``qc.json``)
    the quality headline :func:`cellpipe.qc.qc_headline` (``qc_status``, ``qc_warnings``, fractions 0-1,
    ``qc_count_jumps``, ``qc_mean_cell_probability``) is added.
    """
    n_frames = len(counts)
    n_cells = len(cells)
    parents = track_summary["parent"] if len(track_summary) and "parent" in track_summary else []
    passing, n_excluded = _passing_tracks(track_summary)
    n_tracks = len(passing)
    speeds = (
        pd.to_numeric(passing["mean_speed_um_per_min"], errors="coerce").to_numpy(dtype=float)
        if n_tracks and "mean_speed_um_per_min" in passing
        else np.zeros(0)
    )
    speeds = speeds[np.isfinite(speeds)]
    return {
        "sample": str(sample),
        "n_frames": n_frames,
        "n_cells": n_cells,
        "n_tracks": n_tracks,
        "n_tracks_excluded": n_excluded,
        "mean_cells_per_frame": float(counts["n_cells"].mean()) if n_frames else float("nan"),
        "n_divisions": _count_divisions(parents),
        "mean_speed_um_per_min": float(np.median(speeds)) if speeds.size else float("nan"),
        **_evaluation_headline(evaluation),
        **qc_headline(qc),
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
    track_rows = _valid_tracks(tracks)
    if len(track_rows):
        n_divisions = _count_divisions(_parent_map(_track_info(track_rows), lineage).values())
    elif lineage is not None and len(lineage) and "parent" in lineage:
        n_divisions = _count_divisions(lineage["parent"])
    else:
        n_divisions = _count_divisions(all_tracks["parent"]) if n_all_tracks and "parent" in all_tracks else 0
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
    add("trajectories", "Tracks overlay", _trajectories_body(track_rows, background, int(overlay_frame), pixel_size))
    add("lineage", "Lineage tree", _lineage_body(track_rows, lineage, interval))

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


#: Columns of the summary table after sample and the counts: (row key, header).
_SUMMARY_EXTRA: tuple[tuple[str, str], ...] = (
    ("n_tracks_excluded", "short tracks excluded"),
    ("n_divisions", "divisions"),
    ("mean_speed_um_per_min", "median track speed (µm/min)"),
    ("SEG", "SEG"),
    ("DET", "DET"),
    ("TRA", "TRA"),
    ("AP50", "AP at IoU 0.5"),
    ("F1_50", "F1 at IoU 0.5"),
    ("division_precision", "division precision"),
    ("division_recall", "division recall"),
    ("count_mae", "count MAE (cells)"),
)


def _qc_cell(row: Mapping[str, Any]) -> str:
    """The summary's QC cell of one row: status and key numbers (``qc_*`` keys of :func:`summary_row`)."""
    status = row.get("qc_status")
    if _is_missing(status):
        return "<td>not assessed</td>"
    parts = [f"removed {_fraction_text(row.get('qc_removed_fraction'))}",
             f"short {_fraction_text(row.get('qc_short_fraction'))}",
             f"border {_fraction_text(row.get('qc_border_fraction'))}",
             f"jumps {_fmt(row.get('qc_count_jumps'))}"]
    if math.isfinite(_num(row.get("qc_mean_cell_probability"))):
        parts.append(f"p {_num(row.get('qc_mean_cell_probability')):.2f}")
    warnings = row.get("qc_warnings")
    label = f"{status}" + (f" ({int(warnings)})" if status != "ok" and not _is_missing(warnings) and warnings else "")
    return (f'<td><span class="qc-status qc-{_esc(status)}">{_esc(label)}</span><br>'
            f'<span class="qc-numbers">{_esc(" · ".join(parts))}</span></td>')


#: Measures in the summary's evaluation bar chart.
_SUMMARY_BARS: tuple[str, ...] = ("SEG", "DET", "TRA", "AP50")


def build_summary_report(rows: list[dict[str, Any]], *, generated: str | None = None) -> str:
    """HTML page with one row per sample and a link to ``<sample>/report.html``.

    Each row needs ``sample`` and reads ``n_frames, n_cells, n_tracks,
    mean_cells_per_frame`` (as made by :func:`summary_row`; ``frames, cells,
    tracks`` are accepted as short names).  A missing mean is computed from
    cells / frames.  Optional keys ``n_tracks_excluded, n_divisions, mean_speed_um_per_min``
    (µm/min) and the evaluation headline ``SEG, DET, TRA, AP50, F1_50,
    division_precision, division_recall, count_mae`` (cells) are shown as
    further columns (a dash where missing or NaN).  When any sample has one of
    ``SEG, DET, TRA, AP50``, an "Evaluation" section compares them in a
    grouped bar chart.  The quality headline ``qc_status, qc_warnings, qc_removed_fraction,
    qc_short_fraction, qc_border_fraction, qc_count_jumps, qc_mean_cell_probability``
    (:func:`cellpipe.qc.qc_headline`) fills the QC column; a row whose ``qc_status`` is 'check' is
    highlighted (class ``qc-check-row``, red background).  Rows are shown sorted by sample name.
    """

    def get(row: Mapping[str, Any], key: str, short: str) -> Any:
        return row.get(key, row.get(short))

    records = []
    ordered = sorted(rows, key=lambda r: str(r["sample"]))
    for row in ordered:
        sample = str(row["sample"])
        n_frames = get(row, "n_frames", "frames")
        n_cells = get(row, "n_cells", "cells")
        mean = row.get("mean_cells_per_frame")
        if _is_missing(mean) and n_frames and not _is_missing(n_cells):
            mean = float(n_cells) / float(n_frames)
        href = f"{quote(sample, safe='')}/report.html"
        extra = "".join(f'<td class="num">{_fmt(row.get(key))}</td>' for key, _ in _SUMMARY_EXTRA)
        flagged = row.get("qc_status") == "check"
        records.append(
            ('<tr class="qc-check-row">' if flagged else "<tr>")
            + f'<td><a href="{_esc(href)}">{_esc(sample)}</a></td>'
            + _qc_cell(row)
            + f'<td class="num">{_fmt(n_frames)}</td>'
            f'<td class="num">{_fmt(n_cells)}</td>'
            f'<td class="num">{_fmt(get(row, "n_tracks", "tracks"))}</td>'
            f'<td class="num">{_fmt(mean)}</td>'
            f"{extra}</tr>"
        )
    nav: list[tuple[str, str]] = []
    if records:
        extra_head = "".join(f"<th>{_esc(title)}</th>" for _, title in _SUMMARY_EXTRA)
        table = (
            '<div class="scroll"><table><thead><tr><th>sample</th><th>QC</th><th>frames</th><th>cell detections</th>'
            f"<th>tracks</th><th>mean cells per frame</th>{extra_head}</tr></thead><tbody>\n"
            + "\n".join(records)
            + "\n</tbody></table></div>"
            + '<p class="note">Click a sample name to open its report. Tracks: those that enter per-track '
            "statistics; short tracks excluded: flickering tracks left out of them. Divisions: mothers with two "
            "or more daughters. Speed: median over tracks of path length / duration. SEG, DET, TRA: Cell Tracking "
            "Challenge measures; AP and F1 of the segmentation at IoU 0.5; a dash: not available (e.g. no ground "
            "truth). QC: the quality checks of qc.json (the report's Quality control section): 'check' (rows in "
            "red, with the number of warnings) when a threshold of config qc: is crossed; removed: objects removed by "
            "the segmentation filters; short: short tracks; border: tracks near the frame border; jumps: frames "
            "where the cell count jumps; p: Cellpose's mean cell probability.</p>"
        )
    else:
        table = _empty_note("No samples were processed.")
    body = _section("samples", "Samples", table)
    nav.append(("samples", "Samples"))

    evaluated = [
        row for row in ordered if any(math.isfinite(_num(row.get(key))) for key in _SUMMARY_BARS)
    ]
    if evaluated:
        names = [str(row["sample"]) for row in evaluated]
        values = {key: [_num(row.get(key)) for row in evaluated] for key in _SUMMARY_BARS}
        caption = _esc(
            f"SEG, DET and TRA (Cell Tracking Challenge) and the average precision at IoU 0.5 of the "
            f"{len(evaluated)} sample(s) with ground truth (of {len(ordered)}); a missing bar: not evaluated."
        )
        body += "\n" + _section("evaluation", "Evaluation", _figure(_summary_evaluation_figure(names, values), caption))
        nav.append(("evaluation", "Evaluation"))
    subtitle = _esc(f"cellpipe run summary · {len(records)} sample(s) · generated {generated or _now()}")
    return _page("cellpipe summary", subtitle, nav, body)
