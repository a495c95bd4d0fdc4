"""The record of checked sample-sheet rows (cellpipe.runtime.checked_files): unchanged files are not inspected
again, and anything that could change the verdict checks the row again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

import cellpipe.io.movies as movies
import cellpipe.runtime.checked_files as checked_files
from cellpipe.config import ConfigError, load_config
from cellpipe.io.movies import write_ome_tiff
from cellpipe.preflight import check_samples
from cellpipe.runtime.checked_files import CheckedFiles, signature


def write_movie(path: Path, n_frames: int = 3) -> str:
    data = np.random.default_rng(0).integers(0, 1000, size=(n_frames, 32, 32), dtype=np.uint16)
    write_ome_tiff(path, data, pixel_size_um=0.5, frame_interval_min=2.0)
    return str(path)


def write_truth(folder: Path, n_frames: int = 3) -> str:
    (folder / "TRA").mkdir(parents=True)
    for t in range(n_frames):
        tifffile.imwrite(folder / "TRA" / f"man_track{t:03d}.tif", np.zeros((32, 32), np.uint16))
    (folder / "TRA" / "man_track.txt").write_text("")
    return str(folder)


@pytest.fixture
def inspections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The movies cellpipe.io.movies.inspect_movie is asked to read, in order (it still reads them)."""
    calls: list[str] = []
    real = movies.inspect_movie

    def counting(path, *args, **kwargs):
        calls.append(os.path.basename(str(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(movies, "inspect_movie", counting)
    return calls


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    """Three samples; b has CTC ground truth."""
    data = tmp_path / "data"
    data.mkdir()
    lines = ["sample\tmovie\tground_truth"]
    for name in "abc":
        truth = write_truth(data / f"{name}_gt") if name == "b" else ""
        lines.append(f"{name}\t{write_movie(data / f'{name}.ome.tif')}\t{truth}")
    path = tmp_path / "samples.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def load(sheet: Path, record: Path, **config: object) -> list[str]:
    return [row.sample for row in check_samples(sheet, load_config(config), checked_record=record)]


def test_unchanged_rows_are_not_inspected_again(tmp_path: Path, sheet: Path, inspections: list[str]) -> None:
    record = tmp_path / ".snakemake" / "cellpipe" / "checked_files.json"
    assert load(sheet, record) == ["a", "b", "c"]
    assert inspections == ["a.ome.tif", "b.ome.tif", "c.ome.tif"]
    assert len(json.loads(record.read_text())["rows"]) == 3

    inspections.clear()
    before = record.stat().st_mtime_ns
    assert load(sheet, record) == ["a", "b", "c"]
    assert inspections == []
    assert record.stat().st_mtime_ns == before  # nothing new: not rewritten

    # without a record every row is inspected, as before
    assert [r.sample for r in check_samples(sheet, load_config({}))] == ["a", "b", "c"]
    assert len(inspections) == 3


def test_a_file_changed_since_is_checked_again_and_its_error_reported(tmp_path: Path, sheet: Path) -> None:
    record = tmp_path / "record.json"
    load(sheet, record)
    movie = tmp_path / "data" / "c.ome.tif"
    movie.write_bytes(movie.read_bytes()[:3000])  # cut short after it passed
    with pytest.raises(ConfigError, match=r"line 4 \(sample 'c'\): .*c\.ome\.tif: truncated or corrupt TIFF"):
        load(sheet, record)
    with pytest.raises(ConfigError, match="truncated"):  # failures are not recorded: reported every time
        load(sheet, record)


def test_ground_truth_changed_since_is_checked_again(tmp_path: Path, sheet: Path) -> None:
    record = tmp_path / "record.json"
    load(sheet, record)
    extra = tmp_path / "data" / "b_gt" / "TRA" / "man_track003.tif"
    tifffile.imwrite(extra, np.zeros((32, 32), np.uint16))  # a fourth frame in a folder: its signature changes
    with pytest.raises(ConfigError, match=r"\(sample 'b'\): ground_truth .*tracking markers must cover the movie's 3 frame"):
        load(sheet, record)


def test_an_edited_row_other_settings_or_other_checks_check_again(
    tmp_path: Path, sheet: Path, inspections: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "record.json"
    load(sheet, record)
    inspections.clear()

    lines = sheet.read_text().splitlines()  # a pixel size column, set for c only
    lines = [lines[0] + "\tpixel_size_um", lines[1] + "\t", lines[2] + "\t", lines[3] + "\t0.25"]
    sheet.write_text("\n".join(lines) + "\n")
    load(sheet, record)
    assert inspections == ["c.ome.tif"]  # only the edited row

    inspections.clear()
    load(sheet, record, ingest={"default_frame_interval_min": 7.0})
    assert inspections == ["a.ome.tif", "b.ome.tif", "c.ome.tif"]  # the settings the check uses changed

    inspections.clear()
    monkeypatch.setattr(checked_files, "checks_digest", lambda: "another version of the checks")
    load(sheet, record, ingest={"default_frame_interval_min": 7.0})
    assert inspections == ["a.ome.tif", "b.ome.tif", "c.ome.tif"]


def test_rows_gone_from_the_sheet_are_dropped_but_kept_after_an_error(tmp_path: Path, sheet: Path, inspections: list[str]) -> None:
    record = tmp_path / "record.json"
    load(sheet, record)
    full = sheet.read_text()
    lines = full.splitlines()

    sheet.write_text("\n".join([lines[0], lines[1], "x\tdata/missing.tif", *lines[2:]]) + "\n")
    with pytest.raises(ConfigError, match="movie not found"):
        load(sheet, record)
    assert len(json.loads(record.read_text())["rows"]) == 3  # b and c were not reached: still recorded

    sheet.write_text("\n".join(lines[:2]) + "\n")  # only a
    inspections.clear()
    load(sheet, record)
    assert inspections == []
    assert len(json.loads(record.read_text())["rows"]) == 1

    sheet.write_text(full)
    inspections.clear()
    load(sheet, record)
    assert inspections == ["b.ome.tif", "c.ome.tif"]


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "something else", "rows": {}}), json.dumps([1, 2])])
def test_an_unreadable_or_foreign_record_is_ignored_and_rewritten(
    tmp_path: Path, sheet: Path, inspections: list[str], content: str
) -> None:
    record = tmp_path / "record.json"
    record.write_text(content)
    assert load(sheet, record) == ["a", "b", "c"]
    assert len(inspections) == 3
    assert json.loads(record.read_text())["format"] == checked_files.RECORD_FORMAT


def test_a_record_that_cannot_be_written_does_not_stop_the_run(tmp_path: Path, sheet: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert load(sheet, blocker / "record.json") == ["a", "b", "c"]  # its folder cannot be made


def test_signature_follows_files_and_folders(tmp_path: Path) -> None:
    path = tmp_path / "m.tif"
    path.write_bytes(b"1234")
    first = signature(path)
    assert first == signature(path)
    path.write_bytes(b"12345")
    assert signature(path) != first
    assert signature(tmp_path / "missing") is None

    folder = tmp_path / "ctc"
    folder.mkdir()
    (folder / "t000.tif").write_bytes(b"a")
    before = signature(folder)
    (folder / "sub").mkdir()
    (folder / "sub" / "t001.tif").write_bytes(b"b")
    assert signature(folder) != before


def test_record_keeps_only_complete_signatures(tmp_path: Path) -> None:
    checked = CheckedFiles(tmp_path / "r.json")
    present = tmp_path / "m.tif"
    present.write_bytes(b"x")
    checked.record("k", [present, tmp_path / "missing"])
    assert not checked.passed("k", [present, tmp_path / "missing"])
    checked.record("k", [present])
    assert checked.passed("k", [present])
    checked.save()
    assert CheckedFiles(tmp_path / "r.json").passed("k", [present])
