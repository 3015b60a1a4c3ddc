"""Decoding raw detector outputs into boxes, and class-wise NMS — the one implementation (factory and edge).

Raw output layout (what ``factory.models`` detectors emit, one array per feature level, batch of one)::

    (1, C + 4, H, W)  or  (C + 4, H, W)
    channels [0, C)      per-class scores in [0, 1] (already sigmoid-ed by the model)
    channels [C, C + 4)  distances left, top, right, bottom from the cell centre, in units of the level's stride

The cell at row i, column j of a level with stride s has its centre at ((j + 0.5)·s, (i + 0.5)·s) input pixels.
Every number that tunes the decoding — strides, score threshold, top-k, NMS IoU, the cap on detections —
is an argument (from the bundle manifest at the edge); the class count is read from the arrays, and the
caller's class names (the bundle's, in class-index order) label the boxes. Detections come out as a
:class:`runtime.detections.Detections` with boxes ``[x, y, w, h]`` in model-input pixels: map them back to
the frame with :meth:`runtime.geometry.Letterbox.boxes_to_source`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from runtime.detections import Detections
from runtime.errors import UserError
from runtime.geometry import boxes_to_rects, rects_to_boxes

#: up to this many boxes :func:`nms_reference` computes the whole IoU matrix at once (one numpy pass, then a cheap
#: greedy loop); above it, one row per kept box (memory stays O(n))
NMS_MATRIX_MAX = 256


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression of ``[x, y, w, h]`` boxes; indices kept, by descending score (ties in index
    order).

    A box is suppressed when its IoU with a higher-scoring kept box is greater than ``iou_threshold``. A numba loop
    (40 boxes: 0.04 ms of numpy calls before); boxes with a non-finite value go through :func:`nms_reference`, the
    plain-numpy statement of the same rule that the tests hold it to.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.isfinite(boxes).all():
        return nms_reference(boxes, scores, iou_threshold)
    x1, y1, x2, y2 = np.ascontiguousarray(boxes_to_rects(boxes).T)
    area = np.maximum(boxes[:, 2], 0.0) * np.maximum(boxes[:, 3], 0.0)
    return _greedy_nms(x1, y1, x2, y2, area, np.argsort(-scores, kind="stable"), float(iou_threshold))


@njit(cache=True)
def _greedy_nms(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, area: np.ndarray,
                order: np.ndarray, iou_threshold: float) -> np.ndarray:
    """The kept indices (int64) of :func:`nms`: boxes as corner coordinates and areas (px), ``order`` the
    ranking; each kept box suppresses the later ranked ones it overlaps."""
    n = len(order)
    suppressed = np.zeros(n, dtype=np.bool_)
    keep = np.empty(n, dtype=np.int64)
    kept = 0
    for p in range(n):
        i = order[p]
        if suppressed[i]:
            continue
        keep[kept] = i
        kept += 1
        for q in range(p + 1, n):
            j = order[q]
            if suppressed[j]:
                continue
            iw = max(min(x2[i], x2[j]) - max(x1[i], x1[j]), 0.0)
            ih = max(min(y2[i], y2[j]) - max(y1[i], y1[j]), 0.0)
            inter = iw * ih
            union = area[i] + area[j] - inter
            iou = inter / max(union, 1e-12) if union > 0 else 0.0
            if not iou <= iou_threshold:
                suppressed[j] = True
    return keep[:kept]


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Plain-numpy reference of :func:`nms` (the whole IoU matrix up to :data:`NMS_MATRIX_MAX` boxes, one row
    per kept box above)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes_to_rects(boxes).T
    area = np.maximum(boxes[:, 2], 0.0) * np.maximum(boxes[:, 3], 0.0)
    keep: list[int] = []
    if len(boxes) <= NMS_MATRIX_MAX:
        iw = np.maximum(np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]), 0.0)
        ih = np.maximum(np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]), 0.0)
        inter = iw * ih
        union = area[:, None] + area[None, :] - inter
        overlaps = ~(np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0) <= iou_threshold)
        suppressed = np.zeros(len(boxes), dtype=bool)
        for i in order.tolist():
            if not suppressed[i]:
                keep.append(i)
                suppressed |= overlaps[i]
        return np.array(keep, dtype=np.int64)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0.0)
        ih = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0.0)
        inter = iw * ih
        union = area[i] + area[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Class-wise NMS: boxes of different classes never suppress each other; kept indices by descending score."""
    class_ids = np.asarray(class_ids).reshape(-1)
    keep = [np.flatnonzero(class_ids == c)[nms(boxes[class_ids == c], scores[class_ids == c], iou_threshold)]
            for c in np.unique(class_ids)]
    if not keep:
        return np.zeros(0, dtype=np.int64)
    kept = np.concatenate(keep)
    return kept[np.argsort(-np.asarray(scores)[kept], kind="stable")]


def _level(output: np.ndarray, index: int) -> np.ndarray:
    arr = np.asarray(output)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise UserError(f"decode: output {index} holds a batch of {arr.shape[0]}; decode one image at a time")
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] < 5:
        raise UserError(f"decode: output {index} has shape {np.shape(output)}, expected (1, C+4, H, W) with C >= 1")
    return arr


def decode(outputs: Sequence[np.ndarray], strides: Sequence[int], classes: Sequence[str],
           score_threshold: float = 0.3, top_k: int = 100, nms_iou: float = 0.6,
           max_detections: int = 100) -> Detections:
    """Detections of one image from the raw outputs of its feature levels (see the module docstring), boxes
    in model-input pixels, sorted by descending score, labelled ``classes[i]`` for class index i.

    Per level, the ``top_k`` (cell, class) pairs scoring at least ``score_threshold`` are kept; all levels
    are pooled, class-wise NMS at IoU ``nms_iou`` is applied, and at most ``max_detections`` are returned.
    """
    if len(outputs) != len(strides):
        raise UserError(f"decode: {len(outputs)} outputs but {len(strides)} strides")
    all_boxes, all_cls, all_scores = [], [], []
    num_classes = None
    for index, (output, stride) in enumerate(zip(outputs, strides, strict=False)):
        arr = _level(output, index)
        c = arr.shape[0] - 4
        if num_classes is None:
            num_classes = c
        elif c != num_classes:
            raise UserError(f"decode: output {index} has {c} classes, output 0 has {num_classes}")
        h, w = arr.shape[1:]
        scores = arr[:c].reshape(-1)  # class-major: index = cls * H * W + cell
        cand = np.flatnonzero(scores >= score_threshold)
        if cand.size > top_k:
            cand = cand[np.argpartition(-scores[cand], top_k - 1)[:top_k]]
        if cand.size == 0:
            continue
        cls, cell = np.divmod(cand, h * w)
        row, col = np.divmod(cell, w)
        dist = arr[c:c + 4].reshape(4, -1)[:, cell].astype(np.float64) * float(stride)
        cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
        x1, y1 = cx - dist[0], cy - dist[1]
        x2, y2 = cx + dist[2], cy + dist[3]
        all_boxes.append(rects_to_boxes(np.stack([x1, y1, x2, y2], axis=1)))
        all_cls.append(cls)
        all_scores.append(scores[cand].astype(np.float64))
    if not all_boxes:
        return Detections.empty()
    boxes, cls, scores = np.concatenate(all_boxes), np.concatenate(all_cls), np.concatenate(all_scores)
    keep = batched_nms(boxes, scores, cls, nms_iou)[:max_detections]
    return Detections(boxes[keep], [classes[int(c)] for c in cls[keep]], scores[keep])
