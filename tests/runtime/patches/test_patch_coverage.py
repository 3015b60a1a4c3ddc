"""Coverage and well-coverage exactly as runtime/patches/coverage.py defines them (≥ 90 % of the box inside one
patch; well covered: the box also fills ≥ 20 % of that patch)."""

import numpy as np

from runtime.patches.coverage import CoverageCount, coverage_flags


def test_coverage_definitions():
    boxes = np.array([[10, 10, 20, 20],    # inside patch 0, fills 400/1600 = 25 % -> well
                      [100, 100, 10, 10],  # inside patch 1 but fills 100/10000 -> covered only
                      [195, 0, 20, 20],    # 75 % inside patch 1 -> not covered
                      [500, 500, 10, 10],  # outside the frame -> not counted
                      [0, 0, 0, 5]], float)  # empty -> not counted
    rects = np.array([[0, 0, 40, 40], [100, 0, 200, 100], [100, 100, 200, 200]])
    counted, covered, well = coverage_flags(boxes, rects, 300, 300)
    assert counted.tolist() == [True, True, True, False, False]
    assert covered.tolist() == [True, True, False, False, False]
    assert well.tolist() == [True, False, False, False, False]
    c = CoverageCount()
    c.add(counted, covered, well)
    assert (c.objects, c.covered, c.well) == (3, 2, 1)
    assert abs(c.coverage - 2 / 3) < 1e-12 and abs(c.well_coverage - 1 / 3) < 1e-12


def test_coverage_with_no_patches_or_boxes():
    counted, covered, well = coverage_flags(np.array([[1, 1, 5, 5]]), np.zeros((0, 4)), 10, 10)
    assert counted.tolist() == [True] and not covered.any() and not well.any()
    counted, covered, well = coverage_flags(np.zeros((0, 4)), np.array([[0, 0, 5, 5]]), 10, 10)
    assert len(counted) == 0
    assert CoverageCount().coverage == 0.0
