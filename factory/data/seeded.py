"""Patches as the closed loop cuts them, for the minis' training set (the closed-loop issue's item 7).

At run time a mini sees HighConf patches placed by the generator's rule (:func:`runtime.patches.proposer.
high_conf_rois`: the seed box fills ``r_high`` of a square-ish patch, at least ``min_patch_side`` px) on the
tracker's predictions — boxes that are off by the prediction error and grown by a margin — and, as often, on
seeds that hold nothing: a false track, a junk proposal. A patch set of crops centred exactly on objects teaches
a mini that the middle of a patch always holds one, so it fires on empty patches and its false positives seed
their own tracks.

So a sampled object becomes a *seed*: its box jittered (centre and size, ``seed_jitter`` × its side, normal) and
grown by a drawn ``seed_margin`` fraction of its longer side on every side, then cut by the generator's own rule
(``r_high``, ``min_patch_side`` of :class:`runtime.patches.config.PatchConfig`, so the two stay one). A *false
seed* is an object-sized box (the size of a random object of the same frame) at a random place whose centre lies
in no object; ``false_seeds`` of them per true seed. Every crop is labelled from the ground truth like any other
(:func:`factory.data.patchset.annotate_patch`): a false seed's patch mostly holds nothing, which is the point.

Planning uses only the annotations and a seeded generator, so the same inputs and seed give the same crops; no
trained model is needed (the pipeline stays acyclic).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from factory.data.patchset import FALSE_SEED, Crop, PatchParams, candidate_frames, eligible_objects
from runtime.coco import VideoAnnotations
from runtime.geometry import clip_boxes
from runtime.patches.config import PatchConfig
from runtime.patches.proposer import high_conf_rois


def noisy_seed(box: np.ndarray, jitter: float, margin: float, rng: np.random.Generator) -> np.ndarray:
    """``box`` ``[x, y, w, h]`` px as a tracker might predict it: centre and size jittered by ``jitter`` × its
    sides (normal), then grown by ``margin`` × its longer side on every side."""
    x, y, w, h = (float(v) for v in box)
    dx, dy, dw, dh = rng.normal(0.0, jitter, size=4)
    w2, h2 = w * float(np.exp(dw)), h * float(np.exp(dh))
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
    grow = margin * max(w2, h2)
    return np.array([cx - w2 / 2 - grow, cy - h2 / 2 - grow, w2 + 2 * grow, h2 + 2 * grow])


def false_seed(boxes: np.ndarray, width: int, height: int, rng: np.random.Generator,
               tries: int = 20) -> np.ndarray | None:
    """An object-sized box (the size of a random one of ``boxes``) placed uniformly in the frame with its centre
    inside no object; None when ``tries`` draws all land on objects."""
    w, h = boxes[rng.integers(len(boxes)), 2:4]
    for _ in range(tries):
        x, y = rng.uniform(0, max(width - w, 1)), rng.uniform(0, max(height - h, 1))
        cx, cy = x + w / 2, y + h / 2
        inside = (boxes[:, 0] <= cx) & (cx <= boxes[:, 0] + boxes[:, 2]) & \
                 (boxes[:, 1] <= cy) & (cy <= boxes[:, 1] + boxes[:, 3])
        if not inside.any():
            return np.array([x, y, w, h])
    return None


def plan_seeded(video: VideoAnnotations, frames: Iterable[int] | None, params: PatchParams,
                rng: np.random.Generator, rule: PatchConfig | None = None) -> list[Crop]:
    """``params.seeded_per_video`` seeded crops of one video (about ``false_seeds`` false ones per true one),
    placed by the generator's HighConf rule of ``rule`` (default: the runtime's default patch config)."""
    rule = rule or PatchConfig()
    n = params.seeded_per_video
    pairs = [(f, int(i)) for f in candidate_frames(video, frames, params.frame_step)
             for i in eligible_objects(video.frames[f], video.width, video.height, params.min_object_side)]
    if n == 0 or not pairs:
        return []
    n_true = int(round(n / (1.0 + params.false_seeds)))
    crops = []
    for k in rng.choice(len(pairs), size=n, replace=len(pairs) < n):
        f, i = pairs[int(k)]
        boxes = clip_boxes(video.frames[f].boxes, video.width, video.height)
        if len(crops) < n_true:
            seed = noisy_seed(boxes[i], params.seed_jitter, float(rng.uniform(*params.seed_margin)), rng)
            obj = i
        else:
            seed, obj = false_seed(boxes, video.width, video.height, rng), FALSE_SEED
            if seed is None:
                continue
        rect, _ = high_conf_rois(clip_boxes(seed[None], video.width, video.height), np.ones(1), rule.r_high,
                                 video.width, video.height, rule.min_patch_side)
        crops.append(Crop(f, obj, 0.0, tuple(int(v) for v in rect[0])))
    return crops
