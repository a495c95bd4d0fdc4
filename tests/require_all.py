"""pytest plugin: with ``CELLPIPE_REQUIRE_ALL=1`` in the environment every skipped test fails, with the skip's reason.

Some checks skip where the machine lacks what they need (root for SLURM and a tmpfs, chromium, memory,
../shared beside the checkout).  Run by hand, that is what a developer wants; in ``make test`` (CI) a
skip would let the suite pass without the check having run, so the Makefile sets the variable.
tests/conftest.py loads this module (``-p require_all`` loads it elsewhere); an expected failure (xfail) is not a skip and is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

VARIABLE = "CELLPIPE_REQUIRE_ALL"


def required() -> bool:
    """True when the environment asks that every test run (``CELLPIPE_REQUIRE_ALL=1``)."""
    return os.environ.get(VARIABLE) == "1"


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _message(reason: str) -> str:
    return f"skipped ({reason}), and {VARIABLE}=1 makes every skip a failure: the check did not run here"


class RequireAll:
    """The hooks, one instance per pytest run (a run inside a test, as with pytester, keeps its own list)."""

    def __init__(self) -> None:
        self.collection_skips: list[tuple[str, str]] = []

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if required() and report.skipped and not hasattr(report, "wasxfail"):
            report.longrepr = _message(_reason(report))
            report.outcome = "failed"
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # a module that skips as a whole (importorskip at import, pytest.skip(allow_module_level=True)) has no test
        # report to turn into a failure, and a failed collection would stop the run: it fails the session at the end
        if required() and report.skipped:
            self.collection_skips.append((report.nodeid, _reason(report)))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.collection_skips and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.collection_skips:
            terminalreporter.section(f"skipped at collection ({VARIABLE}=1: each one fails the run)", sep="=", red=True)
            for nodeid, reason in self.collection_skips:
                terminalreporter.line(f"{nodeid}: {_message(reason)}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequireAll(), "cellpipe-require-all")
