"""In-process replay of one video through the closed loop and its detectors — no sockets.

What the cluster does per frame, minus the network: generate patches (with the last aggregated detections fed
back), encode each as the client would (JPEG, capped side), decode it as a server would, run the detector,
aggregate. Used to tune the generator on training videos, and by the report for accuracy figures. Which device
infers a patch does not change its detections, but which model does: :func:`run_loop` takes a ``route`` that
picks each entry's model as the cluster's scheduler would (``paraloupe-bench loop --devices``). Latency figures
come from real cluster runs.

    for step in replay(iter_frames(video), detector, make_generator(Mode.PARALOUPE, cfg, model), cfg):
        ...  # step.detections (Detections), step.rects, step.infer_ms

``generator=None`` runs the detector on the whole frame (the modes whose ``Mode.is_whole_frame``: ``mini`` and
``baseline``), or SAHI's slices of it with ``mode=Mode.SAHI``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np

from runtime.cluster.aggregate import PatchDetections
from runtime.detections import Detections
from runtime.frame_plan import FramePlan
from runtime.infer import Inference
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopConfig, LoopSettings
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.generators import PatchGenerator
from runtime.sahi_loop import make_loop
from runtime.timing import Stopwatch


@dataclass
class ReplayStep:
    """One frame's outcome: aggregated detections, the patch rectangles ``[x0, y0, x1, y1]`` px, per-patch
    inference time (ms, this host), patch-generation time (ms), the time of the loop's work on the results
    (``update_ms``: aggregation, tracker update, output rules; ms) and whether the generator skipped the frame."""

    detections: Detections
    rects: list[tuple[int, int, int, int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)
    gen_ms: float = 0.0
    skipped: bool = False
    patch_ms: float = 0.0  # generation without cropping / JPEG
    ranked: Detections | None = None  # the frame's detections before the score cuts (average precision ranks them)
    update_ms: float = 0.0  # ClosedLoop.finish: aggregation, tracker update, output rules


def _decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)


def replay(frames: Iterable[tuple[int, np.ndarray]], detector: Callable[[np.ndarray], Inference],
           generator: PatchGenerator | None, config: PatchConfig, merge_iou: float = 0.5, merge_contain: float = 0.8,
           whole_frame_side: int = 960, min_score: float = 0.5, loop: LoopConfig | None = None,
           baseline: Callable[[np.ndarray], Inference] | None = None, fps: float = 25.0,
           mode: Mode | None = None, tracked: bool = False) -> Iterator[ReplayStep]:
    """Yield one :class:`ReplayStep` per frame of ``frames`` ((id, BGR uint8) pairs, in order) through the
    client's own frame loop (:class:`runtime.loop.ClosedLoop`): ``detector`` infers patches (or whole frames
    when ``generator`` is None), ``baseline`` the loop's baseline pass — without one, the loop runs without that
    pass (``loop.whole_every`` 0). The merge and ``min_score`` arguments are the client's aggregator settings
    (``runtime.cluster.config``); ``fps`` the stream's rate (video time = frame id / fps, s); ``mode`` the mode
    when there is no generator (default ``baseline``; ``sahi``: SAHI's slices at ``whole_frame_side``, the loop
    of :func:`runtime.sahi_loop.make_loop`); ``tracked``: a whole-frame mode's detections go through the loop's
    tracker ("baseline + the same tracker", ``LoopSettings.track_whole``)."""
    mode = Mode(generator.name) if generator is not None else (mode or Mode.BASELINE)
    loop = loop or LoopConfig()
    if baseline is None:
        loop = dataclasses.replace(loop, whole_every=0)
    settings = LoopSettings(mode, config, whole_frame_side, merge_iou, merge_contain, min_score, loop, fps,
                            track_whole=tracked)
    closed = make_loop(settings, generator=generator)
    return run_loop(closed, frames, {"mini": detector, "baseline": baseline or detector})


def run_loop(loop: ClosedLoop, frames: Iterable[tuple[int, np.ndarray]],
             detectors: Mapping[str, Callable[[np.ndarray], Inference]],
             route: Callable[[FramePlan], Sequence[Callable[[np.ndarray], Inference]]] | None = None,
             budget: int | None = None) -> Iterator[ReplayStep]:
    """Yield one :class:`ReplayStep` per frame of ``frames`` through ``loop``; each entry is inferred by the
    detector of its model kind (``detectors["mini"]``, ``detectors["baseline"]``), or by the one ``route`` picks
    per entry (the cluster's per-patch model choice, :class:`runtime.bench.placement.Placement`); ``budget``:
    the most patches a frame gets (None: the generator's own cap)."""
    for frame_id, frame in frames:
        plan = loop.plan(frame, frame_id, budget)
        if plan.skipped:
            yield ReplayStep(loop.finish(plan, []), gen_ms=plan.gen_ms, skipped=True, patch_ms=plan.patch_ms,
                             ranked=loop.ranked)
            continue
        chosen = route(plan) if route is not None else [detectors[e.model_kind] for e in plan.entries]
        images = [_decode(e.jpeg) for e in plan.entries]
        outs = infer_entries(images, [e.min_score for e in plan.entries], chosen)
        # the numbers a server's reply would carry (``Detections.as_sent``): replay and cluster run the same loop
        results = [PatchDetections(e.rect, (im.shape[1], im.shape[0]), out.detections.as_sent())
                   for e, im, out in zip(plan.entries, images, outs, strict=True)]
        infer_ms = [out.infer_ms for out in outs]
        with Stopwatch() as update:
            detections = loop.finish(plan, results)
        yield ReplayStep(detections, [tuple(int(v) for v in e.rect) for e in plan.entries],
                         [e.kind for e in plan.entries], infer_ms, plan.gen_ms, patch_ms=plan.patch_ms,
                         ranked=loop.ranked, update_ms=update.ms)


def infer_entries(images: Sequence[np.ndarray], min_scores: Sequence[float | None],
                  detectors: Sequence[Callable[..., Inference]]) -> list[Inference]:
    """Each image through its detector (``min_score`` passed when not None), in order. A detector with a
    ``batch(images, min_scores)`` method (the factory's torch detectors) gets all of its images in one call;
    the others (ncnn: one image per extractor) one call each."""
    out: list[Inference | None] = [None] * len(images)
    grouped: dict[int, list[int]] = {}
    for i, detect in enumerate(detectors):
        if hasattr(detect, "batch"):
            grouped.setdefault(id(detect), []).append(i)
        else:
            score = min_scores[i]
            out[i] = detect(images[i]) if score is None else detect(images[i], min_score=score)
    for idx in grouped.values():
        batch = detectors[idx[0]].batch  # type: ignore[attr-defined]
        for i, inf in zip(idx, batch([images[i] for i in idx], [min_scores[i] for i in idx]), strict=True):
            out[i] = inf
    return cast(list[Inference], out)  # every slot filled: by a call or by its detector's batch (strict zip)
