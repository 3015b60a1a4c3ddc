"""What the closed loop carries from one frame to the next when it tracks: tracks, camera motion, motion.

:class:`TrackFeedback` sits between the aggregator and the patch generator of :class:`runtime.loop.ClosedLoop`:

- :meth:`TrackFeedback.seeds` (before a frame is cut): the global camera motion since the last frame
  (:class:`runtime.tracker.CameraMotion`), every live track's Kalman prediction at the frame's video time moved
  by that motion and grown by its uncertainty margin (px) — the boxes the generator places HighConf patches on —
  and the frame's motion boxes (:class:`runtime.discovery.MotionDetector`), which find objects no track knows.
- :meth:`TrackFeedback.update` (after the frame's results are aggregated): the detections (down to the
  tracker's low score, each flagged *clipped* when no patch saw it whole) go to the tracker; the frame's output
  is the confirmed tracks' detections with their track ids. A clipped box no track took (it may not start one)
  gets a patch centred on it in the next frame, so that it is seen whole.

Time is video time, ``frame_id / fps`` seconds, so replay and cluster agree and skipped frames do not age
tracks by frame count. Labels cross the tracker as indices of the names seen so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.detections import Detections
from runtime.discovery import DiscoveryConfig, MotionDetector, camera_shift_px
from runtime.discovery.scene_cut import SceneCut
from runtime.geometry import iou_matrix, longer_sides
from runtime.modes import OutputBox
from runtime.tracker import CameraMotion, Tracker, TrackerConfig
from runtime.video import FrameGrey


@dataclass
class Seeds:
    """Before a frame: ``boxes`` (n, 4) ``[x, y, w, h]`` px of the live tracks predicted into this frame and
    grown by their margins (plus last frame's clipped boxes, grown), ``motion`` (m, 4) motion boxes px,
    ``candidates`` (c, 4) px: last frame's unconfirmed proposals (:meth:`TrackFeedback.propose`) moved into this
    frame, each to be looked at by a mini."""

    boxes: np.ndarray
    motion: np.ndarray
    candidates: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))


def warp_boxes(boxes: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes ``[x, y, w, h]`` (n, 4) px moved by the (2, 3) affine ``warp``: the bounding box of
    the four warped corners."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return boxes
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x0, y1], 1),
                        np.stack([x1, y1], 1)], axis=1)  # (n, 4, 2)
    moved = corners @ warp[:, :2].T + warp[:, 2]
    lo, hi = moved.min(axis=1), moved.max(axis=1)
    return np.concatenate([lo, hi - lo], axis=1)


def holds_whole(boxes: np.ndarray, rects: np.ndarray, frame_w: int, frame_h: int, border_px: float) -> np.ndarray:
    """(n, p) true where patch ``rects[j]`` (``[x0, y0, x1, y1]`` px) holds box ``boxes[i]`` (``[x, y, w, h]``
    px) whole: no inner border (a patch edge that is not a frame edge) within ``border_px`` of it."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    bx0, by0 = boxes[:, 0:1], boxes[:, 1:2]
    bx1, by1 = bx0 + boxes[:, 2:3], by0 + boxes[:, 3:4]
    rx0, ry0, rx1, ry1 = (rects[:, i][None, :] for i in range(4))
    # a patch edge at the frame edge is no border: nothing lies beyond it
    lo_x = np.where(rx0 <= 0, -np.inf, rx0 + border_px)
    lo_y = np.where(ry0 <= 0, -np.inf, ry0 + border_px)
    hi_x = np.where(rx1 >= frame_w, np.inf, rx1 - border_px)
    hi_y = np.where(ry1 >= frame_h, np.inf, ry1 - border_px)
    return (bx0 >= lo_x) & (by0 >= lo_y) & (bx1 <= hi_x) & (by1 <= hi_y)


def clipped_flags(boxes: np.ndarray, rects: np.ndarray, frame_w: int, frame_h: int, border_px: float) -> np.ndarray:
    """True for each box (n, 4) ``[x, y, w, h]`` px that no patch ``rects`` (p, 4) ``[x0, y0, x1, y1]`` holds
    whole (:func:`holds_whole`)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, dtype=bool)
    return ~holds_whole(boxes, rects, frame_w, frame_h, border_px).any(axis=1)


class TrackFeedback:
    """Tracks + camera motion + motion boxes of one stream (:meth:`reset` for a new one)."""

    def __init__(self, tracker: TrackerConfig, discovery: DiscoveryConfig | None, fps: float,
                 cut_diff: float = 0.0, start_cut: bool = False) -> None:
        """``fps``: frames per second of the stream's video time (frame ids are frame indices);
        ``discovery`` None: no motion boxes; ``cut_diff``: thumbnail difference of a scene cut, grey levels
        (``loop.cut_diff``; 0 = never a cut); ``start_cut``: a stream's first frame counts as a cut too
        (``loop.start_cut``)."""
        self.cfg = tracker
        self.fps = float(fps)
        self.tracker = Tracker(tracker)
        self.camera = CameraMotion.from_config(tracker) if tracker.camera_motion else None
        self.motion = MotionDetector(discovery) if discovery is not None else None
        self.scene_cut = SceneCut(cut_diff) if cut_diff > 0 else None
        self.cut = False  # the last frame seeded was a scene cut: everything carried over was dropped
        self.start_cut = start_cut
        self._first = True  # no frame of this stream seeded yet
        self.names: list[str] = []
        self._warp = np.eye(2, 3)
        self._clipped = np.zeros((0, 4))  # last frame's clipped boxes no track took: next frame's patches
        self._proposed = np.zeros((0, 4))  # last frame's proposals no track holds: next frame's candidates
        self.candidates = np.zeros((0, 4))  # this frame's candidates (the proposals moved into it), px
        self.camera_shift_px = 0.0  # how far this frame's camera motion moves a frame corner, px
        self.untaken = np.zeros(0, dtype=bool)  # the last update's detections that no track took

    def reset(self) -> None:
        """A new stream."""
        self._forget()
        if self.camera is not None:
            self.camera.reset()
        if self.scene_cut is not None:
            self.scene_cut.reset()
        self.cut = False
        self._first = True

    def _forget(self) -> None:
        """Drop what the stream carries over (tracks, motion model, clipped boxes, candidates): a new stream or a
        scene cut."""
        self.tracker.reset()
        if self.motion is not None:
            self.motion.reset()
        self._warp = np.eye(2, 3)
        self._clipped = np.zeros((0, 4))
        self._proposed = np.zeros((0, 4))
        self.candidates = np.zeros((0, 4))
        self.camera_shift_px = 0.0
        self.untaken = np.zeros(0, dtype=bool)

    def seeds(self, frame: np.ndarray | FrameGrey, frame_id: int) -> Seeds:
        """Camera motion, predicted track boxes (grown by their margins) and motion boxes for ``frame`` (or its
        :class:`FrameGrey`, shared with the patch generator)."""
        shared = FrameGrey.of(frame)  # one grey conversion and downscale for the camera motion and the motion boxes
        warp = self.camera.estimate(shared) if self.camera is not None else np.eye(2, 3)
        # without a camera-motion estimate every frame's fit counts as lost: the thumbnails alone decide
        lost = self.camera.lost if self.camera is not None else True
        self.cut = self.scene_cut is not None and self.scene_cut.update(shared, lost)
        self.cut |= self.start_cut and self._first
        self._first = False
        if self.cut:
            self._forget()
        self._warp = warp
        pred = self.tracker.predict(frame_id / self.fps)
        boxes = warp_boxes(pred.boxes, warp)
        m = pred.margins.reshape(-1, 1)
        boxes = np.concatenate([boxes[:, :2] - m, boxes[:, 2:] + 2 * m], axis=1) if len(boxes) else boxes
        cut = warp_boxes(self._clipped, warp)  # seen cut by a border: look again, grown by its side on every side
        side = cut[:, 2:].max(axis=1, keepdims=True) if len(cut) else np.zeros((0, 1))
        boxes = np.concatenate([boxes, np.concatenate([cut[:, :2] - side, cut[:, 2:] + 2 * side], axis=1)])
        self._clipped = np.zeros((0, 4))
        self.candidates = warp_boxes(self._proposed, warp)
        self._proposed = np.zeros((0, 4))
        self.camera_shift_px = camera_shift_px(warp, shared.width, shared.height)
        motion = self.motion.detect(shared, warp) if self.motion is not None else np.zeros((0, 4))
        return Seeds(boxes, motion, self.candidates)

    def propose(self, boxes: np.ndarray, hold_iou: float) -> int:
        """Keep ``boxes`` (n, 4) ``[x, y, w, h]`` px — this frame's low-score finds of a stronger detector — as the
        next frame's candidates, less those a live track already holds (IoU >= ``hold_iou``); returns how many."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        _, tracked = self.tracker.current()
        if len(boxes) and len(tracked):
            boxes = boxes[iou_matrix(boxes, tracked).max(axis=1) < hold_iou]
        self._proposed = boxes
        return len(boxes)

    def verified(self, boxes: np.ndarray, min_iou: float) -> np.ndarray:
        """(n,) true where a box ``[x, y, w, h]`` px of this frame overlaps one of its candidates by ``min_iou``."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0 or len(self.candidates) == 0:
            return np.zeros(len(boxes), dtype=bool)
        return iou_matrix(boxes, self.candidates).max(axis=1) >= min_iou

    def update(self, frame_id: int, detections: Detections, clipped: np.ndarray,
               may_start: np.ndarray | None = None, from_baseline: np.ndarray | None = None,
               sure: np.ndarray | None = None) -> Detections:
        """Feed the frame's aggregated detections to the tracker; the confirmed tracks' detections of this frame
        (their matched boxes and scores, ``ids`` the track ids) are the frame's output. Each detection's
        measurement noise is the tracker's ``std_clipped`` when ``clipped``, else ``std_baseline`` when
        ``from_baseline`` (the loop's baseline pass found it: it also starts a track from the tracker's
        ``baseline_track_score``), else ``std_measurement``. ``sure`` (m,): detections whose new track is reported at
        once (:meth:`runtime.tracker.Tracker.update`)."""
        for name in detections.labels:
            if name not in self.names:
                self.names.append(name)
        labels = np.array([self.names.index(n) for n in detections.labels], dtype=np.int64)
        clipped = np.asarray(clipped, dtype=bool).reshape(-1)
        noise = np.full(len(detections), self.cfg.std_measurement)
        if from_baseline is not None:
            noise[np.asarray(from_baseline, dtype=bool).reshape(-1)] = self.cfg.std_baseline
        noise[clipped] = self.cfg.std_clipped
        out = self.tracker.update(frame_id / self.fps, detections.boxes, detections.scores, labels,
                                  clipped=clipped, warp=self._warp, may_start=may_start, noise=noise,
                                  from_baseline=from_baseline, sure=sure)
        self._warp = np.eye(2, 3)
        idx = np.asarray(out.det_index, dtype=np.int64)
        hit = idx >= 0
        untaken = np.ones(len(detections), dtype=bool)
        untaken[idx[hit]] = False
        self.untaken = untaken
        self._clipped = detections.boxes[untaken & clipped]
        boxes, scores = out.boxes.copy(), out.scores.astype(np.float64)  # a coasting track: prediction, last score
        if self.cfg.output_box == OutputBox.DETECTION:
            boxes[hit] = detections.boxes[idx[hit]]
        scores[hit] = detections.scores[idx[hit]]
        labels = [detections.labels[i] if i >= 0 else self.names[int(k)] for i, k in zip(idx, out.labels, strict=True)]
        return Detections(boxes.reshape(-1, 4), labels, scores, frame_id, np.asarray(out.ids, dtype=np.int64))

    def review(self, output: Detections, rects: np.ndarray, input_side: int, seen: Detections, frame_w: int,
               frame_h: int, border_px: float) -> Detections:
        """Let this frame's baseline entries ``rects`` (p, 4) ``[x0, y0, x1, y1]`` px, letterboxed to
        ``input_side`` px, and what they found (``seen``) veto the tracks they held whole at a size the baseline
        sees (longer side at its input >= ``veto_min_side``) but found nothing on (:meth:`Tracker.review`);
        ``output`` less the deleted tracks' detections."""
        ids, boxes = self.tracker.current()
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        if len(ids) == 0 or len(rects) == 0:
            return output
        scale = input_side / longer_sides(rects)
        seen_size = boxes[:, 2:].max(axis=1, keepdims=True) * scale[None, :] >= self.cfg.veto_min_side
        held = (holds_whole(boxes, rects, frame_w, frame_h, border_px) & seen_size).any(axis=1)
        backed = np.zeros(len(ids), dtype=bool)
        if len(seen):
            backed = iou_matrix(boxes, seen.boxes).max(axis=1) >= self.cfg.veto_iou
        gone = self.tracker.review(held, backed)
        if len(gone) == 0 or output.ids is None:
            return output
        return output.select(~np.isin(output.ids, gone))
