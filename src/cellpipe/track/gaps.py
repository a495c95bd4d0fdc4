"""Mending btrack's tracks: lone objects into the gaps of tracks, and links by mask overlap between frames.

:func:`_fill_gaps` puts an object btrack left on its own into the gap of a track it continues (within
``gap_fill_distance_um``); :func:`_link_by_overlap` lets links between the overlapping masks of consecutive frames
take precedence over btrack's links (``overlap_link_min_iou``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cellpipe.track.common import _distance, _position_columns


def _fill_gaps(
    raw_tracks: list[tuple[int, int, list[int]]], table: pd.DataFrame, max_distance_px: float
) -> tuple[list[tuple[int, int, list[int]]], int]:
    """Put objects left on their own into the gaps of btrack's tracks; return the tracks and how many moved.

    A lone object is one btrack left out of every track, or the only object of a track with no
    parent and no children.  A gap is a frame missing between two consecutive objects of a
    track.  A lone object in such a frame joins the track when its centroid is within
    ``max_distance_px`` (px) of the track's position interpolated linearly across the gap; the
    nearest (object, gap) pairs are taken first, each object and each gap frame once, so the
    result does not depend on the order of the tracks.  A lone object's own one-object track
    disappears when its object moves.
    """
    frames = table["frame"].to_numpy(np.int64)
    yx = table[_position_columns(table)].to_numpy(np.float64)
    parents = {parent for _, parent, _ in raw_tracks if parent}
    in_track = np.zeros(len(table), dtype=bool)
    lone_track: dict[int, int] = {}  # lone object -> index of its one-object track in raw_tracks (-1: none)
    for i, (bt_id, parent, refs) in enumerate(raw_tracks):
        in_track[refs] = True
        if len(refs) == 1 and parent == 0 and bt_id not in parents:
            lone_track[refs[0]] = i
    for obj in np.flatnonzero(~in_track):
        lone_track[int(obj)] = -1
    lone_by_frame: dict[int, list[int]] = {}
    for obj in sorted(lone_track):
        lone_by_frame.setdefault(int(frames[obj]), []).append(obj)
    candidates: list[tuple[float, int, int, int]] = []  # (distance px, track index, frame, object)
    for i, (_, _, refs) in enumerate(raw_tracks):
        ordered = sorted(refs, key=lambda r: frames[r])
        for a, b in zip(ordered, ordered[1:]):
            fa, fb = int(frames[a]), int(frames[b])
            for t in range(fa + 1, fb):
                w = (t - fa) / (fb - fa)
                expected = yx[a] * (1.0 - w) + yx[b] * w
                for obj in lone_by_frame.get(t, ()):
                    distance = _distance(yx[obj] - expected)
                    if distance <= max_distance_px:
                        candidates.append((distance, i, t, obj))
    added: dict[int, list[int]] = {}
    used: set[int] = set()
    filled: set[tuple[int, int]] = set()
    for _, i, t, obj in sorted(candidates):
        if obj in used or (i, t) in filled:
            continue
        used.add(obj)
        filled.add((i, t))
        added.setdefault(i, []).append(obj)
    if not used:
        return raw_tracks, 0
    emptied = {lone_track[obj] for obj in used if lone_track[obj] >= 0}
    out = [
        (bt_id, parent, sorted(refs + added.get(i, []), key=lambda r: frames[r]))
        for i, (bt_id, parent, refs) in enumerate(raw_tracks)
        if i not in emptied
    ]
    return out, len(used)


def _mask_overlaps(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping label pairs of two frames (or stacks): labels before, labels after, shared and joint px.

    Returns four arrays of equal length, one entry per pair of non-zero labels that share at least
    one pixel: the label in ``before``, the label in ``after``, the shared area and the area of the
    union (px, or voxels for stacks).
    """
    a = np.asarray(before).ravel().astype(np.int64, copy=False)
    b = np.asarray(after).ravel().astype(np.int64, copy=False)
    both = (a > 0) & (b > 0)
    n_after = int(b.max(initial=0)) + 1
    # one int64 code per pixel pair: a 1-D unique sorts several times faster than unique(axis=1)
    codes, shared = np.unique(a[both] * n_after + b[both], return_counts=True)
    label_a, label_b = np.divmod(codes, n_after)
    area_a = np.bincount(a, minlength=int(a.max(initial=0)) + 1)
    area_b = np.bincount(b, minlength=n_after)
    union = area_a[label_a] + area_b[label_b] - shared
    return label_a, label_b, shared, union


def _overlap_matches(
    before: np.ndarray, after: np.ndarray, rows_before: dict[int, int], rows_after: dict[int, int], min_iou: float
) -> list[tuple[int, int]]:
    """Objects of two consecutive frames matched one to one by mask overlap: (row before, row after) pairs.

    ``rows_before`` and ``rows_after`` map each frame's labels to object rows; labels not in them
    (objects dropped before tracking) take no part.  The pairs maximise the summed intersection over
    union (Hungarian method); pairs below ``min_iou`` (no unit) are left out.
    """
    from scipy.optimize import linear_sum_assignment

    label_a, label_b, shared, union = _mask_overlaps(before, after)
    keep = np.array([int(x) in rows_before and int(y) in rows_after for x, y in zip(label_a, label_b)], dtype=bool)
    if not keep.any():
        return []
    label_a, label_b, iou = label_a[keep], label_b[keep], shared[keep] / union[keep]
    ua, ia = np.unique(label_a, return_inverse=True)
    ub, ib = np.unique(label_b, return_inverse=True)
    matrix = np.zeros((len(ua), len(ub)))
    matrix[ia, ib] = iou
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [
        (rows_before[int(ua[r])], rows_after[int(ub[c])]) for r, c in zip(rows, cols, strict=True) if matrix[r, c] >= min_iou
    ]


def _link_by_overlap(
    raw_tracks: list[tuple[int, int, list[int]]], table: pd.DataFrame, labels: Any, min_iou: float
) -> tuple[list[tuple[int, int, list[int]]], int]:
    """Let links by mask overlap between consecutive frames take precedence over btrack's links.

    The objects of each pair of consecutive frames t, t + 1 are matched one to one by the largest
    summed intersection over union of their masks (Hungarian method), pairs below ``min_iou`` left
    out.  Where such a pair is not already linked, the link is made and the links it contradicts
    are cut: the earlier object's other successors lose it as predecessor (a division through it is
    undone), and the later object leaves the track it was in.  btrack's other links (gap closing over
    missing frames, divisions whose daughters overlap their mother, links of cells whose masks do
    not overlap) stay.  The tracks are then rebuilt from the links: a run of single successors is
    one track; an object with several successors ends a mother track whose daughters start there.

    Parameters
    ----------
    raw_tracks : list of (int, int, list of int)
        btrack's tracks: (btrack id, parent's btrack id or 0, object indices into ``table``).
    table : pandas.DataFrame
        The objects: columns ``frame`` and ``label`` (the object's value in ``labels[frame]``).
    labels : array_like of int
        The label movie, (T, Y, X) or (T, Z, Y, X); each frame is read once, in order.
    min_iou : float
        Smallest intersection over union of a link by overlap (0-1].

    Returns
    -------
    tuple of (list of (int, int, list of int), int)
        The tracks in the same form (new ids from 1, parents refer to them) and the number of links
        by overlap that btrack had not made.
    """
    frames = table["frame"].to_numpy(np.int64)
    label_of = table["label"].to_numpy(np.int64)
    rows_of: dict[int, dict[int, int]] = {}
    for row, (t, label) in enumerate(zip(frames.tolist(), label_of.tolist(), strict=True)):
        rows_of.setdefault(t, {})[label] = row
    successors: dict[int, list[int]] = {}
    predecessor: dict[int, int] = {}
    objects: set[int] = set()
    refs_of = {bt_id: sorted(refs, key=lambda r: frames[r]) for bt_id, _, refs in raw_tracks}
    for refs in refs_of.values():
        objects.update(refs)
        for a, b in zip(refs, refs[1:]):
            successors.setdefault(a, []).append(b)
            predecessor[b] = a
    for bt_id, parent, _ in raw_tracks:
        if parent in refs_of:
            mother, first = refs_of[parent][-1], refs_of[bt_id][0]
            if first not in predecessor and frames[first] > frames[mother]:
                successors.setdefault(mother, []).append(first)
                predecessor[first] = mother

    n_new = 0
    previous = None  # labels[t] when it was read as the later frame of the pair before
    for t in sorted(rows_of):
        if t + 1 not in rows_of:
            previous = None
            continue
        before = np.asarray(labels[t]) if previous is None else previous
        previous = np.asarray(labels[t + 1])
        for a, b in _overlap_matches(before, previous, rows_of[t], rows_of[t + 1], min_iou):
            if b in successors.get(a, ()):
                continue
            n_new += 1
            objects.update((a, b))
            for s in successors.get(a, ()):
                if predecessor.get(s) == a:
                    del predecessor[s]
            linked_from = predecessor.pop(b, None)
            if linked_from is not None:
                successors[linked_from] = [s for s in successors[linked_from] if s != b]
            successors[a] = [b]
            predecessor[b] = a

    out: list[tuple[int, int, list[int]]] = []
    pending = [(start, 0) for start in sorted((o for o in objects if o not in predecessor), reverse=True)]
    while pending:
        start, parent = pending.pop()
        refs = [start]
        while len(successors.get(refs[-1], ())) == 1:
            refs.append(successors[refs[-1]][0])
        out.append((len(out) + 1, parent, refs))
        pending.extend((child, len(out)) for child in sorted(successors.get(refs[-1], ()), reverse=True))
    return out, n_new
