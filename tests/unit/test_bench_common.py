"""bench.common.config_segment: the config's segment section as the stage functions take it."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.common import REPO, config_segment
from cellpipe.config import SegmentSettings


def test_config_segment_drops_scatter_and_overrides_model_and_cellpose_settings(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["segment"]
    assert "scatter" in config
    shipped = config_segment(None)
    assert "scatter" not in shipped
    assert shipped["cellpose"]["model"] == str(REPO / config["cellpose"]["model"])
    assert shipped["cellpose"]["flow_threshold"] == config["cellpose"]["flow_threshold"]
    assert shipped["diameter_um"] == config["diameter_um"]
    SegmentSettings.model_validate(shipped)

    other = config_segment(tmp_path / "weights.pth", precision="bfloat16")
    assert other["cellpose"]["model"] == str(tmp_path / "weights.pth")
    assert other["cellpose"]["precision"] == "bfloat16"
    assert {k: v for k, v in other["cellpose"].items() if k not in ("model", "precision")} == {
        k: v for k, v in shipped["cellpose"].items() if k not in ("model", "precision")
    }
