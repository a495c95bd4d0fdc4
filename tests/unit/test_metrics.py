"""Instance scores: labels with gaps in their numbering are scored by their real objects."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk

from cellpipe.metrics import instance_scores, sequential_labels


def discs(labels_and_centres, shape=(64, 64), radius=6):
    image = np.zeros(shape, np.uint16)
    for label, (cy, cx) in labels_and_centres:
        image[disk((cy, cx), radius, shape=shape)] = label
    return image


def test_gapped_labels_are_scored_by_their_objects() -> None:
    from cellpose.metrics import average_precision

    truth = discs([(3, (12, 12)), (7, (12, 40)), (12, (40, 25))])
    predicted = discs([(1, (12, 12)), (2, (12, 40)), (3, (40, 25))])
    scores = instance_scores(truth, predicted)
    assert scores["0.5"] == {"ap": 1.0, "tp": 3.0, "fp": 0.0, "fn": 0.0}
    assert scores["0.75"]["ap"] == 1.0
    # what cellpose's own function says of the raw labels: 12 "objects", 9 of them missed
    raw = average_precision([truth.astype(np.int32)], [predicted.astype(np.int32)], threshold=[0.5])
    assert raw[3][0][0] == 9


def test_misses_false_objects_and_shifted_objects() -> None:
    truth = discs([(1, (12, 12)), (2, (12, 40)), (3, (40, 25))])
    # object 1 found; object 2 shifted by 4 px (IoU about 0.43 for r=6: no match at 0.5);
    # object 3 missed; one object where there is none
    predicted = discs([(5, (12, 12)), (9, (12, 44)), (11, (52, 52))])
    scores = instance_scores(truth, predicted, thresholds=(0.3, 0.5))
    assert scores["0.5"] == {"ap": pytest.approx(1 / 5), "tp": 1.0, "fp": 2.0, "fn": 2.0}
    assert scores["0.3"] == {"ap": pytest.approx(2 / 4), "tp": 2.0, "fp": 1.0, "fn": 1.0}


def test_sequential_labels_and_shape_check() -> None:
    np.testing.assert_array_equal(sequential_labels(np.array([[0, 9], [9, 4]])), [[0, 2], [2, 1]])
    with pytest.raises(ValueError, match="differ in shape"):
        instance_scores(np.zeros((4, 4), int), np.zeros((4, 5), int))
