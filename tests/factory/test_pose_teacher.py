"""Pose teacher (issue 16 item 5): BlazePose landmarks → COCO-17 slots, visibility, box match, crop geometry.

Pure numpy (+ the project's OpenCV for the crop): mediapipe is not needed (it lives in its own venv)."""

from __future__ import annotations

import numpy as np
import pytest

from factory.teacher import mediapipe_pose_worker as worker
from factory.teacher.pose import (
    BLAZEPOSE_TO_COCO,
    FACE,
    landmarks_to_coco17,
    matches_box,
    run_worker,
    teacher_annotations,
)
from runtime.errors import UserError


def _landmarks(vis: float = 0.9) -> np.ndarray:
    """33 landmarks [x, y, z, visibility]: landmark k at (100 + k, 200 + 2k)."""
    k = np.arange(33, dtype=np.float64)
    return np.stack([100 + k, 200 + 2 * k, np.zeros(33), np.full(33, vis)], axis=1)


def test_mapping_limbs_and_head_centre() -> None:
    out = landmarks_to_coco17(_landmarks(), vis=0.5, width=768, height=576)
    assert out.shape == (17, 3)
    for b, c in BLAZEPOSE_TO_COCO.items():
        assert out[c].tolist() == [100 + b, 200 + 2 * b, 2.0]
    face = np.mean(FACE)
    assert out[0].tolist() == pytest.approx([100 + face, 200 + 2 * face, 2.0])
    assert (out[1:5] == 0).all()  # eyes and ears unlabelled
    nose = landmarks_to_coco17(_landmarks(), vis=0.5, width=768, height=576, nose="nose")
    assert nose[0].tolist() == [100.0, 200.0, 2.0]
    assert sorted(BLAZEPOSE_TO_COCO.values()) == list(range(5, 17))


def test_visibility_threshold_out_of_frame_and_nan() -> None:
    lm = _landmarks()
    lm[25, 3] = 0.49  # left knee (slot 13) below the threshold
    lm[26, 3] = 0.50  # right knee (slot 14) exactly at it: labelled
    lm[27, 0] = 800.0  # left ankle (slot 15) right of a 768 px frame
    lm[28, :] = np.nan  # right ankle (slot 16): no value
    out = landmarks_to_coco17(lm, vis=0.5, width=768, height=576)
    assert out[13].tolist() == [0, 0, 0]
    assert out[14, 2] == 2
    assert out[15].tolist() == [0, 0, 0]
    assert out[16].tolist() == [0, 0, 0]
    lm[FACE, 3] = 0.3  # the head centre takes the face landmarks' mean visibility
    assert landmarks_to_coco17(lm, vis=0.5, width=768, height=576)[0].tolist() == [0, 0, 0]
    with pytest.raises(UserError, match="33"):
        landmarks_to_coco17(lm[:17], vis=0.5, width=768, height=576)


def test_matches_box() -> None:
    pts = np.zeros((17, 3))
    pts[5:17] = np.column_stack([np.full(12, 20.0), np.linspace(10, 90, 12), np.full(12, 2.0)])
    assert matches_box(pts, [0, 0, 40, 100])
    assert not matches_box(pts, [200, 0, 40, 100])  # a neighbour's pose
    assert not matches_box(pts, [0, 0, 40, 400])  # spans too little of the box
    assert not matches_box(np.zeros((17, 3)), [0, 0, 40, 100])


def test_teacher_annotations_one_per_box() -> None:
    boxes = {3: [[90.0, 190.0, 50.0, 70.0]], 1: [[90.0, 190.0, 50.0, 70.0], [400.0, 0.0, 30.0, 60.0]], 2: []}
    lm = np.stack([_landmarks()] * 3)
    found = np.array([True, True, False])
    frames = teacher_annotations(boxes, lm, found, vis=0.5, width=768, height=576)
    assert [len(frames[f]) for f in (1, 2, 3)] == [2, 0, 1]
    first, neighbour = frames[1]
    assert first["num_keypoints"] == 13 and len(first["keypoints"]) == 51
    assert neighbour["num_keypoints"] == 0 and not any(neighbour["keypoints"])  # pose is not this box's
    assert frames[3][0]["num_keypoints"] == 0  # found = False


def test_worker_crop_geometry() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[40:60, 90:110] = 255
    rgb, x0, y0, s = worker.crop_square(image, [90, 30, 20, 40], scale=1.5, side=120, mask_pad=None)
    assert rgb.shape == (120, 120, 3) and s == 60 and (x0, y0) == (70, 20)
    assert rgb[60, 60].tolist() == [255, 255, 255]  # box centre → crop centre
    assert rgb[2, 2].tolist() == [0, 0, 0]
    masked, *_ = worker.crop_square(image, [0, 0, 20, 20], scale=1.5, side=60, mask_pad=0.0)
    assert masked[59, 59].tolist() == [worker.GREY] * 3  # outside the (ungrown) box: masked grey


def test_run_worker_missing_python(tmp_path) -> None:
    with pytest.raises(UserError, match="--python"):
        run_worker(str(tmp_path / "nope" / "python"), {"video": "x", "crops": []})
