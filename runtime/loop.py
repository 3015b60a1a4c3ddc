"""The closed loop of one camera stream — one implementation for the cluster client and the in-process replay.

Per frame: :meth:`ClosedLoop.plan` turns the frame into the entries to infer (patches from the generator, fed
with what the loop learnt from the previous frames, or the whole frame), JPEG-encoded as they travel;
the caller infers every entry (a local detector in :func:`runtime.replay.replay`, the cluster in
:class:`runtime.cluster.client.Client`) and hands the results to :meth:`ClosedLoop.finish`, which aggregates
them into the frame's detections and keeps them as the next frame's feedback. A frame the generator skips
carries the last detections over. So what the report measures in replay is what the cluster runs.

    loop = ClosedLoop(LoopSettings(mode=Mode.PARALOUPE, patches=cfg), objectness_model)
    plan = loop.plan(frame, frame_id)
    results = [infer(entry) for entry in plan.entries]      # PatchResult each, any order of completion
    detections = loop.finish(plan, results)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from runtime.cluster.aggregate import PatchResult, aggregate
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.generators import PatchGenerator, make_generator
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.queue import build_entries, encode_patch
from runtime.predictions import FrameDetections

#: The kind word of a whole-frame entry (modes ``mini`` and ``baseline``).
WHOLE_FRAME = "frame"


@dataclass
class LoopSettings:
    """What the loop needs besides the frames: the mode, the generator's config, the side (px) whole frames
    are encoded at, and the aggregator's settings (the client config's ``merge_iou``, ``merge_contain``,
    ``min_score``; the score floor applies in patch modes only — whole-frame modes keep the model's own
    tuned threshold)."""

    mode: Mode = Mode.PARALOUPE
    patches: PatchConfig = field(default_factory=PatchConfig)
    whole_frame_side: int = 960
    merge_iou: float = 0.5
    merge_contain: float = 0.8
    min_score: float = 0.5


@dataclass
class Entry:
    """One thing to infer: ``rect`` (x0, y0, x1, y1) frame px, ``kind`` (a patch kind word or ``frame``),
    ``confidence`` y_k, ``jpeg`` the bytes sent (s_k = their count)."""

    rect: tuple[int, int, int, int]
    kind: str
    confidence: float
    jpeg: bytes


@dataclass
class FramePlan:
    """One frame's entries to infer; ``skipped``: nothing to infer (the last detections carry over);
    ``gen_ms``: patch generation + JPEG encoding time (ms, this host)."""

    frame_id: int
    frame_w: int
    frame_h: int
    entries: list[Entry] = field(default_factory=list)
    skipped: bool = False
    gen_ms: float = 0.0


def empty_detections(frame_id: int = -1) -> FrameDetections:
    """No detections (the feedback before the first frame)."""
    return FrameDetections(frame_id, np.zeros((0, 4)), [], np.zeros(0))


class ClosedLoop:
    """The per-frame logic of one stream (stateful; :meth:`reset` starts a new stream)."""

    def __init__(self, settings: LoopSettings, objectness: ObjectnessModel | None = None,
                 generator: PatchGenerator | None = None) -> None:
        """``generator`` overrides the one the mode makes (tests, benchmarks); whole-frame modes have none."""
        self.settings = settings
        mode = Mode(settings.mode)
        if generator is None and mode.is_patch_generator:
            generator = make_generator(mode, settings.patches, objectness)
        self.generator = generator
        self.last = empty_detections()

    def reset(self) -> None:
        """A new stream: no feedback, the generator's state forgotten."""
        self.last = empty_detections()
        if self.generator is not None:
            self.generator.reset()

    def plan(self, frame: np.ndarray, frame_id: int) -> FramePlan:
        """The entries to infer for ``frame`` ((H, W, 3) BGR uint8, in stream order)."""
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        plan = FramePlan(frame_id, w, h)
        cfg = self.settings.patches
        if self.generator is None:
            jpeg = encode_patch(frame, cfg.jpeg_quality, self.settings.whole_frame_side)
            plan.entries.append(Entry((0, 0, w, h), WHOLE_FRAME, 1.0, jpeg))
        else:
            last = self.last
            patches = self.generator(frame, frame_id, detections=last.boxes, scores=last.scores,
                                     det_frame_id=last.frame if last.frame >= 0 else None)
            plan.skipped = patches.skipped
            plan.entries = [Entry(e.location, e.kind, e.confidence, e.jpeg)
                            for e in build_entries(frame, patches, cfg.jpeg_quality, cfg.max_side)]
        plan.gen_ms = (time.perf_counter() - t0) * 1000.0
        return plan

    def finish(self, plan: FramePlan, results: list[PatchResult]) -> FrameDetections:
        """The frame's detections from its entries' results (frame px); kept as the next frame's feedback.
        A skipped frame carries the last detections over (under its own frame id)."""
        last = self.last
        if plan.skipped:
            return FrameDetections(plan.frame_id, last.boxes, list(last.labels), last.scores)
        s = self.settings
        floor = s.min_score if self.generator is not None else 0.0
        self.last = aggregate(plan.frame_id, plan.frame_w, plan.frame_h, results, s.merge_iou, s.merge_contain,
                              min_score=floor)
        return self.last
