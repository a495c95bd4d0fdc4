"""Entry point of the ``export_tracks`` rule: tracking results as CTC and napari files.

Reads ``image.ome.zarr/labels/tracks`` (masks whose pixels are track ids) and ``tracks.parquet``, converts them
with :mod:`cellpipe.export` and writes, each atomically (complete or absent):

* ``ctc/`` — a CTC ``RES`` folder: ``maskTTT.tif`` and ``res_track.txt``, tracks split at frame gaps
  (what the CTC evaluation tools, ``py-ctcmetrics`` and ``traccuracy`` read); masks are uint16, or
  uint32 when the movie has more than 65535 CTC segments (:func:`cellpipe.export.ctc_mask_dtype`), and
  carry the pixel size in µm (:mod:`cellpipe.io.ctc`);
* ``ctc_segments.tsv`` — CTC label -> cellpipe ``track_id``, segment, first/last frame, parent;
* ``tracks_napari.csv`` — ``track_id,t,y,x`` (frames, pixels) and ``t_min,y_um,x_um`` (minutes, µm) for
  napari's Tracks layer (:mod:`cellpipe.export` says which columns go with which image scale);
* ``tracks_napari_graph.json`` — ``{"child track id": [parent track id]}`` for its ``graph``;
* ``tracks.geff`` — the tracks as a geff graph (nodes = objects per frame with their ``cells.parquet``
  measurements, edges = links and divisions; axes in minutes and µm), :mod:`cellpipe.io.geff`;
* ``tracks.trackmate.xml`` — the same graph as a TrackMate model file (spots in µm and minutes, one
  TrackMate track per lineage), :mod:`cellpipe.io.trackmate`.

The two CTC outputs are left out when config ``export.ctc`` is false; the others never are.  Pixel size and
frame interval come from the metadata of ``labels/tracks`` (the image's own).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellpipe.config import ExportSettings
from cellpipe.export import ctc_mask_dtype, ctc_segments, iter_ctc_frames, to_napari_tracks, to_track_graph
from cellpipe.io import omezarr, tables
from cellpipe.io.ctc import write_ctc_result_frames
from cellpipe.io.geff import related_image_objects, write_track_geff
from cellpipe.io.trackmate import TrackMateImage, write_trackmate_xml

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["export_tracks_step", "write_ctc_export"]


def write_ctc_export(tracked: omezarr.OmeImage, table: pd.DataFrame, ctc_dir: PathLike) -> pd.DataFrame:
    """Write the CTC ``RES`` folder of track-relabelled masks and their tracks table.

    Frame by frame: each mask is read, checked against the tracks table and written in turn.  The
    masks are uint16, or uint32 for more than 65535 segments (every frame the same dtype), and carry
    the image's pixel size in µm (:func:`cellpipe.io.ctc.read_ctc_pixel_size`).

    Parameters
    ----------
    tracked : cellpipe.io.omezarr.OmeImage
        ``image.ome.zarr/labels/tracks``: masks whose pixel values are track ids.
    table : pandas.DataFrame
        The tracks table of ``track_cells``.
    ctc_dir : str or os.PathLike
        Output CTC ``RES`` folder (``maskTTT.tif`` and ``res_track.txt``).

    Returns
    -------
    pandas.DataFrame
        The segment mapping (:func:`cellpipe.export.ctc_segments`).
    """
    mapping = ctc_segments(table)
    frames, ctc_tracks = iter_ctc_frames(tracked.data, table, segments=mapping)
    write_ctc_result_frames(ctc_dir, frames, tracked.n_frames, ctc_tracks, dtype=ctc_mask_dtype(len(mapping)),
                            pixel_size_um=tracked.pixel_size_um)
    return mapping


def export_tracks_step(
    tracked: PathLike,
    tracks: PathLike,
    ctc_dir: PathLike | None,
    napari_csv: PathLike,
    napari_graph: PathLike,
    segments: PathLike | None,
    *,
    cells: PathLike | None = None,
    geff_store: PathLike | None = None,
    trackmate_xml: PathLike | None = None,
    settings: Mapping[str, Any] | ExportSettings | None = None,
) -> None:
    """Export one sample's tracks as napari tables, a CTC result folder, a geff graph and TrackMate XML.

    The CTC folder and its segment mapping are written unless ``ctc_dir`` is None, the geff graph
    when ``geff_store`` is given, the TrackMate file when ``trackmate_xml`` is given.

    Parameters
    ----------
    tracked : str or os.PathLike
        ``image.ome.zarr/labels/tracks`` from ``track_cells`` (axes tyx, pixel values = track ids).
    tracks : str or os.PathLike
        ``tracks.parquet`` from ``track_cells``.
    ctc_dir : str or os.PathLike or None
        Output CTC ``RES`` folder (must not exist or be empty); None: no CTC export (``export.ctc: false``).
    napari_csv : str or os.PathLike
        Output CSV ``track_id,t,y,x,t_min,y_um,x_um`` (t in frames, y/x in px, then the same in
        minutes and µm).
    napari_graph : str or os.PathLike
        Output JSON ``{child track id: [parent track id]}``.
    segments : str or os.PathLike or None
        Output TSV mapping CTC labels to track ids (:data:`cellpipe.export.SEGMENT_COLUMNS`);
        None together with ``ctc_dir``.
    cells : str or os.PathLike, optional
        ``cells.parquet`` from ``measure_cells``: its measurements become geff node properties.
    geff_store : str or os.PathLike, optional
        Output geff store (``tracks.geff``), in the Zarr format of ``tracked`` (v2 beside NGFF 0.4, v3
        beside 0.5); None: no geff.
    trackmate_xml : str or os.PathLike, optional
        Output TrackMate XML file (``tracks.trackmate.xml``); None: none.  Its ``<ImageData>`` names
        the OME-Zarr image holding ``labels/tracks`` (else ``tracked`` itself), relative to the file.
    settings : mapping or ExportSettings, optional
        The job's settings, the ``export`` section (:class:`cellpipe.config.ExportSettings`), or their JSON
        dump (the rule's params).  ``ctc`` decides the rule's outputs when the workflow is parsed
        (workflow/rules/export.smk), so here it must agree with ``ctc_dir``; None: ``ctc_dir`` alone decides.

    Raises
    ------
    ValueError
        Only one of ``ctc_dir`` and ``segments`` is given, ``settings`` asks for a CTC export other than
        ``ctc_dir`` says, or masks and tracks disagree (see :func:`cellpipe.export.to_ctc`).
    """
    if (ctc_dir is None) != (segments is None):
        raise ValueError("ctc_dir and segments are given together or not at all")
    export = ExportSettings.model_validate(settings) if settings is not None else None
    if export is not None and export.ctc != (ctc_dir is not None):
        raise ValueError(f"export.ctc is {str(export.ctc).lower()}, but a CTC folder is {'' if ctc_dir else 'not '}given")
    image = omezarr.open_ome_image(tracked)
    table = tables.read_parquet(tracks)
    calibration = {"pixel_size_um": image.pixel_size_um, "frame_interval_min": image.frame_interval_min}
    data, graph = to_napari_tracks(table, **calibration)
    tables.write_csv(data, napari_csv)
    tables.write_json(graph, napari_graph)
    labels_group = omezarr.store_path(tracked).parent
    if geff_store is not None or trackmate_xml is not None:
        cell_table = tables.read_parquet(cells) if cells is not None else None
        track_graph = to_track_graph(table, cell_table, **calibration)
    if geff_store is not None:
        # labels/tracks inside an image's NGFF labels group: the geff names the image and its label images
        related = related_image_objects(geff_store, labels_group.parent) if labels_group.name == "labels" else None
        # in the Zarr format of the label image it points to (ome_zarr.version): v2 beside NGFF 0.4, v3 beside 0.5
        version = omezarr.stored_ngff_version(tracked) or omezarr.NGFF_VERSION
        write_track_geff(geff_store, track_graph, related=related, zarr_format=omezarr.ZARR_FORMATS[version])
    if trackmate_xml is not None:
        shown = labels_group.parent if labels_group.name == "labels" else omezarr.store_path(tracked)
        height, width = (int(n) for n in image.data.shape[-2:])
        three_d = "z" in image.axes  # the tracks label image of a 3-D movie: (t, z, y, x)
        write_trackmate_xml(trackmate_xml, track_graph, TrackMateImage(
            width_px=width, height_px=height, n_frames=image.n_frames,
            filename=os.path.relpath(shown.resolve(), Path(trackmate_xml).resolve().parent), folder="",
            n_slices=int(image.data.shape[1]) if three_d else 1,
            voxel_depth_um=float(image.pixel_size_z_um) if three_d and image.pixel_size_z_um else 1.0))
    if ctc_dir is None or segments is None:
        logger.info("exported %d tracks (%d divisions) for napari; no CTC export (export.ctc: false)",
                    data["track_id"].nunique(), len(graph))
        return
    mapping = write_ctc_export(image, table, ctc_dir)
    tables.write_tsv(mapping, segments)
    logger.info(
        "exported %d tracks (%d CTC segments, %s masks, %d divisions) over %d frames",
        mapping["track_id"].nunique(), len(mapping), ctc_mask_dtype(len(mapping)), len(graph), image.n_frames,
    )
