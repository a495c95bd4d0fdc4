"""Page shell, CSS, HTML escaping, number formatting and tables of the report pages."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.numbers import as_number
from cellpipe.versions import package_version

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


def _esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _is_missing(value: Any) -> bool:
    """True for None, pandas' NA and NaN; False for anything ``pd.isna`` cannot judge (lists, mappings)."""
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
    """True for ints and floats (numpy's too) but not booleans: they are right-aligned in tables."""
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


def _empty_note(text: str) -> str:
    """A highlighted note saying why a section has no figure (``text`` escaped)."""
    return f'<p class="empty">{_esc(text)}</p>'


def _section(anchor: str, title: str, body: str) -> str:
    """A ``<section>`` with id ``anchor`` (the navigation target), heading ``title`` and the HTML ``body``."""
    return f'<section id="{_esc(anchor)}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'


def _fmt_quantity(value: float | None, unit: str) -> str:
    """``value`` in ``unit`` with 4 significant digits, or 'unknown'."""
    return "unknown" if value is None else f"{value:.4g} {unit}"


def _num(value: Any) -> float:
    """``value`` as a float; NaN when missing or not a number."""
    number = as_number(value)
    return float("nan") if number is None else number


def _cards(items: Iterable[tuple[str, str]]) -> str:
    """Key numbers as cards: ``(title, value text)`` pairs, both escaped."""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div></div>' for k, v in items
        )
        + "</div>"
    )


def _page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole report page: head with the inline CSS, header, navigation, body and footer.

    The whole page: head with the inline CSS, header, navigation to the ``(anchor, title)`` pairs of ``nav``, the
    HTML ``body`` and a footer with cellpipe's version.
    """
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
    """The current time, UTC, to the minute."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    """``value`` with ``digits`` decimals, or a dash when not finite."""
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def _not_done(what: str, reason: str | None) -> str:
    """A note that ``what`` was not evaluated, with the evaluation's ``reason`` when it gives one."""
    return _empty_note(f"{what} not evaluated" + (f": {reason}" if reason else "."))


def _fraction_text(value: Any) -> str:
    """A fraction (0-1) as a percentage, a dash when missing."""
    number = _num(value)
    return "–" if not math.isfinite(number) else f"{100.0 * number:.0f} %"
