"""Tests of cellpipe.config.jobs: the settings each job gets, one typed value, shipped paths resolved once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cellpipe.config import SampleRow, SegmentSettings, TrackSettings, TrainSettings, load_config
from cellpipe.config.jobs import JobSettings, shipped_path


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A workflow folder holding the shipped files, and a working folder elsewhere (the current one)."""
    basedir, workdir = tmp_path / "workflow", tmp_path / "work"
    for rel in ("resources/models/nuclei/weights.pth", "resources/tracker/tracker.json", "resources/models/init.pth"):
        (basedir / rel).parent.mkdir(parents=True, exist_ok=True)
        (basedir / rel).write_bytes(b"x")
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return {"basedir": basedir, "workdir": workdir}


def cellpose_config(**segment: object) -> dict:
    return {
        "segment": {"method": "cellpose", "diameter_um": 11.5, "scatter": 3,
                    "cellpose": {"model": "resources/models/nuclei/weights.pth"}, **segment},
        "track": {"tracker_config": "resources/tracker/tracker.json"},
        "train": {"mine": {"datasets": [{"images": "a", "labels": "b"}], "init_model": "resources/models/init.pth"}},
    }


def row(diameter_um: float | str | None = None) -> SampleRow:
    return SampleRow(sample="s1", movie="raw/s1.tif", diameter_um=diameter_um)


def test_the_sheet_rows_diameter_reaches_the_segment_job(folders: dict[str, Path]) -> None:
    jobs = JobSettings(load_config(cellpose_config()), folders["basedir"])
    assert jobs.job_settings("segment", row(9.5)).diameter_um == 9.5
    assert jobs.job_settings("segment", row()).diameter_um == 11.5  # the config's, where the row sets none
    estimated = jobs.job_settings("segment", row("auto"))
    assert estimated.estimate_diameter is True and estimated.diameter_um == 11.5  # the start of the estimate
    # the row's µm replace the config's px: validated together, the two never both reach the job
    in_px = JobSettings(load_config(cellpose_config(diameter_um=None, diameter_px=20.0)), folders["basedir"])
    settings = in_px.job_settings("segment", row(9.5))
    assert (settings.diameter_um, settings.diameter_px) == (9.5, None)
    assert in_px.job_settings("segment", row()).diameter_px == 20.0


def test_the_segment_job_gets_the_stage_settings_without_scatter(folders: dict[str, Path]) -> None:
    config = load_config(cellpose_config(channel="H2B", filters={"border": "remove"}))
    settings = JobSettings(config, folders["basedir"]).job_settings("segment", row())
    assert type(settings) is SegmentSettings
    dumped = settings.model_dump(mode="json")
    assert "scatter" not in dumped and config.segment.scatter == 3
    # everything else is the config's section, key for key in the same order
    section = config.segment.model_dump(mode="json")
    del section["scatter"]
    assert list(dumped) == list(section)
    assert {k: v for k, v in dumped.items() if k != "cellpose"} == {k: v for k, v in section.items() if k != "cellpose"}
    assert dumped["channel"] == "H2B" and dumped["filters"]["border"] == "remove"
    with pytest.raises(ValidationError, match="scatter"):  # a stage setting it is not
        SegmentSettings.model_validate({**dumped, "scatter": 3})
    # what a rule passes validates back into the same value, once, in the step
    assert SegmentSettings.model_validate(dumped) == settings


def test_the_model_file_is_resolved_once_working_folder_first(folders: dict[str, Path]) -> None:
    config = load_config(cellpose_config())
    jobs = JobSettings(config, folders["basedir"])
    shipped = str(folders["basedir"] / "resources/models/nuclei/weights.pth")
    assert jobs.cellpose_model == shipped
    assert jobs.job_settings("segment", row()).cellpose.model == shipped
    assert config.segment.cellpose.model == "resources/models/nuclei/weights.pth"  # the configuration as loaded
    # a user's own file next to their config wins over the shipped one
    own = folders["workdir"] / "resources/models/nuclei/weights.pth"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"y")
    assert JobSettings(config, folders["basedir"]).job_settings("segment", row()).cellpose.model == (
        "resources/models/nuclei/weights.pth"
    )
    # found nowhere: as written, for the start-up check to name it
    assert shipped_path("resources/none.pth", folders["basedir"]) == "resources/none.pth"
    assert shipped_path("/abs/none.pth", folders["basedir"]) == "/abs/none.pth"


def test_a_job_that_loads_no_model_file_gets_none(folders: dict[str, Path]) -> None:
    classical = JobSettings(load_config(cellpose_config(method="classical")), folders["basedir"])
    assert classical.cellpose_model is None
    assert classical.job_settings("segment", row()).cellpose.model == ""
    builtin = JobSettings(
        load_config(cellpose_config(cellpose={"model": "", "builtin_model": "nuclei"})), folders["basedir"]
    )
    assert builtin.cellpose_model is None
    assert builtin.job_settings("segment", row()).cellpose.builtin_model == "nuclei"


def test_tracker_configuration_and_init_model_are_resolved(folders: dict[str, Path]) -> None:
    config = load_config(cellpose_config())
    jobs = JobSettings(config, folders["basedir"])
    track = jobs.job_settings("track")
    assert isinstance(track, TrackSettings)
    assert track.tracker_config == jobs.tracker_config == str(folders["basedir"] / "resources/tracker/tracker.json")
    assert track.max_search_radius_um == config.track.max_search_radius_um
    train = jobs.job_settings("train", name="mine")
    assert isinstance(train, TrainSettings)
    assert train.init_model == jobs.init_models["mine"] == str(folders["basedir"] / "resources/models/init.pth")
    assert config.train["mine"].init_model == "resources/models/init.pth"


def test_other_stages_get_their_section_and_bad_requests_are_refused(folders: dict[str, Path]) -> None:
    config = load_config({**cellpose_config(), "simulate": {"demo": {"n_frames": 4}}})
    jobs = JobSettings(config, folders["basedir"])
    assert jobs.job_settings("measure") is config.measure
    assert jobs.job_settings("simulate", name="demo").n_frames == 4
    with pytest.raises(ValueError, match="sample sheet row"):
        jobs.job_settings("segment")
    with pytest.raises(ValueError, match="name of its entry"):
        jobs.job_settings("train")
    with pytest.raises(KeyError):
        jobs.job_settings("simulate", name="other")
    with pytest.raises(ValueError, match="not a stage"):
        jobs.job_settings("results")
