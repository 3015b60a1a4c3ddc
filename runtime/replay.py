"""In-process replay of one video through a patch generator and one detector — no sockets, no scheduler.

What the cluster does per frame, minus the network: generate patches (with the last aggregated detections fed
back), encode each as the client would (JPEG, capped side), decode it as a server would, run the detector,
aggregate. Used to tune the generator on training videos, and by the report for accuracy figures (where
which device infers a patch does not change its detections). Latency figures come from real cluster runs.

    for step in replay(iter_frames(video), detector, make_generator("paraloupe", cfg, model), cfg):
        ...  # step.detections (FrameDetections), step.rects, step.infer_ms

``generator=None`` runs the detector on the whole frame (modes ``mini`` and ``baseline``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from runtime.cluster.aggregate import PatchResult, aggregate
from runtime.infer import ImageDetections
from runtime.patches.config import PatchConfig
from runtime.patches.queue import build_entries, encode_patch
from runtime.predictions import FrameDetections


@dataclass
class ReplayStep:
    """One frame's outcome: aggregated detections, the patch rectangles ``[x0, y0, x1, y1]`` px, per-patch
    inference time (ms, this host), patch-generation time (ms) and whether the generator skipped the frame."""

    detections: FrameDetections
    rects: list[tuple[int, int, int, int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)
    gen_ms: float = 0.0
    skipped: bool = False


def _decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)


def replay(frames: Iterable[tuple[int, np.ndarray]], detector: Callable[[np.ndarray], ImageDetections],
           generator: Callable | None, config: PatchConfig, merge_iou: float = 0.5, merge_contain: float = 0.8,
           whole_frame_side: int = 960, min_score: float = 0.5) -> Iterator[ReplayStep]:
    """Yield one :class:`ReplayStep` per frame of ``frames`` ((id, BGR uint8) pairs, in order). The merge
    and ``min_score`` arguments are the client's aggregator settings (``runtime.cluster.config``); the score
    floor applies to patch modes only (whole-frame modes keep the model's own tuned threshold)."""
    last = FrameDetections(-1, np.zeros((0, 4)), [], np.zeros(0))
    for frame_id, frame in frames:
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        if generator is None:
            entries = [((0, 0, w, h), "frame", encode_patch(frame, config.jpeg_quality, whole_frame_side))]
        else:
            fp = generator(frame, frame_id, detections=last.boxes, scores=last.scores,
                           det_frame_id=last.frame if last.frame >= 0 else None)
            if fp.skipped:
                yield ReplayStep(FrameDetections(frame_id, last.boxes, list(last.labels), last.scores),
                                 gen_ms=(time.perf_counter() - t0) * 1000.0, skipped=True)
                continue
            entries = [(e.location, e.kind, e.jpeg)
                       for e in build_entries(frame, fp, config.jpeg_quality, config.max_side)]
        gen_ms = (time.perf_counter() - t0) * 1000.0
        results, infer_ms = [], []
        for rect, _kind, jpeg in entries:
            image = _decode(jpeg)
            out = detector(image)
            infer_ms.append(out.infer_ms)
            results.append(PatchResult(rect, (image.shape[1], image.shape[0]), out.boxes, out.labels, out.scores))
        last = aggregate(frame_id, w, h, results, merge_iou, merge_contain,
                         min_score=min_score if generator is not None else 0.0)
        yield ReplayStep(last, [tuple(int(v) for v in r) for r, _, _ in entries], [k for _, k, _ in entries],
                         infer_ms, gen_ms)
