"""What a movie's header says against what the sample sheet says (issue #23): non-square pixels are
refused, a sheet value far from the file's is used with a loud warning, and the warning is repeated
on a start that finds the row in the record of checked files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.config import ConfigError, load_config, load_samples
from cellpipe.ingest import IngestError, IngestSettings, resolve_metadata

HEADER = "sample\tmovie\tpixel_size_um\tframe_interval_min\n"


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
        "non-square pixels: the file's metadata gives 0.5 µm along x and 1 µm along y; non-square pixels are not "
        "supported yet (if the file's metadata is wrong, set pixel_size_um in the sample sheet)"
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


def test_load_samples_refuses_non_square_pixels_naming_the_row_and_file(tmp_path: Path) -> None:
    movie = ome_movie(tmp_path / "aniso.ome.tif", px=0.5, px_y=1.0)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"aniso\t{movie}\t\t\n")
    with pytest.raises(ConfigError) as err:
        load_samples(sheet, load_config({}))
    assert str(err.value) == (
        f"{sheet} line 2 (sample 'aniso'): {movie}: non-square pixels: the file's metadata gives 0.5 µm along x "
        "and 1 µm along y; non-square pixels are not supported yet (if the file's metadata is wrong, set "
        "pixel_size_um in the sample sheet)"
    )


def test_load_samples_warns_once_per_start_and_again_when_the_row_is_not_rechecked(tmp_path: Path) -> None:
    """The warning goes to ``warn`` (the Snakefile prints it); a start that skips the row (its files
    passed and are unchanged: cellpipe.io.checked_files) repeats it from the record."""
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
        rows = load_samples(sheet, load_config({}), checked_record=record, warn=said.append)
        assert said == [expected], start
        assert rows[0].pixel_size_um == 650
    assert record.is_file()


def test_load_samples_gives_each_movies_size_from_its_header_or_the_record(tmp_path: Path) -> None:
    """The memory requests are sized with it (cellpipe.resources); a row the record skips is not read
    again, so its size comes from the record."""
    from cellpipe.config import MovieSize

    movie = ome_movie(tmp_path / "m.ome.tif", px=0.65)
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((5, 2, 40, 48), np.float32), imagej=True,
                     resolution=(2.0, 2.0), metadata={"axes": "TCYX", "unit": "micron", "finterval": 60})
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(HEADER + f"m\t{movie}\t\t\n" + f"c\t{tmp_path / 'c.tif'}\t\t\n")
    record = tmp_path / "checked.json"
    expected = {"m": MovieSize((3, 1, 32, 32), "uint16", 0.65), "c": MovieSize((5, 2, 40, 48), "float32", 0.5)}
    for start in range(2):
        sizes: dict[str, MovieSize] = {}
        load_samples(sheet, load_config({}), checked_record=record, sizes=sizes)
        assert sizes == expected, start
    assert expected["c"].frame_megabytes == 2 * 40 * 48 * 4 / 1e6
