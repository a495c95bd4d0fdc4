"""Tests of cellpipe.report.sample and .sections: a sample's self-contained page, its sections and the numbers its figures carry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from cellpipe.config import MeasureSettings
from cellpipe.measure import counts_per_frame, measure_cells, summarize_tracks
from cellpipe.report import (
    NO_CELLS_MESSAGE,
    build_sample_report,
    build_summary_report,
    summary_row,
)
from cellpipe.report.sections import _montage_body

from .report_helpers import (
    ALL_ANCHORS,
    INTERVAL_MIN,
    MIN_TRACK_FRAMES,
    NEW_ANCHORS,
    PIXEL_UM,
    SECTIONS,
    assert_close,
    assert_histogram_of,
    assert_self_contained,
    decoded_pngs,
    path_speeds,
    percentile_table,
    section_html,
    series_named,
)


def test_sample_report_sections_and_header(report_html: str) -> None:
    assert report_html.startswith("<!DOCTYPE html>")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in report_html
    assert "2024-01-02 03:04 UTC" in report_html
    assert "0.5 µm/px" in report_html
    assert "2 min" in report_html
    # 4 frames, 3 cells per frame, 3 tracks.
    assert "4 frames · 12 cell detections · 3 tracks" in report_html
    assert "Frame 2" in report_html
    assert_self_contained(report_html)


def test_sample_report_images_are_real_pngs(report_html: str) -> None:
    images = decoded_pngs(report_html)
    # counts, overlay, areas, speeds, per-frame percentiles
    assert len(images) >= 5
    for pixels in images:
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels.std() > 0


def test_overlay_draws_coloured_outlines(movie: dict) -> None:
    kwargs = {
        "counts": movie["counts"],
        "cells": movie["cells"],
        "track_summary": movie["track_summary"],
        "overlay_image": movie["image"][0, 0],
        "overlay_frame": 0,
        "percentiles": movie["percentiles"],
        "provenance": {},
    }
    with_outlines = decoded_pngs(build_sample_report("s", overlay_labels=movie["labels"][0], **kwargs))[1]
    without = decoded_pngs(build_sample_report("s", overlay_labels=np.zeros_like(movie["labels"][0]), **kwargs))[1]
    assert with_outlines.shape == without.shape

    def n_coloured(pixels: np.ndarray) -> int:  # grey image and black text have R == G == B
        spread = pixels.max(axis=2).astype(int) - pixels.min(axis=2).astype(int)
        return int((spread > 60).sum())

    assert n_coloured(with_outlines) > 100
    assert n_coloured(without) == 0


def test_sample_report_escapes_user_strings(report_html: str) -> None:
    assert "sample<1>&co" not in report_html
    assert "sample&lt;1&gt;&amp;co" in report_html
    assert "classical &lt;threshold&gt;" in report_html
    assert "diameter_px" in report_html  # nested config is shown


def test_track_table_lists_tracks(report_html: str, movie: dict) -> None:
    track_section = report_html.split("<h2>Track summary</h2>")[1].split("</section>")[0]
    assert track_section.count("<tr>") == 1 + len(movie["track_summary"])  # header + one row per track
    # 2 px per frame at 0.5 µm/px for 3 steps = 3 µm over 6 min.
    assert "3.00" in track_section and "0.500" in track_section


def test_empty_movie_report() -> None:
    cells = measure_cells(np.zeros((3, 16, 16), np.uint32), np.zeros((3, 1, 16, 16)), None, 1.0, 5.0, MeasureSettings())
    tracks = pd.DataFrame(columns=["frame", "track_id", "label", "y_um", "x_um", "parent", "root", "generation"])
    summary = summarize_tracks(cells, tracks, 5.0)
    counts = counts_per_frame(cells, 3, 5.0)
    html_text = build_sample_report(
        "empty", counts, cells, summary, np.zeros((16, 16)), np.zeros((16, 16), np.uint32), 0, percentile_table(0), {},
        tracks=tracks, lineage=pd.DataFrame(columns=["parent", "child", "division_frame"]), montage=[],
        intensity_samples={}, evaluation={},
    )
    assert NO_CELLS_MESSAGE in html_text
    assert "No tracks were found." in html_text
    for anchor in ("trajectories", "lineage", "msd"):  # empty tracks: a note, no figure
        assert "No tracks were found." in section_html(html_text, anchor)
        assert "<img" not in section_html(html_text, anchor)
    assert "No ground truth was given" in section_html(html_text, "evaluation")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html_text
    for pixels in decoded_pngs(html_text):  # count plot and the (blank) frame only
        assert pixels.std() > 0
    assert_self_contained(html_text)

    # No frames at all and no overlay image.
    no_frames = build_sample_report(
        "none", counts.iloc[:0], cells, summary, None, None, 0, percentile_table(0).iloc[:0], {}
    )
    assert NO_CELLS_MESSAGE in no_frames
    assert "The movie has no frames." in no_frames
    assert len(decoded_pngs(no_frames)) == 0


def test_large_frame_gets_detail_panel(movie: dict) -> None:
    labels = np.zeros((800, 900), dtype=np.uint32)
    rr, cc = disk((400, 450), 30)
    labels[rr, cc] = 1
    image = labels.astype(float) * 50.0
    html_text = build_sample_report(
        "big", movie["counts"], movie["cells"], movie["track_summary"], image, labels, 1, movie["percentiles"], {}
    )
    assert "right: the boxed central region at full resolution" in html_text
    overlay = decoded_pngs(html_text)[1]
    assert overlay.shape[1] > overlay.shape[0]  # two panels side by side
    assert overlay.std() > 0


def test_full_report_has_every_section_in_order(full_html: str) -> None:
    positions = [full_html.index(f'<section id="{anchor}">') for anchor in ALL_ANCHORS]
    assert positions == sorted(positions)  # provenance last
    assert full_html.count("<section ") == len(ALL_ANCHORS)
    for anchor in ALL_ANCHORS:
        assert f'href="#{anchor}"' in full_html
    for anchor in NEW_ANCHORS:
        assert "<img" in section_html(full_html, anchor), anchor
        assert 'class="empty"' not in section_html(full_html, anchor), anchor
    assert_self_contained(full_html)


def test_full_report_figures_are_real_and_modest(full_html: str) -> None:
    images = decoded_pngs(full_html)
    # counts, overlay, montage, trajectories, lineage, areas, speeds, MSD, intensities, IoU, evaluated counts
    assert len(images) == 11
    for pixels in images:
        assert pixels.std() > 0
        assert (pixels != pixels[0, 0]).any()  # more than one colour
        assert 100 < pixels.shape[1] <= 1100 and pixels.shape[0] > 100
    assert len(full_html) < 3_000_000


def test_report_without_new_inputs_says_what_is_missing(report_html: str) -> None:
    assert "No ground truth was given for this sample, so nothing was evaluated." in report_html
    assert "No montage frames were given" in section_html(report_html, "montage")
    for anchor in ("trajectories", "lineage", "msd"):
        assert "No tracks were found." in section_html(report_html, anchor)
    assert "No intensity samples were given" in section_html(report_html, "normalization")


def test_normalization_histograms_mark_percentiles(full_html: str, family: dict) -> None:
    section = section_html(full_html, "normalization")
    figure = decoded_pngs(section)[0]
    assert figure.shape[1] > 2 * figure.shape[0]  # two panels side by side
    red = (np.abs(figure.astype(int) - [197, 48, 48]).sum(axis=2) < 40).sum()  # the marker lines
    assert red > 200
    normalized = family["samples"]["normalized"]
    below = 100.0 * np.mean(normalized < 0)
    assert f"{below:.2g} % lie below 0" in section
    assert "movie-wide low (dashed) and high (solid) percentile values of channel 0" in section
    assert "<td>-1</td>" in section or '<td class="num">-1</td>' in section  # the percentile table is kept


def test_trajectories_and_montage(full_html: str, family: dict) -> None:
    trajectories = section_html(full_html, "trajectories")
    assert "Trajectories of all 4 tracks over frame 6" in trajectories
    pixels = decoded_pngs(trajectories)[0].astype(int)
    assert ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum() > 200  # coloured lines on a grey image
    montage = section_html(full_html, "montage")
    assert "Segmentation in 4 frames" in montage
    grid = decoded_pngs(montage)[0]
    assert grid.shape[1] > 2 * grid.shape[0]  # 1 × 4 panels
    with pytest.raises(ValueError, match="montage image"):
        _montage_body([(0, np.zeros((8, 8)), np.zeros((8, 9), np.int32))], INTERVAL_MIN, PIXEL_UM)


def test_short_tracks_are_left_out_of_the_statistics(movie: dict) -> None:
    """One of the movie's three tracks flagged excluded='short': the summary row and the sample report
    count 2 tracks and 1 excluded, leave its speed out of the median, the histogram and the track table,
    and say so; a table without the excluded column (older results) counts every track."""
    tracks = movie["track_summary"]
    row = summary_row("s", movie["counts"], movie["cells"], tracks)
    assert (row["n_tracks"], row["n_tracks_excluded"]) == (3, 0)
    flagged = tracks.assign(excluded=["short", "", ""], mean_speed_um_per_min=[9.0, 0.5, 1.5])
    row = summary_row("s", movie["counts"], movie["cells"], flagged)
    assert (row["n_tracks"], row["n_tracks_excluded"]) == (2, 1)
    assert row["mean_speed_um_per_min"] == pytest.approx(1.0)  # median of 0.5, 1.5: the short track's 9 left out
    assert "short tracks excluded" in build_summary_report([row])
    old = summary_row("s", movie["counts"], movie["cells"], tracks.drop(columns="excluded"))
    assert (old["n_tracks"], old["n_tracks_excluded"]) == (3, 0)

    html_text = build_sample_report(
        "s", movie["counts"], movie["cells"], flagged, movie["image"][2, 0], movie["labels"][2], 2,
        movie["percentiles"], {}, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN,
    )
    assert "4 frames · 12 cell detections · 2 tracks" in html_text
    assert "for the 2 track(s) spanning at least two frames; 1 short track(s) left out." in html_text
    assert "1 short track(s) (column excluded in track_metrics.parquet) are not shown" in html_text
    table = section_html(html_text, "tracks")
    assert table.count("<tr>") == 1 + 2  # header + the two passing tracks


def test_every_figure_carries_its_numbers(measured: dict) -> None:
    html_text = measured["html"]
    assert html_text.count("<figure") == html_text.count("<figure data-values=") == len(decoded_pngs(html_text))
    assert set(measured["values"]) == {
        "counts", "overlay", "montage", "trajectories", "lineage", "areas", "speeds", "msd", "intensity",
        "normalization percentiles", "segmentation evaluation", "count evaluation",
    }
    assert all(values["series_left_out"] == 0 for values in measured["values"].values())
    assert_self_contained(html_text)  # the numbers are an attribute, not a script


def test_counts_figure_numbers(measured: dict) -> None:
    cells, n_frames = measured["cells"], measured["labels"].shape[0]
    per_frame = cells.groupby("frame").size().reindex(range(n_frames), fill_value=0)
    series = series_named(measured["values"]["counts"], "cells per frame")
    assert (series["x_units"], series["y_units"]) == ("min", "cells")
    assert_close(series["x"], np.arange(n_frames) * INTERVAL_MIN)
    assert_close(series["y"], per_frame.to_numpy())


def test_area_histogram_numbers(measured: dict) -> None:
    """Areas in µm²: pixels counted in the label image times the pixel area, not the cells table's own area."""
    labels = measured["labels"]
    areas = np.concatenate(
        [np.bincount(frame.ravel())[1:][np.bincount(frame.ravel())[1:] > 0] for frame in labels]
    ) * PIXEL_UM**2
    series = series_named(measured["values"]["areas"], "cell area (µm²)")
    assert (series["units"], series["count_units"]) == ("µm²", "cells")
    assert_histogram_of(series, areas)


def test_speed_histogram_numbers(measured: dict) -> None:
    speeds = path_speeds(measured["cells"], MIN_TRACK_FRAMES)
    assert sorted(speeds) == [1, 2, 3, 4]  # track 5 is short: left out
    series = series_named(measured["values"]["speeds"], "mean track speed (µm/min)")
    assert (series["units"], series["count_units"]) == ("µm/min", "tracks")
    assert_histogram_of(series, np.asarray(list(speeds.values())))


def test_overlay_and_montage_numbers(measured: dict) -> None:
    labels = measured["labels"]
    (panel,) = measured["values"]["overlay"]["series"]
    assert panel["frame"] == 6 and panel["extent_units"] == "µm"
    assert panel["labels"] == sorted(set(np.unique(labels[6]).tolist()) - {0})
    assert_close(panel["extent"], [0.0, labels.shape[2] * PIXEL_UM, labels.shape[1] * PIXEL_UM, 0.0])
    montage = measured["values"]["montage"]["series"]
    assert [p["frame"] for p in montage] == [0, 3, 7, 9]
    assert [p["n_objects"] for p in montage] == [np.unique(labels[t][labels[t] > 0]).size for t in (0, 3, 7, 9)]


def test_normalization_figure_numbers(measured: dict, family: dict) -> None:
    values, table = measured["values"], measured["percentiles"]
    movie = table[table["frame"] == -1].iloc[0]
    for name in ("raw", "normalized"):
        samples = family["samples"][name]
        series = series_named(values["intensity"], name)
        counts, edges = np.histogram(samples, bins=100, range=(samples.min(), samples.max()))
        assert_close(series["counts"], counts)
        assert_close(series["bin_edges"], edges)
    assert_close(series_named(values["intensity"], "raw")["marked"], [movie["low_value"], movie["high_value"]])
    for channel in (0, 1):
        rows = table[(table["channel"] == channel) & (table["frame"] >= 0)].sort_values("frame")
        for level in ("high", "low"):
            series = series_named(values["normalization percentiles"], f"channel {channel} {level}")
            assert (series["x_units"], series["y_units"]) == ("min", "raw intensity")
            assert_close(series["x"], rows["frame"].to_numpy() * INTERVAL_MIN)
            assert_close(series["y"], rows[f"{level}_value"].to_numpy())
