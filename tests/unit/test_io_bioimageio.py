"""The BioImage Model Zoo package format (cellpipe.io.bioimageio): model folders, normalization as preprocessing.
What a package holds is tested in test_train_bioimageio.py; the shipped model exported by rule
export_bioimageio's step in test_steps_train.py."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from cellpipe.config import NormalizeSettings
from cellpipe.io.bioimageio import input_preprocessing, model_folders, write_bioimageio_package

REPO = Path(__file__).resolve().parents[2]


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


def _package_args() -> dict:
    """A package's parts without running the network: the writer does not look at the values (random, as
    bioimage.io refuses test tensors that are all zero)."""
    import torch

    shipped = REPO / "resources" / "models" / "cellpipe_nuclei"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 32, 32), dtype=np.float32)
    outputs = [rng.standard_normal(shape, dtype=np.float32) for shape in ((1, 3, 32, 32), (1, 256))]
    outputs += [rng.standard_normal((1, 32 * 2**i, 32 >> i, 32 >> i), dtype=np.float32) for i in range(4)]
    return dict(
        weights=shipped / "weights.pth", architecture_kwargs={"nbase": [2, 32, 64, 128, 256]},
        torchscript=torch.jit.script(torch.nn.Identity()), model_card=shipped / "model_card.md",
        notes="## Notes\n", name="cellpipe test", description="a test package", authors=[{"name": "someone"}],
        license_id="BSD-3-Clause", test_input=x, sample_input=np.zeros((2, 32, 32), dtype=np.uint16),
        test_outputs=outputs, cover_png=b"\x89PNG not drawn", preprocessing=input_preprocessing(NormalizeSettings()),
        config={"cellpipe": {"diam_mean_px": 30.0}},
    )


def test_a_package_is_written_checked_and_left_out_when_its_check_fails(tmp_path: Path) -> None:
    args = _package_args()
    output = tmp_path / "out" / "m.zip"
    output.parent.mkdir()
    seen: dict = {}

    def refuse(package: Path) -> None:
        assert package.name == "m.zip" and package.parent != output.parent
        with zipfile.ZipFile(package) as z:
            seen["rdf"] = yaml.safe_load(z.read("rdf.yaml"))
            seen["names"] = set(z.namelist())
            seen["doc"] = z.read("model_card.md").decode()
            seen["cover"] = z.read("cover.png")
        raise ValueError("check failed")

    with pytest.raises(ValueError, match="check failed"):
        write_bioimageio_package(output, **args, check=refuse)
    assert list(output.parent.iterdir()) == []  # a failed check leaves no zip under the final name
    assert {"weights.pth", "bioimageio_cpnet.py", "test_input.npy", "test_output.npy", "sample_input.tif",
            "cellpose_torchscript.pt", "environment.yaml"} <= seen["names"]
    assert seen["cover"] == args["cover_png"] and seen["doc"].endswith("\n\n## Notes\n")
    rdf = seen["rdf"]
    assert rdf["config"] == {"cellpipe": {"diam_mean_px": 30.0}} and rdf["authors"] == [{"name": "someone"}]
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["callable"] == "CellposeCPnet"
