"""The low-complexity patch set (paper §III-B3) from any COCO-labelled video, and its loader.

For each sampled object (not ``iscrowd``, both box sides ≥ ``min_object_side`` px) a patch is cut with
:func:`runtime.geometry.patch_around_box` at an area ratio r drawn uniformly from ``r_range`` per crop
(CONVENTIONS.md geometry). Every object that falls inside the patch is annotated in patch pixels, clipped
to the patch: normally when at least ``min_visible`` of its (frame-clipped) box lies inside, as an
``iscrowd`` (ignored) region when less does or when the source marks it crowd. Patches are stored as
JPEG at native resolution, scaled down to at most ``max_side`` px, with one COCO JSON per split:

    <split>/annotations.json   images: id, file_name (images/NNNNNNN.jpg), width, height, source, frame,
                               patch [x0, y0, x1, y1] in the frame, r (drawn), r_actual, scale
    <split>/images/*.jpg

The sampling (frames, objects, r) depends only on the annotations and the seed, so the same inputs and
seed give the same set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory.data.imagenet import STORED_JPEG_CHROMA, write_jpeg
from runtime.coco import FrameAnnotations, VideoAnnotations, parse_coco
from runtime.config import bounded
from runtime.errors import UserError
from runtime.geometry import clip_boxes, patch_around_box
from runtime.modes import JpegChroma


@dataclass
class PatchParams:
    """How the low-complexity patch set is cut (the ``datasets.patches`` params block)."""

    r_range: list[float] = bounded([0.02, 1.0], "object area / patch area, drawn per crop (r_sampling)")
    r_sampling: str = bounded("log", "how r is drawn from r_range: uniform, or log (log-uniform: as many "
                                     "crops with r in [0.02, 0.2] as in [0.1, 1])")
    min_object_side: float = bounded(8.0, "objects with a box side below this (px) are not crop centres", ge=1)
    min_visible: float = bounded(0.5, "fraction of an object inside a patch to annotate it (else iscrowd)",
                                 gt=0.0, le=1.0)
    max_side: int = bounded(320, "stored patches are scaled down to at most this side (px)", ge=16)
    jpeg_quality: int = bounded(95, "JPEG quality of stored patches", ge=1, le=100)
    jpeg_chroma: JpegChroma = bounded(STORED_JPEG_CHROMA, "colour sampling of the stored images: yuv420 | yuv444 "
                                                          "(as the runtime sends patches; measured lower, README)")
    frame_step: int = bounded(5, "use every n-th annotated frame of a video", ge=1)
    large_object_side: float = bounded(0.0, "objects whose (frame-clipped) longer side is at least this, px, are "
                                             "crop centres on every annotated frame, not every frame_step-th: "
                                             "close-up objects are rare in the videos and the minis under-score "
                                             "them (0 = off)", ge=0.0)
    max_crops_per_video: int = bounded(1500, "cap on patches cut from one video (random subset)", ge=1)
    tiles_per_video: int = bounded(300, "extra crops per video that are random frame tiles (any objects "
                                        "inside), like the EP-k and refresh tiles the runtime sends", ge=0)
    tile_width: list[float] = bounded([0.2, 0.5], "tile width as a fraction of the frame width, drawn "
                                                   "uniformly; height keeps the frame's aspect (x 0.75–1.33)")
    seeded_per_video: int = bounded(1500, "extra crops per video that the closed loop's patch rule places on "
                                       "noisy ground-truth seeds (a tracker's predictions: jittered, grown by a "
                                       "margin), plus false seeds — the patches the minis see at run time",
                                    ge=0)
    seed_jitter: float = bounded(0.15, "std of a seed's centre and size jitter, fraction of the box side", ge=0.0,
                                 le=1.0)
    seed_margin: list[float] = bounded([0.0, 0.3], "a seed grows by a drawn fraction of its longer side on "
                                                    "every side (the tracker's prediction margin)")
    false_seeds: float = bounded(0.5, "false seeds (object-sized boxes at random places: a false track, a junk "
                                      "proposal) per true seed", ge=0.0, le=10.0)

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        check_r_range(self.r_range, f"{where}.r_range")
        if self.r_sampling not in ("uniform", "log"):
            raise UserError(f"{where}.r_sampling: expected uniform or log, got {self.r_sampling!r}")
        check_r_range(self.tile_width, f"{where}.tile_width")  # the same [lo, hi] in (0, 1] rule
        if len(self.seed_margin) != 2 or not 0.0 <= self.seed_margin[0] <= self.seed_margin[1] <= 2.0:
            raise UserError(f"{where}.seed_margin: expected [lo, hi] with 0 <= lo <= hi <= 2, got {self.seed_margin}")


def check_r_range(r_range: list[float], where: str) -> None:
    """``[lo, hi]`` with 0 < lo <= hi <= 1, else a UserError naming ``where``."""
    if len(r_range) != 2 or not 0.0 < r_range[0] <= r_range[1] <= 1.0:
        raise UserError(f"{where}: expected [lo, hi] with 0 < lo <= hi <= 1, got {r_range}")


TILE = -1  #: Crop.obj of a random frame tile
FALSE_SEED = -2  #: Crop.obj of a patch placed on a false seed


@dataclass(frozen=True)
class Crop:
    """One planned crop: ``frame``, index ``obj`` of the centre object (:data:`TILE` for a tile,
    :data:`FALSE_SEED` for a patch on a false seed), drawn ``r`` (0 for those), ``patch`` rectangle."""

    frame: int
    obj: int
    r: float
    patch: tuple[int, int, int, int]


def candidate_frames(video: VideoAnnotations, frames: Iterable[int] | None, step: int) -> list[int]:
    """Annotated frames inside ``frames`` (all when None), every ``step``-th one."""
    ids = video.frame_ids if frames is None else [f for f in frames if f in video.frames]
    return ids[::step]


def eligible_objects(frame: FrameAnnotations, width: int, height: int, min_side: float) -> np.ndarray:
    """Indices of the non-crowd objects whose frame-clipped box has both sides ≥ ``min_side``."""
    if not len(frame):
        return np.zeros(0, dtype=np.int64)
    boxes = clip_boxes(frame.boxes, width, height)
    ok = (~frame.iscrowd) & (boxes[:, 2] >= min_side) & (boxes[:, 3] >= min_side)
    return np.flatnonzero(ok)


def large_pairs(video: VideoAnnotations, frames: Iterable[int] | None, params: PatchParams) -> list[tuple[int, int]]:
    """(frame, object) pairs of the objects with a longer side >= ``large_object_side`` px on the annotated
    frames that ``frame_step`` skips (the frames it keeps hold them already)."""
    kept = set(candidate_frames(video, frames, params.frame_step))
    out = []
    for f in candidate_frames(video, frames, 1):
        if f in kept:
            continue
        fr = video.frames[f]
        idx = eligible_objects(fr, video.width, video.height, params.min_object_side)
        if len(idx) == 0:
            continue
        sides = clip_boxes(fr.boxes[idx], video.width, video.height)[:, 2:].max(axis=1)
        out += [(f, int(i)) for i in idx[sides >= params.large_object_side]]
    return out


def plan_crops(video: VideoAnnotations, frames: Iterable[int] | None, params: PatchParams,
               rng: np.random.Generator) -> list[Crop]:
    """Choose the crops of one video (at most ``max_crops_per_video``), sorted by frame."""
    pairs = [(f, int(i)) for f in candidate_frames(video, frames, params.frame_step)
             for i in eligible_objects(video.frames[f], video.width, video.height, params.min_object_side)]
    if params.large_object_side > 0.0:
        pairs = sorted(pairs + large_pairs(video, frames, params))
    if len(pairs) > params.max_crops_per_video:
        pick = np.sort(rng.choice(len(pairs), params.max_crops_per_video, replace=False))
        pairs = [pairs[i] for i in pick]
    lo, hi = params.r_range
    if hi <= lo:
        rs = np.full(len(pairs), lo)
    elif params.r_sampling == "log":
        rs = np.exp(rng.uniform(np.log(lo), np.log(hi), size=len(pairs)))
    else:
        rs = rng.uniform(lo, hi, size=len(pairs))
    crops = []
    for (f, i), r in zip(pairs, rs, strict=False):
        box = clip_boxes(video.frames[f].boxes[i], video.width, video.height)[0]
        crops.append(Crop(f, i, float(r), patch_around_box(box, float(r), video.width, video.height)))
    frame_ids = candidate_frames(video, frames, params.frame_step)
    if frame_ids and params.tiles_per_video:
        crops += [Crop(f, TILE, 0.0, rect) for f, rect in plan_tiles(frame_ids, video.width, video.height,
                                                                      params, rng)]
    return sorted(crops, key=lambda c: c.frame)


def plan_tiles(frame_ids: list[int], width: int, height: int, params: PatchParams,
               rng: np.random.Generator) -> list[tuple[int, tuple[int, int, int, int]]]:
    """``tiles_per_video`` random (frame, rectangle) tiles: width a drawn fraction of the frame width,
    height that times the frame aspect (jittered x 0.75–1.33), placed uniformly inside the frame."""
    out = []
    for _ in range(params.tiles_per_video):
        f = int(frame_ids[rng.integers(len(frame_ids))])
        tw = max(8, int(round(rng.uniform(*params.tile_width) * width)))
        th = max(8, min(height, int(round(tw * height / width * np.exp(rng.uniform(np.log(0.75), np.log(4 / 3)))))))
        x0, y0 = int(rng.integers(0, width - tw + 1)), int(rng.integers(0, height - th + 1))
        out.append((f, (x0, y0, x0 + tw, y0 + th)))
    return out


def annotate_patch(frame: FrameAnnotations, patch: tuple[int, int, int, int], width: int, height: int,
                   min_visible: float) -> tuple[FrameAnnotations, np.ndarray]:
    """The objects of ``frame`` inside ``patch``, boxes in patch pixels (clipped to it), and their visible
    fractions. Objects less than ``min_visible`` inside, or crowd in the source, become ``iscrowd``."""
    if not len(frame):
        return FrameAnnotations(), np.zeros(0)
    x0, y0, x1, y1 = patch
    full = clip_boxes(frame.boxes, width, height)
    local = full.copy()
    local[:, 0] -= x0
    local[:, 1] -= y0
    inside = clip_boxes(local, x1 - x0, y1 - y0)
    area = full[:, 2] * full[:, 3]
    vis_area = inside[:, 2] * inside[:, 3]
    visible = np.where(area > 0, vis_area / np.maximum(area, 1e-12), 0.0)
    keep = vis_area > 0
    sub = frame.select(keep)
    sub.boxes = inside[keep]
    sub.iscrowd = sub.iscrowd | (visible[keep] < min_visible)
    return sub, visible[keep]


def crop_image(image: np.ndarray, patch: tuple[int, int, int, int], max_side: int) -> tuple[np.ndarray, float]:
    """Cut ``patch`` out of ``image``; scale it down to at most ``max_side`` px. Returns (crop, scale)."""
    import cv2

    x0, y0, x1, y1 = patch
    crop = image[y0:y1, x0:x1]
    scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
    if scale < 1.0:
        size = (max(1, int(round((x1 - x0) * scale))), max(1, int(round((y1 - y0) * scale))))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop), scale


class CocoImageWriter:
    """Accumulates JPEG images + annotations of one split and writes ``annotations.json`` at the end."""

    def __init__(self, split_dir: Path, categories: list[str], jpeg_quality: int, jpeg_chroma: JpegChroma) -> None:
        self.dir = Path(split_dir)
        (self.dir / "images").mkdir(parents=True, exist_ok=True)
        self.categories = list(categories)
        self.quality = int(jpeg_quality)
        self.chroma = jpeg_chroma
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def add(self, image: np.ndarray, objects: FrameAnnotations, box_scale: float, **meta: Any) -> dict[str, Any]:
        """Write ``image`` (BGR) as the next JPEG with ``objects`` (boxes in crop pixels, times ``box_scale``)."""
        iid = len(self.images)
        name = f"images/{iid:07d}.jpg"
        write_jpeg(self.dir / name, image, self.quality, self.chroma)
        entry = {"id": iid, "file_name": name, "width": int(image.shape[1]), "height": int(image.shape[0])}
        entry.update(meta)
        self.images.append(entry)
        for j in range(len(objects)):
            label = objects.labels[j]
            if label not in self.categories:
                self.categories.append(label)
            x, y, w, h = (round(float(v) * box_scale, 2) for v in objects.boxes[j])
            ann = {"id": len(self.annotations) + 1, "image_id": iid,
                   "category_id": self.categories.index(label) + 1, "bbox": [x, y, w, h],
                   "area": round(w * h, 2), "iscrowd": int(objects.iscrowd[j])}
            if objects.track_ids[j] >= 0:
                ann["track_id"] = int(objects.track_ids[j])
            if objects.scores[j] != 1.0:
                ann["score"] = round(float(objects.scores[j]), 4)
            self.annotations.append(ann)
        return entry

    def close(self, info: dict[str, Any]) -> Path:
        """Write ``annotations.json`` atomically (last, so a complete JSON means a complete split)."""
        from runtime.atomic import write_json

        target = self.dir / "annotations.json"
        cats = [{"id": i + 1, "name": n} for i, n in enumerate(self.categories)]
        write_json(target, {"info": info, "images": self.images, "annotations": self.annotations,
                            "categories": cats}, indent=None)
        return target


class PatchSet:
    """Reads a patch-set split (any COCO JSON whose images are files beside it): ``len``, and
    ``[i] -> (RGB uint8 image, FrameAnnotations in image pixels, image entry)``."""

    def __init__(self, annotations: str | Path, image_root: str | Path | None = None) -> None:
        path = Path(annotations)
        if path.is_dir():
            path = path / "annotations.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: cannot read COCO JSON ({type(exc).__name__})") from None
        parsed = parse_coco(data, str(path))
        self.path = path
        self.root = Path(image_root) if image_root is not None else path.parent
        self.categories = parsed.categories
        self.images: list[dict[str, Any]] = sorted(data["images"], key=lambda e: e["id"])
        for i, entry in enumerate(self.images):
            if not isinstance(entry.get("file_name"), str):
                raise UserError(f"{path}: images[{i}]: missing field 'file_name'")
        self.targets = parsed.frames

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, FrameAnnotations, dict[str, Any]]:
        import cv2

        entry = self.images[i]
        file = self.root / entry["file_name"]
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{file}: cannot read image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self.targets[entry["id"]], entry

    def __iter__(self) -> Iterator[tuple[np.ndarray, FrameAnnotations, dict[str, Any]]]:
        for i in range(len(self)):
            yield self[i]
