"""Tests of cellpipe.steps.measure: the measure_cells rule's tables written from an OME-Zarr movie on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from cellpipe.io import omezarr, tables
from cellpipe.measure import MSD_TABLE_COLUMNS
from cellpipe.steps.measure import measure_cells_step

PIXEL_UM = 0.5
INTERVAL_MIN = 5.0
N_FRAMES = 8
SHAPE = (40, 48)  # px


def _movie(root: Path) -> dict[str, Path]:
    """Two disks moving 2 px (1 µm) per frame, one along x, one along y, for 8 frames, and a third
    (stationary, frames 3 and 4 only) that ``min_track_frames`` = 3 excludes; their image, labels and tracks."""
    labels = np.zeros((N_FRAMES, *SHAPE), dtype=np.uint32)
    image = np.full((N_FRAMES, 1, *SHAPE), 10.0, dtype=np.float32)
    rows = []
    for t in range(N_FRAMES):
        centres = {1: (8.0, 6.0 + 2 * t), 2: (10.0 + 2 * t, 38.0)}
        if t in (3, 4):
            centres[3] = (32.0, 10.0)
        for label, (y, x) in centres.items():
            rr, cc = disk((y, x), 3, shape=SHAPE)
            labels[t, rr, cc] = label
            image[t, 0, rr, cc] = 100.0
            rows.append((t, t * INTERVAL_MIN, label, label, y, x, y * PIXEL_UM, x * PIXEL_UM, 0, label, 0))
    tracks = pd.DataFrame(rows, columns=["frame", "time_min", "track_id", "label", "y_px", "x_px", "y_um", "x_um",
                                         "parent", "root", "generation"])
    paths = {"image": root / "image.ome.zarr", "labels": root / "cells.ome.zarr", "tracks": root / "tracks.parquet"}
    omezarr.write_ome_image(paths["image"], image, "tcyx", PIXEL_UM, INTERVAL_MIN)
    omezarr.write_ome_image(paths["labels"], labels, "tyx", PIXEL_UM, INTERVAL_MIN, name="cells")
    tables.write_parquet(tracks, paths["tracks"])
    return paths


def test_measure_cells_step_writes_the_msd_of_the_passing_tracks(tmp_path: Path) -> None:
    """1 µm per frame in a straight line: MSD = lag² µm² at lags 1-3 frames (5-15 min), pooled over the two
    8-frame tracks (2 × (8 - lag) pairs) and per track, exponent 2; the short track enters none of it."""
    movie = _movie(tmp_path)
    out = {name: tmp_path / name for name in ("cells.parquet", "track_metrics.parquet", "counts.tsv", "msd.parquet")}
    measure_cells_step(movie["labels"], movie["image"], movie["tracks"], {"min_track_frames": 3}, out["cells.parquet"],
                       out["track_metrics.parquet"], out["counts.tsv"], msd=out["msd.parquet"])

    msd = tables.read_parquet(out["msd.parquet"])
    assert tuple(msd.columns) == MSD_TABLE_COLUMNS
    lags = np.array([1, 2, 3])
    ensemble = msd[msd["track_id"] == 0]
    assert ensemble["lag_frames"].tolist() == lags.tolist()
    np.testing.assert_allclose(ensemble["lag_min"], lags * INTERVAL_MIN)
    np.testing.assert_allclose(ensemble["msd_um2"], lags.astype(float) ** 2)
    assert ensemble["n_pairs"].tolist() == (2 * (N_FRAMES - lags)).tolist()
    np.testing.assert_allclose(ensemble["msd_exponent"], 2.0)
    for track_id in (1, 2):
        own = msd[msd["track_id"] == track_id]
        assert own["lag_frames"].tolist() == lags.tolist()
        np.testing.assert_allclose(own["msd_um2"], lags.astype(float) ** 2)
        assert own["n_pairs"].tolist() == (N_FRAMES - lags).tolist()
        assert own["msd_exponent"].isna().all()  # each track's own α is track_metrics' msd_exponent
    assert set(msd["track_id"]) == {0, 1, 2}  # track 3 (2 frames) is excluded

    metrics = tables.read_parquet(out["track_metrics.parquet"]).set_index("track_id")
    assert metrics["excluded"].to_dict() == {1: "", 2: "", 3: "short"}
    assert metrics.loc[1, "msd_1_um2"] == pytest.approx(1.0, rel=0.05)  # from the measured centroids
    cells = tables.read_parquet(out["cells.parquet"])
    assert len(cells) == 2 * N_FRAMES + 2 and cells["track_id"].notna().all()
    np.testing.assert_allclose(cells.loc[cells["track_id"] == 1, "centroid_x_um"].diff().dropna(), 1.0, atol=1e-9)
    assert tables.read_tsv(out["counts.tsv"])["n_cells"].tolist() == [2, 2, 2, 3, 3, 2, 2, 2]
