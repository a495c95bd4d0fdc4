"""Tests of cellpipe.report: self-contained HTML with real, non-blank embedded figures that carry the numbers they draw."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.draw import disk

from cellpipe.measure import MeasureSettings, counts_per_frame, measure_cells, summarize_tracks
from cellpipe.report import (
    HEADLINE_KEYS,
    NO_CELLS_MESSAGE,
    build_sample_report,
    build_summary_report,
    provenance_view,
    summary_row,
)
from cellpipe.report.evaluation import _evaluation_body
from cellpipe.report.sections import _montage_body
from cellpipe.report.tracks import (
    _lineage_body,
    _msd_body,
    _parent_map,
    _track_info,
    _trajectories_body,
    _valid_tracks,
)

PIXEL_UM = 0.5
INTERVAL_MIN = 2.0
SECTIONS = (
    "Summary",
    "Cell count over time",
    "Segmentation overlay",
    "Cell area distribution",
    "Track speed distribution",
    "Track summary",
    "Normalization QC",
    "Provenance",
)
PNG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _percentiles(n_frames: int) -> pd.DataFrame:
    rows = [(0, -1, 1.0, 99.8, 10.0, 200.0)]
    rows += [(0, t, 1.0, 99.8, 10.0 + t, 200.0 - 5 * t) for t in range(n_frames)]
    return pd.DataFrame(
        rows, columns=["channel", "frame", "low_percentile", "high_percentile", "low_value", "high_value"]
    )


@pytest.fixture(scope="module")
def movie() -> dict:
    """Three disks moving right by 2 px per frame over 4 frames, with a tracks table."""
    n_frames, shape = 4, (48, 64)
    rng = np.random.default_rng(1)
    labels = np.zeros((n_frames, *shape), dtype=np.uint32)
    image = rng.normal(10.0, 1.0, (n_frames, 1, *shape))
    rows = []
    for t in range(n_frames):
        for k, (y, x, r) in enumerate([(12, 8, 5), (30, 10, 7), (38, 40, 4)], start=1):
            rr, cc = disk((y, x + 2 * t), r, shape=shape)
            labels[t, rr, cc] = k
            image[t, 0, rr, cc] += 100.0
            rows.append((t, 10 * k, k, y, x + 2 * t, y * PIXEL_UM, (x + 2 * t) * PIXEL_UM, 0, 10 * k, 0))
    tracks = pd.DataFrame(
        rows, columns=["frame", "track_id", "label", "y_px", "x_px", "y_um", "x_um", "parent", "root", "generation"]
    )
    cells = measure_cells(labels, image, tracks, PIXEL_UM, INTERVAL_MIN, MeasureSettings(channel_names=["GFP"]))
    return {
        "labels": labels,
        "image": image,
        "cells": cells,
        "track_summary": summarize_tracks(cells, tracks, INTERVAL_MIN),
        "counts": counts_per_frame(cells, n_frames, INTERVAL_MIN),
        "percentiles": _percentiles(n_frames),
    }


@pytest.fixture(scope="module")
def report_html(movie: dict) -> str:
    provenance = {
        "versions": {"numpy": "2.0.2"},
        "device": "cpu",
        "method": "classical <threshold>",
        "config": {"segment": {"diameter_px": 14}},
    }
    return build_sample_report(
        "sample<1>&co",
        movie["counts"],
        movie["cells"],
        movie["track_summary"],
        movie["image"][2, 0],
        movie["labels"][2],
        2,
        movie["percentiles"],
        provenance,
        pixel_size_um=PIXEL_UM,
        frame_interval_min=INTERVAL_MIN,
        generated="2024-01-02 03:04 UTC",
    )


def _decoded_pngs(html_text: str) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")) for b64 in PNG_RE.findall(html_text)
    ]


def _section_html(html_text: str, anchor: str) -> str:
    """The HTML of the section with id ``anchor``."""
    start = html_text.index(f'<section id="{anchor}">')
    return html_text[start : html_text.index("</section>", start)]


def _assert_self_contained(html_text: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html_text, flags=re.IGNORECASE)
    assert "<script" not in html_text.lower()
    assert "<link" not in html_text.lower()
    assert "@import" not in html_text


def test_sample_report_sections_and_header(report_html: str) -> None:
    assert report_html.startswith("<!DOCTYPE html>")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in report_html
    assert "2024-01-02 03:04 UTC" in report_html
    assert "0.5 µm/px" in report_html
    assert "2 min" in report_html
    # 4 frames, 3 cells per frame, 3 tracks.
    assert "4 frames · 12 cell detections · 3 tracks" in report_html
    assert "Frame 2" in report_html
    _assert_self_contained(report_html)


def test_sample_report_images_are_real_pngs(report_html: str) -> None:
    images = _decoded_pngs(report_html)
    # counts, overlay, areas, speeds, per-frame percentiles
    assert len(images) >= 5
    for pixels in images:
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels.std() > 0


def test_overlay_draws_coloured_outlines(movie: dict) -> None:
    kwargs = {
        "counts": movie["counts"],
        "cells": movie["cells"],
        "track_summary": movie["track_summary"],
        "overlay_image": movie["image"][0, 0],
        "overlay_frame": 0,
        "percentiles": movie["percentiles"],
        "provenance": {},
    }
    with_outlines = _decoded_pngs(build_sample_report("s", overlay_labels=movie["labels"][0], **kwargs))[1]
    without = _decoded_pngs(build_sample_report("s", overlay_labels=np.zeros_like(movie["labels"][0]), **kwargs))[1]
    assert with_outlines.shape == without.shape

    def n_coloured(pixels: np.ndarray) -> int:  # grey image and black text have R == G == B
        spread = pixels.max(axis=2).astype(int) - pixels.min(axis=2).astype(int)
        return int((spread > 60).sum())

    assert n_coloured(with_outlines) > 100
    assert n_coloured(without) == 0


def test_sample_report_escapes_user_strings(report_html: str) -> None:
    assert "sample<1>&co" not in report_html
    assert "sample&lt;1&gt;&amp;co" in report_html
    assert "classical &lt;threshold&gt;" in report_html
    assert "diameter_px" in report_html  # nested config is shown


def test_track_table_lists_tracks(report_html: str, movie: dict) -> None:
    track_section = report_html.split("<h2>Track summary</h2>")[1].split("</section>")[0]
    assert track_section.count("<tr>") == 1 + len(movie["track_summary"])  # header + one row per track
    # 2 px per frame at 0.5 µm/px for 3 steps = 3 µm over 6 min.
    assert "3.00" in track_section and "0.500" in track_section


def test_empty_movie_report() -> None:
    cells = measure_cells(np.zeros((3, 16, 16), np.uint32), np.zeros((3, 1, 16, 16)), None, 1.0, 5.0, MeasureSettings())
    tracks = pd.DataFrame(columns=["frame", "track_id", "label", "y_um", "x_um", "parent", "root", "generation"])
    summary = summarize_tracks(cells, tracks, 5.0)
    counts = counts_per_frame(cells, 3, 5.0)
    html_text = build_sample_report(
        "empty", counts, cells, summary, np.zeros((16, 16)), np.zeros((16, 16), np.uint32), 0, _percentiles(0), {},
        tracks=tracks, lineage=pd.DataFrame(columns=["parent", "child", "division_frame"]), montage=[],
        intensity_samples={}, evaluation={},
    )
    assert NO_CELLS_MESSAGE in html_text
    assert "No tracks were found." in html_text
    for anchor in ("trajectories", "lineage", "msd"):  # empty tracks: a note, no figure
        assert "No tracks were found." in _section_html(html_text, anchor)
        assert "<img" not in _section_html(html_text, anchor)
    assert "No ground truth was given" in _section_html(html_text, "evaluation")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html_text
    for pixels in _decoded_pngs(html_text):  # count plot and the (blank) frame only
        assert pixels.std() > 0
    _assert_self_contained(html_text)

    # No frames at all and no overlay image.
    no_frames = build_sample_report(
        "none", counts.iloc[:0], cells, summary, None, None, 0, _percentiles(0).iloc[:0], {}
    )
    assert NO_CELLS_MESSAGE in no_frames
    assert "The movie has no frames." in no_frames
    assert len(_decoded_pngs(no_frames)) == 0


def test_summary_report_links_samples(movie: dict) -> None:
    rows = [
        summary_row("b sample", movie["counts"], movie["cells"], movie["track_summary"]),
        {"sample": "a<x>", "frames": 2, "cells": 0, "tracks": 0},
    ]
    expected = {"sample": "b sample", "n_frames": 4, "n_cells": 12, "n_tracks": 3, "mean_cells_per_frame": 3.0}
    assert {key: rows[0][key] for key in expected} == expected
    assert rows[0]["n_divisions"] == 0
    assert rows[0]["mean_speed_um_per_min"] == pytest.approx(0.5)  # 2 px × 0.5 µm per 2 min
    assert all(np.isnan(rows[0][key]) for key in HEADLINE_KEYS)  # no ground truth
    html_text = build_summary_report(rows)
    assert 'href="b%20sample/report.html"' in html_text
    assert 'href="a%3Cx%3E/report.html"' in html_text
    assert "a&lt;x&gt;" in html_text and "a<x>" not in html_text
    assert html_text.index("a&lt;x&gt;") < html_text.index(">b sample<")  # sorted by sample
    assert "3.00" in html_text  # mean cells per frame
    _assert_self_contained(html_text)
    assert "No samples were processed." in build_summary_report([])


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
    section = _section_html(html_text, "provenance")
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
    unrecorded = provenance_view({**PROVENANCE_RECORD, "command": None})
    assert unrecorded["command"].startswith("not recorded")
    assert provenance_view({}) == {}


def test_large_frame_gets_detail_panel(movie: dict) -> None:
    labels = np.zeros((800, 900), dtype=np.uint32)
    rr, cc = disk((400, 450), 30)
    labels[rr, cc] = 1
    image = labels.astype(float) * 50.0
    html_text = build_sample_report(
        "big", movie["counts"], movie["cells"], movie["track_summary"], image, labels, 1, movie["percentiles"], {}
    )
    assert "right: the boxed central region at full resolution" in html_text
    overlay = _decoded_pngs(html_text)[1]
    assert overlay.shape[1] > overlay.shape[0]  # two panels side by side
    assert overlay.std() > 0


# --------------------------------------------------------------------------- tracks, lineage, MSD, evaluation

NEW_ANCHORS = ("montage", "trajectories", "lineage", "msd", "normalization", "evaluation")
ALL_ANCHORS = (
    "summary", "qc", "counts", "overlay", "montage", "trajectories", "lineage", "areas", "speeds", "msd", "tracks",
    "normalization", "evaluation", "provenance",
)
IOU_THRESHOLDS = [round(0.5 + 0.05 * i, 2) for i in range(10)]
EVALUATION: dict = {
    "sample": "demo",
    "ground_truth": {"path": "results/simulated/demo/01_GT", "format": "ctc"},
    "ctc": {
        "library": "py-ctcmetrics 1.3.3", "result": "results/demo/ctc", "valid": True,
        "SEG": 0.81, "DET": 0.97, "TRA": 0.96, "AOGM": 123.0, "AOGM_0": 4000.0,
        "errors": {"NS": 0, "FN": 10, "FP": 3, "ED": 1, "EA": 5, "EC": 0},
    },
    "segmentation": {
        "source": "segmentation.ome.zarr", "frames": [0, 5, 10], "skipped_frames": {"7": "sparse annotation: 2 of 24 cells"},
        "iou_thresholds": IOU_THRESHOLDS,
        "average_precision": [0.9 - 0.08 * i for i in range(10)],
        "precision": [0.95 - 0.07 * i for i in range(10)],
        "recall": [0.93 - 0.07 * i for i in range(10)],
        "f1": [0.94 - 0.07 * i for i in range(10)],
        "tp": [60 - 5 * i for i in range(10)], "fp": [2 + 5 * i for i in range(10)], "fn": [3 + 5 * i for i in range(10)],
        "mean_average_precision": 0.6, "jaccard": 0.85, "dice": 0.92, "mean_matched_iou": 0.83,
        "per_frame": [
            {"frame": f, "n_true": 22, "n_predicted": 21, "tp": 21, "fp": 0, "fn": 1, "ap_0.5": 0.95,
             "jaccard": 0.86, "dice": 0.92}
            for f in (0, 5, 10)
        ],
    },
    "counts": {
        "truth": "TRA markers", "mean_error": -0.2, "mean_absolute_error": 0.4,
        "mean_absolute_percentage_error": 1.8, "max_absolute_error": 2,
        "per_frame": [
            {"frame": f, "time_min": 2.0 * f, "n_true": 3, "n_predicted": 3 + (f % 3 == 1), "error": int(f % 3 == 1)}
            for f in range(10)
        ],
    },
    "divisions": {
        "library": "py-ctcmetrics 1.3.3", "frame_tolerance": 1, "gt_divisions": 10, "predicted_divisions": 11,
        "tp": 9, "fp": 2, "fn": 1, "precision": 0.82, "recall": 0.9, "f1": 0.86,
    },
    "versions": {"py-ctcmetrics": "1.3.3", "cellpose": "3.1.1.2"},
}
TRACK_COLUMNS = [
    "frame", "time_min", "track_id", "label", "y_px", "x_px", "y_um", "x_um", "parent", "root", "generation",
]


def _tracks_table(rows: list[tuple]) -> pd.DataFrame:
    """Tracks from ``(frame, track_id, y_px, x_px, parent, root, generation)`` at PIXEL_UM and INTERVAL_MIN."""
    return pd.DataFrame(
        [
            (f, f * INTERVAL_MIN, t, t, y, x, y * PIXEL_UM, x * PIXEL_UM, p, r, g)
            for f, t, y, x, p, r, g in rows
        ],
        columns=TRACK_COLUMNS,
    )


@pytest.fixture(scope="module")
def family() -> dict:
    """10 frames of 64 × 64: track 1 divides into 2 and 3 at frame 5; track 4 moves alone."""
    n_frames, shape = 10, (64, 64)
    rows = []
    for f in range(n_frames):
        if f < 5:
            rows.append((f, 1, 20.0, 10.0 + 2 * f, 0, 1, 0))
        else:
            rows.append((f, 2, 20.0 - 2 * (f - 4), 20.0 + (f - 4), 1, 1, 1))
            rows.append((f, 3, 20.0 + 2 * (f - 4), 20.0 + (f - 4), 1, 1, 1))
        rows.append((f, 4, 50.0, 55.0 - 3 * f, 0, 4, 0))
    tracks = _tracks_table(rows)
    rng = np.random.default_rng(3)
    labels = np.zeros((n_frames, *shape), dtype=np.int32)
    images = rng.normal(0.1, 0.02, (n_frames, *shape))
    for row in tracks.itertuples():
        rr, cc = disk((row.y_px, row.x_px), 4, shape=shape)
        labels[row.frame, rr, cc] = row.label
        images[row.frame, rr, cc] += 0.8
    raw = rng.gamma(2.0, 30.0, 5000) + 100.0
    percentiles = pd.DataFrame(
        [(0, -1, 1.0, 99.8, float(np.percentile(raw, 1.0)), float(np.percentile(raw, 99.8)))],
        columns=["channel", "frame", "low_percentile", "high_percentile", "low_value", "high_value"],
    )
    normalized = (raw - percentiles["low_value"][0]) / (percentiles["high_value"][0] - percentiles["low_value"][0])
    counts = pd.DataFrame(
        {"frame": range(n_frames), "time_min": np.arange(n_frames) * INTERVAL_MIN,
         "n_cells": tracks.groupby("frame").size().to_numpy()}
    )
    n_cells = len(tracks)
    cells = pd.DataFrame({"area_um2": rng.uniform(10.0, 14.0, n_cells), "area_px": rng.uniform(40.0, 56.0, n_cells)})
    # measure's per-track table (lineage, frames, divisions) with round speeds the assertions can name
    track_summary = summarize_tracks(None, tracks, INTERVAL_MIN).assign(mean_speed_um_per_min=[0.5, 1.1, 1.1, 0.75])
    return {
        "tracks": tracks,
        "lineage": pd.DataFrame({"parent": [1, 1], "child": [2, 3], "division_frame": [5, 5]}),
        "labels": labels,
        "images": images,
        "percentiles": percentiles,
        "samples": {"raw": raw, "normalized": normalized},
        "counts": counts,
        "cells": cells,
        "track_summary": track_summary,
    }


@pytest.fixture(scope="module")
def full_html(family: dict) -> str:
    return build_sample_report(
        "fam",
        family["counts"],
        family["cells"],
        family["track_summary"],
        family["images"][6],
        family["labels"][6],
        6,
        family["percentiles"],
        {"timings (s)": {"segment_cells": 12.3, "track_cells": 0.5}, "config": {"segment": {"diameter_px": 8}}},
        pixel_size_um=PIXEL_UM,
        frame_interval_min=INTERVAL_MIN,
        tracks=family["tracks"],
        lineage=family["lineage"],
        montage=[(t, family["images"][t], family["labels"][t]) for t in (0, 3, 6, 9)],
        intensity_samples=family["samples"],
        evaluation=EVALUATION,
    )


def test_full_report_has_every_section_in_order(full_html: str) -> None:
    positions = [full_html.index(f'<section id="{anchor}">') for anchor in ALL_ANCHORS]
    assert positions == sorted(positions)  # provenance last
    assert full_html.count("<section ") == len(ALL_ANCHORS)
    for anchor in ALL_ANCHORS:
        assert f'href="#{anchor}"' in full_html
    for anchor in NEW_ANCHORS:
        assert "<img" in _section_html(full_html, anchor), anchor
        assert 'class="empty"' not in _section_html(full_html, anchor), anchor
    _assert_self_contained(full_html)


def test_full_report_figures_are_real_and_modest(full_html: str) -> None:
    images = _decoded_pngs(full_html)
    # counts, overlay, montage, trajectories, lineage, areas, speeds, MSD, intensities, IoU, evaluated counts
    assert len(images) == 11
    for pixels in images:
        assert pixels.std() > 0
        assert (pixels != pixels[0, 0]).any()  # more than one colour
        assert 100 < pixels.shape[1] <= 1100 and pixels.shape[0] > 100
    assert len(full_html) < 3_000_000


def test_lineage_caption_counts_divisions(full_html: str, family: dict) -> None:
    section = _section_html(full_html, "lineage")
    assert len(_decoded_pngs(section)) == 1
    assert "1 division(s) in 4 tracks and 2 families" in section
    assert "<td>1</td>" not in section  # a figure, not a table
    summary = _section_html(full_html, "summary")
    assert '<div class="k">divisions</div><div class="v">1</div>' in summary

    # Without parents and lineage: bars only.
    no_parents = family["tracks"].assign(parent=0, root=family["tracks"]["track_id"])
    body = _lineage_body(summarize_tracks(None, no_parents, INTERVAL_MIN), None, INTERVAL_MIN)
    assert "No divisions were found in the 4 tracks." in body
    assert len(_decoded_pngs(body)) == 1
    # The lineage table alone is enough to link the daughters in the drawing.
    info = _track_info(summarize_tracks(None, no_parents, INTERVAL_MIN))
    assert _parent_map(info, family["lineage"]) == {2: 1, 3: 1}
    # The caption's count is measure's: 5 has a single daughter (it continues the track), 7 two.
    single = _tracks_table([(0, 5, 5.0, 5.0, 0, 5, 0), (1, 6, 5.0, 5.0, 5, 5, 1), (0, 7, 9.0, 9.0, 0, 7, 0),
                            (1, 8, 9.0, 9.0, 7, 7, 1), (1, 9, 9.0, 9.0, 7, 7, 1)])
    body = _lineage_body(summarize_tracks(None, single, INTERVAL_MIN), None, INTERVAL_MIN)
    assert "1 division(s) in 5 tracks and 2 families" in body
    assert "1 track(s) continue with a single daughter" in body


def test_lineage_caps_the_number_of_families() -> None:
    rows = [(f, t, 10.0, 10.0, 0, t, 0) for t in range(1, 61) for f in range(2)]
    rows += [(f, 100, 5.0, 5.0, 0, 100, 0) for f in range(3)]
    rows += [(f, c, 5.0, 5.0, 100, 100, 1) for c in (101, 102) for f in range(3, 6)]
    body = _lineage_body(summarize_tracks(None, _tracks_table(rows), INTERVAL_MIN), None, INTERVAL_MIN)
    assert "1 division(s) in 63 tracks and 61 families" in body
    assert "Showing 40 of 61 families (42 of 63 tracks); 21 families were left out." in body


def _random_walks(n_tracks: int, n_steps: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    positions = np.cumsum(rng.normal(0.0, 1.0, (n_tracks, n_steps, 2)), axis=1)
    return pd.DataFrame(
        {
            "track_id": np.repeat(np.arange(1, n_tracks + 1), n_steps),
            "frame": np.tile(np.arange(n_steps), n_tracks),
            "y_um": positions[..., 0].ravel(),
            "x_um": positions[..., 1].ravel(),
        }
    )


def _exponent(body: str) -> float:
    match = re.search(r"Fitted exponent α = ([0-9.]+)", body)
    assert match, body
    return float(match.group(1))


def test_msd_exponent_random_walk_and_directed_motion(full_html: str) -> None:
    assert _exponent(_msd_body(_random_walks(30, 300, seed=0), INTERVAL_MIN)) == pytest.approx(1.0, abs=0.15)
    frames = np.arange(40)
    straight = pd.DataFrame(
        {
            "track_id": np.repeat([1, 2, 3], frames.size),
            "frame": np.tile(frames, 3),
            "y_um": np.concatenate([0.5 * frames, -1.5 * frames, 0.0 * frames]),
            "x_um": np.concatenate([1.0 * frames, 0.2 * frames, 2.0 * frames]) + 7.0,
        }
    )
    assert _exponent(_msd_body(straight, INTERVAL_MIN)) == pytest.approx(2.0, abs=0.01)
    assert "frame interval is unknown" in _msd_body(straight, None)
    # The sample's tracks move at constant (different) velocities too; pooling speeds with lag-dependent
    # pair counts bends the ensemble curve a little.
    assert _exponent(_section_html(full_html, "msd")) == pytest.approx(2.0, abs=0.15)


def test_evaluation_cards_and_tables(full_html: str) -> None:
    section = _section_html(full_html, "evaluation")
    for title, value in (
        ("CTC SEG", "0.810"), ("CTC DET", "0.970"), ("CTC TRA", "0.960"), ("AP at IoU 0.5", "0.900"),
        ("F1 at IoU 0.5", "0.940"), ("division precision", "0.820"), ("division recall", "0.900"),
        ("count mean absolute error (cells)", "0.40"),
    ):
        assert f'<div class="k">{title}</div><div class="v">{value}</div>' in section
    assert len(_decoded_pngs(section)) == 2  # metrics against IoU, counts over time
    assert "results/simulated/demo/01_GT" in section
    assert "sparse annotation: 2 of 24 cells" in section
    for error, count in (("FN", 10), ("FP", 3), ("EA", 5)):
        assert f'<td>{error}</td><td class="num">{count}</td>' in section
    per_frame_rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td class="num">22</td><td class="num">21</td>', section
    )
    assert per_frame_rows == ["0", "5", "10"]


def test_evaluation_with_missing_parts() -> None:
    evaluation = {
        "ground_truth": {"path": "gt", "format": "labels"},
        "ctc": None,
        "segmentation": {"reason": "no completely annotated frame"},
        "counts": None,
        "divisions": {"library": "x", "gt_divisions": 0, "predicted_divisions": 0, "tp": 0, "fp": 0, "fn": 0,
                      "precision": None, "recall": float("nan"), "f1": None},
    }
    body = _evaluation_body(evaluation)
    assert "Segmentation was not evaluated: no completely annotated frame" in body
    assert "Tracking (Cell Tracking Challenge measures) was not evaluated." in body
    assert "Cell counts were not evaluated." in body
    assert '<div class="k">CTC SEG</div><div class="v">–</div>' in body
    assert '<div class="k">division recall</div><div class="v">–</div>' in body
    assert "<img" not in body
    assert "No ground truth was given for this sample" in _evaluation_body(None)


def test_report_without_new_inputs_says_what_is_missing(report_html: str) -> None:
    assert "No ground truth was given for this sample, so nothing was evaluated." in report_html
    assert "No montage frames were given" in _section_html(report_html, "montage")
    for anchor in ("trajectories", "lineage", "msd"):
        assert "No tracks were found." in _section_html(report_html, anchor)
    assert "No intensity samples were given" in _section_html(report_html, "normalization")


def test_normalization_histograms_mark_percentiles(full_html: str, family: dict) -> None:
    section = _section_html(full_html, "normalization")
    figure = _decoded_pngs(section)[0]
    assert figure.shape[1] > 2 * figure.shape[0]  # two panels side by side
    red = (np.abs(figure.astype(int) - [197, 48, 48]).sum(axis=2) < 40).sum()  # the marker lines
    assert red > 200
    normalized = family["samples"]["normalized"]
    below = 100.0 * np.mean(normalized < 0)
    assert f"{below:.2g} % lie below 0" in section
    assert "movie-wide low (dashed) and high (solid) percentile values of channel 0" in section
    assert "<td>-1</td>" in section or '<td class="num">-1</td>' in section  # the percentile table is kept


def test_trajectories_and_montage(full_html: str, family: dict) -> None:
    trajectories = _section_html(full_html, "trajectories")
    assert "Trajectories of all 4 tracks over frame 6" in trajectories
    pixels = _decoded_pngs(trajectories)[0].astype(int)
    assert ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum() > 200  # coloured lines on a grey image
    montage = _section_html(full_html, "montage")
    assert "Segmentation in 4 frames" in montage
    grid = _decoded_pngs(montage)[0]
    assert grid.shape[1] > 2 * grid.shape[0]  # 1 × 4 panels
    with pytest.raises(ValueError, match="montage image"):
        _montage_body([(0, np.zeros((8, 8)), np.zeros((8, 9), np.int32))], INTERVAL_MIN, PIXEL_UM)


def test_provenance_renders_nested_mappings(full_html: str) -> None:
    section = _section_html(full_html, "provenance")
    assert '<table class="kv">' in section
    assert '<th>segment_cells</th><td class="num">12.30</td>' in section
    assert "diameter_px" in section  # deeper nesting as JSON


def test_summary_with_evaluation(family: dict) -> None:
    with_gt = summary_row("b", family["counts"], family["cells"], family["track_summary"], evaluation=EVALUATION)
    assert with_gt["n_divisions"] == 1
    assert with_gt["mean_speed_um_per_min"] == pytest.approx(0.925)  # median of 0.5, 0.75, 1.1, 1.1
    assert with_gt["SEG"] == 0.81 and with_gt["TRA"] == 0.96
    assert with_gt["AP50"] == pytest.approx(0.9) and with_gt["F1_50"] == pytest.approx(0.94)
    assert with_gt["division_precision"] == 0.82 and with_gt["count_mae"] == 0.4
    without = summary_row("a", family["counts"], family["cells"], family["track_summary"])
    html_text = build_summary_report([with_gt, without], generated="today")
    assert '<section id="evaluation">' in html_text and 'href="#evaluation"' in html_text
    assert len(_decoded_pngs(html_text)) == 1 and _decoded_pngs(html_text)[0].std() > 0
    row_a = html_text[html_text.index(">a</a>") : html_text.index("</tr>", html_text.index(">a</a>"))]
    assert row_a.count("&mdash;") == len(HEADLINE_KEYS)
    row_b = html_text[html_text.index(">b</a>") : html_text.index("</tr>", html_text.index(">b</a>"))]
    assert "0.810" in row_b and "0.925" in row_b
    _assert_self_contained(html_text)

    plain = build_summary_report([without])
    assert '<section id="evaluation">' not in plain
    assert "<img" not in plain


def test_short_tracks_are_left_out_of_the_statistics(movie: dict) -> None:
    """One of the movie's three tracks flagged excluded='short': the summary row and the sample report
    count 2 tracks and 1 excluded, leave its speed out of the median, the histogram and the track table,
    and say so; a table without the excluded column (older results) counts every track."""
    tracks = movie["track_summary"]
    row = summary_row("s", movie["counts"], movie["cells"], tracks)
    assert (row["n_tracks"], row["n_tracks_excluded"]) == (3, 0)
    flagged = tracks.assign(excluded=["short", "", ""], mean_speed_um_per_min=[9.0, 0.5, 1.5])
    row = summary_row("s", movie["counts"], movie["cells"], flagged)
    assert (row["n_tracks"], row["n_tracks_excluded"]) == (2, 1)
    assert row["mean_speed_um_per_min"] == pytest.approx(1.0)  # median of 0.5, 1.5: the short track's 9 left out
    assert "short tracks excluded" in build_summary_report([row])
    old = summary_row("s", movie["counts"], movie["cells"], tracks.drop(columns="excluded"))
    assert (old["n_tracks"], old["n_tracks_excluded"]) == (3, 0)

    html_text = build_sample_report(
        "s", movie["counts"], movie["cells"], flagged, movie["image"][2, 0], movie["labels"][2], 2,
        movie["percentiles"], {}, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN,
    )
    assert "4 frames · 12 cell detections · 2 tracks" in html_text
    assert "for the 2 track(s) spanning at least two frames; 1 short track(s) left out." in html_text
    assert "1 short track(s) (column excluded in track_metrics.parquet) are not shown" in html_text
    table = _section_html(html_text, "tracks")
    assert table.count("<tr>") == 1 + 2  # header + the two passing tracks


# --------------------------------------------------------------------------- the numbers behind each figure

#: Tracks with fewer frames are flagged excluded='short' in the measured fixture below.
MIN_TRACK_FRAMES = 3


class _FigureValues(HTMLParser):
    """Collects the ``data-values`` attribute of every ``<figure>`` as an HTML parser reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.found.append(dict(attrs).get("data-values"))


def _figure_values(html_text: str) -> dict[str, dict]:
    """The ``data-values`` JSON of every figure, by figure name."""
    parser = _FigureValues()
    parser.feed(html_text)
    parser.close()
    out = {}
    for raw in parser.found:
        assert raw is not None
        values = json.loads(raw)
        assert values["figure"] not in out, values["figure"]
        out[values["figure"]] = values
    return out


def _series(values: dict, name: str) -> dict:
    matches = [s for s in values["series"] if s["name"] == name]
    assert len(matches) == 1, (name, [s["name"] for s in values["series"]])
    return matches[0]


def _close(actual: list, expected: np.ndarray | list) -> None:
    """The carried numbers (7 significant digits) equal ``expected``."""
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def measured(family: dict) -> dict:
    """The family movie plus a 2-frame track 5, measured by cellpipe.measure, and its report.

    The cells, track and count tables are the real ones (measure_cells, summarize_tracks with
    MIN_TRACK_FRAMES, counts_per_frame); the percentile table has per-frame rows too.
    """
    tracks = pd.concat(
        [family["tracks"], _tracks_table([(f, 5, 8.0, 50.0 + f, 0, 5, 0) for f in (7, 8)])], ignore_index=True
    )
    labels = family["labels"].copy()
    for f in (7, 8):
        rr, cc = disk((8.0, 50.0 + f), 4, shape=labels.shape[1:])
        labels[f, rr, cc] = 5
    images = family["images"][:, np.newaxis]
    n_frames = labels.shape[0]
    cells = measure_cells(labels, images, tracks, PIXEL_UM, INTERVAL_MIN, MeasureSettings(channel_names=["GFP"]))
    per_frame = [(1, f, 1.0, 99.8, 90.0 + f, 400.0 - 3.0 * f) for f in range(n_frames)]
    per_frame += [(0, f, 1.0, 99.8, 100.0 + 0.5 * f, 300.0 + 2.0 * f) for f in range(n_frames)]
    percentiles = pd.concat(
        [family["percentiles"], pd.DataFrame(per_frame, columns=family["percentiles"].columns)], ignore_index=True
    )
    inputs = {
        "counts": counts_per_frame(cells, n_frames, INTERVAL_MIN),
        "cells": cells,
        "track_summary": summarize_tracks(cells, tracks, INTERVAL_MIN, min_track_frames=MIN_TRACK_FRAMES),
        "percentiles": percentiles,
    }
    html_text = build_sample_report(
        "measured", inputs["counts"], cells, inputs["track_summary"], family["images"][6], labels[6], 6,
        percentiles, {}, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN, tracks=tracks,
        lineage=family["lineage"], montage=[(t, family["images"][t], labels[t]) for t in (0, 3, 7, 9)],
        intensity_samples=family["samples"], evaluation=EVALUATION,
    )
    return {**inputs, "tracks": tracks, "labels": labels, "html": html_text, "values": _figure_values(html_text)}


def test_every_figure_carries_its_numbers(measured: dict) -> None:
    html_text = measured["html"]
    assert html_text.count("<figure") == html_text.count("<figure data-values=") == len(_decoded_pngs(html_text))
    assert set(measured["values"]) == {
        "counts", "overlay", "montage", "trajectories", "lineage", "areas", "speeds", "msd", "intensity",
        "normalization percentiles", "segmentation evaluation", "count evaluation",
    }
    assert all(values["series_left_out"] == 0 for values in measured["values"].values())
    _assert_self_contained(html_text)  # the numbers are an attribute, not a script


def test_counts_figure_numbers(measured: dict) -> None:
    cells, n_frames = measured["cells"], measured["labels"].shape[0]
    per_frame = cells.groupby("frame").size().reindex(range(n_frames), fill_value=0)
    series = _series(measured["values"]["counts"], "cells per frame")
    assert (series["x_units"], series["y_units"]) == ("min", "cells")
    _close(series["x"], np.arange(n_frames) * INTERVAL_MIN)
    _close(series["y"], per_frame.to_numpy())


def _assert_histogram_of(series: dict, values: np.ndarray) -> None:
    """``series`` is a histogram of exactly ``values``: every value in a bin, the counts, the median."""
    edges = np.asarray(series["bin_edges"])
    assert np.all(np.diff(edges) > 0)
    assert edges[0] == pytest.approx(values.min(), rel=1e-6) and edges[-1] == pytest.approx(values.max(), rel=1e-6)
    assert sum(series["counts"]) == values.size
    # The carried edges are rounded to 7 digits: the smallest and largest value may sit just outside them.
    _close(series["counts"], np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0])
    assert series["median"] == pytest.approx(float(np.median(values)), rel=1e-6)


def test_area_histogram_numbers(measured: dict) -> None:
    """Areas in µm²: pixels counted in the label image times the pixel area, not the cells table's own area."""
    labels = measured["labels"]
    areas = np.concatenate(
        [np.bincount(frame.ravel())[1:][np.bincount(frame.ravel())[1:] > 0] for frame in labels]
    ) * PIXEL_UM**2
    series = _series(measured["values"]["areas"], "cell area (µm²)")
    assert (series["units"], series["count_units"]) == ("µm²", "cells")
    _assert_histogram_of(series, areas)


def _path_speeds(cells: pd.DataFrame, min_frames: int) -> dict[int, float]:
    """Per track with at least ``min_frames`` positions: path length of its centroids / duration (µm/min)."""
    speeds = {}
    for track_id, rows in cells.dropna(subset=["track_id"]).groupby("track_id"):
        rows = rows.sort_values("frame")
        if len(rows) < min_frames:
            continue
        y, x = rows["centroid_y_um"].to_numpy(), rows["centroid_x_um"].to_numpy()
        path = float(np.sum(np.sqrt(np.diff(y) ** 2 + np.diff(x) ** 2)))
        speeds[int(track_id)] = path / ((rows["frame"].max() - rows["frame"].min()) * INTERVAL_MIN)
    return speeds


def test_speed_histogram_numbers(measured: dict) -> None:
    speeds = _path_speeds(measured["cells"], MIN_TRACK_FRAMES)
    assert sorted(speeds) == [1, 2, 3, 4]  # track 5 is short: left out
    series = _series(measured["values"]["speeds"], "mean track speed (µm/min)")
    assert (series["units"], series["count_units"]) == ("µm/min", "tracks")
    _assert_histogram_of(series, np.asarray(list(speeds.values())))


def test_trajectory_numbers(measured: dict) -> None:
    """Each trajectory is its track's pixel centres in µm, in frame order; the dots are the overlay frame's."""
    tracks, values = measured["tracks"], measured["values"]["trajectories"]
    for track_id, rows in tracks.groupby("track_id"):
        rows = rows.sort_values("frame")
        series = _series(values, f"track {track_id}")
        assert (series["x_units"], series["y_units"]) == ("µm", "µm")
        _close(series["x"], (rows["x_px"].to_numpy() + 0.5) * PIXEL_UM)
        _close(series["y"], (rows["y_px"].to_numpy() + 0.5) * PIXEL_UM)
    now = tracks[tracks["frame"] == 6]
    dots = _series(values, "tracks in frame 6")
    assert dots["track_id"] == now["track_id"].tolist()
    _close(dots["x"], (now["x_px"].to_numpy() + 0.5) * PIXEL_UM)
    _close(dots["y"], (now["y_px"].to_numpy() + 0.5) * PIXEL_UM)


def test_lineage_numbers(measured: dict) -> None:
    """Bars span each track's frames ± half a frame (min); the division sits at the mother's end."""
    tracks, values = measured["tracks"], measured["values"]["lineage"]
    bars = _series(values, "tracks")
    assert bars["units"] == "min" and sorted(bars["track_id"]) == sorted(tracks["track_id"].unique().tolist())
    frames = tracks.groupby("track_id")["frame"]
    _close(bars["start"], (frames.min().loc[bars["track_id"]].to_numpy() - 0.5) * INTERVAL_MIN)
    _close(bars["end"], (frames.max().loc[bars["track_id"]].to_numpy() + 0.5) * INTERVAL_MIN)
    divisions = _series(values, "divisions")
    assert divisions["parent"] == [1]
    _close(divisions["time"], [(tracks.loc[tracks["track_id"] == 1, "frame"].max() + 0.5) * INTERVAL_MIN])


def _pooled_msd(tracks: pd.DataFrame) -> dict[int, list[float]]:
    """Squared displacements (µm²) by lag (frames) of every track's pairs of positions, each track up to
    lag max(n // 4, min(3, n - 1)) with n its number of positions."""
    by_lag: dict[int, list[float]] = {}
    for _, rows in tracks.groupby("track_id"):
        position = {int(f): (y, x) for f, y, x in zip(rows["frame"], rows["y_um"], rows["x_um"], strict=True)}
        n = len(position)
        for lag in range(1, max(n // 4, min(3, n - 1)) + 1):
            for f, (y, x) in position.items():
                if f + lag in position:
                    y2, x2 = position[f + lag]
                    by_lag.setdefault(lag, []).append((y2 - y) ** 2 + (x2 - x) ** 2)
    return by_lag


def test_msd_numbers(measured: dict) -> None:
    """Ensemble and per-track MSD of the tracks that enter statistics (short track 5 left out)."""
    tracks, values = measured["tracks"], measured["values"]["msd"]
    tracks = tracks[tracks.groupby("track_id")["frame"].transform("size") >= MIN_TRACK_FRAMES]
    assert sorted(tracks["track_id"].unique()) == [1, 2, 3, 4]
    ensemble = _series(values, "ensemble")
    assert (ensemble["x_units"], ensemble["y_units"]) == ("min", "µm²")
    pooled = _pooled_msd(tracks)
    _close(ensemble["x"], [lag * INTERVAL_MIN for lag in sorted(pooled)])
    _close(ensemble["y"], [np.mean(pooled[lag]) for lag in sorted(pooled)])
    for track_id, rows in tracks.groupby("track_id"):
        own = _pooled_msd(rows)
        if len(own) < 2:
            continue
        series = _series(values, f"track {track_id}")
        _close(series["x"], [lag * INTERVAL_MIN for lag in sorted(own)])
        _close(series["y"], [np.mean(own[lag]) for lag in sorted(own)])


def test_overlay_and_montage_numbers(measured: dict) -> None:
    labels = measured["labels"]
    (panel,) = measured["values"]["overlay"]["series"]
    assert panel["frame"] == 6 and panel["extent_units"] == "µm"
    assert panel["labels"] == sorted(set(np.unique(labels[6]).tolist()) - {0})
    _close(panel["extent"], [0.0, labels.shape[2] * PIXEL_UM, labels.shape[1] * PIXEL_UM, 0.0])
    montage = measured["values"]["montage"]["series"]
    assert [p["frame"] for p in montage] == [0, 3, 7, 9]
    assert [p["n_objects"] for p in montage] == [np.unique(labels[t][labels[t] > 0]).size for t in (0, 3, 7, 9)]


def test_normalization_figure_numbers(measured: dict, family: dict) -> None:
    values, table = measured["values"], measured["percentiles"]
    movie = table[table["frame"] == -1].iloc[0]
    for name in ("raw", "normalized"):
        samples = family["samples"][name]
        series = _series(values["intensity"], name)
        counts, edges = np.histogram(samples, bins=100, range=(samples.min(), samples.max()))
        _close(series["counts"], counts)
        _close(series["bin_edges"], edges)
    _close(_series(values["intensity"], "raw")["marked"], [movie["low_value"], movie["high_value"]])
    for channel in (0, 1):
        rows = table[(table["channel"] == channel) & (table["frame"] >= 0)].sort_values("frame")
        for level in ("high", "low"):
            series = _series(values["normalization percentiles"], f"channel {channel} {level}")
            assert (series["x_units"], series["y_units"]) == ("min", "raw intensity")
            _close(series["x"], rows["frame"].to_numpy() * INTERVAL_MIN)
            _close(series["y"], rows[f"{level}_value"].to_numpy())


def test_evaluation_figure_numbers(measured: dict, family: dict) -> None:
    segmentation = measured["values"]["segmentation evaluation"]
    for key, label in (("average_precision", "average precision"), ("precision", "precision"),
                       ("recall", "recall"), ("f1", "F1")):
        series = _series(segmentation, label)
        _close(series["x"], EVALUATION["segmentation"]["iou_thresholds"])
        _close(series["y"], EVALUATION["segmentation"][key])
    per_frame = pd.DataFrame(EVALUATION["counts"]["per_frame"])
    counts = measured["values"]["count evaluation"]
    for name, expected in (("ground truth", per_frame["n_true"]), ("predicted", per_frame["n_predicted"]),
                           ("error", per_frame["n_predicted"] - per_frame["n_true"])):
        series = _series(counts, name)
        _close(series["x"], per_frame["frame"] * 2.0)
        _close(series["y"], expected)

    rows = [summary_row(name, measured["counts"], measured["cells"], measured["track_summary"], evaluation=evaluation)
            for name, evaluation in (("b", EVALUATION), ("a", None))]
    bars = _figure_values(build_summary_report(rows))["summary evaluation"]
    seg = _series(bars, "SEG")
    assert seg["sample"] == ["b"]
    _close(seg["height"], [EVALUATION["ctc"]["SEG"]])
    _close(_series(bars, "AP50")["height"], [EVALUATION["segmentation"]["average_precision"][0]])


def test_a_figure_carries_at_most_its_cap_of_whole_series() -> None:
    """600 tracks over 100 frames (120,000 coordinates): the trajectories carry the overlay frame's dots and
    whole trajectories up to 100,000 numbers, and count the trajectories left out."""
    walks = _random_walks(600, 100, seed=2)
    tracks = _valid_tracks(walks.assign(y_px=walks["y_um"] + 50.0, x_px=walks["x_um"] + 50.0, parent=0))
    metrics = summarize_tracks(None, tracks, INTERVAL_MIN)
    (values,) = _figure_values(_trajectories_body(tracks, metrics, None, 3, PIXEL_UM)).values()
    dots, *trajectories = values["series"]
    assert dots["name"] == "tracks in frame 3" and len(dots["x"]) == 600
    assert values["series_left_out"] == 600 - len(trajectories) > 0
    assert sum(len(s["x"]) + len(s["y"]) for s in trajectories) <= 100_000
    for series in trajectories:
        rows = tracks[tracks["track_id"] == series["track_id"]]
        _close(series["x"], (rows["x_px"].to_numpy() + 0.5) * PIXEL_UM)


def test_division_counts_are_read_from_track_metrics(family: dict) -> None:
    """The summary row, the summary card and the lineage caption show measure's ``n_divisions`` and
    ``root`` (track_metrics.parquet); the report does not count parents again."""
    metrics = family["track_summary"].assign(n_divisions=[2, 0, 0, 0], root=[1, 1, 1, 1])
    assert summary_row("x", family["counts"], family["cells"], metrics)["n_divisions"] == 2
    html_text = build_sample_report(
        "x", family["counts"], family["cells"], metrics, None, None, 0, family["percentiles"], {},
        pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN, tracks=family["tracks"], lineage=family["lineage"],
    )
    assert '<div class="k">divisions</div><div class="v">2</div>' in _section_html(html_text, "summary")
    assert "2 division(s) in 4 tracks and 1 family." in _section_html(html_text, "lineage")
