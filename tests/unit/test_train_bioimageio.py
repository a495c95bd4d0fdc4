"""What a model's bioimage.io package holds (cellpipe.train.bioimageio): the simulated test frame, the cover,
the documentation of the preprocessing.  The whole export with bioimage.io's model test is tested on the
shipped model in test_steps_train.py."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cellpipe.config import NormalizeSettings
from cellpipe.train.bioimageio import cover_png, preprocessing_notes, simulated_raw_frame, simulated_test_frame


def test_the_simulated_test_frame_is_the_raw_frame_normalized_to_its_percentiles() -> None:
    raw = simulated_raw_frame(20.0, size=64, seed=3)
    assert raw.shape == (64, 64) and raw.dtype == np.uint16 and raw.max() > 100
    frame = simulated_test_frame(20.0, size=64, seed=3)
    assert frame.dtype == np.float32
    assert abs(np.percentile(frame, 99.8) - 1) < 1e-5 and abs(np.percentile(frame, 1)) < 1e-5
    np.testing.assert_array_equal(np.argsort(frame, axis=None, kind="stable"), np.argsort(raw, axis=None, kind="stable"))


def test_the_documentation_names_the_percentiles_axes_and_clipping() -> None:
    movie = preprocessing_notes(NormalizeSettings())
    assert "`min_percentile` 1 and `max_percentile` 99.8 over the axes (z, y, x)" in movie
    assert "no clipping" in movie and "over the whole movie" in movie and movie.endswith("\n")
    frame = preprocessing_notes(NormalizeSettings(mode="frame", low_percentile=2, high_percentile=99, clip=True))
    assert "over the axes (y, x)" in frame and "then `clip` to [0, 1]" in frame and "`mode: frame`" in frame


def test_the_cover_is_a_900_by_300_png() -> None:
    raw = simulated_raw_frame(20.0, size=32)
    flow = np.zeros((3, 32, 32), dtype=np.float32)
    image = Image.open(io.BytesIO(cover_png(raw, raw / raw.max(), flow)))
    assert image.format == "PNG" and image.size == (900, 300)
