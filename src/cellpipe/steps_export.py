"""Entry point of the ``export_tracks`` rule: tracking results as CTC and napari files.

Reads ``image.ome.zarr/labels/tracks`` (masks whose pixels are track ids) and ``tracks.parquet``, converts them
with :mod:`cellpipe.export` and writes, each atomically (complete or absent):

* ``ctc/`` — a CTC ``RES`` folder: ``maskTTT.tif`` (uint16) and ``res_track.txt``, tracks split at
  frame gaps (what the CTC evaluation tools, ``py-ctcmetrics`` and ``traccuracy`` read);
* ``ctc_segments.tsv`` — CTC label -> cellpipe ``track_id``, segment, first/last frame, parent;
* ``tracks_napari.csv`` — ``track_id,t,y,x`` (frames, pixels) for napari's Tracks layer;
* ``tracks_napari_graph.json`` — ``{"child track id": [parent track id]}`` for its ``graph``.
"""

from __future__ import annotations

import logging
import os

from cellpipe.export import ctc_segments, iter_ctc_frames, to_napari_tracks
from cellpipe.io import omezarr, tables
from cellpipe.io.atomic import atomic_path
from cellpipe.io.ctc import write_ctc_result_frames

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["export_tracks_step"]


def export_tracks_step(
    tracked: PathLike,
    tracks: PathLike,
    ctc_dir: PathLike,
    napari_csv: PathLike,
    napari_graph: PathLike,
    segments: PathLike,
) -> None:
    """Export one sample's tracks as a CTC result folder, its segment mapping and napari tables.

    Args:
        tracked: ``image.ome.zarr/labels/tracks`` from ``track_cells`` (axes tyx, pixel values = track ids).
        tracks: ``tracks.parquet`` from ``track_cells``.
        ctc_dir: Output CTC ``RES`` folder (must not exist or be empty).
        napari_csv: Output CSV ``track_id,t,y,x`` (t in frames, y/x in pixels).
        napari_graph: Output JSON ``{child track id: [parent track id]}``.
        segments: Output TSV mapping CTC labels to track ids (:data:`cellpipe.export.SEGMENT_COLUMNS`).

    Raises:
        ValueError: masks and tracks disagree, or more than 65535 CTC segments (see
            :func:`cellpipe.export.to_ctc`).
    """
    image = omezarr.open_ome_image(tracked)
    table = tables.read_parquet(tracks)
    mapping = ctc_segments(table)
    # frame by frame: the masks are read, checked against the tracks table and written one at a time
    frames, ctc_tracks = iter_ctc_frames(image.data, table, segments=mapping)
    data, graph = to_napari_tracks(table)

    write_ctc_result_frames(ctc_dir, frames, image.n_frames, ctc_tracks)
    tables.write_tsv(mapping, segments)
    with atomic_path(napari_csv) as tmp:
        data.to_csv(tmp, index=False, lineterminator="\n")
    tables.write_json(graph, napari_graph)
    logger.info(
        "exported %d tracks (%d CTC segments, %d divisions) over %d frames",
        mapping["track_id"].nunique(), len(mapping), len(graph), image.n_frames,
    )
