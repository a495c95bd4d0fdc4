"""Per-cell measurements, per-track summaries and cell counts over time.

All functions are pure: they take label movies, raw intensity movies and tables in memory and return
:class:`pandas.DataFrame` objects.  Units are stated in column names: ``_px`` (pixels), ``_um`` (µm), ``_um2``
(µm²), ``_um3`` (µm³), ``_voxels`` (voxels), ``_min`` (minutes), ``_per_mm2`` (per mm²); frames are 0-based integer
indices and lags are counted in frames (``_frames``).

By what they measure: :mod:`cellpipe.measure.cells` (each object of a 2-D frame, cells per frame),
:mod:`cellpipe.measure.tracks` (each track), :mod:`cellpipe.measure.msd` (mean squared displacement) and
:mod:`cellpipe.measure.volumes` (objects of 3-D stacks); every public name is imported from here.
"""

from __future__ import annotations

from cellpipe.measure.cells import COUNTS_COLUMNS, cell_columns, counts_per_frame, measure_cells
from cellpipe.measure.msd import MSD_COLUMNS, MSD_TABLE_COLUMNS, ensemble_msd, fit_msd_exponent, msd_curves, msd_table
from cellpipe.measure.tracks import DEFAULT_MIN_TRACK_FRAMES, EXCLUSION_REASONS, TRACK_SUMMARY_COLUMNS, summarize_tracks
from cellpipe.measure.volumes import (
    CELL_3D_COLUMNS,
    measure_cells_3d,
    measure_stack_3d,
    measure_volumes,
    surface_area_um2,
)

__all__ = [
    "DEFAULT_MIN_TRACK_FRAMES",
    "EXCLUSION_REASONS",
    "cell_columns",
    "counts_per_frame",
    "ensemble_msd",
    "fit_msd_exponent",
    "measure_cells",
    "msd_curves",
    "msd_table",
    "summarize_tracks",
    "COUNTS_COLUMNS",
    "MSD_COLUMNS",
    "MSD_TABLE_COLUMNS",
    "TRACK_SUMMARY_COLUMNS",
    "CELL_3D_COLUMNS",
    "measure_cells_3d",
    "measure_volumes",
    "measure_stack_3d",
    "surface_area_um2",
]
