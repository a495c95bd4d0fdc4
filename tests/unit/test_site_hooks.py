"""The hooks every Python process the tests start loads (tests/site_hooks): numba's cache for the functions
traccuracy compiles at import (numba_cache.py), written by the first process and read by the next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import snakemake_env

# compute_overlap is compiled at import for two signatures; the counts are numba's own, per signature
CODE = """
import numba
import traccuracy.matchers._compute_overlap as overlap
stats = overlap.compute_overlap.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), numba.njit is numba.core.decorators.njit)
"""


def test_numba_functions_compiled_at_import_are_cached_once_then_read(tmp_path: Path) -> None:
    """With NUMBA_CACHE_DIR set, the first process compiles traccuracy's compute_overlap for both signatures and
    writes them there, the next loads both from there; numba's own njit is put back after the import."""
    env = {**snakemake_env(True), "NUMBA_CACHE_DIR": str(tmp_path)}
    first, second = (
        subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True).stdout.split()
        for _ in range(2)
    )
    assert first == ["0", "2", "True"] and second == ["2", "0", "True"], (first, second)
    assert sorted(p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")) == [
        "_compute_overlap.compute_overlap", "_compute_overlap.compute_overlap_3D"]
