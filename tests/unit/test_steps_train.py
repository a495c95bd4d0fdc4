"""Tests of the train.smk rules' entry points (cellpipe.steps.train): a tiny training run, the shipped model's bioimage.io package."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from annotation_helpers import blobs

from cellpipe.config import NormalizeSettings
from cellpipe.io.annotations import read_annotations
from cellpipe.normalize import normalize_movie
from cellpipe.steps.train import export_bioimageio_step
from cellpipe.train import build_network, prepare_examples
from cellpipe.train.bioimageio import simulated_raw_frame


def test_tiny_training_reduces_the_loss_and_writes_a_loadable_model(tmp_path: Path) -> None:
    import torch

    from cellpipe.segment import load_cellpose_model
    from cellpipe.steps.train import train_cellpose_step
    from cellpipe.train import _validation_loss

    rng = np.random.default_rng(0)
    centres = [(int(y), int(x), 6, 6) for y, x in rng.integers(10, 86, size=(40, 2))]
    image, labels = blobs(shape=(96, 96), centres=centres[:8])
    image += rng.normal(0, 5, image.shape).astype(np.float32)
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "mask.tif", labels.astype(np.uint16))
    settings = {
        "datasets": [{"images": str(tmp_path / "img.tif"), "labels": str(tmp_path / "mask.tif"), "role": "train"}],
        "n_epochs": 12, "samples_per_epoch": 8, "batch_size": 4, "tile_px": 64, "diam_mean_px": 12.0,
        "learning_rate": 0.01, "warmup_epochs": 1, "validation_fraction": 0.0,
    }
    out = tmp_path / "model"
    train_cellpose_step(
        "tiny", {"train": settings, "normalize": NormalizeSettings().model_dump()}, out / "weights.pth", out / "model_card.md",
        out / "training.json", out / "training_curve.tsv", threads=2,
    )
    record = json.loads((out / "training.json").read_text())
    card = (out / "model_card.md").read_text()
    assert record["weights_sha256"] in card and "AP@0.5" in card and "Only completely annotated frames" in card
    assert record["versions"]["cellpose"] == "3.1.1.2" and record["n_train_images"] == 1
    assert record["init_model_sha256"] is None and "Trained from scratch" in card
    model = load_cellpose_model(out / "weights.pth", "cpu")
    assert float(model.diam_mean) == pytest.approx(12.0)

    from cellpipe.config import TrainSettings as TS

    ts = TS.model_validate(settings)
    examples, _ = prepare_examples(
        read_annotations(tmp_path / "img.tif", tmp_path / "mask.tif").images, [0], ["train"], NormalizeSettings()
    )
    before = _validation_loss(build_network(12.0, None, "cpu", seed=0), examples, ts, "cpu")
    trained = build_network(12.0, out / "weights.pth", "cpu", seed=0)
    after = _validation_loss(trained, examples, ts, "cpu")
    assert after < 0.7 * before, (before, after)
    curve = (out / "training_curve.tsv").read_text().splitlines()
    assert curve[0].split("\t")[:3] == ["epoch", "learning_rate", "train_loss"] and len(curve) == 13
    torch.set_num_threads(2)


REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "resources" / "models" / "cellpipe_nuclei"


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
