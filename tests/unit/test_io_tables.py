"""Tests of cellpipe.io.tables: the pandas-free TSV writer gives pandas' bytes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.io import tables


def test_write_tsv_rows_writes_the_bytes_pandas_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tricky = [0.0, -0.0, 1.0, 153.0, 99.8, 0.1 + 0.2, 1e-05, 0.0001, 1e16, 1e15 + 0.5, 123456789012345678.0,
              -2.5e-300, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan, 1 / 3]
    random = (rng.standard_normal(200) * 10.0 ** rng.integers(-20, 20, 200)).tolist()
    floats = tricky + random
    # numpy scalars as a stage computes them, and Python's
    rows = [{"channel": np.int64(i % 3), "frame": i - 5, "value": v, "scalar": np.float64(v)}
            for i, v in enumerate(floats)]
    columns = ["channel", "frame", "value", "scalar"]
    frame = pd.DataFrame(rows, columns=columns).astype(
        {"channel": "int64", "frame": "int64", "value": "float64", "scalar": "float64"})
    tables.write_tsv(frame, tmp_path / "pandas.tsv")
    tables.write_tsv_rows(rows, columns, tmp_path / "rows.tsv")
    assert (tmp_path / "rows.tsv").read_bytes() == (tmp_path / "pandas.tsv").read_bytes()
    lines = (tmp_path / "rows.tsv").read_text().splitlines()
    assert lines[0] == "channel\tframe\tvalue\tscalar"
    written = [float(line.split("\t")[2] or "nan") for line in lines[1:]]
    np.testing.assert_array_equal(written, floats)  # exact round trip, NaN included


def test_write_tsv_rows_writes_only_numbers_and_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "t.tsv"
    with pytest.raises(TypeError, match="column 'name': write_tsv_rows writes numbers only, got str"):
        tables.write_tsv_rows([{"name": "a\tb"}], ["name"], out)
    with pytest.raises(TypeError, match="got bool"):
        tables.write_tsv_rows([{"flag": True}], ["flag"], out)
    assert list(tmp_path.iterdir()) == []
    tables.write_tsv_rows([], ["a", "b"], out)  # a header alone, as pandas writes an empty table
    tables.write_tsv(pd.DataFrame(columns=["a", "b"]), tmp_path / "pandas.tsv")
    assert out.read_bytes() == (tmp_path / "pandas.tsv").read_bytes() == b"a\tb\n"


def test_write_csv_writes_comma_separated_lines_without_index_and_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    tables.write_csv(pd.DataFrame({"track_id": [1, 2], "t_min": [0.0, 2.5]}, index=[7, 9]), out)
    assert out.read_bytes() == b"track_id,t_min\n1,0.0\n2,2.5\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    pd.testing.assert_frame_equal(tables.read_csv(out), pd.DataFrame({"track_id": [1, 2], "t_min": [0.0, 2.5]}))
