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
    """Simulate a movie, write it as OME-TIFF (with pixel size and frame interval) and its CTC ground truth."""
    from cellpipe.config import SimulationSettings
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.simulate import simulate_movie

    sim_settings = SimulationSettings.model_validate(settings)
    sim = simulate_movie(sim_settings)
    logger.info("simulated %d frames of %s px, %d tracks", sim.image.shape[0], sim.image.shape[1:], len(sim.tracks))
    write_ome_tiff(movie, sim.image, sim.pixel_size_um, sim.frame_interval_min)
    write_ctc_ground_truth(Path(truth), sim.labels, sim.tracks)
