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


GOWT1_WINDOW = (14, 48)
"""Frames 14-48 of the 92 (35 frames), first and last: both divisions (track 16, present from frame 0, ends at
frame 16 and its daughters start at frames 17 and 21; track 10 ends at frame 46 and its daughters start at
frame 47), with each parent seen for at least 3 frames before it divides."""

GOWT1_WINDOW_SEG = (16, 18, 21, 31, 46, 47)
"""SEG frames of :data:`GOWT1_WINDOW` (original numbering) kept in its ground truth: sparse ones (1-3 of the
23-25 cells annotated: 16, 18, 46, 47) and complete ones (all cells: 21, 31), frames of both divisions (16,
21, 46, 47), and frames that a degraded result shifting every fourth frame of the window shifts (18, 46:
window frames 4 and 32) and leaves alone."""


def gowt1_window(
    dest: Path, first: int = GOWT1_WINDOW[0], last: int = GOWT1_WINDOW[1], seg_frames: tuple[int, ...] = GOWT1_WINDOW_SEG
) -> Path:
    """Frames ``first``-``last`` of GOWT1 01's ground truth as a CTC ground-truth folder ``dest`` of its own,
    renumbered from 0 (frame ``first`` becomes frame 0): links to the real ``TRA`` files of those frames and to
    the real ``SEG`` files of ``seg_frames`` (original numbering), and the track table cut to the window
    (tracks outside it left out, the others' first and last frames clipped to it and shifted by ``first``,
    a parent that ended before ``first`` forgotten: its daughters start as tracks of their own)."""
    source = SHARED_GOWT1 / "01_GT"
    (dest / "TRA").mkdir(parents=True)
    (dest / "SEG").mkdir(parents=True)
    for t in range(first, last + 1):
        (dest / "TRA" / f"man_track{t - first:03d}.tif").symlink_to(source / "TRA" / f"man_track{t:03d}.tif")
    for t in seg_frames:
        if not first <= t <= last:
            raise ValueError(f"SEG frame {t} lies outside the window {first}-{last}")
        (dest / "SEG" / f"man_seg{t - first:03d}.tif").symlink_to(source / "SEG" / f"man_seg{t:03d}.tif")
    tracks = read_ctc_tracks(source / "TRA" / "man_track.txt")
    tracks = tracks[(tracks.first_frame <= last) & (tracks.last_frame >= first)].copy()
    tracks["first_frame"] = tracks.first_frame.clip(lower=first) - first
    tracks["last_frame"] = tracks.last_frame.clip(upper=last) - first
    tracks.loc[~tracks.parent.isin(tracks.label), "parent"] = 0
    write_ctc_tracks(dest / "TRA" / "man_track.txt", tracks)
    return dest
