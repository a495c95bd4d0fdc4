"""The header checks of the sample sheet's files (cellpipe.preflight): what the ingest and evaluate jobs
would refuse is refused when the sheet is read, naming the row and the file; the channel settings are
checked against each movie; what a movie's header says against what the sample sheet says (issue #23):
non-square pixels are refused, a sheet value far from the file's is used with a loud warning, and the
warning is repeated on a start that finds the row in the record of checked files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from sheet_helpers import HEADER, write_movie, write_sheet

from cellpipe.config import ConfigError, IngestSettings, load_config
from cellpipe.ingest import IngestError, resolve_metadata
from cellpipe.preflight import check_samples


def resolve(file_px: float | None, file_px_y: float | None, sheet_px: float | None = None, file_dt: float | None = 2.0,
            sheet_dt: float | None = None):
    return resolve_metadata(
        "s", "m.tif", (3, 1, 32, 32), file_px, file_dt, [], sheet_px, sheet_dt, [], IngestSettings(),
        file_pixel_size_y_um=file_px_y,
    )


def ome_movie(path: Path, px: float = 0.5, px_y: float | None = None, dt: float = 2.0) -> str:
    """A (3, 32, 32) OME-TIFF with PhysicalSizeX ``px``, PhysicalSizeY ``px_y`` (µm) and TimeIncrement ``dt`` (min)."""
    meta: dict[str, object] = {"axes": "TYX", "PhysicalSizeX": px, "TimeIncrement": dt, "TimeIncrementUnit": "min"}
    if px_y is not None:
        meta["PhysicalSizeY"] = px_y
    tifffile.imwrite(path, np.ones((3, 32, 32), np.uint16), ome=True, metadata=meta)
    return str(path)


def test_non_square_pixels_in_the_file_are_refused_naming_both_sizes() -> None:
    with pytest.raises(IngestError) as err:
        resolve(0.5, 1.0)
    assert err.value.problem == (
        "non-square pixels: the file's metadata gives 0.5 µm along x and 1 µm along y, and cellpipe measures in square "
        "pixels only; to run it, resample the movie to square pixels of 0.5 µm (Fiji: Image > Scale, X scale 1, "
        "Y scale 2, then save as OME-TIFF and give that file), or, if the file's metadata is wrong, set pixel_size_um "
        "in the sample sheet"
    )
    assert "sample 's' (m.tif)" in str(err.value)


def test_pixels_square_within_rounding_are_accepted() -> None:
    meta = resolve(0.5, 0.504)  # 0.8 %: rounding in the metadata
    assert (meta.pixel_size_um, meta.warnings) == (0.5, [])
    assert resolve(0.5, None).pixel_size_um == 0.5


def test_the_sheet_overrides_non_square_file_metadata_with_a_warning() -> None:
    meta = resolve(0.5, 1.0, sheet_px=0.5)
    assert meta.pixel_size_um == 0.5 and meta.pixel_size_source == "sample sheet"
    assert meta.warnings == [
        "the file's pixels are not square (0.5 µm along x, 1 µm along y); using the sample sheet's pixel_size_um "
        "0.5 µm for both"
    ]


def test_a_sheet_value_far_from_the_files_is_used_with_a_warning() -> None:
    meta = resolve(0.65, 0.65, sheet_px=650, file_dt=2.0, sheet_dt=0.5)
    assert (meta.pixel_size_um, meta.frame_interval_min) == (650, 0.5)
    assert meta.warnings == [
        "pixel_size_um is 650 µm in the sample sheet but 0.65 µm in the file's metadata (1000× the file's); "
        "using the sample sheet's 650 µm",
        "frame_interval_min is 0.5 min in the sample sheet but 2 min in the file's metadata (1/4 of the file's); "
        "using the sample sheet's 0.5 min",
    ]


def test_a_sheet_value_within_5_percent_of_the_files_is_not_warned_about() -> None:
    assert resolve(0.65, 0.65, sheet_px=0.67, file_dt=2.0, sheet_dt=2.05).warnings == []  # 3 % and 2.5 %
    assert resolve(None, None, sheet_px=650, file_dt=None, sheet_dt=0.5).warnings == []  # nothing to compare


def test_check_samples_refuses_non_square_pixels_naming_the_row_and_file(tmp_path: Path) -> None:
    movie = ome_movie(tmp_path / "aniso.ome.tif", px=0.5, px_y=1.0)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"aniso\t{movie}\t\t\n")
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert str(err.value) == (
        f"{sheet} line 2 (sample 'aniso'): {movie}: non-square pixels: the file's metadata gives 0.5 µm along x "
        "and 1 µm along y, and cellpipe measures in square pixels only; to run it, resample the movie to square "
        "pixels of 0.5 µm (Fiji: Image > Scale, X scale 1, Y scale 2, then save as OME-TIFF and give that file), or, "
        "if the file's metadata is wrong, set pixel_size_um in the sample sheet"
    )


def test_check_samples_warns_once_per_start_and_again_when_the_row_is_not_rechecked(tmp_path: Path) -> None:
    """The warning goes to ``warn`` (the Snakefile prints it); a start that skips the row (its files
    passed and are unchanged: cellpipe.runtime.checked_files) repeats it from the record."""
    movie = ome_movie(tmp_path / "m.ome.tif", px=0.65)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"big\t{movie}\t650\t\n" + f"ok\t{movie}\t0.65\t\n")
    record = tmp_path / "checked.json"
    expected = (
        f"{sheet} line 2 (sample 'big'): {movie}: pixel_size_um is 650 µm in the sample sheet but 0.65 µm in the "
        "file's metadata (1000× the file's); using the sample sheet's 650 µm"
    )
    for start in range(2):
        said: list[str] = []
        rows = check_samples(sheet, load_config({}), checked_record=record, warn=said.append)
        assert said == [expected], start
        assert rows[0].pixel_size_um == 650
    assert record.is_file()


def test_check_samples_gives_each_movies_size_from_its_header_or_the_record(tmp_path: Path) -> None:
    """The memory requests are sized with it (cellpipe.resources); a row the record skips is not read
    again, so its size comes from the record."""
    from cellpipe.preflight import MovieSize

    movie = ome_movie(tmp_path / "m.ome.tif", px=0.65)
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((5, 2, 40, 48), np.float32), imagej=True,
                     resolution=(2.0, 2.0), metadata={"axes": "TCYX", "unit": "micron", "finterval": 60})
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"m\t{movie}\t\t\n" + f"c\t{tmp_path / 'c.tif'}\t\t\n")
    record = tmp_path / "checked.json"
    expected = {"m": MovieSize((3, 1, 32, 32), "uint16", 0.65), "c": MovieSize((5, 2, 40, 48), "float32", 0.5)}
    for start in range(2):
        sizes: dict[str, MovieSize] = {}
        check_samples(sheet, load_config({}), checked_record=record, sizes=sizes)
        assert sizes == expected, start
    assert expected["c"].frame_megabytes == 2 * 40 * 48 * 4 / 1e6


def _ctc_truth(folder: Path, n_frames: int, shape: tuple[int, int] = (32, 32)) -> Path:
    (folder / "TRA").mkdir(parents=True)
    for t in range(n_frames):
        tifffile.imwrite(folder / "TRA" / f"man_track{t:03d}.tif", np.zeros(shape, np.uint16))
    (folder / "TRA" / "man_track.txt").write_text("")
    return folder


@pytest.mark.parametrize(
    ("make", "columns", "message"),
    [
        # the movie, from its header
        (lambda d: tifffile.imwrite(d / "m.tif", np.zeros((32, 32), np.uint16)), "",
         "(sample 'a'): {d}/m.tif: a single 2-D image of 32x32 px, not a movie"),
        (lambda d: (d / "m.tif").write_bytes(write_movie(d / "w.ome.tif").read_bytes()[:3000]), "",
         "(sample 'a'): {d}/m.tif: truncated or corrupt TIFF"),
        (lambda d: write_movie(d / "w.ome.tif").rename(d / "m.czi"), "",
         "line 2 (sample 'a'): {d}/m.czi: named as a Zeiss CZI file but its first bytes are a TIFF file's"),
        (lambda d: write_movie(d / "m.ome.tif", shape=(6, 6)), "",
         "line 2 (sample 'a'): {d}/m.ome.tif: frames of 6x6 px are too small to segment"),
        (lambda d: tifffile.imwrite(d / "m.tif", np.ones((3, 32, 32), np.uint16), photometric="minisblack"), "",
         "line 2 (sample 'a'): {d}/m.tif: no pixel size in the file's metadata; set pixel_size_um"),
        (lambda d: write_movie(d / "m.ome.tif"), "channel_names=x,y",
         "line 2 (sample 'a'): {d}/m.ome.tif: 2 channel names given for 1 channels"),
        (lambda d: write_movie(d / "m.ome.tif"), "axes=TCYX",
         "(sample 'a'): {d}/m.ome.tif: axes 'TCYX' do not match the 3-D array of shape (3, 32, 32)"),
        (lambda d: write_movie(d / "m.ome.tif"), "format=ctc",
         "(sample 'a'): {d}/m.ome.tif: format 'ctc' expects a folder of tNNN.tif frames"),
        # its ground truth, against the movie's header
        (lambda d: (write_movie(d / "m.ome.tif"), _ctc_truth(d / "gt", 4)), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt/TRA: tracking markers must cover the movie's 3 frame(s) exactly; "
         "frames beyond the movie [3]"),
        (lambda d: (write_movie(d / "m.ome.tif"), _ctc_truth(d / "gt", 3, (40, 32))), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt/TRA/man_track000.tif: mask is 40x32 px but the movie's frames are 32x32 px"),
        (lambda d: (write_movie(d / "m.ome.tif"), (d / "gt").mkdir(),
                    tifffile.imwrite(d / "gt" / "mask7.tif", np.zeros((32, 32), np.uint16))), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt/mask7.tif: frame 7 is beyond the movie's 3 frame(s)"),
        (lambda d: (write_movie(d / "m.ome.tif"), tifffile.imwrite(d / "gt.tif", np.zeros((2, 32, 32), np.uint16),
                                                                    photometric="minisblack")), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt.tif: a label TIFF must be (T, Y, X) with one plane per movie frame (3)"),
    ],
    ids=["2d-image", "cut-short", "misnamed", "tiny-frames", "no-pixel-size", "channel-names", "axes", "format",
         "truth-frames", "truth-size", "truth-frame-beyond", "truth-stack"],
)
def test_files_are_checked_from_their_headers(tmp_path: Path, make, columns: str, message: str) -> None:
    """What the ingest and evaluate jobs would refuse is refused when the sheet is read, naming the row and the file."""
    data = tmp_path / "data"
    data.mkdir()
    make(data)
    movie = next(p for p in sorted(data.iterdir()) if p.name.startswith("m."))
    values = {"sample": "a", "movie": str(movie)}
    for item in filter(None, columns.split(";")):
        key, value = item.split("=")
        values[key] = str(next(data.glob("gt*"))) if value == "GT" else value
    sheet = write_sheet(tmp_path, "\t".join(values) + "\n" + "\t".join(values.values()) + "\n")
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert message.format(d=data) in str(err.value)
    assert "\n" not in str(err.value)


def test_good_files_pass_the_header_checks(tmp_path: Path) -> None:
    movie = write_movie(tmp_path / "m.ome.tif")
    truth = _ctc_truth(tmp_path / "gt", 3)
    (truth / "SEG").mkdir()
    tifffile.imwrite(truth / "SEG" / "man_seg002.tif", np.zeros((32, 32), np.uint16))
    sheet = write_sheet(tmp_path, f"sample\tmovie\tground_truth\na\t{movie}\t{truth}\n")
    assert [row.sample for row in check_samples(sheet, load_config({}))] == ["a"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"segment": {"channel": 1}}, "(sample 'a'): config segment.channel is 1 but {movie} has 1 channel (0-based: 0)"),
        ({"measure": {"channel_names": ["H2B", "actin"]}},
         "(sample 'a'): config measure.channel_names gives 2 names (H2B, actin) but {movie} has 1 channel"),
    ],
)
def test_channel_settings_are_checked_against_each_movie_header(tmp_path: Path, settings: dict, message: str) -> None:
    """#23: found only inside segment_cells / measure_cells (a traceback, then retries with more memory)."""
    movie = write_movie(tmp_path / "m.ome.tif")
    sheet = write_sheet(tmp_path, f"sample\tmovie\na\t{movie}\n")
    record = tmp_path / "checked.json"
    assert check_samples(sheet, load_config({}), checked_record=record)  # passes and is recorded
    with pytest.raises(ConfigError) as err:  # the record does not hide a setting the movie cannot satisfy
        check_samples(sheet, load_config(settings), checked_record=record)
    assert str(err.value) == f"{sheet} line 2 " + message.format(movie=movie)


def test_channel_settings_are_checked_for_simulated_movies_too(tmp_path: Path) -> None:
    """The simulator writes one channel, so no file needs to exist to know it."""
    sheet = write_sheet(tmp_path, "sample\tmovie\ns\tresults/simulated/s/movie.ome.tif\n")
    config = load_config({"simulate": {"s": {}}, "segment": {"channel": 2}})
    expected = r"\(sample 's'\): config segment.channel is 2 but results/simulated/s/movie.ome.tif has 1 channel"
    with pytest.raises(ConfigError, match=expected):
        check_samples(sheet, config)


def test_a_two_channel_movie_takes_channel_1_and_two_names(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 1000, size=(3, 2, 32, 32), dtype=np.uint16)
    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, data, imagej=True, metadata={"axes": "TCYX"})
    sheet = write_sheet(tmp_path, f"sample\tmovie\tpixel_size_um\tframe_interval_min\na\t{movie}\t0.5\t2\n")
    config = load_config({"segment": {"channel": 1}, "measure": {"channel_names": ["H2B", "actin"]}})
    assert [row.sample for row in check_samples(sheet, config)] == ["a"]
