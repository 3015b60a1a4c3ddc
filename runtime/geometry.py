"""Box and patch geometry shared by the dataset builder, the patch proposer, the runtime and decoding.

Boxes are ``[x, y, w, h]`` in pixels of the original frame, x/y = top-left (CONVENTIONS.md). Patches are
``[x0, y0, x1, y1]`` integer pixel rectangles (half-open) in the frame. :func:`boxes_to_rects` and
:func:`rects_to_boxes` convert between the two layouts — the one place that does.

Patch geometry (CONVENTIONS.md): with r = object box area / patch area, a patch is the object box scaled
about its centre by 1/sqrt(r) in both dimensions (aspect kept), shifted (not cut) to stay inside the frame
where it can, clipped where it cannot. Model input is square S×S; a patch is letterboxed into it (aspect
kept, scaled, padded with a constant) and detections are mapped back through the same transform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _as_float(boxes: np.ndarray) -> np.ndarray:
    """``boxes`` as an (n, 4) array of a floating dtype: float input keeps its dtype, other input is float64."""
    boxes = np.asarray(boxes)
    if boxes.dtype.kind != "f":  # (dtype.kind, not np.issubdtype: this runs tens of times per frame)
        boxes = boxes.astype(np.float64)
    return boxes.reshape(-1, 4)


def boxes_to_rects(boxes: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` boxes (n, 4) px → ``[x0, y0, x1, y1]`` rectangles (n, 4) px (x1 = x + w, y1 = y + h).

    Float input keeps its dtype (float32 stays float32), any other input becomes float64."""
    boxes = _as_float(boxes)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def rects_to_boxes(rects: np.ndarray) -> np.ndarray:
    """``[x0, y0, x1, y1]`` rectangles (n, 4) px → ``[x, y, w, h]`` boxes (n, 4) px (w = x1 − x0, h = y1 − y0).

    Float input keeps its dtype (float32 stays float32), any other input (integer patch rects) becomes float64."""
    rects = _as_float(rects)
    return np.concatenate([rects[:, :2], rects[:, 2:] - rects[:, :2]], axis=1)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area (px²) between every box of ``a`` (n, 4) and ``b`` (m, 4), both ``[x, y, w, h]``;
    returns (n, m)."""
    ra = boxes_to_rects(np.asarray(a, dtype=np.float64).reshape(-1, 4))
    rb = boxes_to_rects(np.asarray(b, dtype=np.float64).reshape(-1, 4))
    iw = np.clip(np.minimum(ra[:, None, 2], rb[None, :, 2]) - np.maximum(ra[:, None, 0], rb[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ra[:, None, 3], rb[None, :, 3]) - np.maximum(ra[:, None, 1], rb[None, :, 1]), 0, None)
    return iw * ih


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a`` (n, 4) and ``b`` (m, 4), both ``[x, y, w, h]``; returns (n, m)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def covered_by_larger(boxes: np.ndarray, classes: np.ndarray, share: float) -> np.ndarray:
    """(n,) true where another box of the same class in ``classes`` (n,) and of a larger area covers at least
    ``share`` of the box's area; ``boxes`` (n, 4) ``[x, y, w, h]`` px. ``share`` 0 marks nothing (off)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    if share <= 0.0 or len(boxes) < 2:
        return np.zeros(len(boxes), dtype=bool)
    inter = intersection_matrix(boxes, boxes)
    area = boxes[:, 2] * boxes[:, 3]
    covers = (inter > 0) & (inter >= share * area[:, None])
    return (covers & (area[None, :] > area[:, None]) & (classes[:, None] == classes[None, :])).any(axis=1)


def patch_around_box(box: np.ndarray | list[float], r: float, frame_w: int, frame_h: int,
                     min_side: int = 1) -> tuple[int, int, int, int]:
    """The patch ``(x0, y0, x1, y1)`` in which object ``box`` (xywh) fills area ratio ``r`` (0 < r <= 1): one
    box through :func:`patches_around_boxes`."""
    x0, y0, x1, y1 = patches_around_boxes(np.asarray(box, dtype=np.float64).reshape(1, 4), r, frame_w, frame_h,
                                          min_side)[0]
    return int(x0), int(y0), int(x1), int(y1)


def patches_around_boxes(boxes: np.ndarray, r: float, frame_w: int, frame_h: int, min_side: int = 1) -> np.ndarray:
    """The patches (n, 4) int64 ``[x0, y0, x1, y1]`` px in which each object of ``boxes`` (n, 4) xywh px fills area
    ratio ``r`` (0 < r <= 1).

    Each box is scaled about its centre by 1/sqrt(r), its size and corner rounded to pixels (half to even),
    shifted to stay inside the ``frame_w`` × ``frame_h`` frame where it fits, clipped where it does not. Sides
    are at least ``min_side`` pixels (and at least 1 after clipping).
    """
    if not 0.0 < r <= 1.0:
        raise ValueError(f"area ratio r must be in (0, 1], got {r}")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scale = 1.0 / math.sqrt(r)
    pw = np.maximum(b[:, 2] * scale, float(min_side))
    ph = np.maximum(b[:, 3] * scale, float(min_side))
    x0 = b[:, 0] + b[:, 2] / 2.0 - pw / 2.0
    y0 = b[:, 1] + b[:, 3] / 2.0 - ph / 2.0
    pw_i, ph_i = np.rint(pw).astype(np.int64), np.rint(ph).astype(np.int64)
    x0_i = np.minimum(np.maximum(np.rint(x0).astype(np.int64), 0), np.maximum(frame_w - pw_i, 0))
    y0_i = np.minimum(np.maximum(np.rint(y0).astype(np.int64), 0), np.maximum(frame_h - ph_i, 0))
    x1_i, y1_i = np.minimum(x0_i + pw_i, frame_w), np.minimum(y0_i + ph_i, frame_h)
    return np.stack([x0_i, y0_i, np.maximum(x1_i, x0_i + 1), np.maximum(y1_i, y0_i + 1)], axis=1)


def centres_per_rect(boxes: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """(r,) int64: how many of ``boxes`` (n, 4) ``[x, y, w, h]`` px have their centre in each of ``rects`` (r, 4)
    ``[x0, y0, x1, y1]`` px (half-open: a centre on a shared edge counts once, for the rect right / below it)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    cx, cy = b[:, 0] + b[:, 2] / 2.0, b[:, 1] + b[:, 3] / 2.0
    inside = ((cx[None] >= r[:, 0:1]) & (cx[None] < r[:, 2:3]) & (cy[None] >= r[:, 1:2]) & (cy[None] < r[:, 3:4]))
    return inside.sum(axis=1).astype(np.int64)


def longer_sides(rects: np.ndarray) -> np.ndarray:
    """(n,) the longer side of each ``[x0, y0, x1, y1]`` rect (n, 4), px."""
    rects = np.asarray(rects).reshape(-1, 4)
    return np.maximum(rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1])


def clip_boxes(boxes: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    """Clip ``[x, y, w, h]`` boxes (n, 4) to the frame; boxes fully outside get zero size."""
    rects = boxes_to_rects(np.asarray(boxes, dtype=np.float64))
    return rects_to_boxes(np.clip(rects, 0, [frame_w, frame_h, frame_w, frame_h]))


@dataclass(frozen=True)
class Letterbox:
    """The transform that fits a ``src_w`` × ``src_h`` image into a square ``size`` × ``size`` input.

    ``scale`` multiplies source pixels; ``pad_x``/``pad_y`` are the left/top padding in input pixels.
    """

    src_w: int
    src_h: int
    size: int
    scale: float
    pad_x: int
    pad_y: int

    @classmethod
    def fit(cls, src_w: int, src_h: int, size: int) -> Letterbox:
        """The letterbox of a ``src_w`` × ``src_h`` image into ``size`` × ``size`` (centred)."""
        scale = min(size / src_w, size / src_h)
        new_w, new_h = max(1, int(round(src_w * scale))), max(1, int(round(src_h * scale)))
        return cls(src_w, src_h, size, scale, (size - new_w) // 2, (size - new_h) // 2)

    @property
    def content_size(self) -> tuple[int, int]:
        """Width and height of the scaled image inside the input, in input pixels."""
        return max(1, int(round(self.src_w * self.scale))), max(1, int(round(self.src_h * self.scale)))

    def apply(self, image: np.ndarray, pad_value: int = 114) -> np.ndarray:
        """Resize ``image`` (H, W[, C]) into the square input, padding with ``pad_value``."""
        import cv2

        new_w, new_h = self.content_size
        interp = cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
        shape = (self.size, self.size) + image.shape[2:]
        out = np.full(shape, pad_value, dtype=image.dtype)
        out[self.pad_y:self.pad_y + new_h, self.pad_x:self.pad_x + new_w] = resized
        return out

    def boxes_to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``[x, y, w, h]`` boxes (n, 4) from input pixels back to source-image pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
        boxes[:, 0] = (boxes[:, 0] - self.pad_x) / self.scale
        boxes[:, 1] = (boxes[:, 1] - self.pad_y) / self.scale
        boxes[:, 2:] /= self.scale
        return boxes

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``[x, y, w, h]`` boxes (n, 4) from source-image pixels into input pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
        boxes *= self.scale
        boxes[:, 0] += self.pad_x
        boxes[:, 1] += self.pad_y
        return boxes
