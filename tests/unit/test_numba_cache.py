"""cellpipe.runtime.numba_cache: the numba functions Cellpose compiles at import are compiled by the first job
and loaded from numba's cache by the next (the workflow's segmentation, training and evaluation scripts install it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# cellpose.dynamics compiles _extend_centers at import for one signature; the counts are numba's own
CODE = """
import sys
from cellpipe.runtime.numba_cache import install_numba_cache
first, again = install_numba_cache(), install_numba_cache()
import numba
import cellpose.dynamics as dynamics
stats = dynamics._extend_centers.stats
print(first, again, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), numba.njit is numba.core.decorators.njit)
"""


def _run(code: str, cache: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no tests/site_hooks: the module alone
    env.update(NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()


def test_cellpose_numba_code_is_compiled_once_then_read_from_the_cache(tmp_path: Path) -> None:
    """The first process compiles Cellpose's _extend_centers and writes it to NUMBA_CACHE_DIR, the second loads it;
    install_numba_cache() adds its finder once, and numba's own njit is put back after the import."""
    first, second = _run(CODE, tmp_path), _run(CODE, tmp_path)
    assert first == ["True", "False", "0", "1", "True"], first
    assert second == ["True", "False", "1", "0", "True"], second
    assert any(p.name.startswith("dynamics._extend_centers") for p in tmp_path.rglob("*.nbi"))


def test_without_install_cellpose_compiles_in_every_process(tmp_path: Path) -> None:
    """The control: without install_numba_cache() nothing is cached, so every process compiles again."""
    code = CODE.replace("first, again = install_numba_cache(), install_numba_cache()", "first, again = None, None")
    assert _run(code, tmp_path)[2] == _run(code, tmp_path)[2] == "0"  # no cache hit in the second process either
    assert not [p for p in tmp_path.rglob("*.nbi") if p.name.startswith("dynamics._extend_centers")]


def test_workflow_scripts_that_load_cellpose_or_traccuracy_install_the_cache() -> None:
    """Each job script whose step imports Cellpose or traccuracy calls install_numba_cache() before its step runs."""
    for name in ("segment_frames", "segment_cells", "train_cellpose", "evaluate_sample"):
        text = (REPO / "workflow" / "scripts" / f"{name}.py").read_text()
        assert text.index("\ninstall_numba_cache()") < text.index("with log_to_file("), name
