"""Regenerate workflow/schemas/*.json and the reference part of config/README.md from the models."""

from pathlib import Path

from cellpipe.config.docs import config_schema, dump, replace_reference, samples_schema

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    (ROOT / "workflow/schemas/config.schema.json").write_text(dump(config_schema()))
    (ROOT / "workflow/schemas/samples.schema.json").write_text(dump(samples_schema()))
    readme = ROOT / "config/README.md"
    readme.write_text(replace_reference(readme.read_text() if readme.exists() else ""))
    print("wrote workflow/schemas/config.schema.json, workflow/schemas/samples.schema.json, config/README.md")


if __name__ == "__main__":
    main()
