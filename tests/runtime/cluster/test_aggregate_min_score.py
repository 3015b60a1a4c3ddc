"""The aggregator's score floor: boxes below ``min_score`` never reach the frame result."""

import numpy as np

from runtime.cluster.aggregate import PatchDetections, aggregate
from runtime.detections import Detections


def test_min_score_drops_low_boxes_before_merging() -> None:
    res = PatchDetections((0, 0, 100, 100), (100, 100), Detections(np.array([[10, 10, 20, 20], [50, 50, 20, 20]]),
                                                                   ["person", "person"], np.array([0.9, 0.3])))
    assert len(aggregate(0, 100, 100, [res]).boxes) == 2
    kept = aggregate(0, 100, 100, [res], min_score=0.5)
    assert len(kept.boxes) == 1 and kept.scores[0] == 0.9
