"""COCO keypoint AP (OKS) of keypoint predictions against a COCO keypoint ground truth (docs/keypoints.md).

Computed by ``faster-coco-eval`` in ``keypoints`` mode (the optional ``coco`` extra, as
:mod:`runtime.coco_ap`) with COCO's 17 per-keypoint sigmas (:data:`runtime.keypoints.SIGMAS`): AP is the
mean over OKS thresholds 0.50:0.05:0.95 of the 101-point interpolated precision, AP50 / AP75 at one
threshold, over all object sizes, at most 20 persons per image. Unlabelled points (v = 0: the eye and ear
slots, points outside the image) do not count; ground truth with no labelled point is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import UserError, read_text
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


def read_pose_lines(path: str | Path) -> dict[int, list[tuple[np.ndarray, float]]]:
    """Frame → persons ``((13, 3) body points px, score)`` from a ``paraloupe-keypoints`` JSONL (each line
    ``{"frame", "persons": [{"box", "score", "keypoints": [[x, y, v] × 17]}]}``)."""
    from runtime.keypoints import from_coco17

    out: dict[int, list[tuple[np.ndarray, float]]] = {}
    lines = read_text(path).splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out[int(obj["frame"])] = [(from_coco17(np.asarray(p["keypoints"], dtype=np.float64).reshape(-1)),
                                       float(p["score"])) for p in obj["persons"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}:{n}: not a keypoint prediction line ({type(exc).__name__}: {exc})") from None
    return out


def video_keypoint_ap(gt_path: str | Path, preds: Mapping[int, Sequence[tuple[np.ndarray, float]]],
                      frames: tuple[int, int] | None = None) -> dict[str, float]:
    """OKS AP of per-frame predictions against a COCO keypoint JSON (image id = frame index), over its frames
    in the half-open range ``frames`` (all if None); frames without predictions count as misses."""
    try:
        truth = json.loads(Path(gt_path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{gt_path}: cannot read COCO keypoint JSON ({type(exc).__name__})") from None
    lo, hi = frames if frames is not None else (0, 2**62)
    truth["images"] = [im for im in truth["images"] if lo <= im["id"] < hi]
    truth["annotations"] = [a for a in truth["annotations"] if lo <= a["image_id"] < hi]
    kept = {im["id"] for im in truth["images"]}
    return keypoint_ap(truth, keypoint_results({f: p for f, p in preds.items() if f in kept}))
