"""CTC export of 3-D tracking results (cellpipe.export.to_ctc on the (T, Z, Y, X) masks of track_cells_3d)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellpipe.config import TrackSettings
from cellpipe.export import to_ctc
from cellpipe.io.ctc import check_ctc_tracks
from cellpipe.track import track_cells_3d

CONFIG_PATH = Path(__file__).resolve().parents[2] / "resources" / "tracker" / "cellpipe_tracker.json"
VOXEL_UM = (3.0, 0.5, 0.5)


def balls(n_frames: int, shape: tuple[int, int, int], scene) -> np.ndarray:
    """(T, Z, Y, X) labels: balls (label, (z, y, x) centre µm, radius µm) per frame, voxel centres at index x size."""
    z, y, x = (np.arange(n).reshape([-1 if i == axis else 1 for i in range(3)]) * d
               for axis, (n, d) in enumerate(zip(shape, VOXEL_UM)))
    labels = np.zeros((n_frames, *shape), dtype=np.uint32)
    for t in range(n_frames):
        for lbl, (cz, cy, cx), r in scene(t):
            labels[t][(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2] = lbl
    return labels


def test_3d_division_exports_as_3d_ctc_masks_and_lineage() -> None:
    """A ball dividing along z, plus one that is gone for a frame: 3-D CTC masks (one (Z, Y, X) mask per frame) whose
    labels are the CTC labels of the track table, the daughters' parent the mother, the gap a new segment."""
    def scene(t: int):
        out = [(1, (18.0 + 3.0 * t, 12.0, 12.0), 5.0)] if t < 5 else [
            (2, (30.0 + 4.5 + 1.5 * (t - 5), 12.0, 12.0), 4.0), (1, (30.0 - 4.5 - 1.5 * (t - 5), 12.0, 12.5), 4.0)]
        if t != 4:
            out.append((3, (24.0, 12.0, 30.0), 4.0))
        return out

    labels = balls(10, (20, 48, 80), scene)
    config = json.loads(CONFIG_PATH.read_text())
    res = track_cells_3d(labels, TrackSettings(), config, VOXEL_UM, 5.0)
    ctc_labels, ctc = to_ctc(res.relabelled, res.tracks)
    assert ctc_labels.shape == labels.shape and ctc_labels.dtype == np.uint16
    assert check_ctc_tracks(ctc_labels, ctc) == []
    rows = sorted(tuple(int(v) for v in row) for row in ctc.itertuples(index=False))
    mother = next(r for r in rows if r[1:] == (0, 4, 0))
    daughters = [r for r in rows if r[3] == mother[0]]
    assert [(d[1], d[2]) for d in daughters] == [(5, 9), (5, 9)]
    # the still ball: a segment for frames 0-3 and, after its gap, a child segment for frames 5-9
    still = next(r for r in rows if r[1:3] == (0, 3))
    assert any(r[1:] == (5, 9, still[0]) for r in rows)
    # each exported object keeps its voxels
    for t in range(10):
        assert np.array_equal(ctc_labels[t] > 0, labels[t] > 0)


def test_masks_of_other_dimensions_are_refused() -> None:
    import pandas as pd

    with pytest.raises(ValueError, match=r"\(T, Y, X\) or \(T, Z, Y, X\)"):
        to_ctc(np.zeros((2, 2, 3, 8, 8), dtype=np.uint32), pd.DataFrame({"track_id": [], "frame": [], "parent": []}))


def test_napari_tracks_of_3d_tracking_carry_z() -> None:
    """The napari table of 3-D tracks has z (voxels) and z_um beside y and x, in napari's axis order; the graph
    links the daughters to the mother."""
    from cellpipe.export import NAPARI_COLUMNS, NAPARI_COLUMNS_3D, to_napari_tracks

    def scene(t: int):
        if t < 5:
            return [(1, (18.0 + 3.0 * t, 12.0, 12.0), 5.0)]
        return [(2, (30.0 + 4.5 + 1.5 * (t - 5), 12.0, 12.0), 4.0), (1, (30.0 - 4.5 - 1.5 * (t - 5), 12.0, 12.5), 4.0)]

    res = track_cells_3d(balls(10, (20, 48, 48), scene), TrackSettings(), json.loads(CONFIG_PATH.read_text()),
                         VOXEL_UM, 5.0)
    data, graph = to_napari_tracks(res.tracks, pixel_size_um=0.5, frame_interval_min=5.0)
    assert list(data.columns) == list(NAPARI_COLUMNS_3D)
    assert list(data.columns[:5]) == ["track_id", "t", "z", "y", "x"]
    np.testing.assert_allclose(data["z_um"], data["z"] * VOXEL_UM[0])
    mother = data[data["track_id"] == 1]
    np.testing.assert_allclose(mother["z_um"], 18.0 + 3.0 * np.arange(5), atol=0.2)
    assert graph == {2: [1], 3: [1]}
    flat, _ = to_napari_tracks(res.tracks.drop(columns=["z_px", "z_um"]), pixel_size_um=0.5, frame_interval_min=5.0)
    assert list(flat.columns) == list(NAPARI_COLUMNS)


def test_geff_of_3d_tracking_has_a_z_axis_in_µm(tmp_path: Path) -> None:
    """The geff of a 3-D tracking result passes geff's validation with axes t, z, y, x and z in µm per node."""
    from geff.core_io import read_to_memory
    from geff.validate.data import ValidationConfig

    from cellpipe.export import to_track_graph
    from cellpipe.io.geff import write_track_geff

    def scene(t: int):
        if t < 5:
            return [(1, (18.0 + 3.0 * t, 12.0, 12.0), 5.0)]
        return [(2, (30.0 + 4.5 + 1.5 * (t - 5), 12.0, 12.0), 4.0), (1, (30.0 - 4.5 - 1.5 * (t - 5), 12.0, 12.5), 4.0)]

    res = track_cells_3d(balls(10, (20, 48, 48), scene), TrackSettings(), json.loads(CONFIG_PATH.read_text()),
                         VOXEL_UM, 5.0)
    graph = to_track_graph(res.tracks, None, pixel_size_um=0.5, frame_interval_min=5.0)
    write_track_geff(tmp_path / "tracks.geff", graph)
    mem = read_to_memory(str(tmp_path / "tracks.geff"),
                         data_validation=ValidationConfig(graph=True, tracklet=True, lineage=True))
    assert [(a.name, a.unit) for a in mem["metadata"].axes] == [
        ("t", "minute"), ("z", "micrometer"), ("y", "micrometer"), ("x", "micrometer")]
    props = {name: prop["values"] for name, prop in mem["node_props"].items()}
    np.testing.assert_allclose(props["z"], props["z_px"] * VOXEL_UM[0])
    order = res.tracks.sort_values(["track_id", "frame"], kind="stable")
    np.testing.assert_allclose(props["z"], order["z_um"].to_numpy())
    assert int(mem["edge_props"]["division"]["values"].sum()) == 2
