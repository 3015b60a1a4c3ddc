"""The multi-object tracker of the closed loop: ByteTrack two-stage IoU association on Kalman-predicted boxes,
with BoT-SORT camera-motion compensation, a lost-track buffer in seconds and tentative → confirmed tracks.

One :meth:`Tracker.update` per processed frame, with that frame's detections and its video time
``t = frame_index / fps`` in seconds (frames may be skipped; ``t`` must not decrease):

1. every track is predicted to ``t`` (constant velocity, :mod:`runtime.tracker.kalman`) and, when the caller
   passes ``warp`` (:class:`runtime.tracker.camera_motion.CameraMotion`), mapped into this frame's pixels;
2. detections with ``score < low_score`` (or an empty / non-finite box) are dropped;
3. stage 1: detections with ``score >= high_score`` are matched to all tracks (IoU of predicted box and
   detection >= ``match_iou``, areas within a factor ``match_area_ratio``); stage 2: the lower-score
   detections to the tracks left over (IoU >= ``low_match_iou``). Matching is within class, greedy by IoU
   (:mod:`runtime.tracker.association`);
4. matched tracks are corrected by their detection. A *strong* hit (score >= high_score, not ``clipped``)
   counts towards confirmation; a weak one (low score, or a box touching a patch's inner border) keeps a
   track alive and updates it but never confirms it. A track is confirmed once it has ``min_hits`` strong
   hits and the mean score of all its hits is at least ``confirm_mean_score``, and stays confirmed;
5. a tentative track with no match dies at once; a confirmed one is deleted when its last hit is more than
   ``max_lost_s`` seconds of video time old;
6. an unmatched detection with ``score >= new_track_score`` (``baseline_track_score`` for one the loop's
   baseline pass found) that is not clipped starts a tentative track (confirmed at once when ``min_hits == 1``
   or its score is at least ``birth_confirm_score``).

The output is the confirmed tracks hit in this frame (Kalman posterior boxes). :meth:`Tracker.predict` gives
every live track's box at a later time plus a margin for placing HighConf patches on the predictions.
Track ids are ints from 1, never reused by one tracker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from runtime.tracker.association import class_gated_iou, greedy_match, size_gated, unmatched
from runtime.tracker.config import TrackerConfig
from runtime.tracker.kalman import BoxKalman, boxes_to_measurements, states_to_boxes, warp_states

TIME_EPS_S = 1e-6  #: slack on time comparisons, s (frame_index / fps is not exact in floating point)


@dataclass
class TrackerOutput:
    """Confirmed tracks hit in one frame, ids ascending: ``boxes`` (k, 4) ``[x, y, w, h]`` px in that frame,
    ``scores`` (k,) of the matched detections, ``labels`` (k,) class indices, ``ids`` (k,) track ids and
    ``det_index`` (k,) the index of the matched detection in the arrays passed to :meth:`Tracker.update`."""

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    det_index: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class TrackPredictions:
    """Every live track (tentative and confirmed, lost ones included) at a queried time: ``boxes`` (n, 4)
    ``[x, y, w, h]`` px in the last updated frame's pixels (camera motion after it is unknown), ``margins``
    (n,) px to add around each box, ``since_hit_s`` (n,) s from the last hit to the queried time, plus ids,
    labels, last detection scores and the ``confirmed`` flags."""

    ids: np.ndarray
    boxes: np.ndarray
    margins: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    confirmed: np.ndarray
    since_hit_s: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class Tracker:
    """Multi-object tracker over one video (see the module docstring); all state lives in per-track arrays."""

    def __init__(self, cfg: TrackerConfig | None = None) -> None:
        self.cfg = cfg or TrackerConfig()
        self.kf = BoxKalman(self.cfg.std_measurement, self.cfg.std_init_velocity, self.cfg.q_position,
                            self.cfg.q_velocity)
        self._next_id = 1
        self.started = 0  #: how many tracks the last :meth:`update` started
        self.reset()

    def reset(self) -> None:
        """Drop every track and the clock (ids keep counting up)."""
        self.time: float | None = None  #: video time of the last update, s
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._ids = np.zeros(0, dtype=np.int64)
        self._labels = np.zeros(0, dtype=np.int64)
        self._scores = np.zeros(0)
        self._score_sum = np.zeros(0)  # sum of the track's hit scores
        self._score_n = np.zeros(0)  # its hits, strong and weak (>= 1)
        self._hits = np.zeros(0, dtype=np.int64)
        self._confirmed = np.zeros(0, dtype=bool)
        self._last_hit = np.zeros(0)
        self._vetoes = np.zeros(0, dtype=np.int64)
        self._backed = np.zeros(0, dtype=bool)  # a stronger detector has found the track (:meth:`review`)

    def __len__(self) -> int:
        """Live tracks (tentative and confirmed)."""
        return len(self._ids)

    def update(self, t: float, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
               clipped: np.ndarray | None = None, warp: np.ndarray | None = None,
               may_start: np.ndarray | None = None, noise: np.ndarray | None = None,
               from_baseline: np.ndarray | None = None, sure: np.ndarray | None = None) -> TrackerOutput:
        """Advance to video time ``t`` (s) with this frame's detections and return its confirmed tracks.

        ``boxes`` (m, 4) ``[x, y, w, h]`` px, ``scores`` (m,) in 0–1, ``labels`` (m,) class indices, ``clipped``
        (m,) true where a box touches a patch's inner border (default none), ``warp`` the 2×3 affine from the
        previous processed frame's pixels to this frame's (default: still camera), ``may_start`` (m,) false for
        detections the caller does not trust to start a track (default: all may), ``noise`` (m,) each detection's
        measurement std as a fraction of the box side (default: ``std_measurement`` for all), ``from_baseline`` (m,)
        true for the boxes the loop's baseline pass found (they start tracks from ``baseline_track_score``), ``sure``
        (m,) true for detections whose new track is confirmed at once whatever their score (default: those scoring
        >= ``birth_confirm_score``).
        """
        boxes, scores, labels, clipped = _detections(boxes, scores, labels, clipped)
        if warp is not None:
            warp = np.asarray(warp, dtype=np.float64)
            if warp.shape != (2, 3) or not np.isfinite(warp).all():
                raise ValueError(f"update: warp must be a finite 2x3 affine, got shape {warp.shape}")
        t = self._advance(t)
        cfg = self.cfg
        valid = (scores >= cfg.low_score) & np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        if warp is not None and len(self._ids):
            self._mean, self._cov = warp_states(self._mean, self._cov, warp)
        track_idx, det_idx = self._associate(boxes, scores, labels, valid)
        det_of_track = np.full(len(self._ids), -1, dtype=np.int64)
        det_of_track[track_idx] = det_idx
        if len(track_idx):
            std = None if noise is None else np.asarray(noise, dtype=np.float64).reshape(-1)[det_idx]
            self._correct(track_idx, det_idx, boxes, scores, clipped, t, std)
        lost = det_of_track < 0
        dead = lost & (~self._confirmed | (t - self._last_hit > cfg.max_lost_s + TIME_EPS_S))
        self._keep(~dead)
        det_of_track = det_of_track[~dead]
        spare = np.ones(len(scores), dtype=bool)
        spare[det_idx] = False
        if may_start is not None:
            spare &= np.asarray(may_start, dtype=bool).reshape(-1)
        start_score = np.full(len(scores), cfg.new_track_score)
        if from_baseline is not None:
            start_score[np.asarray(from_baseline, dtype=bool).reshape(-1)] = cfg.baseline_track_score
        born = np.flatnonzero(spare & valid & (scores >= start_score) & ~clipped)
        self.started = len(born)
        if len(born):
            at_once = scores[born] >= cfg.birth_confirm_score  # a sure detection: its track is reported at once
            if sure is not None:
                at_once |= np.asarray(sure, dtype=bool).reshape(-1)[born]
            self._start(boxes[born], scores[born], labels[born], t, at_once)
            det_of_track = np.concatenate([det_of_track, born])
        coasting = (det_of_track < 0) & (t - self._last_hit <= cfg.coast_s + TIME_EPS_S) & (cfg.coast_s > 0)
        show = self._confirmed & ((det_of_track >= 0) | coasting)
        return TrackerOutput(self._ids[show].copy(), states_to_boxes(self._mean[show]), self._scores[show].copy(),
                             self._labels[show].copy(), det_of_track[show])

    def predict(self, t: float) -> TrackPredictions:
        """Every live track's box at video time ``t`` (s, >= the last update) with its margin, px.

        margin = ``margin_speed`` × speed (px/s) × (t − last hit) (s) + ``margin_sigmas`` × the predicted
        centre's std (px): it grows with how fast the object moves and how long it has not been seen, up to
        ``margin_max`` × the predicted box's longer side (px) when that is > 0.
        """
        if self.time is None:
            dt = 0.0
        else:
            dt = float(t) - self.time
            if not math.isfinite(dt) or dt < -TIME_EPS_S:
                raise ValueError(f"predict: time {t} s is before the last update ({self.time} s)")
        mean, cov = self.kf.predict(self._mean, self._cov, max(dt, 0.0))
        since = np.maximum(float(t) - self._last_hit, 0.0)
        speed = np.hypot(mean[:, 4], mean[:, 5])
        margins = self.cfg.margin_speed * speed * since + self.cfg.margin_sigmas * self.kf.position_std(cov)
        boxes = states_to_boxes(mean)
        if self.cfg.margin_max > 0.0:
            margins = np.minimum(margins, self.cfg.margin_max * boxes[:, 2:].max(axis=1, initial=0.0))
        return TrackPredictions(self._ids.copy(), boxes, margins, self._scores.copy(),
                                self._labels.copy(), self._confirmed.copy(), since)

    def current(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live track's ids (n,) and box (n, 4) ``[x, y, w, h]`` px at the last update (posterior)."""
        return self._ids.copy(), states_to_boxes(self._mean)

    def review(self, held: np.ndarray, backed: np.ndarray) -> np.ndarray:
        """A second opinion on the live tracks (in :meth:`current`'s order): ``held`` (n,) true where a stronger
        detector looked at the track's whole box this frame, ``backed`` (n,) true where it found something there.
        A held, unbacked track gets a veto, a backed one loses its vetoes; a track with ``veto_after`` vetoes in a
        row is deleted. Returns the ids deleted."""
        held = np.asarray(held, dtype=bool).reshape(-1)
        backed = np.asarray(backed, dtype=bool).reshape(-1)
        if len(held) != len(self._ids) or len(backed) != len(self._ids):
            raise ValueError(f"review: {len(held)} held / {len(backed)} backed flags for {len(self._ids)} tracks")
        self._backed |= backed
        self._vetoes = np.where(held & backed, 0, self._vetoes + (held & ~backed))
        if not self.cfg.veto_after:
            return np.zeros(0, dtype=np.int64)
        dead = self._vetoes >= self.cfg.veto_after
        gone = self._ids[dead].copy()
        self._keep(~dead)
        return gone

    def backed_ids(self) -> np.ndarray:
        """The ids of the live tracks that a stronger detector has found at least once (``backed`` in a
        :meth:`review`): objects of their own, not parts of another."""
        return self._ids[self._backed].copy()

    def _advance(self, t: float) -> float:
        """Check ``t`` and predict every track to it."""
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"update: time must be finite seconds, got {t}")
        if self.time is not None:
            if t < self.time - TIME_EPS_S:
                raise ValueError(f"update: time {t} s is before the last update ({self.time} s)")
            self._mean, self._cov = self.kf.predict(self._mean, self._cov, max(t - self.time, 0.0))
        self.time = t
        return t

    def _associate(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                   valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ByteTrack's two stages; returns matched (track indices, detection indices)."""
        cfg = self.cfg
        n = len(self._ids)
        if n == 0 or not valid.any():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pred = states_to_boxes(self._mean)
        high = np.flatnonzero(valid & (scores >= cfg.high_score))
        low = np.flatnonzero(valid & (scores < cfg.high_score))
        iou = size_gated(class_gated_iou(pred, self._labels, boxes[high], labels[high]), pred, boxes[high],
                         cfg.match_area_ratio)
        r1, c1 = greedy_match(iou, cfg.match_iou)
        rest = unmatched(n, r1)
        r2, c2 = greedy_match(class_gated_iou(pred[rest], self._labels[rest], boxes[low], labels[low]),
                              cfg.low_match_iou)
        return np.concatenate([r1, rest[r2]]), np.concatenate([high[c1], low[c2]])

    def _correct(self, track_idx: np.ndarray, det_idx: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                 clipped: np.ndarray, t: float, std: np.ndarray | None) -> None:
        z = boxes_to_measurements(boxes[det_idx])
        self._mean[track_idx], self._cov[track_idx] = self.kf.update(self._mean[track_idx], self._cov[track_idx], z,
                                                                     std)
        self._scores[track_idx] = scores[det_idx]
        self._score_sum[track_idx] += scores[det_idx]
        self._score_n[track_idx] += 1
        self._last_hit[track_idx] = t
        strong = (scores[det_idx] >= self.cfg.high_score) & ~clipped[det_idx]
        self._hits[track_idx[strong]] += 1
        self._confirm()

    def _confirm(self) -> None:
        """Confirm the tentative tracks with ``min_hits`` strong hits and a mean hit score >= ``confirm_mean_score``."""
        self._confirmed |= (self._hits >= self.cfg.min_hits) & (
            self._score_sum >= self.cfg.confirm_mean_score * self._score_n - 1e-9)

    def _start(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, t: float,
               at_once: np.ndarray) -> None:
        """New tracks for ``boxes`` (k, 4) px; ``at_once`` (k,) true for those confirmed at birth."""
        k = len(boxes)
        mean, cov = self.kf.initiate(boxes_to_measurements(boxes))
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._ids = np.concatenate([self._ids, np.arange(self._next_id, self._next_id + k, dtype=np.int64)])
        self._next_id += k
        self._labels = np.concatenate([self._labels, labels])
        self._scores = np.concatenate([self._scores, scores])
        self._score_sum = np.concatenate([self._score_sum, scores])
        self._score_n = np.concatenate([self._score_n, np.ones(k)])
        self._hits = np.concatenate([self._hits, np.ones(k, dtype=np.int64)])
        self._confirmed = np.concatenate([self._confirmed, np.zeros(k, dtype=bool)])
        self._last_hit = np.concatenate([self._last_hit, np.full(k, t)])
        self._vetoes = np.concatenate([self._vetoes, np.zeros(k, dtype=np.int64)])
        self._backed = np.concatenate([self._backed, np.zeros(k, dtype=bool)])
        self._confirm()  # min_hits 1: at once
        self._confirmed[-k:] |= at_once

    def _keep(self, keep: np.ndarray) -> None:
        if keep.all():
            return
        for name in ("_mean", "_cov", "_ids", "_labels", "_scores", "_score_sum", "_score_n", "_hits", "_confirmed",
                     "_last_hit", "_vetoes", "_backed"):
            setattr(self, name, getattr(self, name)[keep])


def _detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                clipped: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The detection arrays as float64 / int64 / bool with matching lengths (ValueError otherwise)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    clipped = np.zeros(len(boxes), dtype=bool) if clipped is None else np.asarray(clipped, dtype=bool).reshape(-1)
    if not len(boxes) == len(scores) == len(labels) == len(clipped):
        raise ValueError(f"update: {len(boxes)} boxes, {len(scores)} scores, {len(labels)} labels, "
                         f"{len(clipped)} clipped flags: lengths differ")
    return boxes, scores, labels, clipped
