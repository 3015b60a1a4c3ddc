"""Fit the objectness model M offline (factory stage ``objectness``) from videos and their COCO ground truth.

Run::

    python -m factory.objectness.fit --video V.avi --gt GT.json [--frames 0:500] [--cell 16 --sub 4] \
        [--hist-decay 0.98] --out weights.json

(``--video``/``--gt`` may be repeated, one ``--frames`` per pair or one for all.) The output is the plain dict
of the bundle manifest section ``objectness`` (:meth:`runtime.patches.objectness.ObjectnessModel.to_dict`).

Features are computed exactly as the runtime does (``runtime.patches.features``): per frame f_edge and
f_diff on the grid, and f_hist = the decayed occupancy of the *previous* frame's ground truth (standing in
for the last detections), normalised by its maximum. Label of a cell: the current frame's ground truth covers
at least half of it. The fit is a class-balanced logistic regression (scikit-learn), matching the runtime's
class-balanced online SGD. Only non-crowd boxes are used.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.atomic import write_json
from runtime.coco import VideoAnnotations, load_coco
from runtime.errors import UserError, cli_entry, run_cli
from runtime.patches.features import FeatureExtractor, box_occupancy, feature_stack, grid_shape
from runtime.patches.objectness import POSITIVE_OCCUPANCY, ObjectnessModel
from runtime.video import iter_frames, parse_frames


def collect_samples(frames: Iterable[tuple[int, np.ndarray]], gt: VideoAnnotations, cell: int, sub: int,
                    hist_decay: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell model inputs ``X`` (n, 3) and labels ``y`` (n,) bool over ``frames`` of one video."""
    extractor = FeatureExtractor(cell, sub)
    hist: np.ndarray | None = None
    prev_boxes = np.zeros((0, 4))
    xs, ys = [], []
    for fid, frame in frames:
        h, w = frame.shape[:2]
        gh, gw = grid_shape(w, h, cell)
        if hist is None or hist.shape != (gh, gw):
            hist = np.zeros((gh, gw), dtype=np.float32)
        _, edge, diff = extractor(frame)
        hist = hist_decay * hist + (1.0 - hist_decay) * box_occupancy(prev_boxes, float(w), float(h), gh, gw)
        top = float(hist.max())
        hist_norm = hist / top if top > 0 else hist
        ann = gt.frames.get(fid)
        boxes = np.zeros((0, 4)) if ann is None else ann.boxes[~ann.iscrowd]
        occ = box_occupancy(np.asarray(boxes, dtype=np.float64), float(w), float(h), gh, gw)
        xs.append(feature_stack(edge, diff, hist_norm))
        ys.append(occ.reshape(-1) >= POSITIVE_OCCUPANCY)
        prev_boxes = boxes
    if not xs:
        return np.zeros((0, 3)), np.zeros(0, dtype=bool)
    return np.concatenate(xs), np.concatenate(ys)


def fit_weights(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> dict[str, Any]:
    """Class-balanced logistic regression of ``y`` on ``x``; returns the ``objectness`` manifest dict."""
    from sklearn.linear_model import LogisticRegression

    if len(y) == 0 or y.all() or not y.any():
        raise UserError("objectness fit: need both object and background cells (is the ground truth empty?)")
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
    clf.fit(x, y)
    w = np.append(clf.coef_[0], clf.intercept_[0])
    model = ObjectnessModel(w, meta={"fit": {"cells": int(len(y)), "positive_fraction": float(y.mean()),
                                             "train_accuracy_balanced": _balanced_accuracy(clf.predict(x), y)}})
    return model.to_dict()


def _balanced_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * ((pred[y] == 1).mean() + (pred[~y] == 0).mean()))


def fit_objectness(videos: Sequence[tuple[str | Path, VideoAnnotations, range | None]], cell: int = 16,
                   sub: int = 4, hist_decay: float = 0.98, c: float = 1.0) -> dict[str, Any]:
    """Fit M on ``(video path, ground truth, frame range or None for all)`` tuples; returns the ``objectness`` dict.

    ``cell``, ``sub`` and ``hist_decay`` must match the runtime's ``patches`` config; they are recorded.
    """
    parts = [collect_samples(iter_frames(path, frames), gt, cell, sub, hist_decay) for path, gt, frames in videos]
    x = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3))
    y = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=bool)
    out = fit_weights(x, y, c)
    out.update({"cell": cell, "sub": sub, "hist_decay": hist_decay})
    return out


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.objectness.fit", description=__doc__.split("\n")[0])
    parser.add_argument("--video", action="append", required=True, help="training video (repeatable)")
    parser.add_argument("--gt", action="append", required=True, help="its COCO ground truth (repeatable)")
    parser.add_argument("--frames", action="append", default=None, help="half-open range A:B (per video or one)")
    parser.add_argument("--cell", type=int, default=16, help="grid cell side, pixels (runtime patches.cell)")
    parser.add_argument("--sub", type=int, default=4, help="pixels per cell side (runtime patches.sub)")
    parser.add_argument("--hist-decay", type=float, default=0.98, help="runtime patches.hist_decay")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation strength")
    parser.add_argument("--out", required=True, help="weights JSON to write")
    args = parser.parse_args(argv)
    if len(args.video) != len(args.gt):
        raise UserError("give one --gt per --video")
    ranges = args.frames or [None]
    if len(ranges) == 1:
        ranges = ranges * len(args.video)
    if len(ranges) != len(args.video):
        raise UserError("give one --frames for all videos or one per --video")
    videos = []
    for path, gt, rng in zip(args.video, args.gt, ranges, strict=False):
        if not Path(path).exists():
            raise UserError(f"{path}: file not found")
        videos.append((path, load_coco(gt), parse_frames(rng)))
    weights = fit_objectness(videos, args.cell, args.sub, args.hist_decay, args.C)
    write_json(args.out, weights)
    print(f"objectness weights {weights['weights']} bias {weights['bias']:.3f} "
          f"({weights['fit']['cells']} cells) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
