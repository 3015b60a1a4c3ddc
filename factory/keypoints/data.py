"""Torch side of the keypoint crop set: letterboxed inputs, heatmap targets, flip/scale augmentation.

A crop (any size) is fitted into the model input ``(height, width)`` px keeping its aspect (centred, grey
padding 114) by an affine map; training adds a random scale (× ``scale_jitter``), shift and horizontal flip
(left/right channels swapped, :data:`runtime.keypoints.FLIP`). Targets: per body point a unit-height Gaussian
of ``sigma`` map px at stride 4, weight 1 where the point is labelled (v > 0) and lands in the input, else 0.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from factory.data.keypointset import KeypointSet
from runtime.keypoints import FLIP

PAD = 114


def letterbox_matrix(crop_w: int, crop_h: int, in_w: int, in_h: int, scale: float = 1.0,
                     shift: tuple[float, float] = (0.0, 0.0), flip: bool = False) -> np.ndarray:
    """2×3 affine map crop px → input px: fit (aspect kept, centred), times ``scale``, plus ``shift`` (input px),
    mirrored about the input's vertical centre line when ``flip``."""
    s = min(in_w / crop_w, in_h / crop_h) * scale
    tx = in_w / 2 - s * crop_w / 2 + shift[0]
    ty = in_h / 2 - s * crop_h / 2 + shift[1]
    m = np.array([[s, 0.0, tx], [0.0, s, ty]])
    if flip:
        m = np.array([[-1.0, 0.0, in_w], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    return m


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``(K, 2)`` points through the 2×3 map ``m``."""
    return pts[:, :2] @ m[:, :2].T + m[:, 2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    """The inverse of a 2×3 affine map."""
    return cv2.invertAffineTransform(m)


def to_tensor(image: np.ndarray, spec: dict[str, Any]) -> torch.Tensor:
    """RGB uint8 (H, W, 3) → normalised float (3, H, W) as the model expects."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(spec["mean"]).view(3, 1, 1)
    std = torch.tensor(spec["std"]).view(3, 1, 1)
    return (x - mean) / std


def heatmap_targets(points: np.ndarray, map_h: int, map_w: int, stride: int, sigma: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(K, 3)`` input-px points ``[x, y, v]`` → ``(K, map_h, map_w)`` Gaussians and ``(K,)`` weights."""
    ys, xs = np.mgrid[0:map_h, 0:map_w].astype(np.float32)
    maps = np.zeros((len(points), map_h, map_w), np.float32)
    weights = np.zeros(len(points), np.float32)
    for k, (x, y, v) in enumerate(points):
        cx, cy = x / stride - 0.5, y / stride - 0.5
        if v <= 0 or not (-0.5 <= cx < map_w - 0.5 and -0.5 <= cy < map_h - 0.5):
            continue
        maps[k] = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))
        weights[k] = 1.0
    return maps, weights


class HeatmapDataset(Dataset):
    """A :class:`KeypointSet` split as ``(input tensor, target maps, weights)`` for a model ``spec``."""

    def __init__(self, crops: KeypointSet, spec: dict[str, Any], train: bool, scale_jitter: float = 0.25,
                 seed: int = 0) -> None:
        self.crops, self.spec, self.train = crops, spec, train
        self.jitter = scale_jitter
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.crops)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Input image (RGB uint8, input size), its ``(13, 3)`` points in input px, and the affine used."""
        image, points, _, _ = self.crops[i]
        in_h, in_w = self.spec["input"]
        scale, shift, flip = 1.0, (0.0, 0.0), False
        if self.train:
            scale = float(np.exp(self.rng.uniform(-self.jitter, self.jitter)))
            shift = (float(self.rng.uniform(-0.08, 0.08) * in_w), float(self.rng.uniform(-0.05, 0.05) * in_h))
            flip = bool(self.rng.random() < 0.5)
        m = letterbox_matrix(image.shape[1], image.shape[0], in_w, in_h, scale, shift, flip)
        warped = cv2.warpAffine(image, m, (in_w, in_h), flags=cv2.INTER_LINEAR, borderValue=(PAD, PAD, PAD))
        pts = points.copy()
        pts[:, :2] = apply_affine(m, points)
        pts[points[:, 2] <= 0] = 0.0
        if flip:
            pts = pts[list(FLIP)]
        return warped, pts, m

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, pts, _ = self.sample(i)
        in_h, in_w = self.spec["input"]
        stride = self.spec["stride"]
        maps, weights = heatmap_targets(pts, in_h // stride, in_w // stride, stride, self.spec["sigma"])
        return to_tensor(image, self.spec), torch.from_numpy(maps), torch.from_numpy(weights)
