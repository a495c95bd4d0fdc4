"""Entry point of the ``measure_cells`` rule: per cell per frame (µm, µm², minutes), per track, frame and lag tables."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from cellpipe.config.jobs import MeasureJob
from cellpipe.io import omezarr, tables

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def measure_cells_step(
    labels: PathLike,
    image: PathLike,
    tracks: PathLike,
    settings: Mapping[str, Any] | MeasureJob,
    cells: PathLike,
    track_metrics: PathLike,
    counts: PathLike,
    msd: PathLike,
) -> None:
    """Measure every cell in every frame; summarise per track, per frame and per lag.

    2-D labels (t, y, x) are measured by :func:`cellpipe.measure.measure_cells`; 3-D labels
    (t, z, y, x) by :func:`cellpipe.measure.measure_volumes` (µm³, µm², centroids z, y, x in µm).

    Parameters
    ----------
    labels : str or os.PathLike
        The cells label image (OME-Zarr array, per-frame labels).
    image : str or os.PathLike
        The movie's OME-Zarr image: intensities, pixel size (µm), frame interval (minutes) and
        channel names (used where the settings name none).
    tracks : str or os.PathLike
        The tracks table (Parquet) of ``track_cells``.
    settings : mapping or MeasureJob
        The job's settings (:meth:`cellpipe.config.jobs.JobSettings.job_settings`), or their JSON dump
        (the rule's params): the ``measure`` section and ``min_track_frames`` (frames), validated as
        :class:`cellpipe.config.jobs.MeasureJob`.  Tracks with fewer frames than ``min_track_frames``
        are flagged ``excluded = 'short'`` in ``track_metrics``.
    cells : str or os.PathLike
        Output Parquet table, one row per cell per frame (µm, µm², minutes).
    track_metrics : str or os.PathLike
        Output Parquet table, one row per track.
    counts : str or os.PathLike
        Output TSV table, one row per frame: cell count and density (cells per mm² of the field).
    msd : str or os.PathLike
        Output Parquet table of :func:`cellpipe.measure.msd_table`: the mean squared displacement (µm²)
        per lag (frames, minutes) of the tracks that enter statistics, pooled (``track_id`` 0, with the
        fitted exponent α) and per track; z counts in µm for a 3-D movie.

    Raises
    ------
    ValueError
        3-D labels without a z scale.
    """
    from cellpipe.measure import (
        counts_per_frame,
        measure_cells,
        measure_volumes,
        msd_table,
        summarize_tracks,
    )

    job = MeasureJob.model_validate(settings)
    msr = job.measure
    meta = omezarr.open_ome_image(image)
    seg = omezarr.open_ome_image(labels)
    track_table = tables.read_parquet(tracks)
    if msr.channel_names is None and meta.channel_names:
        msr = msr.model_copy(update={"channel_names": meta.channel_names})
    if "z" in seg.axes:  # (t, z, y, x) labels of a 3-D movie: volumes, surfaces and centroids in µm
        if seg.pixel_size_z_um is None:
            raise ValueError(f"{labels}: 3-D labels without a z scale: rerun segment_cells")
        voxel = (seg.pixel_size_z_um, seg.pixel_size_um, seg.pixel_size_um)
        cell_table = measure_volumes(seg.data, meta.data, track_table, voxel, meta.frame_interval_min, msr)
    else:
        cell_table = measure_cells(seg.data, meta.data, track_table, meta.pixel_size_um, meta.frame_interval_min, msr)
    tables.write_parquet(cell_table, cells)
    summary = summarize_tracks(cell_table, track_table, meta.frame_interval_min, job.min_track_frames)
    tables.write_parquet(summary, track_metrics)
    tables.write_parquet(msd_table(track_table, meta.frame_interval_min, summary), msd)
    axes = meta.axes.lower()
    height_px, width_px = meta.data.shape[axes.index("y")], meta.data.shape[axes.index("x")]
    field_area_um2 = float(height_px * width_px) * meta.pixel_size_um**2
    tables.write_tsv(
        counts_per_frame(cell_table, meta.n_frames, meta.frame_interval_min, field_area_um2=field_area_um2), counts
    )
