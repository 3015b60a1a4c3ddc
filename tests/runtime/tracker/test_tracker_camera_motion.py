"""Camera motion: a synthetic textured frame warped by a known affine is recovered within 0.5 px."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.config import from_mapping
from runtime.tracker import IDENTITY, CameraMotion, TrackerConfig

W, H = 960, 540


def textured(w: int = W, h: int = H, seed: int = 0) -> np.ndarray:
    """A BGR frame of smooth random texture (corners everywhere)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4, w // 4), dtype=np.uint8)
    grey = cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.5)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def _max_error_px(est: np.ndarray, true: np.ndarray) -> float:
    """Largest displacement between the two affines over a 5×5 grid spanning the frame, px."""
    xs, ys = np.meshgrid(np.linspace(0, W - 1, 5), np.linspace(0, H - 1, 5))
    pts = np.column_stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    return float(np.abs(pts @ est.T - pts @ true.T).max())


@pytest.mark.parametrize("true", [
    np.array([[1.0, 0.0, 7.3], [0.0, 1.0, -4.6]]),                                      # translation
    np.array([[1.0, 0.0, -23.5], [0.0, 1.0, 11.2]]),                                    # larger pan
    cv2.getRotationMatrix2D((W / 2, H / 2), 1.5, 1.02) + [[0, 0, 3.2], [0, 0, 1.1]],    # similarity
])
def test_recovers_known_affine_within_half_pixel(true: np.ndarray) -> None:
    frame = textured()
    warped = cv2.warpAffine(frame, true, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    motion = CameraMotion()
    np.testing.assert_array_equal(motion.estimate(frame), IDENTITY)  # no previous frame yet
    est = motion.estimate(warped)
    assert est.shape == (2, 3) and est.dtype == np.float64
    assert _max_error_px(est, true) <= 0.5
    assert motion.inliers >= 12


def test_sequence_with_point_reuse_and_grey_input() -> None:
    """A pan over several frames (corners re-used between calls), fed as grey frames."""
    scene = cv2.cvtColor(textured(W + 200, H + 100, seed=4), cv2.COLOR_BGR2GRAY)
    motion = CameraMotion(width=320, max_points=150)
    offsets = [(0, 0), (6, 2), (14, 3), (19, 9), (31, 12), (40, 11)]
    for i, (ox, oy) in enumerate(offsets):
        est = motion.estimate(scene[oy:oy + H, ox:ox + W])
        if i == 0:
            continue
        px, py = offsets[i - 1]
        true = np.array([[1.0, 0.0, px - ox], [0.0, 1.0, py - oy]])  # content moves against the camera
        assert _max_error_px(est, true) <= 0.5


def test_identity_when_it_cannot_estimate() -> None:
    flat = np.full((H, W, 3), 128, np.uint8)
    motion = CameraMotion()
    motion.estimate(flat)
    np.testing.assert_array_equal(motion.estimate(flat), IDENTITY)  # no corners
    assert motion.inliers == 0
    frame = textured()
    motion.estimate(frame)
    np.testing.assert_array_equal(motion.estimate(textured(seed=9)), IDENTITY)  # unrelated frame: no consensus
    motion.estimate(frame)
    np.testing.assert_array_equal(motion.estimate(cv2.resize(frame, (480, 270))), IDENTITY)  # size change
    motion.reset()
    np.testing.assert_array_equal(motion.estimate(frame), IDENTITY)


def test_from_config_uses_the_cmc_keys() -> None:
    cfg = from_mapping(TrackerConfig, {"cmc_width": 240, "cmc_max_points": 100, "cmc_min_points": 20}, "t")
    motion = CameraMotion.from_config(cfg)
    assert (motion.width, motion.max_points, motion.min_points) == (240, 100, 20)
