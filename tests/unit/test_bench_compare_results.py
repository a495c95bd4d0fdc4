"""bench.compare_results: is one results folder the output of another, unit by unit?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from bench.compare_results import main


def _write(root: Path, labels: np.ndarray, zarr_format: int, table: pd.DataFrame) -> None:
    sample = root / "s"
    sample.mkdir(parents=True)
    group = zarr.open_group(str(sample / "cells.zarr"), mode="w", zarr_format=zarr_format)
    group.create_array("0", data=labels, chunks=(1, 8, 8))
    # a store whose root is an array (normalized.zarr) and a geff store (a Zarr group named *.geff)
    zarr.create_array(str(sample / "normalized.zarr"), data=labels.astype(np.float32), zarr_format=zarr_format)
    geff = zarr.open_group(str(sample / "tracks.geff"), mode="w", zarr_format=zarr_format)
    geff.create_array("nodes/ids", data=np.arange(3, dtype=np.uint64))
    table.to_parquet(sample / "cells.parquet")
    (sample / "tracks.csv").write_text("track_id,frame\n1,0\n")
    (root / "logs").mkdir()
    (root / "logs" / "run.log").write_text(f"format {zarr_format}\n")


def test_a_store_of_the_other_zarr_version_with_the_same_pixels_is_the_same(tmp_path: Path, capsys) -> None:
    labels = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
    table = pd.DataFrame({"label": [1, 2], "area_um2": [3.5, 4.0]})
    _write(tmp_path / "a", labels, 2, table)
    _write(tmp_path / "b", labels, 3, table)
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    # the log differs but is left out; the table and the csv have the same bytes
    assert "same arrays  s/cells.zarr" in out
    assert "same arrays  s/normalized.zarr" in out and "same arrays  s/tracks.geff" in out
    assert out.strip().splitlines()[-1] == "2 identical, 3 same arrays"


def test_one_pixel_or_one_value_changed_differs(tmp_path: Path, capsys) -> None:
    labels = np.zeros((2, 8, 8), dtype=np.uint16)
    table = pd.DataFrame({"label": [1, 2], "area_um2": [3.5, 4.0]})
    _write(tmp_path / "a", labels, 2, table)
    changed = labels.copy()
    changed[1, 7, 7] = 5
    _write(tmp_path / "b", changed, 2, table.assign(area_um2=[3.5, 4.25]))
    (tmp_path / "b" / "s" / "extra.tsv").write_text("x\n")
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "differs      s/cells.zarr  arrays with other values: ['0']" in out
    assert "differs      s/cells.parquet" in out
    assert "only in B    s/extra.tsv" in out
