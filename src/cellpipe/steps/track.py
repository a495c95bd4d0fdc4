"""Entry point of the ``track_cells`` rule: tracks and lineage (µm, frames), track-relabelled masks and the run's record."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from cellpipe.io import omezarr, tables

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def track_cells_step(
    labels: PathLike,
    image: PathLike,
    tracker_config: PathLike,
    settings: dict[str, Any],
    tracks: PathLike,
    lineage: PathLike,
    tracked: PathLike,
    info: PathLike | None = None,
    labels_group: PathLike | None = None,
) -> None:
    """Link segmented objects over time with btrack and write tracks, lineage and track labels.

    A 2-D label movie (t, y, x) is tracked by :func:`cellpipe.track.track_cells`; a 3-D one
    (t, z, y, x) by :func:`cellpipe.track.track_cells_3d`, with z in µm: its tracks gain ``z_px`` and
    ``z_um`` and its tracks label image is (t, z, y, x) with the same voxel scale.

    Parameters
    ----------
    labels : str or os.PathLike
        The cells label image (OME-Zarr array, one instance label image per frame).
    image : str or os.PathLike
        The movie's OME-Zarr image; its pixel size (µm) and frame interval (minutes) are used.
    tracker_config : str or os.PathLike
        btrack's configuration (JSON), parsed from the bytes whose sha256 the record gives.
    settings : dict
        The ``track`` section, validated as :class:`cellpipe.config.TrackSettings`.
    tracks : str or os.PathLike
        Output Parquet table, one row per object per frame (px, µm, frames).
    lineage : str or os.PathLike
        Output Parquet table, one row per division.
    tracked : str or os.PathLike
        Output label image whose pixel values are track ids; its ``image-label`` metadata hold a
        colour and :func:`track_label_properties` per track id.
    info : str or os.PathLike, optional
        Output JSON record of the run: update mode, search radius (px), optimiser outcome, timings (s),
        the settings, and ``inputs_read.tracker_config`` (``type, bytes, sha256`` of the tracker
        configuration's bytes as parsed).  None: not written.
    labels_group : str or os.PathLike, optional
        The image's NGFF ``labels`` group (its ``.zattrs`` or ``zarr.json``), written to list the label
        images ``cells`` (``labels``) and ``tracks`` (``tracked``) for OME-Zarr readers.  None: not written.

    Raises
    ------
    ValueError
        3-D labels without a z scale.
    """
    from cellpipe.config import TrackSettings
    from cellpipe.track import relabel_frames, track_cells, track_cells_3d

    trk = TrackSettings.model_validate(settings)
    meta = omezarr.open_ome_image(image)
    seg = omezarr.open_ome_image(labels)
    # parsed from the bytes whose sha256 tracking.json records: record_provenance compares it with the file
    # later, which may have been replaced since (its mtime restored: no rerun)
    tracker, tracker_read = tables.read_json_as_read(tracker_config)
    # the label movie is read frame by frame (stack by stack in 3-D), twice: for the objects, then to write the
    # track labels
    if "z" in seg.axes:  # (t, z, y, x) labels of a 3-D movie: tracked in µm along z too
        if seg.pixel_size_z_um is None:
            raise ValueError(f"{labels}: 3-D labels without a z scale: rerun segment_cells")
        voxel = (seg.pixel_size_z_um, seg.pixel_size_um, seg.pixel_size_um)
        result = track_cells_3d(seg.data, trk, tracker, voxel, meta.frame_interval_min, relabel=False)
    else:
        result = track_cells(seg.data, trk, tracker, meta.pixel_size_um, meta.frame_interval_min, relabel=False)
    logger.info("%d tracks, %d divisions", result.tracks["track_id"].nunique(), len(result.lineage))
    tables.write_parquet(result.tracks, tracks)
    tables.write_parquet(result.lineage, lineage)
    with omezarr.new_ome_array(tracked, seg.data.shape, np.uint32, seg.axes, meta.pixel_size_um,
                               meta.frame_interval_min, name="tracks", label_of=image,
                               label_properties=track_label_properties(result.tracks),
                               pixel_size_z_um=seg.pixel_size_z_um) as out:
        for t, frame in enumerate(relabel_frames(seg.data, result.tracks)):
            out[t] = frame
    if info is not None:
        tables.write_json({**result.info, "settings": trk.model_dump(mode="json"),
                           "inputs_read": {"tracker_config": tracker_read}}, info)
    if labels_group is not None:
        # labels_group is <image>/labels/.zattrs or zarr.json (or the group itself); cells and tracks are folders in it
        group = omezarr.store_path(labels_group)
        omezarr.write_labels_group(group.parent, [omezarr.store_path(labels).name, omezarr.store_path(tracked).name])


def track_label_properties(tracks: Any) -> list[dict[str, int]]:
    """NGFF ``image-label`` properties of the tracks label image, whose pixel values are track ids.

    Areas are not here: they change from frame to frame (``cells.parquet`` has them per cell and
    frame).  The cells label image gets none: its values are per-frame labels, so one value names
    different cells in different frames.

    Parameters
    ----------
    tracks : pandas.DataFrame
        The tracks table (columns ``track_id``, ``parent``, ``root``, ``generation``, ``frame``).

    Returns
    -------
    list of dict
        Per track, sorted by track id: its ``label-value`` (the track id), ``parent`` and ``root``
        track ids (0: none), ``generation``, ``first_frame``, ``last_frame`` and ``n_frames``
        (0-based frames).
    """
    if tracks.empty:
        return []
    per_track = tracks.groupby("track_id", sort=True).agg(
        parent=("parent", "first"), root=("root", "first"), generation=("generation", "first"),
        first_frame=("frame", "min"), last_frame=("frame", "max"), n_frames=("frame", "nunique"),
    )
    return [
        {"label-value": int(track_id), **{k: int(v) for k, v in row.items()}}
        for track_id, row in zip(per_track.index, per_track.to_dict("records"), strict=True)
    ]
