"""Why each reported box that matched no object is a false positive, split by its size — the precision side of
:mod:`runtime.bench.served` (which splits the misses). Pure counting: arrays in, counts out.

A false positive is a prediction :func:`runtime.evaluate.match_objects` left unmatched (on the evaluator's own
rule: IoU >= 0.5, same class, higher scores first; boxes on crowd regions are ignored, not counted). Each one
falls in the first kind that fits, judged against the frame's non-crowd ground truth of any class:

- ``duplicate``: IoU >= the match threshold with an object of its class that another prediction matched;
- ``other_class``: IoU >= the threshold with an object of another class (the box is right, the label wrong);
- ``fragment``: overlaps an object (IoU >= :data:`NEAR_IOU`) and lies mostly inside it (>= :data:`INSIDE`
  of its area): a part of one object, e.g. the front of a close-up vehicle;
- ``oversize``: overlaps an object and holds most of it (>= :data:`INSIDE` of the object's area): a box around
  an object and its surroundings, often around two neighbours at once;
- ``misplaced``: overlaps an object otherwise (shifted, or the wrong shape);
- ``background``: overlaps no object (IoU < :data:`NEAR_IOU` with every one).

A fragment, oversize or misplaced box usually stands where an object was missed, so it costs recall as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.bench.served import SIDE_BINS, side_bin_names
from runtime.evaluate import FP, match_objects
from runtime.geometry import intersection_matrix, iou_matrix

FP_KINDS = ("duplicate", "other_class", "fragment", "oversize", "misplaced", "background")
NEAR_IOU = 0.1  #: least IoU with an object for a false positive to count as a badly placed box on it
INSIDE = 0.8  #: share of an area that counts as "mostly inside"


@dataclass
class FalsePositives:
    """False positives per kind (:data:`FP_KINDS`) and per size bin of the box's longer side (:data:`SIDE_BINS`,
    frame px)."""

    counts: dict[str, np.ndarray] = field(
        default_factory=lambda: {k: np.zeros(len(SIDE_BINS) + 1, dtype=np.int64) for k in FP_KINDS})

    @classmethod
    def of_video(cls, gt: Any, preds: Mapping[int, Any], frames: tuple[int, int]) -> FalsePositives:
        """The counts over the half-open frame range ``frames`` of a video: ``gt`` its
        :class:`runtime.coco.VideoAnnotations`, ``preds`` frame id → :class:`runtime.detections.Detections`."""
        out = cls()
        for f in range(*frames):
            if f in preds:
                out.add_frame(gt.frames.get(f), preds[f].boxes, preds[f].labels, preds[f].scores)
        return out

    def add_frame(self, gt: Any, boxes: np.ndarray, labels: list[str], scores: np.ndarray,
                  iou: float = 0.5) -> None:
        """Count one frame's false positives: ``gt`` its :class:`runtime.coco.FrameAnnotations` (None: no
        annotation, nothing counted), ``boxes`` (n, 4) ``[x, y, w, h]`` px with ``labels`` and ``scores``."""
        if gt is None or len(labels) == 0:
            return
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        matched, outcome = match_objects(gt, boxes, labels, np.asarray(scores, dtype=np.float64), iou)
        fps = np.flatnonzero(outcome == FP)
        if len(fps) == 0:
            return
        real = ~np.asarray(gt.iscrowd, dtype=bool).reshape(-1)
        objects, taken = gt.boxes[real], matched[real]
        object_labels = np.array(gt.labels, dtype=object)[real]
        kinds = classify(boxes[fps], np.array(labels, dtype=object)[fps], objects, object_labels, taken, iou)
        bins = np.searchsorted(np.asarray(SIDE_BINS, dtype=np.float64), boxes[fps, 2:4].max(axis=1), side="right")
        for kind, b in zip(kinds, bins, strict=True):
            self.counts[kind][b] += 1

    def figures(self) -> dict[str, dict[str, int]]:
        """Per kind: the count in each size bin (by :func:`runtime.bench.served.side_bin_names`) and ``total``."""
        names = side_bin_names()
        return {k: {**{n: int(c) for n, c in zip(names, v, strict=True)}, "total": int(v.sum())}
                for k, v in self.counts.items()}


def classify(boxes: np.ndarray, labels: np.ndarray, objects: np.ndarray, object_labels: np.ndarray,
             taken: np.ndarray, iou: float = 0.5) -> list[str]:
    """The kind (:data:`FP_KINDS`) of each false positive ``boxes`` (n, 4) ``[x, y, w, h]`` px with ``labels``
    (n,), against the frame's non-crowd ``objects`` (m, 4) with ``object_labels`` (m,) and ``taken`` (m,) true
    where a prediction matched the object."""
    if len(objects) == 0:
        return ["background"] * len(boxes)
    overlap = iou_matrix(boxes, objects)
    inter = intersection_matrix(boxes, objects)
    same = labels[:, None] == object_labels[None, :]
    kinds = []
    for i in range(len(boxes)):
        j = int(np.argmax(overlap[i]))
        if (same[i] & taken & (overlap[i] >= iou)).any():
            kinds.append("duplicate")
        elif (~same[i] & (overlap[i] >= iou)).any():
            kinds.append("other_class")
        elif overlap[i, j] < NEAR_IOU:
            kinds.append("background")
        elif inter[i, j] >= INSIDE * boxes[i, 2] * boxes[i, 3]:
            kinds.append("fragment")
        elif inter[i, j] >= INSIDE * objects[j, 2] * objects[j, 3]:
            kinds.append("oversize")
        else:
            kinds.append("misplaced")
    return kinds


def fp_table(figures: dict[str, dict[str, int]]) -> str:
    """:meth:`FalsePositives.figures` as a text table: one row per kind, one column per size bin."""
    names = side_bin_names()
    rows = ["false positives | " + " | ".join(f"{n:>6}" for n in names) + " |  total"]
    for kind, f in figures.items():
        rows.append(f"{kind:>15} | " + " | ".join(f"{f[n]:6d}" for n in names) + f" | {f['total']:6d}")
    return "\n".join(rows)
