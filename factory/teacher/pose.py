"""``python -m factory.teacher.pose --video V --boxes DET.json --out KP.json [--frames A:B]
[--python /work/mp-venv/bin/python] [--vis 0.5] [--mask-pad 0.1] [--no-mask] [--raw RAW.npz]``

A pose **teacher** for a real video (issue 16 item 5, like the detection teacher of ``paraloupe-label``): every
non-crowd person box of a COCO JSON (the detection teacher's ``annotations.json``, image id = frame index) is
labelled with MediaPipe's BlazePose GHUM *full* landmark model (Apache-2.0; ``pose_landmark_full.tflite``, 6.4 MB,
shipped inside the mediapipe 0.10.14 wheel — no download). MediaPipe runs in a **separate** virtual environment
(``--python``) as a subprocess (:mod:`factory.teacher.mediapipe_pose_worker`); the two exchange a JSON request and an
NPZ answer, so this environment never imports mediapipe.

Output: a COCO keypoint JSON in the project's convention (docs/keypoints.md) — one annotation per person box (same
``bbox``), 17 slots, eyes/ears unlabelled, ``num_keypoints`` = count of v > 0; an annotation with no labelled
point (the teacher found no pose, or its pose is not this box's person: :func:`matches_box`) has
``num_keypoints`` 0, which COCO's OKS evaluation ignores. Mapping (:func:`landmarks_to_coco17`):

- BlazePose landmarks 11–16, 23–28 → COCO slots 5–16 (shoulders, elbows, wrists, hips, knees, ankles);
- slot 0 ``nose`` = the **head centre** (the project's nose, the world figure's head circle centre): the mean of
  BlazePose's 11 face landmarks 0–10 (``--nose nose``: BlazePose's own nose landmark 0, COCO's definition);
- ``v = 2`` where the landmark's visibility (MediaPipe's sigmoid "visible and not occluded" score) is at least
  ``--vis`` (default 0.5) and the point is inside the frame, else ``v = 0``, ``x = y = 0`` (the teacher does not
  say where an occluded point is reliably, so occluded points are unlabelled rather than ``v = 1``); the head
  centre takes the mean visibility of the face landmarks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.errors import UserError, cli_entry, run_cli
from runtime.keypoint_task import person_boxes
from runtime.keypoints import COCO_NAMES
from runtime.video import parse_frames, video_info

#: BlazePose's 33 landmarks → COCO slot, for the 12 limb points (slot 0, the nose, is :data:`FACE` or ``0``).
BLAZEPOSE_TO_COCO: dict[int, int] = {11: 5, 12: 6, 13: 7, 14: 8, 15: 9, 16: 10, 23: 11, 24: 12, 25: 13, 26: 14,
                                     27: 15, 28: 16}
#: BlazePose's face landmarks (nose, eyes inner/centre/outer, ears, mouth corners): their mean is the head centre.
FACE: tuple[int, ...] = tuple(range(11))
N_LANDMARKS = 33
DEFAULT_PYTHON = "/work/mp-venv/bin/python"
WORKER = Path(__file__).with_name("mediapipe_pose_worker.py")


def landmarks_to_coco17(landmarks: np.ndarray, vis: float, width: int, height: int, nose: str = "head"
                        ) -> np.ndarray:
    """``(33, ≥4)`` BlazePose landmarks ``[x, y, (z), visibility]`` in frame px → ``(17, 3)`` COCO slots
    ``[x, y, v]`` (module docstring): v = 2 where visibility ≥ ``vis`` and the point lies in the ``width`` ×
    ``height`` px frame, else ``(0, 0, 0)``; eye/ear slots 1–4 always ``(0, 0, 0)``; NaN landmarks → unlabelled.
    ``nose``: ``head`` (mean of face landmarks 0–10, the project's head centre) or ``nose`` (landmark 0)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != N_LANDMARKS or lm.shape[1] < 4:
        raise UserError(f"landmarks: expected shape (33, >=4), got {lm.shape}")
    if nose not in ("head", "nose"):
        raise UserError(f"--nose: expected head or nose, got {nose!r}")
    xyv = lm[:, [0, 1, lm.shape[1] - 1]]
    src = {0: (list(FACE) if nose == "head" else [0])} | {c: [b] for b, c in BLAZEPOSE_TO_COCO.items()}
    out = np.zeros((len(COCO_NAMES), 3))
    for slot, idx in src.items():
        x, y, score = xyv[idx].mean(axis=0)
        if np.isfinite([x, y, score]).all() and score >= vis and 0 <= x < width and 0 <= y < height:
            out[slot] = (x, y, 2.0)
    return out


def matches_box(points: np.ndarray, box: Sequence[float], inside: float = 0.8, grow: float = 0.2,
                min_extent: float = 0.4) -> bool:
    """Whether labelled COCO points ``(17, 3)`` belong to the person of ``box`` (xywh px): at least ``inside`` of
    them lie in the box grown by ``grow`` × its size on every side, and they span at least ``min_extent`` × the
    box's height (a pose of a neighbour, or a tiny spurious skeleton, fails). No labelled point: False."""
    lab = points[points[:, 2] > 0]
    if len(lab) == 0:
        return False
    x, y, w, h = (float(v) for v in box)
    gx, gy = grow * w, grow * h
    ok = ((lab[:, 0] >= x - gx) & (lab[:, 0] <= x + w + gx) & (lab[:, 1] >= y - gy) & (lab[:, 1] <= y + h + gy))
    return bool(ok.mean() >= inside and np.ptp(lab[:, 1]) >= min_extent * h)


def run_worker(python: str, request: dict, timeout_s: float | None = None) -> dict[str, np.ndarray]:
    """Run :mod:`factory.teacher.mediapipe_pose_worker` under ``python`` (the mediapipe environment) on
    ``request`` and return its arrays."""
    if not Path(python).exists():
        raise UserError(f"--python: {python} not found (a virtual environment with mediapipe==0.10.14)")
    with tempfile.TemporaryDirectory(prefix="pose_teacher_") as tmp:
        req, out = Path(tmp) / "request.json", Path(tmp) / "out.npz"
        req.write_text(json.dumps(request))
        proc = subprocess.run([python, str(WORKER), str(req), str(out)], capture_output=True, text=True,
                              timeout=timeout_s)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"{WORKER.name}: failed under {python} (rc {proc.returncode}): {tail[0]}")
        with np.load(out) as data:
            return {k: data[k] for k in data.files}


def teacher_annotations(boxes: dict[int, list[list[float]]], landmarks: np.ndarray, found: np.ndarray,
                        vis: float, width: int, height: int, nose: str = "head") -> dict[int, list[dict]]:
    """Frame → COCO keypoint annotations (without ``id``): one per box of ``boxes`` (frame → xywh, in the order
    the landmarks ``(N, 33, 4)`` / ``found`` ``(N,)`` were computed: frames ascending, boxes in file order)."""
    frames: dict[int, list[dict]] = {}
    n = 0
    for fid in sorted(boxes):
        frames[fid] = []
        for box in boxes[fid]:
            pts = landmarks_to_coco17(landmarks[n], vis, width, height, nose) if found[n] else np.zeros((17, 3))
            if not matches_box(pts, box):
                pts = np.zeros((17, 3))
            x, y, w, h = box
            frames[fid].append({"image_id": int(fid), "category_id": 1, "bbox": [x, y, w, h],
                                "area": round(w * h, 2), "iscrowd": 0,
                                "keypoints": [round(float(v), 2) for v in pts.reshape(-1)],
                                "num_keypoints": int((pts[:, 2] > 0).sum())})
            n += 1
    return frames


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    from factory.world.keypoints import write_keypoints

    parser = argparse.ArgumentParser(prog="python -m factory.teacher.pose",
                                     description="Label a video's person boxes with MediaPipe's pose model.")
    parser.add_argument("--video", required=True, help="input video")
    parser.add_argument("--boxes", required=True, help="COCO JSON with person boxes (image id = frame index)")
    parser.add_argument("--out", required=True, help="COCO keypoint JSON to write")
    parser.add_argument("--frames", default=None, help="half-open frame range A:B (default: every frame)")
    parser.add_argument("--python", default=DEFAULT_PYTHON, help=f"python of the mediapipe venv ({DEFAULT_PYTHON})")
    parser.add_argument("--vis", type=float, default=0.5, help="visibility threshold for v = 2 (default 0.5)")
    parser.add_argument("--nose", choices=("head", "nose"), default="head", help="slot 0: head centre or nose")
    parser.add_argument("--min-height", type=float, default=24.0, help="skip person boxes lower than this (px)")
    parser.add_argument("--scale", type=float, default=1.5, help="crop side / the box's longer side")
    parser.add_argument("--side", type=int, default=384, help="crop side fed to MediaPipe (px)")
    parser.add_argument("--mask-pad", type=float, default=0.1,
                        help="grey out the crop outside the box grown by this × its height (default 0.1)")
    parser.add_argument("--no-mask", action="store_true", help="do not grey out the crop outside the box")
    parser.add_argument("--raw", default=None, help="also save the raw landmarks (NPZ)")
    args = parser.parse_args(argv)
    if not 0 <= args.vis <= 1:
        raise UserError(f"--vis: expected 0 <= vis <= 1, got {args.vis}")
    width, height, _ = video_info(args.video)
    wanted = parse_frames(args.frames)
    boxes = {f: b for f, b in person_boxes(args.boxes, args.min_height).items() if wanted is None or f in wanted}
    crops = [[f, *b] for f in sorted(boxes) for b in boxes[f]]
    request = {"video": str(args.video), "crops": crops, "side": args.side, "scale": args.scale,
               "mask_pad": None if args.no_mask else args.mask_pad, "model_complexity": 1}
    arrays = run_worker(args.python, request)
    if args.raw:
        from runtime.atomic import atomic_path

        with atomic_path(args.raw, suffix=".npz") as tmp:
            np.savez_compressed(tmp, crops=np.asarray(crops, dtype=np.float64).reshape(-1, 5), **arrays)
    frames = teacher_annotations(boxes, arrays["landmarks"], arrays["found"], args.vis, width, height, args.nose)
    labelled = sum(a["num_keypoints"] > 0 for anns in frames.values() for a in anns)
    info = {"description": "pose teacher: mediapipe 0.10.14 solutions.pose (BlazePose GHUM full)",
            "video": str(args.video), "boxes": str(args.boxes), "frames": args.frames, "vis": args.vis,
            "nose": args.nose, "mask_pad": request["mask_pad"], "scale": args.scale, "side": args.side,
            "persons": len(crops), "labelled": int(labelled),
            "teacher_ms_mean": round(float(arrays["ms"].mean()), 2) if len(crops) else 0.0}
    write_keypoints(args.out, frames, width, height, info)
    print(json.dumps({k: info[k] for k in ("persons", "labelled", "teacher_ms_mean")}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
