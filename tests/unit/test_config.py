"""Config and sample-sheet validation: one-line errors naming the key or the row."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellpipe.config import ConfigError, PipelineConfig, load_config, load_samples
from cellpipe.ingest import IngestError, IngestSettings, check_pixels, resolve_metadata

HEADER = "sample\tmovie\tpixel_size_um\tframe_interval_min\n"


def write_sheet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "samples.tsv"
    path.write_text(text)
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
    movie = tmp_path / "a.tif"
    movie.write_bytes(b"")
    sheet = write_sheet(tmp_path, HEADER + f"a\t{movie}\t0.5\t10\n# a comment\n")
    rows = load_samples(sheet, load_config({}))
    assert [(r.sample, r.pixel_size_um, r.frame_interval_min) for r in rows] == [("a", 0.5, 10.0)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a\tMOVIE\t-1\t10\n", "line 2 (sample 'a'): pixel_size_um: Input should be greater than 0"),
        ("a\tMOVIE\tabc\t10\n", "line 2 (sample 'a'): pixel_size_um:"),
        ("a\tMOVIE\t\t\na\tMOVIE\t\t\n", "line 3: duplicate sample name 'a' (first on line 2)"),
        ("../x\tMOVIE\t\t\n", "line 2 (sample '../x'): sample:"),
        ("b\tmissing.tif\t\t\n", "line 2 (sample 'b'): movie not found: missing.tif"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, body: str, message: str) -> None:
    movie = tmp_path / "m.tif"
    movie.write_bytes(b"")
    sheet = write_sheet(tmp_path, HEADER + body.replace("MOVIE", str(movie)))
    with pytest.raises(ConfigError) as err:
        load_samples(sheet, load_config({}))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


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


def test_unusable_pixels_are_refused() -> None:
    import numpy as np

    with pytest.raises(IngestError, match="blank"):
        check_pixels("s", "m.tif", np.zeros((3, 1, 16, 16), np.uint16))
    bad = np.ones((3, 1, 16, 16), np.float32)
    bad[1, 0, 2, 2] = np.nan
    with pytest.raises(IngestError, match="1 NaN"):
        check_pixels("s", "m.tif", bad)
