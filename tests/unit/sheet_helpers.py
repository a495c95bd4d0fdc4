"""Files of the sample-sheet tests (test_config.py, test_preflight.py): a sheet written from text and a small OME-TIFF movie."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellpipe.io.movies import write_ome_tiff

HEADER = "sample\tmovie\tpixel_size_um\tframe_interval_min\n"
"""The header of a sample sheet that gives the pixel size (µm) and frame interval (minutes) of each row."""


def write_sheet(tmp_path: Path, text: str) -> Path:
    """``text`` written to ``tmp_path``/samples.tsv; returns its path."""
    path = tmp_path / "samples.tsv"
    path.write_text(text)
    return path


def write_movie(path: Path, n_frames: int = 3, shape: tuple[int, int] = (32, 32)) -> Path:
    """A small OME-TIFF movie of ``n_frames`` frames of ``shape`` (px) with pixel size 0.5 µm and frame interval 2 min."""
    data = np.random.default_rng(0).integers(0, 1000, size=(n_frames, *shape), dtype=np.uint16)
    write_ome_tiff(path, data, pixel_size_um=0.5, frame_interval_min=2.0)
    return path
