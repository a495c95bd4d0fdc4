"""Config and sample-sheet validation: one-line errors naming the key or the row."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.config import ConfigError, PipelineConfig, load_config, load_samples
from cellpipe.ingest import IngestError, IngestSettings, check_pixels, resolve_metadata
from cellpipe.io.movies import write_ome_tiff

HEADER = "sample\tmovie\tpixel_size_um\tframe_interval_min\n"


def write_sheet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "samples.tsv"
    path.write_text(text)
    return path


def write_movie(path: Path, n_frames: int = 3, shape: tuple[int, int] = (32, 32)) -> Path:
    """A small OME-TIFF movie with pixel size 0.5 µm and frame interval 2 min."""
    data = np.random.default_rng(0).integers(0, 1000, size=(n_frames, *shape), dtype=np.uint16)
    write_ome_tiff(path, data, pixel_size_um=0.5, frame_interval_min=2.0)
    return path


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
    rows = load_samples(sheet, load_config({}))
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
        load_samples(sheet, load_config({}))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    """csv.DictReader keeps the last of two equal columns: a sheet with two pixel_size_um columns would use one silently."""
    sheet = write_sheet(tmp_path, "sample\tmovie\tpixel_size_um\tpixel_size_um\na\tb\t0.5\t5\n")
    with pytest.raises(ConfigError, match="column 'pixel_size_um' appears 2 times in the header line"):
        load_samples(sheet, load_config({}))


def test_unknown_column_is_named(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path, "sample\tmovie\tpixelsize\na\tb\t1\n")
    with pytest.raises(ConfigError, match="unknown column 'pixelsize'"):
        load_samples(sheet, load_config({}))


def test_simulated_movie_need_not_exist_yet(tmp_path: Path) -> None:
    config = load_config({"simulate": {"demo": {}}})
    sheet = write_sheet(tmp_path, "sample\tmovie\tground_truth\n"
                        "demo\tresults/simulated/demo/movie.ome.tif\tresults/simulated/demo/01_GT\n")
    assert load_samples(sheet, config)[0].sample == "demo"


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


def _ctc_truth(folder: Path, n_frames: int, shape: tuple[int, int] = (32, 32)) -> Path:
    (folder / "TRA").mkdir(parents=True)
    for t in range(n_frames):
        tifffile.imwrite(folder / "TRA" / f"man_track{t:03d}.tif", np.zeros(shape, np.uint16))
    (folder / "TRA" / "man_track.txt").write_text("")
    return folder


@pytest.mark.parametrize(
    ("make", "columns", "message"),
    [
        # the movie, from its header
        (lambda d: tifffile.imwrite(d / "m.tif", np.zeros((32, 32), np.uint16)), "",
         "(sample 'a'): {d}/m.tif: a single 2-D image of 32x32 px, not a movie"),
        (lambda d: (d / "m.tif").write_bytes(write_movie(d / "w.ome.tif").read_bytes()[:3000]), "",
         "(sample 'a'): {d}/m.tif: truncated or corrupt TIFF"),
        (lambda d: write_movie(d / "m.ome.tif", shape=(6, 6)), "",
         "line 2 (sample 'a'): {d}/m.ome.tif: frames of 6x6 px are too small to segment"),
        (lambda d: tifffile.imwrite(d / "m.tif", np.ones((3, 32, 32), np.uint16), photometric="minisblack"), "",
         "line 2 (sample 'a'): {d}/m.tif: no pixel size in the file's metadata; set pixel_size_um"),
        (lambda d: write_movie(d / "m.ome.tif"), "channel_names=x,y",
         "line 2 (sample 'a'): {d}/m.ome.tif: 2 channel names given for 1 channels"),
        (lambda d: write_movie(d / "m.ome.tif"), "axes=TCYX",
         "(sample 'a'): {d}/m.ome.tif: axes 'TCYX' do not match the 3-D array of shape (3, 32, 32)"),
        (lambda d: write_movie(d / "m.ome.tif"), "format=ctc",
         "(sample 'a'): {d}/m.ome.tif: format 'ctc' expects a folder of tNNN.tif frames"),
        # its ground truth, against the movie's header
        (lambda d: (write_movie(d / "m.ome.tif"), _ctc_truth(d / "gt", 4)), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt/TRA: tracking markers must cover the movie's 3 frame(s) exactly; "
         "frames beyond the movie [3]"),
        (lambda d: (write_movie(d / "m.ome.tif"), _ctc_truth(d / "gt", 3, (40, 32))), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt/TRA/man_track000.tif: mask is 40x32 px but the movie's frames are 32x32 px"),
        (lambda d: (write_movie(d / "m.ome.tif"), (d / "gt").mkdir(),
                    tifffile.imwrite(d / "gt" / "mask7.tif", np.zeros((32, 32), np.uint16))), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt/mask7.tif: frame 7 is beyond the movie's 3 frame(s)"),
        (lambda d: (write_movie(d / "m.ome.tif"), tifffile.imwrite(d / "gt.tif", np.zeros((2, 32, 32), np.uint16),
                                                                    photometric="minisblack")), "ground_truth=GT",
         "(sample 'a'): ground_truth {d}/gt.tif: a label TIFF must be (T, Y, X) with one plane per movie frame (3)"),
    ],
    ids=["2d-image", "cut-short", "tiny-frames", "no-pixel-size", "channel-names", "axes", "format",
         "truth-frames", "truth-size", "truth-frame-beyond", "truth-stack"],
)
def test_files_are_checked_from_their_headers(tmp_path: Path, make, columns: str, message: str) -> None:
    """What the ingest and evaluate jobs would refuse is refused when the sheet is read, naming the row and the file."""
    data = tmp_path / "data"
    data.mkdir()
    make(data)
    movie = next(p for p in sorted(data.iterdir()) if p.name.startswith("m."))
    values = {"sample": "a", "movie": str(movie)}
    for item in filter(None, columns.split(";")):
        key, value = item.split("=")
        values[key] = str(next(data.glob("gt*"))) if value == "GT" else value
    sheet = write_sheet(tmp_path, "\t".join(values) + "\n" + "\t".join(values.values()) + "\n")
    with pytest.raises(ConfigError) as err:
        load_samples(sheet, load_config({}))
    assert message.format(d=data) in str(err.value)
    assert "\n" not in str(err.value)


def test_good_files_pass_the_header_checks(tmp_path: Path) -> None:
    movie = write_movie(tmp_path / "m.ome.tif")
    truth = _ctc_truth(tmp_path / "gt", 3)
    (truth / "SEG").mkdir()
    tifffile.imwrite(truth / "SEG" / "man_seg002.tif", np.zeros((32, 32), np.uint16))
    sheet = write_sheet(tmp_path, f"sample\tmovie\tground_truth\na\t{movie}\t{truth}\n")
    assert [row.sample for row in load_samples(sheet, load_config({}))] == ["a"]


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
        "import cellpipe.logs, cellpipe.steps.ingest, cellpipe.steps.normalize, cellpipe.steps.segment\n"
        "print('pandas' in sys.modules)\n"
        "from cellpipe.io import tables\n"
        "tables.read_tsv(sys.argv[1])\n"
        "print('pandas' in sys.modules)\n"
    )
    table = Path(__file__).parents[2] / "config" / "samples.tsv"
    result = subprocess.run([sys.executable, "-c", code, str(table)], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


def test_every_stage_module_re_exports_its_settings() -> None:
    """``from cellpipe.<stage> import <Model>`` gives the model of cellpipe.settings (one class, not a copy)."""
    from cellpipe import settings

    for name, module in settings.STAGE_MODULES.items():
        assert getattr(importlib.import_module(f"cellpipe.{module}"), name) is getattr(settings, name), name
    models = {n for n in settings.__all__ if isinstance(getattr(settings, n), type)}
    assert models == set(settings.STAGE_MODULES)


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
    """#23: a second `segment:` block silently replaced the first; now the file, key and lines are named."""
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
        load_samples(sheet, PipelineConfig(), check_files=False)
    assert f"line 2 (sample {name!r}): sample: Value error, {name!r} is taken by what the workflow writes" in str(err.value)


def test_a_sample_sheet_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    """#23: Excel's "CSV UTF-8" starts with a BOM, which became part of the name 'sample'."""
    sheet = tmp_path / "samples.tsv"
    sheet.write_bytes("\ufeffsample\tmovie\r\na1\tdonnées/m.tif\r\n".encode("utf-8"))
    rows = load_samples(sheet, PipelineConfig(), check_files=False)
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
        load_samples(sheet, PipelineConfig(), check_files=False)
    assert str(err.value).startswith(f"{sheet}: {message}"), str(err.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"segment": {"channel": 1}}, "(sample 'a'): config segment.channel is 1 but {movie} has 1 channel (0-based: 0)"),
        ({"measure": {"channel_names": ["H2B", "actin"]}},
         "(sample 'a'): config measure.channel_names gives 2 names (H2B, actin) but {movie} has 1 channel"),
    ],
)
def test_channel_settings_are_checked_against_each_movie_header(tmp_path: Path, settings: dict, message: str) -> None:
    """#23: found only inside segment_cells / measure_cells (a traceback, then retries with more memory)."""
    movie = write_movie(tmp_path / "m.ome.tif")
    sheet = write_sheet(tmp_path, f"sample\tmovie\na\t{movie}\n")
    record = tmp_path / "checked.json"
    assert load_samples(sheet, load_config({}), checked_record=record)  # passes and is recorded
    with pytest.raises(ConfigError) as err:  # the record does not hide a setting the movie cannot satisfy
        load_samples(sheet, load_config(settings), checked_record=record)
    assert str(err.value) == f"{sheet} line 2 " + message.format(movie=movie)


def test_channel_settings_are_checked_for_simulated_movies_too(tmp_path: Path) -> None:
    """The simulator writes one channel, so no file needs to exist to know it."""
    sheet = write_sheet(tmp_path, "sample\tmovie\ns\tresults/simulated/s/movie.ome.tif\n")
    config = load_config({"simulate": {"s": {}}, "segment": {"channel": 2}})
    expected = r"\(sample 's'\): config segment.channel is 2 but results/simulated/s/movie.ome.tif has 1 channel"
    with pytest.raises(ConfigError, match=expected):
        load_samples(sheet, config)


def test_a_two_channel_movie_takes_channel_1_and_two_names(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 1000, size=(3, 2, 32, 32), dtype=np.uint16)
    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, data, imagej=True, metadata={"axes": "TCYX"})
    sheet = write_sheet(tmp_path, f"sample\tmovie\tpixel_size_um\tframe_interval_min\na\t{movie}\t0.5\t2\n")
    config = load_config({"segment": {"channel": 1}, "measure": {"channel_names": ["H2B", "actin"]}})
    assert [row.sample for row in load_samples(sheet, config)] == ["a"]
