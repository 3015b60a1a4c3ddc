"""``paraloupe-keypoints --bundle B --model M --video V --boxes GT.json --out P.jsonl [--frames A:B] [--r 0.75]``.

The keypoint task on one device, person boxes from a ground truth (the paper's single-person setting, §IV-H;
``--boxes-from detections``: from the detection task's prediction JSONL instead):
every non-crowd person box of each frame (COCO JSON, image id = frame index: a world video's
``keypoints.json`` or ``annotations.json``) whose height is at least ``--min-height`` px is cropped with the
object filling ``--r`` of the crop (as the training crops), run through the bundle's keypoint model
(:class:`runtime.keypoint_infer.KeypointModel`, ncnn; :func:`runtime.keypoint_task.frame_poses`) and mapped back to
frame pixels. Writes one JSON line
per frame: ``{"frame", "persons": [{"box": [x, y, w, h], "score", "keypoints": [[x, y, v] × 17]}], "infer_ms"}``
(COCO's 17 slots, v = 1 where predicted, eye/ear slots zero); ``paraloupe-eval --task keypoints`` scores it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from runtime.atomic import atomic_open
from runtime.errors import UserError, cli_entry, run_cli
from runtime.keypoint_task import BOX_SOURCES, frame_poses, load_person_boxes
from runtime.video import iter_frames, parse_frames


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    from runtime.bundle import load_manifest
    from runtime.keypoint_infer import KeypointModel

    parser = argparse.ArgumentParser(prog="paraloupe-keypoints", description=__doc__.split("\n\n")[1])
    parser.add_argument("--bundle", required=True, help="bundle folder (manifest.json) with keypoint models")
    parser.add_argument("--model", help="keypoint model name (default: the bundle's first keypoint model)")
    parser.add_argument("--video", required=True, help="video file")
    parser.add_argument("--boxes", required=True, help="the person boxes: a COCO JSON (image id = frame index), or "
                                                      "with --boxes-from detections a detection prediction JSONL")
    parser.add_argument("--boxes-from", choices=BOX_SOURCES, default="gt",
                        help="gt: --boxes is a COCO ground truth; detections: the detection task's --out JSONL")
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
    boxes = load_person_boxes(args.boxes, args.boxes_from, args.min_height)
    wanted = parse_frames(args.frames)
    frames = sorted(f for f in boxes if wanted is None or f in wanted)
    with atomic_open(args.out) as handle:
        for fid, image in iter_frames(args.video, frames):
            persons, ms = frame_poses(model, image, boxes[fid], args.r)
            handle.write(json.dumps({"frame": fid, "persons": persons, "infer_ms": round(ms, 3)}) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
