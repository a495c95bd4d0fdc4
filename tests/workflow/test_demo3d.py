"""The 3-D demo (bench/configs/demo3d.yaml, issue #27): a simulated z-stack movie through ingest and normalize,
and the one-line refusal of the stages that do not take 3-D movies yet, before any job runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from cellpipe.io import omezarr

from conftest import REPO, default_config, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow


def test_the_3d_demo_runs_through_normalize_and_segmentation_is_refused(tmp_path: Path) -> None:
    demo = yaml.safe_load((REPO / "bench" / "configs" / "demo3d.yaml").read_text())
    config = {**default_config(), **demo, "simulate": {}, "samples": "config/samples.tsv"}
    workdir = write_workdir(tmp_path / "work", config, (REPO / "bench" / "configs" / "demo3d_samples.tsv").read_text())
    settings = demo["simulate3d"]["demo3d"]

    proc = run_snakemake(workdir, "results/demo3d/normalized.zarr", timeout=300)

    assert proc.returncode == 0, proc.stderr[-4000:]
    image = omezarr.open_ome_image(workdir / "results" / "demo3d" / "image.ome.zarr")
    z, y, x = settings["shape_zyx"]
    assert image.axes == "tczyx" and image.data.shape == (settings["n_frames"], 1, z, y, x)
    assert image.pixel_size_z_um == pytest.approx(settings["voxel_size_um"][0])
    assert image.pixel_size_um == pytest.approx(settings["voxel_size_um"][2])
    normalized = omezarr.open_zarr_array(workdir / "results" / "demo3d" / "normalized.zarr")
    assert normalized.shape == image.data.shape and normalized.chunks == (1, 1, z, y, x)
    raw = image.data[:].astype(np.float64)
    low, high = np.percentile(raw, (1.0, 99.8))  # per movie, every voxel (far fewer than max_sample_pixels)
    np.testing.assert_allclose(normalized[:], (raw - low) / (high - low), rtol=1e-5, atol=1e-5)

    refused = run_snakemake(workdir, "-n", timeout=300)  # rule all: segmentation and what follows
    said = refused.stdout + refused.stderr  # a dry run reports on stdout
    assert refused.returncode != 0
    assert ("cellpipe: sample 'demo3d' (results/simulated/demo3d/movie.ome.tif): a 3-D movie (8 z-planes per stack, "
            "ingest.z_projection: keep); 3-D segmentation is not wired yet") in said, said[-3000:]
    assert "Job stats" not in said  # refused while the DAG was built: no job planned
