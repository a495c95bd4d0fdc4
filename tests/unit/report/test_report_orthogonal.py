"""Tests of the orthogonal views of a 3-D sample's report: xy at the middle plane, xz and yz through the middle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellpipe.report import build_sample_report

from .report_helpers import INTERVAL_MIN, PIXEL_UM, decoded_pngs, figure_values, percentile_table, section_html

Z_STEP_UM = 2.0
SHAPE = (6, 40, 48)  # (z, y, x) voxels


def _ellipsoid(centre: tuple[float, float, float], radii_px: tuple[float, float, float]) -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    return ((z - centre[0]) / radii_px[0]) ** 2 + ((y - centre[1]) / radii_px[1]) ** 2 + (
        (x - centre[2]) / radii_px[2]) ** 2 <= 1.0


@pytest.fixture(scope="module")
def stack() -> tuple[np.ndarray, np.ndarray]:
    """Object 1 around the stack's middle voxel (3, 20, 24): every middle plane cuts it.  Object 2 in the top
    plane only (z = 0) at y = 8, x = 8: in the projection, in none of the three views.  Object 3 in the middle
    row y = 20 but at x = 40 and planes 4-5: in the xz view only."""
    labels = np.zeros(SHAPE, dtype=np.uint32)
    labels[_ellipsoid((3, 20, 24), (1.6, 6, 6))] = 1
    labels[_ellipsoid((0, 8, 8), (0.6, 4, 4))] = 2
    labels[_ellipsoid((4.5, 20, 40), (1.0, 4, 4))] = 3
    rng = np.random.default_rng(0)
    image = rng.normal(0.1, 0.02, SHAPE) + 0.8 * (labels > 0)
    return image, labels


def _report(stack: tuple[np.ndarray, np.ndarray], orthogonal: bool, labelled: bool = True) -> str:
    image, labels = stack
    labels = labels if labelled else np.zeros_like(labels)
    empty = pd.DataFrame()
    return build_sample_report(
        "s3d", pd.DataFrame({"frame": [0], "time_min": [0.0], "n_cells": [3]}),
        pd.DataFrame({"frame": [0, 0, 0], "label": [1, 2, 3], "volume_um3": [100.0, 20.0, 40.0]}),
        pd.DataFrame(columns=["track_id", "n_frames", "excluded"]), image.max(axis=0), labels.max(axis=0), 2,
        percentile_table(1), {}, pixel_size_um=PIXEL_UM, frame_interval_min=INTERVAL_MIN, tracks=empty,
        orthogonal=[(2, image, labels)] if orthogonal else None, z_step_um=Z_STEP_UM,
    )


def _n_coloured(pixels: np.ndarray) -> int:
    """Pixels far from grey: the outlines (and the yellow cut lines); grey image and black text have R == G == B."""
    spread = pixels.max(axis=2).astype(int) - pixels.min(axis=2).astype(int)
    return int((spread > 60).sum())


def test_views_cut_the_stack_through_its_middle(stack: tuple[np.ndarray, np.ndarray]) -> None:
    html_text = _report(stack, orthogonal=True)
    series = {panel["view"]: panel for panel in figure_values(html_text)["orthogonal views"]["series"]}
    nz, ny, nx = SHAPE
    assert {view: series[view]["plane_px"] for view in series} == {"xy": [ny, nx], "xz": [nz, nx], "yz": [ny, nz]}
    assert {view: series[view]["labels"] for view in series} == {"xy": [1], "xz": [1, 3], "yz": [1]}
    assert [series[view]["frame"] for view in ("xy", "xz", "yz")] == [2, 2, 2]
    # to scale: 0.5 µm pixels, 2 µm between planes, so the 6 planes are 12 µm deep
    assert series["xy"]["extent"] == pytest.approx([0.0, nx * PIXEL_UM, ny * PIXEL_UM, 0.0])
    assert series["xz"]["extent"] == pytest.approx([0.0, nx * PIXEL_UM, nz * Z_STEP_UM, 0.0])
    assert series["yz"]["extent"] == pytest.approx([0.0, nz * Z_STEP_UM, ny * PIXEL_UM, 0.0])
    assert series["xy"]["extent_units"] == "µm"
    overlay = section_html(html_text, "overlay")
    assert "xy at the middle plane (z = 3), xz at y = 20 (below) and yz at x = 24 (right)" in overlay
    assert "0.5 µm per px, 2 µm between planes" in overlay


def test_views_draw_the_outlines(stack: tuple[np.ndarray, np.ndarray]) -> None:
    """The views are the overlay section's second picture, beside the projection; outlines add colour."""
    projection, views = decoded_pngs(section_html(_report(stack, orthogonal=True), "overlay"))
    _, bare = decoded_pngs(section_html(_report(stack, orthogonal=True, labelled=False), "overlay"))
    assert views.shape == bare.shape and views.shape[0] > 200 and views.shape[1] > 200
    assert _n_coloured(views) > _n_coloured(bare) + 200
    assert projection.shape != views.shape or not np.array_equal(projection, views)


def test_a_2d_report_has_no_orthogonal_views(stack: tuple[np.ndarray, np.ndarray]) -> None:
    html_text = _report(stack, orthogonal=False)
    assert "orthogonal views" not in figure_values(html_text)
    assert len(decoded_pngs(section_html(html_text, "overlay"))) == 1


def test_a_stack_and_labels_of_different_shapes_are_refused(stack: tuple[np.ndarray, np.ndarray]) -> None:
    image, labels = stack
    with pytest.raises(ValueError, match="must be the same"):
        build_sample_report(
            "s3d", pd.DataFrame({"frame": [0], "time_min": [0.0], "n_cells": [0]}), pd.DataFrame(),
            pd.DataFrame(columns=["track_id", "n_frames", "excluded"]), image.max(axis=0), labels.max(axis=0), 0,
            percentile_table(1), {}, orthogonal=[(0, image, labels[:, :-1])],
        )
