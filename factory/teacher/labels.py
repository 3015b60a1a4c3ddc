"""Teacher labelling: a detector over a video → raw COCO (all classes) and ground-truth COCO.

Ground truth (CONVENTIONS.md) = the detections with score ≥ 0.40 whose class maps onto ``person`` or
``vehicle`` (car, truck, bus, motorcycle), others dropped; categories 1 person, 2 vehicle; every
annotation keeps its ``score``; every labelled frame is an image, with or without annotations. The raw
file holds every detection with score ≥ 0.20, category ids = detector class index + 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.teacher.detector import DEFAULT_CLASSES, Detector, class_map
from runtime.coco import FrameAnnotations, VideoAnnotations, frames_from_boxes
from runtime.errors import UserError
from runtime.geometry import boxes_to_rects
from runtime.video import iter_frames


@dataclass
class LabelResult:
    """The output of :func:`label_video`: ``raw`` and ground-truth ``gt`` annotations and timing."""

    raw: VideoAnnotations
    gt: VideoAnnotations
    frames: int
    seconds: float  # wall time of decoding + inference + decoding the output
    infer_seconds: float  # time inside the detector call only
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def ms_per_frame(self) -> float:
        """Detector time per frame (preprocess, inference, NMS), milliseconds."""
        return 1000.0 * self.infer_seconds / max(self.frames, 1)


def to_ground_truth(raw: VideoAnnotations, classes: Mapping[str, list[str]] = DEFAULT_CLASSES,
                    min_score: float = 0.40) -> VideoAnnotations:
    """Map raw detector annotations onto ParaLoupe's classes and cut at ``min_score`` (CONVENTIONS.md)."""
    targets = list(classes)
    by_name = {src: dst for dst, srcs in classes.items() for src in srcs}
    frames: dict[int, FrameAnnotations] = {}
    for fid, fa in raw.frames.items():
        keep = np.array([(name in by_name) and s >= min_score
                         for name, s in zip(fa.labels, fa.scores, strict=False)], dtype=bool)
        sub = fa.select(keep) if len(fa) else FrameAnnotations()
        sub.labels = [by_name[name] for name in sub.labels]
        frames[fid] = sub
    info = dict(raw.info)
    info.update({"ground_truth": f"score >= {min_score:.2f}, mapped "
                 + "; ".join(f"{d} <- {', '.join(s)}" for d, s in classes.items())})
    return VideoAnnotations(targets, frames, raw.width, raw.height, info,
                            {name: i + 1 for i, name in enumerate(targets)})


def label_video(video: str | Path, detector: Detector, frames: Iterable[int] | None = None,
                classes: Mapping[str, list[str]] = DEFAULT_CLASSES, min_score: float = 0.40) -> LabelResult:
    """Run ``detector`` over the chosen ``frames`` of ``video`` (all when None).

    Returns raw annotations (every detection ≥ the detector's ``min_score``, detector class names) and the
    ground truth (mapped, cut at ``min_score``). Bad videos raise a one-line UserError.
    """
    class_map(detector.spec.names, classes)  # validate the mapping before decoding anything
    names = detector.spec.names
    per_frame: list[tuple[int, list[tuple[list[float], str, float]]]] = []
    width = height = 0
    start = time.perf_counter()
    infer = 0.0
    for fid, frame in iter_frames(video, frames):
        height, width = frame.shape[:2]
        t0 = time.perf_counter()
        dets = detector(frame)
        infer += time.perf_counter() - t0
        per_frame.append((fid, [(list(map(float, b)), lab, float(s))
                                for b, lab, s in zip(dets.boxes, dets.labels, dets.scores, strict=False)]))
    seconds = time.perf_counter() - start
    if not per_frame:
        raise UserError(f"{video}: no frame was labelled")
    info = {"source_video": Path(video).name, "model": Path(detector.model).name,
            "teacher": f"{Path(detector.model).name}, score>={detector.min_score:.2f}, "
                       f"class-wise NMS iou {detector.spec.nms_iou:.2f}",
            "frames": [per_frame[0][0], per_frame[-1][0] + 1]}
    raw = VideoAnnotations(list(names), frames_from_boxes(per_frame), width, height, info,
                           {n: i + 1 for i, n in enumerate(names)})
    gt = to_ground_truth(raw, classes, min_score)
    return LabelResult(raw, gt, len(per_frame), seconds, infer, {})


def agreement(ours: VideoAnnotations, ref: VideoAnnotations, tol_px: float = 2.0,
              frames: Iterable[int] | None = None) -> dict[str, float]:
    """How many boxes of ``ref`` have a same-class box in ``ours`` with every side within ``tol_px``
    (and the reverse), over ``frames`` (default: the frames both hold). Each box matches at most once."""
    ids = sorted(set(ours.frames) & set(ref.frames)) if frames is None else sorted(frames)
    matched = n_ref = n_ours = 0
    for fid in ids:
        a = ours.frames.get(fid, FrameAnnotations())
        b = ref.frames.get(fid, FrameAnnotations())
        n_ours += len(a)
        n_ref += len(b)
        used = np.zeros(len(a), dtype=bool)
        ea, eb = boxes_to_rects(a.boxes), boxes_to_rects(b.boxes)
        for j in range(len(b)):
            if not len(a):
                break
            err = np.abs(ea - eb[j]).max(axis=1)
            ok = (err <= tol_px) & ~used & np.array([label == b.labels[j] for label in a.labels])
            if ok.any():
                used[int(np.argmin(np.where(ok, err, np.inf)))] = True
                matched += 1
    return {"frames": float(len(ids)), "ref_boxes": float(n_ref), "our_boxes": float(n_ours),
            "matched": float(matched),
            "ref_matched_fraction": matched / n_ref if n_ref else 1.0,
            "ours_matched_fraction": matched / n_ours if n_ours else 1.0}
