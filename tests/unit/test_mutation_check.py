"""The mutation check (tools/mutation_check.py) stays runnable as the code moves: every planted bug's snippet
occurs exactly once in its file and its test files exist.  Whether the tests catch each bug is the check's own
run (about a minute, by hand: ``.venv/bin/python tools/mutation_check.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "mutation_check.py"


def _tool():
    spec = importlib.util.spec_from_file_location("mutation_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_every_planted_bug_still_finds_its_line_and_tests() -> None:
    tool = _tool()
    assert len(tool.MUTANTS) >= 10
    tool.check_mutants(tool.MUTANTS)  # exits (status 2) naming the mutant whose line moved


@pytest.mark.parametrize(("path", "original", "problem"), [
    (None, "\n", "'\\n' occurs"),
    ("src/cellpipe/moved_away.py", "x", "no file src/cellpipe/moved_away.py"),
])
def test_a_snippet_not_found_once_stops_the_check(
    capsys: pytest.CaptureFixture[str], path: str | None, original: str, problem: str
) -> None:
    tool = _tool()
    first = tool.MUTANTS[0]
    moved = tool.Mutant(first.name, path or first.path, original, original + " ", first.tests, first.why)
    with pytest.raises(SystemExit) as stopped:
        tool.check_mutants((moved,))
    assert stopped.value.code == 2
    assert f"{first.name}: {problem}" in capsys.readouterr().err


def test_a_replacement_that_does_not_compile_stops_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    """A bug that breaks the syntax would fail its tests at import and count as caught without testing anything."""
    tool = _tool()
    first = tool.MUTANTS[0]
    broken = tool.Mutant(first.name, first.path, first.original, first.original + " (", first.tests, first.why)
    with pytest.raises(SystemExit) as stopped:
        tool.check_mutants((broken,))
    assert stopped.value.code == 2
    assert f"{first.name}: {first.path} does not compile with the replacement" in capsys.readouterr().err
