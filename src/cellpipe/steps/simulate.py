"""Entry point of the ``simulate_movie`` rule: a simulated movie and its Cell Tracking Challenge ground truth.

The movie is an OME-TIFF with its pixel size in µm and frame interval in minutes.
"""

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

    ``settings`` of a ``simulate3d`` entry (:class:`cellpipe.config.Simulation3DSettings`, told apart
    by its ``shape_zyx``) make a 3-D movie: (T, Z, Y, X) with ``PhysicalSizeZ`` (µm between planes),
    its ground truth CTC 3-D (one (Z, Y, X) stack per ``man_trackTTT.tif`` / ``man_segTTT.tif``).
    The rule hands both kinds over as the same ``settings`` param: one rule and one script serve
    both, and a 2-D entry's params hold its 2-D settings only (Snakemake reruns a job whose params or
    script change).

    Parameters
    ----------
    settings : dict
        One ``simulate`` entry (:class:`cellpipe.config.SimulationSettings`: sizes in px and µm,
        durations in frames and minutes) or one ``simulate3d`` entry.
    movie : str or os.PathLike
        The OME-TIFF to write.
    truth : str or os.PathLike
        The CTC ground truth folder to create (``01_GT``).
    """
    from cellpipe.config import SimulationSettings
    from cellpipe.io.ctc import write_ctc_ground_truth

    if "shape_zyx" in settings:  # a field of Simulation3DSettings only; SimulationSettings has shape
        _simulate_volumes(settings, movie, truth)
        return
    from cellpipe.simulate import simulate_movie

    sim_settings = SimulationSettings.model_validate(settings)
    sim = simulate_movie(sim_settings)
    logger.info("simulated %d frames of %s px, %d tracks", sim.image.shape[0], sim.image.shape[1:], len(sim.tracks))
    write_ome_tiff(movie, sim.image, sim.pixel_size_um, sim.frame_interval_min)
    write_ctc_ground_truth(Path(truth), sim.labels, sim.tracks)


def _simulate_volumes(settings: dict[str, Any], movie: PathLike, truth: PathLike) -> None:
    """:func:`simulate_movie_step` for a ``simulate3d`` entry: a (T, Z, Y, X) OME-TIFF and its CTC 3-D ground truth."""
    from cellpipe.config import Simulation3DSettings
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.simulate3d import simulate_movie_3d

    sim = simulate_movie_3d(Simulation3DSettings.model_validate(settings))
    logger.info("simulated %d stacks of %s voxels (%s µm), %d tracks", sim.image.shape[0], sim.image.shape[1:],
                sim.voxel_size_um, len(sim.tracks))
    z_um, _, x_um = sim.voxel_size_um  # y equals x (Simulation3DSettings refuses others)
    write_ome_tiff(movie, sim.image, x_um, sim.frame_interval_min, pixel_size_z_um=z_um)
    write_ctc_ground_truth(Path(truth), sim.labels, sim.tracks)
