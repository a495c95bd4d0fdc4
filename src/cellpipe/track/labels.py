"""From btrack's tracks to cellpipe's tables and label movies: numbering, the tracks and lineage tables, relabelling.

Track ids are positive and numbered 1, 2, ... in the order of (first frame, first y, first x), so identical input
gives identical ids; :func:`relabel_frames` writes each object's pixels with its track id, a frame at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.track.common import _LINEAGE_SCHEMA, _TRACK_SCHEMA, _TRACK_SCHEMA_3D

logger = logging.getLogger(__name__)


def relabel_frames(labels: Any, tracks: pd.DataFrame) -> Iterator[np.ndarray]:
    """The track-relabelled masks, one frame at a time.

    One frame is read and one made at a time, so memory does not grow with the movie's length.

    Parameters
    ----------
    labels : array_like of int
        The (T, Y, X) label movie (frames, px, px) :func:`track_cells` tracked: any array with
        ``shape`` whose ``labels[t]`` is a frame (numpy, zarr).
    tracks : pandas.DataFrame
        Its tracks table: ``frame`` (0-based), ``label`` (the object's value in that frame) and
        ``track_id``.

    Yields
    ------
    numpy.ndarray
        (Y, X) uint32 frame (px) of track ids, 0 where no track; one per frame of ``labels``.
    """
    by_frame = {int(t): g for t, g in tracks.groupby("frame", sort=True)}
    for t in range(int(np.shape(labels)[0])):
        frame = np.asarray(labels[t])
        group = by_frame.get(t)
        if group is None:
            yield np.zeros(frame.shape, dtype=np.uint32)
        else:
            yield _map_labels(frame, group["label"].to_numpy(), group["track_id"].to_numpy())


def _map_labels(image: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``image`` with every pixel of label ``old[i]`` set to ``new[i]`` and all other pixels 0 (uint32)."""
    top = int(image.max())
    if top <= 4 * image.size + 1024:  # a lookup table
        lut = np.zeros(top + 1, dtype=np.uint32)
        lut[old] = new
        return lut[image]
    order = np.argsort(old)  # sparse huge label values: search instead
    old_sorted, new_sorted = old[order], new[order].astype(np.uint32)
    pos = np.clip(np.searchsorted(old_sorted, image), 0, len(old_sorted) - 1)
    return np.where(old_sorted[pos] == image, new_sorted[pos], np.uint32(0)).astype(np.uint32)


def _assemble(
    table: pd.DataFrame,
    raw_tracks: list[tuple[int, int, list[int]]],
    pixel_size_um: float,
    frame_interval_min: float,
    z_size_um: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tracks and lineage tables from the object table and btrack's tracks, with cellpipe's track ids."""
    # group = one output track: btrack's tracks first, then one per object btrack left out
    owner = np.full(len(table), -1, dtype=np.int64)
    bt_ids: list[int] = []
    bt_parents: list[int] = []
    for bt_id, bt_parent, refs in raw_tracks:
        refs = [r for r in refs if owner[r] < 0]  # an object belongs to one track only
        if not refs:
            continue
        owner[refs] = len(bt_ids)
        bt_ids.append(bt_id)
        bt_parents.append(bt_parent)
    orphans = np.flatnonzero(owner < 0)
    if len(orphans):
        logger.info("%d object(s) not in any btrack track: each becomes a one-object track", len(orphans))
    owner[orphans] = len(bt_ids) + np.arange(len(orphans))
    n_groups = len(bt_ids) + len(orphans)

    # number the tracks by (first frame, y, x) of their first object
    keys = ["frame", "y_px", "x_px", "_group"] if z_size_um is None else ["frame", "y_px", "x_px", "z_px", "_group"]
    objs = table.assign(_group=owner).sort_values(keys, kind="stable")
    order = objs.drop_duplicates("_group", keep="first")["_group"].to_numpy()
    new_id = np.zeros(n_groups, dtype=np.int64)
    new_id[order] = np.arange(1, n_groups + 1)
    by_bt_id = {bt: int(new_id[g]) for g, bt in enumerate(bt_ids)}

    parent = np.zeros(n_groups + 1, dtype=np.int64)  # indexed by new track id
    for g, bt_parent in enumerate(bt_parents):
        if bt_parent == 0:
            continue
        if bt_parent in by_bt_id:
            parent[new_id[g]] = by_bt_id[bt_parent]
        else:
            logger.warning("btrack track %d names parent %d, which has no objects: treated as a root", bt_ids[g], bt_parent)
    root = np.arange(n_groups + 1, dtype=np.int64)
    generation = np.zeros(n_groups + 1, dtype=np.int64)
    # parents have smaller ids than their children (they start earlier), so one pass in id order suffices
    for tid in range(1, n_groups + 1):
        if parent[tid]:
            if parent[tid] >= tid:
                logger.warning("track %d starts no later than its parent %d: treated as a root", tid, parent[tid])
                parent[tid] = 0
                continue
            root[tid] = root[parent[tid]]
            generation[tid] = generation[parent[tid]] + 1

    track_id = new_id[owner]
    tracks = pd.DataFrame(
        {
            "frame": table["frame"].to_numpy(np.int64),
            "time_min": table["frame"].to_numpy(np.float64) * frame_interval_min,
            "track_id": track_id,
            "label": table["label"].to_numpy(np.int64),
            "y_px": table["y_px"].to_numpy(np.float64),
            "x_px": table["x_px"].to_numpy(np.float64),
            "y_um": table["y_px"].to_numpy(np.float64) * pixel_size_um,
            "x_um": table["x_px"].to_numpy(np.float64) * pixel_size_um,
            "parent": parent[track_id],
            "root": root[track_id],
            "generation": generation[track_id],
        }
    )
    if z_size_um is not None:
        tracks["z_px"] = table["z_px"].to_numpy(np.float64)
        tracks["z_um"] = table["z_px"].to_numpy(np.float64) * float(z_size_um)
    tracks = tracks.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
    tracks = tracks.astype(_TRACK_SCHEMA if z_size_um is None else _TRACK_SCHEMA_3D)

    children = np.flatnonzero(parent)
    first_frame = tracks.groupby("track_id", sort=True)["frame"].min()
    lineage = pd.DataFrame(
        {
            "parent": parent[children],
            "child": children.astype(np.int64),
            "division_frame": first_frame.reindex(children).to_numpy(np.int64),
        }
    )
    lineage = lineage.sort_values(["division_frame", "parent", "child"], kind="stable").reset_index(drop=True)
    return tracks, lineage.astype(_LINEAGE_SCHEMA)
