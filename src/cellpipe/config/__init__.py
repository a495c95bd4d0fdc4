"""The workflow's configuration: the typed settings of every stage, and the loading of the config and sample sheet.

Every settings model is imported from here (``from cellpipe.config import SegmentSettings``); the
modules inside say where each thing is written down:

- :mod:`cellpipe.config.base`: :class:`StageSettings`, the base of every model (unknown keys and
  non-finite numbers refused);
- :mod:`cellpipe.config.sections`: one model per section of ``config.yaml`` (one per stage);
- :mod:`cellpipe.config.pipeline`: :class:`PipelineConfig`, :class:`SampleRow`, :func:`load_config`,
  :func:`read_sample_sheet`, :class:`ConfigError` and the rules for sample names;
- :mod:`cellpipe.config.jobs`: :class:`~cellpipe.config.jobs.JobSettings`, the settings each job gets
  (shipped paths resolved once, the sample sheet's row applied);
- :mod:`cellpipe.config.docs`: the JSON schemas and the config reference generated from the models
  (``python tools/write_schemas.py``).

The Snakefile imports this package at every start of snakemake and of every cluster job, so it
imports only the standard library, pydantic, PyYAML (when a config file is checked) and
:mod:`cellpipe.layout`; the header checks of the sheet's files are in :mod:`cellpipe.preflight`.
"""

from cellpipe.config import base, pipeline, sections
from cellpipe.config.base import *  # noqa: F403 (the names of base.__all__)
from cellpipe.config.pipeline import *  # noqa: F403 (the names of pipeline.__all__)
from cellpipe.config.sections import *  # noqa: F403 (the names of sections.__all__)

__all__ = [*base.__all__, *pipeline.__all__, *sections.__all__]
