"""Building one split of the datasets from COCO-labelled videos: the patch set and the ImageNet-style set.

Each source is a video, its COCO annotations (image id = frame index) and an optional frame range. The
video is decoded once, sequentially; only the frames some crop needs are cropped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory import paths
from factory.data.complexity import complexity, summarize, video_complexities
from factory.data.imagenet import (
    BACKGROUND,
    ImagenetParams,
    plan_background_crops,
    plan_object_crops,
    square_resize,
    write_jpeg,
)
from factory.data.patchset import (
    TILE,
    CocoImageWriter,
    Crop,
    PatchParams,
    annotate_patch,
    candidate_frames,
    crop_image,
    plan_crops,
)
from factory.data.seeded import plan_seeded
from factory.pipeline import resolve_path
from runtime.coco import VideoAnnotations, load_coco
from runtime.errors import UserError
from runtime.geometry import clip_boxes
from runtime.video import iter_frames, parse_frames


@dataclass
class Source:
    """One labelled video of a split."""

    video: str  # video file (anything OpenCV decodes)
    annotations: str  # COCO JSON of the video, image id = frame index
    frames: str | None = None  # half-open A:B of frames to use; null = all annotated frames
    optional: bool = False  # true: skipped (and reported) when the video or the annotations are absent


def world_source(name: str) -> Source:
    """The world stage's video ``name`` (e.g. ``train-static``) with its ground truth."""
    return Source(paths.world_video(name), paths.world_annotations(name))


#: the world stage's training videos (world.videos keys): the minis' patch set, the objectness model and the
#: baseline all learn from these, so the comparison is fair
TRAIN_WORLD_VIDEOS = ("train-static", "train-moving", "train-static-2", "train-moving-2")


#: world videos held out from the minis' first training pass: the closed loop's mistakes on them are the second
#: pass's hard examples (refine stage); the baseline trains on them too (:func:`baseline_train_sources`)
MINE_WORLD_VIDEOS = ("mine-static", "mine-moving", "mine-static-2", "mine-moving-2")


def train_sources() -> list[Source]:
    """Every training source: the world's training videos and the real video's training split."""
    return [world_source(name) for name in TRAIN_WORLD_VIDEOS] + [real_train_source()]


def mine_sources() -> list[Source]:
    """The world videos held out from the minis' first pass (:data:`MINE_WORLD_VIDEOS`)."""
    return [world_source(name) for name in MINE_WORLD_VIDEOS]


def refine_sources() -> list[Source]:
    """The refine stage's videos: :func:`mine_sources` and the first part of the real video's training split
    (optional), whose static distractors the teacher never labels."""
    return mine_sources() + [Source(paths.REAL_VIDEO, paths.label_annotations(paths.REAL_NAME),
                                    paths.REAL_MINE_FRAMES, optional=True)]


def baseline_train_sources() -> list[Source]:
    """The baseline's training videos: every frame either mini pass learns from (the training videos, the
    mining videos, the real video's training split), so the comparison is fair."""
    return [world_source(name) for name in TRAIN_WORLD_VIDEOS] + mine_sources() + [real_train_source()]


def real_train_source() -> Source:
    """The real video's training split with the teacher's labels; optional (absent without the shared data)."""
    return Source(paths.REAL_VIDEO, paths.label_annotations(paths.REAL_NAME), paths.REAL_TRAIN_FRAMES, optional=True)


def _imagenet_plan(video: VideoAnnotations, frames: range | None, params: ImagenetParams,
                   rng: np.random.Generator) -> dict[int, list[tuple[str, str, tuple[int, int, int, int]]]]:
    """Per frame, ``(file stem, class, crop)`` of the ImageNet-style crops of one video (capped)."""
    ids = candidate_frames(video, frames, params.frame_step)
    by_class: dict[str, list[tuple[int, str, tuple[int, int, int, int]]]] = defaultdict(list)
    for f in ids:
        for i, label, crop in plan_object_crops(video.frames[f], video.width, video.height, params, rng):
            by_class[label].append((f, f"{f:06d}_{i:03d}", crop))
    plan: dict[int, list[tuple[str, str, tuple[int, int, int, int]]]] = defaultdict(list)
    for label in sorted(by_class):
        items = by_class[label]
        if len(items) > params.max_per_class_per_video:
            pick = np.sort(rng.choice(len(items), params.max_per_class_per_video, replace=False))
            items = [items[j] for j in pick]
        for f, stem, crop in items:
            plan[f].append((stem, label, crop))
    if ids and params.background_per_video:
        chosen = rng.choice(ids, size=params.background_per_video, replace=True)
        for f in sorted(set(int(c) for c in chosen)):
            n = int((chosen == f).sum())
            crops = plan_background_crops(video.frames[f], video.width, video.height, n,
                                          params.min_object_side, rng)
            plan[f].extend((f"{f:06d}_bg{k:02d}", BACKGROUND, c) for k, c in enumerate(crops))
    return plan


@dataclass
class _SplitBuild:
    """What building one split accumulates: the patch-set writer, counts per class, O(I) values."""

    writer: CocoImageWriter
    imagenet_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    centre_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    frame_o: list[float | None] = field(default_factory=list)  # O(I) of the source frames
    patch_o: list[float | None] = field(default_factory=list)  # O(I) of the object-centred patches
    r_actual: list[float] = field(default_factory=list)  # centre object area / patch area, as cut
    tiles: int = 0
    false_seeds: int = 0
    used: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def build_split(name: str, sources: list[Source], patches_dir: Path, imagenet_dir: Path, patches: PatchParams,
                imagenet: ImagenetParams, seed: int, split_index: int = 0) -> dict[str, Any]:
    """Build the patch set ``patches_dir`` and the ImageNet-style folders ``imagenet_dir`` of one split.

    Returns the split's metrics: O(I) of the source frames and of the patches, counts per class, and the
    sources that were skipped (optional and absent). Deterministic for a given ``seed``.
    """
    build = _SplitBuild(CocoImageWriter(patches_dir, [], patches.jpeg_quality, patches.jpeg_chroma))
    for si, src in enumerate(sources):
        _add_source(build, name, si, src, imagenet_dir, patches, imagenet, seed, split_index)
    writer = build.writer
    for label in writer.categories + [BACKGROUND]:
        (imagenet_dir / label).mkdir(parents=True, exist_ok=True)
    writer.close({"split": name, "seed": seed, "sources": build.used,
                  "description": "ParaLoupe low-complexity patch set (paper III-B3)"})
    return _split_metrics(build)


def _add_source(build: _SplitBuild, name: str, si: int, src: Source, imagenet_dir: Path, patches: PatchParams,
                imagenet: ImagenetParams, seed: int, split_index: int) -> None:
    """Cut source ``si`` of split ``name`` into ``build`` (an optional absent source is noted as skipped);
    its random draws come from generators seeded with ``[seed, split_index, si, ...]``."""
    video_path, ann_path = resolve_path(src.video), resolve_path(src.annotations)
    absent = [str(p) for p in (video_path, ann_path) if not p.is_file()]
    if absent and src.optional:
        build.skipped.append({"source": src.annotations, "reason": f"absent: {', '.join(absent)}"})
        return
    video = load_coco(ann_path)
    writer = build.writer
    for label in video.categories:
        if label not in writer.categories:
            writer.categories.append(label)
    frames = parse_frames(src.frames, f"{name}[{si}].frames")
    crops = plan_crops(video, frames, patches, np.random.default_rng([seed, split_index, si, 0]))
    crops += plan_seeded(video, frames, patches, np.random.default_rng([seed, split_index, si, 2]))
    crops.sort(key=lambda c: c.frame)
    im_plan = _imagenet_plan(video, frames, imagenet, np.random.default_rng([seed, split_index, si, 1]))
    build.frame_o.extend(video_complexities(video, frames))
    by_frame: dict[int, list[Crop]] = defaultdict(list)
    for c in crops:
        by_frame[c.frame].append(c)
    needed = sorted(set(by_frame) | set(im_plan))
    build.used.append({"video": str(video_path), "annotations": str(ann_path), "frames": src.frames,
                       "patches": len(crops)})
    if not needed:
        return
    for fid, image in iter_frames(video_path, needed):
        if (image.shape[1], image.shape[0]) != (video.width, video.height):
            raise UserError(f"{video_path}: frame size {image.shape[1]}x{image.shape[0]} differs from "
                            f"{ann_path} ({video.width}x{video.height})")
        _write_patches(build, image, video, fid, by_frame.get(fid, []), video_path.name, patches)
        for stem, label, crop in im_plan.get(fid, []):
            write_jpeg(imagenet_dir / label / f"{split_index}{si:02d}_{stem}.jpg",
                       square_resize(image, crop, imagenet.size), imagenet.jpeg_quality,
                       imagenet.jpeg_chroma)
            build.imagenet_counts[label] += 1


def _write_patches(build: _SplitBuild, image: np.ndarray, video: VideoAnnotations, fid: int, crops: list[Crop],
                   source: str, patches: PatchParams) -> None:
    """Cut ``crops`` (object-centred patches and random tiles) out of frame ``fid`` (BGR ``image``)."""
    fa = video.frames[fid]
    for c in crops:
        objs, _ = annotate_patch(fa, c.patch, video.width, video.height, patches.min_visible)
        pw, ph = c.patch[2] - c.patch[0], c.patch[3] - c.patch[1]
        crop, scale = crop_image(image, c.patch, patches.max_side)
        if c.obj < 0:  # a random tile or a false seed: no centre object
            build.writer.add(crop, objs, scale, source=source, frame=fid, patch=list(c.patch),
                             r=0.0, scale=round(scale, 4), label="tile" if c.obj == TILE else "false-seed")
            if c.obj == TILE:
                build.tiles += 1
            else:
                build.false_seeds += 1
            continue
        centre = clip_boxes(fa.boxes[c.obj], video.width, video.height)[0]
        ra = float(centre[2] * centre[3] / (pw * ph))
        build.writer.add(crop, objs, scale, source=source, frame=fid, patch=list(c.patch),
                         r=round(c.r, 4), r_actual=round(ra, 4), scale=round(scale, 4),
                         label=fa.labels[c.obj])
        build.patch_o.append(complexity(objs.boxes, pw, ph, objs.iscrowd))
        build.r_actual.append(ra)
        build.centre_counts[fa.labels[c.obj]] += 1


def _split_metrics(build: _SplitBuild) -> dict[str, Any]:
    """The split's metrics (see :func:`build_split`)."""
    writer = build.writer
    labels = list(writer.categories) + sorted(set(build.imagenet_counts) - set(writer.categories) - {BACKGROUND})
    anns: dict[str, int] = defaultdict(int)
    for a in writer.annotations:
        if not a["iscrowd"]:
            anns[writer.categories[a["category_id"] - 1]] += 1
    return {
        "frames_O": summarize(build.frame_o),
        "patches_O": summarize(build.patch_o),
        "patches": len(writer.images),
        "tiles": build.tiles,
        "false_seeds": build.false_seeds,
        "patch_centres": {k: build.centre_counts.get(k, 0) for k in writer.categories},
        "patch_objects": {k: anns.get(k, 0) for k in writer.categories},
        "patch_r_actual_mean": float(np.mean(build.r_actual)) if build.r_actual else 0.0,
        "imagenet": {k: build.imagenet_counts.get(k, 0) for k in labels + [BACKGROUND]},
        "sources_used": len(build.used),
        "sources_skipped": build.skipped,
    }
