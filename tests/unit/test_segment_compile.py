"""segment.cellpose.compile: when the network pass is compiled, and the setting's values.

That the compiled pass gives the eager masks is checked outside the main suite (capturing CPnet's graph
alone takes seconds, inductor's compiling minutes): tests/compile/check_compiled_network.py.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cellpipe.config import CellposeSettings
from cellpipe.segment import COMPILE_MIN_MEGAPIXELS, resolve_compile


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
    assert CellposeSettings().compile == "auto"
    assert CellposeSettings(compile=True).compile is True
    assert CellposeSettings(network="cellpose-sam", compile=False).compile is False
    with pytest.raises(ValidationError, match="compile true is for network 'cellpose3' only"):
        CellposeSettings(network="cellpose-sam", compile=True)
    with pytest.raises(ValidationError):
        CellposeSettings(compile="yes")
