"""Tests of the CTC, napari and geff exports of tracking results (cellpipe.export); test_steps_export.py tests the rule's
step, test_io_geff.py the geff file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.export import MAX_CTC_LABEL, NAPARI_COLUMNS, SEGMENT_COLUMNS, ctc_segments, to_ctc, to_napari_tracks
from cellpipe.io.ctc import TRACK_COLUMNS, check_ctc_tracks, read_ctc_results, write_ctc_results
from cellpipe.layout import DEFAULT_OME_ZARR_VERSION, OME_ZARR_METADATA

OME_META = OME_ZARR_METADATA[DEFAULT_OME_ZARR_VERSION]
"""The metadata file of an OME-Zarr store as the rules declare it (cellpipe.layout)."""

SIZE = 6  # px, side of each square object
SHAPE = (48, 48)


def make_tracked(spec: dict[int, tuple[list[int], int]], n_frames: int) -> tuple[np.ndarray, pd.DataFrame]:
    """A track-relabelled movie and its tracks table from ``{track_id: (frames, parent)}``.

    Each track is a SIZE x SIZE square in its own slot of a grid (so objects never touch);
    its centroid moves 1 px right per frame.
    """
    masks = np.zeros((n_frames, *SHAPE), dtype=np.uint32)
    rows = []
    for slot, (track_id, (frames, parent)) in enumerate(sorted(spec.items())):
        y0, x0 = 2 + 12 * (slot // 3), 2 + 14 * (slot % 3)
        for t in frames:
            masks[t, y0:y0 + SIZE, x0 + t:x0 + t + SIZE] = track_id
            cy, cx = y0 + (SIZE - 1) / 2, x0 + t + (SIZE - 1) / 2
            rows.append({"frame": t, "time_min": 5.0 * t, "track_id": track_id, "label": slot + 1,
                         "y_px": cy, "x_px": cx, "y_um": 0.5 * cy, "x_um": 0.5 * cx,
                         "parent": parent, "root": 0, "generation": 0})
    tracks = pd.DataFrame(rows, columns=["frame", "time_min", "track_id", "label", "y_px", "x_px",
                                         "y_um", "x_um", "parent", "root", "generation"])
    return masks, tracks.sort_values(["track_id", "frame"]).reset_index(drop=True)


def table(df: pd.DataFrame) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in row) for row in df.itertuples(index=False)]


def test_a_track_with_a_gap_becomes_two_segments_the_second_child_of_the_first() -> None:
    masks, tracks = make_tracked({1: ([0, 1, 3, 4], 0), 2: ([0, 1, 2, 3, 4], 0)}, n_frames=5)
    labels, ctc = to_ctc(masks, tracks)
    assert labels.dtype == np.uint16 and labels.shape == masks.shape
    assert list(ctc.columns) == list(TRACK_COLUMNS)
    # label first last parent: track 1 -> labels 1 (0-1) and 2 (3-4, parent 1); track 2 -> label 3
    assert table(ctc) == [(1, 0, 1, 0), (2, 3, 4, 1), (3, 0, 4, 0)]
    assert check_ctc_tracks(labels, ctc) == []
    # each object keeps its pixels, with its segment's label
    np.testing.assert_array_equal(labels > 0, masks > 0)
    assert set(np.unique(labels[1])) == {0, 1, 3} and set(np.unique(labels[2])) == {0, 3}
    assert set(np.unique(labels[3])) == {0, 2, 3}
    np.testing.assert_array_equal(labels[4] == 2, masks[4] == 1)
    segments = ctc_segments(tracks)
    assert list(segments.columns) == list(SEGMENT_COLUMNS)
    assert table(segments) == [(1, 1, 0, 0, 1, 0), (2, 1, 1, 3, 4, 1), (3, 2, 0, 0, 4, 0)]
    # a precomputed mapping gives the same result; one from other tracks is refused
    same_labels, same_ctc = to_ctc(masks, tracks, segments=segments)
    np.testing.assert_array_equal(same_labels, labels)
    assert table(same_ctc) == table(ctc)
    with pytest.raises(ValueError, match="segments has 2 rows"):
        to_ctc(masks, tracks, segments=segments.iloc[:2])


def test_daughters_of_a_mother_with_a_gap_hang_from_her_last_segment() -> None:
    spec = {1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1), 4: ([0, 2, 4, 5], 0)}
    masks, tracks = make_tracked(spec, n_frames=6)
    labels, ctc = to_ctc(masks, tracks)
    assert table(ctc) == [
        (1, 0, 1, 0), (2, 3, 3, 1),  # mother: two segments
        (3, 4, 5, 2), (4, 4, 5, 2),  # daughters: parent = mother's last segment
        (5, 0, 0, 0), (6, 2, 2, 5), (7, 4, 5, 6),  # track 4: three segments in a chain
    ]
    assert check_ctc_tracks(labels, ctc) == []
    segments = ctc_segments(tracks)
    assert segments.set_index("label")["track_id"].to_dict() == {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 4}
    assert segments["segment"].tolist() == [0, 1, 0, 0, 0, 1, 2]


def test_ctc_export_reads_back_with_traccuracy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("traccuracy")
    from traccuracy.loaders import load_ctc_data

    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1), 4: ([0, 1, 2, 3, 4, 5], 0)}, 6)
    labels, ctc = to_ctc(masks, tracks)
    res = tmp_path / "01_RES"
    write_ctc_results(res, labels, ctc)
    back_labels, back_tracks = read_ctc_results(res)
    np.testing.assert_array_equal(back_labels, labels)
    assert table(back_tracks) == table(ctc)

    with caplog.at_level(logging.WARNING):
        graph = load_ctc_data(str(res), track_path=str(res / "res_track.txt"), name="export").graph
    assert not [r for r in caplog.records if "non-connected" in r.getMessage()]
    n_objects = sum(len(np.unique(frame)) - 1 for frame in masks)
    assert graph.number_of_nodes() == n_objects == len(tracks) == 13
    node = {(int(a["segmentation_id"]), int(a["t"])): n for n, a in graph.nodes(data=True)}
    # segments: mother 1 (0-1), 2 (3); daughters 3, 4 (4-5); track 4 -> 5 (0-5)
    edges = set(graph.edges)
    assert (node[1, 1], node[2, 3]) in edges  # gap link: first segment -> second
    assert (node[2, 3], node[3, 4]) in edges and (node[2, 3], node[4, 4]) in edges  # division
    assert (node[5, 2], node[5, 3]) in edges
    assert graph.out_degree(node[2, 3]) == 2
    assert graph.number_of_edges() == 1 + 1 + 2 + 1 + 1 + 5  # within segments + gap + division


def test_masks_and_table_must_agree_and_errors_name_frame_and_track() -> None:
    masks, tracks = make_tracked({1: ([0, 1, 2], 0), 2: ([0, 1, 2], 0)}, n_frames=3)
    extra = masks.copy()
    extra[1, 40:44, 40:44] = 9
    with pytest.raises(ValueError, match=r"frame 1: track id\(s\) 9 in the mask but not in the tracks table"):
        to_ctc(extra, tracks)
    missing = masks.copy()
    missing[2][missing[2] == 2] = 0
    with pytest.raises(ValueError, match=r"frame 2: track\(s\) 2 in the tracks table but absent from the mask"):
        to_ctc(missing, tracks)
    with pytest.raises(ValueError, match=r"track 1 has a row at frame 2, but the masks have 2 frames"):
        to_ctc(masks[:2], tracks)
    orphan = tracks.assign(parent=np.where(tracks["track_id"] == 2, 7, 0))
    with pytest.raises(ValueError, match="track 2 names parent track 7, which has no rows"):
        to_ctc(masks, orphan)
    with pytest.raises(ValueError, match="must be \\(T, Y, X\\)"):
        to_ctc(masks[0], tracks)


def dense_movie(n_tracks: int) -> tuple[np.ndarray, pd.DataFrame]:
    """``n_tracks`` one-pixel tracks present in frames 0 and 2 of a 3-frame movie (absent in frame 1), so the
    CTC export splits each in two: 2 x ``n_tracks`` segments.  Tracks fill the frames' pixels in order."""
    side = int(np.ceil(np.sqrt(n_tracks)))
    masks = np.zeros((3, side, side), dtype=np.uint32)
    ids = np.arange(1, n_tracks + 1, dtype=np.uint32)
    for t in (0, 2):
        masks[t].ravel()[:n_tracks] = ids
    pixel = np.repeat(np.arange(n_tracks), 2)
    tracks = pd.DataFrame({"track_id": np.repeat(ids.astype(np.int64), 2), "frame": np.tile([0, 2], n_tracks),
                           "parent": 0, "y_px": (pixel // side).astype(float), "x_px": (pixel % side).astype(float)})
    return masks, tracks


def read_only_dense_movie(n_tracks: int) -> tuple[np.ndarray, pd.DataFrame]:
    """dense_movie(n_tracks) with read-only masks, so that no test changes what the next one gets."""
    masks, tracks = dense_movie(n_tracks)
    masks.setflags(write=False)
    return masks, tracks


@pytest.fixture(scope="module")
def dense_40k() -> tuple[np.ndarray, pd.DataFrame]:
    """read_only_dense_movie(40_000), built once for the tests that need more than 65535 CTC segments."""
    return read_only_dense_movie(40_000)


def test_more_segments_than_uint16_labels_give_uint32_masks(dense_40k: tuple[np.ndarray, pd.DataFrame]) -> None:
    """Issue #23 item 7: more than 65535 CTC segments stopped export_tracks (and the sample's provenance, report
    and summary with it).  The masks are now uint32, every frame alike; up to 65535 they stay uint16."""
    from cellpipe.export import ctc_mask_dtype

    assert ctc_mask_dtype(MAX_CTC_LABEL) == np.uint16 and ctc_mask_dtype(MAX_CTC_LABEL + 1) == np.uint32
    n = MAX_CTC_LABEL + 1
    many = pd.DataFrame({"track_id": np.arange(1, n + 1), "frame": np.zeros(n, dtype=np.int64),
                         "parent": np.zeros(n, dtype=np.int64)})
    assert len(ctc_segments(many)) == n
    # gaps count: 40000 tracks present at frames 0 and 2 need 80000 labels
    masks, gaps = dense_40k
    labels, ctc = to_ctc(masks, gaps.copy())
    assert labels.dtype == np.uint32 and int(labels.max()) == 80_000 and len(ctc) == 80_000
    assert check_ctc_tracks(labels, ctc) == []
    # track k (pixel k-1) is segments 2k-1 (frame 0) and 2k (frame 2, parent 2k-1)
    assert labels[0].ravel()[39_999] == 79_999 and labels[2].ravel()[39_999] == 80_000 and not labels[1].any()
    assert table(ctc.iloc[-2:]) == [(79_999, 0, 0, 0), (80_000, 2, 2, 79_999)]
    small, _ = to_ctc(*dense_movie(10))
    assert small.dtype == np.uint16


def test_py_ctcmetrics_and_traccuracy_read_uint32_masks(tmp_path: Path) -> None:
    """The reason uint32 is written rather than nothing: both CTC readers cellpipe knows take labels > 65535."""
    from traccuracy.loaders import load_ctc_data

    from cellpipe.evaluate import ctc_scores
    from cellpipe.io.ctc import write_ctc_ground_truth

    masks, tracks = make_tracked({1: ([0, 1, 2], 0), 2: ([0, 1, 2], 0)}, 3)
    truth = pd.DataFrame({"label": [1, 2], "first_frame": [0, 0], "last_frame": [2, 2], "parent": [0, 0]})
    write_ctc_ground_truth(tmp_path / "01_GT", masks, truth)
    result = masks.copy()
    result[masks == 1], result[masks == 2] = 70_000, 70_001
    write_ctc_results(tmp_path / "01_RES", result, truth.assign(label=[70_000, 70_001]))
    assert read_ctc_results(tmp_path / "01_RES")[0].dtype == np.uint32
    scores = ctc_scores(tmp_path / "01_RES", tmp_path / "01_GT")
    assert scores["valid"] and scores["DET"] == 1.0 and scores["TRA"] == 1.0 and scores["SEG"] == 1.0
    graph = load_ctc_data(str(tmp_path / "01_RES"), str(tmp_path / "01_RES" / "res_track.txt"))
    assert {graph.graph.nodes[n]["segmentation_id"] for n in graph.graph.nodes} == {70_000, 70_001}


def test_the_report_says_which_ctc_masks_were_written() -> None:
    from cellpipe.config import load_config
    from cellpipe.report import ctc_export_text

    assert "uint16" in ctc_export_text(12) and "uint32" not in ctc_export_text(12)
    dense = ctc_export_text(80_000)
    assert "80000 CTC segments" in dense and "uint32" in dense and "py-ctcmetrics" in dense and "16-bit" in dense
    assert "export.ctc: false" in ctc_export_text(None)
    assert load_config({"export": {"ctc": False}}).export.ctc is False
    assert load_config({}).export.ctc is True


def test_a_division_the_ctc_format_cannot_express_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    masks, tracks = make_tracked({1: ([0, 1, 2], 0), 2: ([2, 3], 1)}, n_frames=4)
    with caplog.at_level(logging.WARNING, logger="cellpipe.export"):
        labels, ctc = to_ctc(masks, tracks)
    assert table(ctc) == [(1, 0, 2, 0), (2, 2, 3, 0)]
    assert check_ctc_tracks(labels, ctc) == []
    assert "track 2 starts at frame 2 but its parent track 1 ends at frame 2" in caplog.text


def test_napari_tracks_are_sorted_in_pixels_with_the_division_graph() -> None:
    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1), 4: ([1, 2], 0)}, 6)
    shuffled = tracks.sample(frac=1.0, random_state=0)
    data, graph = to_napari_tracks(shuffled, pixel_size_um=0.5, frame_interval_min=5.0)
    assert list(data.columns) == list(NAPARI_COLUMNS)
    assert data["track_id"].tolist() == [1, 1, 1, 2, 2, 3, 3, 4, 4]
    assert data["t"].tolist() == [0, 1, 3, 4, 5, 4, 5, 1, 2]
    assert data["track_id"].dtype == np.int64 and data["t"].dtype == np.int64
    # pixels, not µm: track 1 at frame 3 sits at (2 + 2.5, 2 + 3 + 2.5)
    row = data[(data["track_id"] == 1) & (data["t"] == 3)].iloc[0]
    assert (row["y"], row["x"]) == (4.5, 7.5)
    assert graph == {2: [1], 3: [1]}
    # the same centroid as the mask's pixels
    yy, xx = np.nonzero(masks[3] == 1)
    assert (yy.mean(), xx.mean()) == (row["y"], row["x"])


class _FrameReader:
    """A (T, Y, X) movie that counts frame reads and refuses whole-movie reads."""

    def __init__(self, array: np.ndarray) -> None:
        self._array, self.shape, self.dtype, self.reads = array, array.shape, array.dtype, []

    def __getitem__(self, t):
        assert isinstance(t, (int, np.integer)), f"read of {t!r}: only single frames"
        self.reads.append(int(t))
        return self._array[t]


def test_frame_by_frame_export_equals_the_whole_movie_export(tmp_path: Path) -> None:
    """iter_ctc_frames reads one frame per step and gives to_ctc's frames; write_ctc_result_frames
    writes the same files, byte for byte, as write_ctc_results."""
    from cellpipe.export import iter_ctc_frames
    from cellpipe.io.ctc import write_ctc_result_frames, write_ctc_results

    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1)}, 6)
    labels, ctc = to_ctc(masks, tracks)
    reader = _FrameReader(masks)
    frames, ctc_lazy = iter_ctc_frames(reader, tracks)
    assert reader.reads == []  # nothing read before the frames are asked for
    pd.testing.assert_frame_equal(ctc_lazy, ctc)
    write_ctc_result_frames(tmp_path / "lazy", frames, 6, ctc_lazy)
    assert reader.reads == [0, 1, 2, 3, 4, 5]
    write_ctc_results(tmp_path / "whole", labels, ctc)
    names = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "lazy").iterdir())
    for name in names:
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "lazy" / name).read_bytes(), name


def test_frame_by_frame_export_stops_at_a_bad_frame_and_leaves_nothing(tmp_path: Path) -> None:
    from cellpipe.export import iter_ctc_frames
    from cellpipe.io.ctc import write_ctc_result_frames

    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1)}, 6)
    masks = masks.copy()
    masks[4][masks[4] == 2] = 0  # track 2 vanishes from the mask of frame 4
    frames, ctc = iter_ctc_frames(masks, tracks)
    with pytest.raises(ValueError, match=r"frame 4: track\(s\) 2 in the tracks table but absent from the mask"):
        write_ctc_result_frames(tmp_path / "ctc", frames, 6, ctc)
    assert list(tmp_path.iterdir()) == []
    good, ctc = iter_ctc_frames(make_tracked({1: ([0, 1], 0)}, 2)[0], make_tracked({1: ([0, 1], 0)}, 2)[1])
    with pytest.raises(ValueError, match="2 frames written, 3 announced"):
        write_ctc_result_frames(tmp_path / "ctc", good, 3, ctc)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# physical units and the geff graph (#24)
# ------------------------------------------------------------------------------------------

PIXEL_UM, INTERVAL_MIN = 0.65, 5.0


def test_napari_table_gives_micrometres_and_minutes_next_to_unchanged_pixel_columns() -> None:
    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1)}, 6)
    data, graph = to_napari_tracks(tracks, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    assert list(data.columns) == ["track_id", "t", "y", "x", "t_min", "y_um", "x_um"] == list(NAPARI_COLUMNS)
    assert graph == {2: [1], 3: [1]}
    for row in data.itertuples(index=False):
        # independent of the export: the centroid of the object's pixels in the mask, times the pixel size
        yy, xx = np.nonzero(masks[row.t] == row.track_id)
        assert (row.y, row.x) == (yy.mean(), xx.mean())  # pixel columns as before
        assert row.y_um == pytest.approx(yy.mean() * 0.65, abs=1e-12)
        assert row.x_um == pytest.approx(xx.mean() * 0.65, abs=1e-12)
        assert row.t_min == row.t * 5.0
    with pytest.raises(ValueError, match="pixel_size_um"):
        to_napari_tracks(tracks, pixel_size_um=0.0, frame_interval_min=INTERVAL_MIN)


def make_cells(tracks: pd.DataFrame) -> pd.DataFrame:
    """A cells.parquet-like table for make_tracked's objects (SIZE x SIZE squares), one row per object."""
    area_px = SIZE * SIZE
    return pd.DataFrame({
        "frame": tracks["frame"].to_numpy(), "time_min": tracks["frame"].to_numpy() * INTERVAL_MIN,
        "label": tracks["label"].to_numpy(), "track_id": tracks["track_id"].astype("Int64").to_numpy(),
        "area_px": np.full(len(tracks), area_px), "area_um2": np.full(len(tracks), area_px * PIXEL_UM**2),
        "centroid_y_um": tracks["y_px"].to_numpy() * PIXEL_UM, "centroid_x_um": tracks["x_px"].to_numpy() * PIXEL_UM,
        "eccentricity": np.zeros(len(tracks)), "solidity": np.ones(len(tracks)),
        "perimeter_um": np.full(len(tracks), 4 * (SIZE - 1) * PIXEL_UM),
        "mean_intensity_nuclei": np.arange(len(tracks), dtype=float),
        "integrated_intensity_nuclei": np.arange(len(tracks), dtype=float) * area_px,
    })


def test_units_of_cellpipes_columns_follow_their_names() -> None:
    """Lengths, areas and volumes in µm, pixel and voxel counts, minutes (the geff property units)."""
    from cellpipe.export import _unit_of

    assert {c: _unit_of(c) for c in ["area_px", "area_um2", "volume_voxels", "volume_um3", "perimeter_um",
                                      "centroid_z_um", "y_px", "time_min", "eccentricity"]} == {
        "area_px": "pixel^2", "area_um2": "micrometer^2", "volume_voxels": "voxel", "volume_um3": "micrometer^3",
        "perimeter_um": "micrometer", "centroid_z_um": "micrometer", "y_px": "pixel", "time_min": "minute",
        "eccentricity": None}


def test_geff_export_drops_a_division_that_does_not_go_forward_in_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from geff.core_io import read_to_memory
    from geff.validate.data import ValidationConfig

    from cellpipe.export import to_track_graph
    from cellpipe.io.geff import write_track_geff

    _, tracks = make_tracked({1: ([0, 1, 2], 0), 2: ([2, 3], 1)}, n_frames=4)
    with caplog.at_level(logging.WARNING, logger="cellpipe.export"):
        graph = to_track_graph(tracks, None, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    assert "track 2 starts at frame 2 but its parent track 1 ends at frame 2" in caplog.text
    write_track_geff(tmp_path / "g.geff", graph)
    mem = read_to_memory(str(tmp_path / "g.geff"), data_validation=ValidationConfig(graph=True, tracklet=True,
                                                                                     lineage=True))
    assert len(mem["node_ids"]) == 5 and len(mem["edge_ids"]) == 3  # the links only


def test_track_ids_far_above_the_frame_size_are_relabelled_alike() -> None:
    """Track ids larger than a lookup table over the frame would hold (5,000,000 in 4 x 4 frames) give the same CTC
    masks as small ids: each object its segment's label, the background 0."""
    small = np.zeros((2, 4, 4), np.uint32)
    small[:, :2, :2] = 7
    small[:, 2:, 2:] = 8
    tracks = pd.DataFrame({"track_id": [7, 7, 8, 8], "frame": [0, 1, 0, 1], "parent": [0, 0, 0, 0]})
    expected, expected_tracks = to_ctc(small, tracks)
    large = np.where(small == 8, 5_000_000, small).astype(np.uint32)
    labels, ctc_tracks = to_ctc(large, tracks.replace({"track_id": {8: 5_000_000}}))
    np.testing.assert_array_equal(labels, expected)
    pd.testing.assert_frame_equal(ctc_tracks, expected_tracks)
    assert (labels[:, 2:, :2] == 0).all()
