"""Tests of cellpipe.config.jobs: the settings each job gets, one typed value, shipped paths resolved once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cellpipe.config import (
    MeasureSettings,
    NormalizeSettings,
    SampleRow,
    SegmentSettings,
    TrackSettings,
    TrainSettings,
    load_config,
)
from cellpipe.config.jobs import JobSettings, MeasureJob, TrainJob, shipped_path


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
    assert isinstance(train, TrainJob) and isinstance(train.train, TrainSettings)
    assert train.train.init_model == jobs.init_models["mine"] == str(folders["basedir"] / "resources/models/init.pth")
    assert config.train["mine"].init_model == "resources/models/init.pth"


def test_other_stages_get_their_section_and_bad_requests_are_refused(folders: dict[str, Path]) -> None:
    config = load_config({**cellpose_config(), "simulate": {"demo": {"n_frames": 4}}})
    jobs = JobSettings(config, folders["basedir"])
    assert jobs.job_settings("qc") is config.qc
    assert jobs.job_settings("simulate", name="demo").n_frames == 4
    with pytest.raises(ValueError, match="sample sheet row"):
        jobs.job_settings("segment")
    with pytest.raises(ValueError, match="name of its entry"):
        jobs.job_settings("train")
    with pytest.raises(KeyError):
        jobs.job_settings("simulate", name="other")
    with pytest.raises(ValueError, match="not a stage"):
        jobs.job_settings("results")


def test_measure_and_train_jobs_get_one_value_with_what_they_take_from_other_sections(folders: dict[str, Path]) -> None:
    """measure_cells flags short tracks with track.min_track_frames and train_cellpose normalizes its images with
    the normalize section: each job's one value carries them, and its JSON dump (the rule's params) validates back
    into that value in the step."""
    config = load_config({**cellpose_config(), "track": {"tracker_config": "resources/tracker/tracker.json",
                                                         "min_track_frames": 7},
                          "measure": {"channel_names": ["H2B"]}, "normalize": {"low_percentile": 2.5}})
    jobs = JobSettings(config, folders["basedir"])
    measure = jobs.job_settings("measure")
    assert type(measure) is MeasureJob
    assert measure.min_track_frames == 7 and measure.measure == config.measure
    assert measure.model_dump(mode="json") == {"measure": {"channel_names": ["H2B"]}, "min_track_frames": 7}
    assert MeasureJob.model_validate(measure.model_dump(mode="json")) == measure
    assert MeasureJob().min_track_frames == TrackSettings().min_track_frames == 3  # the track section's default
    with pytest.raises(ValidationError, match="min_track_frames"):
        MeasureJob(min_track_frames=0)
    with pytest.raises(ValidationError, match="channel_names"):  # the section goes under "measure", not beside it
        MeasureJob.model_validate({"channel_names": ["H2B"]})
    assert isinstance(measure.measure, MeasureSettings)

    train = jobs.job_settings("train", name="mine")
    assert type(train) is TrainJob and type(train.normalize) is NormalizeSettings
    assert train.normalize == config.normalize and train.normalize.low_percentile == 2.5
    dumped = train.model_dump(mode="json")
    assert list(dumped) == ["train", "normalize"]
    assert dumped["normalize"] == config.normalize.model_dump(mode="json")
    assert dumped["train"]["init_model"] == str(folders["basedir"] / "resources/models/init.pth")
    assert {k: v for k, v in dumped["train"].items() if k != "init_model"} == {
        k: v for k, v in config.train["mine"].model_dump(mode="json").items() if k != "init_model"}
    assert TrainJob.model_validate(dumped) == train


def test_a_samples_jobs_are_every_rule_with_settings_that_makes_its_results(folders: dict[str, Path]) -> None:
    """sample_jobs (what rule record_provenance records): each rule of layout.RULES with a settings section, with
    job_settings' value for the sample's row; evaluate, simulate and train only where the sample has them."""
    from cellpipe import layout

    config = load_config({**cellpose_config(), "simulate": {"demo": {"n_frames": 4}}})
    jobs = JobSettings(config, folders["basedir"])
    plain = jobs.sample_jobs(row(9.5))
    assert list(plain) == ["ingest_movie", "normalize_movie", "segment_frames", "track_cells", "measure_cells",
                           "export_tracks", "assess_quality", "report_sample"]
    for rule, settings in plain.items():
        assert settings == jobs.job_settings(layout.RULES[rule].settings, row(9.5)), rule
    assert plain["segment_frames"].diameter_um == 9.5 and plain["measure_cells"].min_track_frames == 3
    full = jobs.sample_jobs(SampleRow(sample="s1", movie="results/simulated/demo/movie.ome.tif", ground_truth="gt"),
                            simulated="demo", trained="mine")
    assert list(full) == ["simulate_movie", "train_cellpose", *list(plain)[:6], "evaluate_sample", *list(plain)[6:]]
    assert full["simulate_movie"].n_frames == 4 and full["train_cellpose"] == jobs.job_settings("train", name="mine")
    assert full["evaluate_sample"] is config.evaluate
