"""Tests of the report rules' entry points (cellpipe.steps.report)."""

from __future__ import annotations


def test_the_report_says_how_the_stacks_were_projected() -> None:
    from cellpipe.steps.report import _z_projection_view

    assert _z_projection_view({"method": "none", "setting": "max", "z_planes": 1}) == {}
    assert _z_projection_view(None) == {}
    assert _z_projection_view({"method": "max", "setting": "max", "z_planes": 5}) == {
        "z projection": "max of 5 z-planes per frame and channel"
    }
    line = _z_projection_view({"method": "best_focus", "z_planes": 4, "focus_measure": "variance of the Laplacian",
                               "best_focus_planes": [[1]]})["z projection"]
    assert line.startswith("best_focus of 4 z-planes") and "variance of the Laplacian" in line
