"""OME-Zarr writing: NGFF metadata with units, one chunk per frame, atomic stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from cellpipe.io.atomic import atomic_path
from cellpipe.io.omezarr import new_ome_array, open_ome_image, write_labels_group, write_ome_image


def test_image_round_trip_with_physical_metadata(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 255, (4, 2, 16, 12), dtype=np.uint8)
    path = tmp_path / "img.ome.zarr"
    write_ome_image(path, data, "tcyx", 0.5, 3.0, ["gfp", "rfp"], extra_attrs={"sample": "s1"})
    image = open_ome_image(path)
    np.testing.assert_array_equal(image.data[:], data)
    assert (image.axes, image.pixel_size_um, image.frame_interval_min) == ("tcyx", 0.5, 3.0)
    assert image.channel_names == ["gfp", "rfp"]
    assert image.attrs == {"sample": "s1"}
    assert image.data.chunks == (1, 1, 16, 12)
    meta = json.loads((path / ".zattrs").read_text())["multiscales"][0]
    assert meta["version"] == "0.4"
    assert [a.get("unit") for a in meta["axes"]] == ["minute", None, "micrometer", "micrometer"]


def test_ome_zarr_library_reads_what_we_write(tmp_path: Path) -> None:
    data = np.arange(3 * 10 * 10, dtype=np.uint32).reshape(3, 10, 10)
    path = tmp_path / "labels.ome.zarr"
    write_ome_image(path, data, "tyx", 0.65, 5.0, name="cells")
    nodes = list(Reader(parse_url(str(path)))())
    assert nodes, "ome-zarr found no image"
    np.testing.assert_array_equal(np.asarray(nodes[0].data[0]), data)
    assert [a["name"] for a in nodes[0].metadata["axes"]] == ["t", "y", "x"]


def test_label_images_are_valid_ngff_and_compressed_with_zstd(tmp_path: Path) -> None:
    """The metadata cellpipe writes itself passes ome-zarr-models' NGFF 0.4 validation; label images
    use Blosc zstd, intensity images Blosc lz4 (bench.zarr_io)."""
    import zarr
    from ome_zarr_models.v04.image_label import ImageLabel

    image = tmp_path / "img.ome.zarr"
    write_ome_image(image, np.ones((2, 1, 8, 8), np.uint16), "tcyx", 0.5, 3.0)
    labels = image / "labels" / "cells"
    data = np.zeros((2, 8, 8), np.uint32)
    data[:, 2:5, 2:5] = 7
    write_ome_image(labels, data, "tyx", 0.5, 3.0, name="cells", label_of=image)

    model = ImageLabel.from_zarr(zarr.open_group(str(labels), mode="r"))
    assert model.attributes.image_label.source.image == "../.."
    assert model.attributes.multiscales[0].axes[0].unit == "minute"
    np.testing.assert_array_equal(open_ome_image(labels).data[:], data)
    codec = {p.name: json.loads((p / "s0" / ".zarray").read_text())["compressor"] for p in (image, labels)}
    assert (codec["img.ome.zarr"]["cname"], codec["cells"]["cname"]) == ("lz4", "zstd")


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.ome.zarr"
    with pytest.raises(RuntimeError):
        with new_ome_array(path, (3, 8, 8), "uint16", "tyx", 1.0, 1.0) as arr:
            arr[0] = 1
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "table.tsv"
    target.write_text("old")
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.tsv"]


def test_label_images_point_at_their_image_for_ome_zarr_readers(tmp_path: Path) -> None:
    """Label images in the image's NGFF labels group (image.ome.zarr/labels/cells, .../tracks) carry
    image-label metadata; ome-zarr-py (what napari-ome-zarr uses) opens the image and finds both label
    images through the labels group, and opening a label image brings in its image."""
    from ome_zarr.reader import Label, Labels

    image = tmp_path / "s1" / "image.ome.zarr"
    write_ome_image(image / ".zattrs", np.ones((2, 1, 8, 8), np.uint16), "tcyx", 0.5, 3.0)  # store or its .zattrs
    labels = np.zeros((2, 8, 8), np.uint32)
    labels[:, 2:5, 2:5] = 7
    write_ome_image(image / "labels" / "cells", labels > 0, "tyx", 0.5, 3.0, name="cells", label_of=image)
    write_ome_image(image / "labels" / "tracks" / ".zattrs", labels, "tyx", 0.5, 3.0, name="tracks", label_of=image / ".zattrs")
    with pytest.raises(FileNotFoundError, match=r"label image\(s\) \['nuclei'\] not found"):
        write_labels_group(image, ["cells", "tracks", "nuclei"])
    write_labels_group(image, ["cells", "tracks"])
    attrs = json.loads((image / "labels" / "tracks" / ".zattrs").read_text())
    assert attrs["image-label"] == {"version": "0.4", "source": {"image": "../.."}}
    assert json.loads((image / "labels" / ".zattrs").read_text()) == {"labels": ["cells", "tracks"]}
    nodes = list(Reader(parse_url(str(image)))())
    assert any(isinstance(spec, Labels) for n in nodes for spec in n.specs)
    label_nodes = [n for n in nodes if any(isinstance(spec, Label) for spec in n.specs)]
    assert sorted(Path(str(n.zarr.path)).name for n in label_nodes) == ["cells", "tracks"]
    assert max(np.asarray(n.data[0]).max() for n in label_nodes) == 7
    from_label = list(Reader(parse_url(str(image / "labels" / "tracks")))())
    assert any(Path(str(n.zarr.path)).resolve() == image.resolve() for n in from_label)
    assert open_ome_image(image / "labels" / "tracks" / ".zattrs").data.shape == (2, 8, 8)
