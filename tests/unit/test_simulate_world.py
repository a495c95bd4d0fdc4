"""What the 2-D and 3-D simulators share (cellpipe.simulate_world): CTC tracks from visibility, the largest
piece of each nucleus, and the pinned output of both simulators for fixed seeds."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from cellpipe.simulate import make_nuclei_movie
from cellpipe.simulate3d import make_nuclei_movie_3d
from cellpipe.simulate_world import Division, keep_largest_pieces, relabel_as_tracks, tracks_from_visibility


def test_a_division_is_recorded_when_the_mother_and_both_daughters_are_seen() -> None:
    # agent 0 (frames 0-1) divides into agents 1 and 2 (from frame 2); agent 3 is seen in frames 0 and 2 only
    visible = [np.array([0, 3]), np.array([0]), np.array([1, 2, 3])]
    tracks, pairs = tracks_from_visibility(visible, [Division(0, 1, (1, 2))])
    expected = pd.DataFrame(
        [[1, 0, 1, 0], [2, 0, 0, 0], [3, 2, 2, 1], [4, 2, 2, 1], [5, 2, 2, 0]],
        columns=["label", "first_frame", "last_frame", "parent"],
    )
    pd.testing.assert_frame_equal(tracks, expected)
    # agent 3 reappears after a gap: a new track (5) with parent 0
    assert pairs == [[(0, 1), (3, 2)], [(0, 1)], [(1, 3), (2, 4), (3, 5)]]


def test_a_division_with_an_unseen_daughter_is_not_recorded() -> None:
    visible = [np.array([0]), np.array([1])]  # daughter 2 never visible
    tracks, _ = tracks_from_visibility(visible, [Division(0, 0, (1, 2))])
    assert tracks["parent"].tolist() == [0, 0]


def test_each_owner_keeps_its_largest_face_connected_piece_in_2d_and_3d() -> None:
    flat = np.array([[1, 1, 0, 1], [1, 0, 0, 0], [0, 2, 0, 2]], dtype=np.uint16)
    keep_largest_pieces(flat)
    np.testing.assert_array_equal(flat, [[1, 1, 0, 0], [1, 0, 0, 0], [0, 2, 0, 0]])  # ties: the first piece
    stack = np.zeros((3, 3, 3), dtype=np.uint16)
    stack[0, 0, 0] = stack[1, 0, 0] = 5  # joined through a face (z)
    stack[2, 2, 2] = 5
    stack[1, 1, 1] = 5  # touches the others only at corners
    keep_largest_pieces(stack)
    assert sorted(map(tuple, np.argwhere(stack == 5))) == [(0, 0, 0), (1, 0, 0)]


def test_owners_become_track_ids_frame_by_frame() -> None:
    owners = np.array([[[1, 2]], [[1, 2]]], dtype=np.uint16)  # agents 0 and 1, owner = agent + 1
    relabel_as_tracks(owners, [[(0, 7), (1, 3)], [(1, 4)]], n_agents=2)
    np.testing.assert_array_equal(owners, [[[7, 3]], [[0, 4]]])


def _digest(sim: object) -> str:
    h = hashlib.sha256()
    for array in (sim.image, sim.labels, sim.tracks.to_numpy()):  # type: ignore[attr-defined]
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def test_both_simulators_give_the_pinned_movies_for_fixed_seeds() -> None:
    """The demo, the tests and the benchmarks rely on equal settings giving the same bytes, whatever is
    refactored in either simulator: the digests of two tiny movies with entries and divisions are pinned.
    A numpy or scipy release that changes a random stream or a filter can change them too; then look at
    the movies and pin the new digests."""
    flat = make_nuclei_movie(n_frames=8, shape=(64, 64), seed=11, entry_rate=0.5, division_probability=0.3,
                             min_division_age_frames=2)
    assert (len(flat.tracks), flat.n_divisions) == (17, 4)  # entries and divisions both happen
    assert _digest(flat) == "3c10cdb9420c051e7cad090848db6cfdcbe415262b2f483f538123cff5e5fca5"
    stacks = make_nuclei_movie_3d(n_frames=5, shape_zyx=(6, 40, 40), seed=4, entry_rate=0.5,
                                  division_probability=0.4, min_division_age_frames=1)
    assert (len(stacks.tracks), stacks.n_divisions) == (8, 1)
    assert _digest(stacks) == "ae0c202664ff791a9f506a610257ae0f815468cfd881b2477974454b2e48b5b0"
