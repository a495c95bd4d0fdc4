"""The CELLPIPE_REQUIRE_ALL=1 policy of tests/require_all.py (set by ``make test``): a skip fails the run.

Each check runs pytest on a tiny test file of its own (pytester), with and without the variable."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, SHARED

pytest_plugins = ["pytester"]

# the inner run loads the policy as make test's run does (tests/conftest.py) and, as pyproject's addopts
# do, leaves out napari's pytest plugins
INNER_ARGS = ("-p", "require_all", "-p", "no:cacheprovider", "-p", "no:napari", "-p", "no:napari-plugin-engine", "-p", "no:npe2")

SKIPPING_TESTS = '''
import pytest

@pytest.fixture
def cluster():
    pytest.skip("SLURM cannot start: not root")

def test_runs():
    assert 1 + 1 == 2

def test_skips_in_the_test():
    pytest.skip("chromium not installed")

@pytest.mark.skipif(True, reason="../shared not found")
def test_skipif():
    pass

def test_skips_in_a_fixture(cluster):
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_failure():
    assert False
'''


def test_every_skip_fails_the_run_when_every_test_is_required(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_inner=SKIPPING_TESTS)
    monkeypatch.delenv("CELLPIPE_REQUIRE_ALL", raising=False)
    by_hand = pytester.runpytest(*INNER_ARGS)
    by_hand.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert by_hand.ret == pytest.ExitCode.OK

    monkeypatch.setenv("CELLPIPE_REQUIRE_ALL", "1")
    required = pytester.runpytest(*INNER_ARGS, "-rfE")
    # a skip in the test body fails it; a skipif mark or a fixture's skip errors its set-up; an xfail is no skip
    required.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    assert required.ret == pytest.ExitCode.TESTS_FAILED
    required.stdout.fnmatch_lines(["FAILED test_inner.py::test_skips_in_the_test - skipped*",
                                   "ERROR test_inner.py::test_skipif - skipped*",
                                   "ERROR test_inner.py::test_skips_in_a_fixture - skipped*"], consecutive=True)
    for reason in ("chromium not installed", "../shared not found", "SLURM cannot start: not root"):
        assert f"skipped ({reason}), and CELLPIPE_REQUIRE_ALL=1 makes every skip a failure" in required.stdout.str(), reason


def test_a_module_that_skips_at_import_fails_the_run_when_every_test_is_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_ok="def test_runs():\n    pass\n",
        test_needs="import pytest\npytest.importorskip('no_such_module_for_cellpipe')\n\ndef test_x():\n    pass\n",
    )
    monkeypatch.delenv("CELLPIPE_REQUIRE_ALL", raising=False)
    by_hand = pytester.runpytest(*INNER_ARGS)
    by_hand.assert_outcomes(passed=1, skipped=1)
    assert by_hand.ret == pytest.ExitCode.OK

    monkeypatch.setenv("CELLPIPE_REQUIRE_ALL", "1")
    required = pytester.runpytest(*INNER_ARGS)
    assert required.ret == pytest.ExitCode.TESTS_FAILED
    required.stdout.fnmatch_lines(["*skipped at collection*", "test_needs.py: skipped (could not import 'no_such_module_for_cellpipe'*"])
    # every module skipped: no test ran, still a failure (not pytest's 5, "no tests collected")
    (pytester.path / "test_ok.py").unlink()
    assert pytester.runpytest(*INNER_ARGS).ret == pytest.ExitCode.TESTS_FAILED


def test_make_test_requires_every_test_in_both_environments() -> None:
    """Both pytest lines of the Makefile's test recipe set CELLPIPE_REQUIRE_ALL=1 and stop make when they fail."""
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "no test target in the Makefile"
    pytest_lines = [line.strip() for line in recipe.group(1).splitlines() if "-m pytest" in line]
    assert len(pytest_lines) == 2, pytest_lines
    for line in pytest_lines:
        assert line.startswith("CELLPIPE_REQUIRE_ALL=1 "), line  # a leading '-' would also let a failure pass
    assert "make test" in (REPO / ".ci" / "run").read_text() and "set -euo pipefail" in (REPO / ".ci" / "run").read_text()


def test_shared_data_is_looked_for_beside_the_checkout() -> None:
    """../shared is the sibling of the repository root (git's top level), wherever the test that uses it lives."""
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if top.returncode == 0:  # a checkout; an unpacked source archive has no git
        assert Path(top.stdout.strip()).resolve() == REPO
    assert (REPO / "Snakefile").is_file() and (REPO / "pyproject.toml").is_file()
    assert SHARED == REPO.parent / "shared"
