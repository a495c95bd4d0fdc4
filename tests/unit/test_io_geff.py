"""Tests of cellpipe.io.geff: the track graph written as geff, read back by geff's own validation and readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_export import INTERVAL_MIN, PIXEL_UM, make_cells, make_tracked


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_geff_export_passes_geffs_validation_with_a_node_per_object_and_an_edge_per_link(
    tmp_path: Path, zarr_format: int
) -> None:
    """In Zarr v2 (``.zgroup`` and ``.zattrs``, no ``zarr.json``: beside NGFF 0.4) and v3 (``zarr.json`` only:
    beside 0.5), geff's validation (the function and ``geff validate``) passes and geff's reader reads the
    same graph back."""
    import geff
    from geff.core_io import read_to_memory
    from geff.validate.data import ValidationConfig

    from cellpipe.export import to_track_graph
    from cellpipe.io.geff import write_track_geff

    # track 1 has a gap (frames 0, 1, 3) and divides into 2 and 3; track 4 is alone
    masks, tracks = make_tracked({1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1), 4: ([1, 2], 0)}, 6)
    cells = make_cells(tracks)
    graph = to_track_graph(tracks, cells, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    store = tmp_path / "tracks.geff"
    write_track_geff(store, graph, zarr_format=zarr_format)

    metadata_names = {p.name for p in store.rglob("*") if p.name in ("zarr.json", ".zgroup", ".zattrs", ".zarray")}
    assert metadata_names == ({"zarr.json"} if zarr_format == 3 else {".zgroup", ".zattrs", ".zarray"})
    import zarr

    assert zarr.open_group(str(store), mode="r").metadata.zarr_format == zarr_format
    geff.validate_structure(str(store))  # what `geff validate` runs; and the command itself:
    cli = Path(sys.executable).parent / "geff"
    if cli.exists():
        proc = subprocess.run([str(cli), "validate", str(store)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    mem = read_to_memory(str(store), data_validation=ValidationConfig(graph=True, tracklet=True, lineage=True))
    meta = mem["metadata"]
    assert [(a.name, a.type, a.unit) for a in meta.axes] == [
        ("t", "time", "minute"), ("y", "space", "micrometer"), ("x", "space", "micrometer")]
    assert meta.directed and meta.track_node_props == {"tracklet": "track_id", "lineage": "lineage_id"}
    assert meta.node_props_metadata["area_um2"].unit == "micrometer^2"
    assert meta.node_props_metadata["frame"].unit == "frame"
    # a pixel count is an area, not a length; a perimeter is a length; an intensity has no unit
    assert meta.node_props_metadata["area_px"].unit == "pixel^2"
    assert meta.node_props_metadata["perimeter_um"].unit == "micrometer"
    assert meta.node_props_metadata["mean_intensity_nuclei"].unit is None

    props = {name: prop["values"] for name, prop in mem["node_props"].items()}
    n_objects = sum(len(np.unique(frame)) - 1 for frame in masks)
    assert len(mem["node_ids"]) == n_objects == len(tracks) == 9
    node = {(int(k), int(f)): int(n) for n, k, f in zip(mem["node_ids"], props["track_id"], props["frame"], strict=True)}
    edges = {(int(a), int(b)) for a, b in mem["edge_ids"]}
    links = {(node[1, 0], node[1, 1]), (node[1, 1], node[1, 3]), (node[2, 4], node[2, 5]),
             (node[3, 4], node[3, 5]), (node[4, 1], node[4, 2])}
    divisions = {(node[1, 3], node[2, 4]), (node[1, 3], node[3, 4])}
    assert edges == links | divisions
    division = dict(zip(map(tuple, mem["edge_ids"].tolist()), mem["edge_props"]["division"]["values"], strict=True))
    assert {e for e, d in division.items() if d} == divisions

    # positions in µm and times in minutes, computed here from the pixel columns
    by_key = tracks.set_index(["track_id", "frame"])
    for (track, frame), n in node.items():
        i = list(mem["node_ids"]).index(n)
        assert props["t"][i] == frame * 5.0
        assert props["y"][i] == pytest.approx(by_key.at[(track, frame), "y_px"] * 0.65, abs=1e-12)
        assert props["x"][i] == pytest.approx(by_key.at[(track, frame), "x_px"] * 0.65, abs=1e-12)
        assert props["area_um2"][i] == pytest.approx(36 * 0.65**2)
    assert set(props["lineage_id"][[list(mem["node_ids"]).index(node[k]) for k in [(1, 0), (2, 5), (3, 4)]]]) == {1}
    assert {"mean_intensity_nuclei", "integrated_intensity_nuclei", "perimeter_um", "label"} <= set(props)
    networkx_graph, _ = geff.read(str(store))  # geff's own networkx reader
    assert networkx_graph.number_of_nodes() == 9 and set(networkx_graph.edges) == edges
    with pytest.raises(ValueError, match="zarr_format"):
        write_track_geff(tmp_path / "other.geff", graph, zarr_format=4)  # type: ignore[arg-type]
