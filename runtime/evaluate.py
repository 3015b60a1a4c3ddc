"""Precision, recall and F1 of detections against ground truth, exactly as CONVENTIONS.md defines them.

Per class, predictions are taken in descending score; each is matched to the unmatched ground-truth box of
the same class with the highest IoU, if that IoU >= the threshold (TP), else it is an FP — unless it
overlaps an ``iscrowd`` box of its class with IoU >= the threshold, in which case it is ignored. Unmatched
non-crowd ground truth boxes are FN. Overall figures are micro-averaged: TP/FP/FN pooled over frames and
classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.coco import FrameAnnotations, VideoAnnotations
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.geometry import iou_matrix

IOU_EPS = 1e-9  # IoU exactly at the threshold counts as a match despite float rounding


@dataclass
class Counts:
    """True positives, false positives and false negatives, with derived precision, recall and F1."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        """Pool ``other`` into these counts."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 6),
                "recall": round(self.recall, 6), "f1": round(self.f1, 6)}


@dataclass
class EvalResult:
    """Per-class and overall (micro) counts, the IoU threshold and the frames evaluated."""

    per_class: dict[str, Counts]
    overall: Counts
    iou: float
    frames: int
    frames_without_predictions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"iou": self.iou, "frames": self.frames,
                "frames_without_predictions": self.frames_without_predictions,
                "overall": self.overall.as_dict(),
                "per_class": {name: c.as_dict() for name, c in self.per_class.items()}, **self.extra}


#: A prediction's outcome in :func:`match_objects`: matched, false positive, ignored (on a crowd box).
TP, FP, IGNORED = 1, 0, -1


def match_objects(gt: FrameAnnotations, pred_boxes: np.ndarray, pred_labels: list[str], pred_scores: np.ndarray,
                  iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Match one frame's predictions to its ground truth, object by object (the module docstring's rule).

    Returns ``gt_matched`` (bool per ground-truth box, in ``gt`` order; crowd boxes are never matched) and
    ``outcome`` (per prediction, in input order: :data:`TP`, :data:`FP` or :data:`IGNORED`). A missed object
    is a non-crowd box with ``gt_matched`` false."""
    gt_matched = np.zeros(len(gt.labels), dtype=bool)
    outcome = np.full(len(pred_labels), FP, dtype=np.int8)
    gt_labels = np.array(gt.labels, dtype=object)
    pred_label_arr = np.array(pred_labels, dtype=object)
    for cls in set(gt.labels) | set(pred_labels):
        g_idx = np.flatnonzero(gt_labels == cls) if len(gt_labels) else np.zeros(0, dtype=int)
        p_idx = np.flatnonzero(pred_label_arr == cls) if len(pred_label_arr) else np.zeros(0, dtype=int)
        crowd = gt.iscrowd[g_idx] if len(g_idx) else np.zeros(0, dtype=bool)
        normal_idx, crowd_boxes = g_idx[~crowd], gt.boxes[g_idx][crowd]
        normal_boxes = gt.boxes[normal_idx]
        order = p_idx[np.argsort(-pred_scores[p_idx], kind="stable")]
        ious = iou_matrix(pred_boxes[order], normal_boxes)
        crowd_ious = iou_matrix(pred_boxes[order], crowd_boxes)
        matched = np.zeros(len(normal_boxes), dtype=bool)
        for k in range(len(order)):
            if len(normal_boxes):
                cand = np.where(matched, -1.0, ious[k])
                best = int(np.argmax(cand))
                if cand[best] >= iou - IOU_EPS:
                    matched[best] = True
                    outcome[order[k]] = TP
                    continue
            if len(crowd_boxes) and crowd_ious[k].max() >= iou - IOU_EPS:
                outcome[order[k]] = IGNORED
        gt_matched[normal_idx] = matched
    return gt_matched, outcome


def match_frame(gt: FrameAnnotations, pred_boxes: np.ndarray, pred_labels: list[str], pred_scores: np.ndarray,
                iou: float = 0.5) -> dict[str, Counts]:
    """Match one frame's predictions to its ground truth (:func:`match_objects`); returns counts per class."""
    gt_matched, outcome = match_objects(gt, pred_boxes, pred_labels, pred_scores, iou)
    crowd = np.asarray(gt.iscrowd, dtype=bool).reshape(-1)
    counts: dict[str, Counts] = {}
    for cls in set(gt.labels) | set(pred_labels):
        g = np.array([lab == cls for lab in gt.labels], dtype=bool)
        p = outcome[np.array([lab == cls for lab in pred_labels], dtype=bool)]
        counts[cls] = Counts(int((p == TP).sum()), int((p == FP).sum()), int((g & ~crowd & ~gt_matched).sum()))
    return counts


def evaluate(gt: VideoAnnotations, preds: Mapping[int, Detections], iou: float = 0.5,
             frames: tuple[int, int] | None = None, min_score: float = 0.0) -> EvalResult:
    """Evaluate predictions on the ground-truth frames in the half-open range ``frames`` (all if None).

    A prediction for a frame the ground truth does not have is an error; a ground-truth frame without a
    prediction line counts as a frame with no detections.
    """
    if not 0.0 < iou <= 1.0:
        raise UserError(f"--iou: {iou} must be in (0, 1]")
    for fid in preds:
        if fid not in gt.frames:
            raise UserError(f"predictions: frame {fid} is not in the ground truth")
    lo, hi = frames if frames is not None else (min(gt.frames, default=0), max(gt.frames, default=-1) + 1)
    per_class: dict[str, Counts] = {name: Counts() for name in gt.categories}
    overall = Counts()
    n_frames = missing = 0
    for fid in gt.frame_ids:
        if not lo <= fid < hi:
            continue
        n_frames += 1
        det = preds.get(fid)
        if det is None:
            missing += 1
            det = Detections.empty(fid)
        det = det.select(det.scores >= min_score)
        for cls, c in match_frame(gt.frames[fid], det.boxes, det.labels, det.scores, iou).items():
            per_class.setdefault(cls, Counts()).add(c)
            overall.add(c)
    if n_frames == 0:
        raise UserError(f"--frames: no ground-truth frame in [{lo}, {hi})")
    return EvalResult(per_class, overall, iou, n_frames, missing)


def format_table(result: EvalResult) -> str:
    """A readable table of the result (for stderr)."""
    empty = result.frames_without_predictions
    lines = [f"IoU {result.iou:.2f}, {result.frames} frames" + (f" ({empty} without predictions)" if empty else ""),
             f"{'class':<10} {'TP':>7} {'FP':>7} {'FN':>7} {'P':>7} {'R':>7} {'F1':>7}"]
    rows = list(result.per_class.items()) + [("overall", result.overall)]
    for name, c in rows:
        lines.append(f"{name:<10} {c.tp:>7} {c.fp:>7} {c.fn:>7} {c.precision:>7.3f} {c.recall:>7.3f} {c.f1:>7.3f}")
    return "\n".join(lines)


def parse_frame_range(text: str | None) -> tuple[int, int] | None:
    """Parse a half-open ``A:B`` range (either side may be empty); None passes through."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        lo = int(parts[0]) if parts[0] else 0
        hi = int(parts[1]) if parts[1] else 2**62
    except ValueError:
        raise UserError(f"--frames: expected A:B, got {text!r}") from None
    if hi <= lo or lo < 0:
        raise UserError(f"--frames: empty or negative range {text!r}")
    return lo, hi
