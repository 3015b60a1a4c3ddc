"""Result aggregator (pure): patch detections → frame coordinates → duplicates merged → one result per frame.

A server answers a patch with boxes in the pixels of the image it decoded (the JPEG, which may have been
downscaled to ``max_side``); :func:`to_frame` scales them by (patch size / JPEG size) and shifts them by the
patch's top-left corner, then clips them to the patch. :func:`merge` removes duplicates of one object seen
by overlapping patches, in two passes:

1. class-wise NMS at IoU ``iou`` (:func:`runtime.decode.batched_nms`, the one NMS implementation);
2. a box cut by an inner patch border (an edge of its patch within ``border_px`` that is not a frame edge)
   is dropped when a larger box of the same class from another patch covers at least ``contain`` of its
   area — the part of an object a patch saw through its border, next to the whole object another saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from runtime.decode import batched_nms
from runtime.detections import Detections
from runtime.geometry import boxes_to_rects, rects_to_boxes


@dataclass
class PatchDetections:
    """Detections of one patch: ``rect`` (x0, y0, x1, y1) frame px, ``src_size`` (w, h) px of the decoded
    image the server saw, ``detections`` in that image's pixels."""

    rect: tuple[int, int, int, int]
    src_size: tuple[int, int]
    detections: Detections


def to_frame(result: PatchDetections) -> np.ndarray:
    """``result.detections.boxes`` mapped to frame pixels (n, 4) xywh, clipped to the patch rectangle."""
    return frame_boxes([result])[0]


def frame_boxes(results: Sequence[PatchDetections]) -> tuple[np.ndarray, np.ndarray]:
    """Every result's boxes mapped to frame pixels at once: (n, 4) xywh float64, each scaled by (patch size /
    decoded size), shifted by its patch's corner and clipped to the patch; and (n,) the index in ``results`` of
    each box's patch. One vectorised pass (a frame has tens of patches; per-patch numpy calls cost more than
    the arithmetic)."""
    parts, scale, shift, high = [], [], [], []
    for res in results:
        x0, y0, x1, y1 = (float(v) for v in res.rect)
        w, h = res.src_size
        sx, sy = (x1 - x0) / max(w, 1), (y1 - y0) / max(h, 1)
        parts.append(np.asarray(res.detections.boxes).reshape(-1, 4))
        scale.append((sx, sy, sx, sy))
        shift.append((x0, y0, x0, y0))
        high.append((x1, y1, x1, y1))
    if not results:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    counts_arr = np.asarray([len(p) for p in parts], dtype=np.int64)
    if all(p.dtype == parts[0].dtype for p in parts):  # x + w in the boxes' own dtype, as one patch at a time would
        every = boxes_to_rects(np.concatenate(parts))
    else:
        every = np.concatenate([boxes_to_rects(p) for p in parts])
    every = every.astype(np.float64, copy=False)
    low = np.repeat(np.asarray(shift, dtype=np.float64), counts_arr, axis=0)
    mapped = every * np.repeat(np.asarray(scale, dtype=np.float64), counts_arr, axis=0) + low
    mapped = np.minimum(np.maximum(mapped, low), np.repeat(np.asarray(high, dtype=np.float64), counts_arr, axis=0))
    return rects_to_boxes(mapped), np.repeat(np.arange(len(results), dtype=np.int64), counts_arr)


def _cut_by_border(boxes: np.ndarray, rects: np.ndarray, frame_w: int, frame_h: int, border_px: float) -> np.ndarray:
    """True for boxes touching an edge of their patch that is not an edge of the frame."""
    x1, y1, x2, y2 = boxes_to_rects(boxes).T
    r = rects.astype(np.float64)
    left = (x1 - r[:, 0] <= border_px) & (r[:, 0] > 0)
    top = (y1 - r[:, 1] <= border_px) & (r[:, 1] > 0)
    right = (r[:, 2] - x2 <= border_px) & (r[:, 2] < frame_w)
    bottom = (r[:, 3] - y2 <= border_px) & (r[:, 3] < frame_h)
    return left | top | right | bottom


def merge(boxes: np.ndarray, labels: Sequence[str], scores: np.ndarray, patch_ids: np.ndarray,
          rects: np.ndarray, frame_w: int, frame_h: int, iou: float = 0.5, contain: float = 0.8,
          border_px: float = 2.0) -> np.ndarray:
    """Indices of the boxes kept (by descending score). ``patch_ids[i]`` is box i's patch, ``rects`` (P, 4)
    the patches' rectangles; boxes xywh frame px."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    names = sorted(set(labels))
    class_ids = np.array([names.index(lab) for lab in labels], dtype=np.int64)
    patch_ids = np.asarray(patch_ids, dtype=np.int64)
    cut_all = _cut_by_border(boxes, np.asarray(rects).reshape(-1, 4)[patch_ids], frame_w, frame_h, border_px)
    # a whole view of an object outranks a view cut by a patch border, whatever their scores (scores are in 0-1)
    keep = batched_nms(boxes, scores - 2.0 * cut_all, class_ids, iou)
    cut = cut_all[keep]
    if not cut.any():
        return keep
    kept = boxes[keep]
    drop = _covered_cut(boxes_to_rects(kept), kept[:, 2] * kept[:, 3], patch_ids[keep], class_ids[keep], cut,
                        float(contain))
    return keep[~drop]


@njit(cache=True)
def _covered_cut(xyxy: np.ndarray, area: np.ndarray, patch: np.ndarray, cls: np.ndarray, cut: np.ndarray,
                 contain: float) -> np.ndarray:
    """(n,) which ranked boxes the border rule drops: a cut box (``cut``) that a larger box of its class
    (``cls``) from another patch (``patch``), not dropped itself, covers >= ``contain`` of (``xyxy`` (n, 4) px,
    ``area`` (n,) px²). In rank order: a box dropped here no longer drops a later one. A numba loop (40 boxes a
    frame: 0.1 ms of numpy calls per cut box before); tests/runtime/cluster/test_aggregate.py checks it against
    a plain-Python reference."""
    n = len(area)
    drop = np.zeros(n, dtype=np.bool_)
    for a in range(n):
        if not cut[a]:
            continue
        need = contain * max(area[a], 1e-12)
        for b in range(n):
            if drop[b] or cls[b] != cls[a] or patch[b] == patch[a] or area[b] <= area[a]:
                continue
            iw = min(xyxy[a, 2], xyxy[b, 2]) - max(xyxy[a, 0], xyxy[b, 0])
            ih = min(xyxy[a, 3], xyxy[b, 3]) - max(xyxy[a, 1], xyxy[b, 1])
            if iw > 0 and ih > 0 and iw * ih >= need:
                drop[a] = True
                break
    return drop


def aggregate(frame_id: int, frame_w: int, frame_h: int, results: Sequence[PatchDetections], iou: float = 0.5,
              contain: float = 0.8, border_px: float = 2.0, min_score: float = 0.0) -> Detections:
    """Frame ``frame_id``'s detections from its patch results (any order); boxes in frame pixels. Boxes
    scoring below ``min_score`` are dropped first."""
    rects = [res.rect for res in results]
    with_boxes = [p for p, res in enumerate(results) if len(res.detections.labels)]
    if not with_boxes:
        return Detections.empty(frame_id)
    found = [results[p] for p in with_boxes]
    boxes, pid = frame_boxes(found)
    pid = np.asarray(with_boxes, dtype=np.int64)[pid]  # index in ``results``
    labels = [lab for res in found for lab in res.detections.labels]
    sc = np.concatenate([res.detections.scores for res in found])
    ok = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (sc >= min_score)
    idx = np.flatnonzero(ok)
    keep = idx[merge(boxes[idx], [labels[i] for i in idx], sc[idx], pid[idx], np.asarray(rects), frame_w, frame_h,
                     iou, contain, border_px)]
    return Detections(boxes[keep], [labels[i] for i in keep], sc[keep], frame_id)
