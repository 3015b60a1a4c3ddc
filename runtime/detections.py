"""The one detections record of the runtime and the factory: what a detector, an aggregator or a prediction file
holds for one image or frame.

Boxes are ``[x, y, w, h]`` float64 pixels (x/y = top-left, CONVENTIONS.md) of the image the detections are
in — the model input, a patch, or the original frame; convert to and from ``[x0, y0, x1, y1]`` rectangles with
:func:`runtime.geometry.boxes_to_rects` / :func:`runtime.geometry.rects_to_boxes`. Labels are class names
(decoding maps class indices to names with the bundle's class list). What a variant adds — a patch's
rectangle, an inference's time — is a record holding a :class:`Detections` (``runtime.cluster.aggregate.
PatchDetections``, ``runtime.infer.Inference``); ``frame`` is set where the detections are a frame's, and a
frame's detections are a line of a prediction file (:meth:`Detections.to_line`, :mod:`runtime.predictions`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

BOX_DECIMALS = 2  #: box coordinates on the wire and in prediction lines: 0.01 px
SCORE_DECIMALS = 4  #: scores on the wire and in prediction lines: 1e-4


@dataclass
class Detections:
    """Detections of one image or frame: ``boxes`` (n, 4) float64 ``[x, y, w, h]`` px, ``labels`` (n) class
    names, ``scores`` (n,) float64 in [0, 1]; ``frame`` the frame index where they are a frame's (None for an
    image or patch), ``ids`` (n,) track ids where they come from tracks (None otherwise).

    ``boxes`` and ``scores`` are stored as float64 arrays of those shapes (an array already so is kept as is)."""

    boxes: np.ndarray
    labels: list[str]
    scores: np.ndarray
    frame: int | None = None
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64)
        self.boxes = boxes if boxes.ndim == 2 and boxes.shape[1] == 4 else boxes.reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64)
        self.scores = scores if scores.ndim == 1 else scores.reshape(-1)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, frame: int | None = None) -> Detections:
        """No detections (of frame ``frame`` when given)."""
        return cls(np.zeros((0, 4)), [], np.zeros(0), frame)

    def select(self, keep: np.ndarray) -> Detections:
        """The detections at ``keep`` (a boolean mask or indices, in that order), same frame."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64).reshape(-1)
        ids = None if self.ids is None else np.asarray(self.ids)[idx]
        return Detections(self.boxes[idx], [self.labels[i] for i in idx], self.scores[idx], self.frame, ids)

    def with_frame(self, frame: int) -> Detections:
        """The same detections as frame ``frame``'s (arrays shared, labels copied)."""
        return Detections(self.boxes, list(self.labels), self.scores, frame, self.ids)

    def as_sent(self) -> Detections:
        """The detections as a server's reply carries them to the client (boxes rounded to 0.01 px, scores to
        1e-4): replay and the client's own inference use them too, so that every path feeds the closed loop the
        same numbers (the loop amplifies a 0.01 px difference into different patches frames later)."""
        return Detections(np.round(self.boxes, BOX_DECIMALS), list(self.labels), np.round(self.scores, SCORE_DECIMALS),
                          self.frame, self.ids)

    def rows(self) -> list[list[Any]]:
        """The detections as a prediction line lists them: ``[x, y, w, h, label, score]`` each, boxes rounded to
        0.01 px, scores to 1e-4."""
        return [[*(round(float(v), BOX_DECIMALS) for v in b), lab, round(float(s), SCORE_DECIMALS)]
                for b, lab, s in zip(self.boxes, self.labels, self.scores, strict=False)]

    def to_line(self, **extra: Any) -> str:
        """This frame's line of a prediction file (:mod:`runtime.predictions`), with ``extra`` keys added (and
        ``track_ids`` beside ``detections``, in the same order, when the detections carry track ids); boxes
        rounded to 0.01 px, scores to 1e-4. Only a frame's detections (``frame`` set) have a line."""
        if self.frame is None:
            raise ValueError("to_line: these detections are no frame's (frame is None)")
        line: dict[str, Any] = {"frame": int(self.frame), "detections": self.rows()}
        if self.ids is not None:
            line["track_ids"] = [int(i) for i in self.ids]
        return json.dumps({**line, **extra})
