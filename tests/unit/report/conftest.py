"""Fixtures of the report tests: tiny synthetic movies measured by cellpipe.measure, and their report pages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from cellpipe.config import MeasureSettings
from cellpipe.measure import counts_per_frame, measure_cells, msd_table, summarize_tracks
from cellpipe.report import (
    build_sample_report,
)

from .report_helpers import (
    EVALUATION,
    INTERVAL_MIN,
    MIN_TRACK_FRAMES,
    PIXEL_UM,
    figure_values,
    percentile_table,
    tracks_table,
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
        "percentiles": percentile_table(n_frames),
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
    tracks = tracks_table(rows)
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
        msd=msd_table(family["tracks"], INTERVAL_MIN, family["track_summary"]),
        lineage=family["lineage"],
        montage=[(t, family["images"][t], family["labels"][t]) for t in (0, 3, 6, 9)],
        intensity_samples=family["samples"],
        evaluation=EVALUATION,
    )


@pytest.fixture(scope="module")
def measured(family: dict) -> dict:
    """The family movie plus a 2-frame track 5, measured by cellpipe.measure, and its report.

    The cells, track and count tables are the real ones (measure_cells, summarize_tracks with
    MIN_TRACK_FRAMES, counts_per_frame); the percentile table has per-frame rows too.
    """
    tracks = pd.concat(
        [family["tracks"], tracks_table([(f, 5, 8.0, 50.0 + f, 0, 5, 0) for f in (7, 8)])], ignore_index=True
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
        msd=msd_table(tracks, INTERVAL_MIN, inputs["track_summary"]), lineage=family["lineage"],
        montage=[(t, family["images"][t], labels[t]) for t in (0, 3, 7, 9)],
        intensity_samples=family["samples"], evaluation=EVALUATION,
    )
    return {**inputs, "tracks": tracks, "labels": labels, "html": html_text, "values": figure_values(html_text)}
