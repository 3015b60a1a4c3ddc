"""The pose teacher's worker: runs MediaPipe's legacy ``solutions.pose`` (BlazePose GHUM *full*, the
``pose_landmark_full.tflite`` + ``pose_detection.tflite`` the mediapipe 0.10.14 wheel ships) on person crops of a
video, **in the separate virtual environment that has mediapipe** (``python mediapipe_pose_worker.py REQ.json
OUT.npz``). It imports only the standard library, numpy, OpenCV and mediapipe — never the project — so the project's
own environment never imports mediapipe (its opencv-contrib-python clashes with opencv-python-headless).

Request (JSON): ``video`` (path), ``crops`` (list of ``[frame, x, y, w, h]``, box in frame px), ``side`` (px, the
square crop fed to MediaPipe), ``scale`` (crop side / the box's longer side), ``mask_pad`` (the box is kept, grown
by this fraction of its height on every side, and everything else in the crop is painted grey 114 so that a
neighbour's body does not capture the detector; ``null``: no mask), ``model_complexity`` (1 = full: the only one
the wheel ships; 0 and 2 would be downloaded, which fails offline).

Output (NPZ): ``landmarks`` (N, 33, 4) float32 ``[x, y, z, visibility]`` — x, y in frame px, z in the crop's
px-scaled depth units, visibility in [0, 1] — NaN rows where MediaPipe found no pose; ``found`` (N,) bool;
``ms`` (N,) float32 MediaPipe's time per crop, ms. Written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

GREY = 114


def crop_square(image: np.ndarray, box: list[float], scale: float, side: int, mask_pad: float | None
                ) -> tuple[np.ndarray, float, float, float]:
    """The square crop (``side`` × ``side`` px, RGB) centred on ``box`` (xywh frame px) of side ``scale`` × the
    box's longer side, grey outside the frame (and outside the grown box with ``mask_pad``); and its origin
    ``x0, y0`` and edge length ``s`` in frame px."""
    x, y, w, h = box
    s = max(w, h) * scale
    x0, y0 = x + w / 2 - s / 2, y + h / 2 - s / 2
    img = image
    if mask_pad is not None:
        pad = mask_pad * h
        img = np.full_like(image, GREY)
        xa, ya = max(int(np.floor(x - pad)), 0), max(int(np.floor(y - pad)), 0)
        xb, yb = min(int(np.ceil(x + w + pad)), image.shape[1]), min(int(np.ceil(y + h + pad)), image.shape[0])
        img[ya:yb, xa:xb] = image[ya:yb, xa:xb]
    k = side / s
    affine = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]], dtype=np.float64)
    import cv2

    out = cv2.warpAffine(img, affine, (side, side), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(GREY, GREY, GREY))
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB), x0, y0, s


def run(request: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run the request (module docstring) and return the output arrays."""
    import cv2
    import mediapipe as mp

    crops = request["crops"]
    side, scale = int(request.get("side", 384)), float(request.get("scale", 1.5))
    mask_pad = request.get("mask_pad", 0.1)
    by_frame: dict[int, list[int]] = {}
    for n, c in enumerate(crops):
        by_frame.setdefault(int(c[0]), []).append(n)
    landmarks = np.full((len(crops), 33, 4), np.nan, dtype=np.float32)
    found = np.zeros(len(crops), dtype=bool)
    ms = np.zeros(len(crops), dtype=np.float32)
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=int(request.get("model_complexity", 1)),
                                  enable_segmentation=False)
    cap = cv2.VideoCapture(request["video"])
    if not cap.isOpened():
        raise SystemExit(f"{request['video']}: cannot open video")
    last = max(by_frame, default=-1)
    for fid in range(last + 1):  # sequential decoding: exact frame indices (seeking an AVI may not be)
        if fid not in by_frame:
            if not cap.grab():
                raise SystemExit(f"{request['video']}: cannot read frame {fid}")
            continue
        ok, image = cap.read()
        if not ok:
            raise SystemExit(f"{request['video']}: cannot read frame {fid}")
        for n in by_frame[fid]:
            rgb, x0, y0, s = crop_square(image, [float(v) for v in crops[n][1:5]], scale, side, mask_pad)
            t = time.perf_counter()
            result = pose.process(rgb)
            ms[n] = (time.perf_counter() - t) * 1000.0
            if result.pose_landmarks is None:
                continue
            found[n] = True
            for k, lm in enumerate(result.pose_landmarks.landmark):
                landmarks[n, k] = (x0 + lm.x * s, y0 + lm.y * s, lm.z * s, lm.visibility)
    pose.close()
    return {"landmarks": landmarks, "found": found, "ms": ms}


def main(argv: list[str]) -> int:
    """``python mediapipe_pose_worker.py REQ.json OUT.npz``."""
    if len(argv) != 2:
        print("usage: mediapipe_pose_worker.py REQUEST.json OUT.npz", file=sys.stderr)
        return 2
    with open(argv[0]) as handle:
        request = json.load(handle)
    arrays = run(request)
    tmp = argv[1] + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
