"""Reading raw movies: TIFF stacks, OME-TIFF, ImageJ TIFF, CTC folders -> (T, C, Y, X) with metadata."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.io.movies import MovieError, detect_format, inspect_movie, read_movie, to_tcyx, write_ome_tiff


def write_ctc_folder(folder: Path, frames: np.ndarray) -> Path:
    """``folder`` holding (T, Y, X) ``frames`` as CTC t000.tif, t001.tif, ..."""
    folder.mkdir()
    for t, frame in enumerate(frames):
        tifffile.imwrite(folder / f"t{t:03d}.tif", frame)
    return folder


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


def test_unnamed_page_axes_are_time_and_rgb_samples_are_channels() -> None:
    """tifffile names a sequence of pages it knows nothing about I or Q, and RGB samples S."""
    for axes in ("IYX", "QYX"):
        assert to_tcyx(np.zeros((3, 8, 9), np.uint8), axes, "x.tif").shape == (3, 1, 8, 9)
    rgb = np.arange(3 * 8 * 9 * 3, dtype=np.uint8).reshape(3, 8, 9, 3)
    np.testing.assert_array_equal(to_tcyx(rgb, "TYXS", "x.tif"), rgb.transpose(0, 3, 1, 2))


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


def _written(tmp_path: Path, movie: np.ndarray) -> dict[str, tuple[Path, str | None]]:
    """The same movie in every layout read_movie supports: name -> (path, axes column)."""
    files: dict[str, tuple[Path, str | None]] = {}
    write_ome_tiff(tmp_path / "m.ome.tif", movie, pixel_size_um=0.325, frame_interval_min=2.5, channel_names=["a", "b"])
    files["ome"] = (tmp_path / "m.ome.tif", None)
    tifffile.imwrite(tmp_path / "ij.tif", movie, imagej=True, resolution=(1 / 0.4, 1 / 0.4),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 90})
    files["imagej"] = (tmp_path / "ij.tif", None)
    tifffile.imwrite(tmp_path / "plain.tif", movie[:, 0])
    files["plain"] = (tmp_path / "plain.tif", None)
    tifffile.imwrite(tmp_path / "ctyx.tif", np.transpose(movie, (1, 0, 2, 3)))
    files["ctyx"] = (tmp_path / "ctyx.tif", "CTYX")
    (tmp_path / "01").mkdir()
    for t in range(movie.shape[0]):
        tifffile.imwrite(tmp_path / "01" / f"t{t:03d}.tif", movie[t, 0])
    files["ctc"] = (tmp_path / "01", None)
    return files


def test_inspect_movie_agrees_with_read_movie(tmp_path: Path, movie: np.ndarray) -> None:
    """The header-only inspection the sample sheet is checked with gives read_movie's shape, dtype and metadata."""
    for name, (path, axes) in _written(tmp_path, movie).items():
        header = inspect_movie(path, axes=axes)
        raw = read_movie(path, axes=axes)
        assert header.shape_tcyx == raw.data.shape, name
        assert header.dtype == raw.data.dtype, name
        assert (header.pixel_size_um, header.frame_interval_min) == (raw.pixel_size_um, raw.frame_interval_min), name
        assert list(header.channel_names) == raw.channel_names, name


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_file_cut_short_is_caught_from_its_header(tmp_path: Path, movie: np.ndarray, keep: float, compression) -> None:
    """A TIFF cut short (a failed copy) is refused before its pixels are read; read_movie fails on it too."""
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, movie[:, 0], compression=compression)
    data = whole.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MovieError, match=r"cut\.tif: (truncated or corrupt TIFF|not a readable TIFF)") as err:
        inspect_movie(cut)
    assert "\n" not in str(err.value)
    with pytest.raises(MovieError):
        read_movie(cut)


def test_pixels_broken_behind_good_headers_are_refused_naming_the_file(tmp_path: Path, movie: np.ndarray) -> None:
    """A compressed frame whose bytes are damaged passes the header inspection (headers are intact);
    reading the pixels then fails with a MovieError naming the file, not a codec's own exception."""
    path = tmp_path / "damaged.tif"
    tifffile.imwrite(path, movie[:, 0], compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset, size = tif.pages[2].dataoffsets[0], tif.pages[2].databytecounts[0]
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = b"\xff" * size  # frame 2's compressed strip, nothing else
    path.write_bytes(bytes(data))
    assert inspect_movie(path).shape_tcyx[0] == movie.shape[0]  # the headers do not reveal it
    with pytest.raises(MovieError, match=r"damaged\.tif: pixels could not be read \(.+\)") as err:
        read_movie(path)
    assert "\n" not in str(err.value)


def test_an_ome_tiff_that_lost_its_metadata_tail_is_caught(tmp_path: Path, movie: np.ndarray) -> None:
    """tifffile only logs a tag whose value lies past the end of the file (the OME-XML of a file cut
    short); the pixel size would silently be lost, so the inspection refuses it."""
    whole = tmp_path / "m.ome.tif"
    write_ome_tiff(whole, movie, pixel_size_um=0.325, frame_interval_min=2.5)
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(MovieError, match="truncated or corrupt TIFF: offsets past the end of the file"):
        inspect_movie(cut)


def test_one_frame_movie_is_accepted_only_when_the_file_says_it_is_a_time_series(tmp_path: Path) -> None:
    """A single 2-D image has no time axis and is refused; a file that declares T (of size 1) is a
    one-frame movie, as is a CTC folder with only t000.tif."""
    frame = np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)
    tifffile.imwrite(tmp_path / "snapshot.tif", frame)
    for reader in (inspect_movie, read_movie):
        with pytest.raises(MovieError, match=r"snapshot\.tif: a single 2-D image of 32x40 px, not a movie: no time axis"):
            reader(tmp_path / "snapshot.tif")
    tifffile.imwrite(tmp_path / "ij.tif", frame[np.newaxis], imagej=True, metadata={"axes": "TYX"})
    write_ome_tiff(tmp_path / "one.ome.tif", frame[np.newaxis], pixel_size_um=0.5, frame_interval_min=1.0)
    (tmp_path / "01").mkdir()
    tifffile.imwrite(tmp_path / "01" / "t000.tif", frame)
    for path in (tmp_path / "ij.tif", tmp_path / "one.ome.tif", tmp_path / "01"):
        assert inspect_movie(path).shape_tcyx == (1, 1, 32, 40), path
        np.testing.assert_array_equal(read_movie(path).data[0, 0], frame)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: tifffile.imwrite(d / "m.tif", np.zeros((2, 2, 2, 2, 16, 16), np.uint8)),
         r"m\.tif: a 6-D array of shape \(2, 2, 2, 2, 16, 16\) \(axes 'QQQQYX'\)"),
        (lambda d: tifffile.imwrite(d / "m.tif", np.zeros((3, 4, 16, 16), np.uint8), imagej=True,
                                    metadata={"axes": "TZYX"}), r"m\.tif: 4 z-planes found"),
        (lambda d: (d / "m.png").write_bytes(b"\x89PNG"), r"m\.png: cannot tell the movie format"),
    ],
)
def test_inspect_movie_refuses_what_read_movie_refuses(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    path = next(tmp_path.iterdir())
    for reader in (inspect_movie, read_movie):
        with pytest.raises(MovieError, match=message):
            reader(path)


def test_inspect_ctc_folder_finds_gaps_and_mixed_sizes_from_headers(tmp_path: Path) -> None:
    gap, sizes = tmp_path / "gap", tmp_path / "sizes"
    gap.mkdir()
    sizes.mkdir()
    for t in (0, 1, 3):
        tifffile.imwrite(gap / f"t{t:03d}.tif", np.zeros((16, 16), np.uint16))
    for t, shape in enumerate([(16, 16), (16, 16), (20, 16)]):
        tifffile.imwrite(sizes / f"t{t:03d}.tif", np.zeros(shape, np.uint16))
    with pytest.raises(MovieError, match=r"gap: frames tNNN\.tif must be numbered 0\.\.2 without gaps; frame\(s\) \[2\] missing"):
        inspect_movie(gap)
    with pytest.raises(MovieError, match=r"sizes: frames of different sizes: t000\.tif is 16x16 px, t002\.tif is 20x16 px"):
        inspect_movie(sizes)
    (sizes / "t002.tif").write_text("oops")
    with pytest.raises(MovieError, match=r"t002\.tif: not a readable TIFF"):
        inspect_movie(sizes)
    tifffile.imwrite(sizes / "t002.tif", np.zeros((16, 16), np.uint8))
    with pytest.raises(MovieError, match=r"sizes: frames of different pixel types: t000\.tif is uint16, t002\.tif is uint8"):
        inspect_movie(sizes)
    tifffile.imwrite(sizes / "t002.tif", np.zeros((2, 16, 16), np.uint16))
    with pytest.raises(MovieError, match=r"t002\.tif: frame has shape \(2, 16, 16\); a CTC frame is one 2-D image"):
        inspect_movie(sizes)


def test_ome_tiff_bytes_depend_only_on_the_movie(tmp_path: Path) -> None:
    """Writing the same movie twice gives the same bytes (the OME-XML UUID comes from the content, not from the
    clock); another movie gets another UUID."""
    movie = np.random.default_rng(4).integers(0, 4000, (3, 16, 16), dtype=np.uint16)
    first, second, other = tmp_path / "a.ome.tif", tmp_path / "b.ome.tif", tmp_path / "c.ome.tif"
    write_ome_tiff(first, movie, pixel_size_um=0.5, frame_interval_min=2.0)
    write_ome_tiff(second, movie, pixel_size_um=0.5, frame_interval_min=2.0)
    write_ome_tiff(other, movie + 1, pixel_size_um=0.5, frame_interval_min=2.0)
    assert first.read_bytes() == second.read_bytes()

    def uuid_of(path: Path) -> str:
        return re.search(r'UUID="(urn:uuid:[0-9a-f-]+)"', tifffile.TiffFile(path).ome_metadata).group(1)

    assert uuid_of(first) != uuid_of(other)
    np.testing.assert_array_equal(read_movie(first).data[:, 0], movie)


@pytest.mark.parametrize("axes", ["TCYX", "CTYX", "TYX", "TZCYX"])
def test_open_movie_reads_the_written_pixels_one_frame_at_a_time(tmp_path: Path, movie: np.ndarray, axes: str) -> None:
    """The lazy movie is the (T, C, Y, X) array written, whatever the file's axis order (a movie without
    channels gets one, a single z plane is dropped), and reads nothing until a frame is asked for."""
    from cellpipe.io.movies import open_movie

    data = {"TCYX": movie, "CTYX": movie.transpose(1, 0, 2, 3), "TYX": movie[:, 0],
            "TZCYX": movie[:, np.newaxis]}[axes]
    expected = movie[:, :1] if axes == "TYX" else movie
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, data, metadata={"axes": axes})
    with open_movie(path) as raw:
        assert raw.data.shape == expected.shape and raw.data.dtype == np.uint16
        assert not isinstance(raw.data, np.ndarray)  # lazy: pixels are read per frame
        for t in (0, 3, 4):
            np.testing.assert_array_equal(np.asarray(raw.data[t]), expected[t])
        assert raw.source_axes == axes


def test_open_movie_of_a_ctc_folder_and_of_a_bad_file(tmp_path: Path, movie: np.ndarray) -> None:
    from cellpipe.io.movies import open_movie

    folder = write_ctc_folder(tmp_path / "01", movie[:, 0])
    with open_movie(folder) as raw:
        assert raw.data.shape == (5, 1, 24, 20)
        np.testing.assert_array_equal(np.asarray(raw.data[2, 0]), movie[2, 0])
    fake = tmp_path / "fake.tif"
    fake.write_text("not a tiff")
    with pytest.raises(MovieError, match="fake.tif"), open_movie(fake):
        pass


def test_the_lazy_movie_reads_only_the_frames_it_is_asked_for(tmp_path: Path, movie: np.ndarray) -> None:
    """Frame numbers, slices of frames and sub-indices give numpy's answers; each reads the frames it names."""
    from cellpipe.io.movies import LazyMovie

    asked: list[int] = []

    def read(t: int) -> np.ndarray:
        asked.append(t)
        return movie[t]

    lazy = LazyMovie(movie.shape, movie.dtype, read)
    assert (lazy.shape, lazy.dtype, lazy.ndim, len(lazy)) == (movie.shape, movie.dtype, 4, 5)
    assert asked == []
    np.testing.assert_array_equal(lazy[3], movie[3])
    np.testing.assert_array_equal(lazy[-1, 1, 2:5], movie[-1, 1, 2:5])
    np.testing.assert_array_equal(lazy[np.int64(2), :, :, 7], movie[2, :, :, 7])
    assert asked == [3, 4, 2]
    np.testing.assert_array_equal(lazy[1:4:2, 0], movie[1:4:2, 0])
    assert asked[3:] == [1, 3]
    assert lazy[5:].shape == (0, 2, 24, 20)
    np.testing.assert_array_equal(np.asarray(lazy), movie)
    assert np.asarray(lazy, dtype=np.float32).dtype == np.float32
    with pytest.raises(IndexError, match="frame 5 of a movie of 5 frames"):
        lazy[5]
    with pytest.raises(IndexError, match="frame -6"):
        lazy[-6]


def test_a_ctc_frame_that_changed_after_its_header_was_read_is_named(tmp_path: Path, movie: np.ndarray) -> None:
    from cellpipe.io.movies import open_movie

    folder = write_ctc_folder(tmp_path / "01", movie[:, 0])
    with open_movie(folder) as raw:
        tifffile.imwrite(folder / "t003.tif", movie[3, 0, :10])  # rewritten while the movie is open
        np.testing.assert_array_equal(raw.data[2, 0], movie[2, 0])
        with pytest.raises(MovieError, match=r"t003.tif: a \(10, 20\) uint16 image where its header said \(24, 20\)"):
            raw.data[3]
        tifffile.imwrite(folder / "t002.tif", movie[2, 0] + 1)  # the same size, read a second time
        with pytest.raises(MovieError, match=r"t002.tif: changed while the movie was being read"):
            raw.data[2]


def test_reading_a_movie_loads_no_dask() -> None:
    """Ingest reads frames straight from the TIFF pages or CTC files: dask (about 1 s of the job's
    start-up with the xarray and pandas it pulls in) is not imported."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile, pathlib, numpy as np, tifffile\n"
        "from cellpipe.io.movies import open_movie, read_movie\n"
        "path = pathlib.Path(tempfile.mkdtemp()) / 'm.tif'\n"
        "tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), metadata={'axes': 'TYX'})\n"
        "with open_movie(path) as raw:\n"
        "    raw.data[1]\n"
        "read_movie(path)\n"
        "print(sorted(m for m in ('dask', 'xarray', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- What a movie's header says (issue #23): positions, units, non-square pixels, Zarr folders ---


def _ome(path: Path, shape: tuple[int, ...] = (3, 16, 16), **meta: object) -> Path:
    """An OME-TIFF of zeros with axes TYX and the given OME Pixels attributes."""
    tifffile.imwrite(path, np.zeros(shape, np.uint16), ome=True, metadata={"axes": "TYX", **meta})
    return path


def _imagej(path: Path, resolution: tuple[float, float] = (2.0, 2.0), **meta: object) -> Path:
    """An ImageJ TIFF of zeros, axes TYX, with XResolution/YResolution in pixels per unit."""
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint16), imagej=True, resolution=resolution,
                     metadata={"axes": "TYX", **meta})
    return path


def test_an_ome_tiff_of_several_positions_is_refused_naming_them(tmp_path: Path) -> None:
    """A microscope writes several positions (OME Images) into one file; read without naming one, only the first
    would be read, so it is refused, saying how to read them (a positions column)."""
    path = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for name in ("A1", "A2", "B1"):
            tif.write(np.zeros((3, 16, 16), np.uint16), metadata={"axes": "TYX", "Name": name, "PhysicalSizeX": 0.5})
    for reader in (inspect_movie, read_movie):
        with pytest.raises(MovieError, match=r"plate\.ome\.tif: 3 positions \(OME images 'A1', 'A2', 'B1'\) in one "
                                             r"file; read them with a 'positions' column in its sample sheet row"):
            reader(path)


def test_stacks_appended_to_one_tiff_are_refused(tmp_path: Path) -> None:
    """tifffile.imwrite(..., append=True) puts a second movie of the same shape into the file as a series of its
    own; only the first would be read."""
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint16))
    tifffile.imwrite(path, np.ones((3, 16, 16), np.uint16), append=True)
    for reader in (inspect_movie, read_movie):
        with pytest.raises(MovieError, match=r"two\.tif: 2 image series of the same shape \(3, 16, 16\) in one file"):
            reader(path)


def test_extra_series_that_are_not_positions_are_not_refused(tmp_path: Path) -> None:
    """A reduced-resolution level (pyramid), a thumbnail of another shape or an ImageJ hyperstack is one movie."""
    movie = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    pyramid = tmp_path / "pyramid.ome.tif"
    with tifffile.TiffWriter(pyramid, ome=True) as tif:
        tif.write(movie, subifds=1, metadata={"axes": "TYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(movie[:, ::2, ::2], subfiletype=1)
    thumbnail = tmp_path / "thumbnail.tif"
    with tifffile.TiffWriter(thumbnail) as tif:
        tif.write(movie, photometric="minisblack", metadata={"axes": "TYX"})
        tif.write(movie[0, ::4, ::4], subfiletype=1, photometric="minisblack")
    hyperstack = tmp_path / "hyper.tif"
    tifffile.imwrite(hyperstack, np.stack([movie, movie], axis=1), imagej=True, metadata={"axes": "TCYX"})
    for path, channels in ((pyramid, 1), (thumbnail, 1), (hyperstack, 2)):
        assert inspect_movie(path).shape_tcyx == (3, channels, 16, 16), path.name
        np.testing.assert_array_equal(read_movie(path).data[:, 0], movie)


@pytest.mark.parametrize(
    ("unit", "size", "um"),
    [("Å", 5000.0, 0.5), ("nm", 500.0, 0.5), ("cm", 5e-5, 0.5), ("pm", 5e5, 0.5), ("in", 0.5 / 25400, 0.5),
     ("μm", 0.5, 0.5), ("µm", 0.5, 0.5)],
)
def test_ome_length_units_are_converted_to_micrometres(tmp_path: Path, unit: str, size: float, um: float) -> None:
    path = _ome(tmp_path / "m.ome.tif", PhysicalSizeX=size, PhysicalSizeXUnit=unit, PhysicalSizeY=size,
                PhysicalSizeYUnit=unit)
    assert inspect_movie(path).pixel_size_um == pytest.approx(um)
    assert read_movie(path).pixel_size_um == pytest.approx(um)


def test_a_zero_pixel_size_is_no_pixel_size(tmp_path: Path) -> None:
    path = _ome(tmp_path / "m.ome.tif", PhysicalSizeX=0.0, PhysicalSizeXUnit="µm", PhysicalSizeY=0.0,
                PhysicalSizeYUnit="µm")
    assert inspect_movie(path).pixel_size_um is None


def test_unknown_ome_units_are_named(tmp_path: Path) -> None:
    path = _ome(tmp_path / "m.ome.tif", PhysicalSizeX=1.0, PhysicalSizeXUnit="furlong")
    with pytest.raises(MovieError, match=r"m\.ome\.tif: unknown length unit 'furlong' \(PhysicalSizeXUnit\); "
                                         r"supported: .*'nm'.*'µm'"):
        inspect_movie(path)
    path = _ome(tmp_path / "t.ome.tif", PhysicalSizeX=0.5, TimeIncrement=2.0, TimeIncrementUnit="fortnight")
    with pytest.raises(MovieError, match=r"t\.ome\.tif: unknown time unit 'fortnight' \(TimeIncrementUnit\)"):
        inspect_movie(path)


def test_ome_time_units_are_converted_to_minutes(tmp_path: Path) -> None:
    for unit, value, minutes in (("h", 0.5, 30.0), ("ms", 90000.0, 1.5), ("d", 1.0, 1440.0), ("min", 2.0, 2.0)):
        path = _ome(tmp_path / f"{unit}.ome.tif", PhysicalSizeX=0.5, TimeIncrement=value, TimeIncrementUnit=unit)
        assert inspect_movie(path).frame_interval_min == pytest.approx(minutes), unit


@pytest.mark.parametrize(
    ("tunit", "minutes"),
    [("hr", 120.0), ("hour", 120.0), ("h", 120.0), ("min", 2.0), ("sec", 2 / 60), ("s", 2 / 60), ("ms", 2 / 60000),
     ("\\u00B5s", 2 / 6e7), ("us", 2 / 6e7), ("usec", 2 / 6e7)],
)
def test_imagej_time_units_are_converted(tmp_path: Path, tunit: str, minutes: float) -> None:
    """``tunit: hr`` was read as seconds (3600 times too short)."""
    path = _imagej(tmp_path / "ij.tif", unit="micron", finterval=2, tunit=tunit)
    assert inspect_movie(path).frame_interval_min == pytest.approx(minutes)
    assert read_movie(path).frame_interval_min == pytest.approx(minutes)


def test_unknown_imagej_units_are_named(tmp_path: Path) -> None:
    path = _imagej(tmp_path / "t.tif", unit="micron", finterval=2, tunit="fortnight")
    with pytest.raises(MovieError, match=r"t\.tif: unknown ImageJ time unit 'fortnight' \(tunit\); supported: .*'hr'"):
        inspect_movie(path)
    path = _imagej(tmp_path / "u.tif", unit="furlong", finterval=2)
    with pytest.raises(MovieError, match=r"u\.tif: unknown ImageJ length unit 'furlong' \(unit\); supported: .*'micron'"):
        inspect_movie(path)


@pytest.mark.parametrize(("unit", "um"), [("micron", 0.5), ("um", 0.5), ("\\u00B5m", 0.5), ("nm", 5e-4),
                                          ("mm", 500.0), ("pixel", None), ("pixels", None), ("inch", None),
                                          ("cm", None)])
def test_imagej_length_units_are_converted(tmp_path: Path, unit: str, um: float | None) -> None:
    path = _imagej(tmp_path / "ij.tif", unit=unit)
    assert inspect_movie(path).pixel_size_um == (pytest.approx(um) if um is not None else None)


def test_the_y_pixel_size_is_read_with_the_x(tmp_path: Path) -> None:
    """Non-square pixels (y twice x) were logged as one pixel size; the header now says both."""
    ome = _ome(tmp_path / "m.ome.tif", PhysicalSizeX=0.5, PhysicalSizeY=1.0, PhysicalSizeYUnit="µm")
    ij = _imagej(tmp_path / "ij.tif", resolution=(1 / 0.5, 1 / 1.0), unit="micron")
    nm = _ome(tmp_path / "nm.ome.tif", PhysicalSizeX=0.5, PhysicalSizeY=1000.0, PhysicalSizeYUnit="nm")
    for path in (ome, ij, nm):
        header = inspect_movie(path)
        assert (header.pixel_size_um, header.pixel_size_y_um) == (pytest.approx(0.5), pytest.approx(1.0)), path.name
        raw = read_movie(path)
        assert (raw.pixel_size_um, raw.pixel_size_y_um) == (pytest.approx(0.5), pytest.approx(1.0)), path.name
    square = inspect_movie(_ome(tmp_path / "sq.ome.tif", PhysicalSizeX=0.5))  # no PhysicalSizeY: square
    assert square.pixel_size_y_um == pytest.approx(0.5)


@pytest.mark.parametrize("marker", [".zattrs", ".zgroup", "zarr.json", ".zarray"])
def test_a_zarr_folder_is_named_as_such(tmp_path: Path, marker: str) -> None:
    folder = tmp_path / "movie"  # no .zarr in the name: told by its content, not taken for a CTC folder
    folder.mkdir()
    (folder / marker).write_text("{}")
    with pytest.raises(MovieError, match=r"movie: not an OME-Zarr image: no 'multiscales' in its metadata"):
        inspect_movie(folder)
    with pytest.raises(MovieError, match=r"movie: a Zarr folder, but format 'ctc' expects a folder of tNNN\.tif frames "
                                         r"\(an OME-Zarr image is format 'ome-zarr'\)"):
        inspect_movie(folder, "ctc")
