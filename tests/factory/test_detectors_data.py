"""Detector inputs: the full-frame letterbox, multi-scale frame crops, and evaluation through the runtime."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from factory.models.detector import build_detector, mini_spec
from factory.train.data import Frame, FrameCropSet, letterbox_frame
from factory.train.evaluation import THRESHOLDS, evaluate_frames, gt_patches
from runtime.coco import FrameAnnotations

torch.set_num_threads(1)


def frame(w: int = 320, h: int = 180) -> Frame:
    image = np.full((h, w, 3), 90, np.uint8)
    image[40:100, 50:80] = 250
    image[120:160, 200:300] = 30
    ok, buf = cv2.imencode(".jpg", image)
    ann = FrameAnnotations(np.array([[50.0, 40, 30, 60], [200, 120, 100, 40], [0, 0, 4, 4]]),
                           ["person", "vehicle", "person"], np.array([False, False, True]),
                           -np.ones(3, np.int64), np.zeros(3), np.ones(3))
    return Frame(buf.tobytes(), ann, "mem", 0)


@pytest.mark.parametrize("width", [96, 160, 320, 640])
def test_letterbox_frame_is_tight_and_maps_back(width: int) -> None:
    canvas, lb = letterbox_frame(np.zeros((540, 960, 3), np.uint8), width, 32)
    assert canvas.shape[1] == width and canvas.shape[0] % 32 == 0
    assert canvas.shape[0] - 32 < lb.content_size[1] <= canvas.shape[0]
    box = np.array([[100.0, 200, 50, 80]])
    np.testing.assert_allclose(lb.boxes_to_source(lb.boxes_to_input(box)), box)
    assert lb.pad_y >= 0 and lb.pad_y + lb.content_size[1] <= canvas.shape[0]


def test_frame_crops_are_square_with_targets_inside() -> None:
    ds = FrameCropSet([frame()] * 4, ["person", "vehicle"], 128, (200, 400), [127.5] * 3, [127.5] * 3, seed=1)
    for i in range(4):
        x, t = ds[i]
        assert tuple(x.shape) == (3, 128, 128)
        assert (t.boxes[:, 2:] <= 128 + 1e-3).all() and (t.boxes[:, :2] >= -1e-3).all()
        assert bool(t.crowd[t.labels == 0].any()) or len(t.labels) <= 2  # the tiny crowd person stays ignored


def test_gt_patches_hold_their_object_and_evaluation_sweeps_thresholds() -> None:
    fr = frame()
    patches = list(gt_patches([fr], 320, 180, (0.5, 1.0), seed=0))
    assert len(patches) == 2  # the crowd box is never a patch centre
    for crop, ann in patches:
        assert len(ann) >= 1 and (ann.boxes[:, 2] * ann.boxes[:, 3]).max() >= 0.4 * crop.shape[0] * crop.shape[1]
    model = build_detector(mini_spec("standin", ["person", "vehicle"], 64, 16, 16, 1, {"width": 8})).eval()
    scores = evaluate_frames(model, [fr, fr], 64, model.spec["decode"])
    assert set(scores.f1) == set(THRESHOLDS) and scores.count == 2
    assert scores.at(0.31).iou == 0.5
