"""``paraloupe-keypoints --bundle B --model M --video V --boxes GT.json --out P.jsonl [--frames A:B] [--r 0.75]``.

The keypoint task on one device, person boxes from a ground truth (the paper's single-person setting, §IV-H):
every non-crowd person box of each frame (COCO JSON, image id = frame index: a world video's
``keypoints.json`` or ``annotations.json``) whose height is at least ``--min-height`` px is cropped with the
object filling ``--r`` of the crop (as the training crops), run through the bundle's keypoint model
(:class:`runtime.keypoint_infer.KeypointModel`, ncnn) and mapped back to frame pixels. Writes one JSON line
per frame: ``{"frame", "persons": [{"box": [x, y, w, h], "score", "keypoints": [[x, y, v] × 17]}], "infer_ms"}``
(COCO's 17 slots, v = 1 where predicted, eye/ear slots zero); ``paraloupe-eval --task keypoints`` scores it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.atomic import atomic_open
from runtime.errors import UserError, cli_entry, run_cli
from runtime.geometry import clip_boxes, patch_around_box
from runtime.keypoints import to_coco17
from runtime.video import iter_frames, parse_frames


def person_boxes(path: str | Path, min_height: float) -> dict[int, list[list[float]]]:
    """Frame → the non-crowd person boxes (xywh px) at least ``min_height`` high, from a COCO JSON."""
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


def frame_poses(model: Any, image: np.ndarray, boxes: list[list[float]], r: float
                ) -> tuple[list[dict[str, Any]], float]:
    """The persons of one BGR frame: each box cropped at area ratio ``r``, its points in frame px; and ms."""
    h, w = image.shape[:2]
    persons, ms = [], 0.0
    for box in boxes:
        clipped = clip_boxes(np.asarray(box), w, h)[0]
        if clipped[2] < 1 or clipped[3] < 1:
            continue
        x0, y0, x1, y1 = patch_around_box(clipped, r, w, h)
        pose = model(image[y0:y1, x0:x1])
        pts = pose.points.copy()
        pts[:, 0] += x0
        pts[:, 1] += y0
        pts[:, 2] = 1.0
        persons.append({"box": [round(v, 2) for v in box], "score": round(pose.score, 4),
                        "keypoints": np.asarray(to_coco17(pts)).reshape(-1, 3).tolist()})
        ms += pose.infer_ms
    return persons, ms


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    from runtime.bundle import load_manifest
    from runtime.keypoint_infer import KeypointModel

    parser = argparse.ArgumentParser(prog="paraloupe-keypoints", description=__doc__.split("\n\n")[1])
    parser.add_argument("--bundle", required=True, help="bundle folder (manifest.json) with keypoint models")
    parser.add_argument("--model", help="keypoint model name (default: the bundle's first keypoint model)")
    parser.add_argument("--video", required=True, help="video file")
    parser.add_argument("--boxes", required=True, help="COCO JSON with the person boxes (image id = frame index)")
    parser.add_argument("--out", required=True, help="prediction JSONL to write")
    parser.add_argument("--frames", default=None, help="half-open frame range A:B (default: every frame)")
    parser.add_argument("--r", type=float, default=0.75, help="box area / crop area of each person crop")
    parser.add_argument("--min-height", type=float, default=24.0, help="skip person boxes lower than this (px)")
    parser.add_argument("--threads", type=int, default=1, help="ncnn CPU threads")
    args = parser.parse_args(argv)
    if not 0 < args.r <= 1:
        raise UserError(f"--r: expected 0 < r <= 1, got {args.r}")
    manifest = load_manifest(args.bundle)
    names = manifest.models_of_task("keypoints")
    name = args.model or (names[0] if names else None)
    if name is None:
        raise UserError(f"{args.bundle}: no keypoint model in the bundle")
    model = KeypointModel(args.bundle, name, manifest, args.threads)
    boxes = person_boxes(args.boxes, args.min_height)
    wanted = parse_frames(args.frames)
    frames = sorted(f for f in boxes if wanted is None or f in wanted)
    with atomic_open(args.out) as handle:
        for fid, image in iter_frames(args.video, frames):
            persons, ms = frame_poses(model, image, boxes[fid], args.r)
            handle.write(json.dumps({"frame": fid, "persons": persons, "infer_ms": round(ms, 3)}) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
