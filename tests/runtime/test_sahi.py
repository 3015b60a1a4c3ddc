"""SAHI re-implemented (runtime.sahi): its slice grid against hand-computed grids, GREEDYNMM with IOS on constructed
boxes; and ``--mode sahi`` end to end through the closed loop's replay with a fake detector, the master keeping
its entries on the client's baseline."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.cluster.master import plan
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.frame_plan import BASELINE_TILE, WHOLE_FRAME
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopSettings
from runtime.manifest import asked_models, network_of
from runtime.modes import Mode
from runtime.patches import PatchConfig
from runtime.replay import run_loop
from runtime.sahi import greedy_nmm, slice_rects
from runtime.sahi_loop import SahiLoop, make_loop
from tests.runtime.test_replay import _matched, bright_blobs, squares, video


def _grid(cols: list[tuple[int, int]], rows: list[tuple[int, int]]) -> list[list[int]]:
    return [[x0, y0, x1, y1] for y0, y1 in rows for x0, x1 in cols]


def test_slices_of_960x540_at_320_with_20_percent_overlap() -> None:
    # overlap int(0.2 * 320) = 64 px, step 256: columns 0, 256, 512, then 768 would end at 1088 > 960 -> 640..960;
    # rows 0, then 256 would end at 576 > 540 -> 220..540
    got = slice_rects(960, 540, 320, 320)
    assert got.dtype == np.int64
    assert got.tolist() == _grid([(0, 320), (256, 576), (512, 832), (640, 960)], [(0, 320), (220, 540)])


@pytest.mark.parametrize("frame, size, overlap, cols, rows", [
    ((480, 270), (160, 160), (0.2, 0.2), [(0, 160), (128, 288), (256, 416), (320, 480)], [(0, 160), (110, 270)]),
    ((640, 320), (320, 320), (0.0, 0.0), [(0, 320), (320, 640)], [(0, 320)]),  # exact tiling
    ((200, 100), (320, 320), (0.2, 0.2), [(0, 200)], [(0, 100)]),  # frame smaller than a slice: the frame
    ((1000, 500), (512, 256), (0.25, 0.5), [(0, 512), (384, 896), (488, 1000)], [(0, 256), (128, 384), (244, 500)]),
])
def test_slices_match_hand_computed_grids(frame: tuple[int, int], size: tuple[int, int],
                                          overlap: tuple[float, float], cols: list, rows: list) -> None:
    assert slice_rects(*frame, *size, *overlap).tolist() == _grid(cols, rows)


def test_slices_reject_a_full_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        slice_rects(100, 100, 50, 50, 1.0, 0.2)


def _dets(rects: list[list[float]], labels: list[str], scores: list[float]) -> Detections:
    r = np.array(rects, dtype=float).reshape(-1, 4)
    return Detections(np.c_[r[:, :2], r[:, 2:] - r[:, :2]], labels, np.array(scores, dtype=float), 3)


def _rects(d: Detections) -> list[list[float]]:
    return np.c_[d.boxes[:, :2], d.boxes[:, :2] + d.boxes[:, 2:]].tolist()


def test_greedy_nmm_merges_the_parts_of_one_object_into_their_union() -> None:
    # a slice saw the left 60 % of a person, another the right 80 %: IOS = 4000 / 6000 >= 0.5
    d = greedy_nmm(_dets([[0, 0, 60, 100], [20, 0, 100, 100]], ["person", "person"], [0.7, 0.9]))
    assert _rects(d) == [[0, 0, 100, 100]] and d.scores.tolist() == [0.9] and d.frame == 3
    # an IOU-based NMS would keep both (IoU 0.4): IOS is what merges a sliver with the whole
    sliver = greedy_nmm(_dets([[0, 0, 100, 100], [90, 0, 100, 100]], ["person"] * 2, [0.8, 0.6]))
    assert _rects(sliver) == [[0, 0, 100, 100]] and sliver.scores.tolist() == [0.8]


def test_greedy_nmm_is_class_wise_and_keeps_disjoint_boxes() -> None:
    d = greedy_nmm(_dets([[0, 0, 50, 50], [0, 0, 50, 50], [0, 0, 40, 40], [200, 200, 220, 240]],
                         ["person", "vehicle", "person", "person"], [0.6, 0.9, 0.5, 0.7]))
    assert d.labels == ["vehicle", "person", "person"] and d.scores.tolist() == [0.9, 0.7, 0.6]
    assert _rects(d) == [[0, 0, 50, 50], [200, 200, 220, 240], [0, 0, 50, 50]]


def test_greedy_nmm_suppresses_at_the_threshold_but_merges_only_above_it() -> None:
    # IOS exactly 0.5 with the kept box: the box leaves the pool (>= 0.5) but is not merged (SAHI's has_match: > 0.5)
    d = greedy_nmm(_dets([[0, 0, 10, 10], [5, 0, 15, 10]], ["person"] * 2, [0.9, 0.8]))
    assert _rects(d) == [[0, 0, 10, 10]] and d.scores.tolist() == [0.9]


def test_greedy_nmm_checks_each_merge_against_the_box_merged_so_far() -> None:
    # K (0.9) takes B (0.8, IOS 1) and C (0.7, IOS 50 / 100 = 0.5 with K); merged with B, K is 10 x 100 px, whose
    # IOS with C is 50 / 1000: C is not merged (and, matched to K, not kept either) — SAHI's order of events
    d = greedy_nmm(_dets([[0, 90, 10, 100], [0, 0, 10, 100], [5, 90, 105, 100]], ["person"] * 3, [0.9, 0.8, 0.7]))
    assert _rects(d) == [[0, 0, 10, 100]] and d.scores.tolist() == [0.9]


def test_greedy_nmm_of_nothing_and_of_boxes_without_area() -> None:
    assert len(greedy_nmm(Detections.empty(1))) == 0 and greedy_nmm(Detections.empty(1)).frame == 1
    d = greedy_nmm(_dets([[0, 0, 0, 10], [0, 0, 10, 10]], ["person"] * 2, [0.9, 0.5]))
    assert _rects(d) == [[0, 0, 10, 10]] and d.scores.tolist() == [0.5]


def _settings(side: int) -> LoopSettings:
    return LoopSettings(Mode.SAHI, PatchConfig(), side, fps=10.0)


def test_sahi_mode_end_to_end_through_the_replay_loop() -> None:
    calls = {"baseline": 0}

    def baseline(image: np.ndarray):
        calls["baseline"] += 1
        assert max(image.shape[:2]) <= 160  # every entry at most the model's input side
        return bright_blobs(image)

    def mini(image: np.ndarray):
        raise AssertionError("sahi runs the baseline model only")

    loop = make_loop(_settings(160))
    assert isinstance(loop, SahiLoop) and loop.generator is None and not loop.whole_pass
    steps = list(run_loop(loop, video(12), {"mini": mini, "baseline": baseline}, budget=1))
    slices = slice_rects(320, 240, 160, 160)  # 3 columns x 2 rows
    assert len(slices) == 6
    for s in steps:
        assert s.rects == [tuple(r) for r in slices.tolist()] + [(0, 0, 320, 240)]
        assert s.kinds == [BASELINE_TILE] * 6 + [WHOLE_FRAME]
        # the second square crosses the slices' row border at 160 (frames 0-9): the slices' cut views and the
        # whole frame's coarser one merge into one box per square
        assert len(s.detections) == 2 and _matched(s.detections.boxes, squares(s.detections.frame), tol=2.5) == 2
    assert calls["baseline"] == 12 * 7


def test_one_slice_means_no_standard_pass_and_plan_entries_are_baseline() -> None:
    loop = SahiLoop(_settings(640))
    frame = next(video(1))[1]
    entries = loop.plan(frame, 0).entries
    assert [(e.rect, e.kind, e.model_kind, e.confidence, e.min_score) for e in entries] == [
        ((0, 0, 320, 240), BASELINE_TILE, "baseline", 1.0, None)]


def test_make_loop_and_the_sahi_loop_refuse_what_they_cannot_run() -> None:
    assert type(make_loop(LoopSettings(Mode.BASELINE, PatchConfig(), 320))) is ClosedLoop
    with pytest.raises(ValueError, match="tracker"):
        SahiLoop(LoopSettings(Mode.SAHI, PatchConfig(), 320, track_whole=True))
    with pytest.raises(ValueError, match="not sahi"):
        SahiLoop(LoopSettings(Mode.EP4, PatchConfig(), 320))
    assert Mode.SAHI.model_kind == "baseline" and not Mode.SAHI.is_patch_generator and not Mode.SAHI.is_whole_frame
    assert Mode.parse("sahi", "--mode") is Mode.SAHI
    with pytest.raises(UserError):
        Mode.parse("sahi-2", "--mode")


def test_master_keeps_the_slices_on_the_baseline_they_name() -> None:
    kinds = {"b320": "baseline", "b640": "baseline", "tiny": "mini"}
    both = {"endpoint": "a", "cost": 0.0, "models": {"b320": {"latency_ms": 40.0, "accuracy": 0.7},
                                                     "b640": {"latency_ms": 60.0, "accuracy": 0.9},
                                                     "tiny": {"latency_ms": 5.0, "accuracy": 0.6}}}
    big = {"endpoint": "b", "cost": 0.0, "models": {"b640": {"latency_ms": 60.0, "accuracy": 0.9}}}
    request = {"kind": "baseline", "slo_ms": 1000.0, "exclude": [], "bandwidths": {},
               "patches": [{"bytes": 5000, "confidence": 1.0, "model": "b320"} for _ in range(7)]}
    out = plan(request, {"a": both, "b": big}, kinds, "markov", 0.1, 12.5e6)
    assert len(out["assignment"]) == 7
    assert {m for d, m in out["assignment"] if d == "a"} <= {"b320"}  # not the more accurate b640 it also serves
    assert {m for d, m in out["assignment"] if d == "b"} <= {"b640"}  # a device without b320 serves its own
    unpinned = dict(request, patches=[{"bytes": 5000, "confidence": 1.0}] * 7)
    free = plan(unpinned, {"a": both}, kinds, "markov", 0.1, 12.5e6)
    assert "b640" in {m for _, m in free["assignment"]}  # without a name the scheduler picks by accuracy


def test_master_serves_a_named_mini_in_the_precision_a_device_has() -> None:
    kinds = {"rpi4b-160-int8": "mini", "rpi4b-240-int8": "mini", "rpi4b-160-fp16": "mini", "rpi4b-240-fp16": "mini"}
    rpi = {"endpoint": "a", "cost": 0.0, "models": {"rpi4b-160-int8": {"latency_ms": 7.0, "accuracy": 0.8},
                                                    "rpi4b-240-int8": {"latency_ms": 14.0, "accuracy": 0.7}}}
    jetson = {"endpoint": "b", "cost": 0.0, "models": {"rpi4b-160-fp16": {"latency_ms": 1.0, "accuracy": 0.8},
                                                       "rpi4b-240-fp16": {"latency_ms": 2.0, "accuracy": 0.7}}}
    request = {"kind": "mini", "slo_ms": 250.0, "exclude": [], "bandwidths": {},
               "patches": [{"bytes": 2000, "confidence": 1.0, "model": "rpi4b-240-int8"} for _ in range(8)]}
    out = plan(request, {"a": rpi, "b": jetson}, kinds, "markov", 0.1, 12.5e6)
    assert {m for _, m in out["assignment"]} <= {"rpi4b-240-int8", "rpi4b-240-fp16"}  # never the 160 network
    assert network_of("rpi4b-240-int8") == network_of("rpi4b-240-fp16") == "rpi4b-240"
    assert network_of("baseline") == "baseline" and network_of("tiny") == "tiny"
    assert asked_models(jetson["models"], ["rpi4b-240-int8"]) == {"rpi4b-240-fp16"}
    assert asked_models(rpi["models"], ["rpi4b-240-int8"]) == {"rpi4b-240-int8"}  # the exact one first
    assert asked_models(rpi["models"], ["rpi4b-320-int8"]) == set()  # not served: the caller's own choice
