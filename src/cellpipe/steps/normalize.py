"""Entry point of the ``normalize_movie`` rule: percentiles of the ingested movie and the normalized float32 movie."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.config import NormalizeSettings
from cellpipe.io import omezarr, tables
from cellpipe.normalize import PERCENTILE_COLUMNS, apply_normalization, percentile_rows

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


FRAMES_PER_BATCH = 16
"""Frames read, processed and written together by the frame-wise steps."""


def normalize_movie_step(image: PathLike, settings: dict[str, Any], normalized: PathLike, percentiles: PathLike) -> None:
    """Compute percentiles (movie-wide or per frame) and write the normalized float32 movie.

    A 3-D image (t, c, z, y, x) gives a (t, c, z, y, x) normalized movie, chunked one stack per chunk,
    read, rescaled and written one (Z, Y, X) stack of one channel at a time (memory: one stack, as
    float32 out and float64 while it is rescaled); ``mode: frame`` then means percentiles per stack.

    ``normalized`` is the array's store or its metadata file: ``zarr.json`` writes Zarr v3, ``.zarray``
    Zarr v2 (the workflow names it by ``ome_zarr.version``, :func:`cellpipe.layout.zarr_array`); a bare store
    path gets the Zarr format of the image (v3 beside NGFF 0.5, v2 beside 0.4).  Zarr v3 names the axes
    (``dimension_names``, the image's: ``t, c, y, x`` or ``t, c, z, y, x``).

    Parameters
    ----------
    image : str or os.PathLike
        The ingested movie's OME-Zarr image.
    settings : dict
        The ``normalize`` section, validated as :class:`cellpipe.config.NormalizeSettings`.
    normalized : str or os.PathLike
        Output Zarr array: its store, or its ``zarr.json`` / ``.zarray`` metadata file.
    percentiles : str or os.PathLike
        Output TSV table, one row per channel and frame (:data:`cellpipe.normalize.PERCENTILE_COLUMNS`:
        percentiles in %, values in the movie's grey levels; ``frame`` -1 for movie-wide).
    """
    norm = NormalizeSettings.model_validate(settings)
    src = omezarr.open_ome_image(image)
    table = percentile_rows(src.data, norm)
    n_frames = src.n_frames
    # the metadata file the path names decides; a bare store follows the image
    named = Path(normalized).name in ("zarr.json", ".zarray")
    fmt = None if named else omezarr.ZARR_FORMATS[omezarr.stored_ngff_version(image) or omezarr.NGFF_VERSION]
    with omezarr.new_zarr_array(
        normalized, src.data.shape, "float32", {"normalize": norm.model_dump(mode="json")}, zarr_format=fmt,
        dimension_names=list(src.axes),
    ) as out:
        if src.data.ndim == 5:
            for t in range(n_frames):
                for c in range(int(src.data.shape[1])):
                    stack = np.asarray(src.data[t : t + 1, c : c + 1])
                    out[t, c] = apply_normalization(stack, t, table, norm, first_channel=c)[0, 0]
                logger.info("normalized the stacks of frame %d of %d", t + 1, n_frames)
        else:
            for start in range(0, n_frames, FRAMES_PER_BATCH):
                stop = min(start + FRAMES_PER_BATCH, n_frames)
                out[start:stop] = apply_normalization(np.asarray(src.data[start:stop]), start, table, norm)
                logger.info("normalized frames %d-%d of %d", start + 1, stop, n_frames)
    tables.write_tsv_rows(table, PERCENTILE_COLUMNS, percentiles)
