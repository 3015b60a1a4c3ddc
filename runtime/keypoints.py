"""The keypoint convention (docs/keypoints.md), heatmap decoding and the manifest's keypoint section (no torch).

A person has COCO's 17 keypoint slots, in COCO's order (:data:`COCO_NAMES`). The synthetic world's figures
have no eyes or ears, so the models predict the 13 body points (:data:`BODY`, nose = head centre) and the
eye/ear slots are always ``(0, 0, 0)`` — unlabelled, which COCO's OKS skips, so any COCO keypoint tool
(faster-coco-eval, pycocotools) consumes the files with the standard per-keypoint sigmas (:data:`SIGMAS`).

Visibility (COCO's ``v``): 2 = in the frame and not covered by a nearer object; 1 = in the frame but covered
by a nearer object (the position is exact, so it is labelled, as COCO labels occluded points it can place);
0 = outside the frame (``x = y = 0``). A figure's own limbs crossing each other do not count as occlusion.

Heatmaps: one map per body point at ``1/stride`` of the input; :func:`decode_heatmaps` takes the arg-max
with SimpleBaseline's quarter-pixel shift towards the higher neighbour and returns input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from runtime.config import bounded, key_path
from runtime.errors import UserError

COCO_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle")
"""COCO's 17 keypoint names, in slot order."""

SIGMAS: tuple[float, ...] = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107,
                             0.107, 0.087, 0.087, 0.089, 0.089)
"""COCO's per-keypoint OKS sigmas (pycocotools' defaults), one per slot of :data:`COCO_NAMES`."""

BODY: tuple[int, ...] = (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
"""The 13 COCO slots the world draws and the models predict (model channel k = COCO slot ``BODY[k]``)."""

BODY_NAMES: tuple[str, ...] = tuple(COCO_NAMES[i] for i in BODY)

SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10), (9, 11),
    (1, 6), (1, 7))
"""Limbs as 1-based COCO slot pairs (COCO's body edges, plus nose–shoulders in place of the face edges)."""

FLIP: tuple[int, ...] = tuple(BODY.index(COCO_NAMES.index(n.replace("left", "@").replace("right", "left")
                                                         .replace("@", "right"))) for n in BODY_NAMES)
"""Model channel of each channel's mirror image (left ↔ right), for horizontal-flip augmentation."""


def to_coco17(points: np.ndarray) -> list[float]:
    """``(13, 3)`` body points ``[x, y, v]`` → COCO's flat 51-value list (eye/ear slots zero)."""
    out = np.zeros((len(COCO_NAMES), 3))
    out[list(BODY)] = points
    return [round(float(v), 2) for v in out.reshape(-1)]


def from_coco17(flat: list[float] | np.ndarray) -> np.ndarray:
    """COCO's flat 51-value list → ``(13, 3)`` body points ``[x, y, v]``."""
    return np.asarray(flat, dtype=np.float64).reshape(len(COCO_NAMES), 3)[list(BODY)]


def decode_heatmaps(heatmaps: np.ndarray, stride: float) -> np.ndarray:
    """``(K, h, w)`` heatmaps → ``(K, 3)`` ``[x, y, score]`` in input pixels (pixel centres at +0.5).

    Arg-max per map, shifted by a quarter cell towards the higher neighbour (SimpleBaseline); score = the
    peak value (the model's target is a unit-height Gaussian, so about 0–1).
    """
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1)
    idx = flat.argmax(axis=1)
    ys, xs = np.divmod(idx, w)
    score = flat[np.arange(k), idx]
    fx, fy = xs.astype(np.float64), ys.astype(np.float64)
    for j in range(k):
        x, y, hm = xs[j], ys[j], heatmaps[j]
        if 0 < x < w - 1:
            fx[j] += 0.25 * np.sign(hm[y, x + 1] - hm[y, x - 1])
        if 0 < y < h - 1:
            fy[j] += 0.25 * np.sign(hm[y + 1, x] - hm[y - 1, x])
    return np.stack([(fx + 0.5) * stride, (fy + 0.5) * stride, score], axis=1)


def oks(pred: np.ndarray, gt: np.ndarray, area: float) -> float:
    """COCO's object keypoint similarity of ``(13, 2+)`` predictions to ``(13, 3)`` ground truth ``[x, y, v]``
    of one person whose box area is ``area`` px² (the mean over labelled points; NaN when none is)."""
    sig = np.array([SIGMAS[i] for i in BODY]) * 2
    labelled = gt[:, 2] > 0
    if not labelled.any():
        return float("nan")
    d2 = ((pred[:, :2] - gt[:, :2]) ** 2).sum(axis=1)
    e = d2 / (sig ** 2) / (max(area, 1e-9) + np.spacing(1)) / 2
    return float(np.exp(-e[labelled]).mean())


def _needed(help: str) -> Any:
    """A dataclass field without a default (a required manifest key), with a description."""
    return field(metadata={"help": help})


@dataclass(frozen=True)
class KeypointInfo:
    """A keypoint model's output convention (``models.NAME.keypoints``, docs/keypoints.md): heatmaps of the
    ``body`` slots of COCO's ``names``, decoded by arg-max with a quarter-cell shift (:mod:`runtime.keypoints`)."""

    names: list[str] = _needed("COCO keypoint slot names, in order (17)")
    body: list[int] = _needed("the slot of each heatmap channel (0-based), in channel order")
    skeleton: list[list[int]] = _needed("limbs as 1-based slot pairs (COCO's skeleton)")
    sigmas: list[float] = _needed("per-slot OKS sigmas (COCO's)")
    input_hw: list[int] = _needed("network input [height, width] px (the crop is letterboxed into it)")
    stride: int = bounded(4, "input px per heatmap cell", gt=0)
    decoding: Literal["argmax-quarter"] = "argmax-quarter"

    def validate(self, where: str) -> None:
        """Consistent lengths and indices."""
        if len(self.sigmas) != len(self.names):
            raise UserError(f"{key_path(where, 'sigmas')}: expected one sigma per name ({len(self.names)})")
        if not self.body or any(not 0 <= i < len(self.names) for i in self.body):
            raise UserError(f"{key_path(where, 'body')}: expected slot indices in [0, {len(self.names)})")
        if any(len(e) != 2 or not all(1 <= i <= len(self.names) for i in e) for e in self.skeleton):
            raise UserError(f"{key_path(where, 'skeleton')}: expected 1-based slot pairs")
        if len(self.input_hw) != 2 or min(self.input_hw) <= 0:
            raise UserError(f"{key_path(where, 'input_hw')}: expected [height, width] > 0, got {self.input_hw}")
