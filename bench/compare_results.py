"""Compare two results folders of the same sample, file by file: is the output of one commit the output of another?

    python -m bench.compare_results RESULTS_A RESULTS_B [--ignore GLOB ...]

Each file is compared by its bytes. A Zarr store (a folder named ``*.zarr``) is one unit, compared by the
arrays it holds, decoded, so a store written as NGFF 0.4 (Zarr v2) and one written as 0.5 (Zarr v3) with the
same pixels count as equal; a Parquet table whose bytes differ is compared by its rows and columns (the
writer's version is part of its bytes). Logs, benchmarks, timings and records that name the run are left out
by default (``DEFAULT_IGNORE``). Prints one line per unit that is not byte-identical and a count per verdict;
exits 1 when some unit differs or is on one side only.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np

# run-specific by nature: timings, logs, the machine's paths and dates
DEFAULT_IGNORE = (
    "logs/*",
    "benchmarks/*",
    "*.log",
    "provenance.json",
    "*.html",
    "*.svg",
    "*.png",
    ".snakemake*",
    "*/.snakemake_timestamp",
)


# folders that are Zarr stores, compared as one unit by their decoded arrays: OME-Zarr, plain arrays, geff
STORE_SUFFIXES = (".zarr", ".geff")


def _units(root: Path, ignore: tuple[str, ...]) -> dict[str, Path]:
    """Relative path -> file or Zarr store under ``root``, stores as one unit, ignored patterns left out."""
    units: dict[str, Path] = {}
    stores = sorted(p for p in root.rglob("*") if p.is_dir() and p.suffix in STORE_SUFFIXES)
    for store in stores:
        if not any(parent in stores for parent in store.parents):
            units[store.relative_to(root).as_posix()] = store
    for path in sorted(root.rglob("*")):
        if path.is_dir() or any(store in path.parents for store in stores):
            continue
        units[path.relative_to(root).as_posix()] = path
    return {
        rel: path for rel, path in units.items()
        if not any(fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(path.name, pattern) for pattern in ignore)
    }


def _digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files as "<relative path> <sha256>" lines in path order."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    lines = [f"{p.relative_to(path).as_posix()} {_digest(p)}" for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _zarr_arrays(store: Path) -> dict[str, np.ndarray]:
    """Every array of a Zarr store (v2 or v3), by its path in the store, read whole (small results only).

    A store whose root is an array (normalized.zarr) gives that one array, under the path "".
    """
    import zarr

    group = zarr.open(str(store), mode="r")
    if isinstance(group, zarr.Array):
        return {"": np.asarray(group[...])}
    arrays: dict[str, np.ndarray] = {}

    def visit(node, prefix: str) -> None:
        for name, array in node.arrays():
            arrays[f"{prefix}{name}"] = np.asarray(array[...])
        for name, sub in node.groups():
            visit(sub, f"{prefix}{name}/")

    visit(group, "")
    return arrays


def compare_unit(a: Path, b: Path) -> tuple[str, str]:
    """Verdict and detail for one unit: ``identical``, ``same arrays``, ``same table`` or ``differs``."""
    if _digest(a) == _digest(b):
        return "identical", ""
    if a.suffix in STORE_SUFFIXES:
        arrays_a, arrays_b = _zarr_arrays(a), _zarr_arrays(b)
        if arrays_a.keys() != arrays_b.keys():
            return "differs", f"arrays {sorted(arrays_a.keys() ^ arrays_b.keys())} on one side only"
        unequal = [k for k in arrays_a if not np.array_equal(arrays_a[k], arrays_b[k])]
        if unequal:
            return "differs", f"arrays with other values: {unequal}"
        return "same arrays", f"{len(arrays_a)} arrays equal; metadata or encoding differ"
    if a.suffix == ".parquet":
        import pandas as pd

        table_a, table_b = pd.read_parquet(a), pd.read_parquet(b)
        if table_a.equals(table_b):
            return "same table", f"{len(table_a)} rows equal; file metadata differ"
        return "differs", f"{len(table_a)} / {len(table_b)} rows, the values differ"
    return "differs", "bytes differ"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--ignore", nargs="*", default=list(DEFAULT_IGNORE), help="glob patterns left out")
    args = parser.parse_args(argv)
    units_a, units_b = _units(args.a, tuple(args.ignore)), _units(args.b, tuple(args.ignore))
    verdicts: Counter[str] = Counter()
    for rel in sorted(units_a.keys() | units_b.keys()):
        if rel not in units_b or rel not in units_a:
            verdict, detail = ("only in A" if rel in units_a else "only in B"), ""
        else:
            verdict, detail = compare_unit(units_a[rel], units_b[rel])
        verdicts[verdict] += 1
        if verdict != "identical":
            print(f"{verdict:12} {rel}  {detail}".rstrip())
    print(", ".join(f"{n} {verdict}" for verdict, n in sorted(verdicts.items())))
    return 1 if verdicts["differs"] or verdicts["only in A"] or verdicts["only in B"] else 0


if __name__ == "__main__":
    sys.exit(main())
