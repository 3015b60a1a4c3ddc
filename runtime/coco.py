"""COCO detection JSON for videos: image id = frame index, boxes ``[x, y, w, h]`` in pixels.

Reading validates the structure and names the file and the field at fault; writing is atomic. Extra
per-annotation fields used here: ``track_id`` (int), ``occluded`` (fraction 0–1) and ``score``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.atomic import write_json
from runtime.errors import UserError


@dataclass
class FrameAnnotations:
    """The annotations of one frame as arrays: ``boxes`` (n, 4) xywh pixels, and per box its label,
    ``iscrowd`` flag, ``track_id`` (-1 if none), ``occluded`` fraction and ``score`` (1.0 if none)."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    labels: list[str] = field(default_factory=list)
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    occluded: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, keep: np.ndarray) -> FrameAnnotations:
        """A copy holding only the annotations where boolean mask ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        return FrameAnnotations(self.boxes[keep], [lab for lab, k in zip(self.labels, keep, strict=False) if k],
                                self.iscrowd[keep], self.track_ids[keep], self.occluded[keep], self.scores[keep])


@dataclass
class VideoAnnotations:
    """COCO annotations of a video: ``categories`` in id order, one :class:`FrameAnnotations` per frame,
    the frame size and the ``info`` block."""

    categories: list[str]
    frames: dict[int, FrameAnnotations]
    width: int
    height: int
    info: dict[str, Any] = field(default_factory=dict)
    category_ids: dict[str, int] = field(default_factory=dict)

    @property
    def frame_ids(self) -> list[int]:
        """The annotated frame indices, ascending."""
        return sorted(self.frames)


def _need(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise UserError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise UserError(f"{where}.{key}: unexpected value {value!r}")
    return value


def parse_coco(data: Any, source: str) -> VideoAnnotations:
    """Validate and convert a loaded COCO dict; errors name ``source`` and the field."""
    if not isinstance(data, Mapping):
        raise UserError(f"{source}: not a COCO object (expected a JSON mapping)")
    cats = _need(data, "categories", list, source)
    images = _need(data, "images", list, source)
    anns = _need(data, "annotations", list, source)
    id_to_name: dict[int, str] = {}
    for i, cat in enumerate(cats):
        cid = _need(cat, "id", int, f"{source}: categories[{i}]")
        id_to_name[cid] = str(_need(cat, "name", str, f"{source}: categories[{i}]"))
    sizes: dict[int, tuple[int, int]] = {}
    for i, img in enumerate(images):
        where = f"{source}: images[{i}]"
        iid = _need(img, "id", int, where)
        if iid < 0:
            raise UserError(f"{where}.id: negative frame index {iid}")
        sizes[iid] = (_need(img, "width", int, where), _need(img, "height", int, where))
    rows: dict[int, list[tuple[list[float], str, bool, int, float, float]]] = {i: [] for i in sizes}
    for i, ann in enumerate(anns):
        where = f"{source}: annotations[{i}]"
        iid = _need(ann, "image_id", int, where)
        if iid not in sizes:
            raise UserError(f"{where}.image_id: {iid} is not in images")
        cid = _need(ann, "category_id", int, where)
        if cid not in id_to_name:
            raise UserError(f"{where}.category_id: {cid} is not in categories")
        bbox = _need(ann, "bbox", list, where)
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox) \
                or bbox[2] < 0 or bbox[3] < 0 or not all(np.isfinite(bbox)):
            raise UserError(f"{where}.bbox: expected [x, y, w, h] with w, h >= 0, got {bbox!r}")
        rows[iid].append((list(map(float, bbox)), id_to_name[cid], bool(ann.get("iscrowd", 0)),
                          int(ann.get("track_id", -1)), float(ann.get("occluded", 0.0)),
                          float(ann.get("score", 1.0))))
    frames = {iid: _frame_from_rows(r) for iid, r in rows.items()}
    width, height = (max(sizes.values()) if sizes else (0, 0))
    ordered = [id_to_name[c] for c in sorted(id_to_name)]
    return VideoAnnotations(ordered, frames, width, height, dict(data.get("info") or {}),
                            {name: cid for cid, name in id_to_name.items()})


def _frame_from_rows(rows: list[tuple[list[float], str, bool, int, float, float]]) -> FrameAnnotations:
    if not rows:
        return FrameAnnotations()
    boxes, labels, crowd, tracks, occ, scores = zip(*rows, strict=False)
    return FrameAnnotations(np.array(boxes, dtype=np.float64), list(labels), np.array(crowd, dtype=bool),
                            np.array(tracks, dtype=np.int64), np.array(occ), np.array(scores))


def load_coco(path: str | Path) -> VideoAnnotations:
    """Read a COCO detection JSON of a video; missing or malformed files raise a one-line UserError."""
    path = Path(path)
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: malformed JSON at line {exc.lineno}") from None
    return parse_coco(data, str(path))


def coco_dict(video: VideoAnnotations) -> dict[str, Any]:
    """The COCO dict of ``video`` (frames as images ``frame_NNNNNN``), annotation ids from 1."""
    cat_ids = video.category_ids or {name: i + 1 for i, name in enumerate(video.categories)}
    categories = [{"id": cat_ids[n], "name": n} for n in video.categories]
    images, annotations = [], []
    for fid in video.frame_ids:
        images.append({"id": fid, "file_name": f"frame_{fid:06d}", "width": video.width, "height": video.height})
        fa = video.frames[fid]
        for j in range(len(fa)):
            x, y, w, h = (round(float(v), 2) for v in fa.boxes[j])
            ann = {"id": len(annotations) + 1, "image_id": fid, "category_id": cat_ids[fa.labels[j]],
                   "bbox": [x, y, w, h], "area": round(w * h, 2), "iscrowd": int(fa.iscrowd[j])}
            if fa.track_ids[j] >= 0:
                ann["track_id"] = int(fa.track_ids[j])
            ann["occluded"] = round(float(fa.occluded[j]), 3)
            if fa.scores[j] != 1.0:
                ann["score"] = round(float(fa.scores[j]), 4)
            annotations.append(ann)
    return {"info": video.info, "images": images, "annotations": annotations, "categories": categories}


def write_coco(path: str | Path, video: VideoAnnotations) -> None:
    """Write ``video`` as COCO JSON, atomically."""
    write_json(path, coco_dict(video), indent=None)


def frames_from_boxes(
        per_frame: Iterable[tuple[int, Iterable[tuple[list[float], str, float]]]]) -> dict[int, FrameAnnotations]:
    """Build frames from ``(frame, [(box, label, score), ...])`` pairs (e.g. detector output)."""
    return {fid: _frame_from_rows([(list(b), lab, False, -1, 0.0, float(s)) for b, lab, s in dets])
            for fid, dets in per_frame}
