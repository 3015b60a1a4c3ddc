"""F1 of detectors through the runtime's own decoding (:mod:`runtime.decode`) and evaluator
(:mod:`runtime.evaluate`), on patch sets, on single-object patches cut around a video's ground truth, and on
whole frames at a given width.

Every evaluation decodes once at a low score threshold and then sweeps ``THRESHOLDS`` with the evaluator's
``min_score``; :class:`Scores` keeps the F1 of each, so a model's operating threshold is picked on
validation data and then applied unchanged to the test data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from factory.data.patchset import PatchSet, annotate_patch, crop_image, eligible_objects
from factory.train.data import PAD_VALUE, Frame, letterbox_frame, to_tensor
from runtime.coco import FrameAnnotations, VideoAnnotations
from runtime.decode import decode
from runtime.detections import Detections
from runtime.evaluate import EvalResult, evaluate
from runtime.geometry import Letterbox, clip_boxes, patch_around_box

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.10, 0.71, 0.05))
FLOOR = min(THRESHOLDS)


@dataclass
class Scores:
    """Evaluation of one model on one input set: F1 per score threshold, and the full result at ``chosen``."""

    f1: dict[float, float]
    results: dict[float, EvalResult] = field(repr=False)
    count: int

    @property
    def best_threshold(self) -> float:
        return max(self.f1, key=lambda t: (self.f1[t], -abs(t - 0.3)))

    @property
    def best_f1(self) -> float:
        return self.f1[self.best_threshold]

    def at(self, threshold: float) -> EvalResult:
        """The result at the sweep threshold nearest to ``threshold``."""
        return self.results[min(self.results, key=lambda t: abs(t - threshold))]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def run_batch(model: nn.Module, images: list[np.ndarray], letterboxes: list[Letterbox], classes: Sequence[str],
              decode_params: dict[str, Any], mean: Sequence[float], std: Sequence[float]) -> list[Detections]:
    """Run ``model`` on same-sized input canvases; per image its detections, boxes in source pixels (unclipped)."""
    x = torch.stack([to_tensor(im, mean, std) for im in images]).to(_device(model))
    outputs = [o.float().cpu().numpy() for o in model(x)]
    strides = model.strides  # type: ignore[attr-defined]
    out = []
    params = {**decode_params, "score_threshold": min(FLOOR, decode_params.get("score_threshold", FLOOR))}
    for i, lb in enumerate(letterboxes):
        det = decode([o[i:i + 1] for o in outputs], strides, classes, **params)
        out.append(Detections(lb.boxes_to_source(det.boxes), det.labels, det.scores))
    return out


def sweep(gt: VideoAnnotations, preds: dict[int, Detections]) -> Scores:
    """Evaluate ``preds`` at every threshold of ``THRESHOLDS``."""
    results = {t: evaluate(gt, preds, 0.5, min_score=t) for t in THRESHOLDS}
    return Scores({t: r.overall.f1 for t, r in results.items()}, results, len(gt.frames))


def _predict_pending(model: nn.Module, pending: list[tuple[int, np.ndarray, Letterbox]], classes: Sequence[str],
                     decode_params: dict[str, Any], preds: dict[int, Detections]) -> None:
    """Run the queued ``(key, canvas, letterbox)`` items as one batch into ``preds`` and empty the queue."""
    spec = model.spec  # type: ignore[attr-defined]
    res = run_batch(model, [p[1] for p in pending], [p[2] for p in pending], classes, decode_params,
                    spec["mean"], spec["std"])
    for (key, _, lb), det in zip(pending, res, strict=False):
        preds[key] = Detections(clip_boxes(det.boxes, lb.src_w, lb.src_h), det.labels, det.scores, key)
    pending.clear()


def _run_items(model: nn.Module, items: Iterable[tuple[int, np.ndarray, FrameAnnotations]], size: int,
               classes: Sequence[str], decode_params: dict[str, Any], batch: int,
               gt_frames: dict[int, FrameAnnotations], preds: dict[int, Detections]) -> None:
    """Letterbox each item's image to ``size`` × ``size`` and collect predictions (batched)."""
    pending: list[tuple[int, np.ndarray, Letterbox]] = []

    def flush() -> None:
        _predict_pending(model, pending, classes, decode_params, preds)

    for key, image, ann in items:
        gt_frames[key] = ann
        lb = Letterbox.fit(image.shape[1], image.shape[0], size)
        pending.append((key, lb.apply(image, PAD_VALUE), lb))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()


def evaluate_patch_set(model: nn.Module, splits: Sequence[PatchSet], size: int, decode_params: dict[str, Any],
                       batch: int = 32, limit: int | None = None) -> Scores:
    """F1 on patch-set images (each one a 'frame'), letterboxed to ``size``; ``limit`` caps the images used."""
    classes = model.spec["classes"]  # type: ignore[attr-defined]

    index = [(ps, i) for ps in splits for i in range(len(ps))]
    if limit is not None and len(index) > limit:  # an evenly spread subset (every source represented)
        index = [index[int(j)] for j in np.linspace(0, len(index) - 1, limit)]

    def items() -> Iterable[tuple[int, np.ndarray, FrameAnnotations]]:
        for k, (ps, i) in enumerate(index):
            image, ann, _ = ps[i]
            yield k, image, ann

    gt_frames: dict[int, FrameAnnotations] = {}
    preds: dict[int, Detections] = {}
    _run_items(model, items(), size, classes, decode_params, batch, gt_frames, preds)
    return sweep(VideoAnnotations(list(classes), gt_frames, size, size), preds)


def gt_patches(frames: Sequence[Frame], width: int, height: int, r_range: tuple[float, float], seed: int,
               min_object_side: float = 8.0, min_visible: float = 0.5, max_side: int = 320
               ) -> Iterable[tuple[np.ndarray, FrameAnnotations]]:
    """Single-object patches cut around every eligible ground-truth object (the patch set's geometry: r
    uniform in ``r_range``, :func:`patch_around_box`), with the objects inside in patch pixels."""
    rng = np.random.default_rng(seed)
    for fr in frames:
        objs = eligible_objects(fr.ann, width, height, min_object_side)
        if not len(objs):
            continue
        image = fr.image()
        boxes = clip_boxes(fr.ann.boxes, width, height)
        for i in objs:
            r = float(rng.uniform(*r_range))
            patch = patch_around_box(boxes[i], r, width, height)
            crop, scale = crop_image(image, patch, max_side)
            ann, _ = annotate_patch(fr.ann, patch, width, height, min_visible)
            ann.boxes = ann.boxes * scale
            yield crop, ann


def evaluate_gt_patches(model: nn.Module, frames: Sequence[Frame], width: int, height: int, size: int,
                        decode_params: dict[str, Any], r_range: tuple[float, float] = (0.5, 1.0), seed: int = 0,
                        batch: int = 32) -> Scores:
    """F1 on single-object patches cut around the ground truth of ``frames`` (see :func:`gt_patches`)."""
    classes = model.spec["classes"]  # type: ignore[attr-defined]
    items = ((k, crop, ann) for k, (crop, ann) in enumerate(gt_patches(frames, width, height, r_range, seed)))
    gt_frames: dict[int, FrameAnnotations] = {}
    preds: dict[int, Detections] = {}
    _run_items(model, items, size, classes, decode_params, batch, gt_frames, preds)
    return sweep(VideoAnnotations(list(classes), gt_frames, width, height), preds)


def evaluate_frames(model: nn.Module, frames: Sequence[Frame], width: int, decode_params: dict[str, Any],
                    batch: int = 4) -> Scores:
    """F1 on whole frames letterboxed to ``width`` pixels wide (see :func:`letterbox_frame`)."""
    spec = model.spec  # type: ignore[attr-defined]
    classes = spec["classes"]
    multiple = model.size_multiple  # type: ignore[attr-defined]
    model.check_input(multiple, width)  # type: ignore[attr-defined]
    gt_frames: dict[int, FrameAnnotations] = {}
    preds: dict[int, Detections] = {}
    pending: list[tuple[int, np.ndarray, Letterbox]] = []

    def flush() -> None:
        _predict_pending(model, pending, classes, decode_params, preds)

    for k, fr in enumerate(frames):
        gt_frames[k] = fr.ann
        canvas, lb = letterbox_frame(fr.image(), width, multiple)
        if pending and canvas.shape != pending[0][1].shape:  # frames of another size: a new batch
            flush()
        pending.append((k, canvas, lb))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return sweep(VideoAnnotations(list(classes), gt_frames, 0, 0), preds)
