"""The files cellpipe reads and writes go through ``cellpipe.io`` (and ``cellpipe.runtime``, the Snakemake plumbing),
as the README's Layout says: no other module of ``src/cellpipe`` opens, reads or writes a file itself.

Other modules may still check that a path exists, make a temporary folder, and hand a path to a library that
opens it (Cellpose its model file, traccuracy a CTC folder); what this test looks for are the calls that read or
write a file's contents.  Parsed with ``ast``, nothing imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cellpipe"
ALLOWED = ("io", "runtime")
IO_MODULES = {p.stem for p in (PACKAGE / "io").iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}  # modules, packages

# methods that read or write a file's contents, whatever object they are called on (Path, DataFrame, ndarray)
FILE_METHODS = {
    "open", "read_text", "write_text", "read_bytes", "write_bytes", "to_csv", "to_parquet", "to_json", "to_pickle",
    "to_excel", "to_hdf", "tofile",
}
# module functions that read or write files, by the module name they are called through
MODULE_FUNCTIONS = {
    "np": {"save", "savez", "savez_compressed", "load", "loadtxt", "savetxt", "fromfile", "genfromtxt"},
    "numpy": {"save", "savez", "savez_compressed", "load", "loadtxt", "savetxt", "fromfile", "genfromtxt"},
    "torch": {"load", "save"},
    "json": {"load", "dump"},
    "pickle": {"load", "dump"},
    "tifffile": {"imread", "imwrite", "imsave", "TiffFile", "TiffWriter", "memmap"},
    "zarr": {"open", "open_group", "open_array", "open_consolidated", "save", "load"},
    "shutil": {"copy", "copy2", "copyfile", "copytree", "move", "rmtree"},
}


def io_names(tree: ast.Module) -> set[str]:
    """The names a module binds to cellpipe.io modules (``from cellpipe.io import tables``, ``... as t``)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "cellpipe.io"
        for alias in node.names
        if alias.name in IO_MODULES
    }


def file_calls(source: str) -> list[str]:
    """``line: call`` for every call in ``source`` that reads or writes a file's contents other than through
    cellpipe.io (``tables.read_text(path)`` is such a call through io)."""
    tree = ast.parse(source)
    through_io = io_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            found.append((node.lineno, "open(...)"))
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if owner in through_io:
                continue
            if owner in ("pd", "pandas") and func.attr.startswith("read_"):
                found.append((node.lineno, f"{owner}.{func.attr}(...)"))
            elif owner in MODULE_FUNCTIONS:
                if func.attr in MODULE_FUNCTIONS[owner]:
                    found.append((node.lineno, f"{owner}.{func.attr}(...)"))
            elif func.attr in FILE_METHODS:
                found.append((node.lineno, f".{func.attr}(...)"))
    return [f"{line}: {call}" for line, call in sorted(found)]


def test_the_scan_finds_file_reads_and_writes() -> None:
    source = (
        "import numpy as np\nimport pandas as pd\nimport json\nfrom cellpipe.io import tables\n"
        "open('a')\nPath('b').read_text()\ndf.to_parquet('c')\npd.read_csv('d')\nnp.save('e', x)\n"
        "json.dump({}, f)\n"
        "json.dumps({})\nnp.asarray(x)\ntables.read_text('f')\nPath('g').is_file()\n"
    )
    assert file_calls(source) == [
        "5: open(...)", "6: .read_text(...)", "7: .to_parquet(...)", "8: pd.read_csv(...)", "9: np.save(...)",
        "10: json.dump(...)",
    ]


def test_only_io_and_runtime_read_or_write_files() -> None:
    """No module of src/cellpipe outside io/ and runtime/ reads or writes a file but through cellpipe.io."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ALLOWED:
            continue
        offenders += [f"{rel}:{call}" for call in file_calls(path.read_text(encoding="utf-8"))]
    assert not offenders, "files read or written outside cellpipe.io and cellpipe.runtime:\n  " + "\n  ".join(offenders)
