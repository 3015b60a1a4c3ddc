"""Patch recall of ``paraloupe-bench loop``: what "served" means and how misses are split by cause."""

from __future__ import annotations

import numpy as np

from runtime.bench.loop import Served, _count, served_mask
from runtime.coco import FrameAnnotations
from runtime.detections import Detections


def test_served_means_whole_inside_and_within_the_size_range() -> None:
    boxes = np.array([[10, 10, 20, 20],     # whole in patch 0; 20 px of a 100 px patch at 160 -> 32 px
                      [90, 10, 20, 20],     # crosses patch 0's right border
                      [10, 10, 60, 60]])    # 60 px of 100 -> 96 px at 160
    rects = np.array([[0, 0, 100, 100]])
    np.testing.assert_array_equal(served_mask(boxes, rects, 160, 0.1, 1.0)[:, 0], [True, False, True])
    np.testing.assert_array_equal(served_mask(boxes, rects, 160, 0.4, 1.0)[:, 0], [False, False, True])
    assert served_mask(boxes, np.zeros((0, 4)), 160, 0.1, 1.0).shape == (3, 0)


def test_misses_split_into_uncovered_out_of_range_and_served() -> None:
    gt = FrameAnnotations(np.array([[10, 10, 20, 20], [300, 300, 20, 20], [10, 10, 60, 60], [160, 20, 50, 50]],
                                   dtype=np.float64), ["person"] * 4, np.zeros(4, dtype=bool))
    found = Detections(np.array([[160.0, 20.0, 50.0, 50.0]]), ["person"], np.array([0.9]), 0)
    served = Served()
    _count(served, gt, found, np.array([[0, 0, 100, 100], [150, 0, 250, 100]]), ["high", "low"], 160, 0.4, 1.0)
    # object 0: in the patch but too small (32 px < 64) -> unserved, covered; 1: in no patch -> uncovered;
    # 2: served, missed; 3: served and found
    assert (served.objects, served.served) == (4, 2)
    assert (served.missed_unserved, served.missed_uncovered, served.missed_served) == (2, 1, 1)
    assert served.missed_too_small == 1  # object 0
    assert served.by_kind == {"high": 1, "low": 1}
