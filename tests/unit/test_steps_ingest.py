"""Tests of the ingest_movie rule's entry point (cellpipe.steps.ingest): frames streamed, NaN refused, z-stacks projected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from test_z_projection import C, T, X, Y, Z, _tczyx, _write

from cellpipe.config import ConfigError, load_config, load_samples
from cellpipe.ingest import IngestError
from cellpipe.io.movies import MovieError, inspect_movie
from cellpipe.preflight import MovieSize
from cellpipe.steps.ingest import ingest_movie_step


def test_ingest_step_streams_frames_and_a_nan_frame_leaves_no_image(tmp_path: Path) -> None:
    """The ingest step writes the movie frame by frame (pixels equal); NaN in frame 3 of a float
    movie stops it with an error naming the sample, the file and the frame, and no image is left."""
    from cellpipe.io import omezarr
    from cellpipe.steps.ingest import ingest_movie_step

    movie = np.random.default_rng(1).random((5, 2, 16, 18)).astype(np.float32)
    tifffile.imwrite(tmp_path / "m.tif", movie, metadata={"axes": "TCYX"})
    args = dict(sample="s", fmt="auto", axes=None, pixel_size_um=0.5, frame_interval_min=2.0,
                channel_names=[], settings={})
    ingest_movie_step(movie=tmp_path / "m.tif", image=tmp_path / "ok.ome.zarr", **args)
    np.testing.assert_array_equal(np.asarray(omezarr.open_ome_image(tmp_path / "ok.ome.zarr").data[:]), movie)
    movie[3, 1, 4, 4] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", movie, metadata={"axes": "TCYX"})
    with pytest.raises(IngestError, match=r"sample 's' \(.*nan.tif\): frame 3: 1 NaN or infinite pixels"):
        ingest_movie_step(movie=tmp_path / "nan.tif", image=tmp_path / "nan.ome.zarr", **args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "nan.tif", "ok.ome.zarr"]


def test_a_z_stack_without_a_projection_is_refused_saying_how_to_run_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.ome.tif", "ome-tczyx", _tczyx())
    how = r"4 z-planes found; .*set ingest\.z_projection to one of max, mean, sum, best_focus"
    with pytest.raises(MovieError, match=how):
        inspect_movie(path)
    with pytest.raises(MovieError, match=how):
        ingest_movie_step("s", path, "auto", None, None, None, [], {}, tmp_path / "none.ome.zarr")
    assert not (tmp_path / "none.ome.zarr").exists()
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\ns\t{path}\n")
    with pytest.raises(ConfigError, match=r"sample 's'.*set ingest\.z_projection"):
        load_samples(sheet, load_config({}))
    sizes: dict[str, MovieSize] = {}
    load_samples(sheet, load_config({"ingest": {"z_projection": "max"}}), sizes=sizes)
    assert sizes["s"].shape_tcyx == (T, C, Y, X) and sizes["s"].z_planes == Z


def test_ingest_memory_is_flat_in_the_movies_length(tmp_path: Path) -> None:
    """Peak Python allocations (tracemalloc, bytes) of ingesting 40 frames of 8 z-planes stay near those of
    4 frames and far below the movie's 10 MB: one (Z, Y, X) stack is held at a time."""
    import tracemalloc

    peaks = {}
    for n_frames in (4, 4, 40):  # the first run imports scipy (its allocations are not the movie's)
        movie = np.random.default_rng(n_frames).integers(0, 4000, size=(n_frames, 8, 128, 128), dtype=np.uint16)
        path = tmp_path / f"m{n_frames}.ome.tif"
        tifffile.imwrite(path, movie, ome=True, metadata={"axes": "TZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                                                          "TimeIncrement": 2.0, "TimeIncrementUnit": "min"})
        for method in ("max", "best_focus"):
            tracemalloc.start()
            try:
                ingest_movie_step("s", path, "auto", None, None, None, [], {"z_projection": method},
                                  tmp_path / f"{n_frames}-{method}-{len(peaks)}.ome.zarr")
                peaks[n_frames, method] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    movie_bytes = 40 * 8 * 128 * 128 * 2
    for method in ("max", "best_focus"):
        assert peaks[40, method] < 0.4 * movie_bytes, (method, peaks)
        assert peaks[40, method] < 2 * peaks[4, method] + 1_000_000, (method, peaks)
