"""bench.intensity_robustness's scoring helpers, on tiny masks scored by py-ctcmetrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from bench.intensity_robustness import image_seg, seg_by_frames


def _square(size: int = 8) -> np.ndarray:
    mask = np.zeros((16, 16), np.uint16)
    mask[4 : 4 + size, 4 : 4 + size] = 1
    return mask


def _three_quarters() -> np.ndarray:
    mask = _square()
    mask[4:6, 4:12] = 0  # 48 of the 64 px: IoU 0.75, still over half of the annotation
    return mask


def test_image_seg_is_the_jaccard_of_the_matched_nucleus() -> None:
    assert image_seg(_square(), _square()) == pytest.approx(1.0)
    assert image_seg(_square(), _three_quarters()) == pytest.approx(0.75)
    assert image_seg(_square(), np.zeros((16, 16), np.uint16)) == pytest.approx(0.0)


def test_seg_by_frames_splits_complete_from_sparse_frames(tmp_path: Path) -> None:
    (tmp_path / "SEG").mkdir()
    for t in (0, 1):
        tifffile.imwrite(tmp_path / "SEG" / f"man_seg{t:03d}.tif", _square())
    masks = {0: _square(), 1: _three_quarters()}
    assert seg_by_frames(tmp_path, masks, (0,)) == pytest.approx((0.875, 1.0, 0.75))
    assert seg_by_frames(tmp_path, masks, (1,)) == pytest.approx((0.875, 0.75, 1.0))
    everything, complete, sparse = seg_by_frames(tmp_path, masks, (0, 1))
    assert (everything, complete) == pytest.approx((0.875, 0.875)) and np.isnan(sparse)


def test_simulated_movies_take_their_training_look_and_write_every_frames_masks(tmp_path: Path) -> None:
    from bench.intensity_robustness import SIMULATED, simulated_movies

    movies = simulated_movies(tmp_path)
    assert list(movies) == list(SIMULATED)
    for frames, gt, diameter in movies.values():
        assert frames.shape[0] == 6 and frames.dtype == np.float32
        assert len(list((gt / "SEG").glob("man_seg*.tif"))) == 6
        assert diameter > 0
    # train_sparse_large's nuclei (semi-major axis 17 px) against train_dense's (10 px) and the demo's (9 px)
    assert movies["sparse large"][2] > 1.5 * movies["dense"][2]
    assert movies["sparse large"][2] > 1.5 * movies["demo"][2]
