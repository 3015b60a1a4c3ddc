"""The shared closed loop: tracked feedback (confirmed tracks out, ids kept), the whole-frame pass as a
baseline entry, clipped flags and box warping; and the master placing a mixed-kind frame."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from runtime.cluster.aggregate import PatchDetections
from runtime.cluster.master import plan
from runtime.config import from_mapping
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.feedback import clipped_flags, warp_boxes
from runtime.frame_plan import BASELINE_TILE, LARGE_FRAME, STILL_TILE, WHOLE_FRAME, FramePlan, keep_within, patch_budget
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopConfig, LoopSettings
from runtime.modes import Mode
from runtime.patches import PatchConfig
from runtime.patches.generators import FramePatches
from runtime.patches.refiner import PatchKind, grid_tiles
from runtime.replay import run_loop
from runtime.tracker import TrackerConfig
from tests.runtime.test_replay import _matched, bright_blobs, squares, video


def _settings(**loop: object) -> LoopSettings:
    loop.setdefault("still_grid", [])  # the still camera's finer tiles only where a test asks for them
    loop.setdefault("start_cut", False)  # likewise a stream's first frame handled as a scene cut
    cfg = PatchConfig(skip_threshold=0.0, refresh_every=0, max_side=640)
    return LoopSettings(Mode.PARALOUPE, cfg, 640, loop=LoopConfig(**loop), fps=10.0)  # type: ignore[arg-type]


def test_tracked_loop_reports_confirmed_tracks_with_stable_ids() -> None:
    loop = ClosedLoop(_settings(track=True, motion=True, whole_every=0))
    steps = list(run_loop(loop, video(14), {"mini": bright_blobs, "baseline": bright_blobs}))
    assert len(steps[0].detections.boxes) == 0  # a first hit is tentative: nothing reported yet
    ids = set()
    for s in steps[3:]:
        d = s.detections
        assert _matched(d.boxes, squares(d.frame)) == 2
        assert d.ids is not None and len(d.ids) == len(d.boxes)
        ids |= {int(i) for i in d.ids}
    assert len(ids) == 2  # one id per square over the whole video
    assert '"track_ids"' in steps[-1].detections.to_line()


def test_whole_frame_pass_goes_to_the_baseline_model_every_k_frames() -> None:
    calls = {"mini": 0, "baseline": 0}

    def counting(kind: str):
        def detect(image: np.ndarray, min_score: float | None = None):
            calls[kind] += 1
            return bright_blobs(image)
        return detect

    loop = ClosedLoop(_settings(track=True, whole_every=3, whole_side=160, whole_grid=[1, 1], whole_tiles=1))
    assert loop.whole_pass
    steps = list(run_loop(loop, video(9), {"mini": counting("mini"), "baseline": counting("baseline")}))
    wholes = [s.kinds.count(WHOLE_FRAME) for s in steps]
    assert wholes == [1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert calls["baseline"] == 3 and calls["mini"] > 0


def test_a_pass_follows_a_frame_that_started_tracks() -> None:
    loop = ClosedLoop(_settings(track=True, whole_every=3, whole_follow=1, whole_side=160, whole_grid=[2, 1],
                                whole_tiles=1))
    steps = list(run_loop(loop, video(9), {"mini": bright_blobs, "baseline": bright_blobs}))
    tiles = [[tuple(r) for r, k in zip(s.rects, s.kinds, strict=True) if k == BASELINE_TILE] for s in steps]
    # frame 0's tile (the left half) starts the left square's track, so frame 1 gets a pass too: the right half,
    # where the other square starts one, so frame 2 gets one; nothing new after that: every 3rd frame again
    assert [len(t) for t in tiles] == [1, 1, 1, 1, 0, 0, 1, 0, 0]
    assert tiles[0] == tiles[2] != tiles[1] == tiles[3]


def test_untracked_loop_is_the_plain_aggregate() -> None:
    loop = ClosedLoop(_settings(track=False, motion=False, whole_every=0))
    assert loop.feedback is None and not loop.whole_pass
    steps = list(run_loop(loop, video(6), {"mini": bright_blobs, "baseline": bright_blobs}))
    assert all(s.detections.ids is None for s in steps)


def test_clipped_flags_use_inner_borders_only() -> None:
    rects = np.array([[0, 0, 100, 100], [100, 0, 200, 100]])
    boxes = np.array([[10, 10, 20, 20],     # whole inside the first patch
                      [90, 10, 9, 20],      # touches the first patch's inner right border
                      [0, 0, 10, 10],       # at the frame corner: frame edges are no borders
                      [95, 10, 10, 10]])    # straddles both patches: no patch holds it whole
    assert clipped_flags(boxes, rects, 200, 100, border_px=2.0).tolist() == [False, True, False, True]
    assert clipped_flags(boxes, np.zeros((0, 4)), 200, 100, 2.0).all()


def test_warp_boxes_translation_and_scale() -> None:
    boxes = np.array([[10.0, 20.0, 30.0, 40.0]])
    shift = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, -3.0]])
    np.testing.assert_allclose(warp_boxes(boxes, shift), [[15.0, 17.0, 30.0, 40.0]])
    zoom = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    np.testing.assert_allclose(warp_boxes(boxes, zoom), [[20.0, 40.0, 60.0, 80.0]])


def test_master_places_a_mixed_kind_frame() -> None:
    kinds = {"m160": "mini", "b480": "baseline"}
    state = {"endpoint": "tcp://x", "cost": 0.0,
             "models": {"m160": {"latency_ms": 10.0, "accuracy": 0.8}, "b480": {"latency_ms": 100.0, "accuracy": 0.5}}}
    devices = {"a": state, "b": dict(state, endpoint="tcp://y")}
    request = {"req": "r", "frame": 0, "kind": "mini", "slo_ms": 250.0, "exclude": [], "bandwidths": {},
               "patches": [{"bytes": 1000, "confidence": 1.0}] * 4 + [{"bytes": 9000, "confidence": 1.0,
                                                                        "kind": "baseline"}]}
    out = plan(request, devices, kinds, "greedy", 0.0, 1e8)
    assert "error" not in out
    assert [m for _, m in out["assignment"]] == ["m160"] * 4 + ["b480"]
    assert set(out["devices"]["a"]["models"]) == {"m160", "b480"}
    hello = plan(dict(request, patches=[], kinds=["mini"]), devices, kinds, "greedy", 0.0, 1e8)
    assert set(hello["devices"]["a"]["models"]) == {"m160"}


def test_baseline_pass_tiles_rotate_over_the_grid() -> None:
    loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[2, 2], whole_tiles=2))
    steps = list(run_loop(loop, video(4), {"mini": bright_blobs, "baseline": bright_blobs}))
    tiles = [[r for r, k in zip(s.rects, s.kinds, strict=True) if k == BASELINE_TILE] for s in steps]
    assert [len(t) for t in tiles] == [2, 2, 2, 2]
    assert {tuple(r) for t in tiles[:2] for r in t} == {(0, 0, 160, 120), (160, 0, 320, 120), (0, 120, 160, 240),
                                                        (160, 120, 320, 240)}


def test_patch_budget_and_priority() -> None:
    assert patch_budget(250.0, [12.0, 12.0, 12.0, 12.0]) == 80
    assert patch_budget(250.0, [12.0, 12.0], reserved_ms=167.0) == 40 - 14
    assert patch_budget(10.0, []) == 1
    kinds = np.array([PatchKind.REFRESH, PatchKind.LOW, PatchKind.HIGH, PatchKind.HIGH], dtype=np.int8)
    fp = FramePatches(0, 100, 100, np.arange(16).reshape(4, 4), np.ones(4), kinds)
    kept = keep_within(fp, 3)
    assert kept.kinds.tolist() == [PatchKind.LOW, PatchKind.HIGH, PatchKind.HIGH]
    assert keep_within(fp, None) is fp


def _blind(image: np.ndarray, min_score: float | None = None):
    """A baseline that finds nothing."""
    return bright_blobs(np.zeros_like(image))


def test_baseline_tiles_veto_tracks_they_hold_but_do_not_see() -> None:
    def ids_seen(veto_after: int, baseline) -> set[int]:
        tracker = dataclasses.replace(TrackerConfig(), veto_after=veto_after, veto_min_side=16.0,
                                      birth_confirm_score=1.0)  # frame 0's duplicate births die unreported
        loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[2, 2], whole_tiles=4,
                                    tracker=tracker))
        steps = list(run_loop(loop, video(10), {"mini": bright_blobs, "baseline": baseline}))
        return {int(i) for s in steps for i in (s.detections.ids if s.detections.ids is not None else [])}

    assert len(ids_seen(2, bright_blobs)) == 2  # backed by the baseline: one track per square throughout
    assert len(ids_seen(0, _blind)) == 2  # no veto: the minis' tracks live on
    assert ids_seen(2, _blind) == set()  # vetoed: tracks the baseline held whole but never saw are never reported


def test_grid_tiles_overlap_into_neighbours() -> None:
    plain = grid_tiles(2, 1, 100, 50)
    assert plain.tolist() == [[0, 0, 50, 50], [50, 0, 100, 50]]
    grown = grid_tiles(2, 1, 100, 50, overlap=0.2)
    assert grown.tolist() == [[0, 0, 60, 50], [40, 0, 100, 50]]  # 20 % of a 50-px cell into the neighbour


def test_whole_frame_mode_through_the_tracker() -> None:
    raw = ClosedLoop(LoopSettings(Mode.BASELINE, PatchConfig(), 320, fps=10.0))
    tracked = ClosedLoop(LoopSettings(Mode.BASELINE, PatchConfig(), 320, fps=10.0, track_whole=True))
    assert raw.feedback is None and tracked.feedback is not None and not tracked.whole_pass
    plain = list(run_loop(raw, video(5), {"baseline": bright_blobs}))
    steps = list(run_loop(tracked, video(5), {"baseline": bright_blobs}))
    assert len(plain[0].detections) == 2 and plain[0].detections.ids is None  # raw per-frame detections
    # scores 0.9 >= tracker.birth_confirm_score: confirmed on their first frame, one track each throughout
    assert all(len(s.detections) == 2 and set(s.detections.ids.tolist()) == {1, 2} for s in steps)


def _panning(n: int, step_px: int = 6):
    """A textured 320 x 240 view panning right by ``step_px`` a frame (the camera moves; no object)."""
    world = np.random.default_rng(0).integers(0, 255, (240, 320 + n * step_px), dtype=np.uint8)
    world = cv2.GaussianBlur(world, (5, 5), 0)
    for f in range(n):
        yield f, cv2.cvtColor(np.ascontiguousarray(world[:, f * step_px:f * step_px + 320]), cv2.COLOR_GRAY2BGR)


def test_a_still_camera_adds_finer_tiles_to_each_pass() -> None:
    settings = _settings(track=True, whole_every=1, whole_side=160, whole_grid=[1, 1], whole_tiles=1,
                         still_grid=[4, 2], still_tiles=1, still_below=0.0)
    assert settings.loop.pass_tiles == 2
    models = {"mini": bright_blobs, "baseline": bright_blobs}
    steps = list(run_loop(ClosedLoop(settings), video(9), models))
    fine = [[tuple(r) for r, k in zip(s.rects, s.kinds, strict=True) if k == STILL_TILE] for s in steps]
    assert all(s.kinds.count(WHOLE_FRAME) == 1 for s in steps)
    assert [len(t) for t in fine] == [1] * 9
    assert {t[0] for t in fine[:8]} == {tuple(int(v) for v in r) for r in grid_tiles(4, 2, 320, 240)}
    assert fine[8] == fine[0]  # the rotation starts over
    moving = list(run_loop(ClosedLoop(settings), _panning(6), models))
    assert all(STILL_TILE not in s.kinds for s in moving[1:])  # a moving camera: the coarse grid only


def test_the_finer_grid_waits_for_a_small_track() -> None:
    models = {"mini": bright_blobs, "baseline": bright_blobs}
    # the squares (24-30 px) are 12-15 px at the whole frame's 160 px input: small below 20, not below 10
    for below, sent in ((20.0, [0, 1, 1, 1, 1]), (10.0, [0] * 5)):
        loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[1, 1], whole_tiles=1,
                                    still_grid=[4, 2], still_tiles=1, still_below=below))
        assert [s.kinds.count(STILL_TILE) for s in run_loop(loop, video(5), models)] == sent  # none before a track


def test_the_finer_grid_looks_again_where_small_tracks_are() -> None:
    """With still_small_tiles 1 one of a pass's two finer tiles goes, in turn, to the tiles holding a small track's
    centre (the two squares': 12-15 px at the 160 px input, below still_below 20); the other keeps rotating."""
    models = {"mini": bright_blobs, "baseline": bright_blobs}
    tiles = [tuple(int(v) for v in r) for r in grid_tiles(4, 2, 320, 240)]
    holding = [tiles[0], tiles[6]]  # square A's centre (52 + 3f, 72) and square B's (215, 165 - 2f)
    for small in (1, 0):
        loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[1, 1], whole_tiles=1,
                                    still_grid=[4, 2], still_tiles=2, still_small_tiles=small, still_below=20.0))
        sent = [[tuple(r) for r, k in zip(s.rects, s.kinds, strict=True) if k == STILL_TILE]
                for s in run_loop(loop, video(7), models)][1:]  # frame 0: no track yet, no finer tile
        assert [len(t) for t in sent] == [2] * 6
        if small:
            assert [t[1] for t in sent] == holding * 3  # in turn
            assert [t[0] for t in sent] == tiles[:6]  # the rotation goes on one tile a pass
        else:
            assert [t for pair in sent for t in pair] == tiles + tiles[:4]


def test_a_stream_starts_with_the_whole_grid_when_start_cut() -> None:
    models = {"mini": bright_blobs, "baseline": bright_blobs}
    for start_cut, first in ((True, 4), (False, 1)):
        loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[2, 2], whole_tiles=1,
                                    start_cut=start_cut, cut_diff=0.0))
        steps = list(run_loop(loop, video(3), models))
        assert [s.kinds.count(BASELINE_TILE) for s in steps] == [first, 1, 1]
        loop.reset()
        assert [s.kinds.count(BASELINE_TILE) for s in run_loop(loop, video(2), models)] == [first, 1]


def test_whole_frame_joins_the_tile_rotation() -> None:
    loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[2, 1], whole_tiles=2,
                                whole_frame_too=True))
    steps = list(run_loop(loop, video(3), {"mini": bright_blobs, "baseline": bright_blobs}))
    passes = [[(r, k) for r, k in zip(s.rects, s.kinds, strict=True) if k in (WHOLE_FRAME, BASELINE_TILE)]
              for s in steps]
    assert passes[0] == [((0, 0, 320, 240), WHOLE_FRAME), ((0, 0, 160, 240), BASELINE_TILE)]
    assert passes[1] == [((160, 0, 320, 240), BASELINE_TILE), ((0, 0, 320, 240), WHOLE_FRAME)]


def _scored(score: float, threshold: float):
    """bright_blobs at ``score`` from a model whose own score threshold is ``threshold``: reported when ``score``
    reaches the threshold, or the lower ``min_score`` the caller asks for."""
    def detect(image: np.ndarray, min_score: float | None = None):
        out = bright_blobs(image)
        floor = threshold if min_score is None else min(min_score, threshold)
        keep = np.full(len(out.detections), score >= floor)
        d = out.detections.select(keep)
        d.scores = np.full(len(d), score)
        return dataclasses.replace(out, detections=d)
    return detect


def test_low_score_baseline_boxes_become_candidates_the_minis_confirm() -> None:
    def ids_seen(candidate_score: float) -> set[int]:
        settings = _settings(track=True, motion=False, whole_every=1, whole_side=160, whole_grid=[1, 1],
                             whole_tiles=1, candidate_score=candidate_score)
        settings.patches.r_high = 0.5  # room around the blobs: JPEG blur must not reach a patch's border
        loop = ClosedLoop(settings)
        assert loop.proposes == (candidate_score < 1.0)
        steps = list(run_loop(loop, video(8), {"mini": _scored(0.65, 0.4), "baseline": _scored(0.3, 0.45)}))
        floors = {e for s in steps for e in s.kinds}
        assert WHOLE_FRAME in floors
        return {int(i) for s in steps for i in (s.detections.ids if s.detections.ids is not None else [])}

    assert ids_seen(1.0) == set()  # the minis' 0.65 < mini_start_score and the baseline reports nothing
    assert len(ids_seen(0.2)) == 2  # the baseline's 0.3 boxes back the minis' finds: both squares tracked


def test_candidates_get_a_low_conf_patch_and_verify_a_mini_detection() -> None:
    from runtime.feedback import TrackFeedback

    fb = TrackFeedback(TrackerConfig(camera_motion=False), None, fps=10.0)
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    fb.seeds(frame, 0)
    assert fb.propose(np.array([[20.0, 30.0, 10.0, 20.0], [100.0, 40.0, 12.0, 12.0]]), 0.3) == 2
    seeds = fb.seeds(frame, 1)
    np.testing.assert_allclose(seeds.candidates, [[20, 30, 10, 20], [100, 40, 12, 12]])
    assert fb.verified(np.array([[21.0, 31.0, 10.0, 20.0], [60.0, 60.0, 10.0, 10.0]]), 0.3).tolist() == [True, False]
    assert len(fb.seeds(frame, 2).candidates) == 0  # a candidate lives one frame

    loop = ClosedLoop(_settings(track=True, motion=False, whole_every=0))
    patches = loop._add_candidates(FramePatches(0, 160, 120), np.array([[20.0, 30.0, 10.0, 20.0]]))
    assert patches.kind_names() == ["low"]
    x0, y0, x1, y1 = patches.rects[0]
    assert x0 <= 20 and y0 <= 30 and x1 >= 30 and y1 >= 50  # centred on it, holding it whole


def test_a_detection_seen_small_in_a_neighbours_patch_becomes_a_candidate() -> None:
    from runtime.detections import Detections
    from runtime.frame_plan import Entry, FramePlan

    loop = ClosedLoop(_settings(track=True, motion=False, whole_every=0, zoom_below=0.3))
    plan = FramePlan(0, 320, 240, [Entry((0, 0, 200, 200), "high", 1.0, b""),
                                   Entry((100, 100, 140, 140), "high", 1.0, b""),
                                   Entry((0, 0, 320, 240), WHOLE_FRAME, 1.0, b"", "baseline")])
    merged = Detections(np.array([[10.0, 10.0, 20.0, 20.0],     # 20 px in a 200 px patch: 0.1 -> zoom in
                                  [105.0, 105.0, 20.0, 20.0],   # also in the 40 px patch: 0.5 -> seen well
                                  [10.0, 150.0, 80.0, 40.0]]),  # 80 of 200: 0.4 -> seen well
                        ["person"] * 3, np.array([0.3, 0.3, 0.3]), 0)
    minis = np.array([e.rect for e in plan.entries if e.model_kind == "mini"], dtype=np.float64)
    loop.feedback.untaken = np.array([True, True, True])
    np.testing.assert_allclose(loop._seen_small(plan, merged, minis), [[10, 10, 20, 20]])
    loop.feedback.untaken = np.array([False, True, True])  # a track took it: nothing to look at
    assert len(loop._seen_small(plan, merged, minis)) == 0


def _with_fragments(image: np.ndarray, min_score: float | None = None):
    """:func:`bright_blobs` plus, inside each blob, a box of its central part (a fragment of the same object)."""
    found = bright_blobs(image, min_score)
    d = found.detections
    parts = np.concatenate([d.boxes[:, :2] + d.boxes[:, 2:] * 0.2, d.boxes[:, 2:] * 0.6], axis=1)
    both = type(d)(np.concatenate([d.boxes, parts]), d.labels * 2, np.concatenate([d.scores, d.scores]))
    return dataclasses.replace(found, detections=both)


def test_output_drops_a_tracks_box_inside_a_larger_box_of_its_class() -> None:
    reported = {}
    for share in (0.8, 0.0):
        loop = ClosedLoop(LoopSettings(Mode.BASELINE, PatchConfig(), 320, loop=LoopConfig(output_contain=share),
                                       fps=10.0, track_whole=True))
        steps = list(run_loop(loop, video(4), {"baseline": _with_fragments}))
        reported[share] = [len(s.detections) for s in steps[1:]]
        if share:
            assert all(_matched(s.detections.boxes, squares(s.detections.frame)) == 2 for s in steps[1:])
    assert reported == {0.8: [2, 2, 2], 0.0: [4, 4, 4]}  # the fragments' tracks live; off, they are reported


def test_a_box_inside_a_larger_one_is_reported_once_a_baseline_entry_found_its_track() -> None:
    def reported(baseline) -> list[int]:
        loop = ClosedLoop(_settings(track=True, motion=False, whole_every=1, whole_side=160, whole_grid=[1, 1],
                                    whole_tiles=1, output_contain=0.8))
        steps = list(run_loop(loop, video(5), {"mini": _with_fragments, "baseline": baseline}))
        return [len(s.detections) for s in steps[2:]]

    assert reported(bright_blobs) == [2, 2, 2]  # the baseline never saw the inner boxes: parts, not reported
    assert reported(_with_fragments) == [4, 4, 4]  # it found them: objects of their own, each reported


def _textured_squares(n: int):
    """The test video's squares in a 3-px checkerboard (both shades bright_blobs' blobs): moving texture, so
    frame differencing sees each whole square move, not only its leading and trailing edges."""
    for f, img in video(n):
        bright = img > 140
        ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
        checks = (((xs // 3) + (ys // 3)) % 2 == 0)[:, :, None]
        yield f, np.where(bright & checks, np.uint8(180), img)


def test_a_motion_box_lets_a_mini_detection_start_a_track() -> None:
    """20 frames: the camera is still (camera motion finds too few corners on the flat background), so the motion
    boxes come from MOG2, which gives none while young (frames 5–9) — the squares were there from frame 0."""

    def ids_seen(motion_verifies: bool) -> set[int]:
        settings = _settings(track=True, motion=True, whole_every=0, motion_verifies=motion_verifies)
        settings.patches.r_high = 0.5
        steps = list(run_loop(ClosedLoop(settings), _textured_squares(20),
                              {"mini": _scored(0.65, 0.4), "baseline": bright_blobs}))
        return {int(i) for s in steps for i in (s.detections.ids if s.detections.ids is not None else [])}

    assert ids_seen(False) == set()  # the minis' 0.65 < mini_start_score, and nothing else vouches for them
    assert len(ids_seen(True)) == 2  # both squares move: their motion boxes vouch for the minis' boxes


def test_a_small_motion_box_inside_a_big_patch_gets_a_region_with_motion_served() -> None:
    from runtime.feedback import Seeds

    big = FramePatches(0, 640, 360, np.array([[100, 50, 400, 350]]), np.array([1.0]), PatchKind.HIGH.fill(1))
    motion = np.array([[200.0, 100.0, 12.0, 20.0], [150.0, 80.0, 200.0, 220.0]])  # a small and a large mover

    def regions(served: float) -> np.ndarray:
        loop = ClosedLoop(_settings(track=True, motion=True, motion_served=served))
        out = loop._add_motion(big, Seeds(np.zeros((0, 4)), motion))
        return out.rects[1:]  # the big patch stays first

    assert len(regions(0.0)) == 0  # both held whole by the big patch
    small = regions(0.4)  # 20 px < 0.4 × 300 px: too small at that patch's scale; the large one is served there
    assert len(small) == 1
    x0, y0, x1, y1 = small[0]
    assert x0 <= 200 and y0 <= 100 and x1 >= 212 and y1 >= 120  # holds it whole
    assert 0.4 * max(x1 - x0, y1 - y0) <= 20  # at a scale a mini serves


def test_still_small_tiles_is_at_most_still_tiles() -> None:
    assert from_mapping(LoopConfig, {"still_tiles": 3, "still_small_tiles": 3}, "t: loop").still_small_tiles == 3
    with pytest.raises(UserError, match="still_small_tiles"):
        from_mapping(LoopConfig, {"still_tiles": 2, "still_small_tiles": 3}, "t: loop")


def _panning_with_square(n: int, side: int = 80, step_px: int = 6):
    """:func:`_panning`'s view, darkened below :func:`bright_blobs`' threshold, with a bright ``side``-px square
    standing still in the frame (the camera follows it): a close-up object on a moving camera."""
    for f, frame in _panning(n, step_px):
        frame = (frame // 2).astype(np.uint8)
        frame[60:60 + side, 100:100 + side] = 230
        yield f, frame


def test_a_moving_camera_sends_the_whole_frame_while_a_close_up_track_lives() -> None:
    models = {"mini": bright_blobs, "baseline": bright_blobs}

    def close_ups(large_whole: float, frames) -> list[tuple[int, bool]]:
        """Per frame after the first live track: (whole frames sent for close-ups, whether a pass was due)."""
        loop = ClosedLoop(_settings(track=True, whole_every=2, whole_side=160, whole_grid=[2, 1], whole_tiles=1,
                                    large_whole=large_whole))
        sent, live = [], 0
        for step in run_loop(loop, frames, models):
            if live:
                sent.append((step.kinds.count(LARGE_FRAME), BASELINE_TILE in step.kinds))
            live = len(loop.feedback.tracker.current()[0])
        return sent

    sent = close_ups(64.0, _panning_with_square(10))
    assert len(sent) >= 6 and all(n == int(due) for n, due in sent)  # one on each pass frame, none between
    assert sum(n for n, _ in sent) >= 3
    assert all(n == 0 for n, _ in close_ups(96.0, _panning_with_square(10)))  # the 80-px square is below 96
    assert all(n == 0 for n, _ in close_ups(0.0, _panning_with_square(10)))  # off
    still = close_ups(20.0, video(10))
    assert len(still) >= 6 and all(n == 0 for n, _ in still)  # a still camera: the tiles and minis only


def test_the_close_up_pass_vetoes_no_track() -> None:
    """A baseline that finds nothing vetoes the tracks its tiles hold whole; the whole frame sent for close-ups
    does not (its own boxes would only back what it sees large)."""
    tracker = dataclasses.replace(TrackerConfig(), veto_after=1, veto_min_side=16.0)
    loop = ClosedLoop(_settings(track=True, whole_every=0, whole_side=160, large_whole=64.0, tracker=tracker))
    steps = list(run_loop(loop, _panning_with_square(8), {"mini": bright_blobs, "baseline": _blind}))
    assert all(s.kinds.count(LARGE_FRAME) == 0 for s in steps)  # no baseline pass at all: whole_every 0
    loop = ClosedLoop(_settings(track=True, whole_every=1, whole_side=160, whole_grid=[1, 2], whole_tiles=1,
                                large_whole=64.0, tracker=tracker))
    steps = list(run_loop(loop, _panning_with_square(8), {"mini": bright_blobs, "baseline": _blind}))
    # the square stands across the two tiles' border: no tile holds it whole, no tile vetoes it; the minis' track
    # lives on under the blind close-up pass (veto_after 1: one veto would end it)
    assert all(s.kinds[-1] == LARGE_FRAME and len(s.detections) == 1 for s in steps[4:])


def test_the_close_up_pass_keeps_only_its_large_boxes() -> None:
    loop = ClosedLoop(_settings(track=True, large_whole=64.0, whole_side=160))
    frame_plan = FramePlan(0, 320, 240)
    # boxes in the decoded image's px (160 x 120, the whole frame at the baseline's 160 input)
    boxes = np.array([[10, 10, 80, 30], [100, 100, 20, 20], [200, 50, 30, 70]], dtype=np.float64)
    found = Detections(boxes, ["person"] * 3, np.array([0.9, 0.9, 0.3]))
    large = loop.settings.loop.large_whole
    whole = loop._whole_frame_large(PatchDetections((0, 0, 320, 240), (160, 120), found), frame_plan, large)
    assert whole.detections.boxes.tolist() == [[10, 10, 80, 30], [200, 50, 30, 70]]  # >= 64 px, any score
    tile = PatchDetections((0, 0, 160, 120), (160, 120), found)
    assert loop._whole_frame_large(tile, frame_plan, large) is tile  # a tile's boxes are left alone
