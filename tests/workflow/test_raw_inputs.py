"""Raw files straight from the microscope (issue #26): a z-stack movie runs through the 2-D pipeline with
``ingest.z_projection``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from cellpipe.io import omezarr, tables
from cellpipe.simulate import make_nuclei_movie

from conftest import default_config, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow

OME_UNITS = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0, "TimeIncrementUnit": "min"}


def small_config() -> dict:
    config = default_config()
    config["simulate"] = {}
    config["segment"]["method"] = "classical"
    return config


def test_a_z_stack_movie_runs_through_ingest_normalize_and_segment_with_a_max_projection(tmp_path: Path) -> None:
    """3 frames of 48x64 px, 3 z-planes: nuclei in focus in the middle plane, blurred and dimmer above and
    below.  The max projection is ingested, normalized and segmented (classical), and the image records it."""
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    focus = make_nuclei_movie(n_frames=3, shape=(48, 64), seed=0).image
    blurred = np.stack([ndimage.gaussian_filter(f.astype(np.float64), 3.0) * 0.5 for f in focus]).astype(np.uint16)
    stack = np.stack([blurred, focus, blurred], axis=1)  # (T, Z, Y, X)
    tifffile.imwrite(workdir / "data" / "stack.ome.tif", stack, ome=True, metadata={"axes": "TZYX", **OME_UNITS})
    config = small_config()
    config["ingest"]["z_projection"] = "max"
    write_workdir(workdir, config, "sample\tmovie\nzs\tdata/stack.ome.tif\n")

    proc = run_snakemake(workdir, "results/zs/segmentation.json", timeout=300)

    assert proc.returncode == 0, proc.stderr[-4000:]
    image = omezarr.open_ome_image(workdir / "results/zs/image.ome.zarr")
    np.testing.assert_array_equal(np.asarray(image.data)[:, 0], stack.max(axis=1))
    assert image.attrs["z_projection"] == {"method": "max", "setting": "max", "z_planes": 3}
    labels = np.asarray(omezarr.open_ome_image(workdir / "results/zs/image.ome.zarr/labels/cells").data)
    assert labels.shape == (3, 48, 64) and all(frame.max() >= 1 for frame in labels)
    assert tables.read_json(workdir / "results/zs/segmentation.json")["n_frames"] == 3
