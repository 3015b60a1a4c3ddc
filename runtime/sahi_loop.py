"""Mode ``sahi`` in the closed loop's frame interface — the same :meth:`plan` / :meth:`finish` pair the cluster
client and the in-process replay drive for every mode, so its accuracy in replay is what a cluster run does.

Per frame, :meth:`SahiLoop.plan` cuts SAHI's slices (:func:`runtime.sahi.slice_rects`: the baseline model's
input side ``settings.whole_frame_side`` S, overlap ratio 0.2 both ways) plus SAHI's standard whole-frame pass
(when there is more than one slice), each a baseline-model entry with confidence 1.0 (CONVENTIONS: a keyframe
tile) encoded at most S px on its longer side — a slice travels at native resolution, the whole frame scaled to
S. The cluster's master places them like any entry, over the baseline model the client runs (its side); the
detections come at the model's own threshold. :meth:`SahiLoop.finish` maps every result into the frame
(:func:`runtime.cluster.aggregate.to_frame`) and merges them by SAHI's GREEDYNMM (:func:`runtime.sahi.greedy_nmm`)
— not by the aggregator's NMS. No generator, feedback or tracker: the mode is SAHI as published.

:func:`make_loop` is the one way to build a stream's loop for any mode.
"""

from __future__ import annotations

import numpy as np

from runtime.cluster.aggregate import PatchDetections, to_frame
from runtime.detections import Detections
from runtime.frame_plan import BASELINE_TILE, WHOLE_FRAME, Entry, FramePlan
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopSettings
from runtime.modes import Mode
from runtime.patches.generators import PatchGenerator
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.queue import encode_patch
from runtime.sahi import MATCH_THRESHOLD, OVERLAP, greedy_nmm, slice_rects
from runtime.timing import Stopwatch


class SahiLoop(ClosedLoop):
    """The loop of mode ``sahi`` (see the module docstring); ``settings.mode`` must be ``sahi``."""

    def __init__(self, settings: LoopSettings, objectness: ObjectnessModel | None = None) -> None:
        """``objectness`` is unused (the signature is :class:`ClosedLoop`'s)."""
        if Mode(settings.mode) is not Mode.SAHI:
            raise ValueError(f"SahiLoop: mode {settings.mode} is not sahi")
        if settings.track_whole:
            raise ValueError("sahi runs without the tracker (SAHI's output as published)")
        super().__init__(settings, objectness)

    def plan(self, frame: np.ndarray, frame_id: int, budget: int | None = None) -> FramePlan:
        """The slices and the whole frame of ``frame`` ((H, W, 3) BGR uint8) as baseline entries; ``budget`` is
        ignored (SAHI covers the whole frame every time)."""
        watch = Stopwatch()
        h, w = frame.shape[:2]
        side, quality, chroma = (self.settings.whole_frame_side, self.settings.patches.jpeg_quality,
                                 self.settings.patches.jpeg_chroma)
        plan = FramePlan(frame_id, w, h)
        rects = slice_rects(w, h, side, side, OVERLAP, OVERLAP)
        for x0, y0, x1, y1 in rects.tolist():
            crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
            plan.entries.append(Entry((x0, y0, x1, y1), BASELINE_TILE, 1.0, encode_patch(crop, quality, side, chroma),
                                      "baseline"))
        if len(rects) > 1:  # SAHI's standard prediction joins the slices'
            plan.entries.append(Entry((0, 0, w, h), WHOLE_FRAME, 1.0, encode_patch(frame, quality, side, chroma),
                                      "baseline"))
        plan.gen_ms = watch.ms
        return plan

    def finish(self, plan: FramePlan, results: list[PatchDetections]) -> Detections:
        """The frame's detections (frame px): every entry's, merged by GREEDYNMM (IOS 0.5, class-wise)."""
        parts = [Detections(to_frame(r), list(r.detections.labels), r.detections.scores) for r in results
                 if len(r.detections)]
        found = Detections(np.concatenate([p.boxes for p in parts]) if parts else np.zeros((0, 4)),
                           [lab for p in parts for lab in p.labels],
                           np.concatenate([p.scores for p in parts]) if parts else np.zeros(0), plan.frame_id)
        self.last = greedy_nmm(found, MATCH_THRESHOLD)
        self.ranked = self.last  # no score cut after the models' own
        return self.last


def make_loop(settings: LoopSettings, objectness: ObjectnessModel | None = None,
              generator: PatchGenerator | None = None) -> ClosedLoop:
    """The closed loop of ``settings.mode``: :class:`SahiLoop` for ``sahi``, :class:`ClosedLoop` otherwise
    (``generator`` overrides the one a patch mode makes)."""
    if Mode(settings.mode) is Mode.SAHI:
        return SahiLoop(settings, objectness)
    return ClosedLoop(settings, objectness, generator)
