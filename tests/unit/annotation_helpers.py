"""Annotated images the training and annotation tests share: bright ellipses and their labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from skimage.draw import ellipse


def blobs(shape=(64, 80), centres=((16, 20, 7, 5), (40, 50, 9, 6), (20, 60, 5, 8)), value=200.0):
    """(image, labels): bright ellipses (centre y, x and semi-axes in px) on a dark background."""
    image = np.full(shape, 10.0, np.float32)
    labels = np.zeros(shape, np.uint32)
    for i, (cy, cx, ry, rx) in enumerate(centres, start=1):
        rr, cc = ellipse(cy, cx, ry, rx, shape=shape)
        labels[rr, cc] = i
        image[rr, cc] = value
    return image, labels


def two_channel_movie(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A (T=2, C=2, Y, X) OME-TIFF with channels 'DAPI' and 'H2B-GFP' (the nuclei in the second channel only), its
    label TIFF (T, Y, X), and the nuclei image."""
    from cellpipe.io.movies import write_ome_tiff

    labels = blobs()[1].astype(np.uint16)
    nuclei = (labels > 0).astype(np.uint16) * 300
    movie = np.stack([np.stack([np.full_like(nuclei, 7), nuclei + t]) for t in range(2)])
    write_ome_tiff(tmp_path / "movie.ome.tif", movie, 0.5, 5.0, ["DAPI", "H2B-GFP"])
    tifffile.imwrite(tmp_path / "labels.tif", np.stack([labels, labels]))
    return tmp_path / "movie.ome.tif", tmp_path / "labels.tif", nuclei
