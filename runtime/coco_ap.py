"""COCO average precision of a video's predictions — AP50 and AP@[.5:.95], per class and overall — beside the F1
of :mod:`runtime.evaluate`.

The figures are COCO's own, computed by ``faster-coco-eval`` (a numpy-only C++ re-implementation of
pycocotools' ``COCOeval``; the optional extra ``pip install 'paraloupe[coco]'``): bbox IoU, the 101-point
interpolated precision, at most 100 detections per frame (``maxDets``), ground truth ``iscrowd`` boxes
ignored the COCO way (a detection overlapping one, by intersection over the detection's area, is neither
TP nor FP). Per class: the mean over the IoU thresholds 0.50:0.05:0.95 (AP) or at 0.50 alone (AP50); overall:
the mean over the classes that have ground truth (COCO's macro mean — the F1 beside it is micro, pooled).
A frame is an image (id = frame index); detections of a class the ground truth does not list are left out.

Unlike F1, AP ranks detections down to low scores: give it the frame's detections before any score
threshold (:data:`runtime.predictions.RANKED_KEY`, read by :func:`runtime.predictions.read_ranked`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.coco import VideoAnnotations, coco_dict
from runtime.detections import Detections
from runtime.errors import UserError

#: How to get the optional dependency (printed where it is missing).
INSTALL_HINT = "pip install 'paraloupe[coco]'"


def available() -> bool:
    """Whether ``faster-coco-eval`` is importable here."""
    return importlib.util.find_spec("faster_coco_eval") is not None


@dataclass
class APResult:
    """AP50 and AP@[.5:.95] (0–1) overall and per class (None: the class has no ground truth in the frames),
    over ``frames`` ground-truth frames; ``source`` names what was ranked (``detections`` or the ranked key)."""

    ap50: float
    ap: float
    per_class: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    frames: int = 0
    source: str = "detections"

    def as_dict(self) -> dict[str, Any]:
        return {"ap50": round(self.ap50, 6), "ap": round(self.ap, 6), "frames": self.frames, "source": self.source,
                "per_class": {name: {"ap50": _round(a50), "ap": _round(a)}
                              for name, (a50, a) in self.per_class.items()}}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _quiet(*_: Any, **__: Any) -> None:
    """faster-coco-eval's print function: silent (stdout carries the evaluator's JSON)."""


def average_precision(gt: VideoAnnotations, preds: Mapping[int, Detections], frames: tuple[int, int] | None = None,
                      min_score: float = 0.0, source: str = "detections") -> APResult:
    """COCO AP of ``preds`` (frame index → detections, frame px) against ``gt`` on its frames in the half-open
    range ``frames`` (all if None); detections scoring below ``min_score`` are dropped first. Needs
    ``faster-coco-eval`` (:func:`available`); a prediction for a frame the ground truth lacks is a UserError."""
    from faster_coco_eval import COCO, COCOeval_faster

    for fid in preds:
        if fid not in gt.frames:
            raise UserError(f"predictions: frame {fid} is not in the ground truth")
    lo, hi = frames if frames is not None else (min(gt.frames, default=0), max(gt.frames, default=-1) + 1)
    ids = [f for f in gt.frame_ids if lo <= f < hi]
    if not ids:
        raise UserError(f"--frames: no ground-truth frame in [{lo}, {hi})")
    truth = coco_dict(gt)
    truth["images"] = [im for im in truth["images"] if lo <= im["id"] < hi]
    truth["annotations"] = [a for a in truth["annotations"] if lo <= a["image_id"] < hi]
    cat_ids = {c["name"]: c["id"] for c in truth["categories"]}
    found = [{"image_id": fid, "category_id": cat_ids[lab], "score": float(s), "bbox": [float(v) for v in box]}
             for fid in ids if fid in preds
             for box, lab, s in zip(preds[fid].boxes, preds[fid].labels, preds[fid].scores, strict=True)
             if lab in cat_ids and s >= min_score]
    coco_gt = COCO(truth, print_function=_quiet)
    run = COCOeval_faster(coco_gt, coco_gt.loadRes(found), iouType="bbox", print_function=_quiet)
    run.params.imgIds = ids
    run.evaluate()
    run.accumulate()
    precision = run.eval["precision"][:, :, :, 0, -1]  # (IoU thresholds, recall points, classes): area all, 100 dets
    at50 = int(np.argmin(np.abs(run.params.iouThrs - 0.5)))
    per_class: dict[str, tuple[float | None, float | None]] = {}
    for k, cid in enumerate(run.params.catIds):
        p = precision[:, :, k]
        name = next(n for n, i in cat_ids.items() if i == cid)
        per_class[name] = (float(p[at50].mean()), float(p.mean())) if (p > -1).all() else (None, None)
    valid = [v for v in per_class.values() if v[0] is not None]
    ap50 = float(np.mean([v[0] for v in valid])) if valid else 0.0
    ap = float(np.mean([v[1] for v in valid])) if valid else 0.0
    return APResult(ap50, ap, per_class, len(ids), source)


def format_ap(result: APResult) -> str:
    """A readable table of the result (for stderr)."""
    lines = [f"COCO AP ({result.source}), {result.frames} frames", f"{'class':<10} {'AP50':>7} {'AP':>7}"]
    rows = [*result.per_class.items(), ("overall", (result.ap50, result.ap))]
    for name, (a50, a) in rows:
        lines.append(f"{name:<10} " + " ".join(f"{v:>7.3f}" if v is not None else f"{'-':>7}" for v in (a50, a)))
    return "\n".join(lines)
