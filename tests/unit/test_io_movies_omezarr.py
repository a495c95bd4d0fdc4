"""OME-Zarr (NGFF 0.4 and 0.5) movies read as raw input, from stores written by ome-zarr-py, the
format's reference writer, and by cellpipe's own writer (a user re-running on ``image.ome.zarr``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.writer import write_image

from cellpipe.io import omezarr
from cellpipe.io.movies import MovieError, detect_format, inspect_movie, open_movie, read_movie

CHANNELS = ["nuclei", "membrane", "phase"]


def write_ngff(path: Path, data: np.ndarray, axes: str, fmt: FormatV04, scale: dict[str, float],
               units: dict[str, str]) -> Path:
    """``data`` with ``axes`` (e.g. "tcyx") written by ome-zarr-py as an NGFF image of ``fmt`` with two levels,
    ``scale`` and ``units`` per axis and the channel labels :data:`CHANNELS`."""
    location = parse_url(str(path), mode="w", fmt=fmt)
    assert location is not None
    group = zarr.open_group(location.store, mode="w", zarr_format=fmt.zarr_format)
    omero = {"channels": [{"label": name, "color": "FFFFFF", "window": {"start": 0, "end": 255, "min": 0, "max": 255}}
                          for name in CHANNELS]}
    chunks = tuple(1 if a in "tcz" else n for a, n in zip(axes, data.shape, strict=True))
    write_image(data, group, fmt=fmt, axes=list(axes), scale_factors=[2], scale=scale, axes_units=units,
                storage_options={"chunks": chunks}, omero=omero)
    return path


def movie(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, shape, dtype=np.uint16)


@pytest.fixture(params=["0.4", "0.5"])
def fmt(request: pytest.FixtureRequest) -> FormatV04:
    return FormatV04() if request.param == "0.4" else FormatV05()


def test_tcyx_reads_what_was_written(tmp_path: Path, fmt: FormatV04) -> None:
    data = movie((4, 3, 24, 32))
    path = write_ngff(tmp_path / "movie.ome.zarr", data, "tcyx", fmt, {"t": 2.5, "c": 1, "y": 0.65, "x": 0.65},
                      {"t": "minute", "y": "micrometer", "x": "micrometer"})
    assert (path / ("zarr.json" if fmt.version == "0.5" else ".zattrs")).is_file()  # the version's own layout
    assert detect_format(path) == "ome-zarr"
    header = inspect_movie(path)
    assert header.shape_tcyx == (4, 3, 24, 32) and header.dtype == np.uint16 and header.source_axes == "TCYX"
    assert header.pixel_size_um == pytest.approx(0.65) and header.pixel_size_y_um == pytest.approx(0.65)
    assert header.frame_interval_min == pytest.approx(2.5)
    assert header.channel_names == tuple(CHANNELS)
    with open_movie(path, checksum=True) as raw:
        assert raw.data.shape == (4, 3, 24, 32)
        for t in range(4):  # frame by frame: every frame equals what was written
            np.testing.assert_array_equal(raw.data[t], data[t])
        assert raw.channel_names == CHANNELS
        described = raw.source_checksum()
    assert described["type"] == "directory" and any(f["path"].startswith("s0/") for f in described["files"])
    np.testing.assert_array_equal(read_movie(path).data, data)


def test_tczyx_in_nanometres_and_seconds_goes_to_the_z_projection(tmp_path: Path, fmt: FormatV04) -> None:
    data = movie((3, 3, 5, 16, 20), seed=1)
    path = write_ngff(tmp_path / "stack.zarr", data, "tczyx", fmt, {"t": 90.0, "c": 1, "z": 2.0, "y": 325.0, "x": 325.0},
                      {"t": "second", "z": "micrometer", "y": "nanometer", "x": "nanometer"})
    with pytest.raises(MovieError, match=r"stack\.zarr: 5 z-planes found; .*ingest\.z_projection"):
        inspect_movie(path)
    header = inspect_movie(path, allow_z=True)
    assert header.shape_tcyx == (3, 3, 16, 20) and header.z_planes == 5
    assert header.pixel_size_um == pytest.approx(0.325) and header.frame_interval_min == pytest.approx(1.5)
    assert header.pixel_size_z_um == pytest.approx(2.0)
    with open_movie(path, allow_z=True) as raw:
        assert raw.pixel_size_z_um == pytest.approx(2.0)
        for t in range(3):
            for c in range(3):
                np.testing.assert_array_equal(raw.data.stack(t, c), data[t, c])


def test_axes_in_another_order_and_without_channels(tmp_path: Path) -> None:
    data = movie((2, 3, 16, 20), seed=2)  # (c, t, y, x): NGFF 0.5 allows any order of c and t
    path = tmp_path / "ctyx.ome.zarr"
    location = parse_url(str(path), mode="w", fmt=FormatV05())
    assert location is not None
    group = zarr.open_group(location.store, mode="w", zarr_format=3)
    write_image(movie((3, 16, 20)), group, axes=["t", "y", "x"], scale_factors=[], scale={"t": 1, "y": 1, "x": 1})
    header = inspect_movie(path)
    assert header.shape_tcyx == (3, 1, 16, 20) and header.channel_names == ()
    assert header.pixel_size_um is None and header.frame_interval_min is None  # no units: no physical size
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["ome"]["multiscales"][0]["axes"] = [{"name": "c", "type": "channel"},
                                                            {"name": "t", "type": "time", "unit": "hour"},
                                                            {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    meta["attributes"]["ome"]["multiscales"][0]["datasets"] = [
        {"path": "ctyx", "coordinateTransformations": [{"type": "scale", "scale": [1, 0.5, 1, 1]}]}
    ]
    (path / "zarr.json").write_text(json.dumps(meta))
    zarr.create_array(str(path / "ctyx"), shape=data.shape, chunks=(1, 1, 16, 20), dtype=data.dtype, zarr_format=3)[:] = data
    header = inspect_movie(path)
    assert header.shape_tcyx == (3, 2, 16, 20) and header.frame_interval_min == pytest.approx(30.0)
    with open_movie(path) as raw:
        for t in range(3):
            np.testing.assert_array_equal(raw.data[t], data[:, t])


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_cellpipes_own_image_reads_back(tmp_path: Path, version: str) -> None:
    data = movie((3, 2, 40, 48), seed=3)
    path = tmp_path / "results" / "s1" / "image.ome.zarr"
    omezarr.write_ome_image(path, data, "tcyx", 0.4, 5.0, ["dapi", "gfp"], name="s1", version=version)
    header = inspect_movie(path)
    assert header.shape_tcyx == (3, 2, 40, 48) and header.channel_names == ("dapi", "gfp")
    assert header.pixel_size_um == pytest.approx(0.4) and header.frame_interval_min == pytest.approx(5.0)
    np.testing.assert_array_equal(read_movie(path).data, data)


def test_a_frame_reads_its_own_chunks_only(tmp_path: Path, fmt: FormatV04) -> None:
    """The chunks of frame 2 broken: frames 0 and 1 still read, so a frame is read alone (memory flat in T)."""
    data = movie((3, 3, 16, 16), seed=4)
    path = write_ngff(tmp_path / "m.ome.zarr", data, "tcyx", fmt, {"t": 1, "c": 1, "y": 1, "x": 1},
                      {"t": "minute", "y": "micrometer", "x": "micrometer"})
    level = path / "s0"
    chunks = [f for f in level.rglob("*") if f.is_file() and not f.name.startswith((".", "zarr.json"))]
    frame2 = [f for f in chunks if f.relative_to(level).parts[0] == "2" or f.relative_to(level).parts[:2] == ("c", "2")]
    assert frame2
    for chunk in frame2:
        chunk.write_bytes(b"not a chunk")
    with open_movie(path) as raw:
        np.testing.assert_array_equal(raw.data[0], data[0])
        np.testing.assert_array_equal(raw.data[1], data[1])
        with pytest.raises(Exception):  # noqa: B017, PT011 - whichever codec error the broken bytes give
            raw.data[2]


def test_omero_labels_that_do_not_name_every_channel_are_no_names(tmp_path: Path, fmt: FormatV04) -> None:
    path = write_ngff(tmp_path / "m.ome.zarr", movie((2, 3, 16, 16)), "tcyx", fmt, {"t": 1, "c": 1, "y": 1, "x": 1},
                      {"t": "minute", "y": "micrometer", "x": "micrometer"})
    _edit(path, fmt, lambda m: m["omero"]["channels"].pop())
    assert inspect_movie(path).channel_names == ()


def _edit(path: Path, fmt: FormatV04, change: object) -> None:
    """Apply ``change`` to the NGFF attributes of the store (``.zattrs``, or ``ome`` in ``zarr.json``)."""
    name = "zarr.json" if fmt.version == "0.5" else ".zattrs"
    meta = json.loads((path / name).read_text())
    change(meta["attributes"]["ome"] if name == "zarr.json" else meta)  # type: ignore[operator]
    (path / name).write_text(json.dumps(meta))


def _unsupported_version(meta: dict) -> None:
    if "version" in meta:
        meta["version"] = "0.3"
    meta["multiscales"][0]["version"] = "0.3"


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.pop("multiscales"), r"not an OME-Zarr image: no 'multiscales' in its metadata"),
    (_unsupported_version, r"NGFF version '0\.3' in (\.zattrs|zarr\.json); supported: 0\.4, 0\.5"),
    (lambda m: m["multiscales"][0].pop("axes"), r"no 'axes' in multiscales"),
    (lambda m: m["multiscales"][0]["datasets"][0].update(path="missing"),
     r"level 'missing' \(the first dataset of multiscales\) not found"),
    (lambda m: m["multiscales"][0]["axes"][0].update(unit="fortnight"),
     r"unknown OME-Zarr time unit 'fortnight' \(unit of axis 't' in"),
    (lambda m: m.update(plate={"rows": []}) or m.pop("multiscales"),
     r"an OME-Zarr plate whose 'wells' \((\.zattrs|zarr\.json)\) do not list the wells' paths"),
    (lambda m: m.update(well={"images": [{}]}) or m.pop("multiscales"),
     r"an OME-Zarr well whose 'images' \((\.zattrs|zarr\.json)\) do not list its fields' paths"),
], ids=["no-multiscales", "version", "no-axes", "missing-level", "unknown-unit", "plate", "well"])
def test_header_errors_name_the_file_and_problem(tmp_path: Path, fmt: FormatV04, change: object, message: str) -> None:
    path = write_ngff(tmp_path / "bad.ome.zarr", movie((2, 3, 16, 16)), "tcyx", fmt, {"t": 1, "c": 1, "y": 1, "x": 1},
                      {"t": "minute", "y": "micrometer", "x": "micrometer"})
    _edit(path, fmt, change)
    with pytest.raises(MovieError, match=r"bad\.ome\.zarr: " + message) as info:
        inspect_movie(path)
    assert "\n" not in str(info.value)


def test_a_zarr_folder_given_as_ctc_or_as_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "m.ome.zarr"
    folder.mkdir()
    (folder / ".zgroup").write_text('{"zarr_format": 2}')
    with pytest.raises(MovieError, match=r"m\.ome\.zarr: not an OME-Zarr image: no 'multiscales'"):
        inspect_movie(folder)
    with pytest.raises(MovieError, match=r"a Zarr folder, but format 'ctc' expects a folder of tNNN\.tif frames"):
        inspect_movie(folder, "ctc")
    (tmp_path / "f.tif").write_bytes(b"")
    with pytest.raises(MovieError, match=r"format 'ome-zarr' expects a folder"):
        inspect_movie(tmp_path / "f.tif", "ome-zarr")
