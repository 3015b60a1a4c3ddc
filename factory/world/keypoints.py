"""The world's keypoint ground truth as a COCO keypoint file (``keypoints.json`` beside ``annotations.json``).

One annotation per visible person box of every frame (image id = frame index, the same boxes, ``iscrowd``
and ``track_id`` as the detection file): ``keypoints`` is COCO's flat 17×[x, y, v] list in frame pixels,
``num_keypoints`` counts v > 0. The single category ``person`` names the 17 slots and the skeleton
(:mod:`runtime.keypoints`, docs/keypoints.md). The detection file is written unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from factory.world.render import ObjectBox
from runtime.atomic import write_json
from runtime.keypoints import COCO_NAMES, SKELETON, to_coco17

FILE = "keypoints.json"
PERSON_CATEGORY = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_NAMES),
                   "skeleton": [list(e) for e in SKELETON]}


def frame_keypoints(index: int, boxes: list[ObjectBox], crowd: list[bool]) -> list[dict[str, Any]]:
    """The COCO keypoint annotations (without ``id``) of frame ``index``'s person boxes."""
    out = []
    for b, c in zip(boxes, crowd, strict=True):
        if b.label != "person" or b.keypoints is None:
            continue
        x, y, w, h = b.box
        out.append({"image_id": int(index), "category_id": 1, "bbox": [x, y, w, h], "area": round(w * h, 2),
                    "iscrowd": int(c), "track_id": int(b.track_id), "keypoints": to_coco17(b.keypoints),
                    "num_keypoints": int((b.keypoints[:, 2] > 0).sum())})
    return out


def write_keypoints(path: str | Path, frames: dict[int, list[dict[str, Any]]], width: int, height: int,
                    info: dict[str, Any]) -> Path:
    """Write the COCO keypoint file of a video (``frames``: frame index → :func:`frame_keypoints`)."""
    images = [{"id": int(i), "width": int(width), "height": int(height), "file_name": f"{i:06d}"}
              for i in sorted(frames)]
    anns = [dict(a, id=n) for n, a in enumerate((a for i in sorted(frames) for a in frames[i]), start=1)]
    write_json(Path(path), {"info": info, "images": images, "annotations": anns, "categories": [PERSON_CATEGORY]},
               indent=None)
    return Path(path)


def load_keypoints(path: str | Path) -> tuple[dict[int, list[dict[str, Any]]], int, int]:
    """Read a file written by :func:`write_keypoints`: per frame its annotations, and the frame size (px)."""
    import json

    data = json.loads(Path(path).read_text())
    frames: dict[int, list[dict[str, Any]]] = {int(im["id"]): [] for im in data["images"]}
    for a in data["annotations"]:
        a["keypoints"] = np.asarray(a["keypoints"], dtype=np.float64)
        frames[int(a["image_id"])].append(a)
    first = data["images"][0] if data["images"] else {"width": 0, "height": 0}
    return frames, int(first["width"]), int(first["height"])
