"""The one detections record (runtime.detections), its prediction-file lines, and the former constructors kept
for code not yet moved to it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runtime.detections import Detections
from runtime.predictions import parse_line


def test_boxes_and_scores_are_float64_arrays_of_their_shapes() -> None:
    det = Detections([[1, 2, 3, 4]], ["person"], [1])
    assert det.boxes.dtype == np.float64 and det.boxes.shape == (1, 4)
    assert det.scores.dtype == np.float64 and det.scores.shape == (1,) and len(det) == 1
    assert det.frame is None and det.ids is None
    boxes = np.zeros((2, 4))
    assert Detections(boxes, ["a", "b"], np.ones(2)).boxes is boxes  # already float64 (n, 4): kept as is
    empty = Detections.empty(3)
    assert empty.boxes.shape == (0, 4) and len(empty) == 0 and empty.frame == 3


def test_select_and_with_frame() -> None:
    det = Detections(np.arange(12.0).reshape(3, 4), ["a", "b", "c"], [0.9, 0.5, 0.7], 4, np.array([7, 8, 9]))
    by_mask = det.select(det.scores >= 0.6)
    by_index = det.select(np.array([2, 0]))
    assert by_mask.labels == ["a", "c"] and by_mask.ids.tolist() == [7, 9] and by_mask.frame == 4
    assert by_index.labels == ["c", "a"] and by_index.boxes[0].tolist() == [8.0, 9.0, 10.0, 11.0]
    assert len(det.select(np.zeros(3, dtype=bool))) == 0 and len(det.select(np.zeros(0, dtype=np.int64))) == 0
    moved = det.with_frame(5)
    assert moved.frame == 5 and moved.boxes is det.boxes and moved.labels == det.labels
    assert moved.labels is not det.labels and det.frame == 4


def test_prediction_line_round_trip() -> None:
    det = Detections(np.array([[1.004, 2, 3, 4]]), ["person"], np.array([0.123456]), 7)
    line = det.to_line(latency_ms=1.5)
    assert json.loads(line) == {"frame": 7, "detections": [[1.0, 2.0, 3.0, 4.0, "person", 0.1235]],
                                "latency_ms": 1.5}
    back = parse_line(line, "x:1")
    assert back.frame == 7 and back.labels == ["person"] and back.boxes.tolist() == [[1.0, 2.0, 3.0, 4.0]]
    tracked = Detections(det.boxes, det.labels, det.scores, 7, np.array([3]))
    assert json.loads(tracked.to_line())["track_ids"] == [3]
    with pytest.raises(ValueError, match="no frame"):
        Detections.empty().to_line()


