"""Tests of the normalize_movie rule's entry point (cellpipe.steps.normalize): the job's table and every frame across batches (frames)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from test_normalize import _movie

from cellpipe.config import NormalizeSettings
from cellpipe.normalize import MOVIE_WIDE, compute_percentiles, normalize_movie


def test_the_normalization_job_writes_the_table_pandas_wrote_without_importing_pandas(tmp_path: Path) -> None:
    """normalize_movie_step reads no table, so it writes its TSV without pandas (0.7 s of a 120-frame 1024² job)."""
    import subprocess
    import sys

    import tifffile

    from cellpipe.io import tables

    movie = _movie(n_frames=3)
    tifffile.imwrite(tmp_path / "m.tif", movie, metadata={"axes": "TCYX"})
    code = (
        "import sys, pathlib\n"
        "from cellpipe.steps.ingest import ingest_movie_step\n"
        "from cellpipe.steps.normalize import normalize_movie_step\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "ingest_movie_step(sample='m', movie=d / 'm.tif', fmt='auto', axes='TCYX', pixel_size_um=0.5,\n"
        "                  frame_interval_min=5.0, channel_names=[], settings={}, image=d / 'image.ome.zarr')\n"
        "normalize_movie_step(d / 'image.ome.zarr', {'mode': sys.argv[2]}, d / 'n.zarr', d / 'p.tsv')\n"
        "print('pandas' in sys.modules)\n"
    )
    for mode in ("movie", "frame"):
        result = subprocess.run([sys.executable, "-c", code, str(tmp_path), mode], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["False"]
        tables.write_tsv(compute_percentiles(movie, NormalizeSettings(mode=mode)), tmp_path / "pandas.tsv")
        assert (tmp_path / "p.tsv").read_bytes() == (tmp_path / "pandas.tsv").read_bytes()
        normalized = zarr.open_array(tmp_path / "n.zarr", mode="r")[:]
        np.testing.assert_array_equal(normalized, normalize_movie(movie, NormalizeSettings(mode=mode))[0])
        for path in ("image.ome.zarr", "n.zarr"):
            shutil.rmtree(tmp_path / path)


@pytest.mark.parametrize("mode", ["movie", "frame"])
def test_the_normalization_job_normalizes_every_frame_across_batch_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """normalize_movie_step with batches of 4 frames on 2 x 4 + 3 frames (8 x 12 px, 2 channels): every frame,
    the first and last of each batch and the 3 of the short last batch included, is (x - low) / (high - low)
    with the 2nd and 98th percentiles that numpy computes on the raw intensities (no unit) of that frame
    (mode 'frame') or of all frames (mode 'movie')."""
    from cellpipe.io import omezarr, tables
    from cellpipe.steps import normalize as steps

    batch = 4
    monkeypatch.setattr(steps, "FRAMES_PER_BATCH", batch)
    movie = _movie(n_frames=2 * batch + 3, shape=(8, 12), seed=5)  # frame t is t + 1 times brighter: no two alike
    with omezarr.new_ome_array(tmp_path / "image.ome.zarr", movie.shape, movie.dtype, "tcyx", 0.5, 5.0) as out:
        out[:] = movie
    steps.normalize_movie_step(tmp_path / "image.ome.zarr", {"mode": mode, "low_percentile": 2.0, "high_percentile": 98.0},
                               tmp_path / "n.zarr", tmp_path / "p.tsv")
    normalized = zarr.open_array(tmp_path / "n.zarr", mode="r")[:]
    assert normalized.shape == movie.shape and normalized.dtype == np.float32
    raw = movie.astype(np.float64)
    written = tables.read_tsv(tmp_path / "p.tsv")
    for c in range(movie.shape[1]):
        if mode == "movie":  # 11 x 96 pixels per channel: under max_sample_pixels, so all of them count
            low, high = np.percentile(raw[:, c], [2.0, 98.0])
            lows, highs = np.full(len(movie), low), np.full(len(movie), high)
            row = written[written["channel"] == c]
            assert row["frame"].tolist() == [MOVIE_WIDE]
            assert (row["low_value"].item(), row["high_value"].item()) == pytest.approx((low, high))
        else:
            lows, highs = np.percentile(raw[:, c], [2.0, 98.0], axis=(1, 2))
            rows = written[written["channel"] == c].sort_values("frame")
            assert rows["frame"].tolist() == list(range(len(movie)))
            np.testing.assert_allclose(rows["low_value"], lows)
            np.testing.assert_allclose(rows["high_value"], highs)
        for t in range(len(movie)):
            expected = (raw[t, c] - lows[t]) / (highs[t] - lows[t])
            np.testing.assert_allclose(normalized[t, c], expected, rtol=1e-5, atol=1e-6, err_msg=f"frame {t} channel {c}")
