"""Track ↔ detection association: class-gated IoU and a deterministic greedy-by-IoU matcher (numpy).

Why greedy and not a Hungarian: after the IoU gate the cost matrix of a frame is very sparse (a detection
overlaps one, rarely two, predicted boxes) and there the greedy matching *is* the optimal one; where two
tracks compete for one detection, taking the highest IoU first is the same rule the evaluator uses to
match predictions to ground truth (CONVENTIONS.md). It needs no O(n³) Python loop and no compiled kernel,
costs O(P log P) for the P gated pairs, and is deterministic: pairs are taken by descending IoU, ties by
ascending track row, then detection column.

Classes: a detection is matched only to tracks of its own label (IoU set to 0 across classes), so a track
keeps the label it was started with and a rider and the motorcycle under them stay two tracks. A label
flip of the detector starts a new tentative track; the old one coasts and expires.
"""

from __future__ import annotations

import numpy as np

from runtime.geometry import iou_matrix


def class_gated_iou(track_boxes: np.ndarray, track_labels: np.ndarray, det_boxes: np.ndarray,
                    det_labels: np.ndarray) -> np.ndarray:
    """IoU (n_tracks, n_dets) of ``[x, y, w, h]`` px boxes, 0 where the class indices differ."""
    iou = iou_matrix(track_boxes, det_boxes)
    if iou.size:
        iou[np.asarray(track_labels)[:, None] != np.asarray(det_labels)[None, :]] = 0.0
    return iou


def size_gated(iou: np.ndarray, track_boxes: np.ndarray, det_boxes: np.ndarray, max_ratio: float) -> np.ndarray:
    """``iou`` (n_tracks, n_dets) with 0 where a detection's area is more than ``max_ratio`` times, or less than
    1 / ``max_ratio`` of, the track's (``[x, y, w, h]`` px boxes): a box on part of an object, or around two,
    does not take the object's track. ``max_ratio`` 0 gates nothing."""
    if max_ratio <= 0.0 or iou.size == 0:
        return iou
    track_area = np.maximum(track_boxes[:, 2] * track_boxes[:, 3], 1e-9)
    ratio = (det_boxes[:, 2] * det_boxes[:, 3])[None, :] / track_area[:, None]
    return np.where((ratio * max_ratio >= 1.0) & (ratio <= max_ratio), iou, 0.0)


def greedy_match(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Match rows (tracks) to columns (detections) of ``iou`` (n, m), one-to-one, each pair with IoU >= ``min_iou``.

    Returns ``(rows, cols)`` int arrays of the matched pairs, in the order they were taken (descending IoU,
    ties by row then column). Deterministic; see the module docstring for why greedy.
    """
    iou = np.asarray(iou, dtype=np.float64)
    empty = np.zeros(0, dtype=np.int64)
    if iou.size == 0:
        return empty, empty.copy()
    rows, cols = np.nonzero(iou >= min_iou)
    if len(rows) == 0:
        return empty, empty.copy()
    order = np.lexsort((cols, rows, -iou[rows, cols]))
    used_rows = np.zeros(iou.shape[0], dtype=bool)
    used_cols = np.zeros(iou.shape[1], dtype=bool)
    out_rows: list[int] = []
    out_cols: list[int] = []
    for k in order.tolist():
        r, c = int(rows[k]), int(cols[k])
        if used_rows[r] or used_cols[c]:
            continue
        used_rows[r] = used_cols[c] = True
        out_rows.append(r)
        out_cols.append(c)
        if len(out_rows) == min(iou.shape):
            break
    return np.array(out_rows, dtype=np.int64), np.array(out_cols, dtype=np.int64)


def unmatched(n: int, matched: np.ndarray) -> np.ndarray:
    """Indices in ``range(n)`` that are not in ``matched``, ascending."""
    keep = np.ones(n, dtype=bool)
    keep[np.asarray(matched, dtype=np.int64)] = False
    return np.flatnonzero(keep)
