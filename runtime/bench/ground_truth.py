"""The loop's ceiling: ``paraloupe-bench loop --detector ground-truth`` infers every entry from the ground truth.

What a perfect model would report for an entry — every non-crowd ground-truth object of the frame whose visible
part inside the entry's rectangle is at least :data:`MIN_VISIBLE` of its box, as that visible part (a detector
sees an object a patch border cuts, cut: the loop's clipped-box rules then apply), in the entry image's pixels,
at score :data:`SCORE` — goes through the same closed loop (generator, tracker, discovery, aggregation) as the
models' detections would. Patch recall and F1 then measure the loop alone: a miss there is the generator's or
the tracker's, not a model's (the issue's "ceiling" measurement, with the whole loop instead of the generator
alone; ``paraloupe-bench patches`` feeds the generator the same way without the tracker).

Pure: arrays and annotations in, :class:`runtime.infer.Inference` out; no model file is read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from runtime.coco import VideoAnnotations
from runtime.detections import Detections
from runtime.frame_plan import FramePlan
from runtime.infer import Inference
from runtime.modes import Choice

MIN_VISIBLE = 0.3  #: least fraction of an object's box inside an entry for it to be reported there
SCORE = 0.9  #: the score every ground-truth detection gets (above every threshold of the loop)


class DetectorSource(Choice):
    """Where ``paraloupe-bench loop`` takes each entry's detections from."""

    MODELS = "models"  #: the bundle's models (the scheduler's choice with --devices)
    GROUND_TRUTH = "ground-truth"  #: the ground truth, as a perfect model would report it (the loop's ceiling)


def visible_in(boxes: np.ndarray, rect: tuple[int, int, int, int], min_visible: float = MIN_VISIBLE
               ) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``boxes`` (n, 4) ``[x, y, w, h]`` frame px inside ``rect`` ``(x0, y0, x1, y1)`` px, relative
    to its corner (k, 4), and the indices (k,) of the boxes with at least ``min_visible`` of their area there."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (float(v) for v in rect)
    lo = np.maximum(boxes[:, :2], [x0, y0])
    hi = np.minimum(boxes[:, :2] + boxes[:, 2:], [x1, y1])
    size = np.clip(hi - lo, 0.0, None)
    area = boxes[:, 2] * boxes[:, 3]
    keep = np.flatnonzero((size[:, 0] > 0) & (size[:, 1] > 0)
                          & (size[:, 0] * size[:, 1] >= min_visible * np.maximum(area, 1e-12)))
    return np.concatenate([lo[keep] - [x0, y0], size[keep]], axis=1), keep


class GroundTruthDetector:
    """:func:`runtime.replay.run_loop`'s ``route`` that answers every entry of a frame from ``gt``."""

    def __init__(self, gt: VideoAnnotations, min_visible: float = MIN_VISIBLE, score: float = SCORE) -> None:
        self.gt, self.min_visible, self.score = gt, float(min_visible), float(score)

    def detections(self, frame_id: int, rect: tuple[int, int, int, int], image_w: int, image_h: int) -> Detections:
        """What a perfect model reports for the entry ``rect`` of frame ``frame_id`` sent as an ``image_w`` ×
        ``image_h`` px image (boxes in that image's pixels)."""
        frame = self.gt.frames.get(frame_id)
        if frame is None or len(frame) == 0:
            return Detections.empty(frame_id)
        real = np.flatnonzero(~np.asarray(frame.iscrowd, dtype=bool))
        parts, keep = visible_in(frame.boxes[real], rect, self.min_visible)
        sx = image_w / max(rect[2] - rect[0], 1)
        sy = image_h / max(rect[3] - rect[1], 1)
        boxes = parts * np.array([sx, sy, sx, sy])
        return Detections(boxes, [frame.labels[i] for i in real[keep]], np.full(len(keep), self.score), frame_id)

    def route(self, plan: FramePlan) -> list[Callable[..., Inference]]:
        """One detector per entry of ``plan``, each answering from the ground truth (``min_score`` ignored: every
        box scores :attr:`score`)."""
        def one(rect: tuple[int, int, int, int]) -> Callable[..., Inference]:
            def detect(image: np.ndarray, min_score: float | None = None) -> Inference:
                return Inference(self.detections(plan.frame_id, rect, image.shape[1], image.shape[0]))
            return detect
        return [one(e.rect) for e in plan.entries]
