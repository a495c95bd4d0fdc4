"""The settings each job gets, as one typed value built from the loaded configuration.

:class:`JobSettings` resolves the paths of the files cellpipe ships (the Cellpose model, the tracker
configuration, the models training starts from) once, when the workflow starts, and
:meth:`JobSettings.job_settings` returns the settings of one job of a stage: the stage's model with
those paths and, for segmentation, the sample sheet row's diameter applied by validation.  A job that
also uses a value of another section gets a job model holding both (:class:`MeasureJob`,
:class:`TrainJob`), so every job gets exactly one value.  The rule passes that value to its script, and
rule record_provenance gets the same values of every job of the sample (``provenance.json``:
``job_settings``); segmentation and tracking also record theirs in their run info
(``segmentation.json``: ``job_settings``; ``tracking.json``: ``settings``).

Like the rest of :mod:`cellpipe.config` it imports no stage module: the Snakefile imports it at
every start of snakemake and of every cluster job.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from cellpipe import layout
from cellpipe.config.base import StageSettings
from cellpipe.config.pipeline import PipelineConfig, SampleRow
from cellpipe.config.sections import (
    MeasureSettings,
    NormalizeSettings,
    SegmentSettings,
    SimulationSettings,
    TrackSettings,
    TrainSettings,
)

__all__ = ["PER_SAMPLE_STAGES", "JobSettings", "MeasureJob", "TrainJob", "shipped_path"]


PER_SAMPLE_STAGES: frozenset[str] = frozenset({"segment"})
"""Stages whose settings depend on the sample: the sample sheet's row may set them (``diameter_um``)."""

NAMED_STAGES: frozenset[str] = frozenset({"simulate", "train"})
"""Sections of ``config.yaml`` that hold one setting per name (``simulate.<name>``, ``train.<name>``)."""


class MeasureJob(StageSettings):
    """What one ``measure_cells`` job uses: the ``measure`` section and the shortest track it keeps.

    ``min_track_frames`` is a setting of the ``track`` section (tracking.json counts the short tracks with
    it), so measurement flags exactly the tracks tracking counted as short.
    """

    measure: MeasureSettings = Field(default_factory=MeasureSettings, description="The measure section.")
    min_track_frames: int = Field(
        TrackSettings.model_fields["min_track_frames"].default,
        ge=1,
        description="track.min_track_frames: tracks present in fewer frames are flagged excluded='short' in "
        "track_metrics.parquet (frames).",
    )


class TrainJob(StageSettings):
    """What one ``train_cellpose`` job uses: its ``train.<name>`` entry and the ``normalize`` section.

    The training images are normalized as segmentation normalizes a movie, so the network sees the
    intensities it will see at inference.
    """

    train: TrainSettings = Field(description="The train.<name> entry, init_model resolved (:func:`shipped_path`).")
    normalize: NormalizeSettings = Field(
        default_factory=NormalizeSettings, description="The normalize section (percentiles) applied to the images."
    )


def shipped_path(path: str, basedir: str | os.PathLike[str]) -> str:
    """Where a file named in the configuration is.

    A relative path is looked up in the working directory first, then in ``basedir``.  So
    ``resources/...`` names the files shipped with cellpipe even when snakemake runs with
    ``--directory`` elsewhere, while a user's own files next to their config win.

    Parameters
    ----------
    path : str
        The path as the configuration gives it.
    basedir : str or os.PathLike
        The workflow's folder.

    Returns
    -------
    str
        The path found; ``path`` as given when found in neither place, for the check that reports
        it to name it as the user wrote it.
    """
    if os.path.isabs(path) or os.path.exists(path):
        return path
    candidate = os.path.join(os.fspath(basedir), path)
    return candidate if os.path.exists(candidate) else path


class JobSettings:
    """The configuration as the jobs get it, shipped paths looked up once (:func:`shipped_path`).

    Parameters
    ----------
    config : PipelineConfig
        The loaded configuration.
    basedir : str or os.PathLike
        The workflow's folder; relative paths are resolved from the working directory of this process.

    Attributes
    ----------
    config : PipelineConfig
        ``config`` as given.
    cellpose_model : str or None
        The model file segmentation loads; None where it loads none (method ``classical``, or a
        Cellpose built-in model).
    tracker_config : str
        The btrack configuration file.
    init_models : dict of str to str
        The model file each ``train.<name>`` starts from, for those that set one.
    """

    def __init__(self, config: PipelineConfig, basedir: str | os.PathLike[str]) -> None:
        self.config = config
        segment = config.segment
        uses_model_file = segment.method == "cellpose" and segment.cellpose.builtin_model is None
        self.cellpose_model: str | None = shipped_path(segment.cellpose.model, basedir) if uses_model_file else None
        self.tracker_config: str = shipped_path(config.track.tracker_config, basedir)
        self.init_models: dict[str, str] = {
            name: shipped_path(train.init_model, basedir) for name, train in config.train.items() if train.init_model
        }

    def job_settings(self, stage: str, row: SampleRow | None = None, name: str | None = None) -> StageSettings:
        """The settings of one job of ``stage`` (a section of ``config.yaml``).

        - ``segment``: :class:`SegmentSettings`, the section less ``scatter`` (how many jobs share a
          movie, not a setting of the stage), ``cellpose.model`` the resolved model file (empty where
          segmentation loads none) and what the sample sheet's ``row`` sets for its movie
          (:meth:`SampleRow.segment_overrides`: ``diameter_um`` in µm, or ``estimate_diameter``),
          validated together;
        - ``track``: ``tracker_config`` resolved;
        - ``measure``: :class:`MeasureJob`, the section with ``track.min_track_frames``;
        - ``simulate`` and ``train``: sections of named entries, ``name`` picks one (``simulate``: in
          ``simulate`` or ``simulate3d``; ``train``: :class:`TrainJob`, the entry with ``init_model``
          resolved and the ``normalize`` section);
        - any other stage: its section as loaded.

        Parameters
        ----------
        stage : str
            The stage, a section of ``config.yaml``.
        row : SampleRow or None
            The job's sample sheet row; needed for ``segment``.
        name : str or None
            The entry's name; needed for ``simulate`` and ``train``.

        Returns
        -------
        StageSettings
            The job's settings.

        Raises
        ------
        KeyError
            An unknown ``name``.
        ValueError
            A missing ``row`` or ``name``, or a ``stage`` that is no stage of the configuration.
        """
        if stage in NAMED_STAGES and name is None:
            raise ValueError(f"the settings of a {stage} job need the name of its entry under {stage}:")
        if stage == "segment":
            if row is None:
                raise ValueError("the settings of a segment job need its sample sheet row")
            return self._segment(row)
        if stage == "track":
            return self.config.track.model_copy(update={"tracker_config": self.tracker_config})
        if stage == "measure":
            return MeasureJob(measure=self.config.measure, min_track_frames=self.config.track.min_track_frames)
        if stage == "train":
            train: TrainSettings = self.config.train[name]  # type: ignore[index]
            resolved = train.model_copy(update={"init_model": self.init_models.get(name)})  # type: ignore[arg-type]
            return TrainJob(train=resolved, normalize=self.config.normalize)
        if stage == "simulate":
            # a name is under simulate: (2-D) or simulate3d:, never both (PipelineConfig refuses it)
            if name in self.config.simulate:
                simulation: SimulationSettings = self.config.simulate[name]  # type: ignore[index]
                return simulation
            return self.config.simulate3d[name]  # type: ignore[index]
        section = getattr(self.config, stage)
        if not isinstance(section, StageSettings):
            raise ValueError(f"{stage!r} is not a stage of the configuration")
        return section

    def sample_jobs(
        self, row: SampleRow, simulated: str | None = None, trained: str | None = None
    ) -> dict[str, StageSettings]:
        """The settings of every job that makes a sample's results, by rule, as :meth:`job_settings` gives them.

        The rules are those of :data:`cellpipe.layout.RULES` with a ``settings`` section, in pipeline
        order; ``evaluate_sample`` only for a row with ground truth, ``simulate_movie`` and
        ``train_cellpose`` only where the sample's movie is simulated or its segmentation model trained by
        the workflow.  Rule ``record_provenance`` records them (``provenance.json``: ``job_settings``).

        Parameters
        ----------
        row : SampleRow
            The sample's row of the sample sheet.
        simulated : str or None
            The entry of ``simulate`` (or ``simulate3d``) that makes the sample's movie, None when the movie
            is a file of the user's.
        trained : str or None
            The entry of ``train`` that makes the model segmentation loads, None when it is not trained by
            the workflow.

        Returns
        -------
        dict of str to StageSettings
            Rule name -> its job's settings.
        """
        names = {"simulate": simulated, "train": trained}
        # the jobs (cellpipe.layout.Rule.job) that only some samples have
        present = {"sample with ground truth": bool(row.ground_truth), "simulated movie": simulated is not None,
                   "model": trained is not None}
        jobs: dict[str, StageSettings] = {}
        for rule, spec in layout.RULES.items():
            if spec.settings is None or not present.get(spec.job, True):
                continue
            jobs[rule] = self.job_settings(spec.settings, row, name=names.get(spec.settings))
        return jobs

    def _segment(self, row: SampleRow) -> SegmentSettings:
        """The ``segment`` section with the resolved model file and ``row``'s overrides, validated together."""
        section = self.config.segment
        cellpose = section.cellpose.model_copy(update={"model": self.cellpose_model or ""})
        values: dict[str, Any] = {
            name: getattr(section, name) for name in SegmentSettings.model_fields if name != "cellpose"
        }
        # validated again, with the row's values: diameter_um and diameter_px exclude each other
        return SegmentSettings.model_validate({**values, "cellpose": cellpose, **row.segment_overrides()})

