"""Tests of cellpipe.io.annotations: the annotated images training reads (CTC ground truth with sparse frames,
image / label pairs, a channel given by name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from annotation_helpers import blobs, two_channel_movie

from cellpipe.io.annotations import AnnotationError, read_annotations


def _ctc_gt(tmp_path: Path, n_frames: int = 4) -> tuple[Path, Path]:
    """A CTC movie (tTTT.tif) and GT: TRA marks 3 cells per frame; SEG frame 1 complete, frame 2 labels one cell."""
    movie, gt = tmp_path / "01", tmp_path / "01_GT"
    for d in (movie, gt / "SEG", gt / "TRA"):
        d.mkdir(parents=True)
    image, labels = blobs()
    for t in range(n_frames):
        tifffile.imwrite(movie / f"t{t:03d}.tif", image.astype(np.uint16))
        tifffile.imwrite(gt / "TRA" / f"man_track{t:03d}.tif", labels.astype(np.uint16))
    tifffile.imwrite(gt / "SEG" / "man_seg001.tif", labels.astype(np.uint16))
    sparse = np.where(labels == 2, 2, 0).astype(np.uint16)
    tifffile.imwrite(gt / "SEG" / "man_seg002.tif", sparse)
    return movie, gt


def test_sparse_ctc_frames_are_skipped_with_the_reason(tmp_path: Path) -> None:
    movie, gt = _ctc_gt(tmp_path)
    found = read_annotations(movie, gt)
    assert [img.frame for img in found.images] == [1]
    assert found.completeness_checked
    assert 2 in found.skipped and "1 of 3" in found.skipped[2]
    assert found.images[0].n_cells == 3
    assert found.images[0].image.dtype == np.float32


def test_asking_for_a_sparse_ctc_frame_is_an_error(tmp_path: Path) -> None:
    movie, gt = _ctc_gt(tmp_path)
    with pytest.raises(AnnotationError, match="frame 2 was requested for training but is a sparse annotation"):
        read_annotations(movie, gt, frames=[1, 2])
    with pytest.raises(AnnotationError, match="frame 3 was requested but has no man_seg file"):
        read_annotations(movie, gt, frames=[3])


def test_without_tra_frames_are_taken_as_complete(tmp_path: Path) -> None:
    movie, gt = _ctc_gt(tmp_path)
    for f in (gt / "TRA").iterdir():
        f.unlink()
    (gt / "TRA").rmdir()
    found = read_annotations(movie, gt)
    assert [img.frame for img in found.images] == [1, 2]
    assert not found.completeness_checked


def test_image_label_pairs(tmp_path: Path) -> None:
    image, labels = blobs()
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "mask.tif", labels.astype(np.uint16))
    found = read_annotations(tmp_path / "img.tif", tmp_path / "mask.tif")
    assert len(found.images) == 1 and found.images[0].frame is None
    np.testing.assert_array_equal(found.images[0].labels, labels)
    tifffile.imwrite(tmp_path / "small.tif", labels[:10].astype(np.uint16))
    with pytest.raises(AnnotationError, match=r"img.tif: image of shape \(64, 80\) does not match"):
        read_annotations(tmp_path / "img.tif", tmp_path / "small.tif")
    with pytest.raises(AnnotationError, match="nothere.tif: training labels not found"):
        read_annotations(tmp_path / "img.tif", tmp_path / "nothere.tif")


def test_a_colour_image_or_a_stack_of_pairs_gives_the_channel_and_frames_asked_for(tmp_path: Path) -> None:
    image, labels = blobs()
    other = np.zeros_like(image)
    tifffile.imwrite(tmp_path / "yxc.tif", np.stack([other, image, other], axis=-1), photometric="rgb")  # (Y, X, C)
    tifffile.imwrite(tmp_path / "cyx.tif", np.stack([other, image]), photometric="minisblack")  # (C, Y, X)
    tifffile.imwrite(tmp_path / "mask.tif", labels.astype(np.uint16))
    for name in ("yxc.tif", "cyx.tif"):
        found = read_annotations(tmp_path / name, tmp_path / "mask.tif", channel=1)
        np.testing.assert_array_equal(found.images[0].image, image, err_msg=name)
    # a (T, Y, X) movie and its (T, Y, X) labels: only the frames asked for, each its own
    tifffile.imwrite(tmp_path / "movie.tif", np.stack([image + t for t in range(3)]), photometric="minisblack",
                     metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "masks.tif", np.stack([labels] * 3).astype(np.uint16), photometric="minisblack")
    found = read_annotations(tmp_path / "movie.tif", tmp_path / "masks.tif", frames=[2, 0])
    assert [img.frame for img in found.images] == [0, 2]
    np.testing.assert_array_equal(found.images[1].image, image + 2)
    with pytest.raises(AnnotationError, match=r"masks\.tif: frame 3 requested but there are 3 frame\(s\)"):
        read_annotations(tmp_path / "movie.tif", tmp_path / "masks.tif", frames=[3])


def test_a_training_channel_given_by_name_reads_that_channel(tmp_path: Path) -> None:
    movie, labels, nuclei = two_channel_movie(tmp_path)
    by_name = read_annotations(movie, labels, channel="H2B-GFP")
    by_index = read_annotations(movie, labels, channel=1)
    assert [img.frame for img in by_name.images] == [0, 1]
    for named, indexed, t in zip(by_name.images, by_index.images, (0, 1), strict=True):
        np.testing.assert_array_equal(named.image, nuclei + t)
        np.testing.assert_array_equal(named.image, indexed.image)
    with pytest.raises(AnnotationError, match=r"movie\.ome\.tif: no channel named 'h2b-gfp'; its channels: 'DAPI', "
                                              r"'H2B-GFP'"):
        read_annotations(movie, labels, channel="h2b-gfp")
