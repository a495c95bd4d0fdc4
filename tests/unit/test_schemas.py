"""The committed JSON schemas and config reference are exactly what the typed models generate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cellpipe.config import check_sheet_schema, load_config
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
    check_sheet_schema(REPO / "config/samples.tsv", REPO / "workflow/schemas/samples.schema.json")  # as the workflow reads it


def _sheet(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_sheet_the_models_accept_passes_its_schema_with_names_and_positions_kept_as_text(tmp_path: Path) -> None:
    """Cells are text: a sample named 01 and positions 2 stay text, numbers become numbers where the column takes one."""
    from cellpipe.config import read_sample_sheet, schema_values

    sheet = _sheet(tmp_path / "samples.tsv", [
        "sample\tmovie\tpixel_size_um\tpositions\tscene\tdiameter_um",
        "01\ta.ome.tif\t0.65\t2\t\t12",
        "b\tb.tif\t\t\t1.0\tauto",
    ])
    schema = json.loads((REPO / "workflow/schemas/samples.schema.json").read_text())
    cells = [schema_values(line.cells, schema) for line in read_sample_sheet(sheet)]
    assert cells == [
        {"sample": "01", "movie": "a.ome.tif", "pixel_size_um": 0.65, "positions": "2", "diameter_um": 12.0},
        {"sample": "b", "movie": "b.tif", "scene": 1, "diameter_um": "auto"},
    ]
    check_sheet_schema(sheet, REPO / "workflow/schemas/samples.schema.json")
    # read as a table, the same sheet's name and positions would be numbers, which the schema refuses
    assert list(_schema("samples.schema.json").iter_errors({**cells[0], "sample": 1, "positions": 2}))


def test_a_sheet_row_the_schema_refuses_is_named_in_one_line(tmp_path: Path) -> None:
    from cellpipe.config import ConfigError

    schema = json.loads((REPO / "workflow/schemas/samples.schema.json").read_text())
    schema["properties"]["pixel_size_um"]["anyOf"][0]["maximum"] = 100  # stricter than the models
    strict = tmp_path / "strict.schema.json"
    strict.write_text(json.dumps(schema))
    sheet = _sheet(tmp_path / "samples.tsv", ["sample\tmovie\tpixel_size_um", "a\ta.tif\t0.65", "", "b\tb.tif\t650"])
    with pytest.raises(ConfigError) as refused:
        check_sheet_schema(sheet, strict)
    assert str(refused.value) == (
        f"{sheet} line 4 (sample 'b'): pixel_size_um: 650.0 is greater than the maximum of 100 (strict.schema.json)"
    )
