"""Checks of exported ncnn models through the runtime's own inference (:class:`runtime.infer.Detector`):
torch vs ncnn parity on real inputs, F1 on a held-out patch set (COCO JSON + images), and — for the
whole-frame baseline — F1 on held-out video frames, each letterboxed whole into the model's square input.

``bundle_dir`` + ``manifest`` are what :class:`runtime.infer.Detector` reads: the export folder and its
``models.json`` typed as a :class:`runtime.manifest.Manifest` (classes and models, no profiles yet) serve as a
bundle in the making.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from factory.export.servable import recall_by_side, servable_range
from runtime.coco import FrameAnnotations, VideoAnnotations, load_coco
from runtime.evaluate import evaluate
from runtime.infer import Detector
from runtime.manifest import Manifest
from runtime.video import iter_frames, parse_frames


def read_images(annotations: str | Path, count: int | None = None) -> list[tuple[int, np.ndarray]]:
    """``(image id, BGR uint8 image)`` of a COCO patch set, ``count`` of them evenly spread (None: all)."""
    import json

    import cv2

    path = Path(annotations)
    path = path / "annotations.json" if path.is_dir() else path
    entries = sorted(json.loads(path.read_text())["images"], key=lambda e: e["id"])
    if count is not None and count < len(entries):
        entries = [entries[int(i)] for i in np.linspace(0, len(entries) - 1, count)]
    out = []
    for e in entries:
        image = cv2.imread(str(path.parent / e["file_name"]), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(path.parent / e["file_name"])
        out.append((int(e["id"]), image))
    return out


def parity(model: nn.Module, detector: Detector, images: Sequence[np.ndarray]) -> dict[str, float]:
    """Torch vs ncnn on the same preprocessed inputs: max |diff| over all outputs and the smallest cosine
    similarity of one image's concatenated outputs."""
    worst, cos_min = 0.0, 1.0
    for image in images:
        x, _ = detector.preprocess(image)
        with torch.no_grad():
            ref = [o[0].numpy() for o in model(torch.from_numpy(x)[None])]
        got = detector.raw(x)
        for r, g in zip(ref, got, strict=False):
            if r.shape != g.shape:
                raise ValueError(f"output shape {g.shape} from ncnn, {r.shape} from torch")
            worst = max(worst, float(np.abs(r - g).max()))
        a = np.concatenate([r.ravel() for r in ref])
        b = np.concatenate([g.ravel() for g in got])
        cos_min = min(cos_min, float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)))
    return {"max_abs_diff": worst, "cosine_min": cos_min, "images": len(images)}


def output_cosine(reference: Detector, other: Detector, images: Sequence[np.ndarray]) -> float:
    """Smallest cosine similarity between two ncnn models' raw outputs over ``images``."""
    cos_min = 1.0
    for image in images:
        x, _ = reference.preprocess(image)
        a = np.concatenate([o.ravel() for o in reference.raw(x)])
        b = np.concatenate([o.ravel() for o in other.raw(x)])
        cos_min = min(cos_min, float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)))
    return cos_min


def patch_f1(bundle_dir: str | Path, manifest: Manifest, name: str, annotations: str | Path,
             images: Sequence[tuple[int, np.ndarray]] | None = None, threads: int = 1) -> dict[str, float]:
    """F1 (IoU 0.5, CONVENTIONS) of model ``name`` on a COCO patch set, each image one 'frame', at the
    manifest's own decoding (score threshold included)."""
    path = Path(annotations)
    path = path / "annotations.json" if path.is_dir() else path
    gt = load_coco(path)
    det = Detector(bundle_dir, name, manifest, threads)
    preds, sizes = {}, {}
    for image_id, image in images if images is not None else read_images(path):
        preds[image_id] = det(image).detections.with_frame(image_id)
        sizes[image_id] = (image.shape[1], image.shape[0])
    result = evaluate(gt, preds, 0.5)
    o = result.overall
    bins = recall_by_side(gt, preds, sizes, det.size)
    return {"f1": o.f1, "precision": o.precision, "recall": o.recall, "images": len(preds),
            "recall_by_side": bins, "servable_px": servable_range(bins)}


def read_frames(sources: Sequence[tuple[str | Path, str | Path, str | None]], step: int
                ) -> tuple[VideoAnnotations, list[tuple[int, np.ndarray]]]:
    """Every ``step``-th annotated frame of the ``(video, annotations, frames A:B or None)`` sources, renumbered
    0, 1, ... across videos: their ground truth and ``(key, BGR frame)``."""
    frames: dict[int, FrameAnnotations] = {}
    images: list[tuple[int, np.ndarray]] = []
    categories: list[str] = []
    for video, ann_path, span in sources:
        gt = load_coco(ann_path)
        categories = categories or list(gt.categories)
        wanted = parse_frames(span, f"{ann_path}: frames")
        ids = [f for f in gt.frame_ids if wanted is None or f in wanted][::step]
        for fid, image in iter_frames(video, ids):
            frames[len(images)] = gt.frames[fid]
            images.append((len(images), image))
    return VideoAnnotations(categories, frames, 0, 0), images


def frames_f1(bundle_dir: str | Path, manifest: Manifest, name: str, gt: VideoAnnotations,
              images: Sequence[tuple[int, np.ndarray]], threads: int = 1) -> dict[str, float]:
    """F1 (IoU 0.5) of model ``name`` on whole frames (from :func:`read_frames`), at the manifest's decoding."""
    det = Detector(bundle_dir, name, manifest, threads)
    preds = {}
    for key, image in images:
        preds[key] = det(image).detections.with_frame(key)
    o = evaluate(gt, preds, 0.5).overall
    return {"f1": o.f1, "precision": o.precision, "recall": o.recall, "images": len(preds)}
