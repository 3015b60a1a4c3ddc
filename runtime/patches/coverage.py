"""Coverage of ground-truth objects by a frame's patches (one definition that every benchmark and report uses).

A ground-truth object (not ``iscrowd``) is **covered** when one patch contains ≥ 90 % of its box (box clipped
to the frame; boxes with no area inside the frame are not counted), and **well covered** when, in addition,
it fills ≥ 20 % of that same patch's area (clipped box area / patch area). Patches are rects
``[x0, y0, x1, y1]`` pixels, boxes ``[x, y, w, h]`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.geometry import clip_boxes

CONTAIN = 0.9  # fraction of the box that must lie inside one patch
FILL = 0.2  # fraction of that patch's area the box must fill to be well covered


def coverage_flags(boxes: np.ndarray, rects: np.ndarray, frame_w: int, frame_h: int,
                   contain: float = CONTAIN, fill: float = FILL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counted, covered, well)`` boolean arrays (n,) for boxes (n, 4) xywh against rects (k, 4)."""
    b = clip_boxes(boxes, frame_w, frame_h)
    area = b[:, 2] * b[:, 3]
    counted = area > 0
    r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0 or len(r) == 0:
        return counted, np.zeros(len(b), bool), np.zeros(len(b), bool)
    iw = np.clip(np.minimum(b[:, None, 0] + b[:, None, 2], r[None, :, 2]) - np.maximum(b[:, None, 0], r[None, :, 0]),
                 0, None)
    ih = np.clip(np.minimum(b[:, None, 1] + b[:, None, 3], r[None, :, 3]) - np.maximum(b[:, None, 1], r[None, :, 1]),
                 0, None)
    safe = np.maximum(area, 1e-12)[:, None]
    inside = (iw * ih) / safe >= contain - 1e-9
    patch_area = np.maximum((r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1]), 1e-12)
    fills = area[:, None] / patch_area[None, :] >= fill
    covered = inside.any(axis=1) & counted
    well = (inside & fills).any(axis=1) & counted
    return counted, covered, well


@dataclass
class CoverageCount:
    """Pooled object counts: ``objects``, ``covered``, ``well``; ratios via the properties."""

    objects: int = 0
    covered: int = 0
    well: int = 0

    def add(self, counted: np.ndarray, covered: np.ndarray, well: np.ndarray) -> None:
        """Pool the flags of one frame (only ``counted`` objects count)."""
        self.objects += int(counted.sum())
        self.covered += int((covered & counted).sum())
        self.well += int((well & counted).sum())

    @property
    def coverage(self) -> float:
        """Covered / objects (0 when there are none)."""
        return self.covered / self.objects if self.objects else 0.0

    @property
    def well_coverage(self) -> float:
        """Well covered / objects (0 when there are none)."""
        return self.well / self.objects if self.objects else 0.0
