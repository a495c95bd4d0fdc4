"""BioImage Model Zoo packages (cellpipe.io.bioimageio): normalization as preprocessing, sample tensors,
the shipped model exported and passing bioimage.io's own model test offline."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import tifffile
import yaml

from cellpipe.io.bioimageio import input_preprocessing, model_folders, simulated_raw_frame
from cellpipe.normalize import NormalizeSettings, normalize_movie
from cellpipe.steps.train import export_bioimageio_step

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "resources" / "models" / "cellpipe_nuclei"


def test_the_shipped_model_folder_is_found(tmp_path: Path) -> None:
    assert model_folders(REPO / "resources" / "models") == ["cellpipe_nuclei"]
    (tmp_path / "incomplete").mkdir()
    (tmp_path / "incomplete" / "weights.pth").write_bytes(b"")
    assert model_folders(tmp_path) == [] and model_folders(tmp_path / "missing") == []


def test_normalization_settings_become_the_input_preprocessing() -> None:
    movie = [d.model_dump(mode="json") for d in input_preprocessing(NormalizeSettings())]
    assert movie == [
        {"id": "scale_range", "kwargs": {"axes": ["z", "y", "x"], "min_percentile": 1.0, "max_percentile": 99.8,
                                         "eps": 1e-6, "reference_tensor": None}}
    ]
    frame = input_preprocessing(NormalizeSettings(mode="frame", low_percentile=2, high_percentile=99, clip=True))
    frame = [d.model_dump(mode="json") for d in frame]
    assert frame[0]["kwargs"]["axes"] == ["y", "x"]
    assert (frame[0]["kwargs"]["min_percentile"], frame[0]["kwargs"]["max_percentile"]) == (2.0, 99.0)
    assert frame[1]["id"] == "clip" and (frame[1]["kwargs"]["min"], frame[1]["kwargs"]["max"]) == (0.0, 1.0)


def test_the_shipped_model_exports_and_passes_the_bioimageio_model_test(tmp_path: Path) -> None:
    """The export step on the shipped weights, sockets blocked: the test input is the RAW frame and the
    expected outputs come from cellpipe's own normalization, so bioimage.io's model test (both weight
    formats) passes only when the package's preprocessing reproduces it."""
    package = tmp_path / "cellpipe_nuclei.zip"
    result = export_bioimageio_step(
        SHIPPED / "weights.pth", SHIPPED / "model_card.md", SHIPPED / "training.json", package,
        test_frame_px=64, origin="shipped",
    )
    assert result["status"] == "passed"
    assert not [c for c in result["checks"] if not c.startswith("passed: ")]
    for weights in ("pytorch_state_dict", "torchscript"):
        assert f"passed: Reproduce test outputs from test inputs ({weights})" in result["checks"]
    # the FAIR warnings about missing sample tensors are gone
    assert not [w for w in result["warnings"] if "sample_tensor" in w], result["warnings"]

    with zipfile.ZipFile(package) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        (raw_input,) = rdf["inputs"]
        test_input = np.load(io.BytesIO(z.read(raw_input["test_tensor"]["source"])))
        sample_input = tifffile.imread(io.BytesIO(z.read(raw_input["sample_tensor"]["source"])))
        for tensor in rdf["outputs"]:
            assert tensor["sample_tensor"]["source"].endswith(".tif")
            assert tifffile.imread(io.BytesIO(z.read(tensor["sample_tensor"]["source"]))).size > 0
        documentation = rdf["documentation"]
        doc = z.read(documentation["source"] if isinstance(documentation, dict) else documentation).decode()
        names = set(z.namelist())
    # (bioimageio.spec adds ensure_dtype float32 steps around it)
    assert [step for step in raw_input["preprocessing"] if step["id"] != "ensure_dtype"] == [
        {"id": "scale_range", "kwargs": {"axes": ["z", "y", "x"], "min_percentile": 1.0, "max_percentile": 99.8}}
    ]
    # the test input is raw camera counts (the shipped model's normalization happens in the package) ...
    raw = simulated_raw_frame(30.0, size=64)
    assert test_input.shape == (1, 2, 64, 64) and test_input.max() > 100
    np.testing.assert_array_equal(test_input[0, 0], raw)
    assert not test_input[0, 1].any()
    np.testing.assert_array_equal(sample_input, np.stack([raw, np.zeros_like(raw)]))
    # ... which cellpipe's normalize stage maps to [0, 1] at its percentiles
    normalized, _ = normalize_movie(raw[None, None], NormalizeSettings())
    assert abs(np.percentile(normalized, 99.8) - 1) < 1e-5 and abs(np.percentile(normalized, 1)) < 1e-5
    # documentation: the differences from cellpipe's normalization and the shipped model's provenance
    assert "What differs from cellpipe" in doc and "scale_range" in doc and "over the whole movie" in doc
    assert "## Provenance" in doc and "licence-clean" in doc and "b463b52f3330aa93" in doc
    assert rdf["license"] == "BSD-3-Clause" and "shipped with cellpipe" in rdf["description"]
    assert {"training.json", "training_curve.tsv"} <= {Path(a["source"]).name for a in rdf["attachments"]}
    assert {"training.json", "training_curve.tsv", "model_card.md", "weights.pth"} <= names
    assert rdf["config"]["cellpipe"]["normalization"]["mode"] == "movie"
