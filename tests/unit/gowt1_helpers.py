"""The first frames of the real GOWT1 01 ground truth (../shared beside the checkout) as a CTC folder of their
own: the GOWT1 scoring tests of test_evaluate.py and test_evaluate_streaming.py."""

from __future__ import annotations

from pathlib import Path

from cellpipe.io.ctc import read_ctc_tracks, write_ctc_tracks

from conftest import SHARED

SHARED_GOWT1 = SHARED / "data" / "ctc" / "Fluo-N2DH-GOWT1"
"""Fluo-N2DH-GOWT1 of the Cell Tracking Challenge in ../shared (92 frames of 1024 x 1024 px in 01)."""

GOWT1_FRAMES = 49
"""Frames 0-48 of the 92: all 30 SEG frames (2-47) and both divisions (tracks 16 and 10 divide at frames
17-21 and 47) lie in them; the 43 frames after hold TRA markers only, and scoring them took as long as the
rest of each test."""


def gowt1_prefix(dest: Path, n_frames: int = GOWT1_FRAMES) -> Path:
    """The first ``n_frames`` frames of GOWT1 01's ground truth as a CTC ground-truth folder ``dest``:
    links to the real ``TRA`` and ``SEG`` files of those frames, and the track table cut at frame
    ``n_frames - 1`` (tracks that start later left out)."""
    source = SHARED_GOWT1 / "01_GT"
    for sub, pattern in (("TRA", "man_track*.tif"), ("SEG", "man_seg*.tif")):
        (dest / sub).mkdir(parents=True)
        for path in sorted((source / sub).glob(pattern)):
            if int(path.stem.removeprefix(pattern.split("*")[0])) < n_frames:
                (dest / sub / path.name).symlink_to(path)
    tracks = read_ctc_tracks(source / "TRA" / "man_track.txt")
    tracks = tracks[tracks.first_frame < n_frames].assign(last_frame=lambda t: t.last_frame.clip(upper=n_frames - 1))
    write_ctc_tracks(dest / "TRA" / "man_track.txt", tracks)
    return dest
