"""Tests of inputs recorded as the job that read them read them: the movie as ingest read it, models, tracker
configurations, ground truth and folders replaced since, each named by the record and the replay check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from cellpipe import layout, replay
from cellpipe.io.checksums import describe_path
from cellpipe.provenance import (
    SCHEMA_VERSION,
)
from cellpipe.steps.provenance import record_provenance_step

from .provenance_helpers import (
    CONFIG,
    INPUTS,
    MOVIE,
    WEIGHTS,
    current_check,
    description,
    ingest,
    real_movie,
    replace_keeping_mtime,
    sha,
    write_job_outputs,
    write_record_with,
)


def test_ingest_records_the_checksum_of_the_bytes_it_read(workdir: Path) -> None:
    """The image's metadata holds the sha256 of the movie as read: for a TIFF the file's, for a CTC folder its
    frames' with the folder digest provenance uses (other files in the folder were not read)."""
    from cellpipe.io.ctc import write_ctc_movie

    data = real_movie(workdir, 0)
    attrs = ingest("data/movie.tif", "results/s1/image.ome.zarr")
    assert attrs["source_checksum"] == {"type": "file", "bytes": len(data), "sha256": sha(data)}

    write_ctc_movie(workdir / "data/ctc01", np.random.default_rng(1).integers(0, 255, (3, 32, 32), dtype=np.uint8))
    described = describe_path("movie", "data/ctc01")
    attrs = ingest("data/ctc01", "results/s2/image.ome.zarr", fmt="ctc")
    assert attrs["source_checksum"] == {k: described[k] for k in ("type", "bytes", "sha256", "files")}
    assert [f["path"] for f in attrs["source_checksum"]["files"]] == ["t000.tif", "t001.tif", "t002.tif"]
    (workdir / "data/ctc01/README.txt").write_text("not a frame")  # in the folder, never read
    again = ingest("data/ctc01", "results/s3/image.ome.zarr", fmt="ctc")
    assert again["source_checksum"] == attrs["source_checksum"]


def test_a_movie_replaced_with_its_mtime_restored_is_caught(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The scenario of issue #23 item 2: the results come from movie A; A is replaced by B with A's mtime
    (Snakemake reruns nothing); record_provenance then checksums B.  The record says the results do not come
    from B, the report says so, and a replay refuses, naming both checksums."""
    from cellpipe.report import as_read_text

    first = real_movie(workdir, 0)
    ingest("data/movie.tif", "results/s1/image.ome.zarr")
    inputs = {**INPUTS, "image": layout.path(layout.IMAGE, "results", sample="s1")}
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    assert record["as_read"][0] == {"role": "movie", "path": "data/movie.tif", "read_by": "ingest_movie", "sha256": sha(first),
                                    "bytes": len(first), "type": "file", "matches": True, "differences": []}
    assert current_check(record, workdir).ok
    assert "the movie file listed above, byte for byte" in as_read_text(record["as_read"][0])

    second = (workdir / "data/movie.tif").read_bytes()[:-1] + b"\x01"  # another movie, the same size
    replace_keeping_mtime(workdir / "data/movie.tif", second)
    with caplog.at_level("WARNING"):
        record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    movie = next(e for e in record["inputs"] if e["role"] == "movie")
    assert movie["sha256"] == sha(second)  # the file as it is now, as before
    at_ingest = record["as_read"][0]
    assert at_ingest["sha256"] == sha(first) and at_ingest["matches"] is False
    assert at_ingest["differences"] == [
        f"ingest_movie read sha256 {sha(first)} ({len(first)} bytes), the file now has sha256 {sha(second)} ({len(second)} bytes)"
    ]
    assert "movie data/movie.tif is not the file the results were computed from" in caplog.text
    assert as_read_text(at_ingest).startswith(f"MISMATCH: the results were computed from a movie with sha256 {sha(first)}")

    check = current_check(record, workdir)  # the movie on disk is the recorded one: only the ingest check fails
    assert check.problems == [
        f"sample 's1': movie data/movie.tif: the results were computed from other bytes than the movie file the "
        f"record lists (ingest_movie read sha256 {sha(first)}): {at_ingest['differences'][0]}"
    ]
    monkeypatch.setattr(replay, "run_snakemake", lambda command: pytest.fail("snakemake must not run"))
    assert replay.main(["results/s1/provenance.json", "--results", "replayed"]) == replay.EXIT_REFUSED
    assert not (workdir / "replayed").exists()


def test_a_ctc_frame_replaced_since_ingest_is_named() -> None:
    from cellpipe.io.checksums import folder_description
    from cellpipe.provenance import as_read_entry

    def movie_entry(read, now):
        return as_read_entry("movie", "data/ctc01", "ingest_movie", read, now)

    read = folder_description([{"path": "t000.tif", "bytes": 3, "sha256": "a" * 64},
                               {"path": "t001.tif", "bytes": 3, "sha256": "b" * 64}])
    now = {"role": "movie", "path": "data/ctc01", **folder_description(
        [{"path": "t000.tif", "bytes": 3, "sha256": "a" * 64}, {"path": "t001.tif", "bytes": 3, "sha256": "c" * 64},
         {"path": "notes.txt", "bytes": 1, "sha256": "d" * 64}])}
    at_ingest = movie_entry(read, now)
    assert at_ingest["matches"] is False
    assert at_ingest["differences"] == [f"t001.tif: ingest_movie read sha256 {'b' * 64}, the file now has sha256 {'c' * 64}"]
    restored = [f for f in now["files"] if f["path"] != "t001.tif"] + read["files"][1:]
    assert movie_entry(read, {**now, "files": restored})["matches"]  # notes.txt was never read
    assert movie_entry(None, now)["matches"] is None  # an image from before the check: not a mismatch
    assert movie_entry(read, None)["differences"] == ["the file is gone"]


def test_a_tiff_rewritten_while_it_is_read_is_refused(workdir: Path) -> None:
    from cellpipe.io.movies import MovieError, open_movie

    real_movie(workdir, 0)
    with open_movie(workdir / "data/movie.tif", checksum=True) as raw:
        np.asarray(raw.data[0])
        with open(workdir / "data/movie.tif", "r+b") as handle:  # in place, as `cp -p` over it does
            handle.seek(-1, os.SEEK_END)
            handle.write(b"\x07")
        with pytest.raises(MovieError, match="changed while it was being read"):
            raw.source_checksum()
    with open_movie(workdir / "data/movie.tif") as raw:  # not asked for: no extra pass over the file
        assert raw.source_checksum is None


def test_a_replaced_model_tracker_config_or_ground_truth_is_caught(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The scenario of issue #23 item 2 for the other inputs: the model, the tracker configuration and a file of
    the ground truth replaced after the jobs that read them ran, their mtime restored.  The record compares
    what each job read with the file now, the report says MISMATCH and a replay refuses, one line per input."""
    from cellpipe.report import as_read_view

    inputs = write_job_outputs(workdir, description("models/weights.pth"), description("resources/tracker.json"),
                               description("data/01_GT"))
    record = write_record_with(workdir, inputs)
    by_role = {e["role"]: e for e in record["as_read"]}
    assert [e["role"] for e in record["as_read"]] == ["movie", "ground_truth", "tracker_config", "model"]
    assert by_role["movie"]["matches"] is None  # no image: ingest's checksum is not known
    assert {r: (by_role[r]["read_by"], by_role[r]["matches"]) for r in ("ground_truth", "tracker_config", "model")} == {
        "ground_truth": ("evaluate_sample", True), "tracker_config": ("track_cells", True), "model": ("segment_frames", True)}
    assert by_role["ground_truth"]["sha256"] == describe_path("ground_truth", "data/01_GT")["sha256"]
    assert current_check(record, workdir).ok

    new_weights, old_lineage, new_lineage = b"\x00\x02weights", b"1 0 0 0\n", b"1 0 0 9\n"
    replace_keeping_mtime(workdir / "models/weights.pth", new_weights)
    replace_keeping_mtime(workdir / "resources/tracker.json", b'{"max_search_radius": 99}')
    replace_keeping_mtime(workdir / "data/01_GT/TRA/man_track.txt", new_lineage)
    with caplog.at_level("WARNING"):
        record = write_record_with(workdir, inputs)
    by_role = {e["role"]: e for e in record["as_read"]}
    assert by_role["model"]["matches"] is False and by_role["model"]["differences"] == [
        f"segment_frames read sha256 {sha(WEIGHTS)} ({len(WEIGHTS)} bytes), the file now has sha256 "
        f"{sha(new_weights)} ({len(WEIGHTS)} bytes)"]
    assert by_role["tracker_config"]["matches"] is False and by_role["tracker_config"]["sha256"] == sha(b"{}")
    assert by_role["ground_truth"]["differences"] == [
        f"TRA/man_track.txt: evaluate_sample read sha256 {sha(old_lineage)}, the file now has sha256 {sha(new_lineage)}"]
    assert "tracker_config resources/tracker.json is not the file the results were computed from" in caplog.text
    shown = as_read_view(record)
    expected = f"MISMATCH: the results were computed from a model with sha256 {sha(WEIGHTS)}"
    assert shown["model as segment_frames read it"].startswith(expected)
    assert shown["ground_truth as evaluate_sample read it"].startswith("MISMATCH")

    # the files on disk are the recorded ones: only the as-read checks fail, one line per input
    problems = current_check(record, workdir).problems
    assert [p.split(":")[1].strip() for p in problems] == ["ground_truth data/01_GT", "tracker_config resources/tracker.json",
                                                           "model models/weights.pth"]
    assert all("the results were computed from other bytes than the" in p for p in problems)
    monkeypatch.setattr(replay, "run_snakemake", lambda command: pytest.fail("snakemake must not run"))
    assert replay.main(["results/s1/provenance.json", "--results", "replayed"]) == replay.EXIT_REFUSED


def test_parts_of_segment_frames_that_read_different_models_are_a_mismatch(workdir: Path) -> None:
    """segment.scatter > 1: segment_cells gathers the parts' segmentation.json, where a value the parts disagree
    on becomes the list of their values; a model replaced between two parts is named, even when the file now
    is one of the two."""
    from cellpipe.steps.segment import merge_part_infos

    first = description("models/weights.pth")
    other = {**first, "sha256": "f" * 64}
    info = json.loads((workdir / "results/s1/segmentation.json").read_text())
    parts = [{**info, "inputs_read": {"model": model}, "part": p, "n_parts": 2, "first_frame": 2 * p, "n_frames": 2,
              "movie_frames": 4, "n_objects": 1} for p, model in enumerate((first, other))]
    (workdir / "results/s1/segmentation.json").write_text(json.dumps(merge_part_infos(parts)))  # as segment_cells gathers
    inputs = write_job_outputs(workdir, None, description("resources/tracker.json"), description("data/01_GT"))
    model = next(e for e in write_record_with(workdir, inputs)["as_read"] if e["role"] == "model")
    assert model["read_by"] == "segment_frames" and model["matches"] is False
    assert model["differences"][0] == f"the jobs of segment_frames read 2 different versions (sha256 {first['sha256']}, {'f' * 64})"

    parts[1]["inputs_read"]["model"] = first  # the parts agree, on the file as it is
    (workdir / "results/s1/segmentation.json").write_text(json.dumps(merge_part_infos(parts)))
    model = next(e for e in write_record_with(workdir, inputs)["as_read"] if e["role"] == "model")
    assert model["matches"] and model["read_by"] == "segment_frames"


def test_a_version_2_record_with_a_replaced_movie_is_still_refused(workdir: Path) -> None:
    """Records written before as_read (schema 2) said it in movie_at_ingest: still checked, and shown."""
    from cellpipe.report import as_read_view

    record = write_record_with(workdir, INPUTS)
    del record["as_read"]
    record["schema_version"] = 2
    record["movie_at_ingest"] = {"sha256": "a" * 64, "bytes": 3, "type": "file", "matches_movie": False,
                                 "differences": ["ingest read sha256 aaa, the file now has sha256 bbb"]}
    assert current_check(record, workdir).problems == [
        f"sample 's1': movie data/movie.tif: the results were computed from other bytes than the movie file the record "
        f"lists (ingest_movie read sha256 {'a' * 64}): ingest read sha256 aaa, the file now has sha256 bbb"]
    assert as_read_view(record)["movie as ingest_movie read it"].startswith("MISMATCH")
    record["schema_version"] = SCHEMA_VERSION + 1  # a newer layout: refused whatever it holds
    assert "is not one this cellpipe reads" in current_check(record, workdir).problems[0]


def test_readers_checksum_the_bytes_they_read(workdir: Path) -> None:
    """The three ways a job takes the checksum of what it reads: parsed from the hashed bytes (JSON), a copy
    hashed as it is made (the ground truth, read by libraries that open paths), or a file hashed before a
    library loads it by path and found unchanged after (the model)."""
    from cellpipe.io import tables
    from cellpipe.io.checksums import ChangedWhileRead, copy_as_read, file_as_read

    value, read = tables.read_json_as_read("resources/tracker.json")
    assert value == {} and read == description("resources/tracker.json")

    copy, read = copy_as_read("data/01_GT", workdir / "copies")
    assert read == description("data/01_GT") and copy == workdir / "copies/01_GT"
    assert (copy / "TRA/man_track.txt").read_bytes() == b"1 0 0 0\n" and (copy / ".hidden").is_file()
    copy, read = copy_as_read("data/movie.tif", workdir / "copies")
    assert read == description("data/movie.tif") and copy.read_bytes() == MOVIE

    with file_as_read("models/weights.pth") as read:
        assert read == description("models/weights.pth")
    with pytest.raises(ChangedWhileRead, match="models/weights.pth: changed while it was being read"):
        with file_as_read("models/weights.pth"):  # rewritten in place, its mtime restored: the ctime tells
            replace_keeping_mtime(workdir / "models/weights.pth", b"\x00\x03weights")
    with pytest.raises(ChangedWhileRead):
        with file_as_read("models/weights.pth"):  # replaced by another file, as `mv` does
            (workdir / "other.pth").write_bytes(b"\x00\x03weights")
            os.replace(workdir / "other.pth", workdir / "models/weights.pth")


def test_a_folder_read_by_a_job_is_compared_file_by_file():
    """read_differences and the replay's output_differences share one loop (provenance.file_differences)."""
    from cellpipe.provenance import read_differences

    read = {"type": "directory", "files": [{"path": "t000.tif", "sha256": "a"}, {"path": "t001.tif", "sha256": "b"}]}
    now = {"type": "directory", "files": [{"path": "t000.tif", "sha256": "c"}, {"path": "notes.txt", "sha256": "d"}]}
    assert read_differences(read, now) == [
        "t000.tif: ingest_movie read sha256 a, the file now has sha256 c",
        "t001.tif: read by ingest_movie (sha256 b), missing now",
    ]
    assert read_differences(read, {**now, "files": read["files"]}) == []


def test_the_movie_of_a_position_records_which_position_ingest_read(workdir: Path) -> None:
    """A sample that is one position of a multi-position file (sample sheet column positions): the file's sha256
    does not say which position, so the movie's entry names it, as ingest recorded it in the image."""
    import tifffile

    from cellpipe.steps.ingest import ingest_movie_file

    with tifffile.TiffWriter(workdir / "data/plate.ome.tif", ome=True) as tif:
        for name in ("A1", "B2"):
            tif.write(np.zeros((2, 16, 16), np.uint16), metadata={"axes": "TYX", "Name": name})
    image = layout.path(layout.IMAGE, "results", sample="s1")
    ingest_movie_file(sample="s1", movie="data/plate.ome.tif", fmt="auto", axes=None, pixel_size_um=0.5,
                      frame_interval_min=5.0, channel_names=[], settings={}, image=image, scene=1)
    inputs = {**INPUTS, "movie": "data/plate.ome.tif", "image": image}
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    record = json.loads((workdir / "results/s1/provenance.json").read_text())
    movie = next(e for e in record["inputs"] if e["role"] == "movie")
    assert movie["position"] == {"index": 1, "name": "B2"}
    assert record["as_read"][0]["matches"] is True
    assert all("position" not in e for e in record["inputs"] if e["role"] != "movie")


def test_a_position_of_a_micro_manager_folder_is_recorded_and_replayed_by_its_own_files(workdir: Path) -> None:
    """One position's record describes, compares and replays the files that position reads (its two files), not the
    folder: another position's file changing is no difference, its own later file replaced is."""
    from test_io_movies_micromanager import position_movie, write_mm_dataset

    from cellpipe.steps.ingest import ingest_movie_file

    folder = write_mm_dataset(workdir / "data/run", [position_movie(0), position_movie(1)], frames_per_file=2)
    ingest_movie_file(sample="s1", movie="data/run", fmt="auto", axes=None, pixel_size_um=None, frame_interval_min=None,
                      channel_names=[], settings={}, image="results/s1/image.ome.zarr", scene=1)
    inputs = {**INPUTS, "movie": "data/run", "image": layout.path(layout.IMAGE, "results", sample="s1")}
    record = write_record_with(workdir, inputs)
    movie = next(e for e in record["inputs"] if e["role"] == "movie")
    own = ["exp_MMStack_Pos1.ome.tif", "exp_MMStack_Pos1_1.ome.tif"]
    assert movie["type"] == "directory" and movie["subset"] is True and [f["path"] for f in movie["files"]] == own
    assert record["as_read"][0]["matches"] is True and record["as_read"][0]["sha256"] == movie["sha256"]
    assert current_check(record, workdir).ok

    replace_keeping_mtime(folder / "exp_MMStack_Pos0_1.ome.tif", b"another position's file")
    assert current_check(record, workdir).ok
    later = folder / own[1]
    replace_keeping_mtime(later, later.read_bytes()[:-1] + b"\x07")
    check = current_check(record, workdir)
    assert len(check.problems) == 1 and f"data/run/{own[1]}: recorded sha256 {movie['files'][1]['sha256']}" in check.problems[0]
    rerecorded = write_record_with(workdir, inputs)
    assert rerecorded["as_read"][0]["matches"] is False
    assert rerecorded["as_read"][0]["differences"][0].startswith(f"{own[1]}: ingest_movie read sha256")


def test_the_movie_entry_shows_the_stage_position_where_the_file_gives_one(workdir: Path) -> None:
    """The stage position ingest recorded (µm, from the OME Plane, here in mm) is shown on the movie's entry; a
    position whose file gives none has no such key."""
    import tifffile

    from cellpipe.steps.ingest import ingest_movie_file

    with tifffile.TiffWriter(workdir / "data/plate.ome.tif", ome=True) as tif:
        tif.write(np.zeros((2, 16, 16), np.uint16), metadata={"axes": "TYX", "Name": "A1"})
        tif.write(np.zeros((2, 16, 16), np.uint16), metadata={
            "axes": "TYX", "Name": "B2", "Plane": {"PositionX": [1.5, 1.6], "PositionXUnit": ["mm", "mm"],
                                                   "PositionY": [-0.25, -0.25], "PositionYUnit": ["mm", "mm"]}})
    for scene, expected in ((1, {"x": 1500.0, "y": -250.0, "z": None}), (0, None)):
        image = layout.path(layout.IMAGE, "results", sample="s1")
        ingest_movie_file(sample="s1", movie="data/plate.ome.tif", fmt="auto", axes=None, pixel_size_um=0.5,
                          frame_interval_min=5.0, channel_names=[], settings={}, image=image, scene=scene)
        inputs = {**INPUTS, "movie": "data/plate.ome.tif", "image": image}
        record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
        record = json.loads((workdir / "results/s1/provenance.json").read_text())
        movie = next(e for e in record["inputs"] if e["role"] == "movie")
        assert movie.get("stage_position_um") == (pytest.approx(expected) if expected else None)
        assert all("stage_position_um" not in e for e in record["inputs"] if e["role"] != "movie")


def test_the_movie_entry_records_the_pixel_size_interval_z_step_and_channels_ingest_used(workdir: Path) -> None:
    """The movie's entry records the physical metadata as ingest resolved it, with where each came from: the pixel
    size (y and x, µm) from the file, the interval (minutes) from the sheet over the file's 3 min, the file's channel
    names, and the z step (µm) of a z-stack kept in 3-D; a 2-D movie has no z keys and a TIFF no vendor interval; the
    reader that read the movie and the ingest.reader setting."""
    from cellpipe.io.movies import write_ome_tiff
    from cellpipe.steps.ingest import ingest_movie_file

    rng = np.random.default_rng(3)
    write_ome_tiff(workdir / "data/two.ome.tif", rng.integers(0, 900, (2, 2, 16, 16), dtype=np.uint16), 0.25, 3.0,
                   channel_names=["DAPI", "GFP"])
    write_ome_tiff(workdir / "data/stack.ome.tif", rng.integers(0, 900, (2, 4, 16, 16), dtype=np.uint16), 0.4, 2.0,
                   pixel_size_z_um=1.5)
    cases = [
        ("data/two.ome.tif", {}, {"pixel_size_um": {"y": 0.25, "x": 0.25}, "pixel_size_source": "file metadata",
                                  "frame_interval_min": 5.0, "frame_interval_source": "sample sheet",
                                  "channel_names": ["DAPI", "GFP"], "reader": {"used": "cellpipe", "setting": "auto"}}),
        ("data/stack.ome.tif", {"z_projection": "keep"},
         {"pixel_size_um": {"y": 0.4, "x": 0.4}, "pixel_size_source": "file metadata", "frame_interval_min": 5.0,
          "frame_interval_source": "sample sheet", "z_step_um": 1.5, "z_step_source": "file metadata",
          "channel_names": ["ch0"], "reader": {"used": "cellpipe", "setting": "auto"}}),
    ]
    for movie_path, settings, expected in cases:
        image = layout.path(layout.IMAGE, "results", sample="s1")
        ingest_movie_file(sample="s1", movie=movie_path, fmt="auto", axes=None, pixel_size_um=None,
                          frame_interval_min=5.0, channel_names=[], settings=settings, image=image)
        record = write_record_with(workdir, {**INPUTS, "movie": movie_path, "image": image})
        movie = next(e for e in record["inputs"] if e["role"] == "movie")
        assert movie["physical"] == expected
        assert all("physical" not in e for e in record["inputs"] if e["role"] != "movie")
