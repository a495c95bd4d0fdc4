"""Tests of the ingest rule's entry points (cellpipe.steps.ingest): frames streamed, NaN refused, z-stacks projected,
a sheet row's position read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from test_positions import position_movie, sheet_of, write_positions_ome_tiff
from test_z_projection import C, T, X, Y, Z, _tczyx, _write

from cellpipe.config import ConfigError, load_config
from cellpipe.ingest import IngestError, project_z
from cellpipe.io import omezarr
from cellpipe.io.movies import MovieError, inspect_movie
from cellpipe.preflight import MovieSize, check_samples
from cellpipe.steps.ingest import ingest_movie_file, ingest_movie_step


def test_ingest_step_streams_frames_and_a_nan_frame_leaves_no_image(tmp_path: Path) -> None:
    """The ingest step writes the movie frame by frame (pixels equal); NaN in frame 3 of a float
    movie stops it with an error naming the sample, the file and the frame, and no image is left."""
    from cellpipe.io import omezarr
    from cellpipe.steps.ingest import ingest_movie_file

    movie = np.random.default_rng(1).random((5, 2, 16, 18)).astype(np.float32)
    tifffile.imwrite(tmp_path / "m.tif", movie, metadata={"axes": "TCYX"})
    args = dict(sample="s", fmt="auto", axes=None, pixel_size_um=0.5, frame_interval_min=2.0,
                channel_names=[], settings={})
    ingest_movie_file(movie=tmp_path / "m.tif", image=tmp_path / "ok.ome.zarr", **args)
    np.testing.assert_array_equal(np.asarray(omezarr.open_ome_image(tmp_path / "ok.ome.zarr").data[:]), movie)
    movie[3, 1, 4, 4] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", movie, metadata={"axes": "TCYX"})
    with pytest.raises(IngestError, match=r"sample 's' \(.*nan.tif\): frame 3: 1 NaN or infinite pixels"):
        ingest_movie_file(movie=tmp_path / "nan.tif", image=tmp_path / "nan.ome.zarr", **args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "nan.tif", "ok.ome.zarr"]


def test_a_z_stack_without_a_projection_is_refused_saying_how_to_run_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.ome.tif", "ome-tczyx", _tczyx())
    how = (r"4 z-planes found; set ingest\.z_projection in the config to keep, to run every stage in 3-D "
           r".*or to one of max, mean, sum, best_focus")
    with pytest.raises(MovieError, match=how):
        inspect_movie(path)
    with pytest.raises(MovieError, match=how):
        ingest_movie_file("s", path, "auto", None, None, None, [], {}, tmp_path / "none.ome.zarr")
    assert not (tmp_path / "none.ome.zarr").exists()
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\ns\t{path}\n")
    with pytest.raises(ConfigError, match=r"sample 's'.*set ingest\.z_projection"):
        check_samples(sheet, load_config({}))
    sizes: dict[str, MovieSize] = {}
    check_samples(sheet, load_config({"ingest": {"z_projection": "max"}}), sizes=sizes)
    assert sizes["s"].shape_tcyx == (T, C, Y, X) and sizes["s"].z_planes == Z


def test_ingest_memory_is_flat_in_the_movies_length(tmp_path: Path) -> None:
    """Peak Python allocations (tracemalloc, bytes) of ingesting 40 frames of 8 z-planes stay near those of
    4 frames and far below the movie's 10 MB: one (Z, Y, X) stack is held at a time."""
    import tracemalloc

    peaks = {}
    for n_frames in (4, 4, 40):  # the first run imports scipy (its allocations are not the movie's)
        movie = np.random.default_rng(n_frames).integers(0, 4000, size=(n_frames, 8, 128, 128), dtype=np.uint16)
        path = tmp_path / f"m{n_frames}.ome.tif"
        tifffile.imwrite(path, movie, ome=True, metadata={"axes": "TZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                                                          "TimeIncrement": 2.0, "TimeIncrementUnit": "min"})
        for method in ("max", "best_focus"):
            tracemalloc.start()
            try:
                ingest_movie_file("s", path, "auto", None, None, None, [], {"z_projection": method},
                                  tmp_path / f"{n_frames}-{method}-{len(peaks)}.ome.zarr")
                peaks[n_frames, method] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    movie_bytes = 40 * 8 * 128 * 128 * 2
    for method in ("max", "best_focus"):
        assert peaks[40, method] < 0.4 * movie_bytes, (method, peaks)
        assert peaks[40, method] < 2 * peaks[4, method] + 1_000_000, (method, peaks)


LAYOUTS = {"ome-tzyx": ("m.ome.tif", 1), "ome-tczyx": ("m.ome.tif", C), "imagej-tzcyx": ("m.tif", C)}


def _ingest(tmp_path: Path, movie_path: Path, method: str) -> omezarr.OmeImage:
    image = tmp_path / f"{method}.ome.zarr"
    ingest_movie_file("s", movie_path, "auto", None, None, None, [], {"z_projection": method}, image)
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


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    """test_positions' OME-TIFF of three positions."""
    return write_positions_ome_tiff(tmp_path / "plate.ome.tif")


def test_ingest_reads_the_rows_position_and_records_its_index_and_name(tmp_path: Path, plate: Path) -> None:
    rows = check_samples(sheet_of(tmp_path, f"p\t{plate}\t1\n"), load_config({}))
    image = tmp_path / "image.ome.zarr"
    ingest_movie_step(row=rows[0].model_dump(mode="json"), movie=plate, settings={}, image=image)
    written = omezarr.open_ome_image(image)
    np.testing.assert_array_equal(np.asarray(written.data)[:, 0], position_movie(1, (3, 16, 24)))
    assert written.attrs["position"] == {"index": 1, "name": "A1 field 2"}
    assert written.pixel_size_um == pytest.approx(0.65)


def test_ingest_records_the_stage_position_only_where_the_file_gives_one(tmp_path: Path) -> None:
    from test_positions import write_stage_positions_ome_tiff

    stage = write_stage_positions_ome_tiff(tmp_path / "stage.ome.tif")
    image = tmp_path / "stage.ome.zarr"
    ingest_movie_file("s", stage, "auto", None, None, None, [], {}, image, scene=1)
    assert omezarr.open_ome_image(image).attrs["stage_position_um"] == {"x": -40.5, "y": 0.0, "z": None}
    plain = tmp_path / "plain.ome.zarr"
    ingest_movie_file("s", write_positions_ome_tiff(tmp_path / "plain.ome.tif"), "auto", None, None, None, [], {},
                      plain, scene=1)
    assert "stage_position_um" not in omezarr.open_ome_image(plain).attrs
