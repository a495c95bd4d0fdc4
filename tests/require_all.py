"""pytest plugin: in CI (``CI=true``) and with ``CELLPIPE_REQUIRE_ALL=1`` every skipped test fails, with the skip's reason.

Some checks skip where the machine lacks what they need (root for SLURM and a tmpfs, chromium, memory,
../shared beside the checkout).  Run by hand, that is what a developer wants; in ``make test`` and on a CI
runner (which sets ``CI=true``) a skip would let the suite pass without the check having run.  Only a test
on :data:`ALLOWED_SKIPS` may skip there, and the run lists it, with both reasons, in a section of its own.
tests/conftest.py loads this module (``-p require_all`` loads it elsewhere); an expected failure (xfail) is not a skip and is left alone.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Generator, Mapping

import pytest

VARIABLE = "CELLPIPE_REQUIRE_ALL"

#: Tests that may skip even where every test is required: pytest node id (or an fnmatch pattern of node
#: ids, ``tests/sam/*``) -> why it may.  Only checks that cannot run without a GPU belong here; any other
#: skip means a check did not run.  None of the suite's checks needs one today (the GPU paths run on the
#: CPU, and out-of-memory on a GPU is simulated by tests/site_hooks/simulated_gpu.py), so the list is empty.
ALLOWED_SKIPS: dict[str, str] = {}


def policy() -> str | None:
    """What makes every skip a failure in this environment: ``"CELLPIPE_REQUIRE_ALL=1"``, ``"CI=true"``, or None (by hand)."""
    if os.environ.get(VARIABLE) == "1":
        return f"{VARIABLE}=1"
    if os.environ.get("CI", "").lower() == "true":
        return "CI=true"
    return None


def required() -> bool:
    """True when every test must run: ``CELLPIPE_REQUIRE_ALL=1`` (make test) or ``CI=true`` (a CI runner)."""
    return policy() is not None


def allowed(nodeid: str, allow_list: Mapping[str, str]) -> str | None:
    """Why ``nodeid`` may skip when every test is required (its entry in ``allow_list``), or None."""
    for pattern, why in allow_list.items():
        if nodeid == pattern or fnmatch.fnmatchcase(nodeid, pattern):
            return why
    return None


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _message(reason: str, why_required: str) -> str:
    return f"skipped ({reason}), and {why_required} makes every skip a failure: the check did not run here"


class RequireAll:
    """The hooks, one instance per pytest run (a run inside a test, as with pytester, keeps its own lists).

    ``allow_list`` starts as :data:`ALLOWED_SKIPS`; a run may replace it on the registered instance
    (``config.pluginmanager.get_plugin("cellpipe-require-all")``), as tests/unit/test_require_all.py does."""

    def __init__(self, allow_list: Mapping[str, str]) -> None:
        self.allow_list = dict(allow_list)
        self.collection_skips: list[tuple[str, str]] = []  # turned into a failure of the session
        self.failed_skips: list[tuple[str, str]] = []  # turned into a failure of the test
        self.allowed_skips: list[tuple[str, str, str]] = []  # node id, the skip's reason, the allow-list's

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        why_required = policy()
        if why_required and report.skipped and not hasattr(report, "wasxfail"):
            reason = _reason(report)
            why_allowed = allowed(report.nodeid, self.allow_list)
            if why_allowed is not None:
                self.allowed_skips.append((report.nodeid, reason, why_allowed))
            else:
                self.failed_skips.append((report.nodeid, reason))
                report.longrepr = _message(reason, why_required)
                report.outcome = "failed"
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # a module that skips as a whole (importorskip at import, pytest.skip(allow_module_level=True)) has no test
        # report to turn into a failure, and a failed collection would stop the run: it fails the session at the end
        if required() and report.skipped:
            why_allowed = allowed(report.nodeid, self.allow_list)
            if why_allowed is not None:
                self.allowed_skips.append((report.nodeid, _reason(report), why_allowed))
            else:
                self.collection_skips.append((report.nodeid, _reason(report)))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.collection_skips and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        why_required = policy()
        if not why_required:
            return  # by hand, pytest's own summary (-ra in pyproject's addopts) lists the skips
        if self.collection_skips:
            terminalreporter.section(f"skipped at collection ({why_required}: each one fails the run)", sep="=", red=True)
            for nodeid, reason in self.collection_skips:
                terminalreporter.line(f"{nodeid}: {_message(reason, why_required)}", red=True)
        failed = self.failed_skips + self.collection_skips
        terminalreporter.section(f"skips ({why_required}: only the allow-list's may pass, tests/require_all.py)", sep="=")
        if not failed and not self.allowed_skips:
            terminalreporter.line("none: every collected test ran")
        for nodeid, reason in failed:
            terminalreporter.line(f"FAILED  {nodeid}: {reason}", red=True)
        for nodeid, reason, why_allowed in self.allowed_skips:
            terminalreporter.line(f"ALLOWED {nodeid}: {reason} (allow-list: {why_allowed})", yellow=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequireAll(ALLOWED_SKIPS), "cellpipe-require-all")
