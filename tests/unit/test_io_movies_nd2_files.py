"""Nikon ND2 files written by NIS-Elements, read through cellpipe's reader (bioio-nd2) and checked against the nd2
package reading the same file.

The files are in ``tests/data`` (origin and licence in ``tests/data/README.md``):

- ``cluster.nd2``: a Nikon A1plus confocal time-lapse, 3 frames x 10 z-planes (0.5 µm apart) x 2 channels of
  31 x 38 px (0.1678 µm), uint16, one stage position, no set interval (the time loop's period is 0: as fast as
  possible), so its frame interval comes from the planes' acquisition times.
- ``ND2_dims_rgb.nd2``: one 64 x 64 px RGB brightfield image (Nikon DS-Fi3 colour camera).

Every expected value below is read from the file by the nd2 package itself (``nd2.ND2File``), not typed in from
cellpipe's output.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from cellpipe.io.movies import MovieError, MovieHeader, content_format, detect_format, inspect_movie, list_scenes

nd2 = pytest.importorskip("nd2", reason="nd2 (installed with bioio-nd2) is not installed")
pytest.importorskip("bioio_nd2", reason="bioio-nd2 is not installed")

DATA = Path(__file__).resolve().parents[1] / "data"
CLUSTER = DATA / "cluster.nd2"
RGB = DATA / "ND2_dims_rgb.nd2"


def nd2_facts(path: Path) -> dict:
    """What the nd2 package reads from ``path``: sizes, voxel size (µm), channel names, pixels (T, Z, C, Y, X),
    each frame's start (s: its first plane's acquisition time) and the first plane's stage x, y (µm)."""
    with nd2.ND2File(path) as f:
        events = f.events()
        starts: dict[int, float] = {}
        for row in events:  # one row per plane (frame, z-plane), in acquisition order
            t = int(row["T Index"])
            starts[t] = min(starts.get(t, np.inf), float(row["Time [s]"]))
        return {
            "sizes": dict(f.sizes),
            "voxel": f.voxel_size(),
            "channels": [ch.channel.name for ch in f.metadata.channels],
            "pixels": f.asarray(),
            "period_ms": [loop.parameters.periodMs for loop in f.experiment if loop.type == "TimeLoop"],
            "starts_s": [starts[t] for t in sorted(starts)],
            "stage_xy_um": (float(events[0]["X Coord [µm]"]), float(events[0]["Y Coord [µm]"])),
        }


@pytest.fixture(scope="module")
def cluster() -> dict:
    return nd2_facts(CLUSTER)


@pytest.fixture(scope="module")
def header() -> MovieHeader:
    # read once: bioio-nd2 parses the file's metadata in about 0.6 s
    return inspect_movie(CLUSTER, allow_z=True)


def test_the_real_nd2_header_gives_the_files_shape_pixel_size_channels_and_one_position(cluster: dict,
                                                                                        header: MovieHeader) -> None:
    """Sizes, pixel sizes (µm, y and x, and the z step) and channel names as NIS-Elements recorded them; one position
    (no scene to choose); 10 z-planes are refused without a projection, naming how to run it."""
    assert cluster["sizes"] == {"T": 3, "Z": 10, "C": 2, "Y": 31, "X": 38}
    assert content_format(CLUSTER) == "nd2" and detect_format(CLUSTER) == "nd2"
    assert len(list_scenes(CLUSTER)) == 1
    with pytest.raises(MovieError, match=r"10 z-planes found; set ingest\.z_projection"):
        inspect_movie(CLUSTER)
    assert header.shape_tcyx == (3, 2, 31, 38) and header.z_planes == 10 and header.dtype == np.uint16
    assert (header.pixel_size_um, header.pixel_size_y_um, header.pixel_size_z_um) == pytest.approx(
        (cluster["voxel"].x, cluster["voxel"].y, cluster["voxel"].z), rel=1e-12)
    assert header.pixel_size_um == pytest.approx(0.16780898, abs=1e-8)
    assert header.channel_names == tuple(cluster["channels"]) == ("5-FAM/pH 9.0", "FM 4-64/2% CHAPS")


def test_the_real_nd2_frame_interval_is_first_to_last_frame_start_over_the_intervals(cluster: dict,
                                                                                      header: MovieHeader) -> None:
    """The time loop sets no interval (period 0), so the interval is the span between the first plane of the first
    frame and the first plane of the last frame over 2 intervals: 10.65 s (0.1775 minutes).  The first plane was
    taken 0.445 s after the acquisition's start, which a span counted from the start would add (10.87 s)."""
    assert cluster["period_ms"] == [0.0]
    starts = cluster["starts_s"]
    assert len(starts) == 3 and starts[0] == pytest.approx(0.445, abs=1e-3)
    expected_min = (starts[-1] - starts[0]) / 2 / 60
    assert header.frame_interval_min == pytest.approx(expected_min, rel=1e-6)
    assert header.frame_interval_min == pytest.approx(10.6475 / 60, rel=1e-4)
    assert header.frame_interval_from == "timestamps (bioio-nd2: first to last frame over 2 intervals)"


def test_the_real_nd2_stage_position_is_the_first_planes(cluster: dict, header: MovieHeader) -> None:
    """Stage x and y (µm) of the position as NIS-Elements logged them with the first plane; z is not read."""
    x, y, z = header.stage_position_um
    assert (x, y) == pytest.approx(cluster["stage_xy_um"], abs=1e-6)
    assert (x, y) == pytest.approx((-26056.95, -4155.46), abs=0.01) and z is None


def test_the_real_nd2_ingests_to_ome_zarr_stack_by_stack_with_its_metadata(tmp_path: Path, cluster: dict) -> None:
    """The ingest step on the file, z-stacks kept: every (Z, Y, X) stack of every frame and channel equals the nd2
    package's, and the image carries the file's pixel size and z step (µm), frame interval (minutes), channel
    names, stage position and the sha256 of the file's bytes as read."""
    from cellpipe.io import omezarr
    from cellpipe.steps.ingest import ingest_movie_file

    out = tmp_path / "image.ome.zarr"
    ingest_movie_file("cluster", CLUSTER, "auto", None, None, None, [], {"z_projection": "keep"}, out)
    image = omezarr.open_ome_image(out)
    assert image.axes == "tczyx"
    np.testing.assert_array_equal(np.asarray(image.data[:]), cluster["pixels"].transpose(0, 2, 1, 3, 4))
    starts = cluster["starts_s"]
    assert (image.pixel_size_um, image.pixel_size_z_um) == pytest.approx((cluster["voxel"].x, cluster["voxel"].z))
    assert image.frame_interval_min == pytest.approx((starts[-1] - starts[0]) / 2 / 60, rel=1e-6)
    assert image.channel_names == cluster["channels"]
    attrs = image.attrs
    assert attrs["pixel_size_source"] == "file metadata" and attrs["frame_interval_source"] == "file metadata"
    assert attrs["file_frame_interval_from"].startswith("timestamps (bioio-nd2")
    assert attrs["z_projection"] == {"method": "keep", "setting": "keep", "z_planes": 10,
                                     "z_step_um": pytest.approx(cluster["voxel"].z), "z_step_source": "file metadata"}
    assert (attrs["stage_position_um"]["x"], attrs["stage_position_um"]["y"]) == pytest.approx(cluster["stage_xy_um"])
    assert attrs["source_checksum"]["sha256"] == hashlib.sha256(CLUSTER.read_bytes()).hexdigest()


def test_a_real_rgb_nd2_is_refused_in_one_line_and_named_tif_is_refused_by_its_bytes(tmp_path: Path) -> None:
    """A colour camera's ND2 has RGB samples (nd2: S=3), which cellpipe does not read as channels; renamed .tif, its
    own first bytes say ND2."""
    with nd2.ND2File(RGB) as f:
        assert f.is_rgb and f.sizes == {"Y": 64, "X": 64, "S": 3}
    with pytest.raises(MovieError) as err:
        inspect_movie(RGB)
    assert str(err.value) == (f"{RGB}: Nikon ND2 axes besides T, C, Z, Y, X (S=3: RGB samples or mosaic tiles); "
                              "cellpipe reads grey-level time-lapses of one tile")
    renamed = tmp_path / "colour.tif"
    shutil.copyfile(RGB, renamed)
    assert content_format(renamed) == "nd2"
    with pytest.raises(MovieError, match=r"named as a TIFF file but its first bytes are a Nikon ND2 file's"):
        inspect_movie(renamed)
