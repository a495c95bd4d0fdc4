"""Matplotlib plots of the report, each kept with the numbers it draws (``data-values``).

A figure function returns a :class:`_Plot`: the PNG as an ``<img>`` tag and the series drawn, built
from the very arrays handed to matplotlib, so a reader or a test can check the numbers without pixels.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from cellpipe.report.html import _clean, _esc, _num

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
    """``values`` (array-like) as a JSON list of floats, NaN and infinities as null.

    Values are rounded to :data:`_VALUE_DIGITS` significant digits; JSON has no NaN.
    """
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
    """Low and high normalization percentile values (raw intensity units) per frame, one colour per channel.

    x in minutes when ``frame_interval_min`` (min) is known, else in frames.
    """
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


def _family_colours(roots: np.ndarray, generations: np.ndarray) -> np.ndarray:
    """RGB (0..1) per track: one hue per family (root id), lighter for later generations."""
    base = _label_colours(np.asarray(roots, dtype=np.int64))
    mix = np.minimum(0.55, 0.2 * np.clip(np.asarray(generations, dtype=float), 0.0, None))[:, None]
    return np.asarray(base + (1.0 - base) * mix)


def _lineage_links(
    info: pd.DataFrame, parent_of: Mapping[int, int], row: Mapping[int, int], step: float
) -> tuple[list[list[tuple[float, float]]], list[list[tuple[float, float]]], dict[int, int]]:
    """The lineage tree's mother-daughter links among the drawn tracks.

    Parameters
    ----------
    info : pandas.DataFrame
        Per track (index track id): ``first_frame, last_frame`` (frames).
    parent_of : Mapping
        Child track id -> parent track id.
    row : Mapping
        Drawn track id -> its row in the figure, in drawing order.
    step : float
        Time per frame on the x axis (min, or 1 for frames).

    Returns
    -------
    tuple
        Vertical links at the mother's end ((x, row) pairs), dotted gaps from there to a daughter that
        starts later, and the number of drawn daughters per mother.
    """
    links: list[list[tuple[float, float]]] = []
    gaps: list[list[tuple[float, float]]] = []
    n_children: dict[int, int] = {}
    for child in row:
        parent = parent_of.get(child)
        if parent is None or parent not in row:
            continue
        n_children[parent] = n_children.get(parent, 0) + 1
        x = (float(info.at[parent, "last_frame"]) + 0.5) * step
        links.append([(x, row[parent]), (x, row[child])])
        child_start = (float(info.at[child, "first_frame"]) - 0.5) * step
        if child_start > x:
            gaps.append([(x, row[child]), (child_start, row[child])])
    return links, gaps, n_children


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
        links, gaps, n_children = _lineage_links(info, parent_of, row, step)
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
    """Cells per frame (count) in the ground truth and the prediction, and their difference, over time.

    Against time (min) when every frame has one, else against the frame index.
    """
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
