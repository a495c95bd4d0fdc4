"""z-stack movies in the 2-D pipeline (issue #26): ingest.z_projection on tiny real files written by tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from cellpipe.ingest import project_z
from cellpipe.io import omezarr
from cellpipe.io.movies import inspect_movie, open_movie
from cellpipe.preflight import MovieSize
from cellpipe.resources import ingest_mem_mb
from cellpipe.steps.ingest import ingest_movie_step

T, C, Z, Y, X = 3, 2, 4, 12, 16


def _tczyx(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, size=(T, C, Z, Y, X), dtype=np.uint16)


def _write(path: Path, layout: str, movie: np.ndarray) -> Path:
    """``movie`` (T, C, Z, Y, X) written as ``layout``: OME-TIFF TZYX (channel 0), OME-TIFF TCZYX, ImageJ TZCYX;
    z-planes 1.5 µm apart (OME ``PhysicalSizeZ`` in nm, ImageJ ``spacing``)."""
    meta = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0, "TimeIncrementUnit": "min",
            "PhysicalSizeZ": 1500.0, "PhysicalSizeZUnit": "nm"}
    if layout == "ome-tzyx":
        tifffile.imwrite(path, movie[:, 0], ome=True, metadata={"axes": "TZYX", **meta})
    elif layout == "ome-tczyx":
        tifffile.imwrite(path, movie, ome=True, metadata={"axes": "TCZYX", **meta})
    elif layout == "imagej-tzcyx":
        tifffile.imwrite(path, movie.transpose(0, 2, 1, 3, 4), imagej=True, resolution=(2.0, 2.0),
                         metadata={"axes": "TZCYX", "unit": "um", "finterval": 120.0, "spacing": 1.5})
    else:
        raise AssertionError(layout)
    return path


LAYOUTS = {"ome-tzyx": ("m.ome.tif", 1), "ome-tczyx": ("m.ome.tif", C), "imagej-tzcyx": ("m.tif", C)}


def _ingest(tmp_path: Path, movie_path: Path, method: str) -> omezarr.OmeImage:
    image = tmp_path / f"{method}.ome.zarr"
    ingest_movie_step("s", movie_path, "auto", None, None, None, [], {"z_projection": method}, image)
    return omezarr.open_ome_image(image)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_projection_equals_numpys_over_z(tmp_path: Path, layout: str) -> None:
    movie = _tczyx()
    name, n_channels = LAYOUTS[layout]
    path = _write(tmp_path / name, layout, movie)
    expected_movie = movie[:, :n_channels]
    header = inspect_movie(path, allow_z=True)
    assert header.shape_tcyx == (T, n_channels, Y, X) and header.z_planes == Z
    assert header.pixel_size_z_um == pytest.approx(1.5)
    numpy_way = {"max": expected_movie.max(axis=2), "mean": expected_movie.mean(axis=2), "sum": expected_movie.sum(axis=2)}
    for method, expected in numpy_way.items():
        image = _ingest(tmp_path, path, method)
        data = np.asarray(image.data)
        assert data.shape == (T, n_channels, Y, X), method
        np.testing.assert_allclose(data, expected, rtol=1e-6, err_msg=method)
        record = image.attrs["z_projection"]
        assert record == {"method": method, "setting": method, "z_planes": Z, "z_step_um": pytest.approx(1.5)}
        assert image.pixel_size_um == pytest.approx(0.5) and image.frame_interval_min == pytest.approx(2.0)
    assert np.asarray(_ingest(tmp_path, path, "max").data).dtype == np.uint16
    assert np.asarray(_ingest(tmp_path, path, "mean").data).dtype == np.float32
    assert np.asarray(_ingest(tmp_path, path, "sum").data).dtype == np.sum(movie, axis=2).dtype  # no overflow


def _focus_stack(sharp: int, seed: int) -> np.ndarray:
    """A (Z, Y, X) stack of one textured scene: sharp in plane ``sharp``, blurred more the farther a plane is."""
    scene = np.random.default_rng(seed).integers(0, 2, size=(Y * 2, X * 2)).astype(np.float64) * 3000
    planes = [scene if z == sharp else ndimage.gaussian_filter(scene, sigma=1.5 * abs(z - sharp)) for z in range(Z)]
    return np.round(np.stack(planes)).astype(np.uint16)


def test_best_focus_keeps_the_sharp_plane_and_records_it_per_frame(tmp_path: Path) -> None:
    sharp = [[1, 3], [0, 2], [2, 2]]  # per frame, per channel
    movie = np.stack([np.stack([_focus_stack(z, seed=3 * t + c) for c, z in enumerate(row)]) for t, row in enumerate(sharp)])
    path = _write(tmp_path / "focus.ome.tif", "ome-tczyx", movie)
    for t in range(T):  # the stage function alone
        for c in range(C):
            plane, chosen = project_z(movie[t, c], "best_focus")
            assert chosen == sharp[t][c]
            np.testing.assert_array_equal(plane, movie[t, c, sharp[t][c]])
    image = _ingest(tmp_path, path, "best_focus")
    np.testing.assert_array_equal(
        np.asarray(image.data), np.stack([[movie[t, c, sharp[t][c]] for c in range(C)] for t in range(T)])
    )
    record = image.attrs["z_projection"]
    assert record["method"] == "best_focus" and record["z_planes"] == Z
    assert record["best_focus_planes"] == sharp
    assert "variance of the Laplacian" in record["focus_measure"]


def test_a_stack_is_read_one_frame_and_channel_at_a_time(tmp_path: Path) -> None:
    movie = _tczyx(1)
    path = _write(tmp_path / "m.ome.tif", "ome-tczyx", movie)
    with open_movie(path, allow_z=True) as raw:
        assert raw.data.z_planes == Z and raw.data.shape == (T, C, Y, X)
        np.testing.assert_array_equal(raw.data.stack(2, 1), movie[2, 1])
        with pytest.raises(ValueError, match="z-stack at a time"):
            raw.data[0]


def test_the_ingest_memory_request_counts_the_z_planes_read_at_once() -> None:
    flat = MovieSize((100, 2, 2048, 2048), "uint16", 0.5)
    deep = MovieSize((100, 2, 2048, 2048), "uint16", 0.5, z_planes=60)
    assert deep.stack_megabytes == pytest.approx(60 * 2048 * 2048 * 2 / 1e6)
    assert ingest_mem_mb(deep) >= ingest_mem_mb(flat) + 3 * deep.stack_megabytes - 100
    assert ingest_mem_mb(MovieSize((1000, 2, 2048, 2048), "uint16", 0.5, z_planes=60)) == ingest_mem_mb(deep)  # flat in T
