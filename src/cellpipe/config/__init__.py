"""The workflow's configuration: the typed settings of every stage, and the loading of the config and sample sheet.

Every settings model is imported from here (``from cellpipe.config import SegmentSettings``); the
modules inside say where each thing is written down:

- :mod:`cellpipe.config.base`: :class:`StageSettings`, the base of every model (unknown keys and
  non-finite numbers refused);
- :mod:`cellpipe.config.sections`: one model per section of ``config.yaml`` (one per stage);
- :mod:`cellpipe.config.pipeline`: :class:`PipelineConfig`, :class:`SampleRow`, :func:`load_config`,
  :func:`load_samples`, :class:`ConfigError` and the rules for sample names;
- :mod:`cellpipe.config.docs`: the JSON schemas and the config reference generated from the models
  (``python tools/write_schemas.py``).

The Snakefile imports this package at every start of snakemake and of every cluster job, so it
imports only the standard library, pydantic, PyYAML (when a config file is checked) and
:mod:`cellpipe.layout`; the header checks of the sheet's files are in :mod:`cellpipe.preflight`.
"""

from cellpipe.config.base import StageSettings
from cellpipe.config.pipeline import (
    SAMPLE_NAME,
    SAMPLE_NAME_PATTERN,
    ConfigError,
    PipelineConfig,
    SampleRow,
    Warn,
    check_duplicate_keys,
    load_config,
    load_samples,
    simulated_name,
)
from cellpipe.config.sections import (
    BUILTIN_MODELS,
    DEFAULT_IOU_THRESHOLDS,
    AugmentSettings,
    CellposeSettings,
    ClassicalSettings,
    EvaluateSettings,
    ExportSettings,
    IngestSettings,
    MeasureSettings,
    Network,
    NormalizeSettings,
    ObjectFilterSettings,
    OmeZarrSettings,
    QCSettings,
    ReportSettings,
    SegmentSettings,
    Simulation3DConfig,
    SimulationSettings,
    TrackSettings,
    TrainDataset,
    TrainSettings,
)

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_IOU_THRESHOLDS",
    "SAMPLE_NAME",
    "SAMPLE_NAME_PATTERN",
    "AugmentSettings",
    "CellposeSettings",
    "ClassicalSettings",
    "ConfigError",
    "EvaluateSettings",
    "ExportSettings",
    "IngestSettings",
    "MeasureSettings",
    "Network",
    "NormalizeSettings",
    "ObjectFilterSettings",
    "OmeZarrSettings",
    "PipelineConfig",
    "QCSettings",
    "ReportSettings",
    "SampleRow",
    "SegmentSettings",
    "Simulation3DConfig",
    "SimulationSettings",
    "StageSettings",
    "TrackSettings",
    "TrainDataset",
    "TrainSettings",
    "Warn",
    "check_duplicate_keys",
    "load_config",
    "load_samples",
    "simulated_name",
]
