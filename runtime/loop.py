"""The closed loop of one camera stream — one implementation for the cluster client and the in-process replay.

Per frame: :meth:`ClosedLoop.plan` turns the frame into the entries to infer (patches from the generator, fed
with what the loop learnt from the previous frames, or the whole frame), JPEG-encoded as they travel;
the caller infers every entry (a local detector in :func:`runtime.replay.replay`, the cluster in
:class:`runtime.cluster.client.Client`) and hands the results to :meth:`ClosedLoop.finish`, which aggregates
them into the frame's detections and keeps them as the next frame's feedback. A frame the generator skips
carries the last detections over. So what the report measures in replay is what the cluster runs.

    loop = ClosedLoop(LoopSettings(mode=Mode.PARALOUPE, patches=cfg), objectness_model)
    plan = loop.plan(frame, frame_id)
    results = [infer(entry) for entry in plan.entries]      # PatchDetections each, any order
    detections = loop.finish(plan, results)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.cluster.aggregate import PatchDetections, aggregate
from runtime.config import bounded
from runtime.detections import Detections
from runtime.discovery import DiscoveryConfig, motion_regions
from runtime.feedback import Seeds, TrackFeedback, clipped_flags
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.generators import FramePatches, PatchGenerator, make_generator
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.queue import build_entries, encode_patch
from runtime.patches.refiner import PatchKind
from runtime.timing import Stopwatch
from runtime.tracker import TrackerConfig

#: The kind word of a whole-frame entry (modes ``mini`` and ``baseline``).
WHOLE_FRAME = "frame"


@dataclass
class LoopConfig:
    """The ``loop`` section: how a patch mode learns from its detections and finds new objects."""

    track: bool = bounded(False, "feed detections through the tracker: HighConf patches on the tracks' "
                                 "predictions (camera motion compensated), output = confirmed tracks")
    motion: bool = bounded(False, "add a patch around every motion region no other patch holds (discovery)")
    whole_every: int = bounded(0, "every this many processed frames the whole frame also goes to the baseline "
                                  "model (discovery that does not depend on feedback; 0 = never)", ge=0)
    whole_side: int = bounded(480, "input side of that whole-frame pass, px", ge=32)
    output_min_score: float = bounded(0.5, "tracked output: a confirmed track's detection in this frame is "
                                           "reported when it scores at least this", ge=0.0, le=1.0)
    border_px: float = bounded(2.0, "a box within this of a patch's inner border is clipped there, px", ge=0.0)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)


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
    loop: LoopConfig = field(default_factory=LoopConfig)
    fps: float = 25.0  # the stream's frame rate: video time = frame id / fps (s)


@dataclass
class Entry:
    """One thing to infer: ``rect`` (x0, y0, x1, y1) frame px, ``kind`` (a patch kind word or ``frame``),
    ``confidence`` y_k, ``jpeg`` the bytes sent (s_k = their count), ``model_kind`` the family of models that
    infers it (``mini`` for patches, ``baseline`` for whole-frame passes of a patch mode, the mode's own
    otherwise)."""

    rect: tuple[int, int, int, int]
    kind: str
    confidence: float
    jpeg: bytes
    model_kind: str = "mini"


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


def empty_detections(frame_id: int = -1) -> Detections:
    """No detections (the feedback before the first frame)."""
    return Detections.empty(frame_id)


class ClosedLoop:
    """The per-frame logic of one stream (stateful; :meth:`reset` starts a new stream)."""

    def __init__(self, settings: LoopSettings, objectness: ObjectnessModel | None = None,
                 generator: PatchGenerator | None = None) -> None:
        """``generator`` overrides the one the mode makes (tests, benchmarks); whole-frame modes have none."""
        self.settings = settings
        self.mode = Mode(settings.mode)
        if generator is None and self.mode.is_patch_generator:
            generator = make_generator(self.mode, settings.patches, objectness)
        self.generator = generator
        lc = settings.loop
        self.feedback = None
        if generator is not None and lc.track:
            self.feedback = TrackFeedback(lc.tracker, lc.discovery if lc.motion else None, settings.fps)
        self.last = empty_detections()
        self.processed = 0

    @property
    def whole_pass(self) -> bool:
        """Whether this patch mode also sends whole frames to the baseline model now and then."""
        return self.generator is not None and self.settings.loop.whole_every > 0

    def reset(self) -> None:
        """A new stream: no feedback, the generator's state forgotten."""
        self.last = empty_detections()
        self.processed = 0
        if self.generator is not None:
            self.generator.reset()
        if self.feedback is not None:
            self.feedback.reset()

    def plan(self, frame: np.ndarray, frame_id: int) -> FramePlan:
        """The entries to infer for ``frame`` ((H, W, 3) BGR uint8, in stream order)."""
        watch = Stopwatch()
        h, w = frame.shape[:2]
        plan = FramePlan(frame_id, w, h)
        cfg = self.settings.patches
        if self.generator is None:
            jpeg = encode_patch(frame, cfg.jpeg_quality, self.settings.whole_frame_side)
            plan.entries.append(Entry((0, 0, w, h), WHOLE_FRAME, 1.0, jpeg, self.mode.model_kind))
        else:
            patches = self._patches(frame, frame_id)
            plan.skipped = patches.skipped
            plan.entries = [Entry(e.location, e.kind, e.confidence, e.jpeg)
                            for e in build_entries(frame, patches, cfg.jpeg_quality, cfg.max_side)]
            lc = self.settings.loop
            if not plan.skipped:
                if lc.whole_every and self.processed % lc.whole_every == 0:
                    jpeg = encode_patch(frame, cfg.jpeg_quality, lc.whole_side)
                    plan.entries.append(Entry((0, 0, w, h), WHOLE_FRAME, 1.0, jpeg, "baseline"))
                self.processed += 1
        plan.gen_ms = watch.ms
        return plan

    def _patches(self, frame: np.ndarray, frame_id: int) -> FramePatches:
        """The generator's patches, fed with the last detections or (tracking) the tracks' predictions, plus
        motion regions no patch holds."""
        last = self.last
        det_frame = last.frame if last.frame >= 0 else None
        if self.feedback is None:
            return self.generator(frame, frame_id, detections=last.boxes, scores=last.scores,
                                  det_frame_id=det_frame)
        seeds = self.feedback.seeds(frame, frame_id)
        patches = self.generator(frame, frame_id, detections=seeds.boxes, scores=np.ones(len(seeds.boxes)),
                                 det_frame_id=det_frame)
        if patches.skipped or len(seeds.motion) == 0:
            return patches
        return self._add_motion(patches, seeds)

    def _add_motion(self, patches: FramePatches, seeds: Seeds) -> FramePatches:
        """``patches`` plus a LowConf region around each motion box that no patch holds whole."""
        held = ~clipped_flags(seeds.motion, patches.rects, patches.frame_w, patches.frame_h, 0.0)
        boxes = seeds.motion[~held]
        if len(boxes) == 0:
            return patches
        cfg = self.settings.patches
        rects = motion_regions(boxes, patches.frame_w, patches.frame_h, cfg.min_patch_side,
                               self.settings.loop.discovery)
        return FramePatches(patches.frame_id, patches.frame_w, patches.frame_h,
                            np.concatenate([patches.rects, rects]).astype(np.int64),
                            np.concatenate([patches.confidence, np.full(len(rects), cfg.low_confidence)]),
                            np.concatenate([patches.kinds, PatchKind.LOW.fill(len(rects))]))

    def finish(self, plan: FramePlan, results: list[PatchDetections]) -> Detections:
        """The frame's detections from its entries' results (frame px); kept as the next frame's feedback.
        A skipped frame carries the last detections over (under its own frame id)."""
        last = self.last
        if plan.skipped:
            return Detections(last.boxes, list(last.labels), last.scores, plan.frame_id)
        s = self.settings
        if self.feedback is None:
            floor = s.min_score if self.generator is not None else 0.0
            self.last = aggregate(plan.frame_id, plan.frame_w, plan.frame_h, results, s.merge_iou, s.merge_contain,
                                  min_score=floor)
            return self.last
        lc = s.loop
        merged = aggregate(plan.frame_id, plan.frame_w, plan.frame_h, results, s.merge_iou, s.merge_contain,
                           min_score=lc.tracker.low_score)
        rects = np.array([e.rect for e in plan.entries], dtype=np.float64).reshape(-1, 4)
        clipped = clipped_flags(merged.boxes, rects, plan.frame_w, plan.frame_h, lc.border_px)
        tracked = self.feedback.update(plan.frame_id, merged, clipped)
        keep = tracked.scores >= lc.output_min_score
        self.last = tracked.select(keep)
        return self.last
