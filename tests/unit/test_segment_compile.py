"""segment.cellpose.compile: which runtime runs the network pass, and the setting's values.

That inductor's pass gives the eager masks is checked outside the main suite (capturing CPnet's graph
alone takes seconds, inductor's compiling minutes): tests/compile/check_compiled_network.py. ONNX Runtime's
pass: tests/unit/test_segment_onnxruntime.py.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cellpipe.config import CellposeSettings
from cellpipe.segment import COMPILE_MIN_MEGAPIXELS, cpp_compiler, network_runtime


@pytest.mark.parametrize(
    ("compile_", "network", "device", "megapixels", "expected"),
    [
        (True, "cellpose3", "cuda", 1, "inductor"),
        (True, "cellpose3", "cpu", 1, "inductor"),
        (False, "cellpose3", "cpu", 1e6, "torch"),
        ("auto", "cellpose3", "cpu", COMPILE_MIN_MEGAPIXELS, "onnxruntime"),
        ("auto", "cellpose3", "cpu", COMPILE_MIN_MEGAPIXELS - 0.01, "torch"),
        ("auto", "cellpose3", "cuda", 1e6, "torch"),
        ("auto", "cellpose3", "mps", 1e6, "torch"),
        ("auto", "cellpose-sam", "cpu", 1e6, "torch"),
        ("onnxruntime", "cellpose3", "cpu", 0.01, "onnxruntime"),
        ("onnxruntime", "cellpose3", "cuda", 1e6, "torch"),
        ("onnxruntime", "cellpose3", "mps", 1e6, "torch"),
    ],
)
def test_network_runtime(compile_: bool | str, network: str, device: str, megapixels: float, expected: str) -> None:
    assert network_runtime(compile_, network, device, megapixels) == expected


def test_compile_settings() -> None:
    assert CellposeSettings().compile is False
    assert CellposeSettings(compile="auto").compile == "auto"
    assert CellposeSettings(compile=True).compile is True
    assert CellposeSettings(compile="onnxruntime").compile == "onnxruntime"
    assert CellposeSettings(network="cellpose-sam", compile=False).compile is False
    with pytest.raises(ValidationError, match="compile true is for network 'cellpose3' only"):
        CellposeSettings(network="cellpose-sam", compile=True)
    with pytest.raises(ValidationError, match="compile onnxruntime is for network 'cellpose3' only"):
        CellposeSettings(network="cellpose-sam", compile="onnxruntime")
    with pytest.raises(ValidationError):
        CellposeSettings(compile="yes")


def test_true_says_why_without_a_cpp_compiler_and_auto_needs_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a C++ compiler cannot build torch.compile's CPU code: an explicit true stops with a message
    naming the missing compiler instead of failing deep inside inductor; auto and onnxruntime, which need none, run
    ONNX Runtime."""
    big = 2 * COMPILE_MIN_MEGAPIXELS
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    assert cpp_compiler() is None
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        network_runtime(True, "cellpose3", "cpu", big)
    assert network_runtime("auto", "cellpose3", "cpu", big) == "onnxruntime"
    assert network_runtime("onnxruntime", "cellpose3", "cpu", big) == "onnxruntime"
    assert network_runtime(False, "cellpose3", "cpu", big) == "torch"
