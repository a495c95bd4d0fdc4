"""The committed JSON schemas and config reference are exactly what the typed models generate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from cellpipe.config import load_config
from cellpipe.schema_docs import config_reference_markdown, config_schema, dump, samples_schema

REPO = Path(__file__).resolve().parents[2]


def test_config_schema_is_up_to_date() -> None:
    committed = (REPO / "workflow/schemas/config.schema.json").read_text()
    assert committed == dump(config_schema()), "run: python tools/write_schemas.py"


def test_samples_schema_is_up_to_date() -> None:
    committed = (REPO / "workflow/schemas/samples.schema.json").read_text()
    assert committed == dump(samples_schema()), "run: python tools/write_schemas.py"


def test_config_readme_explains_every_key() -> None:
    readme = (REPO / "config/README.md").read_text()
    assert config_reference_markdown() in readme, "run: python tools/write_schemas.py"


def test_shipped_config_passes_schema_and_models() -> None:
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    jsonschema.validate(raw, json.loads((REPO / "workflow/schemas/config.schema.json").read_text()))
    load_config(raw)


def test_schema_rejects_what_models_reject() -> None:
    schema = json.loads((REPO / "workflow/schemas/config.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors({"segment": {"metod": "x"}}))
    assert list(validator.iter_errors({"normalize": {"low_percentile": "x"}}))
