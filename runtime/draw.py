"""Drawing a frame's patches and detections on a BGR image (OpenCV), in place — for ``paraloupe-run --save-video``
and the report's frame strips (``factory/report/strips.py``), so that both use one palette.

Coordinates are frame pixels; ``scale`` maps them onto an image drawn at another size (a downscaled frame).
Patches are ``[x0, y0, x1, y1, kind]`` rectangles (the ``patch_rects`` of a prediction line), detections a
:class:`runtime.detections.Detections` (``[x, y, w, h]`` boxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from runtime.detections import Detections

#: Patch colours (BGR) by kind: tracked (high), discovery (low), refresh, baseline pass (keyframe / frame / a
#: still camera's finer tile / the whole frame sent for close-ups on a moving camera).
PATCH_COLOURS = {"high": (255, 160, 0), "low": (0, 200, 255), "refresh": (200, 0, 200), "keyframe": (0, 0, 255),
                 "frame": (0, 0, 255), "still": (0, 0, 160), "large": (80, 80, 255)}
OTHER_PATCH_COLOUR = (200, 200, 200)  # any other kind (predefined RoI, partition tile, ...)
DETECTION_COLOUR = (0, 255, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _pt(x: float, y: float, scale: float) -> tuple[int, int]:
    return int(round(x * scale)), int(round(y * scale))


def draw_patches(img: np.ndarray, patches: Sequence[Sequence[Any]], scale: float = 1.0) -> None:
    """Thin rectangles of the ``[x0, y0, x1, y1, kind]`` patches (frame px, x1/y1 exclusive), coloured by kind
    (:data:`PATCH_COLOURS`)."""
    for x0, y0, x1, y1, kind in patches:
        colour = PATCH_COLOURS.get(str(kind), OTHER_PATCH_COLOUR)
        cv2.rectangle(img, _pt(x0, y0, scale), _pt(x1 - 1, y1 - 1, scale), colour, 1)


def draw_detections(img: np.ndarray, dets: Detections, scale: float = 1.0, font_scale: float = 0.4,
                    thickness: int = 2) -> None:
    """The detections as green boxes with label, score and track id (where tracked) above each."""
    ids = dets.ids if dets.ids is not None else [None] * len(dets.labels)
    for (x, y, w, h), lab, s, tid in zip(dets.boxes, dets.labels, dets.scores, ids, strict=True):
        p0, p1 = _pt(x, y, scale), _pt(x + w, y + h, scale)
        cv2.rectangle(img, p0, p1, DETECTION_COLOUR, thickness)
        text = f"{lab} {s:.2f}" + ("" if tid is None else f" #{tid}")
        cv2.putText(img, text, (p0[0], max(12, p0[1] - 3)), FONT, font_scale, DETECTION_COLOUR, 1)


def annotated(frame: np.ndarray, dets: Detections, patches: Sequence[Sequence[Any]], dropped: bool = False
              ) -> np.ndarray:
    """A copy of ``frame`` with its patches (thin, coloured by kind: :data:`PATCH_COLOURS`), the detections
    (green boxes, label, score and track id when tracked) and, if ``dropped``, a mark — a ``--save-video`` frame."""
    img = frame.copy()
    draw_patches(img, patches)
    draw_detections(img, dets)
    if dropped:
        cv2.putText(img, "dropped", (8, 20), FONT, 0.6, (0, 0, 255), 2)
    return img
