"""Patch geometry (CONVENTIONS.md) and the letterbox transform."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.geometry import Letterbox, boxes_to_rects, clip_boxes, iou_matrix, patch_around_box, rects_to_boxes


@pytest.mark.parametrize("r", [0.5, 0.64, 1.0])
def test_patch_keeps_aspect_and_area_ratio(r: float) -> None:
    box = [400, 300, 40, 80]
    x0, y0, x1, y1 = patch_around_box(box, r, 1920, 1080)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(0.5, abs=0.02)
    assert 40 * 80 / ((x1 - x0) * (y1 - y0)) == pytest.approx(r, rel=0.04)
    assert x0 <= 400 and y0 <= 300 and x1 >= 440 and y1 >= 380


def test_patch_is_shifted_inside_then_clipped() -> None:
    assert patch_around_box([0, 0, 20, 20], 0.25, 100, 100) == (0, 0, 40, 40)  # shifted, not cut
    x0, y0, x1, y1 = patch_around_box([0, 0, 90, 90], 0.25, 100, 100)  # too big: clipped to the frame
    assert (x0, y0, x1, y1) == (0, 0, 100, 100)


def test_letterbox_round_trip() -> None:
    lb = Letterbox.fit(300, 150, 240)
    img = np.zeros((150, 300, 3), np.uint8)
    out = lb.apply(img)
    assert out.shape == (240, 240, 3) and lb.pad_y == 60 and lb.pad_x == 0
    boxes = np.array([[10, 20, 30, 40.0]])
    assert np.allclose(lb.boxes_to_source(lb.boxes_to_input(boxes)), boxes)


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10.0]])
    b = np.array([[0, 0, 10, 10.0], [5, 0, 10, 10], [20, 20, 1, 1]])
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_boxes_and_rects_convert_both_ways() -> None:
    boxes = np.array([[10, 20, 30, 40], [0, 0, 1, 1]])
    rects = boxes_to_rects(boxes)
    assert rects.dtype == np.float64 and rects.tolist() == [[10, 20, 40, 60], [0, 0, 1, 1]]
    assert rects_to_boxes(rects).tolist() == boxes.tolist()
    assert boxes_to_rects(boxes.astype(np.float32)).dtype == np.float32  # float input keeps its dtype
    assert rects_to_boxes(np.zeros((0, 4), dtype=np.int64)).shape == (0, 4)
    assert boxes_to_rects([1, 2, 3, 4]).tolist() == [[1, 2, 4, 6]]


def test_clip_boxes() -> None:
    out = clip_boxes(np.array([[-10, 5, 30, 10], [90, 90, 20, 20], [200, 0, 5, 5.0]]), 100, 100)
    assert out.tolist() == [[0, 5, 20, 10], [90, 90, 10, 10], [100, 0, 0, 5]]
