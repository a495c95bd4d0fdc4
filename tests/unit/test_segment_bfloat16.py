"""segment.cellpose.precision: bfloat16 runs Cellpose 3's CPnet under torch's bfloat16 autocast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from cellpipe.config import CellposeSettings, SegmentSettings
from cellpipe.metrics import instance_scores
from cellpipe.segment import AutocastNetwork, load_cellpose_model, network_precision, network_runtime, resolve_precision, segment_cells
from cellpipe.segment.runtime import COMPILE_MIN_MEGAPIXELS

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


@pytest.fixture(scope="module")
def frames(six_nuclei_frames: tuple[np.ndarray, float]) -> tuple[np.ndarray, float]:
    """The session's six simulated nuclei in 3 normalized frames, and the pixel size (µm)."""
    return six_nuclei_frames


def test_bfloat16_settings_for_cellpose3() -> None:
    """bfloat16 is a Cellpose 3 setting too; it runs through torch, so the runtimes that export or compile the
    float32 network are refused with it, and auto gives torch even for a movie ONNX Runtime would take."""
    assert CellposeSettings(precision="bfloat16").precision == "bfloat16"
    assert CellposeSettings(precision="bfloat16", compile=False).compile is False
    with pytest.raises(ValidationError, match="precision 'bfloat16' runs the network through torch; compile true"):
        CellposeSettings(precision="bfloat16", compile=True)
    with pytest.raises(ValidationError, match="compile onnxruntime cannot run it"):
        CellposeSettings(precision="bfloat16", compile="onnxruntime")
    assert resolve_precision("bfloat16", "cellpose3", "cpu") == "bfloat16"
    assert resolve_precision("bfloat16", "cellpose3", "cuda") == "bfloat16"
    assert resolve_precision("auto", "cellpose3", "cpu") == "float32"
    with pytest.raises(ValueError, match="not on MPS"):
        resolve_precision("bfloat16", "cellpose3", "mps")
    big = 2 * COMPILE_MIN_MEGAPIXELS
    assert network_runtime("auto", "cellpose3", "cpu", big) == "onnxruntime"
    assert network_runtime("auto", "cellpose3", "cpu", big, "bfloat16") == "torch"


def test_the_wrapped_network_computes_in_bfloat16_and_answers_in_float32() -> None:
    """The wrapper's outputs are float32 tensors that differ from the float32 network's by bfloat16 rounding
    (so the bfloat16 kernels ran), and stay close to them."""
    model32 = load_cellpose_model(SHIPPED, "cpu")
    model16 = load_cellpose_model(SHIPPED, "cpu", precision="bfloat16")
    assert not isinstance(model32.net, AutocastNetwork)
    assert isinstance(model16.net, AutocastNetwork)
    assert network_precision(model32) == "float32"
    assert network_precision(model16) == "bfloat16"
    assert model16.net.nout == model32.net.nout and model16.net.device == model32.net.device
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 2, 64, 64)).astype(np.float32))
    with torch.no_grad():
        y32, style32 = model32.net(x)[:2]
        y16, style16 = model16.net.eval()(x)
    assert y16.dtype == torch.float32 and style16.dtype == torch.float32
    assert y16.shape == y32.shape and style16.shape == style32.shape
    difference = float((y16 - y32).abs().max())
    assert 1e-4 < difference < 0.1 * float(y32.abs().max())


def test_bfloat16_keeps_the_float32_masks_and_says_so(frames) -> None:
    """On simulated nuclei the bfloat16 pass finds the same nuclei as float32, in the workflow's path
    (segment_cells) and in Cellpose's own eval (the path of 3-D stacks); segmentation.json names bfloat16
    and torch."""
    images, pixel_size = frames

    def run(precision: str) -> tuple[np.ndarray, dict]:
        settings = SegmentSettings(
            method="cellpose", diameter_um=10.0,
            cellpose={"model": str(SHIPPED), "device": "cpu", "precision": precision},
        )
        return segment_cells(images, settings, pixel_size)

    labels32, info32 = run("float32")
    labels16, info16 = run("bfloat16")
    assert (info32["precision"], info16["precision"]) == ("float32", "bfloat16")
    assert info16["network_runtime"] == "torch"
    for a, b in zip(labels32, labels16, strict=True):
        assert a.max() >= 4
        assert instance_scores(a, b)["0.5"]["ap"] == 1.0
    model32 = load_cellpose_model(SHIPPED, "cpu")
    model16 = load_cellpose_model(SHIPPED, "cpu", precision="bfloat16")
    diameter = 10.0 / pixel_size
    own32 = model32.eval(images[0], channels=[0, 0], diameter=diameter)[0]
    own16 = model16.eval(images[0], channels=[0, 0], diameter=diameter)[0]
    assert own32.max() >= 4
    assert instance_scores(own32, own16)["0.5"]["ap"] == 1.0


@pytest.mark.parametrize("units", [False, True])
def test_emulated_bfloat16_is_named_in_a_warning(units: bool, monkeypatch, caplog) -> None:
    """On a CPU without bfloat16 units the model load warns that the arithmetic is emulated (1.6-10x slower
    there, bench/RESULTS.md), naming the setting; with the units, or in float32, it says nothing."""
    import cellpipe.segment.device

    monkeypatch.setattr(cellpipe.segment.device, "cpu_has_bfloat16_units", lambda: units)
    with caplog.at_level("WARNING", logger="cellpipe.segment"):
        load_cellpose_model(SHIPPED, "cpu")
        assert not caplog.records
        load_cellpose_model(SHIPPED, "cpu", precision="bfloat16")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if units:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert "segment.cellpose.precision is bfloat16" in warnings[0]
        assert "emulated" in warnings[0]
