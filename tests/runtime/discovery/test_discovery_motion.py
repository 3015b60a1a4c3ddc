"""Motion boxes on synthetic scenes: a textured background with textured rectangles moving over it.

Still camera: the moving objects are found (IoU >= 0.5 with the truth after warm-up) and a still scene gives
nothing. Panning camera (the background shifted by a known translation each frame, the warp given): the
objects are found and the background is not flagged. Plus the warp helpers and the mode switching.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from runtime.discovery import DiscoveryConfig, MotionDetector, camera_shift_px, scale_warp
from runtime.geometry import clip_boxes, iou_matrix
from runtime.tracker import CameraMotion

W, H = 960, 540
#: (x, y, w, h) at frame 0 in scene px, and velocity (px/frame) relative to the scene
OBJECTS = [((100, 60, 70, 110), (5.0, 0.0)), ((420, 250, 110, 60), (-4.0, 1.0)), ((650, 380, 60, 90), (3.0, -2.0))]


def texture(w: int, h: int, seed: int, cell: int = 6) -> np.ndarray:
    """A BGR frame of smooth random texture."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // cell, w // cell, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.2)


def scene(n: int, pan: tuple[int, int] = (0, 0), objects: bool = True, seed: int = 0, noise: float = 2.0,
          stop_after: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Frames ``(BGR, warp from the previous frame, true boxes (m, 4) px)``; the camera moves by ``pan`` px per
    frame (content moves the other way) until ``stop_after`` frames, objects move over the scene."""
    rng = np.random.default_rng(seed + 1)
    pad = max(abs(pan[0]), abs(pan[1])) * n + 1
    bg = texture(W + 2 * pad, H + 2 * pad, seed)
    looks = [cv2.convertScaleAbs(texture(b[2], b[3], seed + 10 + i, cell=8), alpha=1.6, beta=-60)
             for i, (b, _) in enumerate(OBJECTS)]
    cam = np.array([pad, pad])
    for k in range(n):
        step = np.array(pan) if k > 0 and (stop_after is None or k <= stop_after) else np.zeros(2, int)
        cam = cam + step
        canvas = bg.copy()
        boxes = []
        for (b, v), look in zip(OBJECTS, looks, strict=True) if objects else []:
            x, y = int(round(b[0] + v[0] * k)) + pad, int(round(b[1] + v[1] * k)) + pad
            canvas[y:y + b[3], x:x + b[2]] = look
            boxes.append([x - cam[0], y - cam[1], b[2], b[3]])
        frame = canvas[cam[1]:cam[1] + H, cam[0]:cam[0] + W].astype(np.float64)
        frame = np.clip(frame + rng.normal(0.0, noise, (H, W, 1)), 0, 255).astype(np.uint8)
        warp = np.array([[1.0, 0.0, -step[0]], [0.0, 1.0, -step[1]]])
        full = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        seen = clip_boxes(full, W, H)  # what is in view; objects mostly outside are not expected
        yield frame, warp, seen[seen[:, 2] * seen[:, 3] >= 0.5 * full[:, 2] * full[:, 3]]


def best_iou(truth: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    return iou_matrix(truth, boxes).max(axis=1) if len(boxes) else np.zeros(len(truth))


def outside_fraction(mask: np.ndarray, truth: np.ndarray, margin: int = 24) -> float:
    """Fraction of the frame flagged in ``mask`` (reduced, resized up here) away from the true boxes."""
    full = cv2.resize(mask, (W, H), interpolation=cv2.INTER_NEAREST) > 0
    keep = np.ones((H, W), bool)
    for x, y, w, h in truth.astype(int):
        keep[max(y - margin, 0):y + h + margin, max(x - margin, 0):x + w + margin] = False
    return float(full[keep].mean())


def test_static_camera_finds_moving_objects() -> None:
    det = MotionDetector()
    warm = det.cfg.relearn_frames + 10
    for k, (frame, _, truth) in enumerate(scene(40)):
        boxes = det.detect(frame)
        assert boxes.shape[1] == 4 and boxes.dtype == np.float64
        if k == 0:
            assert det.mode == "none" and len(boxes) == 0  # no reference yet
        elif k < det.cfg.relearn_frames:  # frame 0 is one of the frames the subtractor learns
            assert det.mode == "difference"
        else:
            assert det.mode == "subtractor"
        if k >= warm:
            assert (best_iou(truth, boxes) >= 0.5).all(), (k, truth, boxes)
            assert len(boxes) <= len(truth) + 1
            assert det.mask is not None and outside_fraction(det.mask, truth) < 0.01


def test_still_scene_gives_nothing() -> None:
    det = MotionDetector()
    for frame, _, _ in scene(25, objects=False):
        assert len(det.detect(frame)) == 0
    assert det.mode == "subtractor"


@pytest.mark.parametrize("estimated", [False, True])
@pytest.mark.parametrize("pan", [(6, 2), (-3, 5), (12, -4)])
def test_panning_camera_finds_moving_objects_not_background(pan: tuple[int, int], estimated: bool) -> None:
    """The warp is the true one, or the tracker's camera-motion estimate (off by up to ~0.3 px)."""
    det = MotionDetector()
    motion = CameraMotion() if estimated else None
    for k, (frame, warp, truth) in enumerate(scene(20, pan=pan)):
        boxes = det.detect(frame, motion.estimate(frame) if motion is not None else warp)
        if k == 0:
            continue
        assert det.mode == "difference"
        if k >= det.cfg.diff_gap:
            assert (best_iou(truth, boxes) >= 0.5).all(), (k, truth, boxes)
            assert det.mask is not None and outside_fraction(det.mask, truth) < 0.01
            covered = (boxes[:, 2] * boxes[:, 3]).sum() / (W * H)
            assert covered < 0.15


def test_rotating_camera_with_warp() -> None:
    """The camera rolls by 0.4° per frame about the image centre (a full affine, not a translation)."""
    bg = texture(W, H, 3)
    step = np.vstack([cv2.getRotationMatrix2D((W / 2, H / 2), 0.4, 1.0), [0.0, 0.0, 1.0]])
    look = cv2.convertScaleAbs(texture(80, 60, 4, cell=8), alpha=1.6, beta=-60)
    det, total = MotionDetector(), np.eye(3)
    for k in range(12):
        frame = cv2.warpAffine(bg, total[:2], (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x, y = 300 + 6 * k, 200
        frame[y:y + 60, x:x + 80] = look
        boxes = det.detect(frame, step[:2] if k else None)
        truth = np.array([[x, y, 80, 60]], dtype=np.float64)
        if k >= 2:
            assert det.mode == "difference" and best_iou(truth, boxes)[0] >= 0.5, (k, boxes)
            assert det.mask is not None and outside_fraction(det.mask, truth) < 0.01
        total = step @ total


def test_panning_camera_without_warp_is_a_global_change() -> None:
    """Without compensation the whole textured background differs: the frame is a global change, no boxes."""
    det = MotionDetector()
    for k, (frame, _, _) in enumerate(scene(8, pan=(6, 2))):
        boxes = det.detect(frame, None)
        if k > 0:
            assert det.mode == "none" and len(boxes) == 0


def test_subtractor_relearns_after_the_camera_stops() -> None:
    cfg = DiscoveryConfig(relearn_frames=4)
    det = MotionDetector(cfg)
    modes = []
    stop = 8
    for k, (frame, warp, truth) in enumerate(scene(stop + 25, pan=(5, 0), stop_after=stop)):
        boxes = det.detect(frame, warp)
        modes.append(det.mode)
        if k > stop + cfg.relearn_frames + 10:
            assert (best_iou(truth, boxes) >= 0.5).all(), (k, truth, boxes)
    assert modes[1:stop + 1] == ["difference"] * stop
    assert modes[stop + 1:stop + 1 + cfg.relearn_frames] == ["difference"] * cfg.relearn_frames
    assert modes[stop + 1 + cfg.relearn_frames:] == ["subtractor"] * (len(modes) - stop - 1 - cfg.relearn_frames)


def test_limits_grey_input_size_change_and_reset() -> None:
    cfg = DiscoveryConfig(max_boxes=2, min_area=0.0)
    det = MotionDetector(cfg)
    for frame, _, _ in scene(6):
        boxes = det.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert len(boxes) == 2  # three objects, the two largest kept
    area = boxes[:, 2] * boxes[:, 3]
    assert area[0] >= area[1]
    assert (boxes[:, :2] >= 0).all()
    assert (boxes[:, 0] + boxes[:, 2] <= W).all() and (boxes[:, 1] + boxes[:, 3] <= H).all()
    small = cv2.resize(frame, (480, 270))
    assert len(det.detect(small)) == 0 and det.mode == "none"  # a new size: no reference frame
    det.reset()
    assert len(det.detect(small)) == 0 and det.mode == "none"
    big = MotionDetector(DiscoveryConfig(min_area=1e6))
    for frame, _, _ in scene(4):
        assert len(big.detect(frame)) == 0


def test_small_frames_are_not_upscaled() -> None:
    det = MotionDetector(DiscoveryConfig(width=640))
    frame = np.zeros((120, 160), np.uint8)
    det.detect(frame)
    frame[40:80, 60:100] = 255
    boxes = det.detect(frame)
    np.testing.assert_allclose(boxes, [[60, 40, 40, 40]])


def test_camera_shift_px() -> None:
    assert camera_shift_px(None, W, H) == 0.0
    assert camera_shift_px(np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0]]), W, H) == pytest.approx(5.0)
    rot = cv2.getRotationMatrix2D((W / 2, H / 2), 0.5, 1.0)
    assert camera_shift_px(rot, W, H) == pytest.approx(np.hypot(W / 2, H / 2) * 2 * np.sin(np.radians(0.25)))


@pytest.mark.parametrize("sx,sy", [(1 / 3, 1 / 3), (0.25, 0.2537)])
def test_scale_warp_maps_points_consistently(sx: float, sy: float) -> None:
    """A point mapped in full px then resized lands where its resized position maps under the scaled warp."""
    warp = cv2.getRotationMatrix2D((300.0, 200.0), 2.0, 1.03) + [[0, 0, 7.5], [0, 0, -3.25]]
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 900, (20, 2))
    s, c = np.array([sx, sy]), (np.array([sx, sy]) - 1) / 2

    def to_small(p: np.ndarray) -> np.ndarray:
        return p * s + c

    small = scale_warp(warp, sx, sy)
    full_then_small = to_small(pts @ warp[:, :2].T + warp[:, 2])
    small_then_map = to_small(pts) @ small[:, :2].T + small[:, 2]
    np.testing.assert_allclose(small_then_map, full_then_small, atol=1e-9)
    np.testing.assert_allclose(scale_warp(np.array([[1.0, 0, 6], [0, 1, -3]]), sx, sy)[:, 2], [6 * sx, -3 * sy])
