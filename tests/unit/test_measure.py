"""Tests of cellpipe.measure on small synthetic label movies with known geometry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from skimage.draw import disk, ellipse

from cellpipe.config import MeasureSettings
from cellpipe.measure import (
    COUNTS_COLUMNS,
    MSD_COLUMNS,
    TRACK_SUMMARY_COLUMNS,
    cell_columns,
    counts_per_frame,
    ensemble_msd,
    measure_cells,
    msd_curves,
    summarize_tracks,
)

PIXEL_UM = 0.5
INTERVAL_MIN = 2.0


def _tracks(rows: list[tuple[int, int, int]], **extra: list) -> pd.DataFrame:
    """Tracks table from (frame, track_id, label) rows, other columns filled with plain defaults."""
    df = pd.DataFrame(rows, columns=["frame", "track_id", "label"])
    df["y_px"] = 0.0
    df["x_px"] = 0.0
    df["y_um"] = 0.0
    df["x_um"] = 0.0
    df["parent"] = 0
    df["root"] = df["track_id"]
    df["generation"] = 0
    for key, values in extra.items():
        df[key] = values
    return df


def _disk_movie(radius: float = 20, centre: tuple[int, int] = (50, 60), shape: tuple[int, int] = (128, 128)):
    labels = np.zeros((1, *shape), dtype=np.uint32)
    rr, cc = disk(centre, radius, shape=shape)
    labels[0, rr, cc] = 1
    return labels


def test_disk_area_centroid_shape() -> None:
    labels = _disk_movie()
    image = np.ones((1, 1, 128, 128), dtype=np.uint16)
    cells = measure_cells(labels, image, None, PIXEL_UM, INTERVAL_MIN, MeasureSettings())

    assert len(cells) == 1
    row = cells.iloc[0]
    expected_px = math.pi * 20**2
    assert row["area_px"] == pytest.approx(expected_px, rel=0.02)
    assert row["area_um2"] == pytest.approx(expected_px * PIXEL_UM**2, rel=0.02)
    assert row["area_um2"] == row["area_px"] * PIXEL_UM**2
    assert row["centroid_y_um"] == pytest.approx(50 * PIXEL_UM)
    assert row["centroid_x_um"] == pytest.approx(60 * PIXEL_UM)
    assert row["eccentricity"] < 0.05
    assert row["solidity"] > 0.95
    assert row["perimeter_um"] == pytest.approx(2 * math.pi * 20 * PIXEL_UM, rel=0.05)
    assert row["frame"] == 0 and row["time_min"] == 0.0 and row["label"] == 1
    assert pd.isna(row["track_id"])


def test_ellipse_eccentricity() -> None:
    labels = np.zeros((1, 100, 100), dtype=np.uint32)
    rr, cc = ellipse(50, 50, 10, 20)  # semi-axes 10 px (rows) and 20 px (columns)
    labels[0, rr, cc] = 4
    image = np.zeros((1, 1, 100, 100), dtype=np.float32)
    cells = measure_cells(labels, image, None, 1.0, 1.0, MeasureSettings())
    assert cells.loc[0, "eccentricity"] == pytest.approx(math.sqrt(1 - (10 / 20) ** 2), abs=0.02)
    assert cells.loc[0, "area_px"] == pytest.approx(math.pi * 10 * 20, rel=0.03)


def test_intensities_two_channels() -> None:
    labels = np.zeros((1, 6, 8), dtype=np.uint32)
    labels[0, 1:3, 1:4] = 1  # 6 px
    labels[0, 4:6, 5:8] = 2  # 6 px
    constant = np.full((6, 8), 7, dtype=np.uint16)
    ramp = np.arange(48, dtype=np.uint16).reshape(6, 8)
    image = np.stack([constant, ramp])[np.newaxis]  # (1, 2, 6, 8)

    cells = measure_cells(labels, image, None, 1.0, 1.0, MeasureSettings(channel_names=["GFP", "RFP"]))

    for name in ("GFP", "RFP"):
        assert f"mean_intensity_{name}" in cells.columns
        assert f"integrated_intensity_{name}" in cells.columns
    # Constant channel: mean is the constant, integrated is mean * area.
    assert cells["mean_intensity_GFP"].tolist() == [7.0, 7.0]
    assert cells["integrated_intensity_GFP"].tolist() == [42.0, 42.0]
    # Ramp channel: hand-computed sums of the pixel values inside each mask.
    sum1 = 9 + 10 + 11 + 17 + 18 + 19
    sum2 = 37 + 38 + 39 + 45 + 46 + 47
    assert cells["integrated_intensity_RFP"].tolist() == [float(sum1), float(sum2)]
    assert cells["mean_intensity_RFP"].tolist() == pytest.approx([sum1 / 6, sum2 / 6])
    assert list(cells.columns) == list(cell_columns(["GFP", "RFP"]))


def test_default_channel_names_and_single_channel_movie() -> None:
    labels = _disk_movie(radius=5, centre=(10, 10), shape=(20, 20))
    four_d = measure_cells(labels, np.ones((1, 3, 20, 20)), None, 1.0, 1.0, MeasureSettings())
    assert [c for c in four_d.columns if c.startswith("mean_intensity_")] == [
        "mean_intensity_ch0",
        "mean_intensity_ch1",
        "mean_intensity_ch2",
    ]
    three_d = measure_cells(labels, np.ones((1, 20, 20)), None, 1.0, 1.0, MeasureSettings())
    assert three_d["integrated_intensity_ch0"].tolist() == [float(three_d.loc[0, "area_px"])]


def test_channel_name_validation() -> None:
    labels = _disk_movie(radius=5, centre=(10, 10), shape=(20, 20))
    with pytest.raises(ValueError, match="channel names"):
        measure_cells(labels, np.ones((1, 2, 20, 20)), None, 1.0, 1.0, MeasureSettings(channel_names=["a"]))
    with pytest.raises(ValidationError):
        MeasureSettings(channel_names=["a", "a"])
    with pytest.raises(ValidationError):
        MeasureSettings(unknown=1)  # type: ignore[call-arg]


def test_shape_and_unit_checks() -> None:
    labels = _disk_movie(radius=5, centre=(10, 10), shape=(20, 20))
    with pytest.raises(ValueError, match="do not match"):
        measure_cells(labels, np.ones((1, 1, 20, 21)), None, 1.0, 1.0, MeasureSettings())
    with pytest.raises(ValueError, match="pixel_size_um"):
        measure_cells(labels, np.ones((1, 1, 20, 20)), None, 0.0, 1.0, MeasureSettings())


def test_track_id_mapping_and_row_order() -> None:
    labels = np.zeros((2, 30, 30), dtype=np.uint32)
    labels[0, 2:6, 2:6] = 5
    labels[0, 20:24, 20:24] = 2
    labels[1, 3:7, 3:7] = 1
    labels[1, 20:25, 20:25] = 9  # not in the tracks table
    image = np.zeros((2, 1, 30, 30))
    tracks = _tracks([(0, 11, 5), (0, 12, 2), (1, 11, 1), (1, 99, 3)])  # (1, 3) has no object: ignored

    cells = measure_cells(labels, image, tracks, 1.0, INTERVAL_MIN, MeasureSettings())

    assert cells[["frame", "label"]].values.tolist() == [[0, 2], [0, 5], [1, 1], [1, 9]]
    assert str(cells["track_id"].dtype) == "Int64"
    assert cells["track_id"].tolist()[:3] == [12, 11, 11]
    assert pd.isna(cells["track_id"].iloc[3])
    assert cells["time_min"].tolist() == [0.0, 0.0, 2.0, 2.0]
    assert cells["area_px"].tolist() == [16, 16, 16, 25]


def test_empty_movies_keep_schema() -> None:
    settings = MeasureSettings(channel_names=["GFP"])
    schema = cell_columns(["GFP"])
    no_frames = measure_cells(
        np.zeros((0, 8, 8), np.uint32), np.zeros((0, 1, 8, 8)), None, 1.0, 1.0, settings
    )
    no_objects = measure_cells(
        np.zeros((3, 8, 8), np.uint32), np.zeros((3, 1, 8, 8)), _tracks([]), 1.0, 1.0, settings
    )
    for empty in (no_frames, no_objects):
        assert len(empty) == 0
        assert list(empty.columns) == list(schema)
        assert {c: str(t) for c, t in empty.dtypes.items()} == {c: str(t) for c, t in schema.items()}


def _moving_disk(n_frames: int = 5, step_px: int = 3) -> tuple[np.ndarray, pd.DataFrame]:
    labels = np.zeros((n_frames, 40, 60), dtype=np.uint32)
    rows = []
    for t in range(n_frames):
        rr, cc = disk((20, 10 + step_px * t), 4, shape=(40, 60))
        labels[t, rr, cc] = 1
        rows.append((t, 7, 1))
    return labels, _tracks(rows)


def test_summarize_straight_path() -> None:
    labels, tracks = _moving_disk()
    cells = measure_cells(labels, np.ones((5, 1, 40, 60)), tracks, PIXEL_UM, INTERVAL_MIN, MeasureSettings())
    summary = summarize_tracks(cells, tracks, INTERVAL_MIN)

    assert list(summary.columns) == list(TRACK_SUMMARY_COLUMNS)
    assert len(summary) == 1
    row = summary.iloc[0]
    assert (row["track_id"], row["first_frame"], row["last_frame"], row["n_frames"]) == (7, 0, 4, 5)
    assert row["duration_min"] == 8.0
    assert row["displacement_um"] == pytest.approx(4 * 3 * PIXEL_UM)  # 6 µm
    assert row["path_length_um"] == pytest.approx(6.0)
    assert row["mean_speed_um_per_min"] == pytest.approx(0.75)
    assert row["straightness"] == 1.0
    assert row["mean_area_um2"] == pytest.approx(cells["area_um2"].mean())


def test_summarize_lineage_zigzag_and_single_frame() -> None:
    # Track 1 zigzags 0 -> (0, 3) -> (4, 3) µm; tracks 2 and 3 are its daughters.
    cells = pd.DataFrame(
        {
            "frame": [0, 1, 2, 3, 3],
            "track_id": pd.array([1, 1, 1, 2, 3], dtype="Int64"),
            "centroid_y_um": [0.0, 0.0, 4.0, 5.0, 6.0],
            "centroid_x_um": [0.0, 3.0, 3.0, 3.0, 3.0],
            "area_um2": [10.0, 12.0, 14.0, 6.0, 8.0],
        }
    )
    tracks = _tracks(
        [(0, 1, 1), (1, 1, 1), (2, 1, 1), (3, 2, 1), (3, 3, 2)],
        parent=[0, 0, 0, 1, 1],
        root=[1, 1, 1, 1, 1],
        generation=[0, 0, 0, 1, 1],
    )
    summary = summarize_tracks(cells, tracks, 5.0).set_index("track_id")

    assert summary.loc[1, "path_length_um"] == pytest.approx(7.0)
    assert summary.loc[1, "displacement_um"] == pytest.approx(5.0)
    assert summary.loc[1, "straightness"] == pytest.approx(5.0 / 7.0)
    assert summary.loc[1, "mean_speed_um_per_min"] == pytest.approx(7.0 / 10.0)
    assert summary.loc[1, "mean_area_um2"] == pytest.approx(12.0)
    assert summary.loc[[2, 3], "parent"].tolist() == [1, 1]
    assert summary.loc[[2, 3], "root"].tolist() == [1, 1]
    assert summary.loc[[2, 3], "generation"].tolist() == [1, 1]
    # Single-frame daughters: zero duration, no speed or straightness.
    assert summary.loc[2, "duration_min"] == 0.0
    assert summary.loc[2, "path_length_um"] == 0.0
    assert np.isnan(summary.loc[2, "mean_speed_um_per_min"])
    assert np.isnan(summary.loc[2, "straightness"])


def test_summarize_uses_tracker_position_in_gaps() -> None:
    # Frame 1 has no measured cell (a gap the tracker bridged): its y_um/x_um are used.
    cells = pd.DataFrame(
        {
            "frame": [0, 2],
            "track_id": pd.array([4, 4], dtype="Int64"),
            "centroid_y_um": [0.0, 0.0],
            "centroid_x_um": [0.0, 0.0],
            "area_um2": [1.0, 1.0],
        }
    )
    tracks = _tracks([(0, 4, 1), (1, 4, 0), (2, 4, 1)])
    tracks.loc[1, ["y_um", "x_um"]] = [3.0, 4.0]
    row = summarize_tracks(cells, tracks, 1.0).iloc[0]
    assert row["path_length_um"] == pytest.approx(10.0)
    assert row["displacement_um"] == 0.0
    assert row["straightness"] == 0.0
    assert row["n_frames"] == 3


def test_summarize_empty() -> None:
    empty_cells = measure_cells(
        np.zeros((2, 8, 8), np.uint32), np.zeros((2, 1, 8, 8)), None, 1.0, 1.0, MeasureSettings()
    )
    summary = summarize_tracks(empty_cells, _tracks([]), 1.0)
    assert len(summary) == 0
    assert list(summary.columns) == list(TRACK_SUMMARY_COLUMNS)
    assert str(summary["track_id"].dtype) == "int64"


def test_counts_per_frame_includes_empty_frames() -> None:
    cells = pd.DataFrame({"frame": [0, 0, 2, 2, 2]})
    counts = counts_per_frame(cells, 5, 1.5)
    assert counts["frame"].tolist() == [0, 1, 2, 3, 4]
    assert counts["time_min"].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert counts["n_cells"].tolist() == [2, 0, 3, 0, 0]
    assert counts_per_frame(cells.iloc[:0], 3, 1.0)["n_cells"].tolist() == [0, 0, 0]
    assert len(counts_per_frame(cells.iloc[:0], 0, 1.0)) == 0
    with pytest.raises(ValueError, match="frames"):
        counts_per_frame(cells, 2, 1.0)


def _positions(track_id: int, frames: list[int], y: list[float], x: list[float]) -> pd.DataFrame:
    """Tracks table of one track with the given frames and positions (µm)."""
    table = _tracks([(f, track_id, 1) for f in frames])
    table["y_um"] = np.asarray(y, dtype=float)
    table["x_um"] = np.asarray(x, dtype=float)
    return table


def test_msd_straight_path_at_constant_speed() -> None:
    # 3 µm in y and 4 µm in x per frame: 5 µm per frame, so MSD(τ) = (5τ)² µm².
    frames = list(range(12))
    tracks = _positions(3, frames, [3.0 * f for f in frames], [4.0 * f for f in frames])
    row = summarize_tracks(None, tracks, INTERVAL_MIN).iloc[0]
    assert row["msd_1_um2"] == pytest.approx(25.0, rel=1e-12)
    assert abs(row["msd_exponent"] - 2.0) < 1e-9

    curves = msd_curves(tracks, INTERVAL_MIN, max_lag_frames=11)
    assert list(curves.columns) == list(MSD_COLUMNS)
    assert curves["lag_frames"].tolist() == list(range(1, 12))
    assert curves["lag_min"].tolist() == [2.0 * lag for lag in range(1, 12)]
    assert curves["n_pairs"].tolist() == [12 - lag for lag in range(1, 12)]
    np.testing.assert_allclose(curves["msd_um2"], [(5.0 * lag) ** 2 for lag in range(1, 12)], rtol=1e-12)
    # Default lags: 1 .. max(12 // 4, min(3, 11)) = 1 .. 3.
    assert msd_curves(tracks, INTERVAL_MIN)["lag_frames"].tolist() == [1, 2, 3]


def test_msd_circular_path() -> None:
    radius, omega = 5.0, 0.3  # µm, rad per frame
    frames = np.arange(20)
    tracks = _positions(1, frames.tolist(), radius * np.sin(omega * frames), radius * np.cos(omega * frames))
    curves = msd_curves(tracks, 1.0, max_lag_frames=8)
    lags = np.arange(1, 9)
    assert curves["lag_frames"].tolist() == lags.tolist()
    assert curves["n_pairs"].tolist() == (20 - lags).tolist()
    expected = 2 * radius**2 * (1 - np.cos(omega * lags))
    np.testing.assert_allclose(curves["msd_um2"].to_numpy(), expected, rtol=0, atol=1e-9)


def test_msd_counts_lags_on_frame_numbers_across_gaps() -> None:
    # Frame 3 is missing; x = 2 µm per frame, so every pair τ frames apart is (2τ)² µm².
    frames = [0, 1, 2, 4, 5]
    tracks = _positions(8, frames, [0.0] * 5, [2.0 * f for f in frames])
    curves = msd_curves(tracks, 1.0, max_lag_frames=6)
    # lag 1: (0,1) (1,2) (4,5); lag 2: (0,2) (2,4); lag 3: (1,4) (2,5); lag 4: (0,4) (1,5); lag 5: (0,5)
    assert curves["lag_frames"].tolist() == [1, 2, 3, 4, 5]
    assert curves["n_pairs"].tolist() == [3, 2, 2, 2, 1]
    np.testing.assert_allclose(curves["msd_um2"], [4.0, 16.0, 36.0, 64.0, 100.0], rtol=1e-12)
    row = summarize_tracks(None, tracks, 1.0).iloc[0]
    assert row["msd_1_um2"] == pytest.approx(4.0)
    assert abs(row["msd_exponent"] - 2.0) < 1e-9  # lags 1..3 (5 positions)
    # a frame without a finite position counts as missing, and a second row of one (track, frame) is ignored
    unmeasured = _positions(8, [0, 1, 2, 3, 4, 5, 1], [0.0] * 6 + [50.0], [0.0, 2.0, 4.0, np.nan, 8.0, 10.0, 50.0])
    pd.testing.assert_frame_equal(msd_curves(unmeasured, 1.0, max_lag_frames=6), curves)

    # No two positions one frame apart: no lag-1 MSD; lags 2 and 4 only: too few lags to fit.
    sparse = _positions(9, [0, 2, 4], [0.0] * 3, [0.0, 1.0, 3.0])
    row = summarize_tracks(None, sparse, 1.0).iloc[0]
    assert np.isnan(row["msd_1_um2"])
    assert np.isnan(row["msd_exponent"])
    assert msd_curves(sparse, 1.0)["lag_frames"].tolist() == [2]  # default lags 1..2


def test_msd_exponent_hand_computed_and_undefined_cases() -> None:
    # x = 0, 1, 3, 6 µm: MSD(1) = (1 + 4 + 9) / 3, MSD(2) = (9 + 25) / 2, MSD(3) = 36.
    tracks = _positions(2, [0, 1, 2, 3], [0.0] * 4, [0.0, 1.0, 3.0, 6.0])
    lags = np.array([1.0, 2.0, 3.0])
    msd = np.array([14.0 / 3.0, 17.0, 36.0])
    log_lag, log_msd = np.log(lags), np.log(msd)
    slope = np.sum((log_lag - log_lag.mean()) * (log_msd - log_msd.mean())) / np.sum((log_lag - log_lag.mean()) ** 2)
    row = summarize_tracks(None, tracks, 1.0).iloc[0]
    assert row["msd_exponent"] == pytest.approx(slope, rel=1e-12)
    assert row["msd_1_um2"] == pytest.approx(14.0 / 3.0)

    # A cell that does not move has MSD 0: no exponent.  Three positions give two lags: no exponent.
    still = _positions(5, [0, 1, 2, 3, 4], [1.0] * 5, [1.0] * 5)
    short = _positions(6, [0, 1, 2], [0.0, 1.0, 2.0], [0.0] * 3)
    single = _positions(7, [4], [0.0], [0.0])
    summary = summarize_tracks(None, pd.concat([still, short, single]), 1.0).set_index("track_id")
    assert summary.loc[5, "msd_1_um2"] == 0.0
    assert np.isnan(summary.loc[5, "msd_exponent"])
    assert summary.loc[6, "msd_1_um2"] == 1.0
    assert np.isnan(summary.loc[6, "msd_exponent"])
    assert np.isnan(summary.loc[7, "msd_1_um2"]) and np.isnan(summary.loc[7, "msd_exponent"])


def test_msd_of_simulated_diffusion_has_exponent_near_one() -> None:
    # 2D random walk, N(0, 1 µm) steps per axis per frame: MSD(τ) = 2 τ µm² on average.
    rng = np.random.default_rng(0)
    n_tracks, n_positions = 200, 41
    steps = rng.normal(0.0, 1.0, size=(n_tracks, n_positions - 1, 2))
    walk = np.concatenate([np.zeros((n_tracks, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
    tracks = pd.DataFrame(
        {
            "track_id": np.repeat(np.arange(1, n_tracks + 1), n_positions),
            "frame": np.tile(np.arange(n_positions), n_tracks),
            "y_um": walk[..., 0].ravel(),
            "x_um": walk[..., 1].ravel(),
        }
    )
    summary = summarize_tracks(None, tracks, 1.0)
    assert summary["msd_exponent"].notna().all()
    assert summary["msd_exponent"].mean() == pytest.approx(1.0, abs=0.1)
    assert summary["msd_1_um2"].mean() == pytest.approx(2.0, rel=0.05)

    pooled = ensemble_msd(tracks, 1.0)
    assert list(pooled.columns) == list(MSD_COLUMNS)
    assert (pooled["track_id"] == 0).all()
    assert pooled["lag_frames"].tolist() == list(range(1, 11))  # 41 // 4 = 10 lags per track
    assert pooled["n_pairs"].tolist() == [n_tracks * (n_positions - lag) for lag in range(1, 11)]
    np.testing.assert_allclose(pooled["msd_um2"], 2.0 * pooled["lag_frames"], rtol=0.06)
    alpha = np.polyfit(np.log(pooled["lag_frames"]), np.log(pooled["msd_um2"]), 1)[0]
    assert alpha == pytest.approx(1.0, abs=0.05)


def test_ensemble_msd_pools_pairs_of_all_tracks() -> None:
    # Track 1 moves 1 µm per frame, track 2 moves 3 µm per frame, 4 positions each.
    one = _positions(1, [0, 1, 2, 3], [0.0] * 4, [0.0, 1.0, 2.0, 3.0])
    two = _positions(2, [0, 1, 2, 3], [0.0, 3.0, 6.0, 9.0], [0.0] * 4)
    pooled = ensemble_msd(pd.concat([one, two]), 5.0, max_lag_frames=2)
    assert pooled["lag_frames"].tolist() == [1, 2]
    assert pooled["lag_min"].tolist() == [5.0, 10.0]
    assert pooled["n_pairs"].tolist() == [6, 4]
    assert pooled["msd_um2"].tolist() == pytest.approx([(3 * 1 + 3 * 9) / 6, (2 * 4 + 2 * 36) / 4])


def test_divisions_and_cell_cycle() -> None:
    # Mother 1 (frames 0-4) divides into 2 and 3 (frames 5-12); 2 divides into 4 and 5 (frame 13).
    # Track 6 is a root whose two children appear in different frames (7 at 2, 8 at 3): one division.
    # Track 9 continues as its lone child 10 (a track split at a gap): no division, no cycle for 10's
    # child pair 11, 12 since 10 was not born by a division.
    rows, parent = [], []
    for track, first, last, mother in [
        (1, 0, 4, 0), (2, 5, 12, 1), (3, 5, 12, 1), (4, 13, 13, 2), (5, 13, 13, 2),
        (6, 0, 1, 0), (7, 2, 3, 6), (8, 3, 3, 6),
        (9, 0, 2, 0), (10, 3, 6, 9), (11, 7, 7, 10), (12, 7, 7, 10),
    ]:  # fmt: skip
        for frame in range(first, last + 1):
            rows.append((frame, track, track))
            parent.append(mother)
    tracks = _tracks(rows, parent=parent)
    summary = summarize_tracks(None, tracks, 3.0).set_index("track_id")

    assert summary["n_children"].to_dict() == {
        1: 2, 2: 2, 3: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 0, 9: 1, 10: 2, 11: 0, 12: 0
    }  # fmt: skip
    assert summary["n_divisions"].to_dict() == {
        1: 1, 2: 1, 3: 0, 4: 0, 5: 0, 6: 1, 7: 0, 8: 0, 9: 0, 10: 1, 11: 0, 12: 0
    }  # fmt: skip
    # Only track 2 is both born by and ends with a division: (13 - 5) frames × 3 min.
    assert summary.loc[2, "cell_cycle_min"] == 24.0
    assert summary["cell_cycle_min"].drop(2).isna().all()
    assert str(summary["n_children"].dtype) == "int64" and str(summary["n_divisions"].dtype) == "int64"


def test_divisions_without_lineage_columns() -> None:
    tracks = _tracks([(0, 1, 1), (1, 1, 1), (1, 2, 2)]).drop(columns=["parent", "root", "generation"])
    summary = summarize_tracks(None, tracks, 1.0)
    assert summary["n_children"].tolist() == [0, 0]
    assert summary["n_divisions"].tolist() == [0, 0]
    assert summary["cell_cycle_min"].isna().all()


def test_counts_density_per_mm2() -> None:
    cells = pd.DataFrame({"frame": [0, 0, 2]})
    field_area_um2 = 512 * 512 * 0.5**2  # 65536 µm² = 0.065536 mm²
    counts = counts_per_frame(cells, 3, 1.0, field_area_um2=field_area_um2)
    assert list(counts.columns) == list(COUNTS_COLUMNS)
    assert counts["density_per_mm2"].tolist() == pytest.approx([2 / 0.065536, 0.0, 1 / 0.065536], rel=1e-12)
    assert counts["density_per_mm2"].tolist()[0] == pytest.approx(30.517578125)
    assert counts_per_frame(cells, 3, 1.0)["density_per_mm2"].isna().all()
    with pytest.raises(ValueError, match="field_area_um2"):
        counts_per_frame(cells, 3, 1.0, field_area_um2=0.0)


def test_new_metrics_on_empty_tables() -> None:
    summary = summarize_tracks(None, _tracks([]), 1.0)
    assert len(summary) == 0 and list(summary.columns) == list(TRACK_SUMMARY_COLUMNS)
    for column, dtype in [("msd_1_um2", "float64"), ("msd_exponent", "float64"), ("n_children", "int64"),
                          ("n_divisions", "int64"), ("cell_cycle_min", "float64")]:  # fmt: skip
        assert str(summary[column].dtype) == dtype
    for table in (msd_curves(_tracks([]), 1.0), ensemble_msd(_tracks([]), 1.0), msd_curves(None, 1.0, 3)):
        assert len(table) == 0
        assert {c: str(t) for c, t in table.dtypes.items()} == {
            "track_id": "int64", "lag_frames": "int64", "lag_min": "float64", "msd_um2": "float64", "n_pairs": "int64"
        }  # fmt: skip
    counts = counts_per_frame(pd.DataFrame({"frame": []}), 0, 1.0, field_area_um2=100.0)
    assert len(counts) == 0 and list(counts.columns) == list(COUNTS_COLUMNS)
    assert str(counts["density_per_mm2"].dtype) == "float64"
    with pytest.raises(ValueError, match="max_lag_frames"):
        msd_curves(_tracks([]), 1.0, max_lag_frames=0)


def test_short_tracks_are_flagged_and_left_out_of_cell_cycles() -> None:
    """Mother 1 (frames 0-4) divides into 2 and 3 (frames 5-12); 2 divides into 4 and 5 (frames 13-15);
    6 is a 2-frame flicker moving 3 µm per frame.  With the default (3 frames) only 6 is 'short': it
    keeps its row and measurements; track 2's cell cycle is (13 - 5) x 2 min.  With
    min_track_frames 9 every track is excluded and 2 has no cell-cycle time; with 1, none is."""
    rows, parent = [], []
    for track, first, last, mother in [
        (1, 0, 4, 0), (2, 5, 12, 1), (3, 5, 12, 1), (4, 13, 15, 2), (5, 13, 15, 2), (6, 7, 8, 0),
    ]:  # fmt: skip
        for frame in range(first, last + 1):
            rows.append((frame, track, track))
            parent.append(mother)
    tracks = _tracks(rows, parent=parent)
    tracks.loc[tracks["track_id"] == 6, "x_um"] = [10.0, 13.0]
    tracks.loc[tracks["track_id"] == 6, "y_um"] = [50.0, 50.0]
    summary = summarize_tracks(None, tracks, 2.0).set_index("track_id")
    assert summary["excluded"].to_dict() == {1: "", 2: "", 3: "", 4: "", 5: "", 6: "short"}
    assert summary.loc[6, "n_frames"] == 2 and summary.loc[6, "path_length_um"] == pytest.approx(3.0)
    assert summary.loc[2, "cell_cycle_min"] == 16.0 and summary["cell_cycle_min"].drop(2).isna().all()

    strict = summarize_tracks(None, tracks, 2.0, min_track_frames=9).set_index("track_id")
    assert (strict["excluded"] == "short").all()  # 5, 8, 8, 3, 3 and 2 frames
    assert strict["cell_cycle_min"].isna().all()
    assert strict["n_divisions"].to_dict() == summary["n_divisions"].to_dict()  # lineage is not touched
    everything = summarize_tracks(None, tracks, 2.0, min_track_frames=1)
    assert (everything["excluded"] == "").all() and len(everything) == 6
    with pytest.raises(ValueError, match="min_track_frames"):
        summarize_tracks(None, tracks, 2.0, min_track_frames=0)


def test_a_non_square_movie_keeps_y_and_x_apart_through_segment_track_and_measure() -> None:
    """A simulated movie 48 px high and 80 px wide goes through normalize, classical segmentation, btrack and
    measure_cells.  Every simulated nucleus, in every frame, is found: the measured cell nearest to it and that
    cell's track point lie within 1.5 px of its true centroid in y and, separately, in x (µm compared, the true
    centroid being the mean row and column of the simulator's mask, in px times the pixel size)."""
    import json
    from pathlib import Path

    from cellpipe.config import NormalizeSettings, SegmentSettings, TrackSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.segment import segment_cells
    from cellpipe.simulate import make_nuclei_movie
    from cellpipe.track import track_cells

    height, width = 48, 80
    sim = make_nuclei_movie(n_frames=6, shape=(height, width), seed=1)
    px = sim.pixel_size_um
    normalized = np.asarray(normalize_movie(sim.image[:, np.newaxis], NormalizeSettings())[0])[:, 0]
    labels, _ = segment_cells(normalized, SegmentSettings(), px)
    assert labels.shape == (sim.image.shape[0], height, width)
    tracker_config = json.loads((Path(__file__).resolve().parents[2] / "resources" / "tracker" / "cellpipe_tracker.json").read_text())
    tracked = track_cells(labels, TrackSettings(), tracker_config, px, sim.frame_interval_min)
    cells = measure_cells(labels, sim.image, tracked.tracks, px, sim.frame_interval_min, MeasureSettings())
    points = cells.merge(tracked.tracks[["frame", "label", "y_um", "x_um"]], on=["frame", "label"], how="left")
    assert points["y_um"].notna().all()  # every segmented cell is on a track
    tolerance_um = 1.5 * px
    n_checked = 0
    for t in range(sim.image.shape[0]):
        found = points[points["frame"] == t]
        for cell_id in np.unique(sim.labels[t])[1:]:
            rows, cols = np.nonzero(sim.labels[t] == cell_id)
            true_y, true_x = rows.mean() * px, cols.mean() * px
            nearest = found.iloc[int(np.argmin(np.hypot(found["centroid_y_um"] - true_y, found["centroid_x_um"] - true_x)))]
            where = f"frame {t} cell {cell_id} at y {true_y:.2f}, x {true_x:.2f} µm"
            assert abs(nearest["centroid_y_um"] - true_y) <= tolerance_um, where
            assert abs(nearest["centroid_x_um"] - true_x) <= tolerance_um, where
            assert abs(nearest["y_um"] - true_y) <= tolerance_um, where
            assert abs(nearest["x_um"] - true_x) <= tolerance_um, where
            n_checked += 1
    # nuclei spread over the whole width: a position with y and x swapped would lie outside the 48 px height
    assert n_checked >= 12 and (cells["centroid_x_um"] > height * px).any()


def test_fit_msd_exponent_of_a_power_law_and_too_few_points() -> None:
    """The exponent the report states for the ensemble curve: the slope of log MSD on log lag over the
    points with lag and MSD above 0."""
    from cellpipe.measure import fit_msd_exponent

    lag = np.array([5.0, 10.0, 20.0, 40.0])
    assert fit_msd_exponent(lag, 3.0 * lag**1.5) == pytest.approx(1.5)
    assert fit_msd_exponent(np.r_[0.0, lag], np.r_[1.0, 2.0 * lag]) == pytest.approx(1.0)  # lag 0 left out
    assert fit_msd_exponent(lag, [0.0, 0.0, 0.0, 4.0]) is None  # one point above 0
    assert fit_msd_exponent([5.0, 5.0], [1.0, 2.0]) is None  # one distinct lag
