"""OME-Zarr writing: NGFF metadata with units, one chunk per frame, atomic stores; NGFF 0.4 (Zarr v2) and
0.5 (Zarr v3) alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from cellpipe import layout
from cellpipe.io.atomic import atomic_path
from cellpipe.io.omezarr import new_ome_array, open_ome_image, write_labels_group, write_ome_image

VERSIONS = ("0.4", "0.5")


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    """The NGFF version a test writes (and reads back)."""
    return request.param


def meta_file(store: Path, version: str) -> Path:
    """The metadata file of the OME-Zarr group ``store`` in NGFF ``version`` (what the rules declare)."""
    return Path(layout.ome_zarr(str(store), version))


def ngff_attrs(store: Path) -> dict:
    """The NGFF attributes of the group ``store`` as written on disk, whatever the version: ``.zattrs``
    (0.4), or the ``ome`` key of ``zarr.json``'s attributes (0.5) with the other keys beside it."""
    if (store / "zarr.json").is_file():
        attrs = json.loads((store / "zarr.json").read_text())["attributes"]
        assert not (store / ".zattrs").exists()
        return {**{k: v for k, v in attrs.items() if k != "ome"}, **attrs["ome"]}
    return json.loads((store / ".zattrs").read_text())


def test_image_round_trip_with_physical_metadata(tmp_path: Path, version: str) -> None:
    """The version the path's metadata file names is written: 0.4 names it in ``multiscales``, 0.5 once in
    ``ome`` (Zarr v3, ``zarr.json``), with ``cellpipe`` beside ``ome``."""
    data = np.random.default_rng(1).integers(0, 255, (4, 2, 16, 12), dtype=np.uint8)
    path = tmp_path / "img.ome.zarr"
    write_ome_image(meta_file(path, version), data, "tcyx", 0.5, 3.0, ["gfp", "rfp"], extra_attrs={"sample": "s1"})
    image = open_ome_image(path)
    np.testing.assert_array_equal(image.data[:], data)
    assert (image.axes, image.pixel_size_um, image.frame_interval_min) == ("tcyx", 0.5, 3.0)
    assert image.channel_names == ["gfp", "rfp"]
    assert image.attrs == {"sample": "s1"}
    assert image.data.chunks == (1, 1, 16, 12)
    attrs = ngff_attrs(path)
    meta = attrs["multiscales"][0]
    assert (meta.get("version"), attrs.get("version")) == (("0.4", None) if version == "0.4" else (None, "0.5"))
    assert attrs["cellpipe"] == {"sample": "s1"}
    assert [a.get("unit") for a in meta["axes"]] == ["minute", None, "micrometer", "micrometer"]
    if version == "0.5":
        import zarr

        assert zarr.open_group(str(path), mode="r").metadata.zarr_format == 3
        assert json.loads((path / "s0" / "zarr.json").read_text())["dimension_names"] == ["t", "c", "y", "x"]
        assert open_ome_image(path / "zarr.json").channel_names == ["gfp", "rfp"]


def test_ome_zarr_library_reads_what_we_write(tmp_path: Path, version: str) -> None:
    data = np.arange(3 * 10 * 10, dtype=np.uint32).reshape(3, 10, 10)
    path = tmp_path / "labels.ome.zarr"
    write_ome_image(path, data, "tyx", 0.65, 5.0, name="cells", version=version)
    nodes = list(Reader(parse_url(str(path)))())
    assert nodes, "ome-zarr found no image"
    assert nodes[0].zarr.version == version
    np.testing.assert_array_equal(np.asarray(nodes[0].data[0]), data)
    assert [a["name"] for a in nodes[0].metadata["axes"]] == ["t", "y", "x"]


def test_label_images_are_valid_ngff_and_compressed_with_zstd(tmp_path: Path, version: str) -> None:
    """The metadata cellpipe writes itself passes ome-zarr-models' validation of its version; label images
    use Blosc zstd, intensity images Blosc lz4 (bench.zarr_io), as Zarr v2 compressors or v3 codecs; a
    label image written without a metadata file name takes its image's version."""
    import zarr
    from ome_zarr_models import open_ome_zarr

    image = tmp_path / "img.ome.zarr"
    write_ome_image(meta_file(image, version), np.ones((2, 1, 8, 8), np.uint16), "tcyx", 0.5, 3.0)
    labels = image / "labels" / "cells"
    data = np.zeros((2, 8, 8), np.uint32)
    data[:, 2:5, 2:5] = 7
    write_ome_image(labels, data, "tyx", 0.5, 3.0, name="cells", label_of=image)

    model = open_ome_zarr(zarr.open_group(str(labels), mode="r"), version=version)
    assert type(model).__name__ == "ImageLabel" and type(model).__module__.startswith(f"ome_zarr_models.v0{version[-1]}")
    attrs = model.attributes if version == "0.4" else model.attributes.ome  # 0.5: under "ome"
    assert attrs.image_label.source.image == "../.."
    assert attrs.multiscales[0].axes[0].unit == "minute"
    np.testing.assert_array_equal(open_ome_image(labels).data[:], data)
    if version == "0.4":
        codec = {p.name: json.loads((p / "s0" / ".zarray").read_text())["compressor"] for p in (image, labels)}
    else:
        codec = {
            p.name: next(c["configuration"] for c in json.loads((p / "s0" / "zarr.json").read_text())["codecs"]
                         if c["name"] == "blosc")
            for p in (image, labels)
        }
    assert (codec["img.ome.zarr"]["cname"], codec["cells"]["cname"]) == ("lz4", "zstd")
    assert all(c["clevel"] == 5 for c in codec.values())


def test_failed_write_leaves_nothing(tmp_path: Path, version: str) -> None:
    path = tmp_path / "out.ome.zarr"
    with pytest.raises(RuntimeError):
        with new_ome_array(meta_file(path, version), (3, 8, 8), "uint16", "tyx", 1.0, 1.0) as arr:
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


def test_label_images_point_at_their_image_for_ome_zarr_readers(tmp_path: Path, version: str) -> None:
    """Label images in the image's NGFF labels group (image.ome.zarr/labels/cells, .../tracks) carry
    image-label metadata; ome-zarr-py (what napari-ome-zarr uses) opens the image and finds both label
    images through the labels group, and opening a label image brings in its image."""
    from ome_zarr.reader import Label, Labels

    image = tmp_path / "s1" / "image.ome.zarr"
    write_ome_image(meta_file(image, version), np.ones((2, 1, 8, 8), np.uint16), "tcyx", 0.5, 3.0)  # store or its file
    labels = np.zeros((2, 8, 8), np.uint32)
    labels[:, 2:5, 2:5] = 7
    write_ome_image(image / "labels" / "cells", labels > 0, "tyx", 0.5, 3.0, name="cells", label_of=image)
    write_ome_image(meta_file(image / "labels" / "tracks", version), labels, "tyx", 0.5, 3.0, name="tracks",
                    label_of=meta_file(image, version))
    with pytest.raises(FileNotFoundError, match=r"label image\(s\) \['nuclei'\] not found"):
        write_labels_group(image, ["cells", "tracks", "nuclei"])
    write_labels_group(image, ["cells", "tracks"])
    attrs = ngff_attrs(image / "labels" / "tracks")
    assert attrs["image-label"] == ({"version": "0.4"} if version == "0.4" else {}) | {"source": {"image": "../.."}}
    assert ngff_attrs(image / "labels") == {"labels": ["cells", "tracks"]} | ({"version": "0.5"} if version == "0.5" else {})
    nodes = list(Reader(parse_url(str(image)))())
    assert any(isinstance(spec, Labels) for n in nodes for spec in n.specs)
    label_nodes = [n for n in nodes if any(isinstance(spec, Label) for spec in n.specs)]
    assert sorted(Path(str(n.zarr.path)).name for n in label_nodes) == ["cells", "tracks"]
    assert max(np.asarray(n.data[0]).max() for n in label_nodes) == 7
    from_label = list(Reader(parse_url(str(image / "labels" / "tracks")))())
    assert any(Path(str(n.zarr.path)).resolve() == image.resolve() for n in from_label)
    assert open_ome_image(meta_file(image / "labels" / "tracks", version)).data.shape == (2, 8, 8)


def assert_valid_ngff(path: Path, kind: str, version: str = "0.4") -> None:
    """``path`` passes ome-zarr-models' own validation of NGFF ``version`` as ``kind`` (``Image``,
    ``ImageLabel`` or ``Labels``), its validation warnings counted as errors (what ``ome-zarr-models
    validate`` does)."""
    import warnings

    import zarr
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.exceptions import ValidationWarning

    with warnings.catch_warnings(action="error", category=ValidationWarning):
        model = open_ome_zarr(zarr.open_group(str(path), mode="r"), version=version)
    assert type(model).__name__ == kind, (path, type(model))
    assert type(model).__module__.startswith(f"ome_zarr_models.v0{version[-1]}."), (path, type(model))


def test_every_group_written_is_valid_ome_zarr(tmp_path: Path, version: str) -> None:
    """The image root (omero channels with colour, window, label, active), both label images and the
    labels group pass ome-zarr-models' validation; the window's min/max are the dtype's range, its
    start/end robust percentiles of the data."""
    from cellpipe.io.omezarr import channel_colors

    rng = np.random.default_rng(0)
    data = rng.integers(100, 200, (3, 2, 16, 12), dtype=np.uint16)
    data[:, 1] += 1000
    image = tmp_path / "image.ome.zarr"
    write_ome_image(meta_file(image, version), data, "tcyx", 0.5, 3.0, ["gfp", "rfp"])
    labels = np.zeros((3, 16, 12), np.uint32)
    labels[:, 2:5, 2:5] = 7
    write_ome_image(image / "labels" / "cells", labels, "tyx", 0.5, 3.0, name="cells", label_of=image)
    write_ome_image(image / "labels" / "tracks", labels, "tyx", 0.5, 3.0, name="tracks", label_of=image,
                    label_properties=[{"label-value": 7, "first_frame": 0}])
    write_labels_group(image, ["cells", "tracks"])
    assert_valid_ngff(image, "Image", version)
    assert_valid_ngff(image / "labels", "Labels", version)
    assert_valid_ngff(image / "labels" / "cells", "ImageLabel", version)
    assert_valid_ngff(image / "labels" / "tracks", "ImageLabel", version)

    channels = ngff_attrs(image)["omero"]["channels"]
    assert [c["label"] for c in channels] == ["gfp", "rfp"]
    assert [c["color"] for c in channels] == channel_colors(2) and all(c["active"] for c in channels)
    for c, ch in zip(channels, (data[:, 0], data[:, 1]), strict=True):
        assert (c["window"]["min"], c["window"]["max"]) == (0, 65535)
        assert ch.min() <= c["window"]["start"] < c["window"]["end"] <= ch.max()
    one = tmp_path / "one.ome.zarr"
    write_ome_image(one, data[:, :1], "tcyx", 0.5, 3.0, version=version)
    assert ngff_attrs(one)["omero"]["channels"][0]["color"] == "FFFFFF"


def test_track_labels_carry_a_colour_and_properties_per_track(tmp_path: Path, version: str) -> None:
    """The tracks label image's values are track ids, so ``image-label`` holds a deterministic RGBA
    and the given properties per track id; past ``MAX_LABEL_ENTRIES`` neither is written."""
    import cellpipe.io.omezarr as omezarr

    image = tmp_path / "image.ome.zarr"
    write_ome_image(image, np.ones((1, 1, 8, 8), np.uint16), "tcyx", 0.5, 3.0, version=version)
    labels = np.zeros((1, 8, 8), np.uint32)
    labels[0, :2, :2], labels[0, 4:, 4:] = 3, 9
    props = [{"label-value": 3, "parent": 0, "first_frame": 0}, {"label-value": 9, "parent": 3, "first_frame": 0}]
    write_ome_image(image / "labels" / "tracks", labels, "tyx", 0.5, 3.0, label_of=image, label_properties=props)
    meta = ngff_attrs(image / "labels" / "tracks")["image-label"]
    assert meta["properties"] == props
    assert [c["label-value"] for c in meta["colors"]] == [3, 9]
    assert [c["rgba"] for c in meta["colors"]] == [list(omezarr.label_rgba(3)), list(omezarr.label_rgba(9))]
    assert omezarr.label_rgba(3) != omezarr.label_rgba(9) and omezarr.label_rgba(3)[3] == 255
    many = [{"label-value": i + 1} for i in range(omezarr.MAX_LABEL_ENTRIES + 1)]
    write_ome_image(tmp_path / "big", labels, "tyx", 0.5, 3.0, label_of=image, label_properties=many)
    big = ngff_attrs(tmp_path / "big")["image-label"]
    assert "colors" not in big and "properties" not in big


@pytest.mark.parametrize(
    ("frame", "shapes"),
    [((16, 12), [(16, 12)]), ((1024, 1024), [(1024, 1024)]), ((2100, 900), [(2100, 900), (1050, 450), (525, 225)]),
     ((2049, 1025), [(2049, 1025), (1025, 513), (513, 257)])],
)
def test_pyramid_levels_from_the_frame_size(
    tmp_path: Path, frame: tuple[int, int], shapes: list[tuple[int, int]], version: str
) -> None:
    """Levels halve y and x until the frame fits in 1024 px; each level's scale is the pixel size times
    its factor in µm (time in minutes unchanged); images are averaged, labels take the top-left pixel of
    each 2x2 block (no invented values); readers in the package get level 0."""
    import zarr

    rng = np.random.default_rng(1)
    data = rng.integers(0, 4000, (2, 1, *frame), dtype=np.uint16)
    image = tmp_path / "image.ome.zarr"
    write_ome_image(image, data, "tcyx", 0.5, 3.0, version=version)
    labels = np.zeros((2, *frame), np.uint32)
    labels[:, 1::3, ::2] = 5
    labels[:, ::2, 1::3] = 6
    write_ome_image(image / "labels" / "cells", labels, "tyx", 0.5, 3.0, label_of=image)
    for store, axes in ((image, "tcyx"), (image / "labels" / "cells", "tyx")):
        ms = ngff_attrs(store)["multiscales"][0]
        group = zarr.open_group(str(store), mode="r")
        found = [tuple(group[d["path"]].shape[-2:]) for d in ms["datasets"]]
        assert found == shapes
        for level, d in enumerate(ms["datasets"]):
            shift = 0.0 if axes == "tyx" else 0.5 * (2**level - 1) / 2  # labels: first pixel; image: block centre
            assert d["coordinateTransformations"] == [
                {"type": "scale", "scale": [3.0, *([1.0] if axes == "tcyx" else []), 0.5 * 2**level, 0.5 * 2**level]},
                {"type": "translation", "translation": [0.0, *([0.0] if axes == "tcyx" else []), shift, shift]},
            ]
            assert group[d["path"]].chunks == (*(1,) * (len(axes) - 2), *found[level])
        assert_valid_ngff(store, "Image" if store == image else "ImageLabel", version)
    assert open_ome_image(image).data.shape == data.shape
    nodes = list(Reader(parse_url(str(image)))())  # ome-zarr-py (napari-ome-zarr's reader) finds every level
    assert [tuple(level.shape[-2:]) for level in nodes[0].data] == shapes
    np.testing.assert_array_equal(open_ome_image(image / "labels" / "cells").data[:], labels)
    if len(shapes) > 1:
        group = zarr.open_group(str(image / "labels" / "cells"), mode="r")
        np.testing.assert_array_equal(group["s1"][:], labels[:, ::2, ::2])
        img1 = zarr.open_group(str(image), mode="r")["s1"][:]
        # an odd last row or column is averaged with itself (repeated), not with zeros
        padded = np.pad(data, [(0, 0), (0, 0), (0, frame[0] % 2), (0, frame[1] % 2)], mode="edge")
        expected = padded.reshape(2, 1, shapes[1][0], 2, shapes[1][1], 2).mean(axis=(3, 5))
        assert np.abs(img1.astype(float) - expected).max() <= 0.5 and img1.dtype == np.uint16


def test_pyramid_levels_written_however_the_frames_are(tmp_path: Path) -> None:
    """Lower levels come from each whole frame as it is written (``out[t] = frame``); frames written
    another way (a slice, a scalar) get theirs from level 0 when the block ends: the same levels."""
    import zarr

    rng = np.random.default_rng(2)
    data = rng.integers(0, 4000, (4, 1, 1100, 40), dtype=np.uint16)
    write_ome_image(tmp_path / "ref", data, "tcyx", 0.5, 3.0)
    with new_ome_array(tmp_path / "mixed", data.shape, data.dtype, "tcyx", 0.5, 3.0) as out:
        out[0] = data[0]
        out[1] = 7
        out[1:3] = data[1:3]
        out[3] = data[3, :, :, :20].mean()
        out[-1] = data[3]
    ref, mixed = (zarr.open_group(str(tmp_path / n), mode="r") for n in ("ref", "mixed"))
    for level in ("s0", "s1"):
        np.testing.assert_array_equal(mixed[level][:], ref[level][:])
    assert mixed["s1"].shape == (4, 1, 550, 20)


def _level(store: Path, level: int) -> tuple[np.ndarray, list[float], list[float]]:
    """The last frame of ``store``'s resolution level ``level`` and its y/x scale and translation (µm)."""
    import zarr

    ms = ngff_attrs(store)["multiscales"][0]
    transforms = {t["type"]: t[t["type"]] for t in ms["datasets"][level]["coordinateTransformations"]}
    arr = zarr.open_group(str(store), mode="r")[ms["datasets"][level]["path"]]
    return np.asarray(arr[-1]), transforms["scale"][-2:], transforms.get("translation", [0.0] * 5)[-2:]


def test_pyramid_levels_agree_at_every_physical_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """Every pixel of a lower level holds what level 0 shows at that pixel's centre in µm (NGFF:
    ``index * scale + translation``): for a ramp image (a block's mean is the ramp at the block's
    centre) the ramp there, for labels (each level keeps a block's top-left pixel) the label of the
    level-0 pixel centred there.  Without the half-block translation the image's level 2 would sit
    1.5 level-0 px (0.75 µm) off; with it on the labels, a quarter to three eighths of a block off."""
    import cellpipe.io.omezarr as omezarr

    monkeypatch.setattr(omezarr, "PYRAMID_MAX_SIZE", 8)
    pixel_um = 0.5
    yy, xx = np.mgrid[0:32, 0:24].astype(np.float32)
    ramp = 3.0 * yy + xx + 100  # three steps per px on y, one per px on x
    image = tmp_path / "image.ome.zarr"
    write_ome_image(image, np.stack([ramp[None], ramp[None]]), "tcyx", pixel_um, 3.0, version=version)
    labels = (1 + yy * 24 + xx).astype(np.uint32)  # every pixel its own label
    write_ome_image(image / "labels" / "cells", np.stack([labels, labels]), "tyx", pixel_um, 3.0, label_of=image)
    for level in (1, 2):
        img, scale, shift = _level(image, level)
        assert img.shape[-2:] == (32 >> level, 24 >> level) and scale == [pixel_um * 2**level] * 2
        cy, cx = (np.arange(n) * s + o for n, s, o in zip(img.shape[-2:], scale, shift, strict=True))
        expected = 3.0 * cy[:, None] / pixel_um + cx[None, :] / pixel_um + 100  # the ramp at each centre
        np.testing.assert_allclose(img[0], expected, atol=1e-4)
        lab, scale, shift = _level(image / "labels" / "cells", level)
        iy, ix = ((np.arange(n) * s + o) / pixel_um for n, s, o in zip(lab.shape, scale, shift, strict=True))
        assert np.all(iy == np.round(iy)) and np.all(ix == np.round(ix)), "a label pixel centred between level-0 pixels"
        np.testing.assert_array_equal(lab, labels[np.ix_(iy.astype(int), ix.astype(int))])
    assert_valid_ngff(image, "Image", version)
    assert_valid_ngff(image / "labels" / "cells", "ImageLabel", version)


def test_the_version_written_is_the_one_the_path_or_the_image_names(tmp_path: Path) -> None:
    """A metadata file name decides (``.zattrs``: 0.4, ``zarr.json``: 0.5, what the rules declare); a bare
    store path takes the version of the image it labels, else the default; the labels group refuses a
    label image of the other version; an unknown version is refused before anything is written."""
    from cellpipe.io.omezarr import NGFF_VERSION, stored_ngff_version

    data = np.ones((1, 1, 4, 4), np.uint16)
    for version in VERSIONS:
        image = tmp_path / version / "image.ome.zarr"
        write_ome_image(meta_file(image, version), data, "tcyx", 0.5, 3.0)
        assert stored_ngff_version(image) == version
        write_ome_image(image / "labels" / "cells", data[:, 0], "tyx", 0.5, 3.0, label_of=image)
        assert stored_ngff_version(image / "labels" / "cells") == version
        other = next(v for v in VERSIONS if v != version)
        write_ome_image(meta_file(image / "labels" / "tracks", other), data[:, 0], "tyx", 0.5, 3.0, label_of=image)
        assert stored_ngff_version(image / "labels" / "tracks") == other
        with pytest.raises(FileNotFoundError, match=r"\['tracks'\] not found \(as NGFF"):
            write_labels_group(image, ["cells", "tracks"])
    write_ome_image(tmp_path / "bare.ome.zarr", data, "tcyx", 0.5, 3.0)
    assert stored_ngff_version(tmp_path / "bare.ome.zarr") == NGFF_VERSION == layout.DEFAULT_OME_ZARR_VERSION
    with pytest.raises(ValueError, match="0.3"):
        write_ome_image(tmp_path / "old.ome.zarr", data, "tcyx", 0.5, 3.0, version="0.3")
    assert not (tmp_path / "old.ome.zarr").exists()
