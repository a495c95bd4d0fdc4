"""Entry point of the ``assess_quality`` rule: the quality record of one sample (``qc.json``).

Reads ``segmentation.json``, ``tracking.json``, ``tracks.parquet``, ``track_metrics.parquet``, ``counts.tsv``
and the frame size of ``image.ome.zarr``, calls :func:`cellpipe.qc.assess_quality` and writes ``qc.json``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cellpipe.config import QCSettings
from cellpipe.evaluate import json_safe
from cellpipe.io import omezarr, tables
from cellpipe.qc import assess_quality

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["assess_quality_step"]


def assess_quality_step(
    sample: str,
    image: PathLike,
    segmentation_info: PathLike,
    tracking_info: PathLike,
    tracks: PathLike,
    track_metrics: PathLike,
    counts: PathLike,
    settings: dict[str, Any],
    qc: PathLike,
) -> None:
    """Assess the quality of one sample's results and write ``qc.json``.

    The record is :func:`cellpipe.qc.assess_quality`'s, with ``sample`` added; its warnings are logged.

    Parameters
    ----------
    sample : str
        The sample's name.
    image : str or os.PathLike
        ``image.ome.zarr``, for the frame size (px).
    segmentation_info : str or os.PathLike
        ``segmentation.json``.
    tracking_info : str or os.PathLike
        ``tracking.json``.
    tracks : str or os.PathLike
        ``tracks.parquet``.
    track_metrics : str or os.PathLike
        ``track_metrics.parquet``.
    counts : str or os.PathLike
        ``counts.tsv``.
    settings : dict
        The ``qc`` config section (:class:`cellpipe.config.QCSettings`).
    qc : str or os.PathLike
        The ``qc.json`` to write.
    """
    qcs = QCSettings.model_validate(settings)
    meta = omezarr.open_ome_image(image)
    axes = meta.axes.lower()
    frame_shape = (int(meta.data.shape[axes.index("y")]), int(meta.data.shape[axes.index("x")]))
    record = assess_quality(
        tables.read_json(segmentation_info),
        tables.read_json(tracking_info),
        tables.read_parquet(tracks),
        tables.read_parquet(track_metrics),
        tables.read_tsv(counts),
        frame_shape,
        qcs,
    )
    tables.write_json(json_safe({"sample": sample, **record}), qc)
    for warning in record["warnings"]:
        logger.warning("sample %s: %s", sample, warning)
    logger.info("sample %s: quality %s", sample, record["status"])
