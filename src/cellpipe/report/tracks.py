"""The lineage tree, trajectories and mean squared displacement sections, from the track tables."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cellpipe.measure import ensemble_msd, fit_msd_exponent, msd_curves
from cellpipe.report.figures import _figure, _lineage_figure, _msd_figure
from cellpipe.report.html import _empty_note, _esc, _num
from cellpipe.report.images import _tracks_overlay_figure

#: Families (trees sharing a root track) drawn at most in the lineage tree.
_MAX_FAMILIES = 40

#: Tracks (rows) drawn at most in the lineage tree; whole families are left out beyond it.
_MAX_LINEAGE_ROWS = 400

#: Individual tracks (the longest) drawn as grey curves in the MSD figure.
_MAX_MSD_TRACKS = 30

#: Columns a tracks table needs for the track figures.
_TRACK_COLUMNS = ("frame", "track_id")

#: Columns of ``track_metrics.parquet`` the lineage tree and the trajectories are drawn from.
_LINEAGE_COLUMNS = ("first_frame", "last_frame", "parent", "root", "generation", "n_children", "n_divisions")


def passing_tracks(track_summary: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of ``track_summary`` that enter per-track statistics (``excluded`` empty), and how many do not.

    A table without an ``excluded`` column passes whole.

    Parameters
    ----------
    track_summary : pandas.DataFrame
        Per-track table (``track_metrics.parquet``), with its ``excluded`` column (the reason a track is left out
        of per-track statistics, empty where it is not).

    Returns
    -------
    tuple of (pandas.DataFrame, int)
        The rows kept, and the number of rows left out.
    """
    if len(track_summary) == 0 or "excluded" not in track_summary:
        return track_summary, 0
    keep = track_summary["excluded"].fillna("").astype(str) == ""
    return track_summary[keep], int((~keep).sum())


def valid_tracks(tracks: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of ``tracks`` with a track id and frame (ints), sorted by (track_id, frame); empty when unusable.

    Parameters
    ----------
    tracks : pandas.DataFrame or None
        Per-cell, per-frame table with ``track_id`` and ``frame`` (frames) columns; None when there is none.

    Returns
    -------
    pandas.DataFrame
        The rows with both values, ``track_id`` and ``frame`` as int64, in (track_id, frame) order; an empty table
        with the track columns when ``tracks`` is None, empty or lacks them.
    """
    if tracks is None or len(tracks) == 0 or not set(_TRACK_COLUMNS) <= set(tracks.columns):
        return pd.DataFrame(columns=list(_TRACK_COLUMNS))
    out = tracks[tracks["track_id"].notna() & tracks["frame"].notna()].copy()
    out["track_id"] = out["track_id"].astype(np.int64)
    out["frame"] = out["frame"].astype(np.int64)
    return out.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)


def _track_info(track_metrics: pd.DataFrame) -> pd.DataFrame:
    """The lineage columns of ``track_metrics.parquet``, indexed by track id.

    Parameters
    ----------
    track_metrics : pandas.DataFrame
        Per-track table of :func:`cellpipe.measure.summarize_tracks`, every track (excluded ones too).

    Returns
    -------
    pandas.DataFrame
        Index ``track_id``; ``first_frame, last_frame`` (frames), ``parent`` (track id, 0 = none),
        ``root`` (track id), ``generation``, ``n_children`` and ``n_divisions`` (counts), sorted by track id.
    """
    return track_metrics.set_index("track_id")[list(_LINEAGE_COLUMNS)].astype(np.int64).sort_index()


def _parent_map(info: pd.DataFrame, lineage: pd.DataFrame | None) -> dict[int, int]:
    """Child track id -> parent track id (> 0) from the tracks' ``parent`` column and the ``lineage`` table."""
    parent_of = {int(t): int(p) for t, p in info["parent"].items() if p > 0 and p != t}
    if lineage is not None and len(lineage) and {"parent", "child"} <= set(lineage.columns):
        for p, c in zip(lineage["parent"], lineage["child"], strict=True):
            p_val, c_val = _num(p), _num(c)
            if math.isfinite(p_val) and math.isfinite(c_val) and p_val > 0 and p_val != c_val:
                parent_of[int(c_val)] = int(p_val)
    return parent_of


def _families(info: pd.DataFrame, parent_of: Mapping[int, int]) -> list[list[int]]:
    """Tracks grouped by family (a root and its descendants), each in depth-first order.

    A track whose parent is absent from ``info`` is a root.  Children are
    visited by first frame, then id.  Families with a division (a mother
    with two or more daughters) come first, then larger ones, longer ones and
    smaller root ids.
    """
    ids = {int(t) for t in info.index}
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        if child in ids and parent in ids:
            children.setdefault(parent, []).append(child)
    first = info["first_frame"].to_dict()
    for kids in children.values():
        kids.sort(key=lambda t: (first[t], t))
    roots = [int(t) for t in info.index if parent_of.get(int(t), 0) not in ids]
    visited: set[int] = set()
    families: list[list[int]] = []

    def walk(root: int) -> list[int]:
        """The tracks of ``root``'s family, depth first, each once (a track seen before is not entered again)."""
        order: list[int] = []
        stack = [root]
        while stack:
            track = stack.pop()
            if track in visited:
                continue
            visited.add(track)
            order.append(track)
            stack.extend(reversed(children.get(track, [])))
        return order

    for root in roots:
        families.append(walk(root))
    for track in sorted(ids - visited):  # parent cycles (bad input): draw what is left as roots
        if track not in visited:
            families.append(walk(track))

    last = info["last_frame"].to_dict()

    def key(family: list[int]) -> tuple[int, int, int, int]:
        """Sort key of a family: families with a division first, then more tracks, longer span (frames), lower root id."""
        divides = any(len(children.get(t, [])) >= 2 for t in family)
        span = max(last[t] for t in family) - min(first[t] for t in family)
        return (0 if divides else 1, -len(family), -span, family[0])

    return sorted(families, key=key)


def _msd_body(tracks: pd.DataFrame, frame_interval_min: float | None) -> str:
    """The mean squared displacement section: ensemble and single-track MSD (µm²) against lag (min).

    From ``tracks`` (positions ``y_um, x_um`` in µm), needing ``frame_interval_min`` (min), with the ensemble's
    fitted exponent.
    """
    if len(tracks) == 0:
        return _empty_note("No tracks were found.")
    if frame_interval_min is None:
        return _empty_note(
            "The frame interval is unknown, so lags in minutes and the mean squared displacement cannot be computed."
        )
    if not {"y_um", "x_um"} <= set(tracks.columns):
        return _empty_note("The tracks table has no positions in µm (y_um, x_um), so no displacement is computed.")
    ensemble = ensemble_msd(tracks, frame_interval_min)
    usable = ensemble[(ensemble["lag_min"] > 0) & (ensemble["msd_um2"] > 0)]
    if len(usable) == 0:
        return _empty_note("No track moves between two frames, so there is no mean squared displacement to plot.")
    lengths = tracks.groupby("track_id", sort=True).size().sort_values(ascending=False, kind="stable")
    longest = lengths.index[:_MAX_MSD_TRACKS]
    per_track = msd_curves(tracks[tracks["track_id"].isin(longest)], frame_interval_min)
    exponent = fit_msd_exponent(usable["lag_min"].to_numpy(), usable["msd_um2"].to_numpy())
    fit = (
        f"Fitted exponent α = {exponent:.2f} (least-squares slope of log MSD on log lag over the "
        f"{len(usable)} lags of the ensemble curve): about 1 for a random walk, 2 for motion at constant "
        "velocity, below 1 for confined motion."
        if exponent is not None
        else "Too few lags to fit an exponent."
    )
    caption = (
        f"Blue: ensemble mean squared displacement of all {lengths.size} tracks pooled (every pair of positions "
        "weighs the same; a track contributes lags up to a quarter of its length, at least 3 frames); grey: the "
        f"{min(lengths.size, _MAX_MSD_TRACKS)} longest tracks individually; dashed and dotted: slopes 1 "
        "(diffusive) and 2 (directed) through the first point. " + fit
    )
    return _figure(_msd_figure(ensemble, per_track), _esc(caption))


def _lineage_body(
    track_metrics: pd.DataFrame, lineage: pd.DataFrame | None, frame_interval_min: float | None
) -> str:
    """The lineage tree section: every track as a bar, daughters linked to their mother.

    Parameters
    ----------
    track_metrics : pandas.DataFrame
        Per-track table (:func:`cellpipe.measure.summarize_tracks`), every track; its ``n_divisions``,
        ``n_children`` and ``root`` give the counts in the caption.
    lineage : pandas.DataFrame or None
        ``parent, child, division_frame`` (track ids, frame): links drawn besides the ``parent`` column.
    frame_interval_min : float or None
        Time between frames (min); None draws the time axis in frames.
    """
    if len(track_metrics) == 0:
        return _empty_note("No tracks were found.")
    info = _track_info(track_metrics)
    parent_of = _parent_map(info, lineage)
    families = _families(info, parent_of)
    n_divisions = int(info["n_divisions"].sum())
    shown: list[list[int]] = []
    rows = 0
    for family in families:
        if len(shown) >= _MAX_FAMILIES or (shown and rows + len(family) > _MAX_LINEAGE_ROWS):
            break
        shown.append(family)
        rows += len(family)
    when = "time (min)" if frame_interval_min is not None else "time in frames (the frame interval is unknown)"
    caption = (
        f"Each bar is one track from its first to its last frame; x: {when}. A vertical line joins a mother to "
        "its daughters where it divides (dot); one colour per family (tracks sharing a root), lighter for later "
        "generations; families are drawn together in depth-first order, those with a division first. "
    )
    n_families = int(info["root"].nunique())
    if n_divisions:
        caption += f"{n_divisions} division(s) in {len(info)} tracks and {n_families} famil{'y' if n_families == 1 else 'ies'}."
    else:
        caption += f"No divisions were found in the {len(info)} tracks."
    single = int((info["n_children"] == 1).sum())
    if single:
        caption += f" {single} track(s) continue with a single daughter (drawn linked, not counted as divisions)."
    if len(shown) < n_families:
        caption += (
            f" Showing {len(shown)} of {n_families} families ({rows} of {len(info)} tracks); "
            f"{n_families - len(shown)} families were left out."
        )
    return _figure(_lineage_figure(info, parent_of, shown, frame_interval_min), _esc(caption))


def _trajectories_body(
    tracks: pd.DataFrame,
    track_metrics: pd.DataFrame,
    image: np.ndarray | None,
    frame: int,
    pixel_size_um: float | None,
) -> str:
    """The tracks overlay section: every trajectory over one frame, coloured by family.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Tracks table from :func:`valid_tracks` with positions ``y_px, x_px`` (px).
    track_metrics : pandas.DataFrame
        Per-track table (:func:`cellpipe.measure.summarize_tracks`): ``root`` and ``generation`` colour
        each track.
    image : numpy.ndarray or None
        (Y, X) background frame (any intensity scale); None draws on a dark background.
    frame : int
        Frame index (0-based) of ``image``; its tracks get a dot.
    pixel_size_um : float or None
        µm per px; None draws in px.
    """
    if len(tracks) == 0:
        return _empty_note("No tracks were found.")
    if not {"y_px", "x_px"} <= set(tracks.columns):
        return _empty_note("The tracks table has no pixel positions (y_px, x_px), so no trajectories are drawn.")
    info = _track_info(track_metrics)
    background = (
        f"over frame {frame} (grey, 1–99.8 % intensity stretch)"
        if image is not None
        else "on a dark background (no image is available)"
    )
    caption = (
        f"Trajectories of all {len(info)} tracks {background}: one colour per family, daughters lighter than "
        f"their mother; dots: the tracks present in frame {frame}."
        + (" Scale bar in µm." if pixel_size_um is not None else " Positions in pixels (pixel size unknown).")
    )
    return _figure(_tracks_overlay_figure(image, tracks, info, frame, pixel_size_um), _esc(caption))
