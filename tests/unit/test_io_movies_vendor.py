"""Microscope vendors' files (Zeiss CZI, Nikon ND2, Leica LIF) read through bioio's plugins.

The CZI files are real: written here by libCZI, Zeiss's own library (pylibCZIrw, which bioio-czi reads
with).  No writer of ND2 or LIF files can be had here, so for those the tests check what they can without
one: a file the plugin cannot open, and a plugin that is not installed.  Two ND2 files that NIS-Elements wrote,
shipped in packages' source distributions, are read in ``test_io_movies_nd2_files.py``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from cellpipe.io.movies import MovieError, detect_format, inspect_movie, open_movie, read_movie
from cellpipe.io.movies.vendor import _vendor_image

pyczi = pytest.importorskip("pylibCZIrw.czi", reason="pylibCZIrw (libCZI, installed with bioio-czi) is not installed")
pytest.importorskip("bioio_czi", reason="bioio-czi is not installed")

CHANNELS = ["H2B-GFP", "mCherry"]


def write_czi(path: Path, data: np.ndarray, pixel_um: tuple[float, float] = (0.65, 0.65),
              channel_names: list[str] | None = None, scenes: int = 1, z_step_um: float = 0.0) -> Path:
    """Write ``data`` (T, C, Z, Y, X) with libCZI, one subblock per plane, pixel size (y, x) and z-step in µm (0: not
    set); ``scenes`` > 1 writes the same planes again into each further scene, beside the first."""
    t_len, c_len, z_len, _, x_len = data.shape
    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for scene in range(scenes):
            for t in range(t_len):
                for c in range(c_len):
                    for z in range(z_len):
                        czi.write(data[t, c, z][..., np.newaxis], plane={"T": t, "C": c, "Z": z},
                                  location=(scene * (x_len + 10), 0), scene=scene)
        names = dict(enumerate(channel_names)) if channel_names else None
        # libCZI takes the pixel size in metres
        czi.write_metadata(document_name=path.stem, channel_names=names, scale_x=pixel_um[1] * 1e-6,
                           scale_y=pixel_um[0] * 1e-6, scale_z=z_step_um * 1e-6)
    return path


def movie(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, shape, dtype=np.uint16)


def test_a_czi_from_libczi_reads_back_frame_by_frame_with_its_pixel_size_and_channel_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cellpipe.io.movies")
    data = movie((5, 2, 1, 24, 32))
    path = write_czi(tmp_path / "movie.czi", data, pixel_um=(0.5, 0.65), channel_names=CHANNELS)
    assert detect_format(path) == "czi"
    header = inspect_movie(path)
    assert header.shape_tcyx == (5, 2, 24, 32) and header.dtype == np.uint16 and header.z_planes == 1
    assert header.pixel_size_um == pytest.approx(0.65) and header.pixel_size_y_um == pytest.approx(0.5)
    assert header.channel_names == tuple(CHANNELS)
    # libCZI's writer records no acquisition times and no interval: the sample sheet has to give it
    assert header.frame_interval_min is None and header.frame_interval_from is None
    with open_movie(path, checksum=True) as raw:
        assert raw.data.shape == (5, 2, 24, 32) and raw.data.dtype == np.uint16
        for t in (3, 0, 4, 1, 2):  # any frame, in any order: each is what was written
            np.testing.assert_array_equal(raw.data[t], data[t, :, 0])
        assert raw.channel_names == CHANNELS and raw.pixel_size_um == pytest.approx(0.65)
        described = raw.source_checksum()
    assert described["type"] == "file" and described["bytes"] == path.stat().st_size
    assert "(pixels through libCZI)" in caplog.text  # the fast path read them
    np.testing.assert_array_equal(read_movie(path).data, data[:, :, 0])
    # bioio-czi's own lazy array (read where libCZI's geometry differs from bioio's) reads the same pixels
    np.testing.assert_array_equal(_vendor_image(path, "czi", None, False).data.compute(), data)


def test_a_czi_placed_off_the_origin_reads_its_own_region(tmp_path: Path) -> None:
    """Subblocks written at (x, y) = (5, 7): the plane is read from its bounding box, not from (0, 0)."""
    data = movie((3, 2, 1, 12, 10), seed=2)
    path = tmp_path / "offset.czi"
    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for t in range(3):
            for c in range(2):
                czi.write(data[t, c, 0][..., np.newaxis], plane={"T": t, "C": c, "Z": 0}, location=(5, 7))
        czi.write_metadata(scale_x=1e-6, scale_y=1e-6)
    assert inspect_movie(path).shape_tcyx == (3, 2, 12, 10)
    np.testing.assert_array_equal(read_movie(path).data, data[:, :, 0])


def test_a_czi_z_stack_goes_to_the_z_projection_one_stack_at_a_time(tmp_path: Path) -> None:
    data = movie((3, 2, 4, 16, 20), seed=1)
    path = write_czi(tmp_path / "stack.czi", data, z_step_um=1.5)
    with pytest.raises(MovieError, match=r"stack\.czi: 4 z-planes found; .*ingest\.z_projection"):
        inspect_movie(path)
    header = inspect_movie(path, allow_z=True)
    assert header.shape_tcyx == (3, 2, 16, 20) and header.z_planes == 4
    assert header.pixel_size_z_um == pytest.approx(1.5)  # libCZI's scale_z, through bioio-czi
    with open_movie(path, allow_z=True) as raw:
        for t in range(3):
            for c in range(2):
                np.testing.assert_array_equal(raw.data.stack(t, c), data[t, c])


def test_a_czi_without_channel_names_gives_the_ids_libczi_wrote(tmp_path: Path) -> None:
    path = write_czi(tmp_path / "plain.czi", movie((2, 2, 1, 8, 8)))
    # libCZI names a channel it was given no name for by its id; bioio-czi reads that as the name
    assert inspect_movie(path).channel_names == ("Channel:0", "Channel:1")


def test_a_czi_of_two_scenes_is_refused_naming_them_not_read_as_its_first(tmp_path: Path) -> None:
    """libCZI's writer lists no scenes in the XML metadata, from which bioio-czi takes them: the file would read
    as its first scene only, so the scenes in the subblock directory are counted."""
    path = write_czi(tmp_path / "wells.czi", movie((2, 1, 1, 8, 8)), scenes=2)
    with pytest.raises(MovieError, match=r"wells\.czi: 2 scenes \(positions\) in one Zeiss CZI file; read them with a "
                       r"'positions' column"):
        inspect_movie(path)
    with pytest.raises(MovieError, match="2 scenes"):
        with open_movie(path):
            pass


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.99])
def test_a_truncated_czi_is_one_line_naming_the_file_and_format(tmp_path: Path, keep: float) -> None:
    whole = write_czi(tmp_path / "whole.czi", movie((4, 2, 1, 32, 32))).read_bytes()
    cut = tmp_path / "cut.czi"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(MovieError) as err:
        inspect_movie(cut)
    message = str(err.value)
    assert message.startswith(f"{cut}: not a readable Zeiss CZI file (bioio-czi: ") and "\n" not in message


def test_axes_in_the_sheet_are_refused_for_a_vendor_file(tmp_path: Path) -> None:
    path = write_czi(tmp_path / "movie.czi", movie((2, 1, 1, 8, 8)))
    with pytest.raises(MovieError, match=r"axes 'TYX', but a Zeiss CZI file names its own axes"):
        inspect_movie(path, axes="TYX")


@pytest.mark.parametrize(("name", "fmt", "what", "package"), [
    ("movie.nd2", "nd2", "Nikon ND2", "bioio-nd2"), ("movie.lif", "lif", "Leica LIF", "bioio-lif"),
    ("movie.czi", "czi", "Zeiss CZI", "bioio-czi"),
])
def test_a_file_the_plugin_cannot_open_is_one_line_naming_the_format(tmp_path: Path, name: str, fmt: str, what: str,
                                                                      package: str) -> None:
    pytest.importorskip(package.replace("-", "_"), reason=f"{package} is not installed")
    path = tmp_path / name
    path.write_bytes(b"not a microscope file\x00" * 64)
    assert detect_format(path) == fmt
    with pytest.raises(MovieError) as err:
        inspect_movie(path)
    assert str(err.value).startswith(f"{path}: not a readable {what} file ({package}: ") and "\n" not in str(err.value)


@pytest.mark.parametrize(("name", "module", "package"), [
    ("movie.nd2", "bioio_nd2", "bioio-nd2"), ("movie.lif", "bioio_lif", "bioio-lif"), ("movie.czi", "bioio_czi", "bioio-czi"),
])
def test_a_missing_plugin_names_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                        module: str, package: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what Python does for a module that is not installed
    path = tmp_path / name
    path.write_bytes(b"\x00" * 256)
    with pytest.raises(MovieError) as err:
        inspect_movie(path)
    assert str(err.value).startswith(f"{path}: a ") and f"bioio's plugin {package}, which is not installed" in str(err.value)
    assert f"pip install -c requirements/constraints.txt {package}" in str(err.value)


def test_an_unknown_ending_names_the_formats_read(tmp_path: Path) -> None:
    path = tmp_path / "movie.oib"
    path.write_bytes(b"\x00")
    with pytest.raises(MovieError, match=r"cannot tell the movie format .*\.czi, \.nd2, \.lif\)"):
        inspect_movie(path)


class _Times:
    """What a bioio reader says about time, for the choice between a nominal interval and acquisition times: no
    writer here records either in a vendor file (libCZI writes neither), so this stands in for the reader."""

    def __init__(self, nominal_s: float | None, total_s: float | None):
        from datetime import timedelta
        from types import SimpleNamespace

        self.time_interval = timedelta(seconds=nominal_s) if nominal_s is not None else None
        total = timedelta(seconds=total_s) if total_s is not None else None
        self.standard_metadata = SimpleNamespace(total_time_duration=total)


@pytest.mark.parametrize(("nominal_s", "total_s", "minutes", "source"), [
    (90.0, 400.0, 1.5, "nominal (bioio-nd2 time_interval)"),  # the set interval wins over the recorded times
    (None, 480.0, 2.0, "timestamps (bioio-nd2: first to last frame over 4 intervals)"),  # 480 s / 4 / 60
    (None, None, None, None),
    (0.0, None, None, None),  # a zero interval is no interval
])
def test_the_frame_interval_is_the_nominal_one_else_from_the_acquisition_times(nominal_s: float | None,
                                                                               total_s: float | None,
                                                                               minutes: float | None,
                                                                               source: str | None) -> None:
    from cellpipe.io.movies.vendor import _vendor_interval

    found, how = _vendor_interval(_Times(nominal_s, total_s), "nd2", 5)
    assert (found, how) == (pytest.approx(minutes) if minutes is not None else None, source)


def test_a_missing_plugin_stops_the_sample_sheet_check_in_one_line_naming_sample_file_and_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cellpipe.config import ConfigError, load_config
    from cellpipe.preflight import check_samples

    movie_path = write_czi(tmp_path / "movie.czi", movie((2, 1, 1, 8, 8)), channel_names=["nuclei"])
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\tframe_interval_min\nwell_A1\t{movie_path}\t2\n")
    check_samples(sheet, load_config({}))  # with the plugin: the row passes
    monkeypatch.setitem(sys.modules, "bioio_czi", None)
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{sheet} line 2 (sample 'well_A1'): {movie_path}: a Zeiss CZI file")
    assert "bioio's plugin bioio-czi, which is not installed" in message


def test_a_file_whose_bytes_are_another_format_than_its_name_stops_in_one_line_naming_both(tmp_path: Path) -> None:
    """A CZI written by libCZI and renamed .tif, a TIFF written by tifffile and renamed .czi, a BigTIFF renamed .nd2:
    each is refused by its first bytes in one line naming the file and both formats, rather than failing inside the
    name's reader; the sample sheet's explicit format still reads the file as what it is."""
    import tifffile

    data = movie((2, 1, 1, 12, 16), seed=5)
    czi_as_tif = write_czi(tmp_path / "movie.czi", data).rename(tmp_path / "movie.tif")
    tifffile.imwrite(tmp_path / "plain.tif", data[:, 0, 0])
    tiff_as_czi = (tmp_path / "plain.tif").rename(tmp_path / "plain.czi")
    tifffile.imwrite(tmp_path / "big.tif", data[:, 0, 0], bigtiff=True)
    big_as_nd2 = (tmp_path / "big.tif").rename(tmp_path / "big.nd2")
    for path, named, content in ((czi_as_tif, "TIFF", "Zeiss CZI"), (tiff_as_czi, "Zeiss CZI", "TIFF"),
                                 (big_as_nd2, "Nikon ND2", "TIFF")):
        for call in (detect_format, inspect_movie):
            with pytest.raises(MovieError) as err:
                call(path)
            assert str(err.value) == (f"{path}: named as a {named} file but its first bytes are a {content} file's: "
                                      "rename it (or set the sample sheet's format) after checking it is the right movie")
    header = inspect_movie(czi_as_tif, fmt="czi")
    assert header.shape_tcyx == (2, 1, 12, 16)


def test_the_first_bytes_agree_with_the_name_or_tell_nothing(tmp_path: Path) -> None:
    """TIFF and BigTIFF files from tifffile (OME or not) and a CZI from libCZI keep their name's format; bytes of no
    known format (a text file named .tif) are left to the name's reader; an unknown name says what the bytes are."""
    import tifffile

    from cellpipe.io.movies import content_format

    frames = movie((2, 12, 16), seed=6)
    tifffile.imwrite(tmp_path / "a.tif", frames)
    tifffile.imwrite(tmp_path / "b.ome.tif", frames, bigtiff=True, metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "c.tif", frames, byteorder=">")
    assert [content_format(tmp_path / n) for n in ("a.tif", "b.ome.tif", "c.tif")] == ["tiff"] * 3
    assert detect_format(tmp_path / "a.tif") == "tiff" and detect_format(tmp_path / "b.ome.tif") == "ome-tiff"
    assert detect_format(write_czi(tmp_path / "d.czi", movie((1, 1, 1, 8, 8)))) == "czi"
    (tmp_path / "notes.tif").write_text("not a movie")
    assert content_format(tmp_path / "notes.tif") is None and detect_format(tmp_path / "notes.tif") == "tiff"
    (tmp_path / "a.tif").rename(tmp_path / "a.png")
    with pytest.raises(MovieError, match=r"a\.png: cannot tell the movie format from the name .*; its first bytes "
                                         r"are a TIFF file's$"):
        detect_format(tmp_path / "a.png")


@pytest.mark.parametrize(("fmt", "head"), [
    # the signatures the readers check: nd2's NEW_HEADER_MAGIC then its file signature chunk name; a legacy ND2's JPEG
    # 2000 box; liffile's 0x70 header id, the block size, the 0x2A marker
    ("nd2", b"\xda\xce\xbe\n" + b"\0" * 12 + b"ND2 FILE SIGNATURE CHUNK NAME01!"),
    ("nd2", b"\0\0\0\x0cjP  \r\n\x87\n" + b"\0" * 20),
    ("lif", b"\x70\0\0\0" + (25).to_bytes(4, "little") + b"\x2a" + (10).to_bytes(4, "little") + "<LMSDataContainerHeader"
     .encode("utf-16-le")),
])
def test_nd2_and_lif_signatures_named_tif_are_refused_by_their_bytes(tmp_path: Path, fmt: str, head: bytes) -> None:
    """No ND2 or LIF writer exists here: a file starting with the signature its reader checks stands in for one."""
    from cellpipe.io.movies import VENDOR_FORMATS, content_format

    path = tmp_path / "movie.tif"
    path.write_bytes(head + b"\0" * 64)
    assert content_format(path) == fmt
    with pytest.raises(MovieError, match=rf"movie\.tif: named as a TIFF file but its first bytes are a "
                                         rf"{VENDOR_FORMATS[fmt].name} file's"):
        detect_format(path)
