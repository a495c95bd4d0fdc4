"""Shared data and checks of the report tests: tiny synthetic movies' constants, page parsing, figure numbers."""

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


def percentile_table(n_frames: int) -> pd.DataFrame:
    rows = [(0, -1, 1.0, 99.8, 10.0, 200.0)]
    rows += [(0, t, 1.0, 99.8, 10.0 + t, 200.0 - 5 * t) for t in range(n_frames)]
    return pd.DataFrame(
        rows, columns=["channel", "frame", "low_percentile", "high_percentile", "low_value", "high_value"]
    )


def decoded_pngs(html_text: str) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")) for b64 in PNG_RE.findall(html_text)
    ]


def section_html(html_text: str, anchor: str) -> str:
    """The HTML of the section with id ``anchor``."""
    start = html_text.index(f'<section id="{anchor}">')
    return html_text[start : html_text.index("</section>", start)]


def assert_self_contained(html_text: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html_text, flags=re.IGNORECASE)
    assert "<script" not in html_text.lower()
    assert "<link" not in html_text.lower()
    assert "@import" not in html_text


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


def tracks_table(rows: list[tuple]) -> pd.DataFrame:
    """Tracks from ``(frame, track_id, y_px, x_px, parent, root, generation)`` at PIXEL_UM and INTERVAL_MIN."""
    return pd.DataFrame(
        [
            (f, f * INTERVAL_MIN, t, t, y, x, y * PIXEL_UM, x * PIXEL_UM, p, r, g)
            for f, t, y, x, p, r, g in rows
        ],
        columns=TRACK_COLUMNS,
    )


def random_walks(n_tracks: int, n_steps: int, seed: int) -> pd.DataFrame:
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


def fitted_exponent(body: str) -> float:
    match = re.search(r"Fitted exponent α = ([0-9.]+)", body)
    assert match, body
    return float(match.group(1))


#: Tracks with fewer frames are flagged excluded='short' in the measured fixture below.
MIN_TRACK_FRAMES = 3


class FigureValues(HTMLParser):
    """Collects the ``data-values`` attribute of every ``<figure>`` as an HTML parser reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.found.append(dict(attrs).get("data-values"))


def figure_values(html_text: str) -> dict[str, dict]:
    """The ``data-values`` JSON of every figure, by figure name."""
    parser = FigureValues()
    parser.feed(html_text)
    parser.close()
    out = {}
    for raw in parser.found:
        assert raw is not None
        values = json.loads(raw)
        assert values["figure"] not in out, values["figure"]
        out[values["figure"]] = values
    return out


def series_named(values: dict, name: str) -> dict:
    matches = [s for s in values["series"] if s["name"] == name]
    assert len(matches) == 1, (name, [s["name"] for s in values["series"]])
    return matches[0]


def assert_close(actual: list, expected: np.ndarray | list) -> None:
    """The carried numbers (7 significant digits) equal ``expected``."""
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9)


def assert_histogram_of(series: dict, values: np.ndarray) -> None:
    """``series`` is a histogram of exactly ``values``: every value in a bin, the counts, the median."""
    edges = np.asarray(series["bin_edges"])
    assert np.all(np.diff(edges) > 0)
    assert edges[0] == pytest.approx(values.min(), rel=1e-6) and edges[-1] == pytest.approx(values.max(), rel=1e-6)
    assert sum(series["counts"]) == values.size
    # The carried edges are rounded to 7 digits: the smallest and largest value may sit just outside them.
    assert_close(series["counts"], np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0])
    assert series["median"] == pytest.approx(float(np.median(values)), rel=1e-6)


def path_speeds(cells: pd.DataFrame, min_frames: int) -> dict[int, float]:
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


def pooled_msd(tracks: pd.DataFrame) -> dict[int, list[float]]:
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
