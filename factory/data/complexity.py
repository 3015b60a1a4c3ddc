"""Inference complexity O(I) of an image (paper §III-B1, Eq. 1).

    O(I) = 1 − (Σ Norm.(obj_area)) / #obj,   O(I) ∈ [0, 1]

with Norm.(obj_area) ∈ (0, 1] the area of an object's box (clipped to the image) as a fraction of the image
area, and #obj the number of objects. Objects marked ``iscrowd`` are not objects here (they are ignored by
evaluation too), nor are boxes with no area inside the image.

An image with no object has no defined O (0/0): :func:`complexity` returns None for it, and
:func:`summarize` leaves such images out of the mean and counts them separately as ``empty`` — an empty
frame neither helps nor hurts the complexity a model is designed for.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from runtime.coco import FrameAnnotations, VideoAnnotations
from runtime.geometry import clip_boxes


def complexity(boxes: np.ndarray, width: int, height: int, iscrowd: np.ndarray | None = None) -> float | None:
    """O(I) of a ``width`` × ``height`` image holding ``boxes`` (n, 4) ``[x, y, w, h]``; None if no object."""
    boxes = clip_boxes(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), width, height)
    keep = boxes[:, 2] * boxes[:, 3] > 0
    if iscrowd is not None:
        keep &= ~np.asarray(iscrowd, dtype=bool).reshape(-1)
    if not keep.any():
        return None
    norm = boxes[keep, 2] * boxes[keep, 3] / float(width * height)
    return float(1.0 - norm.mean())


def frame_complexity(frame: FrameAnnotations, width: int, height: int) -> float | None:
    """O(I) of one annotated frame (crowd boxes excluded); None if it holds no object."""
    return complexity(frame.boxes, width, height, frame.iscrowd)


def video_complexities(video: VideoAnnotations, frames: Iterable[int] | None = None) -> list[float | None]:
    """O(I) of each frame of ``video`` (all annotated frames, or those in ``frames`` that exist)."""
    ids = video.frame_ids if frames is None else [f for f in frames if f in video.frames]
    return [frame_complexity(video.frames[f], video.width, video.height) for f in ids]


def summarize(values: Iterable[float | None]) -> dict[str, float]:
    """Mean, median, p10/p90, fraction below 0.5 over the images with objects; ``empty`` counts the rest."""
    vals = list(values)
    arr = np.array([v for v in vals if v is not None], dtype=np.float64)
    out = {"images": float(len(vals)), "empty": float(len(vals) - arr.size)}
    if arr.size:
        out.update({"mean": float(arr.mean()), "median": float(np.median(arr)),
                    "p10": float(np.percentile(arr, 10)), "p90": float(np.percentile(arr, 90)),
                    "below_0.5": float((arr < 0.5).mean())})
    return out
