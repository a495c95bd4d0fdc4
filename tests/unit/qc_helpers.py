"""The segmentation, tracking and count records the QC tests (test_qc.py, report/test_report_qc.py) assess."""

from __future__ import annotations

import pandas as pd

from cellpipe.config import QCSettings
from cellpipe.qc import assess_quality

FRAME_SHAPE = (50, 60)  # (height, width) px
DIAMETER_PX = 10.0  # margin: 5 px


def qc_segmentation(removed: list[dict[str, int]] | None = None, probabilities: list[float] | None = None) -> dict:
    """segmentation.json of 4 frames with 10 objects each; frame 0 lost 1 too_small, frame 2 lost 2 low_contrast."""
    removed = removed or [{"too_small": 1}, {}, {"low_contrast": 2}, {}]
    rows = []
    for t, gone in enumerate(removed):
        row = {"frame": t, "objects": 10, "too_small": 0, "too_large": 0, "low_contrast": 0, "touches_border": 0}
        row.update(gone)
        if probabilities is not None:
            row["mean_cell_probability"] = probabilities[t]
        rows.append(row)
    return {
        "method": "cellpose",
        "diameter_px": DIAMETER_PX,
        "diameter_source": "settings",
        "object_filters": {"settings": {}, "diameter_px": DIAMETER_PX, "per_frame": rows, "removed": {}},
    }


TRACKING = {
    "n_tracks": 4, "n_divisions": 2, "n_divisions_rejected": 3, "divisions_rejected": {"size": 2, "lag": 1},
    "min_track_frames": 3, "n_short_tracks": 1, "median_diameter_px": 9.0,
}


def qc_tracks() -> pd.DataFrame:
    """Four tracks in a 50 x 60 px frame: 1 reaches x = 3 px (near the left edge), 4 reaches y = 44
    (49 - 44 = 5 px = half the diameter: near), 2 stays in the middle, 3 keeps 6 px from the bottom right."""
    rows = [
        (0, 1, 25.0, 30.0), (1, 1, 25.0, 3.0),
        (0, 2, 25.0, 30.0), (1, 2, 26.0, 31.0),
        (0, 3, 43.0, 53.0), (1, 3, 42.0, 52.0),
        (0, 4, 40.0, 20.0), (1, 4, 44.0, 20.0),
    ]
    return pd.DataFrame(rows, columns=["frame", "track_id", "y_px", "x_px"])


def qc_metrics(short: int = 1) -> pd.DataFrame:
    return pd.DataFrame({
        "track_id": [1, 2, 3, 4], "n_frames": [2, 2, 2, 2], "parent": [0, 0, 0, 0], "n_divisions": [0, 0, 0, 0],
        "mean_speed_um_per_min": [1.0, 1.0, 1.0, 1.0], "excluded": ["short"] * short + [""] * (4 - short),
    })


def qc_counts(n: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"frame": range(len(n)), "time_min": [5.0 * t for t in range(len(n))], "n_cells": n})


def assess(settings: QCSettings | None = None, **overrides) -> dict:
    inputs = {
        "segmentation": qc_segmentation(),
        "tracking": TRACKING,
        "tracks": qc_tracks(),
        "track_metrics": qc_metrics(),
        "counts": qc_counts([10, 10, 11, 10]),
        "frame_shape_yx": FRAME_SHAPE,
        "settings": settings or QCSettings(),
    }
    inputs.update(overrides)
    return assess_quality(**inputs)
