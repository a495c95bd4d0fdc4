"""Entry point of the ``simulate_movie`` rule: a simulated movie (OME-TIFF, pixel size in µm, frame interval in
minutes) and its Cell Tracking Challenge ground truth."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cellpipe.io.movies import write_ome_tiff

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def simulate_movie_step(settings: dict[str, Any], movie: PathLike, truth: PathLike) -> None:
    """Simulate a movie, write it as OME-TIFF (with pixel size and frame interval) and its CTC ground truth.

    ``settings`` of a ``simulate3d`` entry (:class:`cellpipe.config.Simulation3DConfig`, told apart by its
    ``shape_zyx``) make a 3-D movie: (T, Z, Y, X) with ``PhysicalSizeZ`` (µm between planes), its ground truth
    CTC 3-D (one (Z, Y, X) stack per ``man_trackTTT.tif`` / ``man_segTTT.tif``).  The rule hands both kinds over
    as the same ``settings`` param, so a 2-D movie's job has the params and script it had before 3-D existed
    (Snakemake reruns a job whose params or script change).
    """
    from cellpipe.config import SimulationSettings
    from cellpipe.io.ctc import write_ctc_ground_truth

    if "shape_zyx" in settings:  # a field of Simulation3DConfig only; SimulationSettings has shape
        _simulate_volumes(settings, movie, truth)
        return
    from cellpipe.simulate import simulate_movie

    sim_settings = SimulationSettings.model_validate(settings)
    sim = simulate_movie(sim_settings)
    logger.info("simulated %d frames of %s px, %d tracks", sim.image.shape[0], sim.image.shape[1:], len(sim.tracks))
    write_ome_tiff(movie, sim.image, sim.pixel_size_um, sim.frame_interval_min)
    write_ctc_ground_truth(Path(truth), sim.labels, sim.tracks)


def _simulate_volumes(settings: dict[str, Any], movie: PathLike, truth: PathLike) -> None:
    from cellpipe.config import Simulation3DConfig
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.simulate3d import simulate_movie_3d

    sim = simulate_movie_3d(Simulation3DConfig.model_validate(settings).to_settings())
    logger.info("simulated %d stacks of %s voxels (%s µm), %d tracks", sim.image.shape[0], sim.image.shape[1:],
                sim.voxel_size_um, len(sim.tracks))
    z_um, _, x_um = sim.voxel_size_um  # y equals x (Simulation3DConfig)
    write_ome_tiff(movie, sim.image, x_um, sim.frame_interval_min, pixel_size_z_um=z_um)
    write_ctc_ground_truth(Path(truth), sim.labels, sim.tracks)
