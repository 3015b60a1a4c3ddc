"""COCO keypoint AP (OKS) of keypoint predictions against a COCO keypoint ground truth (docs/keypoints.md).

Computed by ``faster-coco-eval`` in ``keypoints`` mode (the optional ``coco`` extra, as
:mod:`runtime.coco_ap`) with COCO's 17 per-keypoint sigmas (:data:`runtime.keypoints.SIGMAS`): AP is the
mean over OKS thresholds 0.50:0.05:0.95 of the 101-point interpolated precision, AP50 / AP75 at one
threshold, over all object sizes, at most 20 persons per image. Unlabelled points (v = 0: the eye and ear
slots, points outside the image) do not count; ground truth with no labelled point is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from runtime.errors import UserError
from runtime.keypoints import SIGMAS, to_coco17


def _quiet(*_: Any, **__: Any) -> None:
    """faster-coco-eval's print function: silent."""


def keypoint_results(predictions: Mapping[int, Sequence[tuple[np.ndarray, float]]]) -> list[dict[str, Any]]:
    """COCO keypoint results from image id → persons ``((13, 2+) body points px, score)``."""
    out = []
    for iid, persons in predictions.items():
        for points, score in persons:
            pts = np.zeros((len(points), 3))
            pts[:, :2] = np.asarray(points)[:, :2]
            pts[:, 2] = 1.0
            out.append({"image_id": int(iid), "category_id": 1, "keypoints": to_coco17(pts), "score": float(score)})
    return out


def keypoint_ap(truth: Mapping[str, Any], results: list[dict[str, Any]]) -> dict[str, float]:
    """``{"ap", "ap50", "ap75", "images"}`` (0–1) of COCO keypoint ``results`` against the ground-truth dict
    ``truth`` (COCO keypoint JSON: images, annotations with keypoints, categories)."""
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError:
        raise UserError("keypoint AP needs faster-coco-eval: pip install 'paraloupe[coco]'") from None
    ids = {im["id"] for im in truth["images"]}
    missing = [r["image_id"] for r in results if r["image_id"] not in ids]
    if missing:
        raise UserError(f"keypoint results: image {missing[0]} is not in the ground truth")
    if not results:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "images": len(ids)}
    coco_gt = COCO(dict(truth), print_function=_quiet)
    run = COCOeval_faster(coco_gt, coco_gt.loadRes(results), iouType="keypoints", print_function=_quiet,
                          kpt_oks_sigmas=list(SIGMAS))
    run.evaluate()
    run.accumulate()
    precision = run.eval["precision"][:, :, 0, 0, -1]  # (OKS thresholds, recall points): person, area all, max dets
    thr = run.params.iouThrs

    def mean(p: np.ndarray) -> float:
        p = p[p > -1]
        return float(p.mean()) if p.size else 0.0

    return {"ap": mean(precision), "ap50": mean(precision[int(np.argmin(np.abs(thr - 0.5)))]),
            "ap75": mean(precision[int(np.argmin(np.abs(thr - 0.75)))]), "images": len(ids)}
