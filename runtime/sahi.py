"""SAHI (Slicing Aided Hyper Inference, Akyon et al., ICIP 2022) re-implemented: its slice grid and its greedy
non-maximum merging (GREEDYNMM), in plain numpy — the two procedures behind ``--mode sahi``.

Why a re-implementation and not the ``sahi`` package: sahi 0.12.x requires ``opencv-python``, which would install
a second ``cv2`` beside the runtime's ``opencv-python-headless`` (both write the same ``cv2`` package; whichever
comes last wins), and its merging runs on torch tensors, which the runtime never loads. What the mode needs is
two short procedures, written here after SAHI's published source (``sahi/slicing.py: get_slice_bboxes``;
``sahi/postprocess/combine.py: greedy_nmm, batched_greedy_nmm, GreedyNMMPostprocess``; ``sahi/postprocess/utils.py:
has_match, merge_object_prediction_pair``) with SAHI's defaults:

- **Slices** (:func:`slice_rects`): ``size_w × size_h`` windows from the top-left corner, row by row, each
  ``int(overlap · size)`` px over its predecessor (overlap ratio 0.2 both ways by default); a window that would
  cross the right or bottom edge is shifted back to end at that edge (and starts at 0 where the frame is smaller).
  SAHI adds the standard whole-frame prediction when there is more than one slice (``perform_standard_pred``).
- **Merging** (:func:`greedy_nmm`): class-wise GREEDYNMM with match metric IOS — intersection over the smaller
  box's area — at 0.5 (``postprocess_type="GREEDYNMM"``, ``postprocess_match_metric="IOS"``,
  ``postprocess_match_threshold=0.5``, ``postprocess_class_agnostic=False``). Per class, while boxes are left: the
  highest-scoring one is kept, and every other whose IOS with it is >= the threshold leaves the pool as its merge
  candidate. The kept box then absorbs its candidates in descending score, each where the IOS of the box merged
  so far with the candidate exceeds the threshold (SAHI's ``has_match``): the merged box is the union of the two,
  its score the larger. Ties in score keep the input order (SAHI's torch argsort leaves them unspecified).

Boxes are ``[x, y, w, h]`` frame px (CONVENTIONS); slices are ``[x0, y0, x1, y1]`` int px, half-open.
"""

from __future__ import annotations

import numpy as np

from runtime.detections import Detections
from runtime.geometry import boxes_to_rects, rects_to_boxes

#: SAHI's default overlap ratio of neighbouring slices (both ways).
OVERLAP = 0.2
#: SAHI's default match threshold of its postprocess (IOS with GREEDYNMM in the sahi mode).
MATCH_THRESHOLD = 0.5


def _spans(extent: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """SAHI's windows along one axis: ``(start, end)`` px of ``size``-px windows stepping ``size - overlap``."""
    spans: list[tuple[int, int]] = []
    start = end = 0
    while end < extent:
        end = start + size
        spans.append((max(0, extent - size), extent) if end > extent else (start, end))
        start = end - overlap
    return spans


def slice_rects(frame_w: int, frame_h: int, size_w: int, size_h: int, overlap_w: float = OVERLAP,
                overlap_h: float = OVERLAP) -> np.ndarray:
    """SAHI's slice grid of a ``frame_w × frame_h`` px frame: (n, 4) int64 ``[x0, y0, x1, y1]``, row by row.
    ``size_w × size_h``: a slice, px; ``overlap_w``, ``overlap_h``: overlap ratios in [0, 1)."""
    if min(frame_w, frame_h, size_w, size_h) < 1:
        raise ValueError(f"slice_rects: frame {frame_w}x{frame_h} and slice {size_w}x{size_h} must be >= 1 px")
    if not (0.0 <= overlap_w < 1.0 and 0.0 <= overlap_h < 1.0):
        raise ValueError(f"slice_rects: overlap ratios must be in [0, 1), got {overlap_w}, {overlap_h}")
    cols = _spans(frame_w, size_w, int(overlap_w * size_w))
    rows = _spans(frame_h, size_h, int(overlap_h * size_h))
    return np.array([[x0, y0, x1, y1] for y0, y1 in rows for x0, x1 in cols], dtype=np.int64).reshape(-1, 4)


def _ios(rect: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """Intersection over the smaller area of ``rect`` (4,) with each of ``rects`` (n, 4), both xyxy px."""
    iw = np.clip(np.minimum(rect[2], rects[:, 2]) - np.maximum(rect[0], rects[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(rect[3], rects[:, 3]) - np.maximum(rect[1], rects[:, 1]), 0.0, None)
    area = (rect[2] - rect[0]) * (rect[3] - rect[1])
    areas = (rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1])
    return iw * ih / np.minimum(area, areas)


def greedy_nmm(dets: Detections, threshold: float = MATCH_THRESHOLD) -> Detections:
    """SAHI's class-wise GREEDYNMM with IOS at ``threshold`` (see the module docstring) of ``dets`` (boxes
    ``[x, y, w, h]`` px; boxes without area are dropped first); the merged detections, by descending score, same
    frame."""
    ok = (dets.boxes[:, 2] > 0) & (dets.boxes[:, 3] > 0)
    dets = dets.select(ok)
    rects = boxes_to_rects(dets.boxes).astype(np.float64)
    labels = np.array(dets.labels, dtype=object)
    out_rects, out_labels, out_scores = [], [], []
    for name in sorted(set(dets.labels)):
        idx = np.flatnonzero(labels == name)
        pool = idx[np.argsort(-dets.scores[idx], kind="stable")]
        while len(pool):
            keep, rest = pool[0], pool[1:]
            matched = _ios(rects[keep], rects[rest]) >= threshold
            box, score = rects[keep].copy(), float(dets.scores[keep])
            for m in rest[matched]:  # descending score
                if _ios(box, rects[m][None])[0] > threshold:
                    box = np.concatenate([np.minimum(box[:2], rects[m, :2]), np.maximum(box[2:], rects[m, 2:])])
                    score = max(score, float(dets.scores[m]))
            out_rects.append(box)
            out_labels.append(name)
            out_scores.append(score)
            pool = rest[~matched]
    order = np.argsort(-np.array(out_scores), kind="stable")
    boxes = rects_to_boxes(np.array(out_rects, dtype=np.float64).reshape(-1, 4))
    return Detections(boxes[order], [out_labels[i] for i in order], np.array(out_scores)[order], dets.frame)
