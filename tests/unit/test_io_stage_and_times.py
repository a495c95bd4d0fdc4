"""Stage positions and acquisition times read from real files (issue #26): the frame interval of an OME-TIFF
without ``TimeIncrement`` from its planes' ``DeltaT`` (files written by tifffile's OME-XML writer), a Micro-Manager
file's interval and stage position (its multipage layout as test_io_movies_micromanager lays it out), a CZI scene's
stage position (a file written by libCZI, its scene metadata written by libCZI's own metadata editor), and
non-square pixels refused before any job with one line saying how to run the movie."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from sheet_helpers import HEADER
from test_io_movies_micromanager import OME_NS, write_mm_tiff

from cellpipe.config import ConfigError, load_config
from cellpipe.io import omezarr
from cellpipe.io.movies import inspect_movie, open_movie, read_movie
from cellpipe.preflight import check_samples
from cellpipe.steps.ingest import ingest_movie_file


def ome_with_times(path: Path, delta_t: list[float] | None, unit: str = "s", n_channels: int = 2,
                   **pixels: object) -> Path:
    """A (T, C, 32, 32) OME-TIFF written by tifffile, pixel size 0.5 µm, whose frame t's planes carry ``DeltaT``
    ``delta_t[t]`` (channel c ``c * 0.5`` s later, as channels are taken one after the other) in ``unit``;
    ``pixels``: more OME ``Pixels`` attributes (``TimeIncrement``)."""
    n_frames = len(delta_t) if delta_t else 3
    meta: dict[str, object] = {"axes": "TCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, **pixels}
    if delta_t is not None:  # tifffile lists planes C fastest, then T (DimensionOrder XYZCT)
        per_second = {"ms": 1000.0, "min": 1 / 60}.get(unit, 1.0)
        meta["Plane"] = {"DeltaT": [t + c * 0.5 * per_second for t in delta_t for c in range(n_channels)],
                         "DeltaTUnit": [unit] * (n_frames * n_channels)}
    data = np.arange(n_frames * n_channels * 32 * 32, dtype=np.uint16).reshape(n_frames, n_channels, 32, 32)
    tifffile.imwrite(path, data, ome=True, metadata=meta)
    return path


@pytest.mark.parametrize(("delta_t", "unit"), [([0, 90, 180], "s"), ([0, 90_000, 180_000], "ms"), ([0, 1.5, 3], "min")])
def test_an_ome_tiff_without_time_increment_takes_the_interval_from_its_planes_times(
    tmp_path: Path, delta_t: list[float], unit: str
) -> None:
    path = ome_with_times(tmp_path / "m.ome.tif", delta_t, unit)
    assert "TimeIncrement" not in tifffile.TiffFile(path).ome_metadata  # the planes' times are all it has
    expected = "timestamps (OME Plane DeltaT: frame 0 to frame 2, mean of 2 intervals)"
    header = inspect_movie(path)
    assert (header.frame_interval_min, header.frame_interval_from) == (pytest.approx(1.5), expected)
    with open_movie(path) as movie:
        assert (movie.frame_interval_min, movie.frame_interval_from) == (pytest.approx(1.5), expected)
    assert read_movie(path).frame_interval_from == expected


def test_time_increment_wins_over_the_planes_times(tmp_path: Path) -> None:
    path = ome_with_times(tmp_path / "m.ome.tif", [0, 90, 180], TimeIncrement=2.0, TimeIncrementUnit="min")
    header = inspect_movie(path)
    assert (header.frame_interval_min, header.frame_interval_from) == (pytest.approx(2.0), None)


def test_irregular_times_give_the_mean_step_and_say_so(tmp_path: Path) -> None:
    """Frames at 0, 60 and 180 s: the interval is the mean step, (180 - 0) / 2 s, as for a vendor file's
    acquisition times, and the steps of 1 and 2 min are named where the interval's source is recorded."""
    path = ome_with_times(tmp_path / "m.ome.tif", [0, 60, 180])
    header = inspect_movie(path)
    assert header.frame_interval_min == pytest.approx(1.5)
    assert header.frame_interval_from == ("timestamps (OME Plane DeltaT: frame 0 to frame 2, mean of 2 intervals; "
                                          "irregular: steps 1 to 2 min)")
    # within 1 % of the mean step (timing jitter) is regular
    assert "irregular" not in inspect_movie(ome_with_times(tmp_path / "j.ome.tif", [0, 90.5, 180])).frame_interval_from


@pytest.mark.parametrize(("delta_t", "unit"), [([0, 0, 0], "s"), ([180, 90, 0], "s"), ([0, 90, 180], "fortnight"), (None, "s")])
def test_times_that_give_no_interval_give_none(tmp_path: Path, delta_t: list[float] | None, unit: str) -> None:
    """All planes at 0 (a writer that fills DeltaT without times), times running backwards, a unit not known, no
    DeltaT: no
    interval from the file (the sheet or the config gives it), and no movie refused for it."""
    header = inspect_movie(ome_with_times(tmp_path / "m.ome.tif", delta_t, unit))
    assert (header.frame_interval_min, header.frame_interval_from) == (None, None)


def test_the_sheet_check_takes_the_planes_times_and_ingest_records_where_the_interval_came_from(tmp_path: Path) -> None:
    timed = ome_with_times(tmp_path / "timed.ome.tif", [0, 90, 180])
    untimed = ome_with_times(tmp_path / "untimed.ome.tif", [0, 0, 0])
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"timed\t{timed}\t\t\n")
    assert [row.sample for row in check_samples(sheet, load_config({}))] == ["timed"]
    sheet.write_text(HEADER + f"untimed\t{untimed}\t\t\n")
    with pytest.raises(ConfigError, match=r"sample 'untimed'.*untimed\.ome\.tif: no frame interval"):
        check_samples(sheet, load_config({}))
    image = tmp_path / "image.ome.zarr"
    ingest_movie_file("timed", timed, "auto", None, None, None, [], {}, image)
    written = omezarr.open_ome_image(image)
    assert written.frame_interval_min == pytest.approx(1.5)
    assert written.attrs["frame_interval_source"] == "file metadata"
    assert written.attrs["file_frame_interval_from"] == (
        "timestamps (OME Plane DeltaT: frame 0 to frame 2, mean of 2 intervals)")


# --- Micro-Manager: Plane DeltaT in its OME-XML, the set interval and the stage in its own JSON ---


def write_mm_file(path: Path, delta_t_s: list[float], summary: dict[str, object],
                  image_metadata: dict[str, object] | None = None, plane_position: str = "") -> Path:
    """One Micro-Manager position file of len(``delta_t_s``) frames of one 8 x 10 channel, laid out as Micro-Manager's
    multipage TIFF, whose OME-XML gives pixel size 0.5 µm, no TimeIncrement, and each frame's ``DeltaT`` (s, with no
    unit, as Micro-Manager writes it from ``ElapsedTime-ms``); ``plane_position``: more attributes of the first
    plane; ``summary`` and ``image_metadata``: Micro-Manager's summary and each page's JSON."""
    n = len(delta_t_s)
    planes = "".join(f'<Plane TheC="0" TheZ="0" TheT="{t}" DeltaT="{dt}"{plane_position if t == 0 else ""}/>'
                     for t, dt in enumerate(delta_t_s))
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}"><Image ID="Image:0" Name="Pos0">'
           f'<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="10" SizeY="8" SizeC="1" SizeZ="1" '
           f'SizeT="{n}" PhysicalSizeX="0.5" PhysicalSizeY="0.5"><Channel ID="Channel:0:0" Name="GFP" '
           f'SamplesPerPixel="1"/><TiffData IFD="0" PlaneCount="{n}"/>{planes}</Pixels></Image></OME>')
    summary = {"MicroManagerVersion": "2.0.0", "Prefix": "exp", "Frames": n, "Channels": 1, "Slices": 1,
               "Positions": 1, **summary}
    planes_px = np.arange(n * 80, dtype=np.uint16).reshape(n, 8, 10)
    write_mm_tiff(path, planes_px, xml, summary, [(0, 0, t, 0) for t in range(n)], image_metadata)
    return path


def test_a_micromanager_file_takes_the_interval_from_deltat_unless_its_summary_gives_the_set_one(tmp_path: Path) -> None:
    times = write_mm_file(tmp_path / "exp_MMStack_Pos0.ome.tif", [0.0, 61.2, 119.4, 180.0], {})
    assert tifffile.TiffFile(times).pages.first.is_micromanager
    header = inspect_movie(times)
    assert header.frame_interval_min == pytest.approx(1.0)
    assert header.frame_interval_from.startswith("timestamps (OME Plane DeltaT: frame 0 to frame 3")
    (tmp_path / "set").mkdir()
    nominal = write_mm_file(tmp_path / "set" / "exp_MMStack_Pos0.ome.tif", [0.0, 61.2, 119.4, 180.0],
                            {"Interval_ms": 60000})
    header = inspect_movie(nominal)
    assert (header.frame_interval_min, header.frame_interval_from) == (pytest.approx(1.0), None)
    assert inspect_movie(tmp_path / "set", scene=0).frame_interval_min == pytest.approx(1.0)  # read as the folder


def test_a_micromanager_file_takes_the_stage_position_from_its_image_json_where_the_ome_xml_gives_none(
    tmp_path: Path,
) -> None:
    stage = {"XPositionUm": -1234.5, "YPositionUm": 0.0, "ZPositionUm": 17.25}
    unitless = write_mm_file(tmp_path / "a.ome.tif", [0, 60], {}, stage,
                             plane_position=' PositionX="9" PositionY="9"')  # no unit: not read as µm
    assert inspect_movie(unitless).stage_position_um == pytest.approx((-1234.5, 0.0, 17.25))
    with open_movie(unitless) as movie:
        assert movie.stage_position_um == pytest.approx((-1234.5, 0.0, 17.25))
    in_xml = write_mm_file(tmp_path / "b.ome.tif", [0, 60], {}, stage,
                           plane_position=' PositionX="9" PositionXUnit="mm" PositionY="2" PositionYUnit="µm"')
    assert inspect_movie(in_xml).stage_position_um == pytest.approx((9000.0, 2.0, None))  # the OME-XML wins
    assert inspect_movie(write_mm_file(tmp_path / "c.ome.tif", [0, 60], {})).stage_position_um is None



def test_each_position_of_one_micromanager_file_reads_the_stage_position_of_its_own_first_image(tmp_path: Path) -> None:
    """Micro-Manager writing every position into one file: OME Images 0 and 1 on pages 0-1 and 2-3, each page's
    JSON at its position's stage; each position reads the JSON of its own first page."""
    stages = [{"XPositionUm": 10.0 * p, "YPositionUm": -5.0 - p} for p in (0, 0, 1, 1)]
    images = "".join(
        f'<Image ID="Image:{p}" Name="Pos{p}"><Pixels ID="Pixels:{p}" DimensionOrder="XYCZT" Type="uint16" SizeX="10" '
        f'SizeY="8" SizeC="1" SizeZ="1" SizeT="2" PhysicalSizeX="0.5" PhysicalSizeY="0.5" TimeIncrement="60">'
        f'<Channel ID="Channel:{p}:0" Name="GFP" SamplesPerPixel="1"/><TiffData IFD="{2 * p}" PlaneCount="2"/>'
        "</Pixels></Image>" for p in (0, 1))
    xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}">{images}</OME>'
    summary = {"MicroManagerVersion": "2.0.0", "Prefix": "exp", "Frames": 2, "Channels": 1, "Slices": 1, "Positions": 2}
    path = tmp_path / "exp_MMStack.ome.tif"
    write_mm_tiff(path, np.arange(4 * 80, dtype=np.uint16).reshape(4, 8, 10), xml, summary,
                  [(0, 0, t, p) for p in (0, 1) for t in (0, 1)], stages)
    assert [inspect_movie(path, scene=p).stage_position_um for p in (0, 1)] == [(0.0, -5.0, None), (10.0, -6.0, None)]
    with open_movie(path, scene=1) as movie:
        assert movie.stage_position_um == (10.0, -6.0, None)
        np.testing.assert_array_equal(movie.data[1, 0], np.arange(3 * 80, 4 * 80).reshape(8, 10))


# --- CZI: a scene's stage position ---


def test_each_czi_scene_reads_its_own_stage_position(tmp_path: Path) -> None:
    """libCZI's writer lists no scenes in the metadata; its metadata editor writes them with each scene's
    ``CenterPosition`` (µm), which bioio-czi reads as the scene's stage position."""
    pyczi = pytest.importorskip("pylibCZIrw.czi", reason="pylibCZIrw (libCZI) is not installed")
    pytest.importorskip("bioio_czi", reason="bioio-czi is not installed")
    import xml.etree.ElementTree as ET

    from test_io_movies_vendor import movie, write_czi

    data = movie((2, 1, 1, 8, 8), seed=3)
    path = write_czi(tmp_path / "wells.czi", data, scenes=2)
    centres = [(1250.5, -3500.25), (-40.0, 17.75)]
    with pyczi.edit_czi(str(path)) as editor:
        root = ET.fromstring(editor.read_metadata_xml())
        scenes = ET.SubElement(ET.SubElement(root.find("Metadata/Information/Image/Dimensions"), "S"), "Scenes")
        for i, (x, y) in enumerate(centres):
            ET.SubElement(ET.SubElement(scenes, "Scene", Index=str(i), Name=f"W{i}"), "CenterPosition").text = f"{x},{y}"
        with editor.edit_session() as builder:
            builder.set_xml(ET.tostring(root, encoding="unicode"))
    for i, (x, y) in enumerate(centres):
        header = inspect_movie(path, scene=i)
        assert (header.scene_name, header.stage_position_um) == (f"W{i}", (x, y, None))
        with open_movie(path, scene=i) as raw:
            assert raw.stage_position_um == (x, y, None)
            np.testing.assert_array_equal(raw.data[1], data[1, :, 0])  # each scene holds the same planes


# --- non-square pixels: refused before any job, saying how to run the movie ---


def test_a_czi_of_non_square_pixels_is_refused_by_the_sheet_check_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("pylibCZIrw.czi", reason="pylibCZIrw (libCZI) is not installed")
    pytest.importorskip("bioio_czi", reason="bioio-czi is not installed")
    from test_io_movies_vendor import movie, write_czi

    path = write_czi(tmp_path / "aniso.czi", movie((2, 1, 1, 8, 8)), pixel_um=(0.5, 0.25))
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"aniso\t{path}\t\t2\n")
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert str(err.value) == (
        f"{sheet} line 2 (sample 'aniso'): {path}: non-square pixels: the file's metadata gives 0.25 µm along x and "
        "0.5 µm along y, and cellpipe measures in square pixels only; to run it, resample the movie to square pixels "
        "of 0.25 µm (Fiji: Image > Scale, X scale 1, Y scale 2, then save as OME-TIFF and give that file), or, if "
        "the file's metadata is wrong, set pixel_size_um in the sample sheet"
    )
