"""What the report shows of a provenance record and of the sample's CTC export."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.layout import PIPELINE_RULES
from cellpipe.provenance import recorded_as_read
from cellpipe.report.html import _esc, _fmt, _is_numeric, _table


def provenance_value(provenance: Mapping[str, Any], key: str) -> Any:
    """``key`` at the top level of ``provenance`` or one level down, else None.

    Parameters
    ----------
    provenance : Mapping
        A ``provenance.json`` record, as read.
    key : str
        The key looked up: first among the record's own keys, then among those of each section.

    Returns
    -------
    Any
        The first value found, or None.
    """
    if key in provenance:
        return provenance[key]
    for value in provenance.values():
        if isinstance(value, Mapping) and key in value:
            return value[key]
    return None


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
    """Key/value table; nested mappings and lists of mappings become tables, deeper ones JSON.

    Key/value table; a mapping of scalars (e.g. versions, timings) becomes a nested table, a list of
    such mappings (input files, timings per rule) a table with a column per key, deeper ones JSON.
    """
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
    """What the report says of the sample's CTC export (``ctc/``).

    Parameters
    ----------
    n_segments : int or None
        Rows of ``ctc_segments.tsv`` (CTC segments, count); None when export.ctc is false (no CTC export).

    Returns
    -------
    str
        The line of the provenance table, naming the mask dtype (uint16, or uint32 above 65,535 segments).
    """
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
    """What the report says of one entry of a record's ``as_read``.

    Whether the results come from the input file the record lists.

    Parameters
    ----------
    entry : Mapping
        One entry of :func:`cellpipe.provenance.recorded_as_read`: ``role``, ``read_by``, ``sha256``
        (hex digest), ``matches`` (bool or None) and ``differences`` (text).

    Returns
    -------
    str
        "sha256 ...: the <role> file listed above, byte for byte", a MISMATCH line, or the differences.
    """
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
    """Every input the record says a job read, with :func:`as_read_text` of it.

    Parameters
    ----------
    record : Mapping
        Content of ``provenance.json`` (:mod:`cellpipe.provenance`).

    Returns
    -------
    dict or str
        ``{"<role> as <job> read it": text}``; a sentence when the record has no ``as_read`` entries.
    """
    entries = recorded_as_read(record)
    if not entries:
        return "not recorded (a provenance record older than this check)"
    return {f"{e.get('role')} as {e.get('read_by')} read it": as_read_text(e) for e in entries}


def provenance_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the report shows of a provenance record.

    Parameters
    ----------
    record : Mapping
        Content of ``provenance.json`` (:mod:`cellpipe.provenance`); empty gives an empty view.

    Returns
    -------
    dict
        Input files with size (bytes) and sha256 (a folder as one row: its file count and folder digest),
        the inputs as the jobs read them, model, device, versions, command line, run time (s), CPU time
        (s) and peak memory (MB) per rule in pipeline order, result checksums, the settings each job used
        (after the sample sheet's row, shipped paths resolved) and the configuration.
    """
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
                "files": len(entry["files"]) if "files" in entry else 1,
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
        "settings the jobs used": {
            rule: settings if settings is not None else "not recorded"
            for rule, settings in (record.get("job_settings") or {}).items()
        } or "not recorded",
        "config": record.get("config"),
    }
