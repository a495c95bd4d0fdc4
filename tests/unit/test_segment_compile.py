"""segment.cellpose.compile: which runtime runs the network pass, and the setting's values.

That inductor's pass gives the eager masks is checked outside the main suite (capturing CPnet's graph
alone takes seconds, inductor's compiling minutes): tests/compile/check_compiled_network.py. ONNX Runtime's
pass: tests/unit/test_segment_onnxruntime.py.
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from cellpipe.config import CellposeSettings
from cellpipe.segment import cpp_compiler, network_runtime
from cellpipe.segment.runtime import COMPILE_MIN_MEGAPIXELS


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
    assert CellposeSettings().compile == "auto"
    assert CellposeSettings(compile=False).compile is False
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


def test_a_3d_record_names_the_runtime_its_planes_run_through() -> None:
    """segmentation.json of a 3-D movie: 'stitch' runs its planes through the runtime the 2-D path picks for the
    stack's planes (auto: by their megapixels after rescaling), 'do_3d' and one-plane stacks through torch."""
    from importlib.metadata import version
    from pathlib import Path

    from cellpipe.segment import cellpose_stack_info, load_cellpose_model

    shipped = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"
    model = load_cellpose_model(shipped, "cpu")
    voxel = (2.0, 0.5, 0.5)  # a diameter of 15 µm is 30 px of the plane: the model's own, no rescaling

    def runtime(compile_: bool | str, mode: str, shape: tuple[int, int, int] | None) -> tuple[object, object]:
        settings = CellposeSettings(model=str(shipped), mode_3d=mode, compile=compile_)
        info = cellpose_stack_info(settings, model, voxel, 15.0, shape)
        return info.get("network_runtime"), info.get("onnxruntime_version")

    ort = version("onnxruntime")
    planes_for_auto = math.ceil(COMPILE_MIN_MEGAPIXELS * 1e6 / (512 * 512))  # 50: the bound itself
    assert runtime("onnxruntime", "stitch", (16, 96, 96)) == ("onnxruntime", ort)
    assert runtime("onnxruntime", "do_3d", (16, 96, 96)) == ("torch", None)
    assert runtime("onnxruntime", "stitch", (1, 96, 96)) == ("torch", None)
    assert runtime(False, "stitch", (16, 96, 96)) == ("torch", None)
    assert runtime("auto", "stitch", (16, 96, 96)) == ("torch", None)
    assert runtime("auto", "stitch", (planes_for_auto, 512, 512)) == ("onnxruntime", ort)
    assert runtime("auto", "stitch", (planes_for_auto - 1, 512, 512)) == ("torch", None)
    assert runtime("onnxruntime", "stitch", None) == (None, None)
