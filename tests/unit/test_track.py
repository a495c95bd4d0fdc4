"""Tests of cellpipe.track: btrack on small synthetic label movies built in memory."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from skimage.draw import disk

from cellpipe.config import TrackSettings
from cellpipe.layout import DEFAULT_OME_ZARR_VERSION, OME_ZARR_METADATA
from cellpipe.track import LINEAGE_COLUMNS, TRACK_COLUMNS, track_cells, tracker_configuration

OME_META = OME_ZARR_METADATA[DEFAULT_OME_ZARR_VERSION]
"""The metadata file of an OME-Zarr store as the rules declare it (cellpipe.layout)."""

CONFIG_PATH = Path(__file__).resolve().parents[2] / "resources" / "tracker" / "cellpipe_tracker.json"
PIXEL_UM = 0.5
INTERVAL_MIN = 4.0

# (t) -> list of (label, (y, x, radius)) drawn into frame t
Scene = Callable[[int], list[tuple[int, tuple[float, float, float]]]]


def draw(n_frames: int, shape: tuple[int, int], scene: Scene) -> np.ndarray:
    labels = np.zeros((n_frames, *shape), dtype=np.uint32)
    for t in range(n_frames):
        for lbl, (y, x, r) in scene(t):
            rr, cc = disk((y, x), r, shape=shape)
            labels[t, rr, cc] = lbl
    return labels


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads(CONFIG_PATH.read_text())


# three disks in straight lines; the label values are shuffled every frame
LINES = [((20.0, 20.0), (0.0, 3.0)), ((60.0, 100.0), (2.0, -2.0)), ((105.0, 30.0), (-2.0, 2.5))]
N_LINE_FRAMES = 10


def line_position(i: int, t: int) -> tuple[float, float]:
    (y0, x0), (vy, vx) = LINES[i]
    return y0 + vy * t, x0 + vx * t


def lines_scene(t: int) -> list[tuple[int, tuple[float, float, float]]]:
    order = np.random.default_rng(t).permutation(3)
    return [(int(order[i]) + 1 + 10 * t % 7, (*line_position(i, t), 6.0)) for i in range(3)]


@pytest.fixture(scope="module")
def lines_movie() -> np.ndarray:
    return draw(N_LINE_FRAMES, (128, 140), lines_scene)


@pytest.fixture(scope="module")
def lines_result(lines_movie: np.ndarray, config: dict):
    return track_cells(lines_movie, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)


def test_config_file_loads_in_btrack(config: dict) -> None:
    with warnings.catch_warnings():  # pydantic deprecations raised while btrack defines its models
        warnings.simplefilter("ignore", DeprecationWarning)
        from btrack.config import TrackerConfig, load_config

    cfg = load_config(CONFIG_PATH)
    assert cfg.motion_model.states == 6 and cfg.motion_model.measurements == 3
    assert cfg.motion_model.Q.shape == (6, 6)
    assert "P_branch" in cfg.hypothesis_model.hypotheses
    run_cfg = TrackerConfig(**tracker_configuration(config, TrackSettings(), PIXEL_UM))
    assert run_cfg.max_search_radius == pytest.approx(20.0 / PIXEL_UM)
    assert run_cfg.hypothesis_model.dist_thresh == pytest.approx(20.0 / PIXEL_UM)


def test_three_disks_give_three_full_tracks(lines_result, lines_movie: np.ndarray) -> None:
    tracks = lines_result.tracks
    assert list(tracks.columns) == list(TRACK_COLUMNS)
    assert sorted(tracks["track_id"].unique()) == [1, 2, 3]
    assert len(lines_result.lineage) == 0
    for track_id, trk in tracks.groupby("track_id"):
        assert trk["frame"].tolist() == list(range(N_LINE_FRAMES))
        # which disk does it follow?  the one nearest its first position; then every frame must match it
        first = trk.iloc[0]
        disk_i = int(np.argmin([np.hypot(first.y_px - line_position(i, 0)[0], first.x_px - line_position(i, 0)[1]) for i in range(3)]))
        expected = np.array([line_position(disk_i, t) for t in range(N_LINE_FRAMES)])
        np.testing.assert_allclose(trk[["y_px", "x_px"]].to_numpy(), expected, atol=0.5)
        np.testing.assert_allclose(trk[["y_um", "x_um"]].to_numpy(), trk[["y_px", "x_px"]].to_numpy() * PIXEL_UM)
        np.testing.assert_allclose(trk["time_min"].to_numpy(), trk["frame"].to_numpy() * INTERVAL_MIN)
        # the label column is the segmentation label at that position in that frame
        for row in trk.itertuples():
            assert lines_movie[row.frame, round(row.y_px), round(row.x_px)] == row.label
        assert (trk["parent"] == 0).all() and (trk["root"] == track_id).all() and (trk["generation"] == 0).all()
    # ids are numbered by first frame, then y, then x
    firsts = tracks.groupby("track_id")["y_px"].first()
    assert firsts.is_monotonic_increasing


# three disks circling slowly (radius 3 px, one turn in about 31 frames) around fixed centres (px)
CIRCLING = [(30.0, 30.0), (80.0, 90.0), (40.0, 110.0)]


def circling_position(i: int, t: int) -> tuple[float, float]:
    y0, x0 = CIRCLING[i]
    return y0 + 3.0 * np.sin(t / 5.0), x0 + 3.0 * np.cos(t / 5.0)


# btrack 0.7.0 on its own (its BayesianTracker.track too) leaves the last frame unlinked when the frame
# count is 3 more than a multiple of the frames per step (7 at 2, 103 at 100, 3 at any step); those cases
# and their neighbours, one step short and one step over.
@pytest.mark.parametrize(
    "step_size, n_frames",
    [(1, 3), (1, 5), (2, 2 * 2 + 2), (2, 2 * 2 + 3), (2, 2 * 2 + 4), (3, 3), (100, 102), (100, 103), (100, 104)],
)
def test_linking_some_frames_per_step_keeps_every_frame(config: dict, step_size: int, n_frames: int) -> None:
    """btrack linking ``step_size`` frames per step (track.step_size): each of three circling disks is one
    track through every frame, at its drawn centre (within 0.5 px in y and in x) across the steps' boundaries."""
    labels = draw(n_frames, (128, 140), lambda t: [(i + 1, (*circling_position(i, t), 6.0)) for i in range(3)])
    result = track_cells(labels, TrackSettings(step_size=step_size), config, PIXEL_UM, INTERVAL_MIN)
    tracks = result.tracks
    assert sorted(tracks["track_id"].unique()) == [1, 2, 3] and len(result.lineage) == 0
    for _, trk in tracks.groupby("track_id"):
        assert trk["frame"].tolist() == list(range(n_frames))
        disk_i = int(np.argmin([np.hypot(trk.iloc[0].y_px - y, trk.iloc[0].x_px - x) for y, x in CIRCLING]))
        for row in trk.itertuples():
            y, x = circling_position(disk_i, row.frame)
            assert abs(row.y_px - y) <= 0.5 and abs(row.x_px - x) <= 0.5, (disk_i, row.frame)


def test_relabelled_pixels_carry_track_ids(lines_result, lines_movie: np.ndarray) -> None:
    rel = lines_result.relabelled
    assert rel.dtype == np.uint32 and rel.shape == lines_movie.shape
    np.testing.assert_array_equal(rel > 0, lines_movie > 0)
    for row in lines_result.tracks.itertuples():
        obj = lines_movie[row.frame] == row.label
        assert np.all(rel[row.frame][obj] == row.track_id)
    assert set(np.unique(rel)) - {0} == set(lines_result.tracks["track_id"])


def test_deterministic_and_independent_of_label_values(lines_result, lines_movie: np.ndarray, config: dict) -> None:
    again = track_cells(lines_movie, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    pd.testing.assert_frame_equal(again.tracks, lines_result.tracks)
    pd.testing.assert_frame_equal(again.lineage, lines_result.lineage)
    np.testing.assert_array_equal(again.relabelled, lines_result.relabelled)
    # other label numbers, same objects: same track ids in the same pixels
    shifted = np.where(lines_movie > 0, lines_movie * 3 + 100, 0).astype(np.uint32)
    other = track_cells(shifted, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    np.testing.assert_array_equal(other.relabelled, lines_result.relabelled)


def division_scene(t: int) -> list[tuple[int, tuple[float, float, float]]]:
    """One disk moving right for 5 frames, then two daughters moving apart vertically."""
    x = 40.0 + 2.0 * t
    if t < 5:
        return [(1, (64.0, x, 9.0))]
    d = 7.0 + 3.0 * (t - 5)
    return [(2, (64.0 + d, x, 6.5)), (1, (64.0 - d, x, 6.5))]


def test_division_gives_parent_and_two_children(config: dict) -> None:
    labels = draw(10, (128, 128), division_scene)
    res = track_cells(labels, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    tracks = res.tracks
    per_track = tracks.groupby("track_id").agg(
        first=("frame", "min"), last=("frame", "max"), n=("frame", "size"),
        parent=("parent", "first"), root=("root", "first"), generation=("generation", "first"), y=("y_px", "last"),
    )
    assert per_track.index.tolist() == [1, 2, 3]
    mother = per_track.loc[1]
    assert (mother["first"], mother["last"], mother["n"], mother["parent"], mother["generation"]) == (0, 4, 5, 0, 0)
    children = per_track.loc[[2, 3]]
    assert children["first"].tolist() == [5, 5] and children["last"].tolist() == [9, 9] and children["n"].tolist() == [5, 5]
    assert children["parent"].tolist() == [1, 1] and children["root"].tolist() == [1, 1]
    assert children["generation"].tolist() == [1, 1]
    # each child follows one daughter: one ends above the mother's row, the other below
    assert sorted(np.sign(children["y"] - 64.0).tolist()) == [-1.0, 1.0]
    assert list(res.lineage.columns) == list(LINEAGE_COLUMNS)
    assert res.lineage.to_dict("list") == {"parent": [1, 1], "child": [2, 3], "division_frame": [5, 5]}
    assert res.info["n_divisions"] == 1 and res.info["n_tracks"] == 3
    assert res.info["n_divisions_rejected"] == 0 and res.info["n_short_tracks"] == 0  # btrack's division passes


def test_the_division_distance_follows_the_cells_diameter(config: dict) -> None:
    """The same division at 2.5 µm per px: cells 32-45 µm across whose daughters start 17.5 µm from the
    mother. Kept by default (one median diameter, a daughter's, 32 µm); with division_max_distance_um (15 µm)
    alone the distance check undoes it."""
    labels = draw(10, (128, 128), division_scene)
    res = track_cells(labels, TrackSettings(), config, 2.5, INTERVAL_MIN)
    daughter_px = np.count_nonzero(labels[5] == 2)
    assert res.info["median_diameter_um"] == pytest.approx(2.0 * np.sqrt(daughter_px / np.pi) * 2.5, abs=1e-3)
    assert res.info["division_max_distance_used_um"] == res.info["median_diameter_um"]
    assert res.info["median_diameter_px"] == pytest.approx(res.info["median_diameter_um"] / 2.5, abs=1e-3)
    assert res.info["n_divisions"] == 1 and res.info["n_divisions_rejected"] == 0

    alone = track_cells(labels, TrackSettings(division_max_distance_diameters=None), config, 2.5, INTERVAL_MIN)
    assert alone.info["division_max_distance_used_um"] == 15.0
    assert alone.info["n_divisions"] == 0 and alone.info["divisions_rejected"]["distance"] == 1
    # at 0.5 µm per px (cells 6.5-9 µm) 15 µm is the larger: the setting changes nothing
    small = track_cells(labels, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    assert small.info["division_max_distance_used_um"] == 15.0 and small.info["n_divisions"] == 1


def test_divisions_off_gives_no_lineage(config: dict) -> None:
    labels = draw(10, (128, 128), division_scene)
    res = track_cells(labels, TrackSettings(divisions=False), config, PIXEL_UM, INTERVAL_MIN)
    assert len(res.lineage) == 0
    assert (res.tracks["parent"] == 0).all() and (res.tracks["generation"] == 0).all()
    assert (res.tracks["root"] == res.tracks["track_id"]).all()
    assert len(res.tracks) == 5 + 2 * 5  # every object still tracked


def test_small_fragments_are_dropped(config: dict) -> None:
    def scene(t: int) -> list[tuple[int, tuple[float, float, float]]]:
        cells = [(1, (40.0, 30.0 + 2 * t, 7.0)), (2, (90.0, 100.0 - 2 * t, 7.0))]
        # a fragment of 9 px (2.25 µm² at 0.5 µm/px) in a different place every frame
        frag = [(3, (15.0 + 9 * t, 120.0 - 7 * t, 1.5))]
        return cells + frag

    labels = draw(8, (128, 128), scene)
    assert ((labels == 3).sum(axis=(1, 2)) == 9).all()
    res = track_cells(labels, TrackSettings(min_area_um2=10.0), config, PIXEL_UM, INTERVAL_MIN)
    assert 3 not in set(res.tracks["label"])
    assert res.tracks["track_id"].nunique() == 2
    assert res.tracks.groupby("track_id").size().tolist() == [8, 8]
    assert not res.relabelled[labels == 3].any()
    # with no minimum area the fragments are tracked objects too
    res_all = track_cells(labels, TrackSettings(min_area_um2=0.0), config, PIXEL_UM, INTERVAL_MIN)
    assert (res_all.tracks["label"] == 3).sum() == 8
    assert res_all.relabelled[labels == 3].all()
    # the bound is an area: 4 µm² is 16 px at 0.5 µm/px, still above the fragments' 9 px
    res_4 = track_cells(labels, TrackSettings(min_area_um2=4.0), config, PIXEL_UM, INTERVAL_MIN)
    assert 3 not in set(res_4.tracks["label"])


def test_disconnected_label_is_one_object(config: dict) -> None:
    labels = draw(6, (96, 96), lambda t: [(1, (48.0, 30.0 + 2 * t, 7.0))])
    labels[:, 80:84, 80:84] = 1  # a stray piece of the same label (16 px = 4 µm²)
    res = track_cells(labels, TrackSettings(min_area_um2=0.0), config, PIXEL_UM, INTERVAL_MIN)
    assert len(res.tracks) == 6 and res.tracks["track_id"].nunique() == 1
    np.testing.assert_allclose(res.tracks["y_px"], 48.0, atol=0.5)  # the largest piece's centroid
    assert (res.relabelled[labels == 1] == 1).all()


def test_search_radius_limits_links(config: dict) -> None:
    # a still disk that jumps 15 px (7.5 µm) between frames 4 and 5
    labels = draw(10, (128, 128), lambda t: [(1, (64.0, 50.0 if t < 5 else 65.0, 7.0))])
    near = track_cells(labels, TrackSettings(max_search_radius_um=5.0), config, PIXEL_UM, INTERVAL_MIN)
    far = track_cells(labels, TrackSettings(max_search_radius_um=20.0), config, PIXEL_UM, INTERVAL_MIN)
    assert near.tracks.groupby("track_id")["frame"].agg(["min", "max"]).values.tolist() == [[0, 4], [5, 9]]
    assert far.tracks["track_id"].unique().tolist() == [1]


@pytest.mark.parametrize("shape", [(5, 32, 40), (0, 16, 16)])
def test_empty_movie(shape: tuple[int, int, int], config: dict) -> None:
    labels = np.zeros(shape, dtype=np.uint16)
    res = track_cells(labels, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    assert list(res.tracks.columns) == list(TRACK_COLUMNS) and len(res.tracks) == 0
    assert res.tracks["track_id"].dtype == np.int64 and res.tracks["y_um"].dtype == np.float64
    assert list(res.lineage.columns) == list(LINEAGE_COLUMNS) and len(res.lineage) == 0
    assert (res.lineage.dtypes == np.int64).all()
    assert res.relabelled.shape == shape and res.relabelled.dtype == np.uint32 and not res.relabelled.any()


def test_only_small_objects_is_empty(config: dict) -> None:
    labels = draw(4, (64, 64), lambda t: [(1, (30.0, 30.0, 1.0))])
    res = track_cells(labels, TrackSettings(min_area_um2=10.0), config, PIXEL_UM, INTERVAL_MIN)
    assert len(res.tracks) == 0 and len(res.lineage) == 0 and not res.relabelled.any()


def test_settings_change_the_configuration(config: dict) -> None:
    cfg = tracker_configuration(config, TrackSettings(divisions=False, apoptosis=True, max_search_radius_um=12.0), 0.6)
    assert cfg["hypothesis_model"]["hypotheses"] == ["P_FP", "P_init", "P_term", "P_link", "P_dead"]
    assert cfg["max_search_radius"] == pytest.approx(20.0)
    assert cfg["optimizer_options"]["tm_lim"] == 60000
    assert config["hypothesis_model"]["hypotheses"][-1] == "P_branch"  # the caller's dict is left alone
    default = tracker_configuration(config, TrackSettings(), 0.6)["hypothesis_model"]["hypotheses"]
    assert "P_branch" in default and "P_dead" not in default  # divisions on, apoptosis off
    with pytest.raises(ValueError, match="unknown key"):
        tracker_configuration({**config, "max_serach_radius": 5}, TrackSettings(), 0.6)


def test_settings_validation() -> None:
    with pytest.raises(ValidationError):
        TrackSettings(max_search_radius_um=0)
    with pytest.raises(ValidationError):
        TrackSettings(min_area_um2=-1)
    with pytest.raises(ValidationError):
        TrackSettings(unknown=1)


def test_bad_input_is_rejected(config: dict) -> None:
    with pytest.raises(ValueError, match="T, Y, X"):
        track_cells(np.zeros((8, 8), np.uint16), TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    with pytest.raises(ValueError, match="integers"):
        track_cells(np.zeros((2, 8, 8), np.float32), TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)


def test_physical_settings_set_the_motion_and_border_models(config: dict) -> None:
    settings = TrackSettings(motion_noise_um=1.5, position_noise_um=0.6, border_distance_um=3.0)
    cfg = tracker_configuration(config, settings, 0.3)
    q = np.asarray(cfg["motion_model"]["Q"]).reshape(6, 6)
    sigma_px2 = (1.5 / 0.3) ** 2  # 25 px² per frame²
    # per axis: sigma² [[1/4, 1/2], [1/2, 1]] for (position, velocity); no coupling between axes, z unused
    assert q[0, 0] == pytest.approx(0.25 * sigma_px2) and q[0, 3] == pytest.approx(0.5 * sigma_px2)
    assert q[3, 3] == pytest.approx(sigma_px2) and q[4, 4] == pytest.approx(sigma_px2)
    assert q[0, 1] == 0 and q[0, 4] == 0 and q[2].sum() == 0 and q[5].sum() == 0
    assert np.linalg.eigvalsh(q).min() > -1e-9  # a covariance
    assert cfg["motion_model"]["R"][0] == pytest.approx(4.0) and cfg["motion_model"]["R"][4] == pytest.approx(4.0)
    assert cfg["hypothesis_model"]["theta_dist"] == pytest.approx(10.0)
    default = tracker_configuration(config, TrackSettings(), 0.3)
    assert default["motion_model"]["Q"] == config["motion_model"]["Q"]
    assert default["hypothesis_model"]["theta_dist"] == config["hypothesis_model"]["theta_dist"]


def test_run_record_and_small_fragments(config: dict) -> None:
    """One-pixel fragments are dropped before tracking and counted; the record says how the run went."""
    labels = draw(8, (96, 96), lambda t: [(1, (30.0, 20.0 + 3 * t, 7.0)), (2, (70.0, 70.0, 6.0))])
    labels[:, 5, 5] = 3  # a 1 px fragment in every frame (0.25 µm²)
    res = track_cells(labels, TrackSettings(min_area_um2=5.0), config, PIXEL_UM, INTERVAL_MIN)
    assert res.tracks["track_id"].nunique() == 2 and not (res.relabelled[:, 5, 5]).any()
    info = res.info
    assert info["n_small_objects_dropped"] == 8 and info["n_objects"] == 16 and info["max_objects_per_frame"] == 2
    assert info["update_method"] == "EXACT" and info["optimizer"] == "solved" and info["n_tracks"] == 2
    assert info["search_radius_px"] == pytest.approx(20.0 / PIXEL_UM)
    json.dumps(info)  # serialisable


def _grid_scene(n_side: int, spacing: float):
    def scene(t: int):
        return [
            (1 + i * n_side + j, (8 + i * spacing, 8 + j * spacing + 0.5 * t, 2.5))
            for i in range(n_side) for j in range(n_side)
        ]
    return scene


def test_dense_frames_use_approximate_updates_with_a_bounded_radius(config: dict) -> None:
    """Above dense_objects_per_frame objects, btrack's approximate mode with the dense radius; the
    drifting grid is still tracked one track per object."""
    labels = draw(4, (200, 200), _grid_scene(16, 12.0))  # 256 objects per frame
    settings = TrackSettings(min_area_um2=0.0, dense_objects_per_frame=200, dense_search_radius_um=3.0)
    res = track_cells(labels, settings, config, PIXEL_UM, INTERVAL_MIN)
    assert res.info["update_method"] == "APPROXIMATE" and res.info["max_objects_per_frame"] == 256
    assert res.info["search_radius_px"] == pytest.approx(6.0)
    assert res.tracks["track_id"].nunique() == 256
    assert (res.tracks.groupby("track_id")["frame"].count() == 4).all()
    sparse = track_cells(labels, TrackSettings(min_area_um2=0.0), config, PIXEL_UM, INTERVAL_MIN)
    assert sparse.info["update_method"] == "EXACT"
    at_limit = TrackSettings(min_area_um2=0.0, dense_objects_per_frame=256)  # "above", not "at"
    assert track_cells(labels, at_limit, config, PIXEL_UM, INTERVAL_MIN).info["update_method"] == "EXACT"


def test_linking_time_bound_stops_with_a_clear_error(config: dict) -> None:
    from cellpipe.track import TrackingTimeLimitError

    labels = draw(6, (64, 64), lambda t: [(1, (30.0, 20.0 + 2 * t, 6.0))])
    with pytest.raises(TrackingTimeLimitError, match=r"track.time_limit_s \(1e-09 s\) at frame 0 of 6"):
        track_cells(labels, TrackSettings(time_limit_s=1e-9, step_size=1), config, PIXEL_UM, INTERVAL_MIN)


def _object_table(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    """An object table as tracking builds it: one row per (frame, y px, x px)."""
    frame, y, x = (list(col) for col in zip(*rows))
    return pd.DataFrame({"frame": frame, "label": range(1, len(rows) + 1), "y_px": y, "x_px": x, "area_px": 50.0})


def test_gap_filling_takes_the_lone_object_nearest_the_interpolated_position() -> None:
    """A track missing frame 2 gets the lone object of frame 2 that lies near its interpolated
    position (its one-object track disappears); a lone object too far away, and a one-object
    daughter of a division, stay where they are."""
    from cellpipe.track.gaps import _fill_gaps

    table = _object_table([
        (0, 10.0, 10.0), (1, 10.0, 14.0), (3, 10.0, 22.0),  # 0-2: track 1, frame 2 missing
        (2, 11.0, 18.5),  # 3: lone, 1.1 px from the interpolated (10, 18): joins track 1
        (2, 10.0, 17.0),  # 4: lone, 1.0 px away but a division's only-object daughter: stays
        (2, 30.0, 18.0),  # 5: lone, 20 px away: stays
        (2, 10.5, 18.0),  # 6: not in any btrack track, 0.5 px away: the nearest, so it wins
    ])
    raw = [(1, 0, [0, 1, 2]), (2, 0, [3]), (7, 9, [4]), (8, 0, [5]), (9, 0, [])]
    out, n = _fill_gaps(raw, table, max_distance_px=3.0)
    assert n == 1
    assert out[0] == (1, 0, [0, 1, 6, 2])
    assert (2, 0, [3]) in out and (7, 9, [4]) in out and (8, 0, [5]) in out
    # without object 6, the lone object 3 is the nearest candidate: it joins and its own track is gone
    out2, n2 = _fill_gaps([(1, 0, [0, 1, 2]), (2, 0, [3]), (7, 9, [4])], table.iloc[:6], max_distance_px=3.0)
    assert n2 == 1 and out2 == [(1, 0, [0, 1, 3, 2]), (7, 9, [4])]
    assert _fill_gaps([(1, 0, [0, 1, 2]), (2, 0, [3])], table.iloc[:4], max_distance_px=1.0) == (
        [(1, 0, [0, 1, 2]), (2, 0, [3])], 0)


# Ten frames of a simulated movie (cellpipe.simulate, seed 3, frames 24-33, top-left 96 x 128 px,
# 0.65 µm/px, 5 min) as disks: per frame (label, y px, x px, radius px).  Cell 23 divides into 52
# and 51 in frame 4; btrack links 23 straight to 52's second object and leaves 52's first alone.
DIVISION_GAP_SCENE = [
    [(24, 23.6, 91.6, 5.9), (23, 42.7, 74.5, 6.3)],
    [(24, 23.6, 92.6, 6.0), (23, 42.5, 72.7, 6.3)],
    [(24, 22.1, 92.9, 6.1), (23, 42.3, 71.0, 6.4)],
    [(24, 20.8, 92.5, 6.2), (23, 42.2, 69.6, 4.1)],
    [(24, 20.0, 92.6, 6.3), (52, 41.0, 71.8, 4.7), (51, 44.8, 61.0, 4.7), (49, 65.2, 125.8, 3.0)],
    [(24, 20.1, 92.3, 4.1), (52, 43.0, 68.6, 4.7), (51, 45.1, 58.2, 4.8), (49, 64.9, 124.8, 4.0)],
    [(56, 19.5, 96.4, 4.1), (55, 21.7, 87.8, 4.6), (51, 44.9, 56.7, 4.9), (52, 46.1, 66.1, 4.9), (49, 64.6, 124.0, 4.6)],
    [(56, 20.1, 96.2, 4.3), (55, 21.6, 87.3, 4.8), (51, 44.2, 54.9, 5.0), (52, 49.6, 63.3, 5.0), (49, 64.4, 123.7, 4.8)],
    [(55, 21.1, 86.7, 5.0), (56, 20.2, 95.8, 4.5), (51, 43.7, 54.9, 5.1), (52, 53.3, 60.7, 5.0), (49, 64.4, 123.2, 5.2)],
    [(55, 20.6, 84.9, 4.9), (56, 20.1, 96.3, 4.4), (51, 43.2, 54.7, 5.3), (52, 56.4, 59.2, 5.2), (49, 63.8, 122.7, 5.4)],
]


def test_gap_filling_in_a_tracked_movie(config: dict) -> None:
    """End to end on the scene btrack gets wrong: without gap filling the daughter 52 is two
    tracks (its first object alone); with it (the default) 52 is one track, counted in the record."""
    labels = draw(len(DIVISION_GAP_SCENE), (96, 128), lambda t: [(lbl, yxr) for lbl, *yxr in DIVISION_GAP_SCENE[t]])
    settings = TrackSettings(motion_noise_um=1.0, position_noise_um=1.0)  # the workflow's defaults (config.yaml)

    def tracks_of_52(res) -> set[int]:
        rows = res.tracks.merge(pd.DataFrame({"frame": range(10), "label": 52}), on=["frame", "label"])
        return set(rows["track_id"])

    off = track_cells(labels, settings.model_copy(update={"gap_fill_distance_um": None}), config, 0.65, 5.0)
    assert len(tracks_of_52(off)) == 2 and off.info["n_gap_objects_filled"] == 0
    on = track_cells(labels, settings, config, 0.65, 5.0)
    assert len(tracks_of_52(on)) == 1 and on.info["n_gap_objects_filled"] == 1
    assert on.info["n_tracks"] == off.info["n_tracks"] - 1
    near = track_cells(labels, settings.model_copy(update={"gap_fill_distance_um": 0.5}), config, 0.65, 5.0)
    assert len(tracks_of_52(near)) == 2  # 52's first object is 3.2 px (2.1 µm) from the interpolated position
    reached = track_cells(labels, settings.model_copy(update={"gap_fill_distance_um": 2.5}), config, 0.65, 5.0)
    assert len(tracks_of_52(reached)) == 1  # 2.5 µm is 3.8 px at 0.65 µm/px


class FrameOnly:
    """A (T, Y, X) label movie that hands out one frame at a time and fails on any other read."""

    def __init__(self, array: np.ndarray) -> None:
        self._array, self.shape, self.dtype, self.reads = array, array.shape, array.dtype, 0

    def __getitem__(self, key):
        if not isinstance(key, (int, np.integer)):
            raise AssertionError(f"read of {key!r}: only single frames may be read")
        self.reads += 1
        return self._array[key]

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole movie was read into memory")


def test_streaming_reads_one_frame_at_a_time(lines_result, lines_movie: np.ndarray, config: dict) -> None:
    """With relabel=False and relabel_frames, the label movie is read frame by frame (twice in all)
    and the relabelled frames equal the in-memory result."""
    from cellpipe.track import relabel_frames

    lazy = FrameOnly(lines_movie)
    res = track_cells(lazy, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN, relabel=False)
    assert res.relabelled is None and lazy.reads == N_LINE_FRAMES
    pd.testing.assert_frame_equal(res.tracks, lines_result.tracks)
    frames = list(relabel_frames(lazy, res.tracks))
    assert lazy.reads == 2 * N_LINE_FRAMES
    np.testing.assert_array_equal(np.stack(frames), lines_result.relabelled)
    assert frames[0].dtype == np.uint32


# ----------------------------------------------------------------------------- division checks


def _division_table(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    """An object table as tracking builds it: one row per (frame, y px, x px, area px)."""
    frame, y, x, area = (list(col) for col in zip(*rows))
    return pd.DataFrame({"frame": frame, "label": range(1, len(rows) + 1), "y_px": y, "x_px": x, "area_px": area})


def _mother_and_daughters(
    a: tuple[int, float, float], b: tuple[int, float, float], area_a: float = 100.0, area_b: float = 100.0
) -> tuple[pd.DataFrame, list[tuple[int, int, list[int]]]]:
    """Mother (btrack id 1) in frames 0-4 at (50, 50), area 200 px; daughters 2 and 3 from
    ``a``/``b`` = (first frame, y, x) to frame 9, standing still."""
    rows = [(t, 50.0, 50.0, 200.0) for t in range(5)]
    refs_a = list(range(len(rows), len(rows) + 10 - a[0]))
    rows += [(t, a[1], a[2], area_a) for t in range(a[0], 10)]
    refs_b = list(range(len(rows), len(rows) + 10 - b[0]))
    rows += [(t, b[1], b[2], area_b) for t in range(b[0], 10)]
    return _division_table(rows), [(1, 0, [0, 1, 2, 3, 4]), (2, 1, refs_a), (3, 1, refs_b)]


def _no_rejection(**reasons: int) -> dict[str, int]:
    from cellpipe.track import DIVISION_REJECTION_REASONS

    return {why: reasons.get(why, 0) for why in DIVISION_REJECTION_REASONS}


def test_a_true_division_is_kept() -> None:
    """Both daughters in frame 5, half the mother's area, 3 px (1.5 µm) beside her: unchanged."""
    from cellpipe.track.divisions import _check_divisions

    table, raw = _mother_and_daughters((5, 47.0, 50.0), (5, 53.0, 50.0))
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert out == raw
    assert counts == _no_rejection()


def test_a_staggered_division_becomes_a_continuation_and_a_new_track() -> None:
    """Daughter 3 appears 2 frames after daughter 2 (lag 2 > 1): 2 joins the mother's track, 3 is a root;
    with division_max_daughter_lag_frames 2 the same division is kept."""
    from cellpipe.track.divisions import _check_divisions

    table, raw = _mother_and_daughters((5, 47.0, 50.0), (7, 53.0, 50.0))
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert out == [(1, 0, [0, 1, 2, 3, 4, *raw[1][2]]), (3, 0, raw[2][2])]
    assert counts == _no_rejection(lag=1)
    kept, counts = _check_divisions(raw, table, TrackSettings(division_max_daughter_lag_frames=2), PIXEL_UM)
    assert kept == raw and counts == _no_rejection()


def test_a_fragment_daughter_is_rejected_and_the_plausible_one_continues() -> None:
    """A 'daughter' of 20 px (0.1 of the mother's 200 px) beside a 100 px one, both in frame 5: size
    rejects the division; the 100 px daughter continues the mother although the fragment is nearer."""
    from cellpipe.track.divisions import _check_divisions

    table, raw = _mother_and_daughters((5, 46.0, 50.0), (5, 51.0, 50.0), area_a=100.0, area_b=20.0)
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(size=1)
    assert out == [(1, 0, [0, 1, 2, 3, 4, *raw[1][2]]), (3, 0, raw[2][2])]
    # at 0.05 of the mother's area the same fragment passes
    out, counts = _check_divisions(raw, table, TrackSettings(division_min_area_fraction=0.05), PIXEL_UM)
    assert out == raw and counts == _no_rejection()


def test_a_daughter_larger_than_the_mother_allows_rejects_the_division() -> None:
    """A 'daughter' of 450 px (2.25 times the mother's 200 px, above division_max_area_fraction 2) beside a
    100 px one: size, and the 100 px daughter continues the mother although the large one is nearer; with
    division_max_area_fraction 2.5 the division is kept."""
    from cellpipe.track.divisions import _check_divisions

    table, raw = _mother_and_daughters((5, 46.0, 50.0), (5, 52.0, 50.0), area_a=100.0, area_b=450.0)
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(size=1)
    assert out == [(1, 0, [0, 1, 2, 3, 4, *raw[1][2]]), (3, 0, raw[2][2])]
    kept = _check_divisions(raw, table, TrackSettings(division_max_area_fraction=2.5), PIXEL_UM)
    assert kept == (raw, _no_rejection())


def test_a_far_or_absent_daughter_rejects_the_division() -> None:
    """A daughter 34 px (17 µm > 15 µm) from the mother: distance; a daughter gone again when her sister
    appears one frame later: not_together."""
    from cellpipe.track.divisions import _check_divisions

    table, raw = _mother_and_daughters((5, 47.0, 50.0), (5, 84.0, 50.0))
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(distance=1)
    assert out == [(1, 0, [0, 1, 2, 3, 4, *raw[1][2]]), (3, 0, raw[2][2])]
    assert _check_divisions(raw, table, TrackSettings(division_max_distance_um=18.0), PIXEL_UM)[0] == raw

    table, raw = _mother_and_daughters((5, 47.0, 50.0), (6, 53.0, 50.0))
    raw[1] = (2, 1, [raw[1][2][0], *raw[1][2][2:]])  # daughter 2: frame 5, absent in 6, back from 7
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(not_together=1)
    assert out == [(1, 0, [0, 1, 2, 3, 4, *raw[1][2]]), (3, 0, raw[2][2])]


def test_a_daughter_gone_again_mid_movie_rejects_the_division() -> None:
    """Daughter 3 is there in frame 5 only (1 frame < min_track_frames 3) and the movie runs to frame 9:
    short_daughter, 2 continues the mother.  Kept: daughter 3 in frames 5-7, daughter 3 in frame 5 with a
    child of her own running on, and a movie whose last frame is 5."""
    from cellpipe.track.divisions import _check_divisions

    table, raw = _mother_and_daughters((5, 47.0, 50.0), (5, 53.0, 50.0))
    flicker = [*raw[:2], (3, 1, raw[2][2][:1])]
    out, counts = _check_divisions(flicker, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(short_daughter=1)
    assert out == [(1, 0, [0, 1, 2, 3, 4, *raw[1][2]]), (3, 0, raw[2][2][:1])]

    three_frames = [*raw[:2], (3, 1, raw[2][2][:3])]
    assert _check_divisions(three_frames, table, TrackSettings(), PIXEL_UM) == (three_frames, _no_rejection())
    # with min_track_frames 4 the 3-frame daughter is too short
    assert _check_divisions(three_frames, table, TrackSettings(min_track_frames=4), PIXEL_UM)[1] == _no_rejection(
        short_daughter=1
    )

    relinked = [*flicker, (4, 3, raw[2][2][2:])]  # 3's own continuation after a gap, to frame 9
    out, counts = _check_divisions(relinked, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(single_child=1)
    assert out == [raw[0], raw[1], (3, 1, [raw[2][2][0], *raw[2][2][2:]])]

    ends = table[table["frame"] <= 5].reset_index(drop=True)  # the movie ends in the division's frame
    short_movie = [(1, 0, [0, 1, 2, 3, 4]), (2, 1, [5]), (3, 1, [6])]
    assert _check_divisions(short_movie, ends, TrackSettings(), PIXEL_UM) == (short_movie, _no_rejection())


def _going_on_and_sister(
    sister_yx: tuple[float, float], sister_area: float, going_on_yx: tuple[float, float] = (47.0, 50.0),
    going_on_area: float = 100.0,
) -> tuple[pd.DataFrame, list[tuple[int, int, list[int]]]]:
    """Track 1 at (50, 50), area 200 px, in frames 0-4, going on from frame 5 to 9 at ``going_on_yx`` with
    ``going_on_area``; track 2, without parent, from frame 5 to 9 at ``sister_yx`` with ``sister_area``."""
    rows = [(t, 50.0, 50.0, 200.0) for t in range(5)] + [(t, *going_on_yx, going_on_area) for t in range(5, 10)]
    rows += [(t, *sister_yx, sister_area) for t in range(5, 10)]
    return _division_table(rows), [(1, 0, list(range(10))), (2, 0, list(range(10, 15)))]


def test_a_track_going_on_into_one_daughter_is_cut_into_a_division() -> None:
    """Track 1 halves and moves 3 px up in frame 5 while track 2 starts 3 px below the mother: track 1 is cut
    into the mother (frames 0-4) and a daughter (new track 3, frames 5-9), track 2 the other daughter; the
    division tests then keep it."""
    from cellpipe.track.divisions import _check_divisions, _split_divisions

    table, raw = _going_on_and_sister((53.0, 50.0), 100.0)
    out, n = _split_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert n == 1
    assert out == [(1, 0, [0, 1, 2, 3, 4]), (3, 1, [5, 6, 7, 8, 9]), (2, 1, list(range(10, 15)))]
    assert _check_divisions(out, table, TrackSettings(), PIXEL_UM) == (out, _no_rejection())


def test_a_track_is_not_cut_where_the_division_checks_would_undo_the_cut() -> None:
    """The division of the test above, but the track starts 2 frames before the cut (a mother shorter than
    min_track_frames, 3), or the sister or the track is gone again after 2 frames while the movie goes on to frame 9: no cut,
    so the checks have nothing to undo (undone, the nearer daughter would continue the mother, whichever cell
    btrack had followed); with the sister there 3 frames the cut is made."""
    from cellpipe.track.divisions import _split_divisions

    table, raw = _going_on_and_sister((53.0, 50.0), 100.0)
    late = [(1, 0, list(range(3, 10))), raw[1]]
    assert _split_divisions(late, table, TrackSettings(), PIXEL_UM) == (late, 0)
    assert _split_divisions(late, table, TrackSettings(min_track_frames=2), PIXEL_UM)[1] == 1
    brief = [raw[0], (2, 0, [10, 11])]
    assert _split_divisions(brief, table, TrackSettings(), PIXEL_UM) == (brief, 0)
    ends_soon = [(1, 0, list(range(7))), raw[1]]  # the track itself is gone 2 frames after the cut
    assert _split_divisions(ends_soon, table, TrackSettings(), PIXEL_UM) == (ends_soon, 0)
    assert _split_divisions([raw[0], (2, 0, [10, 11, 12])], table, TrackSettings(), PIXEL_UM)[1] == 1
    # daughters born 2 frames before the movie ends are not short
    rows = [(t, 50.0, 50.0, 200.0) for t in range(8)] + [(t, 47.0, 50.0, 100.0) for t in (8, 9)]
    at_end = [(1, 0, list(range(10))), (2, 0, [10, 11])]
    table = _division_table(rows + [(t, 53.0, 50.0, 100.0) for t in (8, 9)])
    assert _split_divisions(at_end, table, TrackSettings(), PIXEL_UM)[1] == 1
    assert _split_divisions([], table.iloc[:0], TrackSettings(), PIXEL_UM) == ([], 0)  # nothing tracked


@pytest.mark.parametrize(
    ("case", "sister_yx", "sister_area", "going_on_yx", "going_on_area"),
    [
        ("a cell appears beside one that goes on unchanged", (60.0, 50.0), 150.0, (50.0, 50.0), 200.0),
        ("the 'sister' is a fragment (40 px beside 150 px)", (55.0, 50.0), 40.0, (48.0, 50.0), 150.0),
        ("the 'sister' starts 17 µm from the mother", (84.0, 50.0), 100.0, (47.0, 50.0), 100.0),
        ("an object comes out beside a cell that barely moves", (56.0, 50.0), 120.0, (49.0, 50.0), 190.0),
        ("both 'daughters' lie on one side of the mother", (46.0, 53.0), 100.0, (47.0, 50.0), 100.0),
        ("the two differ more than twice in area (150 and 60 px), placed alike", (53.0, 50.0), 60.0, (47.0, 50.0), 150.0),
    ],
)
def test_a_track_is_not_cut_for_what_does_not_look_like_a_division(
    case: str, sister_yx: tuple[float, float], sister_area: float, going_on_yx: tuple[float, float],
    going_on_area: float,
) -> None:
    from cellpipe.track.divisions import _split_divisions

    table, raw = _going_on_and_sister(sister_yx, sister_area, going_on_yx, going_on_area)
    assert _split_divisions(raw, table, TrackSettings(), PIXEL_UM) == (raw, 0), case


def test_the_nearest_of_two_new_tracks_becomes_the_sister() -> None:
    """Track 1 halves in frame 5 while two root tracks start below it, 3 px and 3.6 px from the mother, each
    a plausible sister: the nearer (track 2) becomes the daughter, the other stays a root track.  Listed the
    other way round, the same."""
    from cellpipe.track.divisions import _split_divisions

    table, raw = _going_on_and_sister((53.0, 50.0), 100.0)
    rows = list(table[["frame", "y_px", "x_px", "area_px"]].itertuples(index=False, name=None))
    table = _division_table(rows + [(t, 53.5, 52.0, 100.0) for t in range(5, 10)])
    farther = (4, 0, list(range(15, 20)))
    cut = [(1, 0, [0, 1, 2, 3, 4]), (5, 1, [5, 6, 7, 8, 9]), (2, 1, list(range(10, 15))), farther]
    assert _split_divisions([*raw, farther], table, TrackSettings(), PIXEL_UM) == (cut, 1)
    swapped = [raw[0], farther, raw[1]]
    out, n = _split_divisions(swapped, table, TrackSettings(), PIXEL_UM)
    assert n == 1 and sorted(out) == sorted(cut)


def test_cells_that_come_apart_after_a_merge_are_not_a_division() -> None:
    """Tracks 1 and 3 (100 px each, 10 px apart) are segmented as one 200 px object from frame 5 (track 1
    goes on into it, track 3 ends in frame 4); in frame 9 the object comes apart into daughters 4 and 2:
    merged, 4 (nearer) continues track 1.  Without track 3 ending beside it, the same growth and split is a
    division."""
    from cellpipe.track.divisions import _check_divisions

    rows = [(t, 50.0, 45.0, 100.0) for t in range(5)] + [(t, 50.0, 50.0, 200.0) for t in range(5, 9)]
    rows += [(t, 50.0, 46.5, 100.0) for t in range(9, 12)] + [(t, 50.0, 54.0, 100.0) for t in range(9, 12)]
    rows += [(t, 50.0, 55.0, 100.0) for t in range(5)]
    table = _division_table(rows)
    mother, daughter_4, daughter_2, track_3 = list(range(9)), [9, 10, 11], [12, 13, 14], list(range(15, 20))
    raw = [(1, 0, mother), (4, 1, daughter_4), (2, 1, daughter_2), (3, 0, track_3)]
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(merged=1)
    assert out == [(1, 0, mother + daughter_4), (2, 0, daughter_2), (3, 0, track_3)]
    assert _check_divisions(raw[:3], table, TrackSettings(), PIXEL_UM) == (raw[:3], _no_rejection())
    # growing 1.4 times (below MERGE_AREA_JUMP, 1.5) while track 3 ends beside her is no merge
    grown = table.assign(area_px=np.where((table["frame"] >= 5) & (table.index < 9), 140.0, table["area_px"]))
    assert _check_divisions(raw, grown, TrackSettings(), PIXEL_UM) == (raw, _no_rejection())


def test_a_merge_that_comes_apart_is_not_a_division_in_a_tracked_movie(config: dict) -> None:
    """Two disks 24 px apart close in, are drawn as one object in frames 5-8 and part again: btrack makes a
    division of it, undone as merged."""
    movie = np.zeros((14, 100, 100), np.uint32)
    for t in range(14):
        if 5 <= t < 9:
            centres = [(1, 45), (1, 55)]
        else:
            centres = [(1, 38 + t), (2, 62 - t)] if t < 5 else [(1, 53 - t), (2, 47 + t)]
        for label, x in centres:
            movie[t][disk((50, x), 6, shape=(100, 100))] = label
    res = track_cells(movie, TrackSettings(overlap_link_min_iou=0.05), config, PIXEL_UM, INTERVAL_MIN)
    assert res.info["n_divisions"] == 0
    assert res.info["divisions_rejected"]["merged"] == 1


def test_a_track_going_on_through_two_divisions_is_cut_twice() -> None:
    """Track 1 (frames 0-14) halves in frame 5 beside new track 2 and again in frame 10 beside new track 4; its own
    daughter 5 (frame 15) moves to the last piece."""
    from cellpipe.track.divisions import _split_divisions

    rows = [(t, 50.0, 50.0, 400.0) for t in range(5)] + [(t, 47.0, 50.0, 200.0) for t in range(5, 10)]
    rows += [(t, 45.0, 50.0, 100.0) for t in range(10, 15)]
    rows += [(t, 53.0, 50.0, 200.0) for t in range(5, 10)] + [(t, 49.0, 50.0, 100.0) for t in range(10, 15)]
    rows += [(15, 45.0, 50.0, 100.0)]
    table = _division_table(rows)
    raw = [(1, 0, list(range(15))), (2, 0, list(range(15, 20))), (4, 0, list(range(20, 25))), (5, 1, [25])]
    out, n = _split_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert n == 2
    assert out == [
        (1, 0, [0, 1, 2, 3, 4]), (6, 1, [5, 6, 7, 8, 9]), (7, 6, [10, 11, 12, 13, 14]),
        (2, 1, list(range(15, 20))), (4, 6, list(range(20, 25))), (5, 7, [25]),
    ]


def _true_divisions(sim_tracks: pd.DataFrame, truth: np.ndarray, relabelled: np.ndarray, lineage: pd.DataFrame) -> int:
    """The simulator's divisions whose mother (in her last frame) and both daughters (in their first) lie in
    tracks that the tracking made mother and daughters."""
    parent = dict(zip(lineage["child"], lineage["parent"], strict=True))
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t in range(truth.shape[0]):
        for label in np.unique(truth[t])[1:]:
            first.setdefault(int(label), t)
            last[int(label)] = t

    def track_of(label: int, t: int) -> int:
        values = relabelled[t][truth[t] == label]
        return int(np.bincount(values).argmax())

    found = 0
    for mother, daughters in sim_tracks[sim_tracks["parent"] > 0].groupby("parent")["label"]:
        daughters = [int(d) for d in daughters if int(d) in first]
        if int(mother) not in last or len(daughters) != 2:
            continue
        m = track_of(int(mother), last[int(mother)])
        d1, d2 = (track_of(d, first[d]) for d in daughters)
        found += d1 != d2 and parent.get(d1) == m and parent.get(d2) == m
    return found


def test_split_divisions_find_the_divisions_of_a_movie_with_few_frames_per_cell_cycle(config: dict) -> None:
    """A simulated movie (seed 12) at every 3rd frame: btrack carries most mothers on into one daughter.
    With split_divisions at least 6 more of the simulator's divisions are found, and no more than 2
    divisions are reported that are not the simulator's."""
    from cellpipe.config import SimulationSettings
    from cellpipe.simulate import simulate_movie

    sim = simulate_movie(
        SimulationSettings(n_frames=60, shape=(384, 384), n_cells=14, seed=12, division_probability=0.06)
    )
    truth = sim.labels[::3]
    found = {}
    for split in (False, True):
        settings = TrackSettings(overlap_link_min_iou=0.05, split_divisions=split)
        res = track_cells(truth, settings, config, sim.pixel_size_um, sim.frame_interval_min * 3)
        found[split] = _true_divisions(sim.tracks, truth, res.relabelled, res.lineage)
        assert res.info["n_split_divisions"] >= 6 if split else res.info["n_split_divisions"] == 0
        assert res.info["n_divisions"] - found[split] <= 2
    assert found[True] >= found[False] + 6, found


def test_a_single_child_becomes_a_continuation_and_its_division_is_checked() -> None:
    """Mother 1 (frames 0-4) -> single child 2 (frames 5-6) -> daughters 3, 4 (frame 7): 2 joins 1, and
    1 (now 7 frames long) divides into 3 and 4; a lone child of a short (2-frame) mother ends the same."""
    from cellpipe.track.divisions import _check_divisions

    rows = [(t, 50.0, 50.0, 200.0) for t in range(7)] + [(t, 47.0, 50.0, 100.0) for t in (7, 8)]
    rows += [(t, 53.0, 50.0, 100.0) for t in (7, 8)]
    table = _division_table(rows)
    raw = [(1, 0, [0, 1, 2, 3, 4]), (2, 1, [5, 6]), (3, 2, [7, 8]), (4, 2, [9, 10])]
    out, counts = _check_divisions(raw, table, TrackSettings(), PIXEL_UM)
    assert out == [(1, 0, [0, 1, 2, 3, 4, 5, 6]), (3, 1, [7, 8]), (4, 1, [9, 10])]
    assert counts == _no_rejection(single_child=1)
    # without the single-child link the 2-frame track 2 is too short to be a mother (min_track_frames 3)
    out, counts = _check_divisions([(2, 0, [5, 6]), (3, 2, [7, 8]), (4, 2, [9, 10])], table, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(short_mother=1)
    assert out == [(2, 0, [5, 6, 7, 8]), (4, 0, [9, 10])]
    # daughter 4 two frames after 3 (lag 2, both reaching the movie's end): once 2 has joined 1, the division
    # 1 inherits from her is checked and undone too
    rows = rows[:7] + [(t, 47.0, 50.0, 100.0) for t in range(7, 11)] + [(t, 53.0, 50.0, 100.0) for t in (9, 10)]
    raw = [(1, 0, [0, 1, 2, 3, 4]), (2, 1, [5, 6]), (3, 2, [7, 8, 9, 10]), (4, 2, [11, 12])]
    out, counts = _check_divisions(raw, _division_table(rows), TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(single_child=1, lag=1)
    assert out == [(1, 0, list(range(11))), (4, 0, [11, 12])]


def _fake_btrack(monkeypatch: pytest.MonkeyPatch, labels: np.ndarray, lineage: dict[int, int]) -> None:
    """Replace btrack by a fixed answer: one track per label value of ``labels`` (its btrack id), with
    the parents in ``lineage`` (child label -> parent label)."""
    import cellpipe.track as track_module

    index: dict[int, list[int]] = {}
    i = 0
    for t in range(labels.shape[0]):
        for value in np.unique(labels[t])[1:]:
            index.setdefault(int(value), []).append(i)
            i += 1

    def run(objects, config, shape_yx, n_frames, settings):
        assert len(objects) == i
        raw = [(lbl, lineage.get(lbl, 0), refs) for lbl, refs in index.items()]
        return raw, {"optimizer": "solved", "linking_s": 0.0, "optimizer_s": 0.0}

    monkeypatch.setattr(track_module, "_run_btrack", run)


def test_rejected_division_keeps_ids_and_lineage_consistent(config: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through track_cells with btrack's answer fixed: a staggered 'division' (label 1 ->
    2 from frame 5 and 3 from frame 7) and a true one (4 -> 5, 6 in frame 5).  The staggered one is
    a continuation (track 1, frames 0-9) plus a new root track; the true one keeps its lineage; ids
    follow (first frame, y, x); a 2-frame flicker is counted short."""

    def scene(t: int) -> list[tuple[int, tuple[float, float, float]]]:
        out = []
        out.append((1, (30.0, 30.0, 8.0)) if t < 5 else (2, (27.0, 30.0, 5.5)))
        if t >= 7:
            out.append((3, (33.0, 40.0, 5.5)))
        out.append((4, (90.0, 60.0, 8.0)) if t < 5 else (5, (83.0, 60.0, 5.5)))
        if t >= 5:
            out.append((6, (97.0, 60.0, 5.5)))
        if t in (2, 3):
            out.append((7, (60.0, 100.0, 4.0)))
        return out

    labels = draw(10, (128, 128), scene)
    _fake_btrack(monkeypatch, labels, {2: 1, 3: 1, 5: 4, 6: 4})
    res = track_cells(labels, TrackSettings(), config, PIXEL_UM, INTERVAL_MIN)
    per_track = res.tracks.groupby("track_id").agg(
        first=("frame", "min"), last=("frame", "max"), n=("frame", "size"),
        parent=("parent", "first"), root=("root", "first"), generation=("generation", "first"),
    )
    assert per_track.to_dict("index") == {
        1: {"first": 0, "last": 9, "n": 10, "parent": 0, "root": 1, "generation": 0},  # 1 then 2
        2: {"first": 0, "last": 4, "n": 5, "parent": 0, "root": 2, "generation": 0},  # 4
        3: {"first": 2, "last": 3, "n": 2, "parent": 0, "root": 3, "generation": 0},  # 7, the flicker
        4: {"first": 5, "last": 9, "n": 5, "parent": 2, "root": 2, "generation": 1},  # 5
        5: {"first": 5, "last": 9, "n": 5, "parent": 2, "root": 2, "generation": 1},  # 6
        6: {"first": 7, "last": 9, "n": 3, "parent": 0, "root": 6, "generation": 0},  # 3, now a root
    }
    assert res.lineage.to_dict("list") == {"parent": [2, 2], "child": [4, 5], "division_frame": [5, 5]}
    assert res.info["n_divisions"] == 1 and res.info["n_divisions_rejected"] == 1
    assert res.info["divisions_rejected"] == _no_rejection(lag=1)
    assert res.info["n_short_tracks"] == 1 and res.info["min_track_frames"] == 3
    assert (res.tracks.groupby("track_id")["frame"].apply(lambda f: f.is_unique)).all()
    json.dumps(res.info)  # tracking.json
    # every relabelled pixel of label 2 carries track 1
    assert set(np.unique(res.relabelled[labels == 2])) == {1}


def jumping_scene(t: int) -> list[tuple[int, tuple[float, float, float]]]:
    """A large cell (40 µm across) that jumps 30 µm per frame, beyond the 20 µm search radius, each frame
    overlapping its last position (IoU 0.078 for two disks of 40 px radius 60 px apart); a still cell."""
    return [(1, (100.0, 60.0 + 60.0 * t, 40.0)), (2, (300.0, 300.0, 30.0))]


@pytest.mark.parametrize(("min_iou", "jumper_tracks", "links"), [(None, 5, 0), (0.05, 1, 4), (0.1, 5, 0)])
def test_overlap_links_continue_a_cell_that_jumps_past_the_search_radius(
    config: dict, min_iou: float | None, jumper_tracks: int, links: int
) -> None:
    labels = draw(5, (400, 400), jumping_scene)
    settings = TrackSettings(overlap_link_min_iou=min_iou)
    res = track_cells(labels, settings, config, PIXEL_UM, INTERVAL_MIN)
    assert res.info["n_overlap_links"] == links
    jumper = res.tracks[res.tracks["y_um"] < 200 * PIXEL_UM]
    still = res.tracks[res.tracks["y_um"] > 200 * PIXEL_UM]
    assert jumper["track_id"].nunique() == jumper_tracks and len(jumper) == 5
    assert still["track_id"].nunique() == 1 and len(still) == 5
    if links:
        assert jumper.sort_values("frame")["x_um"].tolist() == [(60.0 + 60.0 * t) * PIXEL_UM for t in range(5)]
        assert res.lineage.empty


def decoy_scene(t: int) -> list[tuple[int, tuple[float, float, float]]]:
    """A cell 40 µm across, still for 3 frames, then jumping 25 µm (past the 20 µm search radius; IoU 0.15
    with its last mask) while a small cell appears 15 µm behind it, inside its last mask (IoU 0.06)."""
    if t < 3:
        return [(1, (100.0, 100.0, 40.0))]
    return [(1, (100.0, 150.0, 40.0)), (2, (100.0, 70.0, 10.0))]


@pytest.mark.parametrize("min_iou", [None, 0.05])
def test_overlap_links_take_precedence_over_a_nearer_btrack_link(config: dict, min_iou: float | None) -> None:
    labels = draw(5, (300, 300), decoy_scene)
    res = track_cells(labels, TrackSettings(overlap_link_min_iou=min_iou), config, PIXEL_UM, INTERVAL_MIN)
    first = res.tracks[res.tracks["frame"] == 0]["track_id"].item()
    followed = res.tracks[res.tracks["track_id"] == first].sort_values("frame")
    # btrack alone follows the cell to the small newcomer, the nearer object; the overlap link follows the
    # cell itself and leaves the newcomer a track of its own
    x_after_jump = 70.0 if min_iou is None else 150.0
    assert followed["x_um"].tolist() == [100.0 * PIXEL_UM] * 3 + [x_after_jump * PIXEL_UM] * 2
    assert res.info["n_overlap_links"] == (0 if min_iou is None else 1)
    assert res.tracks["track_id"].nunique() == 2 and res.lineage.empty


def test_label_pieces_of_a_frame_and_of_a_stack() -> None:
    from cellpipe.track.linking import _label_pieces

    frame = np.zeros((5, 8), dtype=np.uint16)
    frame[1:3, 1:3] = 5
    frame[3, 3] = 5  # touches the square at a corner: the same piece
    frame[0, 6] = frame[4, 6] = 7  # two pieces of one label
    table = _label_pieces(frame, 4).sort_values(["label", "y_px"], ignore_index=True)
    assert list(table.columns) == ["frame", "label", "y_px", "x_px", "area_px"]
    assert table["frame"].tolist() == [4, 4, 4]
    assert table["label"].tolist() == [5, 7, 7]
    assert table["area_px"].tolist() == [5.0, 1.0, 1.0]
    np.testing.assert_allclose(table[["y_px", "x_px"]].to_numpy(), [[1.8, 1.8], [0.0, 6.0], [4.0, 6.0]])

    stack = np.zeros((3, 4, 5), dtype=np.int32)
    stack[1, 1:3, 1:3] = 2  # inside
    stack[2, 1, 1] = 2  # a corner neighbour in z joins the piece, which now touches the last plane
    stack[1, 2, 4] = 3  # on the x face
    table = _label_pieces(stack, 0).sort_values("label", ignore_index=True)
    assert list(table.columns) == ["frame", "label", "y_px", "x_px", "area_px", "z_px", "on_face"]
    assert table["area_px"].tolist() == [5.0, 1.0]
    assert table["on_face"].tolist() == [True, True]
    np.testing.assert_allclose(table[["z_px", "y_px", "x_px"]].to_numpy(), [[1.2, 1.4, 1.4], [1.0, 2.0, 4.0]])
    stack[2, 1, 1] = 0
    assert _label_pieces(stack, 0).sort_values("label")["on_face"].tolist() == [False, True]
    assert _label_pieces(np.zeros((2, 3, 3), dtype=np.int32), 0).empty


def test_a_mother_cut_short_by_the_movie_start_is_no_flicker() -> None:
    """Mother 1 in frames 0-1 only (2 frames < min_track_frames 3), daughters from frame 2: she was there
    before the movie began, so the division is kept (as a daughter reaching the movie's end is not short).
    The same cells one frame later, with another cell in frame 0: short_mother.  Likewise a track seen from
    frame 0 is cut into a division after 2 frames, one that starts in frame 1 is not."""
    from cellpipe.track.divisions import _check_divisions, _split_divisions

    rows = [(t, 50.0, 50.0, 200.0) for t in (0, 1)]
    rows += [(t, 47.0, 50.0, 100.0) for t in range(2, 8)] + [(t, 53.0, 50.0, 100.0) for t in range(2, 8)]
    raw = [(1, 0, [0, 1]), (2, 1, list(range(2, 8))), (3, 1, list(range(8, 14)))]
    assert _check_divisions(raw, _division_table(rows), TrackSettings(), PIXEL_UM) == (raw, _no_rejection())

    later = _division_table([(t + 1, y, x, a) for t, y, x, a in rows] + [(0, 10.0, 10.0, 200.0)])
    out, counts = _check_divisions([*raw, (4, 0, [14])], later, TrackSettings(), PIXEL_UM)
    assert counts == _no_rejection(short_mother=1)
    assert out == [(1, 0, [0, 1, *range(2, 8)]), (3, 0, list(range(8, 14))), (4, 0, [14])]

    going_on = [(1, 0, list(range(8))), (2, 0, list(range(8, 14)))]  # track 1 goes on into the upper daughter
    cut = [(1, 0, [0, 1]), (3, 1, list(range(2, 8))), (2, 1, list(range(8, 14)))]
    assert _split_divisions(going_on, _division_table(rows), TrackSettings(), PIXEL_UM) == (cut, 1)
    assert _split_divisions([*going_on, (4, 0, [14])], later, TrackSettings(), PIXEL_UM)[1] == 0
