"""bench.track_accuracy.score_ctc's list of link errors, on two nuclei tracked over three frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from bench.track_accuracy import score_ctc

CENTRES = {1: (16, 16), 2: (48, 48), 3: (48, 16)}  # px; ground-truth tracks 1 and 2; 3 only in a result


def write_frames(folder: Path, prefix: str, ids: list[dict[int, int]], table: list[tuple[int, int, int, int]]) -> Path:
    """CTC frames of 64² px: in frame t, a disk of radius 6 px per nucleus, labelled ``ids[t][nucleus]``."""
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:64, :64]
    for t, labels in enumerate(ids):
        frame = np.zeros((64, 64), np.uint16)
        for nucleus, label in labels.items():
            y, x = CENTRES[nucleus]
            frame[(yy - y) ** 2 + (xx - x) ** 2 <= 36] = label
        tifffile.imwrite(folder / f"{prefix}{t:03d}.tif", frame)
    name = "man_track.txt" if prefix == "man_track" else "res_track.txt"
    (folder / name).write_text("".join(" ".join(map(str, row)) + "\n" for row in table))
    return folder


def scored(tmp_path: Path, ids: list[dict[int, int]], table: list[tuple[int, int, int, int]]) -> list[str]:
    gt = tmp_path / "01_GT"
    write_frames(gt / "TRA", "man_track", [{1: 1, 2: 2}] * 3, [(1, 0, 2, 0), (2, 0, 2, 0)])
    return score_ctc(write_frames(tmp_path / "01_RES", "mask", ids, table), gt)["link_errors"]


def test_a_perfect_result_has_no_link_errors(tmp_path: Path) -> None:
    assert scored(tmp_path, [{1: 1, 2: 2}] * 3, [(1, 0, 2, 0), (2, 0, 2, 0)]) == []


def test_a_track_broken_in_two_is_a_missing_link_where_it_breaks(tmp_path: Path) -> None:
    ids = [{1: 1, 2: 2}, {1: 1, 2: 2}, {1: 1, 2: 3}]
    assert scored(tmp_path, ids, [(1, 0, 2, 0), (2, 0, 1, 0), (3, 2, 2, 0)]) == [
        "missing: frame 1 -> 2, ground truth track 2 -> 2, from y 48, x 48 px"
    ]


def test_a_continuation_made_a_division_is_a_link_of_the_wrong_kind(tmp_path: Path) -> None:
    ids = [{1: 1, 2: 2}, {1: 1, 2: 2}, {1: 1, 2: 3, 3: 4}]  # track 2 "divides" into nucleus 2 and a spurious 3
    assert scored(tmp_path, ids, [(1, 0, 2, 0), (2, 0, 1, 0), (3, 2, 2, 2), (4, 2, 2, 2)]) == [
        "wrong kind: frame 1 -> 2, result track 2 -> 3, from y 48, x 48 px"
    ]


def test_a_mother_that_takes_her_neighbour_for_a_daughter_lists_all_three_kinds(tmp_path: Path) -> None:
    ids = [{1: 1, 2: 2}, {1: 1, 2: 2}, {1: 3, 2: 4}]  # track 1 "divides" into nucleus 1 and nucleus 2
    assert scored(tmp_path, ids, [(1, 0, 1, 0), (2, 0, 1, 0), (3, 2, 2, 1), (4, 2, 2, 1)]) == [
        "extra: frame 1 -> 2, result track 1 -> 4, from y 16, x 16 px",
        "missing: frame 1 -> 2, ground truth track 2 -> 2, from y 48, x 48 px",
        "wrong kind: frame 1 -> 2, result track 1 -> 3, from y 16, x 16 px",
    ]
