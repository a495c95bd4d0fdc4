"""3-D measurements: volumes, centroids, surface areas and sphericity of known ellipsoids in anisotropic voxels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cellpipe.measure import CELL_3D_COLUMNS, measure_cells_3d, measure_stack_3d, surface_area_um2
from cellpipe.simulate3d import make_nuclei_movie_3d


def ellipsoid(shape: tuple[int, int, int], voxel: tuple[float, float, float], centre_um: tuple[float, float, float],
              axes_um: tuple[float, float, float]) -> np.ndarray:
    """Voxels (Z, Y, X) whose centres lie inside an axis-aligned ellipsoid (centre and semi-axes in µm)."""
    grids = np.meshgrid(*[np.arange(n) * v - c for n, v, c in zip(shape, voxel, centre_um, strict=True)], indexing="ij")
    return sum((g / a) ** 2 for g, a in zip(grids, axes_um, strict=True)) <= 1


def ellipsoid_area(a: float, b: float, c: float) -> float:
    """Knud Thomsen's formula for the surface of an ellipsoid (within 1.1 % of the exact value)."""
    p = 1.6075
    return 4 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)


# (z step, y, x) µm; semi-axes (z, y, x) µm; centres off the voxel grid on purpose
CASES = [
    ((2.0, 0.5, 0.5), (8.0, 8.0, 8.0)),
    ((2.0, 0.5, 0.5), (8.0, 6.0, 4.0)),
    ((1.0, 0.5, 0.5), (5.0, 5.0, 5.0)),
    ((1.0, 0.5, 0.5), (6.0, 4.0, 8.0)),
    ((0.5, 0.5, 0.5), (4.0, 6.0, 8.0)),
]


@pytest.mark.parametrize(("voxel", "axes"), CASES)
def test_known_ellipsoid_volume_centroid_area_and_sphericity(voxel: tuple, axes: tuple) -> None:
    shape = tuple(int(30 / v) for v in voxel)
    centre = (15.13, 14.71, 15.37)
    labels = ellipsoid(shape, voxel, centre, axes).astype(np.uint16) * 7
    table = measure_stack_3d(labels, voxel)
    assert list(table.columns) == list(CELL_3D_COLUMNS)
    assert table["label"].tolist() == [7]
    row = table.iloc[0]
    volume = 4 / 3 * math.pi * np.prod(axes)
    assert row["volume_um3"] == pytest.approx(volume, rel=0.03)
    assert row["volume_um3"] == row["volume_voxels"] * np.prod(voxel)
    np.testing.assert_allclose(row[["centroid_z_um", "centroid_y_um", "centroid_x_um"]].to_numpy(float), centre,
                               atol=0.25 * max(voxel))
    area = ellipsoid_area(*axes)
    assert row["surface_area_um2"] == pytest.approx(area, rel=0.03)
    sphericity = math.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area
    assert row["sphericity"] == pytest.approx(sphericity, rel=0.04)
    if len(set(axes)) == 1:
        assert row["sphericity"] == pytest.approx(1.0, abs=0.03)
    else:
        assert row["sphericity"] < 0.97


def test_smoothing_is_what_makes_the_area_right() -> None:
    """The raw voxel staircase would overestimate a sphere's area by >10 % at 2 x 0.5 x 0.5 µm; the measured area does not."""
    voxel = (2.0, 0.5, 0.5)
    mask = ellipsoid((15, 60, 60), voxel, (14.1, 15.2, 14.8), (8.0, 8.0, 8.0))
    assert surface_area_um2(mask, voxel) == pytest.approx(4 * math.pi * 64, rel=0.03)
    # the same mask read as isotropic 0.5 µm voxels is a flat ellipsoid with a far smaller area
    assert surface_area_um2(mask, (0.5, 0.5, 0.5)) < 0.6 * 4 * math.pi * 64


def test_several_objects_empty_stacks_and_errors() -> None:
    voxel = (2.0, 0.5, 0.5)
    labels = np.zeros((10, 40, 60), np.uint16)
    labels[ellipsoid(labels.shape, voxel, (9.3, 10.0, 8.0), (5.0, 5.0, 5.0))] = 3
    labels[ellipsoid(labels.shape, voxel, (10.0, 10.0, 21.0), (6.0, 3.0, 5.0))] = 1
    labels[0, 0, 0] = 9  # a single voxel: a volume but no surface
    table = measure_stack_3d(labels, voxel)
    assert table["label"].tolist() == [1, 3, 9]
    assert table.set_index("label").loc[3, "volume_um3"] == pytest.approx(4 / 3 * math.pi * 125, rel=0.03)
    assert table.set_index("label").loc[9, "volume_um3"] == 2.0 * 0.5 * 0.5
    assert np.isnan(table.set_index("label").loc[9, "surface_area_um2"])
    assert table.set_index("label").loc[1, "centroid_x_um"] == pytest.approx(21.0, abs=0.1)

    empty = measure_stack_3d(np.zeros((4, 8, 8), np.uint16), voxel)
    assert empty.empty and list(empty.columns) == list(CELL_3D_COLUMNS)
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        measure_stack_3d(np.zeros((8, 8), np.uint16), voxel)
    with pytest.raises(ValueError, match="voxel_size_um"):
        measure_stack_3d(labels, (0.0, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"\(T, Z, Y, X\)"):
        measure_cells_3d(labels, voxel, 5.0)


def test_measure_cells_3d_on_a_simulated_movie() -> None:
    sim = make_nuclei_movie_3d(n_frames=3, shape_zyx=(8, 48, 48), seed=0)
    cells = measure_cells_3d(sim.labels, sim.voxel_size_um, sim.frame_interval_min)
    assert list(cells.columns) == ["frame", "time_min", *CELL_3D_COLUMNS]
    for t in range(3):
        rows = cells[cells["frame"] == t]
        counts = np.bincount(sim.labels[t].ravel())
        assert rows["label"].tolist() == np.flatnonzero(counts)[1:].tolist()
        np.testing.assert_array_equal(rows["volume_voxels"], counts[rows["label"]])
        assert (rows["time_min"] == t * sim.frame_interval_min).all()
    np.testing.assert_allclose(cells["volume_um3"], cells["volume_voxels"] * 2.0 * 0.5 * 0.5)
    # simulated nuclei are ellipsoids with axis ratios 0.65-0.95 (some cut by the stack): clearly not flat
    inside = cells.dropna(subset=["sphericity"])
    assert inside["sphericity"].median() > 0.8
    pd.testing.assert_frame_equal(cells[cells["frame"] == 1].drop(columns=["frame", "time_min"]).reset_index(drop=True),
                                  measure_stack_3d(sim.labels[1], sim.voxel_size_um))
