"""The loop keeps each frame's detections before its score cuts (``ClosedLoop.ranked``) for average precision:
what the frame reports is among them, and what the score floor cut is still there."""

from __future__ import annotations

import dataclasses

import numpy as np

from runtime.loop import ClosedLoop
from runtime.loop_config import LoopConfig, LoopSettings
from runtime.modes import Mode
from runtime.patches import PatchConfig
from runtime.predictions import RANKED_KEY, ranked_extra
from runtime.replay import run_loop
from tests.runtime.test_replay import bright_blobs, video


def _settings(mode: Mode = Mode.PARALOUPE, **loop: object) -> LoopSettings:
    cfg = PatchConfig(skip_threshold=0.0, refresh_every=0, max_side=640)
    return LoopSettings(mode, cfg, 640, loop=LoopConfig(**loop), fps=10.0)  # type: ignore[arg-type]


def _low(image: np.ndarray, min_score: float | None = None):
    """bright_blobs at score 0.3: below the aggregator's 0.5 floor."""
    out = bright_blobs(image)
    d = out.detections
    d.scores = np.full(len(d), 0.3)
    return dataclasses.replace(out, detections=d)


def _rows(d) -> set[tuple]:
    return {(tuple(np.round(b, 1)), lab) for b, lab in zip(d.boxes, d.labels, strict=True)}


def test_tracked_loop_reports_a_subset_of_its_ranked_detections() -> None:
    loop = ClosedLoop(_settings(track=True, motion=True, whole_every=0))
    steps = list(run_loop(loop, video(10), {"mini": bright_blobs, "baseline": bright_blobs}))
    assert all(s.ranked is not None and s.ranked.frame == s.detections.frame for s in steps)
    assert all(_rows(s.detections) <= _rows(s.ranked) for s in steps)
    assert len(steps[-1].ranked) >= 2


def test_untracked_loop_keeps_what_the_score_floor_cut() -> None:
    loop = ClosedLoop(_settings(Mode.EP4, track=False, motion=False, whole_every=0))
    steps = list(run_loop(loop, video(4), {"mini": _low, "baseline": _low}))
    assert all(len(s.detections) == 0 for s in steps)  # 0.3 < the 0.5 floor
    assert all(len(s.ranked) >= 2 and np.allclose(s.ranked.scores, 0.3) for s in steps)
    line = steps[0].detections.to_line(**ranked_extra(steps[0].ranked))
    assert f'"{RANKED_KEY}"' in line


def _middling(image: np.ndarray, min_score: float | None = None):
    """bright_blobs at score 0.55: above the tracker's high score (0.5), below its confirmation mean (0.6)."""
    out = bright_blobs(image)
    d = out.detections
    d.scores = np.full(len(d), 0.55)
    return dataclasses.replace(out, detections=d)


def test_tracks_whose_hits_score_middling_on_average_are_never_confirmed() -> None:
    from runtime.tracker import TrackerConfig

    reported = {}
    for gate in (0.6, 0.5):
        tracker = TrackerConfig(new_track_score=0.5, camera_motion=False, confirm_mean_score=gate)
        loop = ClosedLoop(_settings(track=True, motion=False, whole_every=0, mini_start_score=0.5, tracker=tracker))
        steps = list(run_loop(loop, video(6), {"mini": _middling, "baseline": _middling}))
        reported[gate] = sum(len(s.detections) for s in steps)
    assert reported[0.6] == 0 and reported[0.5] >= 8
