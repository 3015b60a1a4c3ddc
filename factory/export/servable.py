"""A mini detector's servable object range: the object sizes (longer side, px at its input) it finds reliably.

The closed-loop issue's size-safe patches: an object is *served* by a patch when it lies whole inside it and
its longer side, scaled to the mini's input, is within the mini's servable range — the object-side bins where
the mini's recall on the held-out patch set is at least ``min_recall`` (0.8). Here each patch-set image is
letterboxed to the model input (scale = input side / longer image side, as the runtime does), every non-crowd
object is binned by its scaled longer side and counts as found when a detection of its class overlaps it by
IoU >= 0.5 (max-IoU recall: one detection may find two touching objects; enough for a size range). The range is
the longest run of adjacent bins that each hold at least ``min_objects`` objects and reach ``min_recall``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from runtime.coco import VideoAnnotations
from runtime.detections import Detections
from runtime.geometry import iou_matrix

#: bin edges of the scaled longer object side, px at the model input (the last bin is open)
SIDE_BINS_PX = (0.0, 8.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0, 1e9)


def recall_by_side(gt: VideoAnnotations, preds: Mapping[int, Detections], sizes: Mapping[int, tuple[int, int]],
                   input_side: int, bins: Sequence[float] = SIDE_BINS_PX) -> list[dict[str, float]]:
    """Per bin of the scaled longer side: ``lo``, ``hi`` (px at the input), ``objects`` and ``found``, over the
    images of ``sizes`` (image id → (width, height) px)."""
    edges = np.asarray(bins, dtype=np.float64)
    objects, found = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for image_id, (width, height) in sizes.items():
        frame = gt.frames.get(image_id)
        if frame is None:
            continue
        keep = ~np.asarray(frame.iscrowd, dtype=bool)
        boxes = frame.boxes[keep]
        if len(boxes) == 0:
            continue
        labels = [frame.labels[i] for i in np.flatnonzero(keep)]
        scaled = boxes[:, 2:4].max(axis=1) * input_side / max(width, height)
        k = np.clip(np.digitize(scaled, edges) - 1, 0, len(objects) - 1)
        det = preds.get(image_id)
        hit = np.zeros(len(boxes), dtype=bool)
        if det is not None and len(det):
            iou = iou_matrix(boxes, det.boxes)
            same = np.array([[a == b for b in det.labels] for a in labels], dtype=bool)
            hit = (np.where(same, iou, 0.0).max(axis=1) >= 0.5)
        np.add.at(objects, k, 1)
        np.add.at(found, k, hit)
    return [{"lo": float(edges[i]), "hi": float(edges[i + 1]), "objects": int(objects[i]), "found": int(found[i])}
            for i in range(len(objects))]


def servable_range(bins: Sequence[Mapping[str, float]], min_recall: float = 0.8,
                   min_objects: int = 20) -> list[float] | None:
    """``[lo, hi]`` px at the input: the longest run of adjacent bins each with >= ``min_objects`` objects and
    recall >= ``min_recall`` (ties: the larger objects); None when no bin qualifies."""
    ok = [b["objects"] >= min_objects and b["found"] / b["objects"] >= min_recall for b in bins]
    best: tuple[int, int] | None = None
    i = 0
    while i < len(ok):
        if not ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(ok) and ok[j + 1]:
            j += 1
        if best is None or j - i >= best[1] - best[0]:
            best = (i, j)
        i = j + 1
    if best is None:
        return None
    hi = bins[best[1]]["hi"]
    return [float(bins[best[0]]["lo"]), float(hi if hi < 1e8 else bins[best[1]]["lo"] * 2)]
