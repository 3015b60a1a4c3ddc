"""Patch geometry (CONVENTIONS.md) and the letterbox transform."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.geometry import (
    Letterbox,
    boxes_to_rects,
    clip_boxes,
    covered_by_larger,
    iou_matrix,
    patch_around_box,
    patches_around_boxes,
    rects_to_boxes,
)


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


def _covered_reference(boxes: np.ndarray, classes: list[int], share: float) -> list[bool]:
    """Pairwise loops: box i is covered when a larger same-class box j holds >= share of its area."""
    out = []
    for i, a in enumerate(boxes):
        hit = False
        for j, b in enumerate(boxes):
            if i == j or classes[i] != classes[j] or b[2] * b[3] <= a[2] * a[3]:
                continue
            iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            hit |= iw > 0 and ih > 0 and iw * ih >= share * a[2] * a[3]
        out.append(hit)
    return out


def test_covered_by_larger_marks_fragments_of_a_larger_box_of_their_class() -> None:
    bus = [255.0, 95.0, 585.0, 160.0]
    boxes = np.array([bus, [525.0, 100.0, 245.0, 160.0],  # a fragment: 94 % of it inside the bus
                      [150.0, 95.0, 215.0, 150.0],  # half outside the bus: kept
                      [600.0, 120.0, 40.0, 90.0],  # a person in front of the bus: another class
                      [900.0, 300.0, 20.0, 20.0]])
    classes = np.array([1, 1, 1, 0, 1])
    assert covered_by_larger(boxes, classes, 0.8).tolist() == [False, True, False, False, False]
    assert not covered_by_larger(boxes, classes, 0.0).any()  # 0 = off
    assert covered_by_larger(np.zeros((0, 4)), np.zeros(0), 0.8).shape == (0,)
    rng = np.random.default_rng(0)
    for _ in range(20):
        boxes = np.concatenate([rng.uniform(0, 400, (12, 2)), rng.uniform(5, 200, (12, 2))], axis=1)
        classes = rng.integers(0, 2, 12)
        for share in (0.5, 0.8):
            assert covered_by_larger(boxes, classes, share).tolist() == _covered_reference(boxes, list(classes), share)


def _patch_reference(box: list[float], r: float, frame_w: int, frame_h: int, min_side: int) -> tuple[int, ...]:
    """The CONVENTIONS patch of one box in plain Python (round half to even, shift inside, clip)."""
    x, y, w, h = box
    pw, ph = max(w / math.sqrt(r), float(min_side)), max(h / math.sqrt(r), float(min_side))
    pw_i, ph_i = round(pw), round(ph)
    x0 = min(max(round(x + w / 2.0 - pw / 2.0), 0), max(frame_w - pw_i, 0))
    y0 = min(max(round(y + h / 2.0 - ph / 2.0), 0), max(frame_h - ph_i, 0))
    return x0, y0, max(min(x0 + pw_i, frame_w), x0 + 1), max(min(y0 + ph_i, frame_h), y0 + 1)


def test_patches_around_boxes_match_the_one_box_reference() -> None:
    rng = np.random.default_rng(3)
    boxes = np.concatenate([
        np.column_stack([rng.uniform(-50, 950, 300), rng.uniform(-50, 530, 300), rng.uniform(0.5, 700, 300),
                         rng.uniform(0.5, 500, 300)]),
        np.array([[10.5, 20.5, 3.0, 5.0], [0.0, 0.0, 2.5, 3.5], [955.0, 535.0, 10.0, 10.0]]),  # half-pixel ties
    ])
    for r, min_side in ((0.5, 16), (0.25, 1), (1.0, 32)):
        got = patches_around_boxes(boxes, r, 960, 540, min_side)
        assert got.dtype == np.int64 and got.shape == (len(boxes), 4)
        want = [_patch_reference(list(b), r, 960, 540, min_side) for b in boxes]
        assert [tuple(int(v) for v in row) for row in got] == want
        assert patch_around_box(boxes[0], r, 960, 540, min_side) == want[0]
    assert patches_around_boxes(np.zeros((0, 4)), 0.5, 960, 540).shape == (0, 4)


def test_centres_per_rect_counts_each_centre_once() -> None:
    from runtime.geometry import centres_per_rect

    rects = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 20, 10]])
    boxes = np.array([[2.0, 2.0, 4.0, 4.0], [8.0, 0.0, 4.0, 4.0], [30.0, 30.0, 2.0, 2.0]])  # centres 4, 10, 31
    assert centres_per_rect(boxes, rects).tolist() == [1, 1, 2]  # x = 10 belongs to the right-hand rect
    assert centres_per_rect(np.zeros((0, 4)), rects).tolist() == [0, 0, 0]
