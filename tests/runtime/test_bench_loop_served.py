"""Patch recall of ``paraloupe-bench loop``: what "served" means and how misses are split by cause."""

from __future__ import annotations

import numpy as np

from runtime.bench.served import SIDE_BINS, Served, count_frame, served_mask, side_bin_names, side_table
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
    count_frame(served, gt, found, np.array([[0, 0, 100, 100], [150, 0, 250, 100]]), ["high", "low"], 160, 0.4, 1.0)
    # object 0: in the patch but too small (32 px < 64) -> unserved, covered; 1: in no patch -> uncovered;
    # 2: served, missed; 3: served and found
    assert (served.objects, served.served) == (4, 2)
    assert (served.missed_unserved, served.missed_uncovered, served.missed_served) == (2, 1, 1)
    assert served.missed_too_small == 1  # object 0
    assert served.by_kind == {"high": 1, "low": 1}


def test_misses_split_by_object_size() -> None:
    # a 10 px object served by its own 20 px patch and found; a 10 px one inside a big patch only (unserved,
    # missed); a 40 px one served and missed; a 120 px one in no patch but found (by a whole-frame pass)
    gt = FrameAnnotations(np.array([[5, 5, 10, 10], [300, 300, 10, 10], [100, 100, 40, 40], [500, 10, 120, 120]],
                                   dtype=np.float64), ["person"] * 4, np.zeros(4, dtype=bool))
    found = Detections(np.array([[5.0, 5.0, 10.0, 10.0], [500.0, 10.0, 120.0, 120.0]]), ["person"] * 2,
                       np.array([0.9, 0.8]), 0)
    rects = np.array([[0, 0, 20, 20], [0, 0, 400, 400], [90, 90, 150, 150]])
    served = Served()
    count_frame(served, gt, found, rects, ["high", "refresh", "high"], 160, 0.4, 1.2)
    figures = served.side_figures()
    assert list(figures) == side_bin_names()
    small = figures["<16"]
    assert small["objects"] == 2
    assert (small["served"], small["found"], small["found_if_served"], small["found_if_unserved"]) == (0.5, 0.5, 1.0,
                                                                                                     0.0)
    assert figures["32-48"] == {"objects": 1, "served": 1.0, "found": 0.0, "found_if_served": 0.0,
                                "found_if_unserved": 0.0}
    assert figures[">=96"]["found_if_unserved"] == 1.0
    assert figures["16-24"]["objects"] == 0
    table = side_table(figures).splitlines()
    assert len(table) == len(SIDE_BINS) + 2 and table[1].split("|")[1].strip() == "2"
