"""Tests of cellpipe.report.tracks: lineage tree, trajectories and mean squared displacement sections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellpipe.measure import msd_table, summarize_tracks
from cellpipe.report import (
    build_sample_report,
    summary_row,
)
from cellpipe.report.tracks import (
    _families,
    _lineage_body,
    _msd_body,
    _parent_map,
    _track_info,
    _trajectories_body,
    valid_tracks,
)

from .report_helpers import (
    INTERVAL_MIN,
    MIN_TRACK_FRAMES,
    PIXEL_UM,
    assert_close,
    decoded_pngs,
    figure_values,
    fitted_exponent,
    pooled_msd,
    random_walks,
    section_html,
    series_named,
    tracks_table,
)


def test_lineage_caption_counts_divisions(full_html: str, family: dict) -> None:
    section = section_html(full_html, "lineage")
    assert len(decoded_pngs(section)) == 1
    assert "1 division(s) in 4 tracks and 2 families" in section
    assert "<td>1</td>" not in section  # a figure, not a table
    summary = section_html(full_html, "summary")
    assert '<div class="k">divisions</div><div class="v">1</div>' in summary

    # Without parents and lineage: bars only.
    no_parents = family["tracks"].assign(parent=0, root=family["tracks"]["track_id"])
    body = _lineage_body(summarize_tracks(None, no_parents, INTERVAL_MIN), None, INTERVAL_MIN)
    assert "No divisions were found in the 4 tracks." in body
    assert len(decoded_pngs(body)) == 1
    # The lineage table alone is enough to link the daughters in the drawing.
    info = _track_info(summarize_tracks(None, no_parents, INTERVAL_MIN))
    assert _parent_map(info, family["lineage"]) == {2: 1, 3: 1}
    # The caption's count is measure's: 5 has a single daughter (it continues the track), 7 two.
    single = tracks_table([(0, 5, 5.0, 5.0, 0, 5, 0), (1, 6, 5.0, 5.0, 5, 5, 1), (0, 7, 9.0, 9.0, 0, 7, 0),
                            (1, 8, 9.0, 9.0, 7, 7, 1), (1, 9, 9.0, 9.0, 7, 7, 1)])
    body = _lineage_body(summarize_tracks(None, single, INTERVAL_MIN), None, INTERVAL_MIN)
    assert "1 division(s) in 5 tracks and 2 families" in body
    assert "1 track(s) continue with a single daughter" in body


def test_lineage_caps_the_number_of_families() -> None:
    rows = [(f, t, 10.0, 10.0, 0, t, 0) for t in range(1, 61) for f in range(2)]
    rows += [(f, 100, 5.0, 5.0, 0, 100, 0) for f in range(3)]
    rows += [(f, c, 5.0, 5.0, 100, 100, 1) for c in (101, 102) for f in range(3, 6)]
    body = _lineage_body(summarize_tracks(None, tracks_table(rows), INTERVAL_MIN), None, INTERVAL_MIN)
    assert "1 division(s) in 63 tracks and 61 families" in body
    assert "Showing 40 of 61 families (42 of 63 tracks); 21 families were left out." in body


def _msd_section(tracks: pd.DataFrame) -> str:
    """The MSD section of ``tracks`` (µm), every track passing, drawn from measure's msd table."""
    passing = tracks.groupby("track_id").size().rename("n_frames").reset_index()  # the columns _msd_body reads
    return _msd_body(msd_table(tracks, INTERVAL_MIN), passing)


def test_msd_exponent_random_walk_and_directed_motion(full_html: str) -> None:
    assert fitted_exponent(_msd_section(random_walks(30, 300, seed=0))) == pytest.approx(1.0, abs=0.15)
    frames = np.arange(40)
    straight = pd.DataFrame(
        {
            "track_id": np.repeat([1, 2, 3], frames.size),
            "frame": np.tile(frames, 3),
            "y_um": np.concatenate([0.5 * frames, -1.5 * frames, 0.0 * frames]),
            "x_um": np.concatenate([1.0 * frames, 0.2 * frames, 2.0 * frames]) + 7.0,
        }
    )
    assert fitted_exponent(_msd_section(straight)) == pytest.approx(2.0, abs=0.01)
    passing = summarize_tracks(None, straight, INTERVAL_MIN)
    assert "No mean squared displacement table (msd.parquet" in _msd_body(None, passing)
    # The sample's tracks move at constant (different) velocities too; pooling speeds with lag-dependent
    # pair counts bends the ensemble curve a little.
    assert fitted_exponent(section_html(full_html, "msd")) == pytest.approx(2.0, abs=0.15)


def test_trajectory_numbers(measured: dict) -> None:
    """Each trajectory is its track's pixel centres in µm, in frame order; the dots are the overlay frame's."""
    tracks, values = measured["tracks"], measured["values"]["trajectories"]
    for track_id, rows in tracks.groupby("track_id"):
        rows = rows.sort_values("frame")
        series = series_named(values, f"track {track_id}")
        assert (series["x_units"], series["y_units"]) == ("µm", "µm")
        assert_close(series["x"], (rows["x_px"].to_numpy() + 0.5) * PIXEL_UM)
        assert_close(series["y"], (rows["y_px"].to_numpy() + 0.5) * PIXEL_UM)
    now = tracks[tracks["frame"] == 6]
    dots = series_named(values, "tracks in frame 6")
    assert dots["track_id"] == now["track_id"].tolist()
    assert_close(dots["x"], (now["x_px"].to_numpy() + 0.5) * PIXEL_UM)
    assert_close(dots["y"], (now["y_px"].to_numpy() + 0.5) * PIXEL_UM)


def test_lineage_numbers(measured: dict) -> None:
    """Bars span each track's frames ± half a frame (min); the division sits at the mother's end."""
    tracks, values = measured["tracks"], measured["values"]["lineage"]
    bars = series_named(values, "tracks")
    assert bars["units"] == "min" and sorted(bars["track_id"]) == sorted(tracks["track_id"].unique().tolist())
    frames = tracks.groupby("track_id")["frame"]
    assert_close(bars["start"], (frames.min().loc[bars["track_id"]].to_numpy() - 0.5) * INTERVAL_MIN)
    assert_close(bars["end"], (frames.max().loc[bars["track_id"]].to_numpy() + 0.5) * INTERVAL_MIN)
    divisions = series_named(values, "divisions")
    assert divisions["parent"] == [1]
    assert_close(divisions["time"], [(tracks.loc[tracks["track_id"] == 1, "frame"].max() + 0.5) * INTERVAL_MIN])


def test_msd_numbers(measured: dict) -> None:
    """Ensemble and per-track MSD of the tracks that enter statistics (short track 5 left out)."""
    tracks, values = measured["tracks"], measured["values"]["msd"]
    tracks = tracks[tracks.groupby("track_id")["frame"].transform("size") >= MIN_TRACK_FRAMES]
    assert sorted(tracks["track_id"].unique()) == [1, 2, 3, 4]
    ensemble = series_named(values, "ensemble")
    assert (ensemble["x_units"], ensemble["y_units"]) == ("min", "µm²")
    pooled = pooled_msd(tracks)
    assert_close(ensemble["x"], [lag * INTERVAL_MIN for lag in sorted(pooled)])
    assert_close(ensemble["y"], [np.mean(pooled[lag]) for lag in sorted(pooled)])
    for track_id, rows in tracks.groupby("track_id"):
        own = pooled_msd(rows)
        if len(own) < 2:
            continue
        series = series_named(values, f"track {track_id}")
        assert_close(series["x"], [lag * INTERVAL_MIN for lag in sorted(own)])
        assert_close(series["y"], [np.mean(own[lag]) for lag in sorted(own)])


def test_a_figure_carries_at_most_its_cap_of_whole_series() -> None:
    """600 tracks over 100 frames (120,000 coordinates): the trajectories carry the overlay frame's dots and
    whole trajectories up to 100,000 numbers, and count the trajectories left out."""
    walks = random_walks(600, 100, seed=2)
    tracks = valid_tracks(walks.assign(y_px=walks["y_um"] + 50.0, x_px=walks["x_um"] + 50.0, parent=0))
    metrics = summarize_tracks(None, tracks, INTERVAL_MIN)
    (values,) = figure_values(_trajectories_body(tracks, metrics, None, 3, PIXEL_UM)).values()
    dots, *trajectories = values["series"]
    assert dots["name"] == "tracks in frame 3" and len(dots["x"]) == 600
    assert values["series_left_out"] == 600 - len(trajectories) > 0
    assert sum(len(s["x"]) + len(s["y"]) for s in trajectories) <= 100_000
    for series in trajectories:
        rows = tracks[tracks["track_id"] == series["track_id"]]
        assert_close(series["x"], (rows["x_px"].to_numpy() + 0.5) * PIXEL_UM)


def test_division_counts_are_read_from_track_metrics(family: dict) -> None:
    """The summary row, the summary card and the lineage caption show measure's ``n_divisions`` and
    ``root`` (track_metrics.parquet); the report does not count parents again."""
    metrics = family["track_summary"].assign(n_divisions=[2, 0, 0, 0], root=[1, 1, 1, 1])
    assert summary_row("x", family["counts"], family["cells"], metrics)["n_divisions"] == 2
    html_text = build_sample_report(
        "x", family["counts"], family["cells"], metrics, None, None, 0, family["percentiles"], {},
        pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN, tracks=family["tracks"], lineage=family["lineage"],
    )
    assert '<div class="k">divisions</div><div class="v">2</div>' in section_html(html_text, "summary")
    assert "2 division(s) in 4 tracks and 1 family." in section_html(html_text, "lineage")


def test_the_msd_section_draws_the_table_measure_wrote() -> None:
    """The figure's curves and the caption's exponent are msd.parquet's numbers, not computed again from the
    tracks: a table whose exponent (1.23) no curve of it gives is shown as it is."""
    frames = np.arange(12)
    tracks = pd.DataFrame({"track_id": np.repeat([1, 2], frames.size), "frame": np.tile(frames, 2),
                           "y_um": np.concatenate([frames, 0.0 * frames]), "x_um": np.concatenate([0.0 * frames, frames])})
    passing = summarize_tracks(None, tracks, INTERVAL_MIN)
    msd = pd.DataFrame({
        "track_id": [0, 0, 0, 1, 1, 2, 2], "lag_frames": [1, 2, 3, 1, 2, 1, 2],
        "lag_min": [2.0, 4.0, 6.0, 2.0, 4.0, 2.0, 4.0], "msd_um2": [1.5, 3.0, 7.0, 1.0, 2.5, 2.0, 4.5],
        "n_pairs": [22, 20, 18, 11, 10, 11, 10], "msd_exponent": [1.23, 1.23, 1.23] + [np.nan] * 4,
    })
    body = _msd_body(msd, passing)
    assert fitted_exponent(body) == pytest.approx(1.23)
    assert "over the 3 lags of the ensemble curve" in body and "all 2 tracks pooled" in body
    (values,) = figure_values(body).values()
    ensemble = series_named(values, "ensemble")
    assert_close(ensemble["x"], [2.0, 4.0, 6.0])
    assert_close(ensemble["y"], [1.5, 3.0, 7.0])
    assert_close(series_named(values, "track 2")["y"], [2.0, 4.5])


def test_families_are_measure_roots() -> None:
    """The lineage tree groups tracks by track_metrics' ``root``: a track measure put in family 1 without a
    parent link is drawn in it (after the linked ones), and a lineage link between two roots joins no families."""
    rows = [(f, 1, 10.0, 10.0, 0, 1, 0) for f in range(3)]
    rows += [(f, c, 10.0, 10.0, 1, 1, 1) for c in (2, 3) for f in range(3, 6)]
    rows += [(f, 4, 30.0, 30.0, 0, 1, 0) for f in range(4)]  # root 1 in the table, no parent
    rows += [(f, 5, 50.0, 50.0, 0, 5, 0) for f in range(6)]
    rows += [(f, 6, 50.0, 50.0, 0, 6, 0) for f in range(6, 9)]
    info = _track_info(summarize_tracks(None, tracks_table(rows), INTERVAL_MIN))
    parent_of = _parent_map(info, pd.DataFrame({"parent": [1, 1, 5], "child": [2, 3, 6], "division_frame": [3, 3, 6]}))
    assert parent_of == {2: 1, 3: 1, 6: 5}
    assert _families(info, parent_of) == [[1, 2, 3, 4], [5], [6]]
