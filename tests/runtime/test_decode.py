"""Decoding raw detector outputs and class-wise NMS (runtime.decode) against hand-built outputs."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.decode import batched_nms, decode, nms
from runtime.errors import UserError

NAMES = ["person", "vehicle"]


def level(c: int, h: int, w: int) -> np.ndarray:
    return np.zeros((1, c + 4, h, w), dtype=np.float32)


def test_one_cell_decodes_to_its_box() -> None:
    out = level(2, 4, 5)
    out[0, 1, 2, 3] = 0.9  # class 1 at row 2, col 3 (stride 16: centre (56, 40))
    out[0, 2:, 2, 3] = [1.0, 0.5, 2.0, 1.5]  # l, t, r, b in strides
    det = decode([out], [16], NAMES, score_threshold=0.5)
    assert len(det) == 1 and det.labels == ["vehicle"] and det.scores[0] == pytest.approx(0.9)
    assert det.frame is None and det.boxes.dtype == np.float64
    np.testing.assert_allclose(det.boxes[0], [56 - 16, 40 - 8, 48, 32])


def test_threshold_top_k_and_cap() -> None:
    out = level(1, 8, 8)
    out[0, 1:] = 0.2  # small boxes, far apart: NMS keeps all
    out[0, 0].flat[:10] = np.linspace(0.5, 0.95, 10)
    assert len(decode([out], [8], NAMES, score_threshold=0.62)) == 7
    assert len(decode([out], [8], NAMES, score_threshold=0.1, top_k=3)) == 3
    det = decode([out], [8], NAMES, score_threshold=0.1, max_detections=2)
    assert len(det) == 2 and det.scores[0] >= det.scores[1]


def test_levels_are_pooled_and_duplicates_suppressed_per_class() -> None:
    a, b = level(2, 4, 4), level(2, 2, 2)
    a[0, 0, 1, 1] = 0.8
    a[0, 2:, 1, 1] = 1.0  # box [4, 4, 16, 16] from the stride-8 cell centred at (12, 12)
    b[0, 0, 0, 0] = 0.7
    b[0, 2:, 0, 0] = [0.25, 0.25, 0.75, 0.75]  # the same box from the stride-16 cell at (8, 8): suppressed
    b[0, 1, 0, 0] = 0.6  # the same box as the other class: kept
    det = decode([a, b], [8, 16], NAMES, score_threshold=0.5, nms_iou=0.5)
    assert det.labels == ["person", "vehicle"] and det.scores.tolist() == pytest.approx([0.8, 0.6])


def test_nms_and_batched_nms() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 5, 5]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist() == [0, 1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_bad_outputs_are_one_line_errors() -> None:
    with pytest.raises(UserError, match="strides"):
        decode([level(1, 2, 2)], [8, 16], NAMES)
    with pytest.raises(UserError, match="expected"):
        decode([np.zeros((1, 3, 2, 2))], [8], NAMES)
    with pytest.raises(UserError, match="classes"):
        decode([level(1, 2, 2), level(2, 1, 1)], [8, 16], NAMES)
    assert len(decode([level(2, 3, 3)], [8], NAMES)) == 0


def test_nms_kernel_and_both_reference_paths_keep_the_same_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    import runtime.decode as decode_module
    from runtime.decode import nms_reference

    rng = np.random.default_rng(5)
    for n in (0, 1, 7, 60, 200):
        boxes = np.concatenate([rng.uniform(0, 300, (n, 2)), rng.uniform(0, 80, (n, 2))], axis=1)
        if n > 7:
            boxes[:3, 2:] = 0.0  # empty boxes: zero area, zero union with each other
            boxes[3] = boxes[4]  # an exact duplicate
        scores = rng.choice([0.3, 0.5, 0.7, 0.9], n)  # ties: the order among equal scores must agree too
        for threshold in (0.0, 0.3, 0.5, 1.0):
            matrix = nms_reference(boxes, scores, threshold)
            monkeypatch.setattr(decode_module, "NMS_MATRIX_MAX", -1)
            rows = nms_reference(boxes, scores, threshold)
            monkeypatch.undo()
            np.testing.assert_array_equal(matrix, rows)
            np.testing.assert_array_equal(nms(boxes, scores, threshold), matrix)
            assert nms(boxes, scores, threshold).dtype == np.int64


def test_nms_with_a_non_finite_box_follows_the_reference() -> None:
    from runtime.decode import nms_reference

    boxes = np.array([[0, 0, 10, 10], [1, 0, np.nan, 10], [0, 0, 10, 10], [np.inf, 0, 5, 5]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    with np.errstate(invalid="ignore"):  # inf - inf in the reference's matrix
        np.testing.assert_array_equal(nms(boxes, scores, 0.5), nms_reference(boxes, scores, 0.5))
