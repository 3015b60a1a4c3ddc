"""The tracker: two-stage association, confirmation, lost buffer in seconds, clipped boxes, predictions,
ids over noisy synthetic motion, and a panning camera with and without compensation."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from runtime.config import from_mapping
from runtime.errors import UserError
from runtime.tracker import CameraMotion, Tracker, TrackerConfig, TrackerOutput

A = [100.0, 100.0, 40.0, 80.0]
B = [400.0, 200.0, 60.0, 60.0]
#: these tests follow a track from tentative to confirmed: no detection here confirms a track at its birth
TWO_HITS = TrackerConfig(birth_confirm_score=1.0)


def step(tr: Tracker, t: float, *dets: tuple, warp: np.ndarray | None = None) -> TrackerOutput:
    """Update with detections given as (box, score[, label[, clipped]])."""
    boxes = np.array([d[0] for d in dets], float).reshape(-1, 4)
    scores = np.array([d[1] for d in dets], float)
    labels = np.array([d[2] if len(d) > 2 else 0 for d in dets], int)
    clipped = np.array([d[3] if len(d) > 3 else False for d in dets], bool)
    return tr.update(t, boxes, scores, labels, clipped=clipped, warp=warp)


def test_config_loads_strictly() -> None:
    assert from_mapping(TrackerConfig, {}, "c") == TrackerConfig()
    cfg = from_mapping(TrackerConfig, {"max_lost_s": 2.5, "min_hits": 3}, "c")
    assert cfg.max_lost_s == 2.5 and cfg.min_hits == 3
    with pytest.raises(UserError, match="c.max_lost: unknown key"):
        from_mapping(TrackerConfig, {"max_lost": 2}, "c")
    with pytest.raises(UserError, match="c.match_area_ratio"):
        from_mapping(TrackerConfig, {"match_area_ratio": 0.5}, "c")
    with pytest.raises(UserError, match="c.match_iou"):
        from_mapping(TrackerConfig, {"match_iou": 1.5}, "c")
    with pytest.raises(UserError, match="new_track_score"):
        from_mapping(TrackerConfig, {"high_score": 0.7, "new_track_score": 0.6}, "c")
    with pytest.raises(UserError, match="low_score"):
        from_mapping(TrackerConfig, {"low_score": 0.6}, "c")
    for f in dataclasses.fields(TrackerConfig):
        assert f.metadata.get("help"), f.name


def test_confirmation_needs_a_second_strong_hit() -> None:
    tr = Tracker(TWO_HITS)
    out = step(tr, 0.0, (A, 0.9))
    assert len(out) == 0 and len(tr) == 1  # tentative, not reported
    out = step(tr, 0.1, (A, 0.9))
    assert out.ids.tolist() == [1] and out.det_index.tolist() == [0]
    np.testing.assert_allclose(out.boxes[0], A, atol=1e-6)
    assert out.scores.tolist() == [0.9] and out.labels.tolist() == [0] and out.ids.dtype == np.int64


def test_min_hits_three_and_one() -> None:
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, min_hits=3))
    assert len(step(tr, 0.0, (A, 0.9))) == 0
    assert len(step(tr, 0.1, (A, 0.9))) == 0
    assert step(tr, 0.2, (A, 0.9)).ids.tolist() == [1]
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, min_hits=1))
    assert step(tr, 0.0, (A, 0.9)).ids.tolist() == [1]


def test_tentative_track_dies_on_first_miss() -> None:
    tr = Tracker(TWO_HITS)
    step(tr, 0.0, (A, 0.9))
    step(tr, 0.1)
    assert len(tr) == 0
    step(tr, 0.2, (A, 0.9))
    assert step(tr, 0.3, (A, 0.9)).ids.tolist() == [2]  # a new id, never the dead one's


def test_new_track_needs_new_track_score() -> None:
    tr = Tracker(TWO_HITS)  # high 0.5, new 0.6
    step(tr, 0.0, (A, 0.55))  # high enough for stage 1, too low to start a track
    assert len(tr) == 0


def test_a_box_the_baseline_found_starts_a_track_from_its_own_threshold() -> None:
    tr = Tracker(TWO_HITS)  # new 0.6, baseline 0.45
    boxes, scores, labels = np.array([A, B], float), np.array([0.5, 0.5]), np.zeros(2, int)
    tr.update(0.0, boxes, scores, labels, from_baseline=np.array([True, False]))
    assert len(tr) == 1 and np.allclose(tr.current()[1][0], A, atol=1e-6)  # the mini's 0.5 starts nothing
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, baseline_track_score=0.6))
    tr.update(0.0, boxes, scores, labels, from_baseline=np.array([True, True]))
    assert len(tr) == 0
    with pytest.raises(UserError, match="c.baseline_track_score"):
        from_mapping(TrackerConfig, {"low_score": 0.3, "baseline_track_score": 0.2}, "c")


def test_a_sure_detection_is_reported_on_its_first_frame() -> None:
    tr = Tracker(TWO_HITS)
    boxes, scores, labels = np.array([A, B], float), np.array([0.7, 0.7]), np.zeros(2, int)
    out = tr.update(0.0, boxes, scores, labels, sure=np.array([True, False]))
    assert len(tr) == 2 and out.det_index.tolist() == [0]  # B is tentative: it waits for a second hit


def test_low_score_box_extends_a_track_but_never_starts_one() -> None:
    tr = Tracker(TWO_HITS)
    step(tr, 0.0, (A, 0.9))
    step(tr, 0.1, (A, 0.9))
    out = step(tr, 0.2, (A, 0.3), (B, 0.3))  # stage 2 keeps track 1; B (low) starts nothing
    assert out.ids.tolist() == [1] and out.scores.tolist() == [0.3] and out.det_index.tolist() == [0]
    assert len(tr) == 1
    for k in range(3, 8):
        step(tr, k / 10, (A, 0.9), (B, 0.4))
    assert tr.predict(0.8).ids.tolist() == [1]
    step(tr, 0.8, (B, 0.05))  # below low_score: dropped, track 1 coasts
    assert len(tr) == 1 and len(step(tr, 0.9)) == 0


def test_high_scores_match_before_low_scores() -> None:
    tr = Tracker(TWO_HITS)
    step(tr, 0.0, (A, 0.9))
    step(tr, 0.1, (A, 0.9))
    shifted = [A[0] + 2, A[1], A[2], A[3]]
    out = step(tr, 0.2, (A, 0.35), (shifted, 0.8))  # the low box fits better, the high one is matched first
    assert out.det_index.tolist() == [1] and len(tr) == 1
    # stage 2 has its own, stricter gate: a low box overlapping IoU ~0.33 does not extend the track
    far = [A[0] + 20, A[1], A[2], A[3]]
    assert len(step(tr, 0.3, (far, 0.4))) == 0
    assert len(step(tr, 0.4, (far, 0.9))) == 1  # the same box with a high score does (gate 0.2)


def test_weak_hits_keep_a_tentative_track_without_confirming_it() -> None:
    tr = Tracker(TWO_HITS)
    step(tr, 0.0, (A, 0.9))
    assert len(step(tr, 0.1, (A, 0.3))) == 0 and len(tr) == 1     # low score: alive, still tentative
    assert len(step(tr, 0.2, (A, 0.9, 0, True))) == 0 and len(tr) == 1  # clipped: alive, still tentative
    assert step(tr, 0.3, (A, 0.9)).ids.tolist() == [1]             # the confirming strong hit


def test_clipped_boxes_never_start_or_confirm_but_update_confirmed_tracks() -> None:
    tr = Tracker(TWO_HITS)
    for k in range(5):
        assert len(step(tr, k / 10, (A, 0.95, 0, True))) == 0
    assert len(tr) == 0
    step(tr, 0.5, (A, 0.9))
    step(tr, 0.6, (A, 0.9))
    moved = [A[0] + 3, A[1] + 1, A[2] - 4, A[3]]
    out = step(tr, 0.7, (moved, 0.9, 0, True))
    assert out.ids.tolist() == [1]
    assert out.boxes[0, 2] < A[2] - 2  # the clipped box updated the track


def test_matching_is_within_class() -> None:
    tr = Tracker(TWO_HITS)
    step(tr, 0.0, (A, 0.9, 0))
    step(tr, 0.1, (A, 0.9, 0))
    out = step(tr, 0.2, (A, 0.9, 1))  # same place, other class: not track 1
    assert len(out) == 0 and sorted(tr.predict(0.2).labels.tolist()) == [0, 1]
    out = step(tr, 0.3, (A, 0.9, 0), (A, 0.9, 1))
    assert out.ids.tolist() == [1, 2] and out.labels.tolist() == [0, 1] and out.det_index.tolist() == [0, 1]


@pytest.mark.parametrize("fps", [5.0, 30.0])
def test_lost_buffer_is_in_seconds(fps: float) -> None:
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, max_lost_s=1.0))
    last = int(fps)  # seen for one second
    for i in range(last + 1):
        step(tr, i / fps, (A, 0.9))
    gone = None
    for i in range(last + 1, last + int(3 * fps)):
        step(tr, i / fps)
        if len(tr) == 0:
            gone = i / fps - last / fps
            break
    assert gone is not None and 1.0 < gone <= 1.0 + 1.0 / fps + 1e-9
    # the same object back 0.8 s after its last hit keeps its id, at either frame rate
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, max_lost_s=1.0))
    for i in range(last + 1):
        step(tr, i / fps, (A, 0.9))
    back = last + int(round(0.8 * fps))
    for i in range(last + 1, back):
        step(tr, i / fps)
    assert step(tr, back / fps, (A, 0.9)).ids.tolist() == [1]


def test_a_box_on_part_of_a_tracked_object_does_not_take_its_track() -> None:
    """A confirmed 40 x 80 track; a box on its top third (IoU 0.33, area / 3) passes the IoU gate but not the
    area gate, so it starts its own track and the object's box keeps its size; without the gate it takes it."""
    part = [100.0, 100.0, 40.0, 27.0]
    for ratio, takes in ((2.0, False), (0.0, True)):
        tr = Tracker(TrackerConfig(birth_confirm_score=1.0, match_iou=0.3, match_area_ratio=ratio, camera_motion=False))
        for i in range(3):
            step(tr, i / 10, (A, 0.9))
        out = step(tr, 0.3, (part, 0.9))
        assert (out.ids.tolist() == [1]) is takes
        _, boxes = tr.current()
        assert bool(boxes[0, 3] < 70.0) is takes  # the object's track shrank onto the part


def test_frame_skipping_uses_video_time() -> None:
    """A box moving at 100 px/s, processed at irregular times: predictions follow the time, not the calls.
    Its 0.6 s gaps move it two widths while its velocity is still being learnt (IoU 0.27 with the prediction),
    so the stage-1 gate is ByteTrack's 0.2 here; the default's 0.3 starts a new track there."""
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, match_iou=0.2))
    times = [0.0, 0.1, 0.2, 0.3, 0.9, 1.0, 1.6, 1.7]
    for t in times:
        out = step(tr, t, ([100 + 100 * t, 50, 30, 60], 0.9))
    assert out.ids.tolist() == [1]
    pred = tr.predict(2.2)
    assert pred.boxes[0, 0] == pytest.approx(100 + 100 * 2.2, abs=3.0)
    with pytest.raises(ValueError):
        step(tr, 1.0, (A, 0.9))
    with pytest.raises(ValueError):  # bad input leaves the tracker as it was
        tr.update(1.8, np.zeros((2, 4)), np.zeros(1), np.zeros(2))
    with pytest.raises(ValueError):
        step(tr, 1.8, (A, 0.9), warp=np.eye(3))
    assert tr.time == 1.7


def test_predictions_and_margins() -> None:
    tr = Tracker(dataclasses.replace(TWO_HITS, margin_max=0.0))  # uncapped growth (the cap: the next test)
    for k in range(10):
        step(tr, k / 10, ([100 + 8 * k, 50, 30, 60], 0.9), ([400, 300, 30, 60], 0.9))
    now = tr.predict(0.9)
    soon, later = tr.predict(1.0), tr.predict(1.5)
    assert now.ids.tolist() == [1, 2] and now.confirmed.all()
    np.testing.assert_allclose(soon.boxes[0], [100 + 80, 50, 30, 60], atol=1.5)  # 80 px/s
    assert (later.margins > soon.margins).all() and (soon.margins > 0).all()
    assert later.margins[0] > later.margins[1]  # the moving track is less certain than the still one
    np.testing.assert_allclose(later.since_hit_s, [0.6, 0.6])
    before = tr.predict(0.9).boxes
    step(tr, 1.0, ([180, 50, 30, 60], 0.9))
    assert tr.predict(1.0).boxes.shape == (2, 4)
    np.testing.assert_allclose(before, now.boxes)  # predict does not change the tracker


def test_margin_is_capped_by_the_box_side() -> None:
    """margin_max caps a long-unseen, moving track's margin at that fraction of its longer side (60 px here);
    0 leaves it to grow with speed x time."""
    margins = {}
    for cap in (0.0, 0.25):
        tr = Tracker(dataclasses.replace(TWO_HITS, margin_max=cap))
        for k in range(10):
            step(tr, k / 10, ([100 + 8 * k, 50, 30, 60], 0.9))
        margins[cap] = tr.predict(3.0).margins[0]
    assert margins[0.0] > 30.0 and margins[0.25] == pytest.approx(15.0)


def _objects(n_frames: int, fps: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Five boxes moving on straight lines, kept apart (frame boxes per frame, row = object id)."""
    start = np.array([[50, 50], [50, 250], [600, 80], [600, 300], [300, 420]], float)
    vel = np.array([[60, 10], [45, -5], [-50, 20], [-40, -10], [30, -15]], float)
    size = np.array([[30, 60], [40, 80], [50, 50], [25, 50], [60, 120]], float)
    return [np.column_stack([start + vel * k / fps, size]) for k in range(n_frames)]


def test_noisy_moving_boxes_keep_their_ids() -> None:
    rng = np.random.default_rng(7)
    fps, tr = 10.0, Tracker(TWO_HITS)
    seen: dict[int, set[int]] = {}
    for k, truth in enumerate(_objects(60, fps, rng)):
        keep = rng.random(len(truth)) >= 0.2                          # 20 % missed
        boxes = truth + rng.normal(0, 1.5, truth.shape)               # 1.5 px noise
        scores = np.where(rng.random(len(truth)) < 0.2, 0.3, 0.85)    # 20 % low-score
        fp = np.array([[rng.uniform(0, 700), rng.uniform(0, 500), 30, 30]])  # one low false positive per frame
        out = tr.update(k / fps, np.vstack([boxes[keep], fp]), np.append(scores[keep], 0.4),
                        np.zeros(int(keep.sum()) + 1, int))
        objs = np.append(np.flatnonzero(keep), -1)
        for tid, d in zip(out.ids.tolist(), out.det_index.tolist(), strict=True):
            assert objs[d] >= 0, "a false positive was reported"
            seen.setdefault(int(objs[d]), set()).add(tid)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert all(len(ids) == 1 for ids in seen.values()), seen
    assert len({next(iter(ids)) for ids in seen.values()}) == 5


def _panning(compensate: bool, seed: int = 2) -> dict[int, set[int]]:
    """Three slow objects seen by a camera shaking by up to ±45 px per frame; the warp is the known shift."""
    rng = np.random.default_rng(seed)
    fps, tr = 10.0, Tracker(TWO_HITS)
    world = np.array([[300, 200, 40, 80], [500, 220, 50, 100], [700, 150, 60, 60]], float)
    vel = np.array([[10, 0], [-8, 5], [0, 6]], float)
    cam = np.zeros(2)
    seen: dict[int, set[int]] = {}
    for k in range(40):
        shift = rng.uniform(-45, 45, 2)
        cam += shift
        world[:, :2] += vel / fps
        boxes = world.copy()
        boxes[:, :2] -= cam
        warp = np.array([[1.0, 0.0, -shift[0]], [0.0, 1.0, -shift[1]]]) if compensate else None
        out = tr.update(k / fps, boxes + rng.normal(0, 1.0, boxes.shape), np.full(3, 0.9), np.zeros(3, int),
                        warp=warp)
        for tid, d in zip(out.ids.tolist(), out.det_index.tolist(), strict=True):
            seen.setdefault(d, set()).add(tid)
    return seen


def test_panning_camera_keeps_ids_only_with_compensation() -> None:
    with_cmc = _panning(True)
    assert sorted(with_cmc) == [0, 1, 2] and all(len(v) == 1 for v in with_cmc.values())
    without = _panning(False)
    assert sum(len(v) for v in without.values()) > 3 * 3


def _shaky_video(compensate: bool) -> dict[int, set[int]]:
    """Frames of a textured scene under a camera shaking by up to 25 px per frame; warp from CameraMotion."""
    rng = np.random.default_rng(5)
    w, h, pad = 480, 270, 80
    small = rng.integers(0, 256, ((h + 2 * pad) // 4, (w + 2 * pad) // 4), dtype=np.uint8)
    scene = cv2.GaussianBlur(cv2.resize(small, (w + 2 * pad, h + 2 * pad), interpolation=cv2.INTER_CUBIC), (0, 0), 1.2)
    world = np.array([[150, 120, 30, 60], [300, 150, 40, 40]], float)
    motion, tr = CameraMotion(width=240), Tracker(TWO_HITS)
    seen: dict[int, set[int]] = {}
    cam = np.array([pad, pad])
    for k in range(30):
        cam = np.clip(cam + rng.integers(-25, 26, 2), 0, 2 * pad)
        ox, oy = int(cam[0]), int(cam[1])
        warp = motion.estimate(scene[oy:oy + h, ox:ox + w]) if compensate else None
        boxes = world - [ox - pad, oy - pad, 0, 0]
        out = tr.update(k / 10, boxes, np.full(2, 0.9), np.zeros(2, int), warp=warp)
        for tid, d in zip(out.ids.tolist(), out.det_index.tolist(), strict=True):
            seen.setdefault(d, set()).add(tid)
    return seen


def test_shaky_video_with_estimated_camera_motion() -> None:
    """End to end: the warp estimated from the frames keeps both ids; without it they fragment."""
    with_cmc = _shaky_video(True)
    assert sorted(with_cmc) == [0, 1] and all(len(v) == 1 for v in with_cmc.values()), with_cmc
    assert sum(len(v) for v in _shaky_video(False).values()) > 2 * 2


def test_review_deletes_a_track_after_consecutive_vetoes() -> None:
    tr = Tracker(dataclasses.replace(TWO_HITS, veto_after=2, min_hits=1))
    step(tr, 0.0, (A, 0.9), (B, 0.9))
    ids, boxes = tr.current()
    assert ids.tolist() == [1, 2] and np.allclose(boxes[0], A, atol=1e-6)
    assert tr.review(np.array([True, True]), np.array([False, True])).tolist() == []  # one veto for track 1
    assert tr.review(np.array([False, True]), np.array([False, True])).tolist() == []  # not held: no change
    assert tr.review(np.array([True, True]), np.array([False, True])).tolist() == [1]  # second in a row
    assert tr.current()[0].tolist() == [2]
    tr.review(np.array([True]), np.array([False]))
    tr.review(np.array([True]), np.array([True]))  # backed: the count starts again
    assert tr.review(np.array([True]), np.array([False])).tolist() == [] and len(tr) == 1
    with pytest.raises(ValueError, match="review"):
        tr.review(np.array([True, False]), np.array([True, False]))
    never = Tracker(dataclasses.replace(TWO_HITS, veto_after=0, min_hits=1))
    step(never, 0.0, (A, 0.9))
    for _ in range(5):
        assert never.review(np.array([True]), np.array([False])).tolist() == []


def test_a_track_once_backed_stays_backed_while_it_lives() -> None:
    tr = Tracker(dataclasses.replace(TWO_HITS, veto_after=2, min_hits=1))
    step(tr, 0.0, (A, 0.9), (B, 0.9))
    assert tr.backed_ids().tolist() == []
    tr.review(np.array([True, False]), np.array([False, True]))  # B found by the stronger detector
    tr.review(np.array([True, True]), np.array([False, False]))  # not again: still backed, A vetoed twice
    assert tr.current()[0].tolist() == [2] and tr.backed_ids().tolist() == [2]
    step(tr, 0.1, (A, 0.9))  # B missed (confirmed: lives on), A starts again as a new, unbacked track
    assert tr.backed_ids().tolist() == [2]


def test_coasting_reports_a_briefly_missed_confirmed_track_at_its_prediction() -> None:
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, coast_s=0.15, camera_motion=False))
    step(tr, 0.0, (A, 0.9))
    step(tr, 0.1, (A, 0.8), (B, 0.9))  # A confirmed, B tentative
    out = step(tr, 0.2)  # both missed: A coasts, B (tentative) dies
    assert out.ids.tolist() == [1] and out.det_index.tolist() == [-1] and out.scores.tolist() == [0.8]
    np.testing.assert_allclose(out.boxes[0], A, atol=1.0)
    assert len(step(tr, 0.3)) == 0  # missed for 0.2 s > coast_s: alive (max_lost_s) but not reported
    assert len(tr) == 1
    plain = Tracker(TrackerConfig(birth_confirm_score=1.0, camera_motion=False))
    step(plain, 0.0, (A, 0.9))
    step(plain, 0.1, (A, 0.9))
    assert len(step(plain, 0.2)) == 0  # coast_s 0: only tracks hit in the frame


def test_feedback_reports_coasting_tracks_with_their_label() -> None:
    from runtime.detections import Detections
    from runtime.feedback import TrackFeedback

    fb = TrackFeedback(TrackerConfig(birth_confirm_score=1.0, coast_s=0.15, camera_motion=False), None, fps=10.0)
    frame = np.zeros((300, 500, 3), dtype=np.uint8)
    for f in range(2):
        fb.seeds(frame, f)
        fb.update(f, Detections(np.array([A]), ["vehicle"], np.array([0.9]), f), np.zeros(1, bool))
    fb.seeds(frame, 2)
    out = fb.update(2, Detections(np.zeros((0, 4)), [], np.zeros(0), 2), np.zeros(0, bool))
    assert out.labels == ["vehicle"] and out.ids.tolist() == [1] and out.scores.tolist() == [0.9]
    np.testing.assert_allclose(out.boxes[0], A, atol=1.0)


@pytest.mark.parametrize("output_box", ["detection", "filtered"])
def test_feedback_reports_the_detection_or_the_kalman_posterior_box(output_box: str) -> None:
    from runtime.detections import Detections
    from runtime.feedback import TrackFeedback

    cfg = from_mapping(TrackerConfig, {"output_box": output_box, "camera_motion": False, "birth_confirm_score": 1.0},
                       "tracker")
    fb = TrackFeedback(cfg, None, fps=10.0)
    frame = np.zeros((300, 500, 3), dtype=np.uint8)
    jittered = [A, [104.0, 100.0, 32.0, 80.0], A, [96.0, 100.0, 48.0, 80.0]]  # a still object, width 40 ± 8
    widths = []
    for f, box in enumerate(jittered):
        fb.seeds(frame, f)
        out = fb.update(f, Detections(np.array([box]), ["person"], np.array([0.9]), f), np.zeros(1, bool))
        if len(out):
            assert out.scores.tolist() == [0.9]  # the score is the detection's either way
            widths.append(float(out.boxes[0, 2]))
    assert len(widths) == 3  # confirmed on the second hit
    if output_box == "detection":
        assert widths == [32.0, 40.0, 48.0]
    else:  # the posterior lies between the prediction and the jittered detection
        assert 32.0 < widths[0] < 40.0 and 40.0 < widths[2] < 48.0


def test_feedback_trusts_a_baseline_box_more_and_a_clipped_box_less() -> None:
    from runtime.detections import Detections
    from runtime.feedback import TrackFeedback

    cfg = from_mapping(TrackerConfig, {"camera_motion": False, "std_baseline": 0.02, "std_clipped": 1.0}, "tracker")
    frame = np.zeros((300, 500, 3), dtype=np.uint8)
    wide = [96.0, 100.0, 48.0, 80.0]
    widths = {}
    for source in ("mini", "baseline", "clipped"):
        fb = TrackFeedback(cfg, None, fps=10.0)
        for f, box in enumerate([A, A, wide]):  # confirmed on A, then a wider box from the source
            fb.seeds(frame, f)
            out = fb.update(f, Detections(np.array([box]), ["person"], np.array([0.9]), f),
                            np.array([source == "clipped" and f == 2]),
                            from_baseline=np.array([source == "baseline" and f == 2]))
        widths[source] = float(out.boxes[0, 2])
    assert 40.0 < widths["clipped"] < widths["mini"] < widths["baseline"] < 48.0


def test_a_sure_detection_confirms_its_track_at_birth() -> None:
    tr = Tracker(TrackerConfig(birth_confirm_score=0.8))
    out = step(tr, 0.0, (A, 0.85), (B, 0.75))
    assert out.ids.tolist() == [1] and len(tr) == 2  # A at once; B tentative until its second strong hit
    assert step(tr, 0.1, (A, 0.85), (B, 0.75)).ids.tolist() == [1, 2]
    assert step(tr, 0.2, (B, 0.75)).ids.tolist() == [2] and len(tr) == 2  # A missed: confirmed, so it lives on
    assert Tracker().cfg.birth_confirm_score == 0.75  # the default


def test_confirmation_needs_a_mean_score_too_and_then_stays() -> None:
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, new_track_score=0.5, confirm_mean_score=0.6))
    step(tr, 0.0, (A, 0.55), (B, 0.9))
    out = step(tr, 0.1, (A, 0.55), (B, 0.5))  # A: two strong hits at mean 0.55; B: mean 0.7
    assert out.ids.tolist() == [2] and len(tr) == 2
    assert step(tr, 0.2, (A, 0.75), (B, 0.5)).ids.tolist() == [1, 2]  # A's mean reaches 0.6; B's falls below it
    assert step(tr, 0.3, (A, 0.5), (B, 0.5)).ids.tolist() == [1, 2]  # confirmed tracks stay confirmed
    tr = Tracker(TrackerConfig(birth_confirm_score=1.0, new_track_score=0.5, confirm_mean_score=0.6, min_hits=1))
    assert step(tr, 0.0, (A, 0.55), (B, 0.9)).ids.tolist() == [2]


def test_feedback_review_a_fragment_is_not_backed_by_the_whole_objects_box() -> None:
    """A mini's track on part of a close-up vehicle (the default veto_iou): the baseline's box of the whole vehicle
    does not back it (IoU 0.4), so two passes in a row delete it; the track of the whole vehicle stays."""
    from runtime.detections import Detections
    from runtime.feedback import TrackFeedback

    fb = TrackFeedback(TrackerConfig(birth_confirm_score=1.0, camera_motion=False), None, fps=10.0)
    frame = np.zeros((300, 500, 3), dtype=np.uint8)
    whole, fragment = [200.0, 100.0, 160.0, 120.0], [220.0, 120.0, 120.0, 64.0]  # fragment: 0.4 of its area
    for f in range(2):
        fb.seeds(frame, f)
        out = fb.update(f, Detections(np.array([whole, fragment]), ["vehicle"] * 2, np.array([0.9, 0.9]), f),
                        np.zeros(2, bool))
    assert sorted(out.ids.tolist()) == [1, 2]
    seen = Detections(np.array([whole]), ["vehicle"], np.array([0.9]), 1)
    everything = np.array([[0.0, 0.0, 500.0, 300.0]])
    for _ in range(2):
        out = fb.review(out, everything, 320, seen, 500, 300, 0.0)
    assert out.ids.tolist() == [1]
    np.testing.assert_allclose(out.boxes[0], whole, atol=1.0)
