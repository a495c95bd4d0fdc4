"""The lineage tree, trajectories and mean squared displacement sections, from the track tables."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

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
    """Tracks grouped by family, the tracks sharing a ``root`` in ``track_metrics.parquet``, each in depth-first order.

    The grouping is measure's (``root``); within a family, each track follows its mother in depth-first
    order, children by first frame, then id (links of ``parent_of`` between two tracks of the family).
    A track whose mother is not in its family starts a branch of its own, in id order.  Families with a
    division (a track with ``n_divisions`` > 0) come first, then larger ones, longer ones (frames) and
    smaller root ids.
    """
    root = info["root"].to_dict()
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        if child in root and parent in root and root[child] == root[parent]:
            children.setdefault(parent, []).append(child)
    first = info["first_frame"].to_dict()
    for kids in children.values():
        kids.sort(key=lambda t: (first[t], t))
    visited: set[int] = set()

    def walk(top: int) -> list[int]:
        """The tracks below ``top`` (itself first), depth first, each once (a track seen before is not entered again)."""
        order: list[int] = []
        stack = [top]
        while stack:
            track = stack.pop()
            if track in visited:
                continue
            visited.add(track)
            order.append(track)
            stack.extend(reversed(children.get(track, [])))
        return order

    families: list[tuple[int, list[int]]] = []
    for family_root, members in info.groupby("root", sort=True).groups.items():
        ids = [int(t) for t in sorted(members)]
        linked = {c for t in ids for c in children.get(t, [])}
        tops = [t for t in ids if t not in linked]
        order = [t for top in tops for t in walk(top)]
        order += [t for t in ids if t not in visited for t in walk(t)]  # parent cycles (bad input): the rest
        families.append((int(family_root), order))

    last = info["last_frame"].to_dict()
    divides = (info["n_divisions"] > 0).to_dict()

    def key(item: tuple[int, list[int]]) -> tuple[int, int, int, int]:
        """Sort key of a family: families with a division first, then more tracks, longer span (frames), lower root id."""
        family_root, family = item
        span = max(last[t] for t in family) - min(first[t] for t in family)
        return (0 if any(divides[t] for t in family) else 1, -len(family), -span, family_root)

    return [family for _, family in sorted(families, key=key)]


def _msd_body(msd: pd.DataFrame | None, passing: pd.DataFrame) -> str:
    """The mean squared displacement section: ensemble and single-track MSD (µm²) against lag (min).

    Drawn from ``msd.parquet`` as rule measure_cells wrote it (:func:`cellpipe.measure.msd_table`), with
    the ensemble's fitted exponent from its ``msd_exponent``; nothing is computed again here.

    Parameters
    ----------
    msd : pandas.DataFrame or None
        ``track_id`` (0: the ensemble), ``lag_frames`` (frames), ``lag_min`` (min), ``msd_um2`` (µm²),
        ``n_pairs``, ``msd_exponent`` (no unit); None when the sample has no such table.
    passing : pandas.DataFrame
        The rows of ``track_metrics.parquet`` that enter per-track statistics: the tracks of the ensemble;
        the :data:`_MAX_MSD_TRACKS` with the most frames (``n_frames``) are drawn one by one.
    """
    if len(passing) == 0:
        return _empty_note("No tracks were found.")
    if msd is None:
        return _empty_note("No mean squared displacement table (msd.parquet of rule measure_cells) was given.")
    ensemble = msd[msd["track_id"] == 0]
    usable = ensemble[(ensemble["lag_min"] > 0) & (ensemble["msd_um2"] > 0)]
    if len(usable) == 0:
        return _empty_note("No track moves between two frames, so there is no mean squared displacement to plot.")
    lengths = passing.set_index("track_id")["n_frames"].sort_index()
    longest = lengths.sort_values(ascending=False, kind="stable").index[:_MAX_MSD_TRACKS]
    per_track = msd[(msd["track_id"] != 0) & msd["track_id"].isin(longest)]
    exponent = _num(ensemble["msd_exponent"].iloc[0]) if "msd_exponent" in ensemble else math.nan
    fit = (
        f"Fitted exponent α = {exponent:.2f} (least-squares slope of log MSD on log lag over the "
        f"{len(usable)} lags of the ensemble curve): about 1 for a random walk, 2 for motion at constant "
        "velocity, below 1 for confined motion."
        if math.isfinite(exponent)
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
