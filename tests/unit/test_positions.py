"""Positions become samples (issue #26): one position of a multi-position file read exactly (an OME-TIFF of 3
series written by tifffile, a CZI of 2 scenes written by libCZI), a sheet row's ``positions`` column expanded
into one sample per position before any job, with its errors, and the expansion cached with the checked files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

import cellpipe.io.movies as movies
from cellpipe.config import ConfigError, load_config
from cellpipe.io.movies import MovieError, inspect_movie, list_scenes, open_movie, read_movie
from cellpipe.positions import position_labels, select_positions
from cellpipe.preflight import check_samples

NAMES = ["A1 field 1", "A1 field 2", "B3"]
PIXEL_UM = [0.5, 0.65, 0.8]


def position_movie(index: int, shape: tuple[int, int, int] = (3, 16, 20)) -> np.ndarray:
    """(T, Y, X) uint16 whose every pixel tells its position, frame, row and column."""
    t, y, x = np.indices(shape)
    return (index * 10000 + t * 1000 + y * 30 + x).astype(np.uint16)


def write_positions_ome_tiff(path: Path, lengths: tuple[int, ...] = (3, 3, 3), widths: tuple[int, ...] = (20, 24, 28)) -> Path:
    """An OME-TIFF of one OME Image (series) per position, named :data:`NAMES`, each with its own pixel size: position
    i of ``lengths[i]`` frames of 16 x ``widths[i]`` px."""
    with tifffile.TiffWriter(path, ome=True) as tif:
        for i, (n_frames, width) in enumerate(zip(lengths, widths, strict=True)):
            tif.write(position_movie(i, (n_frames, 16, width)), metadata={
                "axes": "TYX", "Name": NAMES[i], "PhysicalSizeX": PIXEL_UM[i], "PhysicalSizeY": PIXEL_UM[i],
                "TimeIncrement": 2.0, "TimeIncrementUnit": "min"})
    return path


def write_positions_czi(path: Path) -> Path:
    """A CZI of 2 scenes written by libCZI, side by side, each (T=3, C=2) of 16 x 20 px with its own content."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for scene in range(2):
            for t in range(3):
                for c in range(2):
                    plane = position_movie(scene)[t] + c * 500
                    czi.write(plane[..., np.newaxis], plane={"T": t, "C": c, "Z": 0},
                              location=(scene * 40, 0), scene=scene)
        czi.write_metadata(document_name=path.stem, channel_names={0: "H2B", 1: "mCherry"}, scale_x=0.5e-6,
                           scale_y=0.5e-6)
    return path


def test_each_series_of_an_ome_tiff_reads_exactly_with_its_own_size_pixel_size_and_name(tmp_path: Path) -> None:
    path = write_positions_ome_tiff(tmp_path / "plate.ome.tif")
    assert list_scenes(path) == NAMES
    for i in range(3):
        header = inspect_movie(path, scene=i)
        assert header.shape_tcyx == (3, 1, 16, 20 + 4 * i)
        assert header.pixel_size_um == PIXEL_UM[i] and header.scene == i and header.scene_name == NAMES[i]
        with open_movie(path, scene=i, checksum=True) as movie:
            for t in range(3):  # frame by frame
                np.testing.assert_array_equal(movie.data[t][0], position_movie(i, (3, 16, 20 + 4 * i))[t])
            assert movie.scene_name == NAMES[i] and movie.source_checksum()["bytes"] == path.stat().st_size
        np.testing.assert_array_equal(read_movie(path, scene=i).data[:, 0], position_movie(i, (3, 16, 20 + 4 * i)))


def test_a_multi_position_ome_tiff_without_a_scene_says_to_add_positions_and_a_missing_one_is_named(
    tmp_path: Path,
) -> None:
    path = write_positions_ome_tiff(tmp_path / "plate.ome.tif")
    with pytest.raises(MovieError, match=r"3 positions .* in one file; read them with a 'positions' column"):
        inspect_movie(path)
    with pytest.raises(MovieError, match=r"plate\.ome\.tif: no position 3: the file holds 3 position\(s\) \(0 to 2\)"):
        inspect_movie(path, scene=3)


def test_each_scene_of_a_czi_from_libczi_reads_its_own_region_exactly(tmp_path: Path) -> None:
    path = write_positions_czi(tmp_path / "wells.czi")
    assert list_scenes(path) == ["", ""]  # libCZI's writer names no scene
    for scene in range(2):
        header = inspect_movie(path, scene=scene)
        assert header.shape_tcyx == (3, 2, 16, 20) and header.channel_names == ("H2B", "mCherry")
        with open_movie(path, scene=scene) as movie:
            for t in range(3):
                expected = np.stack([position_movie(scene)[t] + c * 500 for c in range(2)])
                np.testing.assert_array_equal(movie.data[t], expected)
    with pytest.raises(MovieError, match=r"wells\.czi: 2 scenes \(positions\) in one Zeiss CZI file; read them with "
                                         r"a 'positions' column"):
        inspect_movie(path)
    with pytest.raises(MovieError, match=r"no scene 2: the Zeiss CZI file holds 2 scene\(s\)"):
        inspect_movie(path, scene=2)


def test_select_positions_takes_all_indices_and_names_in_the_order_given() -> None:
    assert select_positions("all", ["a", "b", "c"]) == [0, 1, 2]
    assert select_positions("2, 0", ["a", "b", "c"]) == [2, 0]
    assert select_positions("c,a", ["a", "b", "c"]) == [2, 0]
    with pytest.raises(ValueError, match=r"position '5' is not in the file: it holds 3 position\(s\), 0 to 2; its names: a, b, c"):
        select_positions("0,5", ["a", "b", "c"])
    with pytest.raises(ValueError, match="listed twice"):
        select_positions("0,a", ["a", "b", "c"])


def test_a_position_is_named_by_its_own_name_made_safe_else_by_its_index() -> None:
    assert position_labels(["A1 / field 1", "", "B#2", "x y", "x_y", "..."]) == ["A1_field_1", "1", "B_2", "3", "4", "5"]


def sheet_of(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "samples.tsv"
    path.write_text("sample\tmovie\tpositions\n" + rows)
    return path


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    """An OME-TIFF of 3 positions alike in size and length (3 frames of 16 x 20 px), as a sheet row may list them."""
    return write_positions_ome_tiff(tmp_path / "plate.ome.tif", widths=(20, 20, 20))


def test_positions_all_a_list_or_names_become_one_sample_per_position(tmp_path: Path, plate: Path) -> None:
    czi = write_positions_czi(tmp_path / "wells.czi")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tmovie\tpositions\tframe_interval_min\n"
                     f"p\t{plate}\tall\t\nq\t{plate}\t2,0\t\nr\t{plate}\tB3\t\nw\t{czi}\tall\t5\n")
    rows = check_samples(sheet, load_config({}))
    assert [(r.sample, r.scene) for r in rows] == [
        ("p_A1_field_1", 0), ("p_A1_field_2", 1), ("p_B3", 2), ("q_B3", 2), ("q_A1_field_1", 0), ("r_B3", 2),
        ("w_0", 0), ("w_1", 1),
    ]
    assert all(r.positions is None for r in rows)  # each sample reads its one position


@pytest.mark.parametrize(("sheet_text", "message"), [
    ("sample\tmovie\np\t{plate}\n", r"samples\.tsv line 2 \(sample 'p'\): .*plate\.ome\.tif: 3 positions .* 'positions' column"),
    ("sample\tmovie\tpositions\np\t{plate}\t0,7\n",
     r"line 2 \(sample 'p'\): .*plate\.ome\.tif: position '7' is not in the file: it holds 3 position\(s\), 0 to 2"),
    ("sample\tmovie\tpositions\np\t{plate}\tC9\n", r"line 2 \(sample 'p'\): .*plate\.ome\.tif: position 'C9' is not in the file"),
    # a sample of its own (reading one position by scene) whose name a position of the next row takes
    ("sample\tmovie\tpositions\tscene\np_B3\t{plate}\t\t2\np\t{plate}\t2\t\n",
     r"line 3 \(sample 'p_B3'\): duplicate sample name \(first on line 2\)"),
    ("sample\tmovie\tpositions\tscene\np\t{plate}\tall\t1\n", r"line 2 \(sample 'p'\): give positions or scene, not both"),
    ("sample\tmovie\tpositions\tground_truth\np\t{plate}\t0,1\t{plate}\n",
     r"line 2 \(sample 'p'\): .*plate\.ome\.tif: one ground_truth for 2 positions"),
])
def test_a_bad_positions_row_stops_in_one_line_naming_sample_file_and_problem(
    tmp_path: Path, plate: Path, sheet_text: str, message: str,
) -> None:
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(sheet_text.format(plate=plate))
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert "\n" not in str(err.value)
    assert re.search(message, str(err.value)), str(err.value)


@pytest.mark.parametrize(("lengths", "widths", "found"), [
    ((3, 3, 3), (20, 24, 20), "positions 0 'A1 field 1', 2 'B3': 3 frames, 1 channel, 16 x 20 px; "
                              "position 1 'A1 field 2': 3 frames, 1 channel, 16 x 24 px"),
    ((3, 2, 3), (20, 20, 20), "positions 0 'A1 field 1', 2 'B3': 3 frames, 1 channel, 16 x 20 px; "
                              "position 1 'A1 field 2': 2 frames, 1 channel, 16 x 20 px"),
], ids=["sizes", "lengths"])
def test_positions_of_other_sizes_or_lengths_on_one_row_stop_in_one_line_and_run_on_rows_of_their_own(
    tmp_path: Path, lengths: tuple[int, ...], widths: tuple[int, ...], found: str,
) -> None:
    """A file whose positions differ is refused before any job with the row, the file, each size and its positions
    and how to run them (a header check of each position, so the second start, from the record of checked files,
    refuses it too); listing only positions alike, or one position per row, runs."""
    path = write_positions_ome_tiff(tmp_path / "plate.ome.tif", lengths, widths)
    record = tmp_path / "checked.json"
    for _ in range(2):
        with pytest.raises(ConfigError) as err:
            check_samples(sheet_of(tmp_path, f"p\t{path}\tall\n"), load_config({}), checked_record=record)
        assert str(err.value) == (
            f"{tmp_path / 'samples.tsv'} line 2 (sample 'p'): {path}: its positions differ in size or length ({found}); "
            "to run them anyway, give each position a sheet row of its own with its index in positions (e.g. "
            "positions: 1), or list only positions alike")
    rows = check_samples(sheet_of(tmp_path, f"p\t{path}\t0,B3\np\t{path}\t1\n"), load_config({}), checked_record=record)
    assert [(r.sample, r.scene) for r in rows] == [("p_A1_field_1", 0), ("p_B3", 2), ("p_A1_field_2", 1)]


def test_a_second_start_reads_no_header_of_a_positioned_file(
    tmp_path: Path, plate: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1,000 positions would read 1,000 headers at each start: the second start reads none."""
    reads: list[str] = []
    for name in ("list_scenes", "inspect_movie"):
        real = getattr(movies, name)

        def counting(path, *args, _real=real, _name=name, **kwargs):
            reads.append(f"{_name} {os.path.basename(str(path))}")
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(movies, name, counting)
    sheet = sheet_of(tmp_path, f"p\t{plate}\tall\n")
    record = tmp_path / "checked.json"
    first = [r.sample for r in check_samples(sheet, load_config({}), checked_record=record)]
    assert len(reads) == 4  # the positions listed once, a header per position
    reads.clear()
    second = [r.sample for r in check_samples(sheet, load_config({}), checked_record=record)]
    assert second == first and reads == []
    os.utime(plate, ns=(1, 1))  # the file changed since: listed and checked again
    check_samples(sheet, load_config({}), checked_record=record)
    assert reads == ["list_scenes plate.ome.tif"] + ["inspect_movie plate.ome.tif"] * 3


def test_the_positions_of_a_file_are_checked_from_one_read_of_its_headers(
    tmp_path: Path, plate: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tifffile parses every series (and the OME XML) of a file at each opening: opened once per position, a file
    of N positions would cost N² series at the first start (1,000 positions: minutes).  It is opened twice: to list
    the positions, and once for all their headers."""
    opened: list[str] = []
    real = tifffile.TiffFile

    def counting(path, *args, **kwargs):
        opened.append(os.path.basename(str(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(movies.tifffile, "TiffFile", counting)
    rows = check_samples(sheet_of(tmp_path, f"p\t{plate}\tall\n"), load_config({}))
    assert [r.scene for r in rows] == [0, 1, 2]
    assert opened == ["plate.ome.tif"] * 2


def test_a_cluster_job_which_checks_no_file_still_knows_every_position_sample(
    tmp_path: Path, plate: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cluster job loads the sheet without the header checks (check_files False), but its sample must exist
    there too: the positions are listed (one header of the positioned file), no position's header is checked."""
    calls: list[str] = []
    for name in ("list_scenes", "inspect_movie"):
        real = getattr(movies, name)
        monkeypatch.setattr(movies, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    rows = check_samples(sheet_of(tmp_path, f"p\t{plate}\t0,B3\n"), load_config({}), check_files=False)
    assert [(r.sample, r.scene) for r in rows] == [("p_A1_field_1", 0), ("p_B3", 2)]
    assert calls == ["list_scenes"]


def write_bioformats2raw(path: Path, movies_tyx: list[np.ndarray], names: list[str]) -> Path:
    """A bioformats2raw layout (NGFF 0.4), as bioformats2raw writes a multi-position file: the root group marked
    ``bioformats2raw.layout: 3``, one image per position in groups 0, 1, ... written by ome-zarr-py, and the OME
    group listing them (``series``) beside ``METADATA.ome.xml`` naming each Image."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    for i, data in enumerate(movies_tyx):
        group = root.create_group(str(i))
        write_image(data, group, fmt=FormatV04(), axes=["t", "y", "x"], scale_factors=[],
                    scale={"t": 2.0, "y": 0.5, "x": 0.5}, axes_units={"t": "minute", "y": "micrometer", "x": "micrometer"},
                    storage_options={"chunks": (1, *data.shape[1:])})
    ome = root.create_group("OME")
    ome.attrs["series"] = [str(i) for i in range(len(movies_tyx))]
    images = "".join(f'<Image ID="Image:{i}" Name="{name}"/>' for i, name in enumerate(names))
    (path / "OME" / "METADATA.ome.xml").write_text(
        f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">{images}</OME>', encoding="utf-8")
    return path


def test_each_image_of_a_bioformats2raw_layout_is_a_position_read_exactly(tmp_path: Path) -> None:
    data = [position_movie(i) for i in range(2)]
    path = write_bioformats2raw(tmp_path / "plate.ome.zarr", data, ["Well A1", "Well A2"])
    assert list_scenes(path) == ["Well A1", "Well A2"]
    for i in range(2):
        header = inspect_movie(path, scene=i)
        assert header.shape_tcyx == (3, 1, 16, 20) and header.scene_name == f"Well A{i + 1}"
        assert header.pixel_size_um == pytest.approx(0.5) and header.frame_interval_min == pytest.approx(2.0)
        with open_movie(path, scene=i, checksum=True) as movie:
            for t in range(3):
                np.testing.assert_array_equal(movie.data[t][0], data[i][t])
            described = movie.source_checksum()
        # its own image group and the metadata on the way to it (the root's, the OME group naming the positions):
        # not the other position's arrays
        files = {f["path"] for f in described["files"]}
        assert {p.split("/")[0] for p in files} == {str(i), ".zattrs", ".zgroup", "OME"} and described["subset"]
        assert any(p.startswith(f"{i}/") and p.endswith("/.zarray") for p in files) and "OME/METADATA.ome.xml" in files
    with pytest.raises(MovieError, match=r"plate\.ome\.zarr: 2 images \(positions\) \('Well A1', 'Well A2'\) in one "
                                         r"bioformats2raw layout; read them with a 'positions' column"):
        inspect_movie(path)
    with pytest.raises(MovieError, match=r"no position 2: the bioformats2raw layout holds 2 image\(s\)"):
        inspect_movie(path, scene=2)
    rows = check_samples(sheet_of(tmp_path, f"p\t{path}\tall\n"), load_config({}))
    assert [(r.sample, r.scene) for r in rows] == [("p_Well_A1", 0), ("p_Well_A2", 1)]


WELLS = ["A/1", "B/3"]
FIELD_NAMES = ["A01_0", "A01_1", "B03_0", "B03_1"]


def write_plate(path: Path, version: str) -> Path:
    """An OME-Zarr plate (HCS) of NGFF ``version`` written by ome-zarr-py: wells A1 and B3 of 2 fields each, every
    field a (T=3, Y=16, X=20) movie of its own content (field i: :func:`position_movie` (i)) and pixel size
    (0.5 + 0.1 i µm), 2 min per frame."""
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    fmt = FormatV04() if version == "0.4" else FormatV05()
    location = parse_url(str(path), mode="w", fmt=fmt)
    assert location is not None
    root = zarr.open_group(location.store, mode="w", zarr_format=fmt.zarr_format)
    write_plate_metadata(root, ["A", "B"], ["1", "3"], WELLS, fmt=fmt, field_count=2, name="plate")
    for w, well_path in enumerate(WELLS):
        row, column = well_path.split("/")
        well = root.require_group(row).require_group(column)
        write_well_metadata(well, ["0", "1"], fmt=fmt)
        for f in range(2):
            i = 2 * w + f
            write_image(position_movie(i), well.require_group(str(f)), fmt=fmt, axes=["t", "y", "x"], scale_factors=[],
                        scale={"t": 2.0, "y": 0.5 + 0.1 * i, "x": 0.5 + 0.1 * i},
                        axes_units={"t": "minute", "y": "micrometer", "x": "micrometer"},
                        storage_options={"chunks": (1, 16, 20)})
    return path


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_each_field_of_each_well_of_an_ome_zarr_plate_is_a_position_read_exactly(tmp_path: Path, version: str) -> None:
    path = write_plate(tmp_path / "plate.ome.zarr", version)
    assert (path / ("zarr.json" if version == "0.5" else ".zattrs")).is_file()  # the version's own layout
    assert list_scenes(path) == FIELD_NAMES
    for i, name in enumerate(FIELD_NAMES):
        header = inspect_movie(path, scene=i)
        assert header.shape_tcyx == (3, 1, 16, 20) and header.scene_name == name
        assert header.pixel_size_um == pytest.approx(0.5 + 0.1 * i) and header.frame_interval_min == pytest.approx(2.0)
        with open_movie(path, scene=i) as movie:
            for t in range(3):  # frame by frame, each field its own pixels
                np.testing.assert_array_equal(movie.data[t][0], position_movie(i)[t])
    with pytest.raises(MovieError, match=r"plate\.ome\.zarr: 4 images \(positions\) \('A01_0', 'A01_1', 'B03_0', "
                                         r"'B03_1'\) in one OME-Zarr plate; read them with a 'positions' column") as err:
        inspect_movie(path)
    assert "\n" not in str(err.value)
    with pytest.raises(MovieError, match=r"no position 4: the OME-Zarr plate holds 4 image\(s\) \(0 to 3\)"):
        inspect_movie(path, scene=4)
    # one well group given alone: its fields, named by the plate's row and column it lies in
    well = path / "B" / "3"
    assert list_scenes(well) == ["B03_0", "B03_1"]
    np.testing.assert_array_equal(read_movie(well, scene=1).data[:, 0], position_movie(3))
    with pytest.raises(MovieError, match=r"3: 2 images \(positions\) \('B03_0', 'B03_1'\) in one OME-Zarr well"):
        inspect_movie(well)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_field_of_a_plate_is_checksummed_by_its_own_arrays_and_the_metadata_above_it(tmp_path: Path, version: str) -> None:
    from cellpipe.io.checksums import describe_path, files_under

    path = write_plate(tmp_path / "plate.ome.zarr", version)
    meta = "zarr.json" if version == "0.5" else ".zattrs"
    read = movies.movie_files(path, scene=3)  # B03_1
    assert {meta, f"B/{meta}", f"B/3/{meta}"} <= set(read)  # plate, row and well metadata
    assert [r for r in read if r.count("/") > 2 and not r.startswith("B/3/1/")] == []
    assert any(r.startswith("B/3/1/s0/") for r in read)  # its array
    assert not [r for r in read if r.startswith(("A/", "B/3/0/"))]  # no other field's files
    with open_movie(path, scene=3, checksum=True) as movie:
        for t in range(3):
            movie.data[t]
        described = movie.source_checksum()
    assert [f["path"] for f in described["files"]] == read and described["subset"] is True
    assert described == {k: v for k, v in describe_path("movie", path, files=read).items() if k not in ("role", "path")}
    assert len(read) < len(files_under(path)) / 2
    # another field's array changing does not change this field's checksum; its own does
    other = next(p for p in files_under(path) if p.startswith("A/1/0/s0/") and "zarr.json" not in p and ".z" not in p)
    (path / other).write_bytes((path / other).read_bytes() + b"\0")
    assert describe_path("movie", path, files=read)["sha256"] == described["sha256"]
    own = next(p for p in read if p.startswith("B/3/1/s0/") and "zarr.json" not in p and ".z" not in p)
    (path / own).write_bytes((path / own).read_bytes() + b"\0")
    assert describe_path("movie", path, files=read)["sha256"] != described["sha256"]


def test_the_fields_of_a_plate_are_listed_from_its_metadata_without_opening_an_image(tmp_path: Path) -> None:
    import shutil

    path = write_plate(tmp_path / "plate.ome.zarr", "0.5")
    for well_path in WELLS:  # every image's arrays and metadata gone: only the plate's and wells' metadata are left
        for field in ("0", "1"):
            shutil.rmtree(path / well_path / field)
    assert list_scenes(path) == FIELD_NAMES


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_plate_in_the_sample_sheet_becomes_one_sample_per_field(tmp_path: Path, version: str) -> None:
    path = write_plate(tmp_path / "plate.ome.zarr", version)
    rows = check_samples(sheet_of(tmp_path, f"p\t{path}\tall\nq\t{path}\tB03_1,0\nw\t{path / 'A' / '1'}\tall\n"),
                        load_config({}))
    assert [(r.sample, r.scene) for r in rows] == [
        ("p_A01_0", 0), ("p_A01_1", 1), ("p_B03_0", 2), ("p_B03_1", 3), ("q_B03_1", 3), ("q_A01_0", 0),
        ("w_A01_0", 0), ("w_A01_1", 1),
    ]
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\np\t{path}\n")
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert "\n" not in str(err.value)
    assert re.search(r"line 2 \(sample 'p'\): .*plate\.ome\.zarr: 4 images \(positions\) .* in one OME-Zarr plate; "
                     r"read them with a 'positions' column", str(err.value)), str(err.value)


def write_stage_positions_ome_tiff(path: Path) -> Path:
    """An OME-TIFF of 2 OME Images whose planes carry the stage position: the first in nm (x, y and z), the second
    in µm (x and y only), each plane of a series a little further along x than the first (the first is read)."""
    stages = [({"PositionX": 1_250_000.0, "PositionY": -3_500.0, "PositionZ": 12_000.0}, "nm"),
              ({"PositionX": -40.5, "PositionY": 0.0}, "µm")]
    with tifffile.TiffWriter(path, ome=True) as tif:
        for i, (stage, unit) in enumerate(stages):
            plane = {}
            for key, value in stage.items():
                plane[key] = [value + (t * 100.0 if key == "PositionX" else 0.0) for t in range(3)]
                plane[f"{key}Unit"] = [unit] * 3
            tif.write(position_movie(i), metadata={"axes": "TYX", "Name": NAMES[i], "PhysicalSizeX": 0.5,
                                                   "PhysicalSizeY": 0.5, "TimeIncrement": 2.0,
                                                   "TimeIncrementUnit": "min", "Plane": plane})
    return path


def test_each_position_of_an_ome_tiff_reads_its_own_stage_position_in_um(tmp_path: Path) -> None:
    path = write_stage_positions_ome_tiff(tmp_path / "stage.ome.tif")
    expected = [(1250.0, -3.5, 12.0), (-40.5, 0.0, None)]
    for i in range(2):
        header = inspect_movie(path, scene=i)
        assert header.stage_position_um == pytest.approx(expected[i])
        with open_movie(path, scene=i) as movie:
            assert movie.stage_position_um == pytest.approx(expected[i])
        assert read_movie(path, scene=i).stage_position_um == pytest.approx(expected[i])
    plain = write_positions_ome_tiff(tmp_path / "plain.ome.tif")  # no Plane positions
    assert inspect_movie(plain, scene=0).stage_position_um is None
    assert read_movie(plain, scene=1).stage_position_um is None


def test_a_bioformats2raw_image_reads_its_stage_position_from_its_ome_xml_and_plain_ngff_has_none(
        tmp_path: Path) -> None:
    path = write_bioformats2raw(tmp_path / "plate.ome.zarr", [position_movie(i) for i in range(2)], ["A1", "A2"])
    ome = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
    # listed last frame first: the first frame's plane is the one read
    plane = ('<Plane TheT="1" TheZ="0" TheC="0" PositionX="9.5" PositionXUnit="mm" PositionY="-700" PositionYUnit="nm"/>'
             '<Plane TheT="0" TheZ="0" TheC="0" PositionX="2.5" PositionXUnit="mm" PositionY="-700" PositionYUnit="nm"/>')
    pixels = (f'<Pixels ID="Pixels:1:0" DimensionOrder="XYZCT" Type="uint16" SizeX="20" SizeY="16" SizeZ="1" '
              f'SizeC="1" SizeT="3">{plane}</Pixels>')
    (path / "OME" / "METADATA.ome.xml").write_text(
        f'<OME xmlns="{ome}"><Image ID="Image:0" Name="A1"/><Image ID="Image:1" Name="A2">{pixels}</Image></OME>',
        encoding="utf-8")
    assert inspect_movie(path, scene=0).stage_position_um is None
    assert inspect_movie(path, scene=1).stage_position_um == pytest.approx((2500.0, -0.7, None))
    with open_movie(path, scene=1) as movie:
        assert movie.stage_position_um == pytest.approx((2500.0, -0.7, None))
    assert inspect_movie(path / "1").stage_position_um is None  # the image alone: NGFF metadata hold none


def test_a_czi_scene_without_a_stage_position_reads_none(tmp_path: Path) -> None:
    """libCZI's writer records no scene CenterPosition: bioio-czi's standard metadata give none, read as None."""
    path = write_positions_czi(tmp_path / "scenes.czi")
    assert [inspect_movie(path, scene=i).stage_position_um for i in range(2)] == [None, None]
