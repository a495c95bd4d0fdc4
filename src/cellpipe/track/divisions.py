"""Divisions: cutting a track that went on into one daughter, and checking every division before it is reported.

Where btrack carried a mother on into one daughter while the sister started a track of her own, the track is cut
into a division (:func:`_split_divisions`).  Divisions are then checked (:func:`_check_divisions`): one is kept only
when its daughters last (``min_track_frames``, or to the movie's end), start within
``division_max_daughter_lag_frames`` of each other, near the mother's last position (``division_max_distance_um``)
and with plausible areas (``division_min_area_fraction`` .. ``division_max_area_fraction`` of the mother's last
area).  Otherwise, and for a mother with a single daughter, the daughter that best continues the mother joins her
track and any other becomes a new root track: flickering objects (dim out-of-focus nuclei, fragments beside bright
nuclei) are not reported as divisions.  Tracks here are btrack's: ``(id, parent id, object rows)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellpipe.config import TrackSettings
from cellpipe.track.common import _distance, _position_columns


def _indexed_tracks(
    raw_tracks: list[tuple[int, int, list[int]]], table: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, list[int]], dict[int, int], list[int]]:
    """What the division steps read of btrack's tracks.

    Each object's frame, position (px) and area (px) from ``table``, and per track its objects in frame order,
    its parent and the tracks' order.  Tracks without objects, and a track id given twice after its first, are
    left out (``_assemble`` drops them).
    """
    frames = table["frame"].to_numpy(np.int64)
    yx = table[_position_columns(table)].to_numpy(np.float64)
    area = table["area_px"].to_numpy(np.float64)
    refs_of: dict[int, list[int]] = {}
    parent_of: dict[int, int] = {}
    order: list[int] = []
    for bt_id, parent, refs in raw_tracks:
        if refs and bt_id not in refs_of:
            refs_of[bt_id] = sorted(refs, key=lambda r: frames[r])
            parent_of[bt_id] = parent
            order.append(bt_id)
    return frames, yx, area, refs_of, parent_of, order


def _children_of(parent_of: dict[int, int], order: list[int]) -> dict[int, list[int]]:
    """Each track's daughter tracks (btrack ids), in the tracks' order."""
    children: dict[int, list[int]] = {}
    for bt_id in order:
        if parent_of[bt_id] in parent_of and parent_of[bt_id] != bt_id:
            children.setdefault(parent_of[bt_id], []).append(bt_id)
    return children


def _reach(bt_id: int, frames: np.ndarray, refs_of: dict[int, list[int]], children: dict[int, list[int]]) -> int:
    """The last frame of a track or of any of its descendants."""
    end, stack = int(frames[refs_of[bt_id][-1]]), list(children.get(bt_id, ()))
    while stack:
        d = stack.pop()
        end = max(end, int(frames[refs_of[d][-1]]))
        stack.extend(children.get(d, ()))
    return end


#: A division found by splitting a track (:func:`_split_divisions`): the sisters' first areas within this
#: factor of each other, so that a fragment beside a nucleus is not taken for its sister.
SPLIT_SISTER_AREA_RATIO = 2.0

#: ... and the mother's last centroid within this fraction of half the sisters' separation from their midpoint,
#: so that a cell appearing beside one that goes on unchanged (a nucleus coming into focus, a cell entering) is
#: not taken for her daughter.
SPLIT_MOTHER_CENTRAL = 0.75

#: ... and each sister at least this fraction as far from the mother's last centroid as the other: where the
#: track barely moves while an object comes out from beside or under it, that object is no daughter.
SPLIT_MIN_BALANCE = 0.5


def _split_divisions(
    raw_tracks: list[tuple[int, int, list[int]]],
    table: pd.DataFrame,
    settings: TrackSettings,
    pixel_size_um: float,
) -> tuple[list[tuple[int, int, list[int]]], int]:
    """Divisions that btrack cannot make: a track going on into one daughter while her sister starts beside it.

    btrack's optimiser lets only a track that ends divide.  Where the frame-to-frame linking has carried the
    mother on into one daughter (more often the fewer frames per cell cycle, as the daughters drift apart
    between frames), the sister starts a root track and the division is lost.  Here, as TrackMate's track
    splitting does, every root track that starts in frame t > 0 with object b is matched to a track with
    objects m in frame t - 1 and a in frame t when

    * b and a lie within ``settings.division_max_distance_um`` of m;
    * the areas of a and b are ``division_min_area_fraction`` to ``division_max_area_fraction`` of m's and
      within :data:`SPLIT_SISTER_AREA_RATIO` of each other;
    * m lies near the middle of a and b (:data:`SPLIT_MOTHER_CENTRAL`), each about as far from it as the
      other (:data:`SPLIT_MIN_BALANCE`).

    A cut that :func:`_check_divisions` would undo for length is not made, so that the track keeps its cells:
    the track has fewer than ``settings.min_track_frames`` objects before a and starts after the movie's first
    frame, or b's track or a's part of the track (each with descendants) spans fewer frames and ends before the
    movie's last frame.

    Nearest pairs (m to b) first, each root track and each cut once; the track is cut between m and a: its
    part up to m is the mother, its part from a a new daughter track (taking the track's own daughters), the
    root track the other daughter.  :func:`_check_divisions` then tests these divisions as btrack's.

    Returns the tracks (new tracks get ids above btrack's, placed after the track they were cut from) and the
    number of divisions made.
    """
    frames, yx, area, refs_of, parent_of, order = _indexed_tracks(raw_tracks, table)
    going_on: dict[int, list[tuple[int, int]]] = {}  # frame t -> (track, index of its object in t, after one in t - 1)
    for bt_id, refs in refs_of.items():
        for j in range(1, len(refs)):
            if frames[refs[j]] == frames[refs[j - 1]] + 1:
                going_on.setdefault(int(frames[refs[j]]), []).append((bt_id, j))
    max_distance_px = settings.division_max_distance_um / pixel_size_um
    low, high = settings.division_min_area_fraction, settings.division_max_area_fraction
    children, enough = _children_of(parent_of, order), settings.min_track_frames
    movie_start, movie_end = (int(frames.min()), int(frames.max())) if len(frames) else (0, 0)

    def lasting(track: int, j: int) -> bool:
        end = _reach(track, frames, refs_of, children)
        return end == movie_end or end - int(frames[refs_of[track][j]]) + 1 >= enough

    def mothered(track: int, j: int) -> bool:  # enough objects before j, or there since the movie began
        return j >= enough or int(frames[refs_of[track][0]]) == movie_start

    def plausible(m: int, a: int, b: int) -> bool:
        to_a, to_b = _distance(yx[a] - yx[m]), _distance(yx[b] - yx[m])
        if max(to_a, to_b) > max_distance_px or min(to_a, to_b) < SPLIT_MIN_BALANCE * max(to_a, to_b):
            return False
        if not (low <= area[a] / area[m] <= high and low <= area[b] / area[m] <= high):
            return False
        if not 1.0 / SPLIT_SISTER_AREA_RATIO <= area[a] / area[b] <= SPLIT_SISTER_AREA_RATIO:
            return False
        return _distance(yx[m] - (yx[a] + yx[b]) / 2.0) <= SPLIT_MOTHER_CENTRAL * _distance(yx[a] - yx[b]) / 2.0

    roots_at: dict[int, list[int]] = {}  # frame t -> root tracks starting there
    for bt_id in order:
        if parent_of[bt_id] not in refs_of:
            roots_at.setdefault(int(frames[refs_of[bt_id][0]]), []).append(bt_id)
    proposals: list[tuple[float, int, int, int]] = []
    for t, sisters in roots_at.items():
        pairs = going_on.get(t, [])
        if not pairs:
            continue
        firsts = np.array([refs_of[sister][0] for sister in sisters])
        mothers = np.array([refs_of[track][j - 1] for track, j in pairs])
        # all pairs at once for the distance, then the few near ones one by one (dense frames)
        gaps = np.linalg.norm(yx[firsts][:, None, :] - yx[mothers][None, :, :], axis=-1)
        for i, k in zip(*np.nonzero(gaps <= max_distance_px + 1e-6), strict=True):
            sister, (track, j) = sisters[i], pairs[k]
            m, a, b = refs_of[track][j - 1], refs_of[track][j], refs_of[sister][0]
            if track != sister and mothered(track, j) and lasting(track, j) and lasting(sister, 0) and plausible(m, a, b):
                proposals.append((_distance(yx[b] - yx[m]), sister, track, j))
    cuts: dict[int, list[tuple[int, int]]] = {}
    sisters_taken: set[int] = set()
    cuts_taken: set[tuple[int, int]] = set()
    for _, sister, track, j in sorted(proposals):
        if sister not in sisters_taken and (track, j) not in cuts_taken:
            sisters_taken.add(sister)
            cuts_taken.add((track, j))
            cuts.setdefault(track, []).append((j, sister))
    next_id = max(refs_of, default=0) + 1
    for track in sorted(cuts):
        refs = refs_of[track]
        own_daughters = [d for d in order if parent_of[d] == track]
        piece, start, pieces = track, 0, []
        for j, sister in sorted(cuts[track]):
            daughter, next_id = next_id, next_id + 1
            refs_of[piece] = refs[start:j]
            parent_of[daughter] = parent_of[sister] = piece
            pieces.append(daughter)
            piece, start = daughter, j
        refs_of[piece] = refs[start:]
        for d in own_daughters:
            parent_of[d] = piece
        at = order.index(track) + 1
        order[at:at] = pieces
    return [(bt_id, parent_of[bt_id], refs_of[bt_id]) for bt_id in order], len(cuts_taken)


#: Why a division is undone, in the order the tests are made (the first failing one is counted).
DIVISION_REJECTION_REASONS: tuple[str, ...] = (
    "single_child", "short_mother", "short_daughter", "lag", "not_together", "distance", "size", "merged",
)

#: A mother whose area grew this many times from one frame to the next while a track without daughters ended
#: beside her the frame before was two cells segmented as one (``merged`` in :func:`_check_divisions`).
MERGE_AREA_JUMP = 1.5


def _check_divisions(
    raw_tracks: list[tuple[int, int, list[int]]],
    table: pd.DataFrame,
    settings: TrackSettings,
    pixel_size_um: float,
) -> tuple[list[tuple[int, int, list[int]]], dict[str, int]]:
    """Keep the divisions that look like divisions; undo the others into continuations.

    Returns the tracks and the number undone per reason (keys :data:`DIVISION_REJECTION_REASONS`).

    A mother (a track other tracks name as parent) and her daughters pass when there are at least
    two daughters and (tests in this order; the first failing one is the reason counted):

    * ``short_mother``: the mother's track (with what earlier continuations joined to it) has at
      least ``settings.min_track_frames`` objects, or starts in the movie's first frame: a flickering
      object is no mother, but a cell that divides a frame or two after the movie began was there
      before it;
    * ``short_daughter``: every daughter, with her own descendants, spans at least
      ``settings.min_track_frames`` frames, or reaches the last frame of the movie: a "daughter" that
      is gone again a frame or two after the division, mid-movie, is an object flickering beside the
      mother (at a low frame rate the lag test cannot tell it from a sister);
    * ``lag``: the daughters' first frames differ by at most
      ``settings.division_max_daughter_lag_frames``;
    * ``not_together``: every daughter is present in the frame in which the last one first appears
      (a "daughter" that is gone again by then is one object flickering between two tracks, not
      two cells);
    * ``distance``: every daughter's first centroid lies within ``settings.division_max_distance_um``
      of the mother's last centroid;
    * ``size``: every daughter's first area (``area_px`` of ``table``) is between
      ``settings.division_min_area_fraction`` and ``division_max_area_fraction`` times the mother's
      last area.
    * ``merged``: the mother's track did not, at some frame, grow :data:`MERGE_AREA_JUMP` times or more
      from the frame before while a track without daughters ended within
      ``settings.division_max_distance_um`` of her in that frame before: two touching cells segmented as
      one that come apart again are not mother and daughters.

    A single daughter (``single_child``) or a failed test undoes the division: the daughter that best
    continues the mother (earliest first frame, then one of plausible area before a fragment, then
    nearest the mother's last centroid, then btrack's id) joins the mother's track when she starts after the mother's last frame (her own
    daughters become the mother's, and are checked in turn as the mother's new division); every other
    daughter becomes a root track (parent 0) keeping its own descendants.  Mothers are taken in
    the order of their last frame, so the result does not depend on the order of ``raw_tracks``; the
    tracks keep their order, a track joined into its mother disappears.
    """
    counts = dict.fromkeys(DIVISION_REJECTION_REASONS, 0)
    frames, yx, area, refs_of, parent_of, order = _indexed_tracks(raw_tracks, table)
    children = _children_of(parent_of, order)
    max_distance_px = settings.division_max_distance_um / pixel_size_um
    movie_start, movie_end = (int(frames.min()), int(frames.max())) if len(frames) else (0, 0)
    ended_at: dict[int, list[int]] = {}  # frame -> last objects of the tracks without daughters that end there
    for bt_id in order:
        if bt_id not in children:
            ended_at.setdefault(int(frames[refs_of[bt_id][-1]]), []).append(refs_of[bt_id][-1])

    def first(bt_id: int) -> int:
        return refs_of[bt_id][0]

    def last(bt_id: int) -> int:
        return refs_of[bt_id][-1]

    def distance(mother: int, daughter: int) -> float:
        return _distance(yx[first(daughter)] - yx[last(mother)])

    def short(daughter: int) -> bool:
        end = _reach(daughter, frames, refs_of, children)
        return end < movie_end and end - int(frames[first(daughter)]) + 1 < settings.min_track_frames

    def merged(mother: int) -> bool:
        refs = refs_of[mother]
        for before, now in zip(refs, refs[1:]):
            if frames[now] == frames[before] + 1 and area[now] >= MERGE_AREA_JUMP * area[before] and any(
                _distance(yx[gone] - yx[now]) <= max_distance_px for gone in ended_at.get(int(frames[before]), ())
            ):
                return True
        return False

    def sized(mother: int, daughter: int) -> bool:
        ratio = area[first(daughter)] / area[last(mother)]
        return bool(settings.division_min_area_fraction <= ratio <= settings.division_max_area_fraction)

    def reason(mother: int, daughters: list[int]) -> str | None:
        if len(daughters) < 2:
            return "single_child"
        if len(refs_of[mother]) < settings.min_track_frames and int(frames[first(mother)]) > movie_start:
            return "short_mother"
        if any(short(d) for d in daughters):
            return "short_daughter"
        starts = [int(frames[first(d)]) for d in daughters]
        if max(starts) - min(starts) > settings.division_max_daughter_lag_frames:
            return "lag"
        together = max(starts)  # every daughter must be there when the last one appears
        if any(together not in {int(frames[r]) for r in refs_of[d]} for d in daughters):
            return "not_together"
        if any(distance(mother, d) > max_distance_px for d in daughters):
            return "distance"
        if not all(sized(mother, d) for d in daughters):
            return "size"
        if merged(mother):
            return "merged"
        return None

    removed: set[int] = set()
    pending = sorted(children, key=lambda m: (int(frames[last(m)]), m))
    while pending:
        mother = pending.pop(0)
        daughters = children.pop(mother, [])
        if not daughters:
            continue
        why = reason(mother, daughters)
        if why is None:
            children[mother] = daughters
            continue
        counts[why] += 1
        best = min(daughters, key=lambda d, m=mother: (int(frames[first(d)]), not sized(m, d), distance(m, d), d))
        for d in daughters:
            parent_of[d] = 0
        if frames[first(best)] > frames[last(mother)]:
            refs_of[mother] = refs_of[mother] + refs_of.pop(best)
            removed.add(best)
            grandchildren = children.pop(best, [])
            for g in grandchildren:
                parent_of[g] = mother
            if grandchildren:
                children[mother] = grandchildren
                pending.append(mother)
            pending = sorted((m for m in pending if m not in removed), key=lambda m: (int(frames[last(m)]), m))
    out = [(bt_id, parent_of[bt_id], refs_of[bt_id]) for bt_id in order if bt_id not in removed]
    return out, counts
