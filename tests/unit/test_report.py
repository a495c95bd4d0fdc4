"""Tests of cellpipe.report: self-contained HTML with real, non-blank embedded figures."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.draw import disk

from cellpipe.measure import MeasureSettings, counts_per_frame, measure_cells, summarize_tracks
from cellpipe.report import (
    HEADLINE_KEYS,
    NO_CELLS_MESSAGE,
    _count_divisions,
    _evaluation_body,
    _lineage_body,
    _montage_body,
    _msd_body,
    _parent_map,
    _track_info,
    _valid_tracks,
    build_sample_report,
    build_summary_report,
    provenance_view,
    summary_row,
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
    track_summary = pd.DataFrame(
        {"track_id": [1, 2, 3, 4], "parent": [0, 1, 1, 0], "n_frames": [5, 5, 5, 10],
         "mean_speed_um_per_min": [0.5, 1.1, 1.1, 0.75]}
    )
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
    body = _lineage_body(no_parents, None, INTERVAL_MIN)
    assert "No divisions were found in the 4 tracks." in body
    assert len(_decoded_pngs(body)) == 1
    # The lineage table alone is enough to link the daughters.
    info = _track_info(_valid_tracks(no_parents))
    assert _parent_map(info, family["lineage"]) == {2: 1, 3: 1}
    assert _count_divisions(_parent_map(info, family["lineage"]).values()) == 1
    assert _count_divisions([5, 0, 7, 7]) == 1  # 5 has a single daughter: it continues the track


def test_lineage_caps_the_number_of_families() -> None:
    rows = [(f, t, 10.0, 10.0, 0, t, 0) for t in range(1, 61) for f in range(2)]
    rows += [(f, 100, 5.0, 5.0, 0, 100, 0) for f in range(3)]
    rows += [(f, c, 5.0, 5.0, 100, 100, 1) for c in (101, 102) for f in range(3, 6)]
    body = _lineage_body(_tracks_table(rows), None, INTERVAL_MIN)
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
