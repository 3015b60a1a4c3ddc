"""The prediction format — the runtime's output and the evaluator's input (CONVENTIONS.md).

One JSON line per frame: ``{"frame": i, "detections": [[x, y, w, h, "person", score], ...], ...}``;
boxes in pixels of the original frame, more keys allowed (latency, patches, ...). In memory a frame is a
:class:`runtime.detections.Detections` with its ``frame`` set; :meth:`~runtime.detections.Detections.to_line`
writes its line, :func:`parse_line` reads one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from runtime.atomic import atomic_open
from runtime.detections import Detections
from runtime.errors import UserError


def parse_line(line: str, where: str) -> Detections:
    """Parse one prediction line; ``where`` (``file:line``) prefixes any error."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise UserError(f"{where}: not a JSON object") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("frame"), int) or isinstance(obj.get("frame"), bool):
        raise UserError(f"{where}: missing integer field 'frame'")
    dets = obj.get("detections")
    if not isinstance(dets, list):
        raise UserError(f"{where}: missing list field 'detections'")
    boxes, labels, scores = [], [], []
    for j, det in enumerate(dets):
        if (not isinstance(det, list) or len(det) != 6 or not isinstance(det[4], str)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in det[:4] + det[5:])):
            raise UserError(f"{where}: detections[{j}] is not [x, y, w, h, label, score]")
        boxes.append(det[:4])
        labels.append(det[4])
        scores.append(det[5])
    return Detections(np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, np.array(scores, dtype=np.float64),
                      obj["frame"])


def iter_predictions(path: str | Path) -> Iterator[Detections]:
    """Yield the frames of a prediction JSONL file; blank lines are skipped."""
    path = Path(path)
    try:
        handle = open(path)  # noqa: SIM115 (closed by the with below; open errors become one line)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield parse_line(line, f"{path}:{number}")


def read_predictions(path: str | Path) -> dict[int, Detections]:
    """All frames of a prediction file by frame index; a frame given twice is an error."""
    frames: dict[int, Detections] = {}
    for det in iter_predictions(path):
        if det.frame in frames:
            raise UserError(f"{path}: frame {det.frame} appears twice")
        frames[det.frame] = det
    return frames


def write_predictions(path: str | Path, frames: Iterable[Detections]) -> None:
    """Write frames as JSONL, atomically."""
    with atomic_open(path) as handle:
        for det in frames:
            handle.write(det.to_line() + "\n")


def write_line(handle: TextIO, det: Detections, **extra: Any) -> None:
    """Append one frame's line to an open stream (for streaming output)."""
    handle.write(det.to_line(**extra) + "\n")
