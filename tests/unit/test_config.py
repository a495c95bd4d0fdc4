"""Config and sample-sheet validation: one-line errors naming the key or the row."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sheet_helpers import HEADER, write_movie, write_sheet

from cellpipe.config import ConfigError, IngestSettings, PipelineConfig, load_config
from cellpipe.ingest import IngestError, check_pixels, resolve_metadata
from cellpipe.preflight import check_samples


def test_defaults_are_valid() -> None:
    config = load_config({})
    assert isinstance(config, PipelineConfig)
    assert config.normalize.low_percentile < config.normalize.high_percentile


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"segmnt": {}}, "config: segmnt: unknown key"),
        ({"segment": {"method": "stardist"}}, "config: segment.method:"),
        ({"normalize": {"low_percentile": "one"}}, "config: normalize.low_percentile:"),
        ({"track": {"max_search_radius_um": -3}}, "config: track.max_search_radius_um:"),
    ],
)
def test_bad_config_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(raw)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_sample_sheet_reads_rows(tmp_path: Path) -> None:
    movie = write_movie(tmp_path / "a.ome.tif")
    sheet = write_sheet(tmp_path, HEADER + f"a\t{movie}\t0.5\t10\n# a comment\n")
    rows = check_samples(sheet, load_config({}))
    assert [(r.sample, r.pixel_size_um, r.frame_interval_min) for r in rows] == [("a", 0.5, 10.0)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a\tMOVIE\t-1\t10\n", "line 2 (sample 'a'): pixel_size_um: Input should be greater than 0"),
        ("a\tMOVIE\tabc\t10\n", "line 2 (sample 'a'): pixel_size_um:"),
        ("a\tMOVIE\tinf\t10\n", "line 2 (sample 'a'): pixel_size_um: Input should be a finite number"),
        ("a\tMOVIE\t0.5\tnan\n", "line 2 (sample 'a'): frame_interval_min: Input should be a finite number"),
        ("a\tMOVIE\t\t\na\tMOVIE\t\t\n", "line 3 (sample 'a'): duplicate sample name (first on line 2)"),
        ("../x\tMOVIE\t\t\n", "line 2 (sample '../x'): sample:"),
        ("replay\tMOVIE\t\t\n", "line 2 (sample 'replay'): sample: Value error, 'replay' is taken"),  # cellpipe.replay's config
        ("logs\tMOVIE\t\t\n",
         "line 2 (sample 'logs'): sample: Value error, 'logs' is taken by what the workflow writes at the top of the results folder"),
        ("b\tmissing.tif\t\t\n", "line 2 (sample 'b'): movie not found: missing.tif"),
        # the file's own line numbers, with comment and blank lines before the bad row
        ("# plate 1\n\na\tMOVIE\t\t\n# plate 2\nb\tMOVIE\t-1\t\n", "line 6 (sample 'b'): pixel_size_um:"),
        ("a\tMOVIE\t\t\n\n# again\na\tMOVIE\t\t\n", "line 5 (sample 'a'): duplicate sample name (first on line 2)"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, body: str, message: str) -> None:
    movie = write_movie(tmp_path / "m.ome.tif")
    sheet = write_sheet(tmp_path, HEADER + body.replace("MOVIE", str(movie)))
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({}))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    """csv.DictReader keeps the last of two equal columns: a sheet with two pixel_size_um columns would use one silently."""
    sheet = write_sheet(tmp_path, "sample\tmovie\tpixel_size_um\tpixel_size_um\na\tb\t0.5\t5\n")
    with pytest.raises(ConfigError, match="column 'pixel_size_um' appears 2 times in the header line"):
        check_samples(sheet, load_config({}))


def test_unknown_column_is_named(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path, "sample\tmovie\tpixelsize\na\tb\t1\n")
    with pytest.raises(ConfigError, match="unknown column 'pixelsize'"):
        check_samples(sheet, load_config({}))


def test_simulated_movie_need_not_exist_yet(tmp_path: Path) -> None:
    config = load_config({"simulate": {"demo": {}}})
    sheet = write_sheet(tmp_path, "sample\tmovie\tground_truth\n"
                        "demo\tresults/simulated/demo/movie.ome.tif\tresults/simulated/demo/01_GT\n")
    assert check_samples(sheet, config)[0].sample == "demo"


def test_metadata_priority_sheet_then_file_then_default() -> None:
    args = dict(sample="s", movie_path="m.tif", shape_tcyx=(3, 1, 8, 8), file_channel_names=[],
                sheet_channel_names=[])
    meta = resolve_metadata(file_pixel_size_um=0.3, file_frame_interval_min=2.0, sheet_pixel_size_um=0.5,
                            sheet_frame_interval_min=None, settings=IngestSettings(), **args)
    assert (meta.pixel_size_um, meta.pixel_size_source) == (0.5, "sample sheet")
    assert (meta.frame_interval_min, meta.frame_interval_source) == (2.0, "file metadata")
    meta = resolve_metadata(file_pixel_size_um=None, file_frame_interval_min=None, sheet_pixel_size_um=None,
                            sheet_frame_interval_min=None,
                            settings=IngestSettings(default_pixel_size_um=1.0, default_frame_interval_min=3.0), **args)
    assert (meta.pixel_size_um, meta.frame_interval_min, meta.channel_names) == (1.0, 3.0, ["ch0"])
    # a file's 0 (an unset calibration) is no value: the config's default is used
    meta = resolve_metadata(file_pixel_size_um=0.0, file_frame_interval_min=0.0, sheet_pixel_size_um=None,
                            sheet_frame_interval_min=None,
                            settings=IngestSettings(default_pixel_size_um=1.0, default_frame_interval_min=3.0), **args)
    assert (meta.pixel_size_um, meta.pixel_size_source, meta.frame_interval_min) == (1.0, "config default", 3.0)
    with pytest.raises(IngestError, match="sample 's' \\(m.tif\\): no pixel size"):
        resolve_metadata(file_pixel_size_um=None, file_frame_interval_min=1.0, sheet_pixel_size_um=None,
                         sheet_frame_interval_min=None, settings=IngestSettings(), **args)


def test_unusable_pixels_are_refused_and_a_blank_movie_is_not(caplog: pytest.LogCaptureFixture) -> None:
    """NaN pixels are refused; a blank (all-zero) movie is analysed, with a warning: it has no cells."""
    check_pixels("s", "m.tif", np.zeros((3, 1, 16, 16), np.uint16))
    assert "s' (m.tif): every pixel has the value 0; the movie is blank" in caplog.text
    bad = np.ones((3, 1, 16, 16), np.float32)
    bad[1, 0, 2, 2] = np.nan
    with pytest.raises(IngestError, match="1 NaN"):
        check_pixels("s", "m.tif", bad)


#: Libraries the Snakefile's imports (workflow/rules/common.smk) must not load: they cost seconds at
#: every start of snakemake and of every cluster job.
HEAVY_MODULES = ("pandas", "matplotlib", "scipy", "skimage", "torch", "cellpose", "dask", "zarr", "tifffile", "btrack")


def test_what_the_snakefile_imports_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import cellpipe.config, cellpipe.provenance, cellpipe.segment\n"
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [], f"imported by cellpipe.config/provenance/segment: {result.stdout.strip()}"


def test_the_rule_scripts_imports_load_pandas_only_when_a_table_is_read() -> None:
    """Every job imports its cellpipe.steps module; ingest, normalization and segmentation read no table, so they do not pay
    for pandas (about 0.5 s of each job's start); reading a table imports it."""
    code = (
        "import sys\n"
        "import cellpipe.runtime.logs, cellpipe.steps.ingest, cellpipe.steps.normalize, cellpipe.steps.segment\n"
        "print('pandas' in sys.modules)\n"
        "from cellpipe.io import tables\n"
        "tables.read_tsv(sys.argv[1])\n"
        "print('pandas' in sys.modules)\n"
    )
    table = Path(__file__).parents[2] / "config" / "samples.tsv"
    result = subprocess.run([sys.executable, "-c", code, str(table)], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


def test_every_settings_model_has_one_import_path() -> None:
    """``from cellpipe.config import <Model>`` gives every model of cellpipe.config.sections; the stage
    modules that use a model do not offer it again (one answer to "where is SegmentSettings?")."""
    import cellpipe.config
    from cellpipe.config import sections

    models = {n for n in sections.__all__ if isinstance(getattr(sections, n), type)}
    assert models == set(sections.STAGE_MODULES)
    for name, module in sections.STAGE_MODULES.items():
        assert getattr(cellpipe.config, name) is getattr(sections, name), name
        assert name in cellpipe.config.__all__, name
        assert name not in getattr(importlib.import_module(f"cellpipe.{module}"), "__all__", ()), (module, name)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("segment: {diameter_um: .inf}", "config: segment.diameter_um: Value error, must be a finite number (got inf)"),
        ("segment: {classical: {threshold: .nan}}", "config: segment.classical.threshold: Value error, must be a finite number"),
        ("segment: {classical: {threshold: 'nan'}}", "config: segment.classical.threshold: Value error, must be a finite number"),
        ("segment: {channel: true}", "config: segment.channel: Value error, must be a number, not a boolean (got True)"),
        ("segment: {cellpose: {flow_threshold: -.inf}}", "config: segment.cellpose.flow_threshold: Value error, must be a finite"),
        ("track: {motion_noise_um: .nan}", "config: track.motion_noise_um: Value error, must be a finite number"),
        ("track: {max_search_radius_um: inf}", "config: track.max_search_radius_um: Value error, must be a finite number"),
        ("evaluate: {iou_thresholds: [0.5, .nan]}", "config: evaluate.iou_thresholds: Value error, must be a finite number"),
        ("report: {overlay_frame: false}", "config: report.overlay_frame: Value error, must be a number, not a boolean"),
        ("simulate: {s: {shape: [true, 64]}}", "config: simulate.s.shape: Value error, must be a number, not a boolean"),
        ("simulate: {s: {aspect_ratio_range: [1.0, .inf]}}", "config: simulate.s.aspect_ratio_range: Value error, must be a finite"),
        ("train: {m: {datasets: [{images: a, labels: b, weight: .inf}]}}",
         "config: train.m.datasets.0.weight: Value error, must be a finite"),
        ("ingest: {default_pixel_size_um: .inf}", "config: ingest.default_pixel_size_um: Value error, must be a finite number"),
    ],
)
def test_non_finite_numbers_and_booleans_are_refused_everywhere(yaml_text: str, message: str) -> None:
    """#23: YAML's .inf/.nan and true/false are not numbers of any setting (one check in StageSettings)."""
    import yaml

    with pytest.raises(ConfigError) as err:
        load_config(yaml.safe_load(yaml_text))
    assert str(err.value).startswith(message), str(err.value)


def test_booleans_and_finite_numbers_stay_valid_where_expected() -> None:
    config = load_config({"normalize": {"clip": True}, "segment": {"classical": {"threshold": 0.25}, "diameter_um": 12}})
    assert config.normalize.clip is True and config.segment.classical.threshold == 0.25
    assert config.segment.diameter_um == 12.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segment:\n  method: classical\nnormalize:\n  clip: true\nsegment:\n  channel: 1\n",
         "key segment appears twice (lines 1 and 5)"),
        ("segment:\n  classical:\n    threshold: li\n    gamma: 0.5\n    threshold: 0.2\n",
         "key segment.classical.threshold appears twice (lines 3 and 5)"),
        ("train:\n  m:\n    datasets:\n      - images: a\n        labels: b\n        images: c\n",
         "key train.m.datasets.0.images appears twice (lines 4 and 6)"),
    ],
)
def test_duplicate_yaml_keys_are_refused_with_both_lines(tmp_path: Path, text: str, message: str) -> None:
    """#23: a key given twice is refused naming the file, the key and both lines (YAML alone would keep the
    second block and silently drop the first)."""
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(yaml.safe_load(text), str(path), files=[path])
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)
    assert "\n" not in str(err.value)


def test_equal_keys_in_different_mappings_are_no_duplicates(tmp_path: Path) -> None:
    import yaml

    text = "segment:\n  classical:\n    min_area_px: 5\n  cellpose:\n    min_size_px: 4\n    batch_size: 4\ntrain: {}\n"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert load_config(yaml.safe_load(text), str(path), files=[path]).segment.cellpose.batch_size == 4


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ("", "config: results: Value error, is empty, which would put every output at the file-system root"),
        ("/", "config: results: Value error, the results folder would be the file-system root /"),
        ("//", "config: results: Value error, the results folder would be the file-system root"),
        (".", "config: results: Value error, the results folder would be the working folder"),
        ("sub/..", "config: results: Value error, the results folder would be the working folder"),
        ("..", "config: results: Value error, the results folder would be the working folder"),
    ],
)
def test_a_results_folder_that_is_root_or_the_working_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: str, message: str
) -> None:
    """#23: `results: ""` put the outputs at / (the dry run listed /logs/...); "." mixes them with config/."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config({"results": results})
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("results", ["results", "out/run1", "../elsewhere", "/tmp/cellpipe-results"])
def test_a_results_folder_of_its_own_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config({"results": results}).results == results


@pytest.mark.parametrize("name", ["summary.html", "evaluation.tsv", "logs", "Benchmarks", "MODELS", "simulated"])
def test_sample_names_taken_by_top_level_outputs_are_reserved(tmp_path: Path, name: str) -> None:
    """#23: a sample named summary.html ended in Snakemake's ChildIOException; any case (macOS ignores it)."""
    sheet = write_sheet(tmp_path, HEADER + f"{name}\tm.tif\t0.5\t2\n")
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, PipelineConfig(), check_files=False)
    assert f"line 2 (sample {name!r}): sample: Value error, {name!r} is taken by what the workflow writes" in str(err.value)


def test_a_sample_sheet_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    """#23: Excel's "CSV UTF-8" starts with a BOM, which became part of the name 'sample'."""
    sheet = tmp_path / "samples.tsv"
    sheet.write_bytes("\ufeffsample\tmovie\r\na1\tdonnées/m.tif\r\n".encode("utf-8"))
    rows = check_samples(sheet, PipelineConfig(), check_files=False)
    assert [(r.sample, r.movie) for r in rows] == [("a1", "données/m.tif")]


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-16", "the sample sheet is UTF-16 ('Unicode text'), not UTF-8; save the sheet as UTF-8 (tab-separated) text"),
        ("utf-16-be", "not UTF-8 text (byte 0x00 at line 1, UTF-16 without a byte-order mark?)"),
        ("utf-32", "the sample sheet is UTF-32, not UTF-8"),
        ("latin-1", "not UTF-8 text (byte 0xe9 at line 3); save the sheet as UTF-8 (tab-separated) text"),
        ("cp1252", "not UTF-8 text (byte 0xe9 at line 3)"),
    ],
)
def test_a_sample_sheet_in_another_encoding_is_refused_in_one_line(tmp_path: Path, encoding: str, message: str) -> None:
    """#23: UTF-16 and Latin-1 sheets ended in a UnicodeDecodeError traceback."""
    sheet = tmp_path / "samples.tsv"
    sheet.write_bytes("sample\tmovie\na\tm.tif\nb\tdonnées/m.tif\n".encode(encoding))
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, PipelineConfig(), check_files=False)
    assert str(err.value).startswith(f"{sheet}: {message}"), str(err.value)
