"""3-D time-lapse ingest (issue #27): ``ingest.z_projection: keep`` writes (t, c, z, y, x) OME-Zarr with the
voxel size in µm, from tiny OME-TIFF z-stack movies written by tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from test_io_omezarr import assert_valid_ngff

from cellpipe.ingest import IngestError
from cellpipe.io import omezarr
from cellpipe.steps.ingest import ingest_movie_file

T, C, Z, Y, X = 3, 2, 5, 12, 16


def _movie(seed: int = 0, shape: tuple[int, ...] = (T, C, Z, Y, X)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, size=shape, dtype=np.uint16)


def _write(path: Path, movie: np.ndarray, z_step_um: float | None = 1.5) -> Path:
    """``movie`` (T, C, Z, Y, X) as OME-TIFF, 0.5 µm pixels, 2 min frames, ``PhysicalSizeZ`` in nm (None: no z step)."""
    meta: dict[str, object] = {"axes": "TCZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0,
                               "TimeIncrementUnit": "min"}
    if z_step_um is not None:
        meta.update(PhysicalSizeZ=z_step_um * 1000, PhysicalSizeZUnit="nm")
    tifffile.imwrite(path, movie, ome=True, metadata=meta)
    return path


def _ingest(movie: Path, image: Path, **kwargs: object) -> None:
    settings = {"z_projection": "keep", **kwargs.pop("settings", {})}  # type: ignore[dict-item]
    ingest_movie_file("s", movie, "auto", None, None, None, [], settings, image, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("meta", [".zattrs", "zarr.json"])
def test_keep_writes_every_stack_with_the_voxel_size_and_is_valid_ngff(tmp_path: Path, meta: str) -> None:
    movie = _movie()
    path = _write(tmp_path / "m.ome.tif", movie)
    store = tmp_path / "img.ome.zarr"
    _ingest(path, store / meta)
    image = omezarr.open_ome_image(store)
    assert image.axes == "tczyx" and image.data.shape == (T, C, Z, Y, X) and image.data.dtype == np.uint16
    np.testing.assert_array_equal(image.data[:], movie)
    assert image.pixel_size_z_um == pytest.approx(1.5) and image.pixel_size_um == pytest.approx(0.5)
    assert image.frame_interval_min == pytest.approx(2.0)
    assert image.data.chunks == (1, 1, Z, Y, X)  # one stack per (t, c)
    ms = omezarr.open_multiscales(store)
    assert ms.scale == pytest.approx([2.0, 1.0, 1.5, 0.5, 0.5])
    assert ms.axes == list("tczyx") and ms.units[0] == "minute" and ms.units[2:] == ["micrometer"] * 3
    record = image.attrs["z_projection"]
    assert record == {"method": "keep", "setting": "keep", "z_planes": Z, "z_step_um": pytest.approx(1.5),
                      "z_step_source": "file metadata"}
    assert_valid_ngff(store, "Image", "0.4" if meta == ".zattrs" else "0.5")


def test_the_sheet_or_the_config_gives_the_z_step_and_none_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.ome.tif", _movie(), z_step_um=None)
    with pytest.raises(IngestError, match=r"^sample 's' \(.*m\.ome\.tif\): a z-stack of 5 planes with no z step .*"
                       r"set pixel_size_z_um in the sample sheet or ingest\.default_pixel_size_z_um") as err:
        _ingest(path, tmp_path / "none.ome.zarr")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "none.ome.zarr").exists()
    _ingest(path, tmp_path / "sheet.ome.zarr", pixel_size_z_um=2.5, settings={"default_pixel_size_z_um": 9.0})
    sheet = omezarr.open_ome_image(tmp_path / "sheet.ome.zarr")
    assert sheet.pixel_size_z_um == pytest.approx(2.5) and sheet.attrs["z_projection"]["z_step_source"] == "sample sheet"
    _ingest(path, tmp_path / "default.ome.zarr", settings={"default_pixel_size_z_um": 3.0})
    default = omezarr.open_ome_image(tmp_path / "default.ome.zarr")
    assert default.pixel_size_z_um == pytest.approx(3.0)
    assert default.attrs["z_projection"]["z_step_source"] == "config default"


def test_a_movie_of_one_plane_stays_2d_byte_for_byte(tmp_path: Path) -> None:
    """keep changes nothing for z = 1: the same (t, c, y, x) store, file for file, as z_projection none."""
    path = _write(tmp_path / "flat.ome.tif", _movie(shape=(T, C, 1, Y, X)))
    stores = {}
    for setting in ("none", "keep"):
        store = tmp_path / f"{setting}.ome.zarr"
        ingest_movie_file("s", path, "auto", None, None, None, [], {"z_projection": setting}, store / "zarr.json")
        stores[setting] = {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    image = omezarr.open_ome_image(tmp_path / "keep.ome.zarr")
    assert image.axes == "tcyx" and image.pixel_size_z_um is None
    # the attributes name the setting; everything else (chunks, metadata) is the same
    keep_meta = stores["keep"].pop(Path("zarr.json"))
    none_meta = stores["none"].pop(Path("zarr.json"))
    assert stores["keep"] == stores["none"]
    assert keep_meta.replace(b'"setting": "keep"', b'"setting": "none"') == none_meta


def test_large_stacks_are_chunked_in_z_slabs_and_pyramids_halve_y_and_x_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(omezarr, "STACK_CHUNK_MAX_BYTES", 3 * 1100 * 40 * 2)  # three planes per chunk
    monkeypatch.setattr(omezarr, "PYRAMID_MAX_SIZE", 600)
    movie = _movie(shape=(2, 1, 7, 1100, 40))
    path = _write(tmp_path / "tall.ome.tif", movie)
    store = tmp_path / "tall.ome.zarr"
    _ingest(path, store / "zarr.json")
    group = zarr.open_group(str(store), mode="r")
    assert group["s0"].chunks == (1, 1, 3, 1100, 40)
    assert group["s1"].shape == (2, 1, 7, 550, 20)  # z kept
    np.testing.assert_array_equal(group["s0"][:], movie)
    block = movie[1, 0, 4, :2, :2].astype(np.float64).mean()
    assert group["s1"][1, 0, 4, 0, 0] == np.rint(block)
    ms = omezarr.open_multiscales(store)
    assert len(ms.levels) == 2
    assert_valid_ngff(store, "Image", "0.5")


def test_the_sample_sheet_check_takes_3d_ground_truth_and_needs_a_z_step(tmp_path: Path) -> None:
    import pandas as pd

    from cellpipe.config import ConfigError, load_config
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.preflight import check_samples

    labels = np.zeros((T, Z, Y, X), np.uint16)
    labels[:, 1:3, 2:6, 3:8] = 1
    write_ctc_ground_truth(tmp_path / "gt", labels, pd.DataFrame({"label": [1], "first_frame": [0],
                                                                  "last_frame": [T - 1], "parent": [0]}))
    _write(tmp_path / "m.ome.tif", _movie(), z_step_um=None)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\tground_truth\ns\t{tmp_path / 'm.ome.tif'}\t{tmp_path / 'gt'}\n")
    with pytest.raises(ConfigError, match=r"sample 's'.*a z-stack of 5 planes with no z step"):
        check_samples(sheet, load_config({"ingest": {"z_projection": "keep"}}))
    sheet.write_text(f"sample\tmovie\tground_truth\tpixel_size_z_um\ns\t{tmp_path / 'm.ome.tif'}\t{tmp_path / 'gt'}\t2\n")
    (row,) = check_samples(sheet, load_config({"ingest": {"z_projection": "keep"}}))
    assert row.pixel_size_z_um == 2.0


def test_a_3d_ome_zarr_ingests_again_to_the_same_stacks_and_voxel_size(tmp_path: Path) -> None:
    """An image ingest wrote (t, c, z, y, x) is itself a raw movie it reads back whole, z scale included."""
    movie = _movie(4)
    first = tmp_path / "first.ome.zarr"
    _ingest(_write(tmp_path / "m.ome.tif", movie, z_step_um=2.5), first / "zarr.json")
    again = tmp_path / "again.ome.zarr"
    _ingest(first, again / ".zattrs")
    image = omezarr.open_ome_image(again)
    np.testing.assert_array_equal(image.data[:], movie)
    assert image.pixel_size_z_um == pytest.approx(2.5) and image.pixel_size_um == pytest.approx(0.5)
    assert image.attrs["z_projection"]["z_step_source"] == "file metadata"
