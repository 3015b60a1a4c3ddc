"""The prediction format — the runtime's output and the evaluator's input (CONVENTIONS.md).

One JSON line per frame: ``{"frame": i, "detections": [[x, y, w, h, "person", score], ...], ...}``;
boxes in pixels of the original frame, more keys allowed (latency, patches, ...). In memory a frame is a
:class:`runtime.detections.Detections` with its ``frame`` set; :meth:`~runtime.detections.Detections.to_line`
writes its line, :func:`parse_line` reads one.

Average precision ranks detections down to low scores, below the thresholds that cut a frame's ``detections``
(the aggregator's score floor, a tracked output's ``output_min_score``). A line may therefore carry them too,
under :data:`RANKED_KEY` (same row format; :func:`ranked_extra` writes it); :func:`read_ranked` reads that key
where a line has it and ``detections`` elsewhere. F1 always reads ``detections``.
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

#: The optional key of a prediction line with the frame's detections down to the lowest score reported, before the
#: score thresholds that cut ``detections`` — what average precision ranks (``[x, y, w, h, label, score]`` rows).
RANKED_KEY = "ranked_detections"


def _load(line: str, where: str) -> dict[str, Any]:
    """One line as a JSON object with an integer ``frame``; ``where`` (``file:line``) prefixes any error."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise UserError(f"{where}: not a JSON object") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("frame"), int) or isinstance(obj.get("frame"), bool):
        raise UserError(f"{where}: missing integer field 'frame'")
    return obj


def _detections(obj: dict[str, Any], key: str, where: str) -> Detections:
    """The rows under ``key`` of a loaded line as the frame's :class:`Detections`."""
    dets = obj.get(key)
    if not isinstance(dets, list):
        raise UserError(f"{where}: missing list field {key!r}")
    boxes, labels, scores = [], [], []
    for j, det in enumerate(dets):
        if (not isinstance(det, list) or len(det) != 6 or not isinstance(det[4], str)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in det[:4] + det[5:])):
            raise UserError(f"{where}: {key}[{j}] is not [x, y, w, h, label, score]")
        boxes.append(det[:4])
        labels.append(det[4])
        scores.append(det[5])
    return Detections(np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, np.array(scores, dtype=np.float64),
                      obj["frame"])


def parse_line(line: str, where: str) -> Detections:
    """Parse one prediction line (its ``detections``); ``where`` (``file:line``) prefixes any error."""
    return _detections(_load(line, where), "detections", where)


def _lines(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(line, "file:number")`` for each non-blank line of ``path``; an unreadable file is a UserError."""
    path = Path(path)
    try:
        handle = open(path)  # noqa: SIM115 (closed by the with below; open errors become one line)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield line, f"{path}:{number}"


def iter_predictions(path: str | Path) -> Iterator[Detections]:
    """Yield the frames of a prediction JSONL file; blank lines are skipped."""
    for line, where in _lines(path):
        yield parse_line(line, where)


def _by_frame(path: str | Path, frames: Iterable[Detections]) -> dict[int, Detections]:
    out: dict[int, Detections] = {}
    for det in frames:
        if det.frame in out:
            raise UserError(f"{path}: frame {det.frame} appears twice")
        out[det.frame] = det
    return out


def read_predictions(path: str | Path) -> dict[int, Detections]:
    """All frames of a prediction file by frame index; a frame given twice is an error."""
    return _by_frame(path, iter_predictions(path))


def read_ranked(path: str | Path) -> tuple[dict[int, Detections], int]:
    """What average precision ranks: each frame's :data:`RANKED_KEY` rows where its line has them, else its
    ``detections``, by frame index; and how many lines had the key."""
    with_key = 0

    def frames() -> Iterator[Detections]:
        nonlocal with_key
        for line, where in _lines(path):
            obj = _load(line, where)
            key = RANKED_KEY if RANKED_KEY in obj else "detections"
            with_key += key == RANKED_KEY
            yield _detections(obj, key, where)

    return _by_frame(path, frames()), with_key


def read_with_key(path: str | Path, key: str) -> tuple[dict[int, Detections], dict[int, Any]]:
    """All frames of a prediction file by frame index (as :func:`read_predictions`), and the value of the extra
    ``key`` (e.g. ``patch_rects``) on each line that has it, by frame index; the value is not checked."""
    extra: dict[int, Any] = {}

    def frames() -> Iterator[Detections]:
        for line, where in _lines(path):
            obj = _load(line, where)
            if key in obj:
                extra[obj["frame"]] = obj[key]
            yield _detections(obj, "detections", where)

    return _by_frame(path, frames()), extra


def ranked_extra(ranked: Detections) -> dict[str, Any]:
    """The extra key of a line that carries ``ranked`` (the frame's detections before its score thresholds) for
    average precision: ``dets.to_line(**ranked_extra(ranked))``."""
    return {RANKED_KEY: ranked.rows()}


def write_predictions(path: str | Path, frames: Iterable[Detections]) -> None:
    """Write frames as JSONL, atomically."""
    with atomic_open(path) as handle:
        for det in frames:
            handle.write(det.to_line() + "\n")


def write_line(handle: TextIO, det: Detections, **extra: Any) -> None:
    """Append one frame's line to an open stream (for streaming output)."""
    handle.write(det.to_line(**extra) + "\n")
