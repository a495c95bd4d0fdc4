"""Tests of cellpipe.report.provenance: the provenance record as readable tables."""

from __future__ import annotations

from cellpipe.report import (
    build_sample_report,
    provenance_view,
)

from .report_helpers import (
    section_html,
)

PROVENANCE_RECORD: dict = {
    "schema_version": 1,
    "sample": "s",
    "created_utc": "2026-01-02T03:04:05Z",
    "workdir": "/data/analysis",
    "inputs": [
        {"role": "movie", "path": "raw/<m>.tif", "type": "file", "bytes": 1234, "sha256": "ab" * 32},
        {"role": "ground_truth", "path": "raw/01_GT", "type": "directory", "bytes": 30, "sha256": "cd" * 32,
         "files": [{"path": "TRA/a.tif", "bytes": 10, "sha256": "01" * 32}, {"path": "TRA/b.tif", "bytes": 20, "sha256": "02" * 32}]},
    ],
    "config": {"segment": {"diameter_um": 11.5}},
    "job_settings": {"segment_frames": {"diameter_um": 9.25, "cellpose": {"model": "/opt/cellpipe/w.pth"}}, "track_cells": None},
    "versions": {"numpy": "2.0.2", "traccuracy": None},
    "model": {"method": "cellpose", "path": "models/w.pth", "sha256": "ef" * 32, "builtin_model": None},
    "device": "cuda:0",
    "command": {"argv": ["snakemake", "--cores", "4"], "command_line": "snakemake --cores 4", "workdir": "/data/analysis",
                "snakefile": "/opt/cellpipe/Snakefile", "snakemake": "9.27.1",
                "workflow_revision": {"commit": "f" * 40, "dirty": True}, "started_utc": "2026-01-02T03:00:00Z"},
    "timings": {"track_cells": {"seconds": 3.5, "max_rss_mb": 200.0, "cpu_seconds": 3.0},
                "segment_cells": {"seconds": 40.25, "max_rss_mb": 532.4, "cpu_seconds": None}},
    "outputs": [{"path": "tracks.parquet", "bytes": 99, "sha256": "12" * 32}],
}


def test_provenance_record_is_shown_as_readable_tables(movie: dict) -> None:
    """Input checksums, model, device, versions, command line and timings of provenance.json, as tables."""
    html_text = build_sample_report(
        "s", movie["counts"], movie["cells"], movie["track_summary"], None, None, 0, movie["percentiles"],
        provenance_view(PROVENANCE_RECORD),
    )
    section = section_html(html_text, "provenance")
    assert "<th>role</th><th>path</th><th>files</th><th>bytes</th><th>sha256</th>" in section
    assert f'<td>movie</td><td>raw/&lt;m&gt;.tif</td><td class="num">1</td><td class="num">1234</td><td>{"ab" * 32}</td>' in section
    assert f'<td>ground_truth</td><td>raw/01_GT</td><td class="num">2</td><td class="num">30</td><td>{"cd" * 32}</td>' in section
    assert "ef" * 32 in section and "<th>device</th><td>cuda:0</td>" in section
    assert "<th>traccuracy</th><td>not installed</td>" in section
    assert "<th>command line</th><td>snakemake --cores 4</td>" in section
    assert f"{'f' * 40} (uncommitted changes)" in section
    assert section.index("<td>segment_cells</td>") < section.index("<td>track_cells</td>")  # pipeline order
    assert '<td>segment_cells</td><td class="num">40.25</td><td class="num">&mdash;</td><td class="num">532.40</td>' in section
    assert "12" * 32 in section and "diameter_um" in section
    # the settings the jobs used: the row's 9.25 µm beside the config's 11.5, the model file as resolved
    shown = section[section.index("settings the jobs used"):]
    assert "9.25" in shown and "/opt/cellpipe/w.pth" in shown and "not recorded" in shown
    assert section.index("settings the jobs used") < section.index("11.5")
    assert provenance_view({**PROVENANCE_RECORD, "job_settings": None})["settings the jobs used"] == "not recorded"
    unrecorded = provenance_view({**PROVENANCE_RECORD, "command": None})
    assert unrecorded["command"].startswith("not recorded")
    assert provenance_view({}) == {}


def test_provenance_renders_nested_mappings(full_html: str) -> None:
    section = section_html(full_html, "provenance")
    assert '<table class="kv">' in section
    assert '<th>segment_cells</th><td class="num">12.30</td>' in section
    assert "diameter_px" in section  # deeper nesting as JSON
