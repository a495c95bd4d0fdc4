"""Result paths: written once in cellpipe.layout, and every top-level one reserved as a sample name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cellpipe import layout
from cellpipe.config import SAMPLE_NAME, ConfigError, PipelineConfig
from cellpipe.preflight import check_samples

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


NOT_TEMPLATES = {"DEFAULT_OME_ZARR_VERSION"}
"""Upper-case strings of cellpipe.layout that are no paths."""


def templates() -> dict[str, str]:
    """Every path template of cellpipe.layout, by its name."""
    return {
        name: value for name, value in vars(layout).items()
        if name.isupper() and isinstance(value, str) and name not in NOT_TEMPLATES
    }


@pytest.mark.parametrize(("version", "meta"), [("0.4", ".zattrs"), ("0.5", "zarr.json")])
def test_ome_zarr_stores_are_declared_by_their_versions_metadata_file(version: str, meta: str) -> None:
    """The rules declare each OME-Zarr store by the metadata file of the NGFF version written (the writer
    reads the version from that name), and the default templates are the default version's."""
    assert layout.ome_zarr(layout.IMAGE_STORE, version) == f"{{results}}/{{sample}}/image.ome.zarr/{meta}"
    assert layout.ome_zarr(layout.LABELS_GROUP_STORE, version) == f"{{results}}/{{sample}}/image.ome.zarr/labels/{meta}"
    assert layout.ome_zarr(layout.CELL_LABELS_STORE, version).endswith(f"image.ome.zarr/labels/cells/{meta}")
    assert layout.ome_zarr(layout.TRACK_LABELS_STORE, version).endswith(f"image.ome.zarr/labels/tracks/{meta}")
    default = layout.OME_ZARR_METADATA[layout.DEFAULT_OME_ZARR_VERSION]
    assert layout.IMAGE == f"{layout.IMAGE_STORE}/{default}" and layout.TRACK_LABELS.endswith(f"tracks/{default}")
    assert PipelineConfig().ome_zarr.version == layout.DEFAULT_OME_ZARR_VERSION
    with pytest.raises(ValueError, match="0.3"):
        layout.ome_zarr(layout.IMAGE_STORE, "0.3")


@pytest.mark.parametrize(("version", "meta"), [("0.4", ".zarray"), ("0.5", "zarr.json")])
def test_the_normalized_movie_is_declared_by_the_metadata_file_of_the_runs_zarr_format(version: str, meta: str) -> None:
    """normalized.zarr, a plain Zarr array, is in the Zarr format of the run's OME-Zarr stores (v2 with NGFF 0.4,
    v3 with 0.5) and declared by that format's array metadata file, so the writer reads the format from the name."""
    assert layout.zarr_array(layout.NORMALIZED_STORE, version) == f"{{results}}/{{sample}}/normalized.zarr/{meta}"
    assert layout.NORMALIZED == f"{layout.NORMALIZED_STORE}/{layout.ZARR_ARRAY_METADATA[layout.DEFAULT_OME_ZARR_VERSION]}"
    assert set(layout.ZARR_ARRAY_METADATA) == set(layout.OME_ZARR_METADATA)
    with pytest.raises(ValueError, match="0.3"):
        layout.zarr_array(layout.NORMALIZED_STORE, "0.3")


def test_every_top_level_template_is_listed_and_its_name_reserved():
    found = templates()
    assert len(found) > 30
    for name, template in found.items():
        assert template.startswith("{results}/"), name
        if template.startswith(layout.SAMPLE_DIR + "/") or template == layout.SAMPLE_DIR:
            continue
        assert template in layout.TOP_LEVEL, f"layout.{name} is not listed in layout.TOP_LEVEL"
        top = layout.top_level_name(template)
        # a name a sample could take must be reserved; '.cellpipe' is no valid sample name
        assert top in layout.RESERVED_SAMPLE_NAMES or not SAMPLE_NAME.match(top), name


def test_reserved_names():
    assert layout.RESERVED_SAMPLE_NAMES == (
        "benchmarks", "bioimageio", "evaluation.tsv", "logs", "models", "replay", "simulated", "summary.html"
    )


def test_rules_spell_out_no_result_path():
    """The Snakefile and the rules take every result path from cellpipe.layout (common.smk's helpers), so
    what they write at the top of the results folder is what layout.TOP_LEVEL lists."""
    for path in RULE_FILES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            assert not re.search(r"RESULTS\}?/", line), f"{path.name}:{number}: {line.strip()}"


def test_rule_helpers_in_common_smk_name_layout_templates():
    """The per-sample constants of common.smk are layout's templates of the same name."""
    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    constants = dict(re.findall(r"^([A-Z_]+) = results_path\(layout\.([A-Z_]+)\)$", text, flags=re.M))
    assert len(constants) >= 20
    assert all(name == template for name, template in constants.items())


def test_pattern_and_path():
    assert layout.pattern(layout.TRACKS, "out") == "out/{sample}/tracks.parquet"
    assert layout.pattern(layout.LOG, "out", rule="track_cells", job="{sample}") == "out/logs/track_cells/{sample}.log"
    assert layout.path(layout.TRAINED_MODEL, "out", name="m") == "out/models/m/weights.pth"
    assert layout.path(layout.SIMULATED_MOVIE, "r", name="demo") == "r/simulated/demo/movie.ome.tif"
    assert layout.in_sample(layout.NAPARI_GRAPH) == "tracks_napari_graph.json"
    with pytest.raises(ValueError, match="does not start with"):
        layout.top_level_name("{sample}/x")
    with pytest.raises(ValueError, match="no path inside"):
        layout.in_sample(layout.SUMMARY)


@pytest.mark.parametrize("name", ["logs", "Summary.html", "REPLAY", "bioimageio"])
def test_sample_sheet_refuses_reserved_names(tmp_path: Path, name: str):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\n{name}\tmovie.tif\n")
    with pytest.raises(ConfigError, match="is taken by what the workflow writes at the top of the results folder"):
        check_samples(sheet, PipelineConfig(), check_files=False)


def defined_rules() -> list[str]:
    """The name of every rule the Snakefile and workflow/rules/*.smk define, once per definition (a rule
    defined in two branches of an ``if`` counts twice)."""
    return [
        name
        for path in RULE_FILES
        for name in re.findall(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", path.read_text(), flags=re.M)
    ]


def test_every_defined_rule_is_listed_in_layout():
    """A rule added to the .smk files without a line in layout.RULES (or TARGET_RULES) fails here, and a
    listed rule no .smk file defines any more too."""
    defined = set(defined_rules())
    assert len(defined) >= 15
    assert defined == set(layout.RULES) | set(layout.TARGET_RULES)
    assert not set(layout.RULES) & set(layout.TARGET_RULES)


def test_rule_lists_derived_from_rules():
    assert layout.PIPELINE_RULES == (
        "simulate_movie", "train_cellpose", "ingest_movie", "normalize_movie", "segment_frames", "segment_cells",
        "track_cells", "measure_cells", "export_tracks", "evaluate_sample", "assess_quality",
    )
    assert layout.SAMPLE_RULES == (
        "ingest_movie", "normalize_movie", "segment_cells", "track_cells", "measure_cells", "export_tracks", "assess_quality",
    )


def test_rule_file_refuses_an_unlisted_rule():
    assert layout.rule_file(layout.BENCHMARK, "segment_frames", "out", "{sample}.part{part}") == (
        "out/benchmarks/segment_frames/{sample}.part{part}.tsv"
    )
    with pytest.raises(KeyError, match="not listed in cellpipe.layout.RULES"):
        layout.rule_file(layout.LOG, "segment_movie", "out", "{sample}")
