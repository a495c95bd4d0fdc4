"""The committed JSON schemas and config reference are exactly what the typed models generate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cellpipe.config import load_config
from cellpipe.config.docs import config_reference_markdown, config_schema, dump, samples_schema

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


def _schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((REPO / "workflow/schemas" / name).read_text()))


@pytest.mark.parametrize("overlay", sorted(p.name for p in (REPO / "bench/configs").glob("*.yaml")))
def test_bench_configs_merged_over_the_shipped_one_pass_schema_and_models(overlay: str) -> None:
    """As ``snakemake --configfile bench/configs/<overlay>`` would see it: the overlay merged key by key
    over config/config.yaml (snakemake.utils.update_config, what Snakemake does with config files)."""
    from snakemake.utils import update_config

    merged = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(merged, yaml.safe_load((REPO / "bench/configs" / overlay).read_text()))
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _schema("config.schema.json").iter_errors(merged)]
    assert errors == []
    load_config(merged)


def test_shipped_sample_sheet_passes_schema() -> None:
    """Every row of config/samples.tsv, read as a table (numbers as numbers) with its empty cells left out,
    as snakemake.utils.validate checks a sample sheet."""
    import pandas as pd

    sheet = pd.read_csv(REPO / "config/samples.tsv", sep="\t")
    validator = _schema("samples.schema.json")
    assert len(sheet) >= 1
    for row in sheet.to_dict("records"):
        values = {key: value for key, value in row.items() if not pd.isna(value)}
        assert [e.message for e in validator.iter_errors(values)] == [], row
    assert list(validator.iter_errors({"sample": "s", "movie": "m.tif", "pixel_size_um": "x"}))
    assert list(validator.iter_errors({"sample": "s", "movie": "m.tif", "colour": "red"}))
