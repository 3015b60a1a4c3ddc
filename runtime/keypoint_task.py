"""The keypoint task's frame logic (paper §IV-H), one implementation for one device and for the cluster.

Person boxes come from a COCO JSON (:func:`person_boxes`: ground truth, image id = frame index) or from the
detection task's prediction JSONL (:func:`detected_person_boxes`). Each box is cropped with the person filling
area ratio ``r`` of the crop (:func:`person_crop`, the training crops' geometry), the crop goes through a
keypoint model, and its points (crop px) are mapped back to frame px (:func:`to_person`) as one entry of a
frame's ``persons``: ``{"box": [x, y, w, h], "score", "keypoints": [[x, y, v] × 17]}`` (COCO's 17 slots,
v = 1 where predicted, eye/ear slots zero) — what ``paraloupe-eval --task keypoints`` scores.

:func:`frame_poses` runs a frame on one local model (``paraloupe-keypoints``); :class:`KeypointLoop` is the
same in the plan / finish interface the cluster client drives (:class:`runtime.loop.ClosedLoop`'s): no patch
generator (one person per input), every crop an entry the master places by capacity, the servers' points
mapped back by :meth:`KeypointLoop.finish`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from runtime.detections import Detections
from runtime.errors import UserError
from runtime.frame_plan import Entry, FramePlan
from runtime.geometry import clip_boxes, patch_around_box
from runtime.keypoints import to_coco17
from runtime.modes import JpegChroma
from runtime.patches.queue import encode_patch
from runtime.timing import Stopwatch

#: The kind word of a person crop entry (``patch_rects`` of a prediction line).
PERSON_CROP = "person"
#: Where person boxes come from: a COCO JSON (ground truth) or the detection task's prediction JSONL.
BoxSource = Literal["gt", "detections"]
BOX_SOURCES: tuple[str, ...] = get_args(BoxSource)


def person_boxes(path: str | Path, min_height: float) -> dict[int, list[list[float]]]:
    """Frame → the non-crowd person boxes (xywh px) at least ``min_height`` px high, from a COCO JSON."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read COCO JSON ({type(exc).__name__})") from None
    person = [c["id"] for c in data.get("categories", []) if c.get("name") == "person"]
    if not person:
        raise UserError(f"{path}: no 'person' category")
    frames: dict[int, list[list[float]]] = {int(im["id"]): [] for im in data.get("images", [])}
    for a in data.get("annotations", []):
        if a["category_id"] == person[0] and not a.get("iscrowd") and a["bbox"][3] >= min_height:
            frames.setdefault(int(a["image_id"]), []).append([float(v) for v in a["bbox"]])
    return frames


def detected_person_boxes(path: str | Path, min_height: float, min_score: float = 0.0
                          ) -> dict[int, list[list[float]]]:
    """Frame → the ``person`` detections (xywh px) of a prediction JSONL (the detection task's ``--out``) with
    score ≥ ``min_score`` and at least ``min_height`` px high."""
    from runtime.predictions import read_predictions

    out: dict[int, list[list[float]]] = {}
    for frame, dets in read_predictions(path).items():
        out[frame] = [[float(v) for v in box] for box, label, score in zip(dets.boxes, dets.labels, dets.scores,
                                                                            strict=True)
                      if label == "person" and score >= min_score and box[3] >= min_height]
    return out


def load_person_boxes(path: str | Path, source: str, min_height: float) -> dict[int, list[list[float]]]:
    """The person boxes of ``source`` (one of :data:`BOX_SOURCES`) at ``path``, frame → xywh px."""
    if source == "gt":
        return person_boxes(path, min_height)
    if source == "detections":
        return detected_person_boxes(path, min_height)
    raise UserError(f"--boxes-from: expected one of {', '.join(BOX_SOURCES)}, got {source!r}")


def person_crop(box: Sequence[float], r: float, frame_w: int, frame_h: int) -> tuple[int, int, int, int] | None:
    """The crop ``(x0, y0, x1, y1)`` (frame px) in which person ``box`` (xywh, clipped to the frame) fills area
    ratio ``r``; None when nothing of the box is inside the frame."""
    clipped = clip_boxes(np.asarray(box, dtype=np.float64), frame_w, frame_h)[0]
    if clipped[2] < 1 or clipped[3] < 1:
        return None
    return patch_around_box(clipped, r, frame_w, frame_h)


def to_person(box: Sequence[float], rect: Sequence[int], points: np.ndarray, score: float,
              src_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """One ``persons`` entry: ``points`` (13, 3) ``[x, y, peak]`` in the pixels of the image the model saw
    (``src_size`` (w, h) px: the decoded JPEG; None: the crop itself) mapped to frame px through crop ``rect``."""
    x0, y0, x1, y1 = (float(v) for v in rect)
    sx, sy = (1.0, 1.0) if src_size is None else ((x1 - x0) / max(src_size[0], 1), (y1 - y0) / max(src_size[1], 1))
    pts = np.array(points, dtype=np.float64).reshape(-1, 3)
    pts[:, 0] = pts[:, 0] * sx + x0
    pts[:, 1] = pts[:, 1] * sy + y0
    pts[:, 2] = 1.0
    return {"box": [round(float(v), 2) for v in box], "score": round(float(score), 4),
            "keypoints": np.asarray(to_coco17(pts)).reshape(-1, 3).tolist()}


def frame_poses(model: Any, image: np.ndarray, boxes: list[list[float]], r: float
                ) -> tuple[list[dict[str, Any]], float]:
    """The persons of one BGR frame on one local keypoint ``model``, each box cropped at area ratio ``r``; and
    the model's time, ms."""
    h, w = image.shape[:2]
    persons, ms = [], 0.0
    for box in boxes:
        rect = person_crop(box, r, w, h)
        if rect is None:
            continue
        x0, y0, x1, y1 = rect
        pose = model(image[y0:y1, x0:x1])
        persons.append(to_person(box, rect, pose.points, pose.score))
        ms += pose.infer_ms
    return persons, ms


@dataclass
class PatchPose:
    """One crop's answer: ``rect`` (x0, y0, x1, y1) frame px, ``src_size`` (w, h) px of the image the model saw,
    ``points`` (13, 3) ``[x, y, peak]`` in those pixels and ``score`` (the mean peak)."""

    rect: tuple[int, int, int, int]
    src_size: tuple[int, int]
    points: np.ndarray
    score: float


class KeypointLoop:
    """The keypoint task in the closed loop's frame interface (:meth:`plan` / :meth:`finish`): no patch
    generator, no tracker — each person box of a frame (``boxes``: frame → xywh px) is one crop entry of
    ``model_kind`` with confidence 1.0, JPEG at ``jpeg_quality`` and ``chroma`` sampling, native resolution
    capped at ``max_side`` px (the frame's longer side by default: a crop is resampled once, by the model's
    letterbox, as on one device)."""

    whole_pass = False
    generator = None

    def __init__(self, boxes: Mapping[int, list[list[float]]], r: float, model_kind: str, jpeg_quality: int,
                 chroma: JpegChroma, max_side: int = 1 << 16) -> None:
        if not 0 < r <= 1:
            raise UserError(f"--r: expected 0 < r <= 1, got {r}")
        self.boxes, self.r, self.model_kind = boxes, r, model_kind
        self.jpeg_quality, self.chroma, self.max_side = jpeg_quality, chroma, max_side
        self.ranked = Detections.empty(-1)  # no ranked detections: keypoint lines are scored by OKS
        self.persons: list[dict[str, Any]] = []  # the last finished frame's
        self._box_of: dict[int, dict[tuple[int, int, int, int], list[float]]] = {}

    def reset(self) -> None:
        """A new stream (nothing is carried between frames)."""
        self.persons = []
        self._box_of.clear()

    def plan(self, frame: np.ndarray, frame_id: int, budget: int | None = None) -> FramePlan:
        """One entry per person box of ``frame_id`` ((H, W, 3) BGR ``frame``); ``budget`` is ignored (every
        person is inferred)."""
        watch = Stopwatch()
        h, w = frame.shape[:2]
        plan = FramePlan(frame_id, w, h)
        boxes: dict[tuple[int, int, int, int], list[float]] = {}
        for box in self.boxes.get(frame_id, []):
            rect = person_crop(box, self.r, w, h)
            if rect is None:
                continue
            x0, y0, x1, y1 = rect
            jpeg = encode_patch(np.ascontiguousarray(frame[y0:y1, x0:x1]), self.jpeg_quality, self.max_side,
                                self.chroma)
            plan.entries.append(Entry(rect, PERSON_CROP, 1.0, jpeg, self.model_kind))
            boxes.setdefault(rect, box)
        self._box_of[frame_id] = boxes
        plan.gen_ms = watch.ms
        return plan

    def finish(self, plan: FramePlan, results: list[PatchPose]) -> Detections:
        """The frame's persons (kept in :attr:`persons`) from the crops' answers; returned as person detections
        (box, pose score) so a keypoint line is also a detection line."""
        boxes = self._box_of.pop(plan.frame_id, {})
        self.persons = [to_person(boxes.get(p.rect, list(_xywh(p.rect))), p.rect, p.points, p.score, p.src_size)
                        for p in results]
        if not self.persons:
            return Detections.empty(plan.frame_id)
        return Detections(np.array([p["box"] for p in self.persons], dtype=np.float64), ["person"] * len(self.persons),
                          np.array([p["score"] for p in self.persons]), plan.frame_id)

    def line_extra(self) -> dict[str, Any]:
        """The keys a finished frame's prediction line gains: its ``persons``."""
        return {"persons": self.persons}


def _xywh(rect: Sequence[int]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in rect)
    return x0, y0, x1 - x0, y1 - y0
