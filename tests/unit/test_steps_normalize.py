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
        "from cellpipe.steps.ingest import ingest_movie_file\n"
        "from cellpipe.steps.normalize import normalize_movie_step\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "ingest_movie_file(sample='m', movie=d / 'm.tif', fmt='auto', axes='TCYX', pixel_size_um=0.5,\n"
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


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_the_normalized_movie_is_in_the_zarr_format_of_the_ome_zarr_version(tmp_path: Path, version: str) -> None:
    """normalized.zarr follows ``ome_zarr.version``: declared by its metadata file (layout.zarr_array), it is
    Zarr v2 (``.zarray``, ``.zattrs``, no ``zarr.json``) beside NGFF 0.4 and Zarr v3 (``zarr.json`` only, axes
    named) beside 0.5; a bare store path follows the image's version.  Both keep one (y, x) plane per chunk
    and Blosc lz4 (level 5, byte shuffle), hold the same float32 values, and read back through the steps'
    reader from the store or the metadata file (3 frames of 24 x 20 px, 2 channels)."""
    import json

    from cellpipe import layout
    from cellpipe.io import omezarr
    from cellpipe.steps.normalize import normalize_movie_step

    movie = _movie(n_frames=3)
    image = Path(layout.ome_zarr(str(tmp_path / "image.ome.zarr"), version))
    with omezarr.new_ome_array(image, movie.shape, movie.dtype, "tcyx", 0.5, 5.0) as out:
        out[:] = movie
    expected = normalize_movie(movie, NormalizeSettings())[0]
    declared = Path(layout.zarr_array(str(tmp_path / "normalized.zarr"), version))
    bare = tmp_path / "bare.zarr"  # no metadata file named: the image's version decides
    for normalized in (declared, bare):
        normalize_movie_step(image, {}, normalized, tmp_path / "p.tsv")
        store = omezarr.store_path(normalized)
        metadata_names = {"zarr.json", ".zarray", ".zattrs", ".zgroup"}
        files = {p.name for p in store.rglob("*") if p.is_file() and p.name in metadata_names}
        assert len([p for p in store.rglob("*") if p.is_file() and p.name not in metadata_names]) == 3 * 2  # a chunk a plane
        if version == "0.5":
            assert files == {"zarr.json"}, normalized
            meta = json.loads((store / "zarr.json").read_text())
            assert (meta["zarr_format"], meta["node_type"]) == (3, "array")
            assert meta["dimension_names"] == ["t", "c", "y", "x"]
            assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, 1, 24, 20]
            blosc = next(c["configuration"] for c in meta["codecs"] if c["name"] == "blosc")
            assert (blosc["cname"], blosc["clevel"], blosc["shuffle"]) == ("lz4", 5, "shuffle")
            assert meta["attributes"]["normalize"]["low_percentile"] == NormalizeSettings().low_percentile
        else:
            assert files == {".zarray", ".zattrs"}, normalized
            meta = json.loads((store / ".zarray").read_text())
            assert meta["zarr_format"] == 2 and meta["chunks"] == [1, 1, 24, 20]
            assert {k: meta["compressor"][k] for k in ("id", "cname", "clevel", "shuffle")} == {
                "id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}
            assert "normalize" in json.loads((store / ".zattrs").read_text())
        for path in (normalized, store):
            read = omezarr.open_zarr_array(path)
            assert read.metadata.zarr_format == (3 if version == "0.5" else 2)
            np.testing.assert_array_equal(read[:], expected)
    with pytest.raises(ValueError, match="names Zarr v"):
        with omezarr.new_zarr_array(tmp_path / "x.zarr" / "zarr.json", (1, 2, 2), "float32", zarr_format=2):
            pass
