"""The quality-control section, from ``qc.json`` (:func:`cellpipe.qc.assess_quality`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from cellpipe.report.evaluation import _MAX_EVALUATION_ROWS
from cellpipe.report.html import _cards, _empty_note, _esc, _fraction_text, _records, _table

_FILTER_TEXT: dict[str, str] = {
    "too_small": "too small (area below min_area_fraction of the cell's disc)",
    "too_large": "too large (area above max_area_fraction of the cell's disc)",
    "low_contrast": "low contrast (against the background ring)",
    "touches_border": "touching the border (border: remove)",
}


def _qc_cards(
    filters: Mapping[str, Any],
    tracks: Mapping[str, Any],
    divisions: Mapping[str, Any],
    n_jumps: int,
    confidence: Mapping[str, Any],
) -> str:
    """Key numbers of ``qc.json`` as cards.

    Objects removed by the filters, short tracks and tracks near the border (counts and %), frames where the
    count jumps, divisions kept and rejected, and Cellpose's mean cell probability (0-1) when recorded.  The
    arguments are the record's ``filters``, ``tracks``, ``divisions`` and ``confidence`` parts and the number of
    ``count_jumps``.
    """
    found, removed = filters.get("objects_found"), filters.get("objects_removed")
    cards = [
        ("objects removed by filters", f"{removed if removed is not None else '–'} of {found if found is not None else '–'}"
         f" ({_fraction_text(filters.get('removed_fraction'))})"),
        ("short tracks", f"{tracks.get('n_short', '–')} of {tracks.get('n_tracks', '–')} "
         f"({_fraction_text(tracks.get('short_fraction'))})"),
        ("tracks near the border", _fraction_text(tracks.get("border_fraction"))
         if tracks.get("border_fraction") is not None else "unknown (no cell diameter)"),
        ("frames where the count jumps", f"{n_jumps}"),
        ("divisions kept / rejected", f"{divisions.get('kept', '–')} / {divisions.get('rejected', '–')}"),
    ]
    if confidence.get("mean_cell_probability") is not None:
        cards.append(("mean cell probability (Cellpose)", f"{float(confidence['mean_cell_probability']):.2f}"))
    return _cards(cards)


def _removed_objects(filters: Mapping[str, Any]) -> str:
    """Tables of the objects each filter removed, and the frames where a filter removed something.

    Tables of the objects each filter removed (counts, % of the objects found) and, folded, the frames
    where a filter removed something; empty when nothing was removed.
    """
    found = filters.get("objects_found")
    out: list[str] = []
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
    return "\n".join(out)


def qc_body(qc: Mapping[str, Any] | None) -> str:
    """Body of the report's "Quality control" section.

    Parameters
    ----------
    qc : Mapping or None
        Content of ``qc.json`` (:func:`cellpipe.qc.assess_quality`); None says there is none.

    Returns
    -------
    str
        The status ('ok' green, 'check' red), the warnings, key numbers as cards (fractions as %), and
        tables of the objects removed by each filter, the rejected divisions by reason and the frames
        where the cell count jumps (cells).
    """
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
    out.append(_qc_cards(filters, tracks, divisions, len(jumps), confidence))

    removed = _removed_objects(filters)
    if removed:
        out.append(removed)
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
    denoise = qc.get("denoise") or {}
    if denoise.get("noise_sd") is not None:
        out.append(f'<p class="note">Noise of the frames (standard deviation, normalized units): '
                   f"{float(denoise['noise_sd']):.3f}; "
                   + (f"smoothed before the network (Gaussian of {float(denoise['sigma_px']):.2f} px, "
                      f"segment.cellpose.denoise {_esc(denoise.get('setting'))}).</p>" if denoise.get("applied")
                      else "not smoothed before the network.</p>"))
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
