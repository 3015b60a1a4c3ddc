"""The single-person keypoint crop set (paper §IV-H: one person per input) from the world videos.

For each sampled person (not ``iscrowd``, box height ≥ ``min_person_height`` px, at least
``min_labelled`` of its 13 body points in the frame) a crop is cut with :func:`runtime.geometry.patch_around_box`
at an area ratio r = box area / crop area drawn uniformly from ``r_range`` (default [0.5, 1], as the
detection patch set's r). Only the centre person is annotated (single-person input); its keypoints and box
are moved to crop pixels, and points outside the crop become v = 0 (docs/keypoints.md). Crops are stored as
JPEG at native resolution, scaled down to at most ``max_side`` px, with one COCO keypoint JSON per split:

    <split>/annotations.json   images: id, file_name, width, height, source, frame, patch [x0, y0, x1, y1], r,
                               scale; annotations: bbox, area, keypoints (17×[x, y, v]), num_keypoints, track_id
    <split>/images/*.jpg

The sampling depends only on the keypoint files and the seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory import paths
from factory.data.imagenet import STORED_JPEG_CHROMA, write_jpeg
from factory.data.patchset import check_r_range, crop_image
from factory.pipeline import resolve_path
from factory.world.keypoints import FILE as KEYPOINTS_FILE
from factory.world.keypoints import PERSON_CATEGORY, load_keypoints
from runtime.atomic import write_json
from runtime.config import bounded
from runtime.errors import UserError
from runtime.geometry import clip_boxes, patch_around_box
from runtime.keypoints import from_coco17, to_coco17
from runtime.modes import JpegChroma
from runtime.video import iter_frames

SPLITS = ("train", "val", "test")


@dataclass
class KeypointSetParams:
    """How the crop set is cut (the ``keypoints.crops`` params block)."""

    r_range: list[float] = bounded([0.5, 1.0], "person box area / crop area, drawn uniformly per crop")
    min_person_height: float = bounded(24.0, "persons whose box is lower than this (px) are not used", ge=4)
    min_labelled: int = bounded(8, "persons with fewer body points in the frame (v > 0) are not used", ge=1, le=13)
    frame_step: int = bounded(3, "use every n-th frame of a video", ge=1)
    max_crops_per_video: int = bounded(600, "cap on crops cut from one video (random subset)", ge=1)
    max_side: int = bounded(256, "stored crops are scaled down to at most this side (px)", ge=16)
    jpeg_quality: int = bounded(95, "JPEG quality of stored crops", ge=1, le=100)
    jpeg_chroma: JpegChroma = bounded(STORED_JPEG_CHROMA, "colour sampling of the stored images: yuv420 | yuv444 "
                                                          "(as the runtime sends patches; measured lower, README)")

    def validate(self, where: str) -> None:
        check_r_range(self.r_range, f"{where}.r_range")


def world_videos(split: str) -> list[str]:
    """The world videos a split is cut from: train videos for train, val for val, test for test."""
    from factory.data.builder import TRAIN_WORLD_VIDEOS

    return {"train": list(TRAIN_WORLD_VIDEOS), "val": ["val-static", "val-moving"],
            "test": ["test-static", "test-moving", "test-switch"]}[split]


def plan_person_crops(frames: dict[int, list[dict[str, Any]]], width: int, height: int, params: KeypointSetParams,
                      rng: np.random.Generator) -> list[tuple[int, dict[str, Any], float, tuple[int, int, int, int]]]:
    """``(frame, annotation, r, patch)`` of the crops of one video, sorted by frame."""
    pairs = []
    for f in sorted(frames)[::params.frame_step]:
        for a in frames[f]:
            body = from_coco17(a["keypoints"])
            if a["iscrowd"] or a["bbox"][3] < params.min_person_height or (body[:, 2] > 0).sum() < params.min_labelled:
                continue
            pairs.append((f, a))
    if len(pairs) > params.max_crops_per_video:
        pick = np.sort(rng.choice(len(pairs), params.max_crops_per_video, replace=False))
        pairs = [pairs[i] for i in pick]
    rs = rng.uniform(*params.r_range, size=len(pairs))
    out = []
    for (f, a), r in zip(pairs, rs, strict=True):
        box = clip_boxes(np.asarray(a["bbox"], dtype=np.float64), width, height)[0]
        out.append((f, a, float(r), patch_around_box(box, float(r), width, height)))
    return out


def crop_person(ann: dict[str, Any], patch: tuple[int, int, int, int], scale: float) -> tuple[np.ndarray, list[float]]:
    """The person's ``(13, 3)`` body points and ``[x, y, w, h]`` box in crop pixels (scaled by ``scale``);
    points outside the crop get v = 0 and x = y = 0."""
    x0, y0, x1, y1 = patch
    body = from_coco17(ann["keypoints"]).copy()
    inside = (body[:, 2] > 0) & (body[:, 0] >= x0) & (body[:, 0] < x1) & (body[:, 1] >= y0) & (body[:, 1] < y1)
    body[:, 0] = (body[:, 0] - x0) * scale
    body[:, 1] = (body[:, 1] - y0) * scale
    body[~inside] = 0.0
    box = clip_boxes(np.asarray(ann["bbox"], dtype=np.float64) - [x0, y0, 0, 0], x1 - x0, y1 - y0)[0] * scale
    return body, [round(float(v), 2) for v in box]


def build_keypoint_split(split: str, videos: list[str], out_dir: Path, params: KeypointSetParams, seed: int,
                         world_dir: str = paths.WORLD_DIR) -> dict[str, Any]:
    """Cut the crops of ``videos`` (world video names under ``world_dir``) into ``out_dir``; returns counts."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for vi, name in enumerate(videos):
        folder = resolve_path(world_dir) / name
        kp_file, video = folder / KEYPOINTS_FILE, folder / "video.mp4"
        if not kp_file.is_file():
            raise UserError(f"{kp_file}: no keypoint ground truth (run the world stage)")
        frames, width, height = load_keypoints(kp_file)
        rng = np.random.default_rng([seed, SPLITS.index(split), vi])
        plan = plan_person_crops(frames, width, height, params, rng)
        by_frame: dict[int, list[tuple[dict[str, Any], float, tuple[int, int, int, int]]]] = {}
        for f, a, r, patch in plan:
            by_frame.setdefault(f, []).append((a, r, patch))
        for fid, image in iter_frames(video, sorted(by_frame)) if by_frame else ():
            for a, r, patch in by_frame[fid]:
                crop, scale = crop_image(image, patch, params.max_side)
                body, box = crop_person(a, patch, scale)
                iid = len(images)
                file = f"images/{iid:07d}.jpg"
                write_jpeg(out_dir / file, crop, params.jpeg_quality, params.jpeg_chroma)
                images.append({"id": iid, "file_name": file, "width": int(crop.shape[1]), "height": int(crop.shape[0]),
                               "source": name, "frame": int(fid), "patch": list(patch), "r": round(r, 4),
                               "scale": round(scale, 4)})
                anns.append({"id": iid + 1, "image_id": iid, "category_id": 1, "bbox": box,
                             "area": round(box[2] * box[3], 2), "iscrowd": 0, "track_id": int(a["track_id"]),
                             "keypoints": to_coco17(body), "num_keypoints": int((body[:, 2] > 0).sum())})
    write_json(out_dir / "annotations.json", {"info": {"split": split, "seed": seed, "videos": videos},
                                              "images": images, "annotations": anns,
                                              "categories": [PERSON_CATEGORY]}, indent=None)
    labelled = [a["num_keypoints"] for a in anns]
    return {"crops": len(images), "mean_labelled": float(np.mean(labelled)) if labelled else 0.0}


class KeypointSet:
    """Reads a crop-set split: ``len``, ``[i] -> (RGB uint8 image, (13, 3) body points, box, image entry)``."""

    def __init__(self, split_dir: str | Path) -> None:
        self.dir = Path(split_dir)
        path = self.dir / "annotations.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read the keypoint crop set ({type(exc).__name__})") from None
        self.data = data
        self.images = sorted(data["images"], key=lambda e: e["id"])
        by_image = {a["image_id"]: a for a in data["annotations"]}
        self.anns = [by_image[e["id"]] for e in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, list[float], dict[str, Any]]:
        import cv2

        file = self.dir / self.images[i]["file_name"]
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{file}: cannot read image")
        a = self.anns[i]
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), from_coco17(a["keypoints"]), a["bbox"], self.images[i]
