"""Reading raw movies: TIFF stacks, OME-TIFF, ImageJ TIFF, CTC folders -> (T, C, Y, X) with metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.io.movies import MovieError, detect_format, read_movie, to_tcyx, write_ome_tiff


@pytest.fixture
def movie() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4000, size=(5, 2, 24, 20), dtype=np.uint16)


def test_ome_tiff_round_trip_keeps_pixels_and_physical_units(tmp_path: Path, movie: np.ndarray) -> None:
    path = tmp_path / "m.ome.tif"
    write_ome_tiff(path, movie, pixel_size_um=0.325, frame_interval_min=2.5, channel_names=["H2B", "actin"])
    raw = read_movie(path)
    np.testing.assert_array_equal(raw.data, movie)
    assert raw.pixel_size_um == pytest.approx(0.325)
    assert raw.frame_interval_min == pytest.approx(2.5)
    assert raw.channel_names == ["H2B", "actin"]


def test_imagej_tiff_units_are_converted(tmp_path: Path, movie: np.ndarray) -> None:
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, movie, imagej=True, resolution=(1 / 0.4, 1 / 0.4),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 90})
    raw = read_movie(path)
    np.testing.assert_array_equal(raw.data, movie)
    assert raw.pixel_size_um == pytest.approx(0.4)
    assert raw.frame_interval_min == pytest.approx(1.5)  # 90 s


def test_plain_tiff_stack_is_tyx_without_metadata(tmp_path: Path, movie: np.ndarray) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, movie[:, 0])
    raw = read_movie(path)
    assert raw.data.shape == (5, 1, 24, 20)
    np.testing.assert_array_equal(raw.data[:, 0], movie[:, 0])
    assert raw.pixel_size_um is None and raw.frame_interval_min is None


def test_axes_override_reorders_ctyx(tmp_path: Path, movie: np.ndarray) -> None:
    path = tmp_path / "ctyx.tif"
    tifffile.imwrite(path, np.transpose(movie, (1, 0, 2, 3)))
    raw = read_movie(path, axes="CTYX")
    np.testing.assert_array_equal(raw.data, movie)


def test_ctc_folder(tmp_path: Path, movie: np.ndarray) -> None:
    folder = tmp_path / "01"
    folder.mkdir()
    for t in range(movie.shape[0]):
        tifffile.imwrite(folder / f"t{t:03d}.tif", movie[t, 0])
    assert detect_format(folder) == "ctc"
    raw = read_movie(folder)
    np.testing.assert_array_equal(raw.data[:, 0], movie[:, 0])


def test_singleton_z_is_dropped_and_real_z_refused() -> None:
    data = np.zeros((3, 1, 8, 9), np.uint8)
    assert to_tcyx(data, "TZYX", "x.tif").shape == (3, 1, 8, 9)
    with pytest.raises(MovieError, match="4 z-planes"):
        to_tcyx(np.zeros((3, 4, 8, 9), np.uint8), "TZYX", "x.tif")


@pytest.mark.parametrize(
    ("data", "axes", "message"),
    [
        (np.zeros((8, 9)), "YX", "no time axis"),
        (np.zeros((2, 8, 9)), "TYW", "cannot interpret"),
        (np.zeros((2, 8, 9)), "TCYX", "do not match"),
    ],
)
def test_unusable_axes_are_explained(data: np.ndarray, axes: str, message: str) -> None:
    with pytest.raises(MovieError, match=message):
        to_tcyx(data, axes, "movie.tif")


def test_missing_and_non_tiff_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MovieError, match="file not found"):
        read_movie(tmp_path / "nope.tif")
    fake = tmp_path / "fake.tif"
    fake.write_text("not a tiff")
    with pytest.raises(MovieError, match=r"fake\.tif: not a readable TIFF"):
        read_movie(fake)
