"""Scene cuts: a new view after a failed camera-motion fit is a cut; a pan, a lost fit on a near-identical frame,
or a changed frame whose fit held is not. The closed loop drops its tracks at a cut and sends the whole grid."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.discovery.scene_cut import SceneCut
from runtime.frame_plan import BASELINE_TILE
from runtime.loop import ClosedLoop
from runtime.replay import run_loop
from runtime.tracker import CameraMotion
from tests.runtime.test_loop import _settings
from tests.runtime.test_replay import bright_blobs, video
from tests.runtime.tracker.test_tracker_camera_motion import textured


def test_a_new_view_after_a_lost_fit_is_a_cut() -> None:
    cut = SceneCut(min_diff=20.0)
    a, b = textured(seed=0), textured(seed=1) // 3  # another, darker view
    assert not cut.update(a, camera_lost=False)  # first frame: nothing to differ from
    assert not cut.update(a, camera_lost=True)   # the fit failed but the view is the same
    assert cut.update(b, camera_lost=True)
    assert cut.diff >= 20.0
    assert not cut.update(a, camera_lost=False)  # a large change the fit followed (a pan, a jolt)
    cut.reset()
    assert not cut.update(b, camera_lost=True) and cut.diff == 0.0


def test_min_diff_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_diff"):
        SceneCut(0.0)


def test_camera_motion_reports_a_lost_fit_only_with_a_previous_frame() -> None:
    motion = CameraMotion()
    frame = textured(seed=0)
    motion.estimate(frame)
    assert not motion.lost  # no previous frame: nothing to lose
    motion.estimate(np.roll(frame, 5, axis=1))
    assert not motion.lost and motion.inliers > 0
    motion.estimate(textured(seed=7))  # another view: its corners are not the last frame's
    assert motion.lost and motion.inliers == 0


def _switching_video(n: int, cut_at: int):
    """The test video's two squares on a dark background, then from ``cut_at`` the same squares on a bright
    textured view (a scene cut)."""
    view = (textured(320, 240, seed=3) // 4 + 70).astype(np.uint8)  # below bright_blobs' 140
    for f, img in video(n):
        if f >= cut_at:
            img = np.where(img > 140, img, view)
        yield f, img


def test_the_loop_starts_over_at_a_scene_cut() -> None:
    loop = ClosedLoop(_settings(track=True, whole_every=3, whole_side=160, whole_grid=[2, 2], whole_tiles=1,
                                cut_diff=20.0))
    seen = []
    for step in run_loop(loop, _switching_video(9, cut_at=5), {"mini": bright_blobs, "baseline": bright_blobs}):
        seen.append((step.kinds.count(BASELINE_TILE), loop.cut, len(loop.feedback.tracker)))
    tiles, cuts, tracks = zip(*seen, strict=True)
    assert cuts == (False,) * 5 + (True,) + (False,) * 3
    assert tiles[5] == 4  # the cut frame: every tile of the grid
    assert tiles[:5] == (1, 0, 0, 1, 0)  # before: one tile every third frame
    assert tracks[4] >= 2  # the squares were tracked before the cut


def test_no_cut_with_cut_diff_zero() -> None:
    loop = ClosedLoop(_settings(track=True, whole_every=0, cut_diff=0.0))
    for _ in run_loop(loop, _switching_video(7, cut_at=4), {"mini": bright_blobs, "baseline": bright_blobs}):
        assert not loop.cut


@pytest.mark.parametrize("score", [0.45, 0.0])
def test_a_cut_reports_what_the_whole_grid_found_at_once(score: float) -> None:
    """``loop.cut_confirm_score``: on the cut frame the tracks the grid's boxes start are reported at once; off
    (0), they wait for a second hit like any new track (no box here is sure enough to be confirmed at birth)."""
    from runtime.tracker import TrackerConfig
    from tests.runtime.test_replay import squares

    loop = ClosedLoop(_settings(track=True, whole_every=3, whole_side=160, whole_grid=[2, 2], whole_tiles=1,
                                cut_diff=20.0, cut_confirm_score=score,
                                tracker=TrackerConfig(birth_confirm_score=1.0)))
    steps = list(run_loop(loop, _switching_video(7, cut_at=5), {"mini": bright_blobs, "baseline": bright_blobs}))
    at_cut = steps[5].detections
    assert len(loop.feedback.tracker) >= 2  # the squares were found again on the cut frame
    expected = len(squares(5)) if score > 0 else 0
    assert len(at_cut) == expected
    assert len(steps[6].detections) == len(squares(6))  # a second hit confirms them either way
