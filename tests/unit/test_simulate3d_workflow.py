"""Simulated 3-D movies in the workflow (issue #27): the simulate3d config section, the simulate step's 3-D
OME-TIFF and CTC 3-D ground truth, and the sample sheet check of a 3-D sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellpipe.config import ConfigError, Simulation3DSettings, load_config
from cellpipe.io.ctc import read_ctc_label_stack
from cellpipe.io.movies import inspect_movie
from cellpipe.preflight import MovieSize, check_samples, volume_refusal
from cellpipe.simulate3d import simulate_movie_3d
from cellpipe.steps.simulate import simulate_movie_step

TINY = {"n_frames": 3, "shape_zyx": (6, 48, 48), "voxel_size_um": (1.5, 0.5, 0.5), "n_cells": 3,
        "nucleus_radius_um": 3.0, "radius_sd_um": 0.2, "seed": 1}


@pytest.mark.parametrize(("change", "message"), [
    ({"shape_zyx": (4, 8, 48)}, "Y, X >= 16"),
    ({"voxel_size_um": (2.0, 0.5, 0.6)}, "square pixels"),
    ({"nucleus_radius_um": 13.0, "shape_zyx": (4, 48, 48)}, "too large for a field of 48x48"),
])
def test_settings_the_simulator_would_refuse_are_refused_by_the_config(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({"simulate3d": {"m": change}})


def test_a_name_is_in_simulate_or_simulate3d() -> None:
    with pytest.raises(ConfigError, match="simulate and simulate3d both name m"):
        load_config({"simulate": {"m": {}}, "simulate3d": {"m": {}}})


def test_the_step_writes_a_3d_ome_tiff_with_the_z_step_and_ctc_3d_ground_truth(tmp_path: Path) -> None:
    movie, truth = tmp_path / "movie.ome.tif", tmp_path / "01_GT"
    simulate_movie_step(Simulation3DSettings(**TINY).model_dump(mode="json"), movie, truth)
    expected = simulate_movie_3d(Simulation3DSettings(**TINY))
    header = inspect_movie(movie, allow_z=True)
    assert header.shape_tcyx == (3, 1, 48, 48) and header.z_planes == 6
    assert header.pixel_size_z_um == pytest.approx(1.5) and header.pixel_size_um == pytest.approx(0.5)
    np.testing.assert_array_equal(tifffile.imread(movie), expected.image)
    labels = read_ctc_label_stack(truth / "TRA", volumes=True)
    np.testing.assert_array_equal(labels, expected.labels)
    assert labels.max() > 0


def test_the_sample_sheet_check_sizes_a_simulated_3d_movie_and_refuses_it_unprojected(tmp_path: Path) -> None:
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tmovie\nv\tresults/simulated/v/movie.ome.tif\n")
    config = {"samples": str(sheet), "simulate3d": {"v": TINY}}
    with pytest.raises(ConfigError, match=r"sample 'v'.*simulate3d\.v makes stacks of 6 z-planes; set ingest\.z_projection"):
        check_samples(sheet, load_config(config))
    keep = load_config({**config, "ingest": {"z_projection": "keep"}})
    sizes: dict[str, MovieSize] = {}
    check_samples(sheet, keep, sizes=sizes)
    assert sizes["v"] == MovieSize((3, 1, 48, 48), "uint16", 0.5, z_planes=6, z_step_um=1.5)  # simulate3d's z voxel
    sam = load_config({**config, "ingest": {"z_projection": "keep"},
                       "segment": {"method": "cellpose", "cellpose": {"network": "cellpose-sam", "model": "m.pth"}}})
    problem = volume_refusal("v", "results/simulated/v/movie.ome.tif", sizes["v"], sam)
    assert problem is not None and "\n" not in problem
    assert problem.startswith("sample 'v' (results/simulated/v/movie.ome.tif): a 3-D movie (6 z-planes")
    assert problem.endswith("Cellpose-SAM does not segment 3-D movies in cellpipe (untested there); use "
                            "segment.cellpose.network: cellpose3 (segment.cellpose.mode_3d: stitch or do_3d) or "
                            "segment.method: classical")
    for mode in ("stitch", "do_3d"):  # Cellpose 3 (the shipped model) segments stacks, in either mode
        cellpose = load_config({**config, "ingest": {"z_projection": "keep"},
                                "segment": {"method": "cellpose", "estimate_diameter": True,
                                            "cellpose": {"model": "weights.pth", "mode_3d": mode}}})
        assert volume_refusal("v", "m", sizes["v"], cellpose) is None
    classical = load_config({**config, "ingest": {"z_projection": "keep"}, "segment": {"method": "classical"}})
    assert volume_refusal("v", "m", sizes["v"], classical) is None  # classical 3-D segmentation is wired
    estimated = load_config({**config, "ingest": {"z_projection": "keep"},
                             "segment": {"method": "classical", "estimate_diameter": True}})
    assert volume_refusal("v", "m", sizes["v"], estimated) is None  # the diameter is estimated from stacks
    # a projection makes it 2-D, and a 2-D movie is never refused
    assert volume_refusal("v", "m", sizes["v"], load_config({**config, "ingest": {"z_projection": "max"}})) is None
    assert volume_refusal("v", "m", MovieSize((3, 1, 48, 48), "uint16", 0.5), sam) is None
