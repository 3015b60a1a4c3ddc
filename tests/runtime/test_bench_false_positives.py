"""The false-positive split of ``paraloupe-bench loop``: every unmatched box gets one kind, by the evaluator's
own matching, so the kinds add up to the evaluator's false positives."""

from __future__ import annotations

import numpy as np

from runtime.bench.false_positives import FP_KINDS, FalsePositives, classify, fp_table
from runtime.coco import FrameAnnotations
from runtime.evaluate import match_frame


def _frame() -> FrameAnnotations:
    boxes = np.array([[0, 0, 40, 40],        # a person, found twice (the second box a duplicate)
                      [100, 0, 40, 40],      # a person, boxed as a vehicle
                      [200, 0, 200, 100],    # a close-up vehicle, of which only the front is boxed
                      [0, 200, 10, 10],      # a tiny person inside a box three times its side
                      [300, 300, 40, 40],    # a person, boxed half a side off
                      [500, 500, 50, 50]],   # a crowd region: a box on it is ignored, not counted
                     dtype=np.float64)
    labels = ["person", "person", "vehicle", "person", "person", "person"]
    return FrameAnnotations(boxes, labels, np.array([0, 0, 0, 0, 0, 1], dtype=bool))


def _predictions() -> tuple[np.ndarray, list[str], np.ndarray]:
    boxes = np.array([[0, 0, 40, 40], [2, 2, 40, 40], [100, 0, 40, 40], [205, 5, 60, 90], [-10, 190, 30, 30],
                      [320, 300, 40, 40], [700, 50, 30, 30], [500, 500, 50, 50]], dtype=np.float64)
    labels = ["person", "person", "vehicle", "vehicle", "person", "person", "person", "person"]
    return boxes, labels, np.array([0.9, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])


def test_each_false_positive_gets_its_kind_by_size() -> None:
    fps = FalsePositives()
    boxes, labels, scores = _predictions()
    fps.add_frame(_frame(), boxes, labels, scores)
    f = fps.figures()
    assert {k: f[k]["total"] for k in FP_KINDS} == {"duplicate": 1, "other_class": 1, "fragment": 1,
                                                   "oversize": 1, "misplaced": 1, "background": 1}
    assert f["fragment"]["64-96"] == 1 and f["oversize"]["24-32"] == 1 and f["duplicate"]["32-48"] == 1
    counts = match_frame(_frame(), boxes, labels, scores)
    assert sum(c.fp for c in counts.values()) == sum(f[k]["total"] for k in FP_KINDS)  # the evaluator's FPs
    table = fp_table(f)
    assert table.splitlines()[0].startswith("false positives") and "fragment" in table


def test_no_objects_means_background_and_no_annotation_counts_nothing() -> None:
    assert classify(np.array([[0, 0, 5, 5]]), np.array(["person"], dtype=object), np.zeros((0, 4)),
                    np.zeros(0, dtype=object), np.zeros(0, dtype=bool)) == ["background"]
    fps = FalsePositives()
    fps.add_frame(None, np.array([[0, 0, 5, 5]]), ["person"], np.array([0.9]))
    assert all(v["total"] == 0 for v in fps.figures().values())
