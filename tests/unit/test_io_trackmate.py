"""Tests of the TrackMate XML export (cellpipe.io.trackmate), read back by independent readers: lxml, geff's
TrackMate converter (and `geff validate` on what it makes) and pytrackmate."""

from __future__ import annotations

import math
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.export import to_track_graph
from cellpipe.io.trackmate import SPACE_UNIT, TIME_UNIT, TrackMateImage, write_trackmate_xml

PIXEL_UM, INTERVAL_MIN = 0.5, 5.0
# track id -> (frames, parent): track 1 has a gap (frames 0, 1, 3) and divides into 2 and 3; track 4 is
# alone; track 5 is a single object (a lineage without an edge)
SPEC = {1: ([0, 1, 3], 0), 2: ([4, 5], 1), 3: ([4, 5], 1), 4: ([1, 2], 0), 5: ([2], 0)}
N_FRAMES, HEIGHT, WIDTH = 6, 40, 64


def tiny_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tracks table (track_id, frame, label, y_px, x_px, parent, generation) from SPEC, each track on its own row
    of the image moving 2 px right per frame, and its cells table: area ``(track id) x pi`` µm² (so RADIUS is
    ``sqrt(track id)`` µm), perimeter, a mean intensity ``10 x track id + frame``."""
    rows, cells = [], []
    for track, (frames, parent) in SPEC.items():
        for frame in frames:
            label = 10 + track
            rows.append({"track_id": track, "frame": frame, "label": label, "y_px": 6.0 * track, "x_px": 4.0 + 2 * frame,
                         "parent": parent, "generation": int(parent != 0)})
            cells.append({"frame": frame, "time_min": frame * INTERVAL_MIN, "label": label, "track_id": track,
                          "area_px": 4 * track, "area_um2": track * math.pi, "perimeter_um": 3.0 * track,
                          "mean_intensity_GFP": 10.0 * track + frame})
    return pd.DataFrame(rows), pd.DataFrame(cells)


def write_tiny(path: Path) -> Path:
    tracks, cells = tiny_tables()
    graph = to_track_graph(tracks, cells, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    write_trackmate_xml(path, graph, TrackMateImage(width_px=WIDTH, height_px=HEIGHT, n_frames=N_FRAMES,
                                                    filename="image.ome.zarr"))
    return path


@pytest.fixture
def tiny_xml(tmp_path: Path) -> Path:
    return write_tiny(tmp_path / "tracks.trackmate.xml")


def spots_by_key(root) -> dict[tuple[int, int], dict[str, str]]:
    """(cellpipe track id, frame) -> the attributes of its <Spot>."""
    return {(int(s.get("CELLPIPE_TRACK_ID")), int(s.get("FRAME"))): dict(s.attrib) for s in root.iter("Spot")}


def test_the_file_holds_every_spot_lineage_and_setting_with_exact_values(tiny_xml: Path) -> None:
    from lxml import etree

    root = etree.parse(str(tiny_xml)).getroot()
    assert root.tag == "TrackMate" and root.get("version")
    model = root.find("Model")
    assert (model.get("spatialunits"), model.get("timeunits")) == (SPACE_UNIT, TIME_UNIT) == ("µm", "min")
    declared = {f.get("feature"): (f.get("dimension"), f.get("isint")) for f in model.find("FeatureDeclarations/SpotFeatures")}
    assert declared["POSITION_X"] == ("POSITION", "false") and declared["POSITION_T"] == ("TIME", "false")
    assert declared["FRAME"] == ("NONE", "true") and declared["RADIUS"] == ("LENGTH", "false")
    assert declared["AREA"] == ("AREA", "false") and declared["PERIMETER"] == ("LENGTH", "false")
    assert declared["MEAN_INTENSITY_GFP"] == ("INTENSITY", "false") and declared["CELLPIPE_TRACK_ID"] == ("NONE", "true")
    edge_declared = {f.get("feature"): f.get("dimension") for f in model.find("FeatureDeclarations/EdgeFeatures")}
    assert edge_declared["SPEED"] == "VELOCITY" and edge_declared["SPOT_SOURCE_ID"] == "NONE"
    assert {f.get("feature") for f in model.find("FeatureDeclarations/TrackFeatures")} >= {"TRACK_ID", "NUMBER_SPLITS"}

    all_spots = model.find("AllSpots")
    assert all_spots.get("nspots") == "10" and len(list(root.iter("Spot"))) == 10
    assert [f.get("frame") for f in all_spots] == ["0", "1", "2", "3", "4", "5"]
    for frame_el in all_spots:
        assert {s.get("FRAME") for s in frame_el} <= {frame_el.get("frame")}
    spots = spots_by_key(root)
    tracks, _ = tiny_tables()
    for row in tracks.itertuples():
        spot = spots[row.track_id, row.frame]
        for feature in spot:  # every attribute of a spot is declared (TrackMate reads them all as numbers)
            assert feature in ("ID", "name") or feature in declared, feature
        assert float(spot["POSITION_X"]) == row.x_px * PIXEL_UM and float(spot["POSITION_Y"]) == row.y_px * PIXEL_UM
        assert float(spot["POSITION_Z"]) == 0.0 and float(spot["POSITION_T"]) == row.frame * INTERVAL_MIN
        assert float(spot["RADIUS"]) == pytest.approx(math.sqrt(row.track_id), rel=1e-12)
        assert float(spot["AREA"]) == row.track_id * math.pi and float(spot["PERIMETER"]) == 3.0 * row.track_id
        assert float(spot["MEAN_INTENSITY_GFP"]) == 10.0 * row.track_id + row.frame
        assert (spot["LABEL"], spot["GENERATION"], spot["QUALITY"], spot["VISIBILITY"]) == (
            str(10 + row.track_id), str(int(row.parent != 0)), "1.0", "1")
    ids = {int(s["ID"]) for s in spots.values()}
    assert len(ids) == 10

    # one TrackMate track per lineage with an edge: lineage 1 (tracks 1, 2, 3) and 4; track 5 is a lone spot
    key_of = {int(s["ID"]): key for key, s in spots.items()}
    by_track = {}
    for track in model.find("AllTracks"):
        edges = {(key_of[int(e.get("SPOT_SOURCE_ID"))], key_of[int(e.get("SPOT_TARGET_ID"))]): e for e in track}
        by_track[int(track.get("TRACK_ID"))] = (track, edges)
    assert sorted(by_track) == [1, 4]
    track1, edges1 = by_track[1]
    links = {((1, 0), (1, 1)), ((1, 1), (1, 3)), ((2, 4), (2, 5)), ((3, 4), (3, 5))}
    divisions = {((1, 3), (2, 4)), ((1, 3), (3, 4))}
    assert set(edges1) == links | divisions
    assert {k for k, e in edges1.items() if e.get("DIVISION") == "1"} == divisions
    assert {k for k, e in edges1.items() if e.get("DIVISION") == "0"} == links
    gap = edges1[(1, 1), (1, 3)]  # 2 frames, 2 x 2 px right: 2 µm in 10 min
    assert (float(gap.get("EDGE_TIME")), float(gap.get("DISPLACEMENT")), float(gap.get("SPEED"))) == (10.0, 2.0, 0.2)
    split = edges1[(1, 3), (2, 4)]  # 2 px right and 6 px down (track 1's row to track 2's): 1 and 3 µm in 5 min
    assert float(split.get("DISPLACEMENT")) == pytest.approx(math.hypot(1.0, 3.0), rel=1e-12)
    assert {k: track1.get(k) for k in ("name", "NUMBER_SPOTS", "NUMBER_GAPS", "NUMBER_SPLITS", "TRACK_START",
                                       "TRACK_STOP", "TRACK_DURATION")} == {
        "name": "Track_1", "NUMBER_SPOTS": "7", "NUMBER_GAPS": "1", "NUMBER_SPLITS": "1", "TRACK_START": "0.0",
        "TRACK_STOP": "25.0", "TRACK_DURATION": "25.0"}
    track4, edges4 = by_track[4]
    assert set(edges4) == {((4, 1), (4, 2))} and track4.get("NUMBER_SPOTS") == "2" and track4.get("NUMBER_SPLITS") == "0"
    assert (track4.get("TRACK_START"), track4.get("TRACK_STOP"), track4.get("TRACK_DURATION")) == ("5.0", "10.0", "5.0")
    referenced = {int(e.get(k)) for e in root.iter("Edge") for k in ("SPOT_SOURCE_ID", "SPOT_TARGET_ID")}
    assert referenced <= ids and int(spots[5, 2]["ID"]) not in referenced
    assert [int(t.get("TRACK_ID")) for t in model.find("FilteredTracks")] == sorted(by_track)

    settings = root.find("Settings")
    image = settings.find("ImageData").attrib
    assert dict(image) == {"filename": "image.ome.zarr", "folder": "", "width": "64", "height": "40", "nslices": "1",
                           "nframes": "6", "pixelwidth": "0.5", "pixelheight": "0.5", "voxeldepth": "1.0",
                           "timeinterval": "5.0"}
    assert settings.find("BasicSettings").get("xend") == "63" and settings.find("BasicSettings").get("tend") == "5"
    assert settings.find("DetectorSettings").get("DETECTOR_NAME") == "MANUAL_DETECTOR"
    assert settings.find("TrackerSettings").get("TRACKER_NAME") == "MANUAL_TRACKER"
    for tag in ("InitialSpotFilter", "SpotFilterCollection", "TrackFilterCollection", "AnalyzerCollection"):
        assert settings.find(tag) is not None, tag  # TrackMate's reader fails without them


# geff warns that TrackMate's unit names (µm, min) are not OME-Zarr's (micrometer, minute); the test checks them
@pytest.mark.filterwarnings("ignore:.*not in valid OME-Zarr units:UserWarning")
def test_geffs_trackmate_converter_reads_it_back_and_geff_validates_the_result(tiny_xml: Path, tmp_path: Path) -> None:
    """geff's own TrackMate reader (geff.convert.from_trackmate_xml_to_geff): a node per spot and an edge per link
    and division, positions in µm, the units, and the TrackMate track (lineage) of every node."""
    from geff.convert import from_trackmate_xml_to_geff
    from geff.core_io import read_to_memory

    store = tmp_path / "converted.geff"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_trackmate_xml_to_geff(tiny_xml, store)
    # every attribute written is declared: the converter warns of none it does not know
    assert not [w for w in caught if "not found in the attributes metadata" in str(w.message)]
    mem = read_to_memory(str(store))
    assert [(a.name, a.unit) for a in mem["metadata"].axes] == [
        ("POSITION_X", "µm"), ("POSITION_Y", "µm"), ("POSITION_Z", "µm"), ("POSITION_T", "min")]
    props = {k: np.asarray(v["values"]) for k, v in mem["node_props"].items()}
    assert len(mem["node_ids"]) == 10 and len(mem["edge_ids"]) == 7
    node = {(int(k), int(f)): int(n) for n, k, f in zip(mem["node_ids"], props["CELLPIPE_TRACK_ID"], props["FRAME"])}
    index = {int(n): i for i, n in enumerate(mem["node_ids"])}
    tracks, _ = tiny_tables()
    for row in tracks.itertuples():
        i = index[node[row.track_id, row.frame]]
        assert props["POSITION_X"][i] == row.x_px * PIXEL_UM and props["POSITION_Y"][i] == row.y_px * PIXEL_UM
        assert props["POSITION_T"][i] == row.frame * INTERVAL_MIN
    edges = {(int(a), int(b)) for a, b in mem["edge_ids"]}
    assert {(node[1, 3], node[2, 4]), (node[1, 3], node[3, 4])} <= edges  # the division's two edges
    division = dict(zip(map(tuple, mem["edge_ids"].tolist()), mem["edge_props"]["DIVISION"]["values"].tolist()))
    assert sorted(e for e, d in division.items() if d == 1) == sorted([(node[1, 3], node[2, 4]), (node[1, 3], node[3, 4])])
    lineage = {key: int(props["TRACK_ID"][index[n]]) for key, n in node.items() if key[0] != 5}
    assert set(lineage.values()) == {1, 4} and lineage[3, 5] == 1 and lineage[4, 2] == 4
    assert mem["metadata"].node_props_metadata["AREA"].unit == "µm^2"

    cli = Path(sys.executable).parent / "geff"
    assert cli.exists(), "the geff command line is installed with geff"
    proc = subprocess.run([str(cli), "validate", str(store)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # the command line, keeping only TrackMate's visible (filtered) tracks: every track is, so all that goes is
    # the lone spot of track 5, which is in no track
    kept = tmp_path / "kept.geff"
    proc = subprocess.run([str(cli), "convert-trackmate-xml", str(tiny_xml), str(kept), "--discard-filtered-tracks"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mem = read_to_memory(str(kept))
    assert len(mem["node_ids"]) == 9 and len(mem["edge_ids"]) == 7
    assert 5 not in {int(k) for k in mem["node_props"]["CELLPIPE_TRACK_ID"]["values"]}


def test_pytrackmate_reads_the_spots_and_tracks(tiny_xml: Path) -> None:
    """pytrackmate (a pandas reader of TrackMate files; in the test extra) finds every spot with its position and
    puts the spots of one lineage under one label."""
    pytrackmate = pytest.importorskip("pytrackmate", reason="pytrackmate is in the test extra (pyproject.toml)")
    spots = pytrackmate.trackmate_peak_import(str(tiny_xml), get_tracks=True)
    assert len(spots) == 10
    tracks, _ = tiny_tables()
    found = spots.set_index(["x", "y", "t"])
    label = {}
    for row in tracks.itertuples():
        hit = found.loc[(row.x_px * PIXEL_UM, row.y_px * PIXEL_UM, row.frame * INTERVAL_MIN)]
        assert hit["t_stamp"] == row.frame and hit["q"] == 1.0
        label[row.track_id] = int(hit["label"]) if np.ndim(hit["label"]) == 0 else None
    assert label[1] == label[2] == label[3] and len({label[1], label[4], label[5]}) == 3


def test_a_missing_measurement_is_nan_an_integer_one_is_left_out_and_the_radius_filled(tmp_path: Path) -> None:
    tracks, cells = tiny_tables()
    cells.loc[0, "mean_intensity_GFP"] = np.nan  # track 1, frame 0
    cells = cells[~((cells["track_id"] == 4) & (cells["frame"] == 2))]  # no row at all for track 4, frame 2
    graph = to_track_graph(tracks, cells, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    path = tmp_path / "t.xml"
    write_trackmate_xml(path, graph, TrackMateImage(WIDTH, HEIGHT, N_FRAMES))
    from lxml import etree

    spots = spots_by_key(etree.parse(str(path)).getroot())
    assert spots[1, 0]["MEAN_INTENSITY_GFP"] == "NaN"
    assert "AREA_PX" not in spots[4, 2] and spots[4, 2]["AREA"] == "NaN" and spots[4, 1]["AREA_PX"] == "16"
    others = sorted(math.sqrt(k) for k, _ in spots if (k, _) != (4, 2))
    assert float(spots[4, 2]["RADIUS"]) == pytest.approx(float(np.median(others)))


def test_the_spots_of_a_3d_movie_get_the_equivalent_spheres_radius(tmp_path: Path) -> None:
    tracks, cells = tiny_tables()
    tracks = tracks.assign(z_px=2.0, z_um=4.0)
    cells = cells.drop(columns=["area_um2", "perimeter_um"]).assign(volume_um3=cells["track_id"] * 36 * math.pi)
    graph = to_track_graph(tracks, cells, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    path = tmp_path / "tracks.trackmate.xml"
    write_trackmate_xml(path, graph, TrackMateImage(width_px=WIDTH, height_px=HEIGHT, n_frames=N_FRAMES, n_slices=3,
                                                    voxel_depth_um=2.0))
    from lxml import etree

    spots = spots_by_key(etree.parse(str(path)).getroot())
    for (track, _), spot in spots.items():  # volume 4/3 pi r^3 = 36 pi x track id: r = 3 cbrt(track id) µm
        assert float(spot["RADIUS"]) == pytest.approx(3.0 * track ** (1 / 3), rel=1e-12)
        assert float(spot["POSITION_Z"]) == 4.0


def test_objects_outside_the_movie_and_a_bad_calibration_are_refused(tmp_path: Path) -> None:
    tracks, cells = tiny_tables()
    graph = to_track_graph(tracks, cells, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    with pytest.raises(ValueError, match="movie has 5 frames"):
        write_trackmate_xml(tmp_path / "a.xml", graph, TrackMateImage(WIDTH, HEIGHT, 5))
    graph.pixel_size_um = 0.0
    with pytest.raises(ValueError, match="must be positive"):
        write_trackmate_xml(tmp_path / "b.xml", graph, TrackMateImage(WIDTH, HEIGHT, N_FRAMES))
    assert list(tmp_path.iterdir()) == []


def test_an_empty_result_is_a_valid_file_with_no_spots_or_tracks(tmp_path: Path) -> None:
    tracks, cells = tiny_tables()
    graph = to_track_graph(tracks.iloc[:0], cells.iloc[:0], pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    write_trackmate_xml(tmp_path / "e.xml", graph, TrackMateImage(WIDTH, HEIGHT, 3))
    from lxml import etree

    model = etree.parse(str(tmp_path / "e.xml")).getroot().find("Model")
    assert model.find("AllSpots").get("nspots") == "0" and len(model.find("AllSpots")) == 3
    assert len(model.find("AllTracks")) == 0 and len(model.find("FilteredTracks")) == 0


def test_a_long_movie_is_written_as_a_stream(tmp_path: Path) -> None:
    """120 frames of 100 cells: what the writer allocates at its peak is a small part of the file it writes (a
    document tree of the file would be several times the file): arrays of a few numbers per spot and edge, and
    the text of one frame's spots at a time."""
    n_frames, n_cells = 120, 100
    frame, track = np.meshgrid(np.arange(n_frames), np.arange(1, n_cells + 1), indexing="ij")
    tracks = pd.DataFrame({"track_id": track.ravel(), "frame": frame.ravel(), "label": track.ravel(),
                           "y_px": 3.0 * track.ravel(), "x_px": 0.1 * frame.ravel(), "parent": 0, "generation": 0})
    cells = tracks[["frame", "label"]].assign(area_um2=10.0, mean_intensity_GFP=1.5)
    graph = to_track_graph(tracks, cells, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN)
    path = tmp_path / "long.xml"
    tracemalloc.start()
    try:
        write_trackmate_xml(path, graph, TrackMateImage(1024, 1024, n_frames))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 4e6 and peak < size / 3, (size, peak)  # here about 1 MB for a 5 MB file
    from lxml import etree

    root = etree.parse(str(path)).getroot()
    assert root.find("Model/AllSpots").get("nspots") == str(n_frames * n_cells)
    assert len(root.find("Model/AllTracks")) == n_cells and len(list(root.iter("Edge"))) == n_cells * (n_frames - 1)
