"""The policy of tests/require_all.py: with CELLPIPE_REQUIRE_ALL=1 (set by ``make test``) or CI=true (set by a CI
runner) a skip fails the run, unless the test is on the allow-list.

Each check runs pytest on a tiny test file of its own (pytester), with and without the variables."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from require_all import ALLOWED_SKIPS

from conftest import REPO, SHARED

pytest_plugins = ["pytester"]

# the inner run loads the policy as make test's run does (tests/conftest.py) and, as pyproject's addopts
# do, leaves out napari's pytest plugins
INNER_ARGS = ("-p", "require_all", "-p", "no:cacheprovider", "-p", "no:napari", "-p", "no:napari-plugin-engine", "-p", "no:npe2")

def by_hand_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither variable set, as for a developer running pytest (the outer run may itself be under make test or CI)."""
    monkeypatch.delenv("CELLPIPE_REQUIRE_ALL", raising=False)
    monkeypatch.delenv("CI", raising=False)


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
    by_hand_environment(monkeypatch)
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
    by_hand_environment(monkeypatch)
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


def test_a_ci_runner_fails_every_skip_as_make_test_does(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=true (what GitHub Actions, GitLab CI and most runners set) is enough, without CELLPIPE_REQUIRE_ALL; the
    failures name CI=true and the run ends with the list of skips."""
    pytester.makepyfile(test_inner=SKIPPING_TESTS)
    by_hand_environment(monkeypatch)
    monkeypatch.setenv("CI", "true")
    ci = pytester.runpytest(*INNER_ARGS, "-rfE")
    ci.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    assert ci.ret == pytest.ExitCode.TESTS_FAILED
    assert "skipped (chromium not installed), and CI=true makes every skip a failure" in ci.stdout.str()
    ci.stdout.fnmatch_lines(["*= skips (CI=true: only the allow-list's may pass, tests/require_all.py) =*",
                             "FAILED  test_inner.py::test_skips_in_the_test: chromium not installed",
                             "FAILED  test_inner.py::test_skipif: ../shared not found",
                             "FAILED  test_inner.py::test_skips_in_a_fixture: SLURM cannot start: not root"], consecutive=True)

    monkeypatch.setenv("CI", "false")  # what a runner that is not CI may set: pytest by hand
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=1, skipped=3, xfailed=1)


# the inner run's own allow-list, set on its instance of the plugin once that is registered (trylast)
ALLOW_LIST_CONFTEST = '''
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.pluginmanager.get_plugin("cellpipe-require-all").allow_list = {
        "test_inner.py::test_skips_in_the_test": "needs a CUDA GPU",
        "test_inner.py::test_skipif": "needs a CUDA GPU",
        "test_gpu_*.py": "the whole module needs a CUDA GPU",
    }
'''


def test_a_skip_on_the_allow_list_passes_and_is_listed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where every test is required, an allow-listed test that skips (in its body, by a skipif mark, or with its
    whole module) stays a skip and the run passes; the list at the end gives the skip's reason and the
    allow-list's.  A skip not on the list still fails, and with no skip at all the list says none."""
    pytester.makeconftest(ALLOW_LIST_CONFTEST)
    pytester.makepyfile(
        test_inner=SKIPPING_TESTS.replace("def test_skips_in_a_fixture(cluster):", "def _not_collected(cluster):"),
        test_gpu_cuda="import pytest\npytest.skip('no CUDA device', allow_module_level=True)\n",
    )
    monkeypatch.setenv("CELLPIPE_REQUIRE_ALL", "1")
    monkeypatch.delenv("CI", raising=False)
    run = pytester.runpytest(*INNER_ARGS)
    run.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert run.ret == pytest.ExitCode.OK
    run.stdout.fnmatch_lines([
        "*= skips (CELLPIPE_REQUIRE_ALL=1: only the allow-list's may pass, tests/require_all.py) =*",
        "ALLOWED test_gpu_cuda.py: no CUDA device (allow-list: the whole module needs a CUDA GPU)",
        "ALLOWED test_inner.py::test_skips_in_the_test: chromium not installed (allow-list: needs a CUDA GPU)",
        "ALLOWED test_inner.py::test_skipif: ../shared not found (allow-list: needs a CUDA GPU)",
    ], consecutive=True)

    pytester.makepyfile(test_other="import pytest\n\ndef test_cpu():\n    pytest.skip('not on the list')\n")
    run = pytester.runpytest(*INNER_ARGS)
    run.assert_outcomes(passed=1, failed=1, skipped=3, xfailed=1)
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["FAILED  test_other.py::test_cpu: not on the list", "ALLOWED test_gpu_cuda.py: *"], consecutive=True)

    for name in ("test_inner.py", "test_gpu_cuda.py", "test_other.py"):
        (pytester.path / name).unlink()
    pytester.makepyfile(test_fine="def test_runs():\n    pass\n")
    run = pytester.runpytest(*INNER_ARGS)
    assert run.ret == pytest.ExitCode.OK
    run.stdout.fnmatch_lines(["*= skips (CELLPIPE_REQUIRE_ALL=1: *", "none: every collected test ran"], consecutive=True)


def test_the_allow_list_is_short_and_each_entry_says_why_it_needs_a_gpu() -> None:
    """tests/require_all.py's ALLOWED_SKIPS: GPU-only checks, each with its reason (today none: the GPU paths run on
    the CPU and a GPU's out-of-memory error is simulated, tests/site_hooks/simulated_gpu.py)."""
    assert len(ALLOWED_SKIPS) <= 5, ALLOWED_SKIPS
    for pattern, why in ALLOWED_SKIPS.items():
        assert pattern.startswith("tests/") and "GPU" in why, (pattern, why)


def test_make_test_requires_every_test_in_both_environments() -> None:
    """Both pytest lines of the Makefile's test recipe set CELLPIPE_REQUIRE_ALL=1 and stop make when they fail."""
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "no test target in the Makefile"
    pytest_lines = [line.strip() for line in recipe.group(1).splitlines() if "-m pytest" in line]
    assert len(pytest_lines) == 2, pytest_lines
    for line in pytest_lines:
        assert line.startswith("CELLPIPE_REQUIRE_ALL=1 "), line  # a leading '-' would also let a failure pass
    assert "make test" in (REPO / ".ci" / "run").read_text() and "set -euo pipefail" in (REPO / ".ci" / "run").read_text()
    # pytest's short summary names every skip with its reason at the end of a run, by hand too
    addopts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert any(opt.startswith("-r") and ("a" in opt or "s" in opt) for opt in addopts), addopts


def test_shared_data_is_looked_for_beside_the_checkout() -> None:
    """../shared is the sibling of the repository root (git's top level), wherever the test that uses it lives."""
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if top.returncode == 0:  # a checkout; an unpacked source archive has no git
        assert Path(top.stdout.strip()).resolve() == REPO
    assert (REPO / "Snakefile").is_file() and (REPO / "pyproject.toml").is_file()
    assert SHARED == REPO.parent / "shared"
