"""The summary page over all samples: one row per sample, linking its report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from cellpipe.qc import qc_headline
from cellpipe.report.evaluation import _evaluation_headline
from cellpipe.report.figures import _figure, _summary_evaluation_figure
from cellpipe.report.html import _empty_note, _esc, _fmt, _fraction_text, _is_missing, _now, _num, _page, _section
from cellpipe.report.tracks import passing_tracks


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

    Parameters
    ----------
    sample : str
        Sample name.
    counts : pandas.DataFrame
        ``counts.tsv``: ``n_cells`` per frame.
    cells : pandas.DataFrame
        ``cells.parquet``: one row per cell detection.
    track_summary : pandas.DataFrame
        ``track_metrics.parquet`` (:func:`cellpipe.measure.summarize_tracks`): ``excluded``,
        ``mean_speed_um_per_min`` (µm/min), ``n_divisions`` per track.
    evaluation : Mapping, optional
        Content of ``evaluation.json``; None for a sample without ground truth.
    qc : Mapping, optional
        Content of ``qc.json``.

    Returns
    -------
    dict
        ``sample, n_frames, n_cells`` (cell detections summed over frames), ``n_tracks`` (tracks that
        enter per-track statistics: ``excluded`` empty), ``n_tracks_excluded`` (the others, e.g. short
        flickering tracks), ``mean_cells_per_frame`` (cells; NaN for a movie with no frames),
        ``n_divisions`` (mothers with two or more daughters: the sum of ``n_divisions``, as
        :func:`cellpipe.measure.summarize_tracks` counts them), ``mean_speed_um_per_min`` (µm/min, the
        median over the passing tracks of their mean speed; NaN without such a track spanning two
        frames), the evaluation headline ``SEG, DET, TRA`` (Cell Tracking Challenge, 0-1), ``AP50, F1_50``
        (average precision and F1 of the segmentation at IoU 0.5), ``division_precision,
        division_recall`` (0-1) and ``count_mae`` (mean absolute error of the cell count, cells) as
        :func:`cellpipe.evaluate.evaluation_row` flattens ``evaluation``, NaN where not evaluated; with
        ``qc``, the quality headline :func:`cellpipe.qc.qc_headline` (``qc_status``, ``qc_warnings``,
        fractions 0-1, ``qc_count_jumps``, ``qc_mean_cell_probability``).
    """
    n_frames = len(counts)
    n_cells = len(cells)
    passing, n_excluded = passing_tracks(track_summary)
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
        "n_divisions": int(track_summary["n_divisions"].sum()) if len(track_summary) else 0,
        "mean_speed_um_per_min": float(np.median(speeds)) if speeds.size else float("nan"),
        **_evaluation_headline(evaluation),
        **qc_headline(qc),
    }


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


def _sample_row(row: Mapping[str, Any]) -> str:
    """One ``<tr>`` of the summary table.

    The sample linked to its report, QC, counts, the mean cells per frame (cells; from cells / frames when the
    row lacks it) and the :data:`_SUMMARY_EXTRA` columns.
    """

    def get(key: str, short: str) -> Any:
        """The row's value of ``key``, or of its short name ``short`` where the row uses that."""
        return row.get(key, row.get(short))

    sample = str(row["sample"])
    n_frames = get("n_frames", "frames")
    n_cells = get("n_cells", "cells")
    mean = row.get("mean_cells_per_frame")
    if _is_missing(mean) and n_frames and not _is_missing(n_cells):
        mean = float(n_cells) / float(n_frames)
    href = f"{quote(sample, safe='')}/report.html"
    extra = "".join(f'<td class="num">{_fmt(row.get(key))}</td>' for key, _ in _SUMMARY_EXTRA)
    flagged = row.get("qc_status") == "check"
    return (
        ('<tr class="qc-check-row">' if flagged else "<tr>")
        + f'<td><a href="{_esc(href)}">{_esc(sample)}</a></td>'
        + _qc_cell(row)
        + f'<td class="num">{_fmt(n_frames)}</td>'
        f'<td class="num">{_fmt(n_cells)}</td>'
        f'<td class="num">{_fmt(get("n_tracks", "tracks"))}</td>'
        f'<td class="num">{_fmt(mean)}</td>'
        f"{extra}</tr>"
    )


#: Measures in the summary's evaluation bar chart.
_SUMMARY_BARS: tuple[str, ...] = ("SEG", "DET", "TRA", "AP50")


def build_summary_report(rows: list[dict[str, Any]], *, generated: str | None = None) -> str:
    """HTML page with one row per sample and a link to ``<sample>/report.html``.

    Parameters
    ----------
    rows : list of dict
        One per sample, as made by :func:`summary_row`: each needs ``sample`` and reads ``n_frames,
        n_cells, n_tracks, mean_cells_per_frame`` (``frames, cells, tracks`` are accepted as short
        names; a missing mean is computed from cells / frames).  Optional keys ``n_tracks_excluded,
        n_divisions, mean_speed_um_per_min`` (µm/min) and the evaluation headline ``SEG, DET, TRA, AP50,
        F1_50, division_precision, division_recall, count_mae`` (cells) are shown as further columns (a
        dash where missing or NaN).  The quality headline ``qc_status, qc_warnings, qc_removed_fraction,
        qc_short_fraction, qc_border_fraction, qc_count_jumps, qc_mean_cell_probability``
        (:func:`cellpipe.qc.qc_headline`) fills the QC column.
    generated : str, optional
        Date text of the header; default: now, UTC.

    Returns
    -------
    str
        The page's HTML.  Rows are sorted by sample name; a row whose ``qc_status`` is 'check' is
        highlighted (class ``qc-check-row``, red background).  When any sample has one of ``SEG, DET,
        TRA, AP50``, an "Evaluation" section compares them in a grouped bar chart.
    """
    ordered = sorted(rows, key=lambda r: str(r["sample"]))
    records = [_sample_row(row) for row in ordered]
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
