"""A tiny results folder with known cells and tracks, written with cellpipe's own writers, and checks
that napari layers made from a results folder agree with each other (tests/napari, tests/workflow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellpipe.config import MeasureSettings
from cellpipe.io import omezarr, tables
from cellpipe.measure import measure_cells
from cellpipe.steps.export import export_tracks_step

PIXEL_UM = 0.65
FRAME_MIN = 2.5  # not a whole number of minutes: napari's Tracks layer rounds data times to integers
SHAPE = (64, 80)
RADIUS = 5


@dataclass(frozen=True)
class TinyResults:
    folder: Path
    tracks: pd.DataFrame  # track_id, frame, y_px, x_px, parent
    n_frames: int


def _tiny_tracks() -> pd.DataFrame:
    """Track 1 moves right, 2 stays, 3 divides after frame 2 into 4 (up) and 5 (down); 6 frames."""
    rows = []
    for t in range(6):
        rows.append((1, t, 14.0, 12.0 + 4 * t, 0))
        rows.append((2, t, 48.0, 16.0, 0))
        if t <= 2:
            rows.append((3, t, 36.0, 56.0, 0))
        else:
            rows.append((4, t, 36.0 - 4 * (t - 2), 58.0, 3))
            rows.append((5, t, 36.0 + 4 * (t - 2), 58.0, 3))
    return pd.DataFrame(rows, columns=["track_id", "frame", "y_px", "x_px", "parent"])


def write_tiny_results(folder: Path, sample: str = "tiny") -> TinyResults:
    """``folder`` laid out as ``results/<sample>/`` with the files the napari reader reads."""
    tracks = _tiny_tracks()
    n_frames = int(tracks["frame"].max()) + 1
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    movie = np.zeros((n_frames, 1, *SHAPE), np.uint16)
    cells = np.zeros((n_frames, *SHAPE), np.uint16)
    tracked = np.zeros((n_frames, *SHAPE), np.uint32)
    labelled = []  # (track_id, frame, cells label)
    for t, frame in tracks.groupby("frame"):
        for label, row in enumerate(frame.itertuples(index=False), start=1):
            labelled.append((row.track_id, t, label))
            disk = (yy - row.y_px) ** 2 + (xx - row.x_px) ** 2 <= RADIUS**2
            movie[t, 0][disk] = 1000 + 100 * row.track_id
            cells[t][disk] = label  # segmentation labels: per frame, not track ids
            tracked[t][disk] = row.track_id
    movie += 100
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / "image.ome.zarr"
    omezarr.write_ome_image(image, movie, "tcyx", PIXEL_UM, FRAME_MIN, channel_names=["nuclei"], name=sample)
    omezarr.write_ome_image(image / "labels" / "cells", cells, "tyx", PIXEL_UM, FRAME_MIN, name="cells", label_of=image)
    omezarr.write_ome_image(image / "labels" / "tracks", tracked, "tyx", PIXEL_UM, FRAME_MIN, name="tracks",
                            label_of=image)
    omezarr.write_labels_group(image, ["cells", "tracks"])
    table = tracks.assign(y_um=tracks["y_px"] * PIXEL_UM, x_um=tracks["x_px"] * PIXEL_UM)
    tables.write_parquet(table, folder / "tracks.parquet")
    export_tracks_step(image / "labels" / "tracks", folder / "tracks.parquet", None,
                       folder / "tracks_napari.csv", folder / "tracks_napari_graph.json", None)
    metrics = tracks.groupby("track_id").agg(parent=("parent", "first"), first_frame=("frame", "min"),
                                             last_frame=("frame", "max"), n_frames=("frame", "size")).reset_index()
    metrics["duration_min"] = (metrics["last_frame"] - metrics["first_frame"]) * FRAME_MIN
    tables.write_parquet(metrics, folder / "track_metrics.parquet")
    # cells.parquet as the measure stage writes it; the object of track 2 at frame 5 belongs to no track
    lookup = pd.DataFrame(labelled, columns=["track_id", "frame", "label"])
    lookup = lookup[~((lookup["track_id"] == 2) & (lookup["frame"] == 5))]
    cell_table = measure_cells(cells, movie, lookup, PIXEL_UM, FRAME_MIN, MeasureSettings(channel_names=["nuclei"]))
    tables.write_parquet(cell_table, folder / "cells.parquet")
    tables.write_tsv(pd.DataFrame({"channel": [0], "frame": [-1], "low_percentile": [1.0], "high_percentile": [99.8],
                                   "low_value": [100.0], "high_value": [1600.0]}), folder / "normalization.tsv")
    return TinyResults(folder, tracks, n_frames)


def by_name(layers) -> dict:
    return {layer.name: layer for layer in layers}


def check_cells_fall_in_their_labels(points_layer, labels_layer) -> int:
    """Each point of the cells' Points layer, taken to world coordinates (minutes, µm) by that layer and
    back to data coordinates (frames, px) by the ``cells`` labels layer, lands on a pixel whose value is
    its own row's ``label`` in that frame; returns how many points were checked."""
    labels = labels_layer.data[0] if labels_layer.multiscale else labels_layer.data
    features = points_layer.features
    for row, (frame, label) in zip(np.asarray(points_layer.data), features[["frame", "label"]].to_numpy(), strict=True):
        index = np.round(labels_layer.world_to_data(points_layer.data_to_world(row))).astype(int)
        assert index[0] == frame, (row, index)
        value = int(np.asarray(labels[tuple(index)]))
        assert value == int(label), f"frame {frame}: cell {label} at {row} lies on label {value}"
    return len(features)


def check_tracks_fall_in_their_labels(tracks_layer, labels_layer, frames) -> int:
    """Each track point of ``frames``, taken to world coordinates by the Tracks layer and back to data
    coordinates by the labels layer, lands on a pixel whose value is its own track id; returns how
    many points were checked."""
    data = np.asarray(tracks_layer.data)
    labels = labels_layer.data[0] if labels_layer.multiscale else labels_layer.data
    checked = 0
    for t in frames:
        rows = data[np.round(data[:, 1]).astype(int) == t]
        assert len(rows), f"no track points at frame {t}"
        for row in rows:
            world = tracks_layer.data_to_world(row[1:])
            index = np.round(labels_layer.world_to_data(world)).astype(int)
            assert index[0] == t, (row, world, index)
            value = int(np.asarray(labels[tuple(index)]))
            assert value == int(row[0]), f"frame {t}: track {int(row[0])} at {world} lies on label {value}"
            checked += 1
    return checked


def assert_screenshot_shows_something(viewer) -> None:
    """The viewer's canvas, grabbed as an RGB(A) image, is larger than 50x50 px and is neither one colour
    nor a handful of them (a broken OpenGL context or an empty scene gives a flat image)."""
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot.shape[0] > 50 and shot.shape[1] > 50, shot.shape
    rgb = shot[..., :3].reshape(-1, 3)
    assert rgb.std() > 5, "blank screenshot"
    assert len(np.unique(rgb, axis=0)) > 10, "screenshot has almost no distinct colours"
