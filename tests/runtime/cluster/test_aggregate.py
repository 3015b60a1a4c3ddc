"""The aggregator: patch → frame coordinates, duplicates across overlapping patches merged."""

from __future__ import annotations

import numpy as np

from runtime.cluster.aggregate import PatchDetections, aggregate, merge, to_frame
from runtime.detections import Detections


def patch(rect: tuple[int, int, int, int], size: tuple[int, int], boxes: np.ndarray, labels: list[str],
          scores: np.ndarray) -> PatchDetections:
    return PatchDetections(rect, size, Detections(boxes, labels, scores))


def test_to_frame_scales_a_downscaled_jpeg_and_shifts() -> None:
    # patch 200×100 at (100, 50) sent as a 100×50 JPEG: boxes scale ×2 then shift
    res = patch((100, 50, 300, 150), (100, 50), np.array([[10.0, 5.0, 20.0, 10.0]]), ["person"], np.array([0.9]))
    np.testing.assert_allclose(to_frame(res), [[120.0, 60.0, 40.0, 20.0]])


def test_to_frame_clips_to_the_patch() -> None:
    res = patch((0, 0, 100, 100), (100, 100), np.array([[-10.0, 90.0, 30.0, 30.0]]), ["car"], np.array([0.5]))
    np.testing.assert_allclose(to_frame(res), [[0.0, 90.0, 20.0, 10.0]])


def test_same_object_seen_by_two_overlapping_patches_is_kept_once() -> None:
    a = patch((0, 0, 200, 200), (200, 200), np.array([[100.0, 100.0, 50.0, 50.0]]), ["person"], np.array([0.9]))
    b = patch((80, 80, 280, 280), (200, 200), np.array([[21.0, 19.0, 50.0, 50.0]]), ["person"], np.array([0.7]))
    out = aggregate(0, 640, 480, [a, b])
    assert len(out.scores) == 1 and out.scores[0] == 0.9


def test_different_classes_are_not_merged() -> None:
    a = patch((0, 0, 200, 200), (200, 200), np.array([[100.0, 100.0, 50.0, 50.0]]), ["person"], np.array([0.9]))
    b = patch((0, 0, 200, 200), (200, 200), np.array([[100.0, 100.0, 50.0, 50.0]]), ["vehicle"], np.array([0.8]))
    assert len(aggregate(0, 640, 480, [a, b]).scores) == 2


def test_border_cut_part_is_dropped_next_to_the_whole_object() -> None:
    # object at x 180..260; patch A ends at x=200 and sees only 180..200 (cut by its inner border);
    # patch B sees it whole. IoU is low (0.25), so NMS alone keeps both; the border rule drops the part.
    a = patch((0, 100, 200, 300), (200, 200), np.array([[180.0, 50.0, 20.0, 80.0]]), ["person"], np.array([0.95]))
    b = patch((150, 100, 350, 300), (200, 200), np.array([[30.0, 50.0, 80.0, 80.0]]), ["person"], np.array([0.6]))
    out = aggregate(0, 640, 480, [a, b])
    assert len(out.scores) == 1
    np.testing.assert_allclose(out.boxes[0], [180.0, 150.0, 80.0, 80.0])


def test_box_at_a_frame_edge_is_not_treated_as_cut() -> None:
    # two distinct small objects inside a big one's area? no: a box touching the frame edge stays
    a = patch((0, 0, 100, 100), (100, 100), np.array([[0.0, 10.0, 20.0, 20.0]]), ["person"], np.array([0.9]))
    b = patch((0, 0, 300, 300), (300, 300), np.array([[0.0, 0.0, 100.0, 100.0]]), ["person"], np.array([0.5]))
    assert len(aggregate(0, 640, 480, [a, b]).scores) == 2


def test_empty_frame() -> None:
    out = aggregate(7, 640, 480, [patch((0, 0, 10, 10), (10, 10), np.zeros((0, 4)), [], np.zeros(0))])
    assert out.frame == 7 and len(out.scores) == 0




def test_a_whole_view_outranks_a_cut_one_in_nms() -> None:
    # patch 0 cuts the object at its right border (x = 50) with the higher score; patch 1 holds it whole
    rects = np.array([[0, 0, 50, 100], [20, 0, 120, 100]])
    boxes = np.array([[30.0, 20.0, 20.0, 40.0], [30.0, 20.0, 28.0, 40.0]])
    keep = merge(boxes, ["person", "person"], np.array([0.9, 0.6]), np.array([0, 1]), rects, 200, 100)
    assert keep.tolist() == [1]
