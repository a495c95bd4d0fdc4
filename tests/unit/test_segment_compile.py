"""segment.cellpose.compile: when the network pass is compiled, and the setting's values.

That the compiled pass gives the eager masks is checked outside the main suite (capturing CPnet's graph
alone takes seconds, inductor's compiling minutes): tests/compile/check_compiled_network.py.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cellpipe.config import CellposeSettings
from cellpipe.segment import COMPILE_MIN_MEGAPIXELS, cpp_compiler, resolve_compile


@pytest.mark.parametrize(
    ("compile_", "network", "device", "megapixels", "expected"),
    [
        (True, "cellpose3", "cuda", 1, True),
        (True, "cellpose3", "cpu", 1, True),
        (False, "cellpose3", "cpu", 1e6, False),
        ("auto", "cellpose3", "cpu", COMPILE_MIN_MEGAPIXELS, True),
        ("auto", "cellpose3", "cpu", COMPILE_MIN_MEGAPIXELS - 0.01, False),
        ("auto", "cellpose3", "cuda", 1e6, False),
        ("auto", "cellpose3", "mps", 1e6, False),
        ("auto", "cellpose-sam", "cpu", 1e6, False),
    ],
)
def test_resolve_compile(compile_: bool | str, network: str, device: str, megapixels: float, expected: bool) -> None:
    assert resolve_compile(compile_, network, device, megapixels) is expected


def test_compile_settings() -> None:
    assert CellposeSettings().compile is False
    assert CellposeSettings(compile="auto").compile == "auto"
    assert CellposeSettings(compile=True).compile is True
    assert CellposeSettings(network="cellpose-sam", compile=False).compile is False
    with pytest.raises(ValidationError, match="compile true is for network 'cellpose3' only"):
        CellposeSettings(network="cellpose-sam", compile=True)
    with pytest.raises(ValidationError):
        CellposeSettings(compile="yes")


def test_auto_stays_eager_and_true_says_why_without_a_cpp_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a C++ compiler cannot build torch.compile's CPU code: auto segments eagerly there, and an
    explicit true stops with a message naming the missing compiler instead of failing deep inside inductor."""
    big = 2 * COMPILE_MIN_MEGAPIXELS
    assert resolve_compile("auto", "cellpose3", "cpu", big) is (cpp_compiler() is not None)
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    assert cpp_compiler() is None
    assert resolve_compile("auto", "cellpose3", "cpu", big) is False
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        resolve_compile(True, "cellpose3", "cpu", big)
    assert resolve_compile(False, "cellpose3", "cpu", big) is False
