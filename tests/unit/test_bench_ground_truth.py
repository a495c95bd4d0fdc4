"""The CTC ground truth that bench.workflow_memory draws beside its movie (``--ground-truth``).

Imports ``bench`` from the repository root, which pyproject.toml puts on sys.path (pytest's ``pythonpath``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from bench.workflow_memory import disk_labels, drifting_centres, write_ground_truth, write_movie
from cellpipe.io.ctc import read_ctc_tracks


def test_disk_labels_number_disks_in_order_and_split_an_overlap_by_the_nearer_centre() -> None:
    labels = disk_labels(np.array([[10.0, 10.0], [10.0, 16.0], [25.0, 25.0]]), 4.0, 32)
    assert labels.dtype == np.uint16
    assert labels[10, 10] == 1 and labels[10, 16] == 2 and labels[25, 25] == 3
    # (10, 12) and (10, 14) lie in both disks: each goes to the nearer centre
    assert labels[10, 12] == 1 and labels[10, 14] == 2
    assert labels[0, 0] == 0 and labels[20, 5] == 0
    # the third disk stands alone: every pixel within 4 px of its centre (skimage.draw.disk: distance < radius)
    yy, xx = np.mgrid[:32, :32]
    np.testing.assert_array_equal(labels == 3, (yy - 25) ** 2 + (xx - 25) ** 2 < 16)


def test_ground_truth_marks_each_drawn_disk_with_its_track_id_in_every_frame(tmp_path: Path) -> None:
    n_frames, side, n_cells, radius = 5, 96, 4, 6.0
    movie = tmp_path / "movie.tif"
    write_movie(movie, n_frames, side, n_cells=n_cells, seed=3, radius=radius)
    overlapping = write_ground_truth(tmp_path / "01_GT", n_frames, side, n_cells=n_cells, seed=3, radius=radius, seg_every=2)
    tra, seg = tmp_path / "01_GT" / "TRA", tmp_path / "01_GT" / "SEG"
    assert sorted(p.name for p in tra.glob("*.tif")) == [f"man_track{t:03d}.tif" for t in range(n_frames)]
    assert sorted(p.name for p in seg.iterdir()) == ["man_seg000.tif", "man_seg002.tif", "man_seg004.tif"]
    assert (tra / "man_track.txt").read_text().splitlines() == ["1 0 4 0", "2 0 4 0", "3 0 4 0", "4 0 4 0"]
    assert read_ctc_tracks(tra / "man_track.txt")["label"].tolist() == [1, 2, 3, 4]
    frames = tifffile.imread(movie)
    for t, centres in enumerate(drifting_centres(n_frames, side, n_cells, seed=3, radius=radius)):
        markers = tifffile.imread(tra / f"man_track{t:03d}.tif")
        assert markers.dtype == np.uint16 and markers.shape == (side, side)
        rows, cols = np.round(centres).astype(int).T
        # track id i + 1 at disk i's centre, the movie bright there (disk 1500 over a background of 200)
        assert markers[rows, cols].tolist() == [1, 2, 3, 4]
        assert (frames[t][rows, cols] > 1000).all()
        assert set(np.unique(markers)) == {0, 1, 2, 3, 4}
        if t % 2 == 0:
            np.testing.assert_array_equal(tifffile.imread(seg / f"man_seg{t:03d}.tif"), markers)
    # the walk pushes disks apart: four disks of radius 6 in 96² px do not touch
    assert overlapping == 0
