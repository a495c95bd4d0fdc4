"""Tests of the assess_quality rule's entry point (cellpipe.steps.qc)."""

from __future__ import annotations

import json

import numpy as np
from qc_helpers import FRAME_SHAPE, TRACKING, qc_counts, qc_metrics, qc_segmentation, qc_tracks

from cellpipe.config import QCSettings
from cellpipe.io import omezarr, tables
from cellpipe.layout import DEFAULT_OME_ZARR_VERSION, OME_ZARR_METADATA
from cellpipe.steps.qc import assess_quality_step

OME_META = OME_ZARR_METADATA[DEFAULT_OME_ZARR_VERSION]
"""The metadata file of an OME-Zarr store as the rules declare it (cellpipe.layout)."""


def test_step_writes_qc_json(tmp_path) -> None:
    image = tmp_path / "image.ome.zarr"
    omezarr.write_ome_image(image, np.zeros((4, 1, *FRAME_SHAPE), dtype=np.uint16), "tcyx", 0.5, 5.0)
    paths = {name: tmp_path / name for name in ("segmentation.json", "tracking.json", "tracks.parquet",
                                                 "track_metrics.parquet", "counts.tsv")}
    tables.write_json(qc_segmentation(), paths["segmentation.json"])
    tables.write_json(TRACKING, paths["tracking.json"])
    tables.write_parquet(qc_tracks(), paths["tracks.parquet"])
    tables.write_parquet(qc_metrics(short=3), paths["track_metrics.parquet"])
    tables.write_tsv(qc_counts([10, 10, 11, 10]), paths["counts.tsv"])
    assess_quality_step("s1", image / OME_META, paths["segmentation.json"], paths["tracking.json"],
                        paths["tracks.parquet"], paths["track_metrics.parquet"], paths["counts.tsv"],
                        QCSettings().model_dump(mode="json"), tmp_path / "qc.json")
    qc = json.loads((tmp_path / "qc.json").read_text())
    assert qc["sample"] == "s1" and qc["status"] == "check"
    assert qc["tracks"]["short_fraction"] == 0.75 and qc["tracks"]["border_fraction"] == 0.5
    assert "3 of 4 tracks (75 %) are shorter" in qc["warnings"][0]
