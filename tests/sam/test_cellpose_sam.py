"""Cellpose-SAM (cellpose 4) through cellpipe's segmentation, in the .venv-sam environment.

No Cellpose-SAM weights can be fetched here, so the model is Cellpose 4's own network
(``cellpose.vit.CPSAM``, ViT-L, 1.2 GB) with seeded random weights, saved as a local file: its
masks mean nothing, but they are many and irregular, which makes "the same masks as Cellpose's
own eval" a strict check of cellpipe's driving of cellpose 4 (channels, 256 px tiles, rescaling,
batching, dynamics).  One 256 px tile costs about 10 s on 2 CPU cores, so frames are tiny.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.segmentation import relabel_sequential

from cellpipe.config import SegmentSettings
from cellpipe.io import omezarr
from cellpipe.segment import load_cellpose_model, model_file_network, segment_cells

from conftest import REPO, default_config, run_snakemake, snakemake_env, write_workdir

SHIPPED = REPO / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


@pytest.fixture(scope="session")
def sam_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded, randomly initialised Cellpose-SAM network saved as a local model file."""
    import torch
    from cellpose.vit import CPSAM

    path = tmp_path_factory.mktemp("cpsam") / "random_cpsam.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = CPSAM(dtype=torch.float32)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def loaded(sam_model: Path):
    return load_cellpose_model(sam_model, "cpu", network="cellpose-sam")


def _frames() -> np.ndarray:
    """Two 72 x 88 px frames of blurred bright disks on noise (normalized units)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:72, :88]
    frames = []
    for t in range(2):
        image = 0.05 * rng.standard_normal((72, 88))
        for cy, cx in [(20 + t, 22), (48, 60 - t), (30, 66)]:
            image += ((yy - cy) ** 2 + (xx - cx) ** 2 < 81).astype(float)
        frames.append(ndi.gaussian_filter(image, 1.0))
    return np.asarray(frames, dtype=np.float32)


def _settings(model: Path, **cellpose) -> SegmentSettings:
    options = {"network": "cellpose-sam", "model": str(model), "cellprob_threshold": -6.0, "flow_threshold": 0.0, "min_size_px": 0}
    # no object filters: the masks are compared with cellpose's own, which has none
    return SegmentSettings.model_validate(
        {"method": "cellpose", "diameter_px": 20.0, "filters": {"min_area_fraction": None}, "cellpose": {**options, **cellpose}}
    )


def test_the_installed_cellpose_is_4() -> None:
    from cellpipe.versions import package_version

    assert package_version("cellpose").startswith("4.")


def test_same_masks_as_cellposes_own_eval(sam_model: Path, loaded) -> None:
    """Two frames in one batch of network passes (batch_size 2) give exactly the masks that
    ``CellposeModel.eval`` gives frame by frame with the same diameter and thresholds."""
    frames = _frames()
    labels, info = segment_cells(frames, _settings(sam_model, batch_size=2), 1.0, model=loaded)
    assert info["network"] == "cellpose-sam" and info["cellpose_version"].startswith("4.")
    assert info["tile_px"] == 256 and info["model_diam_mean_px"] == 30.0 and info["diameter_px"] == 20.0
    assert info["precision"] == "float32" and info["device"] == "cpu" and info["batch_size"] == 2
    assert info["model_path"] == str(sam_model.resolve())
    for t, frame in enumerate(frames):
        reference = loaded.eval(
            frame, diameter=20.0, normalize={"normalize": False}, flow_threshold=0.0,
            cellprob_threshold=-6.0, min_size=0, batch_size=1,
        )[0]
        expected, _, _ = relabel_sequential(np.asarray(reference).astype(np.uint32))
        assert labels[t].max() >= 5, "the random network still draws many masks: the comparison is not empty"
        np.testing.assert_array_equal(labels[t], expected)


def test_model_of_the_other_generation_is_refused(sam_model: Path, tmp_path: Path) -> None:
    """A Cellpose 3 file under network 'cellpose-sam', or the other way round, stops with the file
    named and what to change, before Cellpose is asked to load it."""
    assert model_file_network(sam_model) == "cellpose-sam"
    with pytest.raises(ValueError, match=r"holds a Cellpose 3 \(CPnet\) model, but segment.cellpose.network is 'cellpose-sam'"):
        load_cellpose_model(SHIPPED, "cpu", network="cellpose-sam")
    with pytest.raises(RuntimeError, match="needs cellpose 3, but cellpose 4"):
        load_cellpose_model(SHIPPED, "cpu", network="cellpose3")
    with pytest.raises(FileNotFoundError, match="does not fall back to downloading"):
        load_cellpose_model(tmp_path / "cpsam_typo", "cpu", network="cellpose-sam")


def test_builtin_cpsam_is_fetched_only_when_named_and_fails_clearly_offline(tmp_path: Path) -> None:
    """With sockets blocked and an empty model folder, naming 'cpsam' really tries the download,
    which is refused, and the error says what to do instead; nothing is left behind."""
    env = snakemake_env(block_network=True)
    env["CELLPOSE_LOCAL_MODELS_PATH"] = str(tmp_path)
    code = "from cellpipe.segment import load_builtin_cellpose_model as load; load('cpsam', 'cpu', 'cellpose-sam')"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert f"Cellpose built-in model 'cpsam' is not in {tmp_path} and could not be downloaded" in proc.stderr
    assert "network access blocked" in proc.stderr
    assert [f for f in tmp_path.rglob("*") if f.is_file() and f.stat().st_size > 0] == []


def test_the_segment_rule_runs_cellpose_sam(sam_model: Path, tmp_path: Path) -> None:
    """The workflow's own rule, selected by segment.cellpose.network, on a tiny simulated movie,
    sockets blocked: the run record says which network, cellpose and model did the work."""
    config = default_config()
    config["simulate"] = {"tiny": {"n_frames": 2, "shape": [64, 64], "n_cells": 2, "seed": 3}}
    config["segment"]["cellpose"].update(
        {"network": "cellpose-sam", "model": str(sam_model), "cellprob_threshold": -6.0, "flow_threshold": 0.0}
    )
    samples = "sample\tmovie\tground_truth\ntiny\tresults/simulated/tiny/movie.ome.tif\t\n"
    workdir = write_workdir(tmp_path, config, samples)
    proc = run_snakemake(workdir, "results/tiny/segmentation.json")
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads((workdir / "results" / "tiny" / "segmentation.json").read_text())
    assert info["network"] == "cellpose-sam" and info["cellpose_version"].startswith("4.")
    assert info["model_path"] == str(sam_model.resolve()) and info["tile_px"] == 256
    labels = omezarr.open_ome_image(workdir / "results" / "tiny" / "image.ome.zarr" / "labels" / "cells")
    assert labels.data.shape == (2, 64, 64) and int(np.asarray(labels.data).max()) > 0
    assert "segmented frame 2 of 2" in (workdir / "results" / "logs" / "segment_frames" / "tiny.part0.log").read_text()
