"""Hard examples for the minis: what the closed loop gets wrong on labelled videos they never trained on.

Minis trained on the patch set fit its few world layouts (on the training videos the loop makes almost no
background false positives), so their errors on new layouts cannot be found there. Here the runtime's own
loop (:class:`runtime.loop.ClosedLoop` through :func:`runtime.replay.run_loop`, default loop and patch
settings) runs first-pass minis in torch — every patch to one mini, the tile pass to the baseline at the
loop's ``whole_side`` — over held-out labelled videos. Every reported box the evaluator counts as a false
positive (:func:`runtime.evaluate.match_objects`) becomes a patch centred on it, sized as the loop's HighConf
patch around a track (the box's longer side = ``side_ratio`` of the patch side) and labelled from the ground
truth, so the next training pass sees the distractor and whatever true objects share the patch.

    rects = hard_patch_rects(false_positive_boxes(gt, preds), gt.width, gt.height, MiningParams())
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from factory.data.imagenet import STORED_JPEG_CHROMA
from factory.data.patchset import CocoImageWriter, annotate_patch, crop_image
from factory.models.detector import spec_colour
from factory.train.data import PAD_VALUE, letterbox_frame
from factory.train.evaluation import run_batch
from runtime.coco import VideoAnnotations
from runtime.config import bounded
from runtime.detections import Detections
from runtime.evaluate import FP, match_objects
from runtime.geometry import Letterbox, clip_boxes, iou_matrix
from runtime.infer import Inference
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopConfig, LoopSettings
from runtime.modes import JpegChroma, Mode
from runtime.patches.config import PatchConfig
from runtime.patches.objectness import ObjectnessModel
from runtime.replay import run_loop
from runtime.tracker import TrackerConfig
from runtime.video import iter_frames, video_info

Rect = tuple[int, int, int, int]


@dataclass
class MiningParams:
    """How loop false positives become training patches (``refine.mining``)."""

    side_ratio: float = bounded(0.5, "a false positive's longer side as a fraction of its patch's side (the "
                                     "loop's HighConf patches hold tracked objects at about this)", gt=0.0, le=1.0)
    min_side: int = bounded(32, "smallest patch side, px", ge=8)
    dedupe_frames: int = bounded(3, "a false positive overlapping (IoU >= dedupe_iou) one already taken within "
                                    "this many frames is the same distractor: skipped", ge=0)
    dedupe_iou: float = bounded(0.5, "see dedupe_frames", gt=0.0, le=1.0)
    per_video_cap: int = bounded(1500, "most patches per video (a seeded sample above it)", ge=1)
    min_visible: float = bounded(0.5, "objects less visible than this inside a patch are marked crowd (ignored)",
                                 gt=0.0, le=1.0)
    max_side: int = bounded(320, "patches are stored at most this many px on their longer side", ge=32)
    jpeg_quality: int = bounded(95, "JPEG quality of the stored patches", ge=1, le=100)
    jpeg_chroma: JpegChroma = bounded(STORED_JPEG_CHROMA, "colour sampling of the stored images: yuv420 | yuv444 "
                                                          "(as the runtime sends patches; measured lower, README)")
    seed: int = 0


class TorchDetector:
    """A torch detector as the loop's inference step: image (BGR uint8, as the loop decodes its JPEGs) →
    :class:`Inference` in the image's pixels. The networks were trained on RGB
    (:func:`factory.train.data.to_tensor`), so each letterboxed image is turned to RGB (unless the spec says
    ``colour: bgr``, :func:`factory.models.detector.spec_colour`), as the runtime's ncnn models do. Minis
    letterbox to their square input; the baseline (``side``) to ``side`` px on the longer side, as the runtime's
    resized baseline; detections below the model's tuned threshold (or ``min_score``, when the loop asks for
    candidates) are dropped. :meth:`batch` is the loop's batched step (:func:`runtime.replay.run_loop` uses it
    when a detector has one)."""

    def __init__(self, model: torch.nn.Module, side: int | None = None) -> None:
        self.model = model.eval()
        self.spec = model.spec  # type: ignore[attr-defined]
        self.side = int(side or self.spec["input_size"])
        self.square = self.spec["kind"] == "mini"
        self.rgb = spec_colour(self.spec) == "rgb"

    def __call__(self, image: np.ndarray, min_score: float | None = None) -> Inference:
        return self.batch([image], [min_score])[0]

    def batch(self, images: Sequence[np.ndarray], min_scores: Sequence[float | None]) -> list[Inference]:
        """Several images at once (one forward pass per input shape: a frame's patches all letterbox to a mini's
        square input); ``infer_ms`` is each image's share of the time."""
        t0 = time.perf_counter()
        canvases, boxes = [], []
        for image in images:
            h, w = image.shape[:2]
            if self.square:
                lb = Letterbox.fit(w, h, self.side)
                canvas = lb.apply(image, PAD_VALUE)
            else:
                canvas, lb = letterbox_frame(image, self.side, self.model.size_multiple)  # type: ignore[attr-defined]
            # the loop's images are BGR; flip the (grey-padded, usually smaller) canvas, not the image
            canvases.append(np.ascontiguousarray(canvas[..., ::-1]) if self.rgb else canvas)
            boxes.append(lb)
        decode = self.spec["decode"]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, canvas in enumerate(canvases):
            by_shape.setdefault(canvas.shape, []).append(i)
        raw: dict[int, Detections] = {}
        for idx in by_shape.values():
            dets = run_batch(self.model, [canvases[i] for i in idx], [boxes[i] for i in idx], self.spec["classes"],
                             decode, self.spec["mean"], self.spec["std"])
            raw.update(zip(idx, dets, strict=True))
        share = (time.perf_counter() - t0) * 1000.0 / max(len(images), 1)
        out = []
        for i, (image, min_score) in enumerate(zip(images, min_scores, strict=True)):
            det, (h, w) = raw[i], image.shape[:2]
            keep = det.scores >= (decode["score_threshold"] if min_score is None else min_score)
            out.append(Inference(Detections(clip_boxes(det.boxes[keep], w, h),
                                             [lab for lab, k in zip(det.labels, keep, strict=True) if k],
                                             det.scores[keep]), share))
        return out


def loop_predictions(video: str | Path, gt: VideoAnnotations, mini: torch.nn.Module,
                     baseline: torch.nn.Module | None, objectness: ObjectnessModel | None,
                     frames: range | None = None) -> dict[int, Detections]:
    """The closed loop's reported detections on every annotated frame of ``video`` (frame id → Detections),
    or on the frames of ``frames`` among them (the loop starts at the range's first frame), every patch
    inferred by ``mini``, the tile pass by ``baseline`` at the loop's ``whole_side`` (None: no tile pass).

    The tracker confirms every track here (``confirm_mean_score`` 0): that gate keeps a mini's middling-score
    false positives out of the report, but the miner must still see them (with it on, a fresh build mined 2838
    false positives instead of 4978 on mine-static, and its minis were less precise: test-static P 0.77 against
    0.85)."""
    loop_cfg = LoopConfig(tracker=TrackerConfig(confirm_mean_score=0.0))
    if baseline is None:
        loop_cfg.whole_every = 0
    _, _, fps = video_info(video)
    loop = ClosedLoop(LoopSettings(Mode.PARALOUPE, PatchConfig(), loop=loop_cfg, fps=fps or 25.0), objectness)
    first, last = min(gt.frames), max(gt.frames) + 1
    ids = range(first, last) if frames is None else \
        range(max(first, frames.start), min(last, frames.stop), frames.step)
    mini_step = TorchDetector(mini)
    detectors = {"mini": mini_step,
                 "baseline": TorchDetector(baseline, loop_cfg.whole_side) if baseline is not None else mini_step}
    with torch.no_grad():
        return {s.detections.frame: s.detections for s in run_loop(loop, iter_frames(video, ids), detectors)}


def false_positive_boxes(gt: VideoAnnotations, preds: Mapping[int, Detections]) -> dict[int, np.ndarray]:
    """Per frame, the predicted boxes (xywh px) the evaluator counts as false positives (IoU 0.5 matching,
    crowd regions ignored); frames without any are absent."""
    out: dict[int, np.ndarray] = {}
    for fid, det in preds.items():
        frame = gt.frames.get(fid)
        if frame is None or len(det) == 0:
            continue
        _, outcome = match_objects(frame, det.boxes, list(det.labels), det.scores)
        if (outcome == FP).any():
            out[fid] = det.boxes[outcome == FP]
    return out


def hard_patch_rects(boxes_by_frame: Mapping[int, np.ndarray], width: int, height: int,
                     params: MiningParams) -> dict[int, list[Rect]]:
    """Square patches ``[x0, y0, x1, y1]`` px around the false positives (frame id → rects), one per
    distractor per ``dedupe_frames`` frames, shifted inside the frame; at most ``per_video_cap`` in all
    (a seeded sample)."""
    taken: list[tuple[int, np.ndarray]] = []  # (frame, box) of recent patches, for the dedupe
    plans: list[tuple[int, Rect]] = []
    for fid in sorted(boxes_by_frame):
        taken = [(f, b) for f, b in taken if fid - f <= params.dedupe_frames]
        for box in np.asarray(boxes_by_frame[fid], dtype=np.float64).reshape(-1, 4):
            recent = np.array([b for _, b in taken]).reshape(-1, 4)
            if len(recent) and iou_matrix(box[None], recent).max() >= params.dedupe_iou:
                continue
            taken.append((fid, box))
            side = min(max(float(params.min_side), box[2:].max() / params.side_ratio), width, height)
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            x0 = int(np.clip(round(cx - side / 2), 0, width - side))
            y0 = int(np.clip(round(cy - side / 2), 0, height - side))
            plans.append((fid, (x0, y0, x0 + int(side), y0 + int(side))))
    if len(plans) > params.per_video_cap:
        pick = np.random.default_rng(params.seed).choice(len(plans), params.per_video_cap, replace=False)
        plans = [plans[i] for i in sorted(pick)]
    out: dict[int, list[Rect]] = {}
    for fid, rect in plans:
        out.setdefault(fid, []).append(rect)
    return out


def write_hard_patches(video: str | Path, gt: VideoAnnotations, rects: Mapping[int, Sequence[Rect]],
                       writer: CocoImageWriter, params: MiningParams, source: str) -> int:
    """Cut ``rects`` out of ``video``'s frames into ``writer`` (objects from ``gt``); returns the count."""
    count = 0
    if not rects:
        return count
    for fid, image in iter_frames(video, sorted(rects)):
        for rect in rects[fid]:
            objects, _ = annotate_patch(gt.frames[fid], rect, gt.width, gt.height, params.min_visible)
            crop, scale = crop_image(image, rect, params.max_side)
            writer.add(crop, objects, scale, source=source, frame=fid, kind="hard-example")
            count += 1
    return count
