"""Tests of cellpipe.report: self-contained HTML with real, non-blank embedded figures."""

from __future__ import annotations

import base64
import io
import re
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.draw import disk

from cellpipe.measure import MeasureSettings, counts_per_frame, measure_cells, summarize_tracks
from cellpipe.report import (
    NO_CELLS_MESSAGE,
    build_sample_report,
    build_summary_report,
    collect_versions,
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
    "Normalization percentiles",
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
    kwargs = dict(
        counts=movie["counts"],
        cells=movie["cells"],
        track_summary=movie["track_summary"],
        overlay_image=movie["image"][0, 0],
        overlay_frame=0,
        percentiles=movie["percentiles"],
        provenance={},
    )
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
        "empty", counts, cells, summary, np.zeros((16, 16)), np.zeros((16, 16), np.uint32), 0, _percentiles(0), {}
    )
    assert NO_CELLS_MESSAGE in html_text
    assert "No tracks were found." in html_text
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
    assert rows[0] == {"sample": "b sample", "n_frames": 4, "n_cells": 12, "n_tracks": 3, "mean_cells_per_frame": 3.0}
    html_text = build_summary_report(rows)
    assert 'href="b%20sample/report.html"' in html_text
    assert 'href="a%3Cx%3E/report.html"' in html_text
    assert "a&lt;x&gt;" in html_text and "a<x>" not in html_text
    assert html_text.index("a&lt;x&gt;") < html_text.index(">b sample<")  # sorted by sample
    assert "3.00" in html_text  # mean cells per frame
    _assert_self_contained(html_text)
    assert "No samples were processed." in build_summary_report([])


def test_collect_versions() -> None:
    versions = collect_versions()
    for name in ("numpy", "scikit-image", "pandas", "cellpose", "torch", "btrack", "zarr", "cellpipe"):
        assert name in versions
    assert versions["numpy"] == metadata.version("numpy") == np.__version__
    assert versions["pandas"] == pd.__version__


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
