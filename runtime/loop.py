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

from typing import Any

import numpy as np

from runtime.baseline_pass import BaselinePass
from runtime.cluster.aggregate import PatchDetections, aggregate
from runtime.detections import Detections
from runtime.discovery import motion_regions
from runtime.feedback import Seeds, TrackFeedback, clipped_flags, holds_whole
from runtime.frame_plan import BASELINE_KINDS, LARGE_FRAME, WHOLE_FRAME, Entry, FramePlan, keep_within
from runtime.geometry import clip_boxes, covered_by_larger, iou_matrix, longer_sides
from runtime.loop_config import LoopSettings
from runtime.modes import Mode
from runtime.patches.generators import FramePatches, PatchGenerator, make_generator
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.proposer import high_conf_rois
from runtime.patches.queue import build_entries, encode_patch
from runtime.patches.refiner import PatchKind
from runtime.predictions import ranked_extra
from runtime.timing import Stopwatch
from runtime.video import FrameGrey

#: The baseline entries whose finds review the tracks (back or veto them): every kind but the close-up pass.
VIEWER_KINDS = tuple(k for k in BASELINE_KINDS if k != LARGE_FRAME)


class ClosedLoop:
    """The per-frame logic of one stream (stateful; :meth:`reset` starts a new stream)."""

    def __init__(self, settings: LoopSettings, objectness: ObjectnessModel | None = None,
                 generator: PatchGenerator | None = None) -> None:
        """``generator`` overrides the one the mode makes (tests, benchmarks); whole-frame modes have none."""
        self.settings = settings
        self.mode = Mode(settings.mode)
        if generator is None and self.mode.is_patch_generator:
            generator = make_generator(self.mode, settings.patches, objectness, discovery=settings.loop.discovery)
        self.generator = generator
        lc = settings.loop
        #: the tracked loop (tracker, motion, baseline pass) is ParaLoupe's; other generators stay as published
        self.tracked = generator is not None and self.mode == Mode.PARALOUPE
        self.feedback = None
        if self.tracked and lc.track:
            self.feedback = TrackFeedback(lc.tracker, lc.discovery if lc.motion else None, settings.fps,
                                          lc.cut_diff, lc.start_cut)
        elif generator is None and settings.track_whole:
            self.feedback = TrackFeedback(lc.tracker, None, settings.fps, lc.cut_diff)
        self.last = Detections.empty(-1)
        #: the last frame's detections before the score cuts (aggregator floor, tracked output threshold): what
        #: average precision ranks (``runtime.predictions.RANKED_KEY``); ``last`` is what the frame reports
        self.ranked = Detections.empty(-1)
        self.baseline = BaselinePass(lc, settings.patches)
        self._motion = np.zeros((0, 4))  # this frame's motion boxes (n, 4) [x, y, w, h] px

    @property
    def cut(self) -> bool:
        """Whether the last planned frame was a scene cut (``loop.cut_diff``): the loop started over on it."""
        return self.feedback is not None and self.feedback.cut

    @property
    def camera_still(self) -> bool:
        """Whether the last planned frame's camera motion moved no frame corner by more than
        ``loop.discovery.moving_px`` (tracked modes; False without feedback)."""
        return self.feedback is not None and self.feedback.camera_shift_px <= self.settings.loop.discovery.moving_px

    @property
    def whole_pass(self) -> bool:
        """Whether this patch mode also sends whole frames to the baseline model now and then."""
        return self.tracked and self.settings.loop.whole_every > 0

    def line_extra(self) -> dict[str, Any]:
        """The keys a finished frame's prediction line gains: the last frame's detections before the score cuts
        (:func:`runtime.predictions.ranked_extra`)."""
        return ranked_extra(self.ranked)

    def reset(self) -> None:
        """A new stream: no feedback, the generator's state forgotten."""
        self.last = Detections.empty(-1)
        self.baseline.reset()
        if self.generator is not None:
            self.generator.reset()
        if self.feedback is not None:
            self.feedback.reset()

    def plan(self, frame: np.ndarray, frame_id: int, budget: int | None = None) -> FramePlan:
        """The entries to infer for ``frame`` ((H, W, 3) BGR uint8, in stream order); ``budget``: the most
        patches the cluster can infer within the SLO (:func:`patch_budget`; None = the generator's own cap) —
        tracked objects first, then discovery, then refresh."""
        watch = Stopwatch()
        h, w = frame.shape[:2]
        plan = FramePlan(frame_id, w, h)
        cfg = self.settings.patches
        if self.generator is None:
            if self.feedback is not None:
                self.feedback.seeds(frame, frame_id)  # the camera motion the tracker's update needs
            jpeg = encode_patch(frame, cfg.jpeg_quality, self.settings.whole_frame_side, cfg.jpeg_chroma)
            plan.entries.append(Entry((0, 0, w, h), WHOLE_FRAME, 1.0, jpeg, self.mode.model_kind))
        else:
            with Stopwatch() as gen:
                patches = keep_within(self._patches(frame, frame_id), budget)
            plan.patch_ms = gen.ms
            plan.skipped = patches.skipped
            plan.entries = [Entry(e.location, e.kind, e.confidence, e.jpeg)
                            for e in build_entries(frame, patches, cfg.jpeg_quality, cfg.max_side, cfg.jpeg_chroma)]
            if not plan.skipped and self.whole_pass:
                tracks = self.feedback.tracker.current()[1] if self.feedback is not None else np.zeros((0, 4))
                plan.entries += self.baseline.entries(frame, self.cut, self.camera_still, tracks, self.proposes)
        plan.gen_ms = watch.ms
        return plan

    @property
    def proposes(self) -> bool:
        """Whether the baseline pass's low-score boxes become candidates for the minis to check."""
        return self.feedback is not None and self.whole_pass and self.settings.loop.candidate_score < 1.0

    def _patches(self, frame: np.ndarray, frame_id: int) -> FramePatches:
        """The generator's patches, fed with the last detections or (tracking) the tracks' predictions, plus
        motion regions no patch holds."""
        last = self.last
        det_frame = last.frame if last.frame >= 0 else None
        if self.feedback is None:
            return self.generator(frame, frame_id, detections=last.boxes, scores=last.scores,
                                  det_frame_id=det_frame)
        shared = FrameGrey(frame)  # one grey copy of the frame for the camera motion, motion boxes and generator
        seeds = self.feedback.seeds(shared, frame_id)
        self._motion = seeds.motion
        if self.cut:  # a scene cut: the generator starts over too
            self.generator.reset()
            det_frame = None
        patches = self.generator(shared, frame_id, detections=seeds.boxes, scores=np.ones(len(seeds.boxes)),
                                 det_frame_id=det_frame)
        if patches.skipped:
            return patches
        patches = self._add_candidates(patches, seeds.candidates)
        if len(seeds.motion) == 0:
            return patches
        return self._add_motion(patches, seeds)

    def _add_candidates(self, patches: FramePatches, candidates: np.ndarray) -> FramePatches:
        """``patches`` plus a LowConf patch centred on each candidate (HighConf geometry: area ratio
        ``r_high``), so that a mini looks at it closely."""
        if len(candidates) == 0:
            return patches
        cfg = self.settings.patches
        w, h = patches.frame_w, patches.frame_h
        rects, _ = high_conf_rois(clip_boxes(candidates, w, h), np.ones(len(candidates)), cfg.r_high, w, h,
                                  cfg.min_patch_side)
        return self._with_low(patches, rects)

    def _with_low(self, patches: FramePatches, rects: np.ndarray) -> FramePatches:
        """``patches`` plus ``rects`` (k, 4) ``[x0, y0, x1, y1]`` px as LowConf patches."""
        return FramePatches(patches.frame_id, patches.frame_w, patches.frame_h,
                            np.concatenate([patches.rects, rects]).astype(np.int64),
                            np.concatenate([patches.confidence,
                                            np.full(len(rects), self.settings.patches.low_confidence)]),
                            np.concatenate([patches.kinds, PatchKind.LOW.fill(len(rects))]))

    def _add_motion(self, patches: FramePatches, seeds: Seeds) -> FramePatches:
        """``patches`` plus a LowConf region around each motion box that no patch holds whole at a scale a mini
        serves (its longer side at least ``loop.motion_served`` of the patch's)."""
        boxes = seeds.motion
        whole = holds_whole(boxes, patches.rects, patches.frame_w, patches.frame_h, 0.0)
        if self.settings.loop.motion_served > 0.0 and whole.any():
            sides = longer_sides(patches.rects)
            whole &= boxes[:, 2:].max(axis=1)[:, None] >= self.settings.loop.motion_served * sides[None, :]
        boxes = boxes[~whole.any(axis=1)]
        if len(boxes) == 0:
            return patches
        rects = motion_regions(boxes, patches.frame_w, patches.frame_h, self.settings.patches.min_patch_side,
                               self.settings.loop.discovery)
        return self._with_low(patches, rects)

    def _baseline_seen(self, plan: FramePlan, results: list[PatchDetections],
                       kinds: tuple[str, ...] = BASELINE_KINDS) -> tuple[np.ndarray, Detections]:
        """This frame's baseline entries of ``kinds`` (p, 4) ``[x0, y0, x1, y1]`` px and what they found, merged."""
        rects = {e.rect for e in plan.entries if e.model_kind == "baseline" and e.kind in kinds}
        base = [r for r in results if tuple(r.rect) in rects]
        boxes = np.array(sorted(rects), dtype=np.float64).reshape(-1, 4)
        seen = aggregate(plan.frame_id, plan.frame_w, plan.frame_h, base, 1.0, 1.0,
                         min_score=self.settings.loop.tracker.low_score)
        return boxes, seen

    def _may_start(self, merged: Detections, seen_iou: np.ndarray) -> np.ndarray:
        """Which merged detections may start a track: those a baseline entry also found (at any score it
        reported; ``seen_iou`` (m,) each one's best IoU with those finds), those on a candidate
        (:meth:`TrackFeedback.verified`), and the rest at ``loop.mini_start_score``."""
        lc = self.settings.loop
        strong = merged.scores >= lc.mini_start_score
        if len(merged) == 0:
            return strong
        strong |= self.feedback.verified(merged.boxes, lc.verify_iou)
        if lc.motion_verifies and len(self._motion):
            strong |= iou_matrix(merged.boxes, self._motion).max(axis=1) >= lc.verify_iou
        return strong | (seen_iou >= 0.5)

    def _whole_frame_large(self, result: PatchDetections, plan: FramePlan, min_side: float) -> PatchDetections:
        """A whole-frame result of a patch mode's baseline pass keeps only its boxes whose longer side at the
        baseline's input (``loop.whole_side``) is at least ``min_side`` px: the objects that entry is there for
        (the tiles and minis see the smaller ones at a finer scale); every other result as it is."""
        if tuple(result.rect) != (0, 0, plan.frame_w, plan.frame_h) or len(result.detections) == 0:
            return result
        scale = self.settings.loop.whole_side / max(result.src_size)
        big = result.detections.boxes[:, 2:].max(axis=1) * scale >= min_side
        return PatchDetections(result.rect, result.src_size, result.detections.select(big))

    def _seen_small(self, plan: FramePlan, merged: Detections, rects: np.ndarray) -> np.ndarray:
        """The merged detections (m, 4) ``[x, y, w, h]`` px no track took that the smallest of the mini patches
        ``rects`` (p, 4) ``[x0, y0, x1, y1]`` px holding them whole shows below ``loop.zoom_below`` of its longer
        side."""
        untaken = self.feedback.untaken
        if not untaken.any() or len(rects) == 0:
            return np.zeros((0, 4))
        boxes = merged.boxes[untaken]
        held = holds_whole(boxes, rects, plan.frame_w, plan.frame_h, 0.0)
        sides = longer_sides(rects)
        smallest = np.where(held, sides[None, :], np.inf).min(axis=1)
        return boxes[boxes[:, 2:].max(axis=1) < self.settings.loop.zoom_below * smallest]

    def _inside_larger(self, tracked: Detections) -> np.ndarray:
        """(n,) true for the tracked boxes that ``loop.output_contain`` keeps out of the output: inside a larger box
        of their class — in a patch mode, on a track that no baseline entry has ever found (a part of that object,
        not an object hidden behind it; in a whole-frame mode the baseline made every box)."""
        covered = covered_by_larger(tracked.boxes, np.array(tracked.labels), self.settings.loop.output_contain)
        if covered.any() and tracked.ids is not None and self.feedback is not None and self.generator is not None:
            covered &= ~np.isin(tracked.ids, self.feedback.tracker.backed_ids())
        return covered

    def finish(self, plan: FramePlan, results: list[PatchDetections]) -> Detections:
        """The frame's detections from its entries' results (frame px); kept as the next frame's feedback.
        A skipped frame carries the last detections over (under its own frame id)."""
        last = self.last
        if plan.skipped:
            self.ranked = Detections(last.boxes, list(last.labels), last.scores, plan.frame_id)
            return self.ranked
        s = self.settings
        if self.feedback is None:
            floor = s.min_score if self.generator is not None else 0.0
            self.last = aggregate(plan.frame_id, plan.frame_w, plan.frame_h, results, s.merge_iou, s.merge_contain,
                                  min_score=floor)
            self.ranked = self.last if floor <= 0.0 else aggregate(
                plan.frame_id, plan.frame_w, plan.frame_h, results, s.merge_iou, s.merge_contain, min_score=0.0)
            return self.last
        lc = s.loop
        close_up = any(e.kind == LARGE_FRAME for e in plan.entries)
        if lc.whole_frame_too and self.generator is not None:  # the whole frame in the rotation: what tiles miss
            results = [self._whole_frame_large(r, plan, lc.tracker.veto_min_side) for r in results]
        elif close_up:  # the whole frame for close-up tracks: the close-ups only
            results = [self._whole_frame_large(r, plan, lc.large_whole) for r in results]
        merged = aggregate(plan.frame_id, plan.frame_w, plan.frame_h, results, s.merge_iou, s.merge_contain,
                           min_score=lc.tracker.low_score)
        rects = np.array([e.rect for e in plan.entries], dtype=np.float64).reshape(-1, 4)
        clipped = clipped_flags(merged.boxes, rects, plan.frame_w, plan.frame_h, lc.border_px)
        base_rects, seen = self._baseline_seen(plan, results)
        # each merged box's best IoU with the baseline pass's finds (0 without any)
        seen_iou = (iou_matrix(merged.boxes, seen.boxes).max(axis=1) if len(seen) and len(merged)
                    else np.zeros(len(merged)))
        may_start = self._may_start(merged, seen_iou) if self.generator is not None else None  # whole frames: all
        # a merged box the baseline pass found is one of its boxes, unchanged (aggregation moves no box)
        from_baseline = seen_iou >= 1.0 - 1e-9
        sure = (from_baseline & (merged.scores >= lc.cut_confirm_score)
                if self.cut and lc.cut_confirm_score > 0.0 else None)
        tracked = self.feedback.update(plan.frame_id, merged, clipped, may_start, from_baseline, sure)
        if self.feedback.tracker.started:  # read only where a pass is due
            self.baseline.tracks_started()
        # a box the baseline reported only as a candidate (below its own threshold) backs no track
        # the close-up pass reviews nothing
        viewers, backing = self._baseline_seen(plan, results, VIEWER_KINDS) if close_up else (base_rects, seen)
        backing = backing.select(backing.scores >= lc.tracker.high_score) if self.proposes else backing
        tracked = self.feedback.review(tracked, viewers, lc.whole_side, backing, plan.frame_w, plan.frame_h,
                                       lc.border_px)
        if self.proposes or lc.zoom_below > 0.0:
            parts = [np.zeros((0, 4))]
            # the camera moves: no candidates
            if lc.candidates_moving or self.camera_still:
                if self.proposes:
                    whole = ~clipped_flags(seen.boxes, base_rects, plan.frame_w, plan.frame_h, lc.border_px)
                    parts.append(seen.boxes[whole])
                if lc.zoom_below > 0.0:
                    minis = np.array([e.model_kind == "mini" for e in plan.entries], dtype=bool)
                    parts.append(self._seen_small(plan, merged, rects[minis]))
            self.feedback.propose(np.concatenate(parts), lc.verify_iou)
        tracked = tracked.select(~self._inside_larger(tracked))
        keep = tracked.scores >= lc.output_min_score
        self.ranked = tracked
        self.last = tracked.select(keep)
        return self.last
