"""``ingest.reader: bioio``: TIFF, OME-TIFF and OME-Zarr read through their bioio plugins (bioio-tifffile,
bioio-ome-tiff, bioio-ome-zarr) agree with cellpipe's own readers on the same file, written here by the formats'
reference writers (tifffile, ome-zarr-py): every frame and channel, pixel size y and x, frame interval, channel names
and stage position; the reader used is the one recorded; a missing plugin is one line naming the format and the
package; the same header checks come first."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from ome_zarr.format import FormatV04, FormatV05
from test_io_movies_omezarr import write_ngff
from test_io_stage_and_times import ome_with_times

from cellpipe.io import omezarr
from cellpipe.io.movies import LazyMovie, MovieError, inspect_movie, open_movie, read_movie

PLUGINS = {"tiff": "bioio_tifffile", "ome-tiff": "bioio_ome_tiff", "ome-zarr": "bioio_ome_zarr"}
for _module in PLUGINS.values():
    pytest.importorskip(_module, reason=f"{_module.replace('_', '-')} (a cellpipe dependency) is not installed")


def movie(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, shape, dtype=np.uint16)


def assert_readers_agree(path: Path, plugin: str, **options: object) -> tuple[object, object]:
    """The two readers' headers and movies of ``path`` agree on everything; each says which reader read it."""
    ours, theirs = inspect_movie(path, reader="cellpipe", **options), inspect_movie(path, reader="bioio", **options)
    assert (ours.reader, theirs.reader) == ("cellpipe", plugin)
    for field in ("shape_tcyx", "dtype", "z_planes", "pixel_size_um", "pixel_size_y_um", "frame_interval_min",
                  "channel_names", "stage_position_um", "pixel_size_z_um", "scene", "scene_name"):
        mine, other = getattr(ours, field), getattr(theirs, field)
        assert other == (pytest.approx(mine) if isinstance(mine, float | tuple) and mine else mine), field
    with open_movie(path, reader="cellpipe", checksum=True, **options) as a, \
            open_movie(path, reader="bioio", checksum=True, **options) as b:
        assert isinstance(b.data, LazyMovie) and (a.reader, b.reader) == ("cellpipe", plugin)
        t_len, c_len = a.data.shape[:2]
        for t in range(t_len):  # frame by frame, every channel (every z-stack of a z-stack movie)
            if a.data.z_planes > 1:
                for c in range(c_len):
                    np.testing.assert_array_equal(b.data.stack(t, c), a.data.stack(t, c))
            else:
                np.testing.assert_array_equal(b.data[t], a.data[t])
        assert b.source_checksum() == a.source_checksum()  # the same bytes, described alike
    return ours, theirs


@pytest.mark.parametrize("times", ["TimeIncrement", "DeltaT"])
def test_an_ome_tiff_reads_the_same_through_bioio_ome_tiff(tmp_path: Path, times: str) -> None:
    """Pixel size in nm (bioio-ome-tiff gives 650 for 650 nm: converted), the interval from TimeIncrement (s) or from
    the planes' DeltaT, named channels, the stage position of the first plane in mm and µm."""
    path = tmp_path / "movie.ome.tif"
    data = movie((4, 2, 24, 32))
    meta: dict[str, object] = {
        "axes": "TCYX", "PhysicalSizeX": 650.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 500.0,
        "PhysicalSizeYUnit": "nm", "Channel": {"Name": ["H2B-GFP", "mCherry"]},
        "Plane": {"PositionX": [1.5] * 8, "PositionXUnit": ["mm"] * 8, "PositionY": [-20.0] * 8,
                  "PositionYUnit": ["µm"] * 8, "PositionZ": [3.0] * 8, "PositionZUnit": ["µm"] * 8},
    }
    if times == "TimeIncrement":
        meta.update(TimeIncrement=90.0, TimeIncrementUnit="s")
    else:  # tifffile lists the planes C fastest, then T
        meta["Plane"].update(DeltaT=[t * 90.0 + c for t in range(4) for c in range(2)], DeltaTUnit=["s"] * 8)
    tifffile.imwrite(path, data, ome=True, metadata=meta)
    ours, theirs = assert_readers_agree(path, "bioio-ome-tiff")
    assert theirs.pixel_size_um == pytest.approx(0.65) and theirs.pixel_size_y_um == pytest.approx(0.5)
    assert theirs.frame_interval_min == pytest.approx(1.5) and theirs.channel_names == ("H2B-GFP", "mCherry")
    assert theirs.stage_position_um == pytest.approx((1500.0, -20.0, 3.0))
    np.testing.assert_array_equal(read_movie(path, reader="bioio").data, data)


def test_an_ome_tiff_z_stack_and_each_position_read_the_same(tmp_path: Path) -> None:
    stack = tmp_path / "stack.ome.tif"
    tifffile.imwrite(stack, movie((3, 2, 5, 16, 20), seed=1), ome=True,
                     metadata={"axes": "TCZYX", "PhysicalSizeX": 0.4, "PhysicalSizeY": 0.4, "PhysicalSizeZ": 1.5})
    _, theirs = assert_readers_agree(stack, "bioio-ome-tiff", allow_z=True)
    assert theirs.z_planes == 5 and theirs.pixel_size_z_um == pytest.approx(1.5)
    with pytest.raises(MovieError, match=r"5 z-planes found; set ingest\.z_projection"):
        inspect_movie(stack, reader="bioio")
    plate = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(plate, ome=True) as writer:  # two positions of their own content, name and pixel size
        writer.write(movie((3, 2, 16, 20), seed=2), metadata={"axes": "TCYX", "Name": "A1", "PhysicalSizeX": 0.5,
                                                               "PhysicalSizeY": 0.5})
        writer.write(movie((3, 2, 16, 20), seed=3), metadata={"axes": "TCYX", "Name": "B2", "PhysicalSizeX": 0.7,
                                                               "PhysicalSizeY": 0.7})
    with pytest.raises(MovieError, match=r"2 positions \(OME images 'A1', 'B2'\) in one file; read them with a "):
        inspect_movie(plate, reader="bioio")  # the same refusal as cellpipe's reader: no position named
    for scene, (name, size) in enumerate([("A1", 0.5), ("B2", 0.7)]):
        _, theirs = assert_readers_agree(plate, "bioio-ome-tiff", scene=scene)
        assert (theirs.scene_name, theirs.pixel_size_um) == (name, pytest.approx(size))


def test_an_imagej_tiff_reads_the_same_pixels_and_pixel_size_through_bioio_tifffile(tmp_path: Path) -> None:
    """bioio-tifffile reads an ImageJ TIFF's pixels and calibration, not its frame interval or channel labels (the
    sheet's or the config's then); a TIFF without calibration gets no pixel size (bioio-tifffile would say 1 µm);
    the sheet's axes reach the plugin."""
    path = tmp_path / "movie.tif"
    data = movie((3, 2, 16, 20), seed=4)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 90, "tunit": "sec", "Labels": ["a", "b"] * 3})
    ours, theirs = inspect_movie(path, reader="cellpipe"), inspect_movie(path, reader="bioio")
    assert theirs.reader == "bioio-tifffile" and theirs.shape_tcyx == ours.shape_tcyx == (3, 2, 16, 20)
    assert theirs.pixel_size_um == theirs.pixel_size_y_um == pytest.approx(ours.pixel_size_um) == pytest.approx(0.65)
    assert (ours.frame_interval_min, ours.channel_names) == (pytest.approx(1.5), ("a", "b"))
    assert (theirs.frame_interval_min, theirs.channel_names) == (None, ())
    np.testing.assert_array_equal(read_movie(path, reader="bioio").data, data)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, data)  # no calibration, no axes: the sheet gives them
    for reader in ("cellpipe", "bioio"):
        found = read_movie(plain, axes="CTYX", reader=reader)
        assert found.pixel_size_um is None and found.data.shape == (2, 3, 16, 20)
        np.testing.assert_array_equal(found.data, data.transpose(1, 0, 2, 3))


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["0.4", "0.5"])
def test_an_ome_zarr_reads_the_same_through_bioio_ome_zarr(tmp_path: Path, fmt: FormatV04) -> None:
    """NGFF 0.4 and 0.5 written by ome-zarr-py, in nm and seconds (bioio-ome-zarr gives the numbers in the file's
    units: converted), and in µm and minutes."""
    for name, scale, units, size, interval in [
        ("nm.ome.zarr", {"t": 90.0, "c": 1, "y": 325.0, "x": 400.0}, {"t": "second", "y": "nanometer", "x": "nanometer"},
         (0.4, 0.325), 1.5),
        ("um.ome.zarr", {"t": 2.5, "c": 1, "y": 0.65, "x": 0.65}, {"t": "minute", "y": "micrometer", "x": "micrometer"},
         (0.65, 0.65), 2.5),
    ]:
        path = write_ngff(tmp_path / name, movie((4, 3, 24, 32), seed=5), "tcyx", fmt, scale, units)
        _, theirs = assert_readers_agree(path, "bioio-ome-zarr")
        assert (theirs.pixel_size_um, theirs.pixel_size_y_um) == pytest.approx(size)
        assert theirs.frame_interval_min == pytest.approx(interval)
        assert theirs.channel_names == ("nuclei", "membrane", "phase")


def test_a_plate_field_and_a_series_over_two_files_read_the_same(tmp_path: Path) -> None:
    """Each field of an NGFF 0.5 plate (ome-zarr-py), found by cellpipe and opened by bioio-ome-zarr as an image; an
    OME-TIFF series that goes on in a second file (Micro-Manager's layout, tifffile), read by bioio-ome-tiff through
    its first file and checksummed by both files."""
    from test_io_movies_micromanager import position_movie, write_mm_dataset
    from test_positions import FIELD_NAMES, write_plate

    plate = write_plate(tmp_path / "plate.ome.zarr", "0.5")
    for scene, name in enumerate(FIELD_NAMES):
        _, theirs = assert_readers_agree(plate, "bioio-ome-zarr", scene=scene)
        assert theirs.scene_name == name and theirs.pixel_size_um == pytest.approx(0.5 + 0.1 * scene)
    data = position_movie(0)
    first = write_mm_dataset(tmp_path / "run", [data], frames_per_file=2) / "exp_MMStack_Pos0.ome.tif"
    assert (first.parent / "exp_MMStack_Pos0_1.ome.tif").is_file()
    assert_readers_agree(first, "bioio-ome-tiff")
    with open_movie(first, reader="bioio", checksum=True) as movie:
        np.testing.assert_array_equal(np.asarray(movie.data), data)
        assert [f["path"] for f in movie.source_checksum()["files"]] == [first.name, "exp_MMStack_Pos0_1.ome.tif"]


def test_ingest_records_the_reader_used_and_writes_the_same_image(tmp_path: Path) -> None:
    from cellpipe.steps.ingest import ingest_movie_file
    from cellpipe.steps.provenance import movie_physical_metadata

    path = ome_with_times(tmp_path / "movie.ome.tif", [0, 90, 180], Channel={"Name": ["DAPI", "GFP"]})
    images = {}
    for reader in ("auto", "bioio"):
        image = tmp_path / reader / "image.ome.zarr"
        ingest_movie_file(sample="s1", movie=path, fmt="auto", axes=None, pixel_size_um=None, frame_interval_min=None,
                          channel_names=[], settings={"reader": reader}, image=image)
        images[reader] = omezarr.open_ome_image(image)
        used = "cellpipe" if reader == "auto" else "bioio-ome-tiff"
        assert images[reader].attrs["reader"] == {"used": used, "setting": reader}
        assert movie_physical_metadata(image)["reader"] == {"used": used, "setting": reader}
    ours, theirs = images["auto"], images["bioio"]
    np.testing.assert_array_equal(np.asarray(theirs.data), np.asarray(ours.data))
    for key in ("source_checksum", "pixel_size_source", "frame_interval_source", "source_dtype"):
        assert theirs.attrs[key] == ours.attrs[key], key
    assert ours.attrs["file_frame_interval_from"].startswith("timestamps (OME Plane DeltaT")
    assert theirs.attrs["file_frame_interval_from"].startswith("timestamps (bioio-ome-tiff: OME Plane DeltaT")
    assert omezarr.open_multiscales(tmp_path / "bioio/image.ome.zarr").scale == \
        omezarr.open_multiscales(tmp_path / "auto/image.ome.zarr").scale


@pytest.mark.parametrize(("name", "module", "package", "what"), [
    ("movie.tif", "bioio_tifffile", "bioio-tifffile", "a TIFF file"),
    ("movie.ome.tif", "bioio_ome_tiff", "bioio-ome-tiff", "an OME-TIFF file"),
    ("movie.ome.zarr", "bioio_ome_zarr", "bioio-ome-zarr", "an OME-Zarr image"),
])
def test_a_missing_plugin_names_the_format_and_the_package_and_cellpipe_still_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str, what: str
) -> None:
    path = tmp_path / name
    data = movie((2, 1, 8, 8))
    if name.endswith(".zarr"):
        write_ngff(path, data, "tcyx", FormatV05(), {"t": 1.0, "c": 1, "y": 0.5, "x": 0.5},
                   {"t": "minute", "y": "micrometer", "x": "micrometer"})
    else:
        tifffile.imwrite(path, data, ome=name.endswith(".ome.tif"), metadata={"axes": "TCYX"})
    monkeypatch.setitem(sys.modules, module, None)  # what Python does for a module that is not installed
    with pytest.raises(MovieError) as err:
        inspect_movie(path, reader="bioio")
    message = str(err.value)
    assert message.startswith(f"{path}: {what} is read through bioio's plugin {package} (ingest.reader: bioio), "
                              "which is not installed") and "\n" not in message
    assert f"pip install -c requirements/constraints.txt {package}" in message
    np.testing.assert_array_equal(read_movie(path, reader="auto").data[:, :1], data)


def test_the_sample_sheet_check_uses_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before any job: a row read through a missing plugin stops the run in one line naming sample, file and
    package; a truncated OME-TIFF gets cellpipe's header check's line through either reader."""
    from cellpipe.config import ConfigError, load_config
    from cellpipe.preflight import check_samples

    path = ome_with_times(tmp_path / "movie.ome.tif", [0, 60, 120])
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\nwell_A1\t{path}\n")
    check_samples(sheet, load_config({"ingest": {"reader": "bioio"}}))  # with the plugin: the row passes
    monkeypatch.setitem(sys.modules, "bioio_ome_tiff", None)
    check_samples(sheet, load_config({}))  # cellpipe's reader needs no plugin
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({"ingest": {"reader": "bioio"}}))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{sheet} line 2 (sample 'well_A1'): {path}: an OME-TIFF file")
    assert "bioio's plugin bioio-ome-tiff (ingest.reader: bioio), which is not installed" in message
    monkeypatch.delitem(sys.modules, "bioio_ome_tiff")
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    messages = set()
    for reader in ("cellpipe", "bioio"):
        with pytest.raises(MovieError) as err:
            inspect_movie(cut, reader=reader)
        messages.add(str(err.value))
    assert len(messages) == 1 and next(iter(messages)).startswith(f"{cut}: truncated or corrupt TIFF")
