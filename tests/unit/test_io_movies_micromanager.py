"""Micro-Manager-style datasets: multi-file OME-TIFF series and folders of ``<prefix>_MMStack_<position>.ome.tif``
files, written by tifffile with OME-XML made here as Micro-Manager 2 writes it (one OME Image per position, its
``TiffData`` naming the file of each run of planes; later files of a series carry a ``BinaryOnly`` pointer).

With ``mm_header``, each file is laid out byte by byte as Micro-Manager's multipage TIFF is (its header of offsets
and summary JSON after the TIFF header, a ``MicroManagerMetadata`` tag on every page, its index map of planes at the
end; the layout tifffile's ``read_micromanager_metadata`` reads), since no writer of it exists outside Micro-Manager;
the summary holds only what tifffile needs to take the file for a Micro-Manager stack.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.config import ConfigError, load_config
from cellpipe.io.checksums import describe_path, tree_digest
from cellpipe.io.movies import MovieError, detect_format, inspect_movie, list_scenes, mm_positions, open_movie, read_movie
from cellpipe.preflight import check_samples

OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
CHANNELS = ("DAPI", "GFP")


def position_movie(p: int, n_frames: int = 4, shape: tuple[int, int] = (8, 10)) -> np.ndarray:
    """(T, C=2, Y, X) uint16 whose every pixel tells its position, frame, channel, row and column."""
    t, c, y, x = np.indices((n_frames, len(CHANNELS), *shape))
    return (p * 10000 + t * 1000 + c * 500 + y * 20 + x).astype(np.uint16)


def write_mm_tiff(path: Path, planes: np.ndarray, description: str, summary: dict[str, object],
                  coords: list[tuple[int, int, int, int]],
                  image_metadata: dict[str, object] | list[dict[str, object]] | None = None) -> None:
    """``planes`` (N, Y, X) uint16 as a little-endian Micro-Manager multipage TIFF: the TIFF header, Micro-Manager's
    offset header (index map, display settings, comments) and summary JSON at byte 8, then each page (its
    ``ImageDescription`` (first page only), ``MicroManagerMetadata`` JSON, pixels, IFD), then the index map: per
    plane its (channel, slice, frame, position) ``coords`` and IFD offset.  ``image_metadata``: more keys of each page's
    ``MicroManagerMetadata`` (a list: one dict per page)."""
    buf = bytearray(b"II" + struct.pack("<HI", 42, 0))
    summary_json = json.dumps(summary).encode()
    buf += struct.pack("<8I", 54773648, 0, 0, 0, 0, 0, 2355492, len(summary_json)) + summary_json

    def put(data: bytes) -> int:
        buf.extend(b"\0" * (len(buf) % 2))  # TIFF offsets fall on word boundaries
        offset = len(buf)
        buf.extend(data)
        return offset

    next_pointer, ifds = 4, []
    y, x = planes.shape[1:]
    for k, plane in enumerate(planes):
        c, z, t, p = coords[k]
        mm_json = json.dumps({"ChannelIndex": c, "SliceIndex": z, "FrameIndex": t, "PositionIndex": p,
                              **((image_metadata[k] if isinstance(image_metadata, list) else image_metadata) or {})}
                             ).encode() + b"\0"
        tags = [(256, 3, 1, x), (257, 3, 1, y), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1), (277, 3, 1, 1),
                (278, 3, 1, y), (279, 4, 1, plane.nbytes), (51123, 2, len(mm_json), put(mm_json))]
        if k == 0:
            text = description.encode() + b"\0"
            tags.append((270, 2, len(text), put(text)))
        tags.append((273, 4, 1, put(plane.astype("<u2").tobytes())))
        ifd = put(struct.pack("<H", len(tags)))
        for tag, kind, count, value in sorted(tags):
            buf.extend(struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == 3 else
                       struct.pack("<HHII", tag, kind, count, value))
        struct.pack_into("<I", buf, next_pointer, ifd)
        next_pointer = len(buf)
        buf.extend(struct.pack("<I", 0))
        ifds.append(ifd)
    index_map = put(struct.pack("<II", 3453623, len(planes)))
    for (c, z, t, p), ifd in zip(coords, ifds, strict=True):
        buf.extend(struct.pack("<5I", c, z, t, p, ifd))
    struct.pack_into("<I", buf, 12, index_map)
    path.write_bytes(bytes(buf))


def _file_uuid(name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, name).urn


def write_mm_dataset(folder: Path, movies: list[np.ndarray], frames_per_file: int, every_image_in_each: bool = False,
                     prefix: str = "exp", mm_header: bool = False, ome_units: bool = True,
                     summary_extra: dict[str, object] | None = None, image_metadata: dict[str, object] | None = None,
                     stage: bool = False) -> Path:
    """A Micro-Manager 2 style dataset: position ``p`` (``movies[p]``, (T, C, Y, X)) in ``<prefix>_MMStack_Pos<p>.ome.tif``
    and, past ``frames_per_file`` frames, ``..._Pos<p>_1.ome.tif``, ...; planes in C, then T order (XYCZT).  The first
    file of a position holds the OME-XML: its own Image, or every position's (``every_image_in_each``); position p has
    pixels of 0.3 + 0.1 p µm, 90 s between frames and z-steps of 2 µm.  ``mm_header``: each file written as a
    Micro-Manager multipage TIFF (:func:`write_mm_tiff`), else by tifffile.  ``ome_units``: False leaves pixel sizes and
    interval out of the OME-XML; ``summary_extra`` and ``image_metadata``: more keys of Micro-Manager's summary and of
    each page's own metadata; ``stage``: each position's first OME Plane carries a stage position of (100 p + 0.5,
    -20 p, 1.25) µm (the unit as an XML character reference: the test writes the XML as ASCII), as Micro-Manager
    records the XY and focus stages."""
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[list[tuple[str, np.ndarray, int]]] = []  # per position: (file name, frames, first frame)
    for p, data in enumerate(movies):
        starts = range(0, data.shape[0], frames_per_file)
        parts.append([(f"{prefix}_MMStack_Pos{p}{'' if i == 0 else f'_{i}'}.ome.tif", data[s:s + frames_per_file], s)
                      for i, s in enumerate(starts)])

    def image_xml(p: int) -> str:
        t, c, y, x = movies[p].shape
        tiffdata = "".join(
            f'<TiffData IFD="0" PlaneCount="{len(frames) * c}" FirstC="0" FirstZ="0" FirstT="{first}">'
            f'<UUID FileName="{name}">{_file_uuid(name)}</UUID></TiffData>' for name, frames, first in parts[p])
        channels = "".join(f'<Channel ID="Channel:{p}:{i}" Name="{n}" SamplesPerPixel="1"/>' for i, n in enumerate(CHANNELS))
        size = 0.3 + 0.1 * p
        units = (f'PhysicalSizeX="{size:.1f}" PhysicalSizeY="{size:.1f}" PhysicalSizeZ="2.0" TimeIncrement="90" '
                 'TimeIncrementUnit="s"') if ome_units else ""
        plane = (f'<Plane TheC="0" TheZ="0" TheT="0" PositionX="{100 * p + 0.5}" PositionXUnit="&#181;m" '
                 f'PositionY="{-20 * p}" PositionYUnit="&#181;m" PositionZ="1.25" PositionZUnit="&#181;m"/>') if stage else ""
        return (f'<Image ID="Image:{p}" Name="Pos{p}"><Pixels ID="Pixels:{p}" DimensionOrder="XYCZT" Type="uint16" '
                f'SizeX="{x}" SizeY="{y}" SizeC="{c}" SizeZ="1" SizeT="{t}" {units}>'
                f"{channels}{tiffdata}{plane}</Pixels></Image>")

    for p in range(len(movies)):
        first_name = parts[p][0][0]
        for i, (name, frames, first) in enumerate(parts[p]):
            if i == 0:
                images = "".join(image_xml(q) for q in range(len(movies))) if every_image_in_each else image_xml(p)
                body = images
            else:
                body = f'<BinaryOnly MetadataFile="{first_name}" UUID="{_file_uuid(first_name)}"/>'
            xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}" UUID="{_file_uuid(name)}">{body}</OME>'
            if mm_header:
                n_frames, n_channels = frames.shape[:2]
                summary = {"MicroManagerVersion": "2.0.0", "Prefix": prefix, "Frames": len(movies[p]),
                           "Channels": n_channels, "Slices": 1, "Positions": len(movies), **(summary_extra or {})}
                coords = [(c, 0, first + t, p) for t in range(n_frames) for c in range(n_channels)]
                write_mm_tiff(folder / name, frames.reshape(-1, *frames.shape[2:]), xml, summary, coords, image_metadata)
                continue
            with tifffile.TiffWriter(folder / name) as tif:
                for k, plane in enumerate(frames.reshape(-1, *frames.shape[2:])):
                    tif.write(plane, description=xml if k == 0 else None, metadata=None)
    return folder


def test_a_series_split_over_two_files_reads_as_one_movie_through_the_first(tmp_path: Path) -> None:
    data = position_movie(0)
    folder = write_mm_dataset(tmp_path / "run", [data], frames_per_file=2)
    first, second = folder / "exp_MMStack_Pos0.ome.tif", folder / "exp_MMStack_Pos0_1.ome.tif"
    assert second.is_file() and tifffile.TiffFile(second).series[0].shape == (4, 8, 10)  # 2 frames x 2 channels
    header = inspect_movie(first)
    assert header.shape_tcyx == (4, 2, 8, 10) and header.channel_names == CHANNELS
    assert header.pixel_size_um == pytest.approx(0.3) and header.frame_interval_min == pytest.approx(1.5)
    assert list_scenes(first) == ["Pos0"]
    with open_movie(first, checksum=True) as movie:
        for t in range(4):  # frames 2 and 3 come from the second file
            np.testing.assert_array_equal(movie.data[t], data[t])
        described = movie.source_checksum()
    # both files the series is read from, in provenance's folder-digest format, relative to the first file's folder
    assert described["type"] == "files" and [f["path"] for f in described["files"]] == [first.name, second.name]
    assert described["sha256"] == tree_digest(described["files"])
    assert {k: v for k, v in describe_path("movie", first, files=[first.name, second.name]).items()
            if k not in ("role", "path")} == described
    second.rename(tmp_path / "elsewhere.ome.tif")
    with pytest.raises(MovieError, match=r"exp_MMStack_Pos0\.ome\.tif: its OME-XML puts planes in 1 file\(s\) not in its "
                                         r"folder \(exp_MMStack_Pos0_1\.ome\.tif\)") as err:
        inspect_movie(first)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("every_image_in_each", "mm_header"), [(False, False), (True, False), (True, True)],
                         ids=["own-image", "every-image", "micro-manager-header"])
def test_a_dataset_folder_is_one_position_per_file(tmp_path: Path, every_image_in_each: bool, mm_header: bool) -> None:
    data = [position_movie(0), position_movie(1, n_frames=3)]
    folder = write_mm_dataset(tmp_path / "run", data, frames_per_file=2, every_image_in_each=every_image_in_each,
                              mm_header=mm_header)
    if mm_header:  # tifffile on its own reads Micro-Manager's index map: every position in one series, as axis R
        with tifffile.TiffFile(folder / "exp_MMStack_Pos0.ome.tif") as tif:
            assert tif.is_mmstack and tif.series[0].kind == "mmstack" and "R" in tif.series[0].axes
    assert detect_format(folder) == "micromanager"
    assert list_scenes(folder) == ["Pos0", "Pos1"]  # the _1 file continues Pos0: no position of its own
    for p in range(2):
        header = inspect_movie(folder, scene=p)
        assert header.shape_tcyx == (len(data[p]), 2, 8, 10) and header.scene == p and header.scene_name == f"Pos{p}"
        assert header.pixel_size_um == pytest.approx(0.3 + 0.1 * p) and header.channel_names == CHANNELS
        with open_movie(folder, scene=p, checksum=True) as movie:
            assert movie.scene_name == f"Pos{p}"
            for t in range(len(data[p])):
                np.testing.assert_array_equal(movie.data[t], data[p][t])
            described = movie.source_checksum()
        # the position's own files only, not the folder's: N positions do not read the folder N times
        own = {f.name for f in folder.iterdir() if re.search(rf"_Pos{p}(_\d+)?\.ome\.tif$", f.name)}
        assert {f["path"] for f in described["files"]} == own and described["subset"] is True
    with pytest.raises(MovieError, match=r"run: 2 Micro-Manager positions \('Pos0', 'Pos1'\) in one dataset folder; "
                                         r"read them with a 'positions' column"):
        inspect_movie(folder)
    with pytest.raises(MovieError, match=r"no position 2: the Micro-Manager dataset holds 2 position\(s\)"):
        inspect_movie(folder, scene=2)


def test_a_one_position_folder_reads_without_positions_and_files_of_one_position_sort_naturally(tmp_path: Path) -> None:
    data = position_movie(0, n_frames=2)
    folder = write_mm_dataset(tmp_path / "one", [data], frames_per_file=5)
    np.testing.assert_array_equal(read_movie(folder).data, data)
    assert inspect_movie(folder).scene_name is None
    listed = tmp_path / "listed"
    listed.mkdir()
    for name in ("a_MMStack_Pos10.ome.tif", "a_MMStack_Pos2.ome.tif", "a_MMStack_Pos2_1.ome.tif",
                 "a_MMStack_1-Pos000_001.ome.tif", "notes.txt"):
        (listed / name).write_bytes(b"")
    assert [label for _, label in mm_positions(listed)] == ["1-Pos000_001", "Pos2", "Pos10"]
    (listed / "b_MMStack_Pos0.ome.tif").write_bytes(b"")
    with pytest.raises(MovieError, match=r"listed: Micro-Manager files of 2 acquisitions \('a', 'b'\) in one folder"):
        mm_positions(listed)
    with pytest.raises(MovieError, match=r"format 'micromanager' expects a Micro-Manager dataset folder"):
        inspect_movie(folder / "exp_MMStack_Pos0.ome.tif", "micromanager")


def test_a_dataset_folder_in_the_sample_sheet_becomes_one_sample_per_position(tmp_path: Path) -> None:
    folder = write_mm_dataset(tmp_path / "run", [position_movie(0), position_movie(1)], frames_per_file=3)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\tpositions\nmm\t{folder}\tall\none\t{folder}\tPos1\n")
    rows = check_samples(sheet, load_config({}))
    assert [(r.sample, r.scene) for r in rows] == [("mm_Pos0", 0), ("mm_Pos1", 1), ("one_Pos1", 1)]
    sheet.write_text(f"sample\tmovie\nmm\t{folder}\n")
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert "\n" not in str(err.value)
    assert re.search(r"line 2 \(sample 'mm'\): .*run: 2 Micro-Manager positions .* 'positions' column", str(err.value))


def test_replacing_the_later_file_of_a_multi_file_series_is_seen_by_checksum_provenance_and_header_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    import cellpipe.io.movies as movies
    from cellpipe.provenance import read_differences

    data = position_movie(0)
    folder = write_mm_dataset(tmp_path / "run", [data], frames_per_file=2)
    first, second = folder / "exp_MMStack_Pos0.ome.tif", folder / "exp_MMStack_Pos0_1.ome.tif"
    with open_movie(first, checksum=True) as movie:
        for t in range(4):
            movie.data[t]
        read = movie.source_checksum()
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\nmm\t{first}\n")
    record = tmp_path / "checked.json"
    check_samples(sheet, load_config({}), checked_record=record)
    assert json.loads(record.read_text())["reads"] == {next(iter(json.loads(record.read_text())["rows"])): [str(second)]}
    inspected: list[str] = []
    real_inspect = movies.inspect_movie
    monkeypatch.setattr(movies, "inspect_movie", lambda *a, **k: inspected.append(str(a[0])) or real_inspect(*a, **k))
    check_samples(sheet, load_config({}), checked_record=record)
    assert inspected == []  # unchanged: not checked again

    # the later file replaced by one of the same size, its modification time restored (cp -p, rsync -a)
    stat = second.stat()
    changed = bytearray(second.read_bytes())
    changed[-3] ^= 0xFF
    (folder / "new").write_bytes(bytes(changed))
    os.utime(folder / "new", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(folder / "new", second)
    assert second.stat().st_size == stat.st_size and second.stat().st_mtime_ns == stat.st_mtime_ns
    check_samples(sheet, load_config({}), checked_record=record)
    assert inspected == [str(first)]  # checked again
    now = describe_path("movie", first, files=[f["path"] for f in read["files"]])
    assert now["sha256"] != read["sha256"]
    assert read_differences(read, now) == [
        f"exp_MMStack_Pos0_1.ome.tif: ingest_movie read sha256 {read['files'][1]['sha256']}, the file now has sha256 "
        f"{now['files'][1]['sha256']}"]


@pytest.mark.parametrize(("summary", "image", "pixel_um", "interval_min"), [
    ({"PixelSize_um": 0.65, "Interval_ms": 90000}, {}, 0.65, 1.5),  # Micro-Manager 1's key names, still read by MM 2
    ({"IntervalMs": 30000.0}, {"PixelSizeUm": 0.325}, 0.325, 0.5),  # MM 2's; the pixel size from the image's metadata
    ({"PixelSizeUm": 0, "Interval_ms": 0}, {}, None, None),  # 0: not set in Micro-Manager
    # numbers written as text are read; an unusable first key gives way to the next
    ({"PixelSizeUm": "0.5", "Interval_ms": "n/a", "IntervalMs": "60000"}, {}, 0.5, 1.0),
], ids=["summary-mm1-keys", "mm2-keys-image-pixel-size", "zero-is-unset", "numbers-as-text"])
def test_pixel_size_and_interval_come_from_micro_managers_own_metadata_where_the_ome_xml_lacks_them(
    tmp_path: Path, summary: dict[str, object], image: dict[str, object], pixel_um: float | None,
    interval_min: float | None,
) -> None:
    data = [position_movie(0), position_movie(1, n_frames=3)]
    folder = write_mm_dataset(tmp_path / "run", data, frames_per_file=2, every_image_in_each=True, mm_header=True,
                              ome_units=False, summary_extra=summary, image_metadata=image)
    for p in range(2):
        header = inspect_movie(folder, scene=p)
        assert header.channel_names == CHANNELS  # still the OME-XML's
        if pixel_um is None:
            assert header.pixel_size_um is None and header.frame_interval_min is None
            continue
        assert header.pixel_size_um == pytest.approx(pixel_um) and header.pixel_size_y_um == pytest.approx(pixel_um)
        assert header.frame_interval_min == pytest.approx(interval_min)
        with open_movie(folder, scene=p) as movie:
            assert movie.pixel_size_um == pytest.approx(pixel_um) and movie.frame_interval_min == pytest.approx(interval_min)
    # where the OME-XML gives them, it wins
    units = write_mm_dataset(tmp_path / "units", data, frames_per_file=2, every_image_in_each=True, mm_header=True,
                             summary_extra={"PixelSize_um": 9.0, "Interval_ms": 1000})
    header = inspect_movie(units, scene=1)
    assert header.pixel_size_um == pytest.approx(0.4) and header.frame_interval_min == pytest.approx(1.5)


@pytest.mark.parametrize("every_image_in_each", [False, True])
def test_each_position_reads_its_own_stage_position_from_the_ome_xml(tmp_path: Path, every_image_in_each: bool) -> None:
    data = [position_movie(p) for p in range(2)]
    folder = write_mm_dataset(tmp_path / "run", data, frames_per_file=2, every_image_in_each=every_image_in_each,
                              stage=True)
    for p in range(2):
        assert inspect_movie(folder, scene=p).stage_position_um == pytest.approx((100 * p + 0.5, -20 * p, 1.25))
        with open_movie(folder, scene=p) as movie:
            assert movie.stage_position_um == pytest.approx((100 * p + 0.5, -20 * p, 1.25))
    plain = write_mm_dataset(tmp_path / "plain", data, frames_per_file=2)
    assert inspect_movie(plain, scene=1).stage_position_um is None


def test_the_later_files_of_a_series_are_given_by_sample_from_the_check_from_the_record_and_to_a_cluster_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``check_samples(reads=...)``: the files a movie reads besides itself, from the header check at a first start, from
    the record of checked files at a second (no header read), and from the record alone without ``check_files`` (a
    cluster job), where a row the record does not hold gets none."""
    import cellpipe.io.movies as movies

    folder = write_mm_dataset(tmp_path / "run", [position_movie(0)], frames_per_file=2)
    single = tmp_path / "single.ome.tif"
    tifffile.imwrite(single, position_movie(1), ome=True, metadata={"axes": "TCYX", "PhysicalSizeX": 0.5,
                                                                    "PhysicalSizeY": 0.5, "TimeIncrement": 1.0})
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\nmm\t{folder / 'exp_MMStack_Pos0.ome.tif'}\none\t{single}\n")
    record = tmp_path / "checked.json"
    expected = {"mm": [str(folder / "exp_MMStack_Pos0_1.ome.tif")], "one": []}
    first: dict[str, list[str]] = {}
    check_samples(sheet, load_config({}), checked_record=record, reads=first)
    assert first == expected

    def no_header(*args: object, **kwargs: object) -> None:
        raise AssertionError("a header was read")

    for name in ("inspect_movie", "movie_files", "list_scenes"):
        monkeypatch.setattr(movies, name, no_header)
    again: dict[str, list[str]] = {}
    check_samples(sheet, load_config({}), checked_record=record, reads=again)
    assert again == expected
    job: dict[str, list[str]] = {}
    check_samples(sheet, load_config({}), check_files=False, checked_record=record, reads=job)
    assert job == expected
    unrecorded: dict[str, list[str]] = {}
    check_samples(sheet, load_config({}), check_files=False, checked_record=tmp_path / "none.json", reads=unrecorded)
    assert unrecorded == {"mm": [], "one": []}
