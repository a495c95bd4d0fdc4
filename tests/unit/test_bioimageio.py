"""BioImage Model Zoo packages (cellpipe.io.bioimageio): normalization as preprocessing, sample tensors.
The shipped model exported by rule export_bioimageio's step is tested in test_steps_train.py."""

from __future__ import annotations

from pathlib import Path

from cellpipe.config import NormalizeSettings
from cellpipe.io.bioimageio import input_preprocessing, model_folders

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
