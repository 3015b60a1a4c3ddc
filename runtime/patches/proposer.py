"""Patch Proposer (paper §III-C4): HighConf RoIs from the last detections, LowConf RoIs from the map.

Rectangles are ``[x0, y0, x1, y1]`` integer pixels of the frame (half-open), as
:func:`runtime.geometry.patch_around_box` returns them; boxes are ``[x, y, w, h]`` pixels.

- HighConf: each last detection (clipped to the frame; empty or non-finite ones dropped) expanded by the
  CONVENTIONS geometry so that the object fills ``r_high`` of the patch. Value = detection score.
- LowConf: cells whose objectness probability exceeds ``threshold``, outside the HighConf patches (a cell
  whose area is at least half covered by a HighConf patch is masked), grouped into 8-connected components
  (OpenCV); components of at least ``min_cells`` cells give their bounding box in pixels, expanded so that
  it fills ``r_low`` of the patch. Value = the component's mean probability.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.geometry import clip_boxes, patches_around_boxes, rects_to_boxes
from runtime.patches.features import box_occupancy


def sanitize_boxes(boxes: np.ndarray | None, frame_w: int, frame_h: int,
                   scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4) xywh clipped to the frame, with their scores (1.0 if none); empty/invalid ones dropped."""
    if boxes is None:
        return np.zeros((0, 4)), np.zeros(0)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
    boxes, scores = boxes[finite], scores[finite]
    clipped = clip_boxes(boxes, frame_w, frame_h)
    keep = (clipped[:, 2] >= 1.0) & (clipped[:, 3] >= 1.0)
    return clipped[keep], scores[keep]


def high_conf_rois(boxes: np.ndarray, scores: np.ndarray, r: float, frame_w: int, frame_h: int,
                   min_side: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rects (n, 4) int64, values (n,))``: a patch per sanitized box in which the box fills ``r``."""
    rects = patches_around_boxes(boxes, r, frame_w, frame_h, min_side=min_side)
    return rects, np.asarray(scores, dtype=np.float64).reshape(-1)


def low_conf_rois(prob: np.ndarray, high_rects: np.ndarray, threshold: float, min_cells: int, r: float,
                  frame_w: int, frame_h: int, min_side: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rects (m, 4) int64, values (m,))`` from the connected components of ``prob > threshold``."""
    gh, gw = prob.shape
    mask = prob > threshold
    if len(high_rects):
        covered = box_occupancy(rects_to_boxes(high_rects), float(frame_w), float(frame_h), gh, gw)
        mask &= covered < 0.5
    if not mask.any():
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    cw, ch = frame_w / gw, frame_h / gh
    sums = np.bincount(labels.ravel(), weights=prob.ravel().astype(np.float64), minlength=n)
    big = 1 + np.flatnonzero(stats[1:, 4] >= min_cells)  # component labels (0 is the background)
    x, y, w, h, area = (stats[big, i] for i in range(5))
    boxes = np.stack([x * cw, y * ch, w * cw, h * ch], axis=1)
    return patches_around_boxes(boxes, r, frame_w, frame_h, min_side=min_side), sums[big] / area


class TrackMemory:
    """Last detections kept alive for ``frames`` detection updates after they were last seen, so that one
    missed detection does not drop an object's HighConf patch (frame continuity, paper §III-C4).

    ``update(boxes, scores)`` takes one detection update (boxes xywh px, scores) and returns the boxes to
    seed HighConf patches: the new ones, plus remembered ones that no new box overlaps (IoU > ``iou``),
    at most ``frames`` updates old; a remembered box keeps its last score.
    """

    def __init__(self, frames: int, iou: float = 0.3) -> None:
        self.frames, self.iou = int(frames), float(iou)
        self.reset()

    def reset(self) -> None:
        """Forget every remembered box."""
        self.boxes, self.scores, self.ages = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fold in one update; returns ``(boxes (n, 4), scores (n,))`` to seed from."""
        from runtime.geometry import iou_matrix

        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        old = self.ages < self.frames
        ob, osc, oa = self.boxes[old], self.scores[old], self.ages[old] + 1
        if len(ob) and len(boxes):
            keep = iou_matrix(ob, boxes).max(axis=1) <= self.iou
            ob, osc, oa = ob[keep], osc[keep], oa[keep]
        self.boxes = np.concatenate([boxes, ob])
        self.scores = np.concatenate([scores, osc])
        self.ages = np.concatenate([np.zeros(len(boxes), dtype=np.int64), oa])
        return self.boxes, self.scores
