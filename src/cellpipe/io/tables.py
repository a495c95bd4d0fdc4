"""Tables (Parquet, TSV, CSV) and small JSON / YAML documents on disk, written atomically."""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellpipe.io.atomic import atomic_path

if TYPE_CHECKING:  # imported by the readers that need it: jobs that read no table start 0.5 s sooner
    import pandas as pd

PathLike = str | os.PathLike[str]


def write_parquet(df: pd.DataFrame, path: PathLike) -> None:
    """Write ``df`` to Parquet (zstd) without the pandas index (deterministic bytes for equal tables).

    Parameters
    ----------
    df : pandas.DataFrame
        The table, columns in the units their names give (``_px``, ``_um``, ``_min``, ...).
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    """
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def read_parquet(path: PathLike) -> pd.DataFrame:
    """Read a Parquet table.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`write_parquet` (or any Parquet file pyarrow reads).

    Returns
    -------
    pandas.DataFrame
        The table, with a default index.
    """
    import pandas as pd

    return pd.read_parquet(path, engine="pyarrow")


def write_tsv(df: pd.DataFrame, path: PathLike) -> None:
    r"""Write ``df`` as tab-separated text with a header, without the index, ``\n`` line ends.

    Parameters
    ----------
    df : pandas.DataFrame
        The table, columns in the units their names give.
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def write_csv(df: pd.DataFrame, path: PathLike) -> None:
    r"""Write ``df`` as comma-separated text with a header, without the index, ``\n`` line ends.

    For readers that expect CSV (napari's tracks layer examples, spreadsheets); the pipeline's own
    tables are Parquet or TSV.

    Parameters
    ----------
    df : pandas.DataFrame
        The table, columns in the units their names give.
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


def _tsv_cell(value: Any, column: str) -> str:
    """``value`` as pandas' ``to_csv`` writes a cell of an int or float64 column."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"column {column!r}: write_tsv_rows writes numbers only, got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    return "" if math.isnan(value) else repr(value)  # shortest round-trip form, as numpy's str of a float64


def write_tsv_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: PathLike) -> None:
    """Write rows of numbers as a TSV with a header, without importing pandas.

    The bytes are those of :func:`write_tsv` for the same table with int64 and float64 columns: ints as
    digits, floats in their shortest round-trip form (``153.0``, ``1e-05``, ``inf``), NaN as an empty
    cell. For small tables written by jobs that read no other table (normalization), so that they do not
    pay for importing pandas.

    Parameters
    ----------
    rows : sequence of mapping
        One mapping per row from column name to a number (int or float, in the column's unit);
        booleans and other types are refused (TypeError naming the column).
    columns : sequence of str
        Column names, in the order written; every row must have each.
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    """
    lines = ["\t".join(columns)]
    lines += ["\t".join(_tsv_cell(row[col], col) for col in columns) for row in rows]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


def read_tsv(path: PathLike) -> pd.DataFrame:
    """Read a tab-separated table with a header.

    Parameters
    ----------
    path : str or os.PathLike
        A file such as :func:`write_tsv` writes.

    Returns
    -------
    pandas.DataFrame
        The table; empty cells of number columns are NaN.
    """
    import pandas as pd

    return pd.read_csv(path, sep="\t")


def read_csv(path: PathLike) -> pd.DataFrame:
    """Read a comma-separated table with a header.

    Parameters
    ----------
    path : str or os.PathLike
        A file such as :func:`write_csv` writes.

    Returns
    -------
    pandas.DataFrame
        The table; empty cells of number columns are NaN.
    """
    import pandas as pd

    return pd.read_csv(path)


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(data: Any, path: PathLike) -> None:
    """Write JSON with sorted keys, an indent of 2 and a trailing newline.

    Parameters
    ----------
    data : object
        JSON-serialisable data; numpy scalars and arrays and paths are written as numbers, lists and strings.
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    """
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")


def read_json(path: PathLike) -> Any:
    """Read a JSON document.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    object
        The parsed document.
    """
    return json.loads(Path(path).read_text())


def read_json_as_read(path: PathLike) -> tuple[Any, dict[str, Any]]:
    """A JSON file's content and the sha256 of the very bytes it was parsed from, for a job that records what it read.

    Parameters
    ----------
    path : str or os.PathLike
        The file; read once.

    Returns
    -------
    data : object
        The parsed document.
    description : dict
        ``type, bytes, sha256`` of the bytes parsed (size in bytes; :func:`cellpipe.io.checksums.file_description`).
    """
    import hashlib

    from cellpipe.io.checksums import file_description

    data = Path(path).read_bytes()
    return json.loads(data), file_description(len(data), hashlib.sha256(data).hexdigest())


def read_text(path: PathLike) -> str:
    r"""Read a UTF-8 text file, line ends as Python's text mode gives them (``\n``).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        Its text.

    Raises
    ------
    OSError
        The file cannot be read.
    UnicodeDecodeError
        It is not UTF-8.
    """
    return Path(path).read_text(encoding="utf-8")


def read_bytes(path: PathLike) -> bytes:
    """Read a file's bytes (for a text whose encoding is checked before it is decoded).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    bytes
        Its content.
    """
    return Path(path).read_bytes()


def write_text(text: str, path: PathLike) -> None:
    """Write ``text`` as UTF-8.

    Parameters
    ----------
    text : str
        The whole content of the file.
    path : str or os.PathLike
        Output file; written under a temporary name and renamed when complete.
    """
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_yaml(data: Any, path: PathLike) -> None:
    """Write a YAML document (keys in the mapping's order), e.g. a config file for snakemake.

    Parameters
    ----------
    data : object
        Plain data (mappings, lists, strings, numbers) that ``yaml.safe_dump`` writes.
    path : str or os.PathLike
        Output file, UTF-8; written under a temporary name and renamed when complete.
    """
    import yaml

    with atomic_path(path) as tmp:
        Path(tmp).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
