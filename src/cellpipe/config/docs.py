"""JSON schemas and the config reference, generated from the typed settings models.

``tools/write_schemas.py`` writes them to ``workflow/schemas/`` and
``config/README.md``; a test fails when the committed files differ from what
the models generate, so the schemas, the documentation and the code agree.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cellpipe.config.pipeline import PipelineConfig, SampleRow
from cellpipe.config.sections import STAGE_MODULES

REFERENCE_BEGIN = "<!-- BEGIN GENERATED REFERENCE (python tools/write_schemas.py) -->"
REFERENCE_END = "<!-- END GENERATED REFERENCE -->"


def config_schema() -> dict[str, Any]:
    """The JSON schema of ``config.yaml``, from :class:`PipelineConfig` (``workflow/schemas/config.schema.json``).

    Returns
    -------
    dict
        A JSON Schema (draft 2020-12) document.
    """
    schema = PipelineConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cellpipe config.yaml"
    return schema


def samples_schema() -> dict[str, Any]:
    """The JSON schema of one sample sheet row, from :class:`SampleRow` (``workflow/schemas/samples.schema.json``).

    Returns
    -------
    dict
        A JSON Schema (draft 2020-12) document.
    """
    schema = SampleRow.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cellpipe samples.tsv row"
    return schema


def dump(schema: dict[str, Any]) -> str:
    """``schema`` as the committed schema files hold it: indented, keys sorted, UTF-8 kept, one final newline.

    Parameters
    ----------
    schema : dict
        A JSON Schema document.

    Returns
    -------
    str
        The JSON text.
    """
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _type_name(field: FieldInfo) -> str:
    """A field's type as the reference tables show it (``float or null``, ``simulate.SimulationSettings``)."""
    ann = field.annotation
    args = typing.get_args(ann)
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and any(typing.get_origin(a) is typing.Annotated for a in args):
        # a union of constrained types (segment.channel: an index >= 0 or a name): the bounds are in the schema
        ann = functools.reduce(operator.or_, [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
                                              for a in args])
    text = getattr(ann, "__name__", None) if not getattr(ann, "__args__", None) else None
    text = text or str(ann).replace("typing.", "")
    # a stage's model is named by its stage module (simulate.SimulationSettings), not by cellpipe.config.sections
    text = re.sub(r"cellpipe\.config\.sections\.(\w+)", lambda m: f"{STAGE_MODULES.get(m[1], 'settings')}.{m[1]}", text)
    return text.replace("NoneType", "null").replace("cellpipe.", "").replace("|", " or ").replace("  ", " ")


def _default(field: FieldInfo) -> str:
    """A field's default as the reference tables show it: ``required``, ``(section)`` or the JSON value in backquotes."""
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{json.dumps(value)}`"
    value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{json.dumps(value, default=str)}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    """One Markdown table row per field of ``model``, recursing into nested sections and named entries (``<name>``)."""
    rows: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        nested = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        if nested is not None:
            rows.append(f"| `{key}` | section | | {desc or nested.__doc__.strip().splitlines()[0]} |")
            rows.extend(_rows(nested, key + "."))
            continue
        args = getattr(ann, "__args__", ())
        value_model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        rows.append(f"| `{key}` | {_type_name(field).replace('|', ' or ')} | {_default(field)} | {desc} |")
        if value_model is not None and str(ann).startswith("dict"):
            rows.extend(_rows(value_model, key + ".<name>."))
    return rows


def config_reference_markdown() -> str:
    """Markdown tables: every config key and every sample-sheet column, with type, default and meaning.

    Returns
    -------
    str
        The generated block, between :data:`REFERENCE_BEGIN` and :data:`REFERENCE_END`.
    """
    lines = [
        REFERENCE_BEGIN,
        "",
        "### config.yaml keys",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
        *_rows(PipelineConfig, ""),
        "",
        "### samples.tsv columns",
        "",
        "| column | type | default | meaning |",
        "| --- | --- | --- | --- |",
        *_rows(SampleRow, ""),
        "",
        REFERENCE_END,
    ]
    return "\n".join(lines) + "\n"


def replace_reference(readme: str) -> str:
    """Replace the generated block inside a README (or append it).

    Parameters
    ----------
    readme : str
        The README's text.

    Returns
    -------
    str
        The text with the block of :func:`config_reference_markdown` in place of the one it held.
    """
    block = config_reference_markdown()
    if REFERENCE_BEGIN in readme and REFERENCE_END in readme:
        head = readme.split(REFERENCE_BEGIN)[0]
        tail = readme.split(REFERENCE_END, 1)[1]
        return head + block.rstrip("\n") + tail
    return readme.rstrip("\n") + "\n\n" + block
