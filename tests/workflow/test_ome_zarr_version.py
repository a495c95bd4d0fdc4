"""``ome_zarr.version``: the version that is not the default, through the rules that write OME-Zarr.

The shared run of tests/workflow/test_workflow.py writes the default version and checks its stores; this
small run (3 frames of 48x64 px, classical segmentation) goes through ingest, normalize, segment, track,
measure and export with the other version, so every store the workflow writes (the OME-Zarr image and its
labels, normalized.zarr and tracks.geff) is checked in both.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from cellpipe import layout
from cellpipe.io import omezarr, tables
from cellpipe.io.movies import write_ome_tiff
from cellpipe.simulate import make_nuclei_movie

from conftest import default_config, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow

OTHER = next(v for v in layout.OME_ZARR_METADATA if v != layout.DEFAULT_OME_ZARR_VERSION)
"""The NGFF version a run writes only when the config asks for it."""


def test_the_other_ngff_version_is_written_by_every_rule_and_valid(tmp_path: Path) -> None:
    """With ``ome_zarr.version`` set to the non-default version, the rules declare and write the stores in
    it (metadata files of that version only), ome-zarr-models validates the image, the labels group and
    both label images as that version, ome-zarr-py reads it as such, and the steps read it back: the movie,
    its units, the cells and the tracks labels whose values are the track ids of tracks.parquet."""
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.exceptions import ValidationWarning

    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    movie = make_nuclei_movie(n_frames=3, shape=(48, 64), seed=0).image
    write_ome_tiff(workdir / "data" / "movie.ome.tif", movie[:, None], pixel_size_um=0.5, frame_interval_min=2.0,
                   channel_names=["H2B-GFP"])
    config = default_config()
    config["simulate"] = {}
    config["segment"]["method"] = "classical"
    config["ome_zarr"] = {"version": OTHER}
    write_workdir(workdir, config, "sample\tmovie\nv\tdata/movie.ome.tif\n")
    target = layout.path(layout.ome_zarr(layout.LABELS_GROUP_STORE, OTHER), "results", sample="v")
    normalized_target = layout.path(layout.zarr_array(layout.NORMALIZED_STORE, OTHER), "results", sample="v")
    geff_target = layout.path(layout.GEFF, "results", sample="v")

    proc = run_snakemake(workdir, target, normalized_target, geff_target, timeout=300)

    assert proc.returncode == 0, proc.stderr[-4000:]
    image = workdir / "results" / "v" / "image.ome.zarr"
    groups = {image: "Image", image / "labels": "Labels", image / "labels" / "cells": "ImageLabel",
              image / "labels" / "tracks": "ImageLabel"}
    other_file = layout.OME_ZARR_METADATA[layout.DEFAULT_OME_ZARR_VERSION]
    assert not list(image.rglob(other_file)), f"{other_file} in a NGFF {OTHER} store"
    for group, kind in groups.items():
        assert (group / layout.OME_ZARR_METADATA[OTHER]).is_file(), group
        with warnings.catch_warnings(action="error", category=ValidationWarning):
            model = open_ome_zarr(zarr.open_group(str(group), mode="r"), version=OTHER)
        assert type(model).__name__ == kind, group
    nodes = list(Reader(parse_url(str(image)))())
    assert [n.zarr.version for n in nodes] == [OTHER] * len(nodes) and len(nodes) == 4  # image, labels, cells, tracks

    read = omezarr.open_ome_image(image)
    np.testing.assert_array_equal(np.asarray(read.data)[:, 0], movie)
    assert (read.pixel_size_um, read.frame_interval_min, read.channel_names) == (0.5, 2.0, ["H2B-GFP"])
    cells = np.asarray(omezarr.open_ome_image(image / "labels" / "cells").data)
    tracked = np.asarray(omezarr.open_ome_image(image / "labels" / "tracks").data)
    assert all(frame.max() >= 2 for frame in cells)
    np.testing.assert_array_equal(tracked > 0, cells > 0)
    tracks = tables.read_parquet(workdir / "results" / "v" / "tracks.parquet")
    assert set(np.unique(tracked[tracked > 0])) == set(tracks["track_id"])
    properties = omezarr.open_multiscales(image / "labels" / "tracks").attrs["image-label"]["properties"]
    assert sorted(p["label-value"] for p in properties) == sorted(tracks["track_id"].unique())

    # normalized.zarr and tracks.geff: in the Zarr format of that version (v2 for 0.4, v3 for 0.5), with no
    # metadata file of the other format, read by the steps' reader and by geff's validation and reader
    fmt = omezarr.ZARR_FORMATS[OTHER]
    other_names = {2: ("zarr.json",), 3: (".zarray", ".zattrs", ".zgroup")}[fmt]
    normalized = workdir / "results" / "v" / "normalized.zarr"
    geff_store = workdir / "results" / "v" / "tracks.geff"
    assert (normalized / layout.ZARR_ARRAY_METADATA[OTHER]).is_file()
    assert (geff_store / layout.OME_ZARR_METADATA[OTHER]).is_file()
    for store in (normalized, geff_store):
        assert not [p for name in other_names for p in store.rglob(name)], f"Zarr v{5 - fmt} metadata in {store}"
    read = omezarr.open_zarr_array(normalized)
    assert read.metadata.zarr_format == fmt and read.shape == (3, 1, 48, 64) and read.chunks == (1, 1, 48, 64)
    percentiles = tables.read_tsv(workdir / "results" / "v" / "normalization.tsv")
    low, high = percentiles["low_value"].item(), percentiles["high_value"].item()
    np.testing.assert_allclose(read[:, 0], (movie - low) / (high - low), rtol=1e-5, atol=1e-6)

    import subprocess
    import sys

    from geff.core_io import read_to_memory
    from geff.validate.data import ValidationConfig

    assert zarr.open_group(str(geff_store), mode="r").metadata.zarr_format == fmt
    proc = subprocess.run([str(Path(sys.executable).parent / "geff"), "validate", str(geff_store)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mem = read_to_memory(str(geff_store), data_validation=ValidationConfig(graph=True, lineage=True))
    node_tracks = np.asarray(mem["node_props"]["track_id"]["values"])
    assert len(mem["node_ids"]) == len(tracks) and set(node_tracks) == set(tracks["track_id"])
    assert [r.path for r in mem["metadata"].related_objects][0] == "../image.ome.zarr"

    # the napari reader (which imports no napari) opens the folder: movie, both label images, the tracks and
    # the cells' measurements (cells.parquet, which the geff export needs)
    from cellpipe.napari_reader import read_results

    layers = read_results(workdir / "results" / "v")
    assert [kind for _, _, kind in layers] == ["image", "labels", "labels", "tracks", "points"]
    assert [kwargs["name"] for _, kwargs, _ in layers[1:]] == ["cells", "tracks", "tracks (lineage)", "cells (measurements)"]
    np.testing.assert_array_equal(np.asarray(layers[2][0]), tracked)  # 48 x 64 px: one level, no pyramid
