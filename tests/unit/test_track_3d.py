"""Tests of 3-D tracking (cellpipe.track.track_cells_3d) on tiny synthetic (T, Z, Y, X) label movies of balls with
anisotropic voxels: motion along z at large z steps, a division along z, distances in µm, 2-D results unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.config import TrackSettings
from cellpipe.track import TRACK_COLUMNS, TRACK_COLUMNS_3D, track_cells, track_cells_3d, tracker_configuration
from cellpipe.track.divisions import _check_divisions
from cellpipe.track.gaps import _fill_gaps

CONFIG_PATH = Path(__file__).resolve().parents[2] / "resources" / "tracker" / "cellpipe_tracker.json"
#: z step 6 times the pixel (µm, z, y, x)
VOXEL_UM = (3.0, 0.5, 0.5)
INTERVAL_MIN = 5.0

# (t) -> list of (label, (z, y, x) centre in µm, radius in µm) drawn into stack t
Scene3D = Callable[[int], list[tuple[int, tuple[float, float, float], float]]]


def draw_stacks(n_frames: int, shape: tuple[int, int, int], scene: Scene3D, voxel_um=VOXEL_UM) -> np.ndarray:
    """(T, Z, Y, X) uint32 labels: balls of the given radius (µm) around centres in µm (voxel centres at index x size)."""
    z, y, x = (np.arange(n).reshape([-1 if i == axis else 1 for i in range(3)]) * d
               for axis, (n, d) in enumerate(zip(shape, voxel_um)))
    labels = np.zeros((n_frames, *shape), dtype=np.uint32)
    for t in range(n_frames):
        for lbl, (cz, cy, cx), r in scene(t):
            labels[t][(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2] = lbl
    return labels


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads(CONFIG_PATH.read_text())


def per_track(tracks: pd.DataFrame) -> pd.DataFrame:
    return tracks.groupby("track_id").agg(
        first=("frame", "min"), last=("frame", "max"), n=("frame", "size"), parent=("parent", "first"),
        z_first=("z_um", "first"), z_last=("z_um", "last"),
    )


def test_cells_moving_along_z_in_steps_of_a_plane_keep_their_tracks(config: dict) -> None:
    """Two cells above each other at the same (y, x): one climbs a 3 µm plane per frame while the other stays.
    Tracked in µm, each is one track over all frames, and z_um follows the climb."""
    def scene(t: int):
        return [(1 + t % 2, (9.0 + 3.0 * t, 12.0, 12.0), 4.0), (2 - t % 2, (45.0, 12.0, 12.5), 4.0)]

    labels = draw_stacks(8, (18, 48, 48), scene)
    res = track_cells_3d(labels, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    assert list(res.tracks.columns) == list(TRACK_COLUMNS_3D) == [*TRACK_COLUMNS, "z_px", "z_um"]
    tracks = per_track(res.tracks)
    assert tracks["n"].tolist() == [8, 8] and (tracks["parent"] == 0).all()
    climbing = res.tracks[res.tracks["track_id"] == 1]
    np.testing.assert_allclose(climbing["z_um"], 9.0 + 3.0 * np.arange(8), atol=0.2)
    np.testing.assert_allclose(climbing["z_px"], climbing["z_um"] / VOXEL_UM[0])
    np.testing.assert_allclose(res.tracks.loc[res.tracks["track_id"] == 2, "z_um"], 45.0, atol=0.2)
    assert res.info["voxel_size_um"] == list(VOXEL_UM) and res.info["n_divisions"] == 0
    # relabelled stacks carry the track ids
    assert res.relabelled.shape == labels.shape
    for row in res.tracks.itertuples():
        assert np.array_equal(res.relabelled[row.frame] == row.track_id, labels[row.frame] == row.label)


def test_search_radius_counts_z_in_µm(config: dict) -> None:
    """A jump of 12 µm along z (4 planes, 24 xy px) breaks a track when the search radius is 6 µm, though the
    jump is only 4 voxels; the same cell moving 3 µm per frame stays one track."""
    def jump(t: int):
        return [(1, (12.0 if t < 4 else 24.0, 12.0, 12.0), 4.0)]

    settings = TrackSettings(max_search_radius_um=6.0, gap_fill_distance_um=None)
    jumped = track_cells_3d(draw_stacks(8, (14, 48, 48), jump), settings, config, VOXEL_UM, INTERVAL_MIN)
    assert per_track(jumped.tracks)["n"].tolist() == [4, 4]
    # the same movie with its z step read as the xy pixel: the jump is 2 µm and one track remains
    flat = track_cells_3d(draw_stacks(8, (14, 48, 48), jump), settings, config, (0.5, 0.5, 0.5), INTERVAL_MIN)
    assert per_track(flat.tracks)["n"].tolist() == [8]


def division_scene(t: int):
    """A ball moving along z a plane (3 µm) per frame for 5 frames, then two daughters moving apart along z."""
    if t < 5:
        return [(1, (18.0 + 3.0 * t, 12.0, 12.0), 5.0)]
    d = 4.5 + 1.5 * (t - 5)
    return [(2, (30.0 + d, 12.0, 12.0), 4.0), (1, (30.0 - d, 12.0, 12.5), 4.0)]


def test_division_along_z_gives_parent_and_two_children(config: dict) -> None:
    labels = draw_stacks(10, (20, 48, 48), division_scene)
    res = track_cells_3d(labels, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    tracks = per_track(res.tracks)
    assert tracks.index.tolist() == [1, 2, 3]
    assert tuple(tracks.loc[1, ["first", "last", "n", "parent"]]) == (0, 4, 5, 0)
    children = tracks.loc[[2, 3]]
    assert children["first"].tolist() == [5, 5] and children["n"].tolist() == [5, 5]
    assert children["parent"].tolist() == [1, 1]
    # one daughter ends above the mother's last z, the other below
    assert sorted(np.sign(children["z_last"] - tracks.loc[1, "z_last"]).tolist()) == [-1.0, 1.0]
    assert res.lineage.to_dict("list") == {"parent": [1, 1], "child": [2, 3], "division_frame": [5, 5]}
    assert res.info["n_divisions"] == 1 and res.info["n_divisions_rejected"] == 0


def test_division_check_measures_the_daughters_distance_with_z(config: dict) -> None:
    """The same division, daughters appearing 4.5 µm from the mother's last centroid along z (9 xy px, 1.5
    planes): rejected when division_max_distance_um is 4 µm, though in (y, x) they sit on the mother; kept
    when the distance may follow the cells' diameter, measured as the sphere's of equal volume."""
    labels = draw_stacks(10, (20, 48, 48), division_scene)
    settings = TrackSettings(division_max_distance_um=4.0, division_max_distance_diameters=None)
    res = track_cells_3d(labels, settings, config, VOXEL_UM, INTERVAL_MIN)
    assert res.info["n_divisions"] == 0 and res.info["divisions_rejected"]["distance"] == 1
    assert len(res.lineage) == 0

    res = track_cells_3d(labels, settings.model_copy(update={"division_max_distance_diameters": 1.0}), config,
                         VOXEL_UM, INTERVAL_MIN)
    # 5 balls of 10 µm and 10 of 8 µm across: the median is a daughter's, 8 µm (voxels of 3 x 0.5 x 0.5 µm)
    assert res.info["median_diameter_um"] == pytest.approx(8.0, abs=0.3)
    assert res.info["division_max_distance_used_um"] == res.info["median_diameter_um"]
    assert res.info["n_divisions"] == 1 and res.info["n_divisions_rejected"] == 0


def test_one_plane_movie_is_tracked_as_in_2d(config: dict) -> None:
    """A (T, 1, Y, X) movie gives exactly track_cells' tables and masks on its (T, Y, X) frames, plus z = 0."""
    from skimage.draw import disk

    frames = np.zeros((8, 64, 64), dtype=np.uint32)
    for t in range(8):
        for lbl, (y, x) in enumerate([(20.0, 10.0 + 3 * t), (45.0, 50.0 - 2 * t)], start=1):
            rr, cc = disk((y, x), 5.0, shape=(64, 64))
            frames[t, rr, cc] = lbl
    flat = track_cells(frames, TrackSettings(), config, 0.5, INTERVAL_MIN)
    stacked = track_cells_3d(frames[:, None], TrackSettings(), config, (2.0, 0.5, 0.5), INTERVAL_MIN)
    pd.testing.assert_frame_equal(stacked.tracks[list(TRACK_COLUMNS)], flat.tracks, check_exact=True)
    assert (stacked.tracks[["z_px", "z_um"]] == 0.0).all().all()
    pd.testing.assert_frame_equal(stacked.lineage, flat.lineage, check_exact=True)
    np.testing.assert_array_equal(stacked.relabelled[:, 0], flat.relabelled)


def test_3d_motion_model_treats_z_as_x(config: dict) -> None:
    settings = TrackSettings(motion_noise_um=1.0, position_noise_um=0.5)
    flat = tracker_configuration(config, settings, 0.5)
    deep = tracker_configuration(config, settings, 0.5, ndim=3)
    for name, size in (("P", 6), ("Q", 6), ("R", 3)):
        m2 = np.reshape(flat["motion_model"][name], (size, size))
        m3 = np.reshape(deep["motion_model"][name], (size, size))
        assert m3[2, 2] == m3[0, 0] == m2[0, 0]
        if size == 6:
            assert m3[5, 5] == m3[3, 3] and m3[2, 5] == m3[5, 2] == m3[0, 3]
            assert m2[5, 5] == 0.0  # 2-D holds z fixed
    assert deep["max_search_radius"] == flat["max_search_radius"]
    assert flat == tracker_configuration(config, settings, 0.5, ndim=2)


def _table_3d(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    """An object table as 3-D tracking builds it: (frame, z, y, x) in xy px, z also scaled to xy px."""
    frame, z, y, x = (list(col) for col in zip(*rows))
    return pd.DataFrame({"frame": frame, "label": range(1, len(rows) + 1), "y_px": y, "x_px": x, "area_px": 500.0,
                         "z_px": z, "z_scaled_px": z})


def test_gap_filling_measures_distances_with_z() -> None:
    """A track missing frame 2: a lone object in frame 2 at the interpolated (y, x) but 10 px away along z is not
    put into the gap; one 2 px away is."""
    table = _table_3d([(0, 20.0, 10.0, 10.0), (1, 20.0, 10.0, 11.0), (3, 20.0, 10.0, 13.0), (2, 30.0, 10.0, 12.0)])
    assert _fill_gaps([(1, 0, [0, 1, 2]), (2, 0, [3])], table, max_distance_px=3.0)[1] == 0
    near = table.assign(z_scaled_px=[20.0, 20.0, 20.0, 22.0], z_px=[20.0, 20.0, 20.0, 22.0])
    out, n = _fill_gaps([(1, 0, [0, 1, 2]), (2, 0, [3])], near, max_distance_px=3.0)
    assert n == 1 and out == [(1, 0, [0, 1, 3, 2])]


def test_division_distance_check_with_z() -> None:
    table = _table_3d([(0, 20.0, 10.0, 10.0), (1, 20.0, 10.0, 10.0), (2, 20.0, 10.0, 10.0),
                       (3, 24.0, 10.0, 10.0), (3, 16.0, 10.0, 10.0)]).assign(area_px=[500.0] * 3 + [250.0] * 2)
    raw = [(1, 0, [0, 1, 2]), (2, 1, [3]), (3, 1, [4])]
    kept, counts = _check_divisions(raw, table, TrackSettings(division_max_distance_um=2.5), 0.5)
    assert kept == raw and sum(counts.values()) == 0  # 4 px = 2 µm
    _, counts = _check_divisions(raw, table, TrackSettings(division_max_distance_um=1.5), 0.5)
    assert counts["distance"] == 1


def test_bad_input_is_rejected(config: dict) -> None:
    labels = np.zeros((2, 3, 8, 8), dtype=np.uint32)
    with pytest.raises(ValueError, match=r"\(T, Z, Y, X\)"):
        track_cells_3d(labels[:, 0], TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    with pytest.raises(ValueError, match="non-square"):
        track_cells_3d(labels, TrackSettings(), config, (2.0, 0.5, 0.4), INTERVAL_MIN)
    with pytest.raises(ValueError, match="voxel_size_um"):
        track_cells_3d(labels, TrackSettings(), config, (0.0, 0.5, 0.5), INTERVAL_MIN)
    empty = track_cells_3d(labels, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    assert list(empty.tracks.columns) == list(TRACK_COLUMNS_3D) and len(empty.tracks) == 0


def test_relabel_frames_relabels_stacks_one_at_a_time(config: dict) -> None:
    """track_cells_3d(relabel=False) then relabel_frames gives the masks relabel=True makes, one (Z, Y, X) stack
    at a time."""
    from cellpipe.track import relabel_frames

    labels = draw_stacks(10, (20, 48, 48), division_scene)
    whole = track_cells_3d(labels, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    lean = track_cells_3d(labels, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN, relabel=False)
    assert lean.relabelled is None
    stacks = list(relabel_frames(labels, lean.tracks))
    assert len(stacks) == 10 and all(s.shape == (20, 48, 48) and s.dtype == np.uint32 for s in stacks)
    np.testing.assert_array_equal(np.stack(stacks), whole.relabelled)
    assert set(np.unique(whole.relabelled[9])) == {0, 2, 3}


def test_segmented_stacks_of_a_dividing_nucleus_give_its_lineage(config: dict) -> None:
    """Intensity stacks of a nucleus that divides along z (blurred, noisy, 3 µm planes) segmented with the classical
    3-D method, then tracked: one mother and two daughters, centroids in µm where they were drawn."""
    from scipy import ndimage as ndi

    from cellpipe.config import ClassicalSettings
    from cellpipe.segment import segment_stack_classical

    truth = draw_stacks(10, (20, 48, 48), division_scene)
    rng = np.random.default_rng(0)
    settings = ClassicalSettings(intensity_transform="none", smoothing_sigma_um=0.5, background="none",
                                 threshold="otsu", seeds="distance", seed_distance_diameters=0.5)
    segmented = np.zeros_like(truth)
    for t in range(truth.shape[0]):
        image = ndi.gaussian_filter((truth[t] > 0).astype(np.float32), [0.5 / d for d in VOXEL_UM])
        image += rng.normal(0.0, 0.02, image.shape).astype(np.float32)
        segmented[t] = segment_stack_classical(image, VOXEL_UM, settings, diameter_um=8.0)
    assert [int(s.max()) for s in segmented] == [1] * 5 + [2] * 5
    res = track_cells_3d(segmented, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    assert res.lineage.to_dict("list") == {"parent": [1, 1], "child": [2, 3], "division_frame": [5, 5]}
    mother = res.tracks[res.tracks["track_id"] == 1]
    np.testing.assert_allclose(mother["z_um"], 18.0 + 3.0 * np.arange(5), atol=0.5)
    last = res.tracks[res.tracks["frame"] == 9].sort_values("z_um")
    np.testing.assert_allclose(last["z_um"], [30.0 - 10.5, 30.0 + 10.5], atol=0.5)


def test_small_fragments_are_dropped_by_volume(config: dict) -> None:
    """min_area_um2 (10 µm²) becomes the volume of the sphere of that central section (23.8 µm³): a ball of 1.5 µm
    radius (one plane of 29 voxels here, 21.75 µm³) is dropped, one of 4 µm is tracked."""
    def scene(t: int):
        return [(1, (15.0, 12.0, 10.0 + t), 4.0), (2, (15.0, 12.0, 20.0), 1.5)]

    res = track_cells_3d(draw_stacks(5, (10, 48, 48), scene), TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    assert res.info["min_volume_vox"] == pytest.approx(4.0 / 3.0 * np.pi * (10.0 / np.pi) ** 1.5 / 0.75)
    assert res.info["n_small_objects_dropped"] == 5 and set(res.tracks["label"]) == {1}
    assert res.tracks["track_id"].nunique() == 1


def test_objects_cut_by_a_face_of_the_stack_are_kept_whatever_their_volume(config: dict) -> None:
    """A nucleus entering through a face shows only a cap: a 2 µm ball centred 1.5 µm outside the y = 0 face
    (a cap of a few voxels, far under the 23.8 µm³ bound) is tracked through all five stacks, while the same
    ball inside the stack is dropped."""
    def scene(t: int):
        return [(1, (15.0, 12.0, 10.0 + t), 4.0), (2, (15.0, 12.0, 20.0), 1.5), (3, (15.0, -1.5, 15.0), 2.0)]

    stacks = draw_stacks(5, (10, 48, 48), scene)
    cap = int((stacks[0] == 3).sum())
    assert 0 < cap * 0.75 < 4.0 / 3.0 * np.pi * (10.0 / np.pi) ** 1.5
    res = track_cells_3d(stacks, TrackSettings(), config, VOXEL_UM, INTERVAL_MIN)
    assert res.info["n_small_objects_dropped"] == 5
    assert set(res.tracks["label"]) == {1, 3}
    assert res.tracks.groupby("label")["frame"].count().to_dict() == {1: 5, 3: 5}
