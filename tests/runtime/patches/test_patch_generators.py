"""Generators behind one interface: EP-k layouts, lastDet, ParaLoupe (refiner rules, refresh, bad input)."""

import dataclasses

import numpy as np
import pytest

from runtime.geometry import patch_around_box
from runtime.patches import PatchConfig, generator_names, make_generator
from runtime.patches.generators import EP_LAYOUTS
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.proposer import TrackMemory
from runtime.patches.refiner import PatchKind, grid_tiles, refine, refresh_tile


def _frame(w=320, h=240, seed=0, color=True):
    rng = np.random.default_rng(seed)
    f = rng.integers(90, 110, size=(h, w, 3) if color else (h, w), dtype=np.uint8)
    return f


@pytest.mark.parametrize("k", sorted(EP_LAYOUTS))
def test_ep_layouts_partition_the_frame(k):
    out = make_generator(f"ep-{k}")(_frame(321, 241), 0)
    assert len(out) == k
    area = ((out.rects[:, 2] - out.rects[:, 0]) * (out.rects[:, 3] - out.rects[:, 1])).sum()
    assert area == 321 * 241
    cols, rows = EP_LAYOUTS[k]
    assert len(np.unique(out.rects[:, 0])) == cols and len(np.unique(out.rects[:, 1])) == rows


def test_unknown_generator():
    with pytest.raises(ValueError):
        make_generator("ep-3")
    assert "paraloupe" in generator_names() and "ep-8" in generator_names()


def test_lastdet_uses_conventions_geometry():
    cfg = PatchConfig(min_patch_side=1)
    box = [100.0, 80.0, 20.0, 40.0]
    out = make_generator("lastdet", cfg)(_frame(), 0, np.array([box]))
    assert out.rects.tolist() == [list(patch_around_box(box, cfg.r_high, 320, 240, min_side=1))]
    assert out.confidence.tolist() == [1.0] and out.kind_names() == ["high"]


def test_refiner_lambda_rules_and_cap():
    rects = np.array([[0, 0, 100, 100], [10, 10, 110, 110], [0, 0, 300, 240], [200, 0, 250, 50],
                      [200, 100, 250, 150], [0, 150, 50, 200]])
    kinds = np.array([PatchKind.HIGH, PatchKind.HIGH, PatchKind.LOW, PatchKind.LOW, PatchKind.LOW, PatchKind.LOW])
    values = np.array([0.9, 0.8, 0.9, 0.6, 0.7, 0.5])
    keep = refine(rects, values, kinds, 320, 240, lambda1=0.5, lambda2=0.3, max_patches=3)
    # 1 overlaps 0 (IoU 0.68 > 0.3), 2 is 94% of the frame (> 0.5); LowConf by value; cap 3
    assert keep.tolist() == [0, 4, 3]


def test_refresh_rule_cycles_tiles():
    tiles = grid_tiles(2, 2, 100, 80)
    got = [refresh_tile(i, 3, 2, 2, 100, 80) for i in range(12)]
    assert [g is None for g in got] == [True, True, False] * 4
    assert [tuple(g) for g in got if g is not None] == [tuple(t) for t in tiles]
    assert refresh_tile(5, 0, 2, 2, 100, 80) is None


def _paraloupe(**kw):
    cfg = dataclasses.replace(PatchConfig(), skip_threshold=0.0, **kw)
    return make_generator("paraloupe", cfg, ObjectnessModel.prior())


def test_paraloupe_bad_inputs_do_not_crash():
    gen = _paraloupe()
    out = gen(_frame(), 0, None)
    assert not out.skipped
    out = gen(_frame(seed=1), 1, np.zeros((0, 4)))  # empty detection list
    assert out.rects.shape[1] == 4
    outside = np.array([[-500, -500, 50, 50], [1000, 1000, 20, 20], [300, 200, 100, 100], [np.nan, 0, 5, 5]])
    out = gen(_frame(seed=2), 2, outside, det_frame_id=1)  # boxes outside / straddling / not finite
    assert (out.rects[:, 0] >= 0).all() and (out.rects[:, 2] <= 320).all() and (out.rects[:, 3] <= 240).all()
    assert (out.kinds == PatchKind.HIGH).sum() == 1
    out = gen(_frame(200, 150, seed=3, color=False), 3, np.array([[10, 10, 30, 30]]))  # grey + new size
    assert (out.frame_w, out.frame_h) == (200, 150)
    assert (out.rects[:, 2] <= 200).all() and (out.rects[:, 3] <= 150).all()
    out = gen(_frame(64, 48, seed=4), 4, np.array([[10, 10, 30, 30]]))  # smaller again
    assert (out.rects[:, 2] <= 64).all() and (out.rects[:, 3] <= 48).all()
    for name in generator_names():
        make_generator(name)(_frame(seed=5, color=False), 0, np.array([[-10, -10, 5, 5]]))


def test_paraloupe_finds_a_new_moving_object_with_lowconf():
    gen = _paraloupe(refresh_every=0, low_threshold=0.5)
    base = _frame(seed=0)
    gen(base, 0, None)
    f = base.copy()
    f[100:160, 200:230] = 250  # an object appears: texture + change
    out = gen(f, 1, None)
    low = out.rects[out.kinds == PatchKind.LOW]
    assert any(r[0] <= 200 and r[1] <= 100 and r[2] >= 230 and r[3] >= 160 for r in low)


def test_paraloupe_refresh_and_predefined_are_added():
    gen = _paraloupe(refresh_every=2, bootstrap=False, predefined_rois=[[0, 0, 40, 40], [-20, -20, 10, 10]])
    kinds = [gen(_frame(), i, None).kinds for i in range(4)]
    assert [int((k == PatchKind.REFRESH).sum()) for k in kinds] == [0, 1, 0, 1]
    assert all(int((k == 3).sum()) == 1 for k in kinds)  # the RoI fully outside the frame is dropped


def test_paraloupe_feedback_score_and_bootstrap():
    gen = _paraloupe(refresh_every=0, refresh_cols=2, refresh_rows=2, feedback_score=0.5, track_memory=0)
    box = np.array([[100, 100, 30, 30]])
    first = gen(_frame(), 0, None)
    assert int((first.kinds == PatchKind.REFRESH).sum()) == 4  # nothing tracked yet: every tile once
    assert int((gen(_frame(seed=1), 1, None).kinds == PatchKind.REFRESH).sum()) == 0  # not again while empty
    low = gen(_frame(seed=2), 2, box, scores=np.array([0.3]), det_frame_id=1)
    assert int((low.kinds == PatchKind.HIGH).sum()) == 0  # a low-score box seeds nothing
    high = gen(_frame(seed=3), 3, box, scores=np.array([0.8]), det_frame_id=2)
    assert int((high.kinds == PatchKind.HIGH).sum()) == 1 and int((high.kinds == PatchKind.REFRESH).sum()) == 0
    lost = gen(_frame(seed=4), 4, np.zeros((0, 4)), det_frame_id=3)
    assert int((lost.kinds == PatchKind.REFRESH).sum()) == 4  # the last track lost: sweep once


def test_track_memory_keeps_a_missed_object_for_n_updates():
    gen = _paraloupe(refresh_every=0, bootstrap=False, track_memory=2)
    box = np.array([[100, 100, 30, 30]])
    gen(_frame(), 0, None)
    counts = [int((gen(_frame(seed=i), i, box if i == 1 else np.zeros((0, 4)),
                       scores=np.array([0.9])[:1 if i == 1 else 0],
                       det_frame_id=i - 1).kinds == PatchKind.HIGH).sum()) for i in range(1, 6)]
    assert counts == [1, 1, 1, 0, 0]  # seen once, then remembered for two more updates
    mem = TrackMemory(1)
    mem.update(np.array([[0, 0, 10, 10]]), np.array([0.9]))
    boxes, _ = mem.update(np.array([[1, 1, 10, 10]]), np.array([0.8]))  # the same object moved: replaced
    assert len(boxes) == 1


def test_paraloupe_skips_still_frames_and_online_update_moves_weights():
    cfg = PatchConfig(skip_threshold=3.0)
    gen = make_generator("paraloupe", cfg, ObjectnessModel.prior())
    f = _frame()
    assert not gen(f, 0, None).skipped
    assert gen(f.copy(), 1, None).skipped
    g = f.copy()
    g[50:100, 50:100] = 200
    assert not gen(g, 2, np.array([[50, 50, 50, 50]]), det_frame_id=1).skipped
    gen(g, 3, np.array([[50, 50, 50, 50]]), det_frame_id=2)
    assert np.abs(gen.model.w - gen.model.w0).max() > 0
    off = make_generator("paraloupe", dataclasses.replace(cfg, online_update=False), ObjectnessModel.prior())
    for i in range(4):
        off(g, i, np.array([[50, 50, 50, 50]]), det_frame_id=i - 1)
    np.testing.assert_array_equal(off.model.w, off.model.w0)


@pytest.mark.parametrize("seed", range(6))
def test_merge_kernel_matches_reference(seed):
    from runtime.patches.refiner import merge_high, merge_high_ref

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 25))
    xy = rng.uniform(0, 900, (n, 2))
    wh = rng.uniform(8, 120, (n, 2))
    rects = np.round(np.concatenate([xy, xy + wh], axis=1))
    values = rng.uniform(0.3, 1.0, n)
    for max_high, lam2 in ((3, 0.3), (30, 0.3), (1, 0.0)):
        got = merge_high(rects, values, 960, 540, lam2, max_high, 0.125)
        ref = merge_high_ref(rects, values, 960, 540, lam2, max_high, 0.125)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_allclose(got[1], ref[1])
        assert np.isclose(got[1].sum(), values.sum())


def test_grouping_keeps_crowded_small_objects_within_the_cap():
    boxes = np.array([[100 + 12 * i, 200, 8, 20] for i in range(10)], float)
    out = make_generator("lastdet", PatchConfig())(_frame(960, 540), 0, boxes)
    from runtime.patches.coverage import coverage_flags

    assert len(out) <= PatchConfig().max_high
    assert coverage_flags(boxes, out.rects, 960, 540)[1].all()


def test_lastdet_bootstraps_once_then_tracks() -> None:
    gen = make_generator("lastdet", dataclasses.replace(PatchConfig(), refresh_cols=2, refresh_rows=2))
    assert len(gen(_frame(), 0, None)) == 4  # nothing tracked: every refresh tile once
    assert len(gen(_frame(), 1, None)) == 0
    out = gen(_frame(), 2, np.array([[100, 100, 30, 30]]), scores=np.array([0.9]))
    assert list(out.kinds) == [PatchKind.HIGH]
    off = make_generator("lastdet", dataclasses.replace(PatchConfig(), bootstrap=False))
    assert len(off(_frame(), 0, None)) == 0


def test_close_up_track_keeps_its_patch():
    # a close-up object: its patch (box grown to area ratio r_high) covers most of the frame; lambda1 (0.5) dropped
    # it once, so the minis never looked at the object; a HighConf patch is exempt, a LowConf one is not
    box, score = np.array([[40.0, 30.0, 200.0, 150.0]]), np.array([0.9])
    out = _paraloupe(bootstrap=False)(_frame(), 0, box, score)
    high = out.rects[np.array(out.kind_names()) == "high"]
    assert len(high) == 1 and np.prod(high[0, 2:] - high[0, :2]) > 0.5 * 320 * 240
    big = np.array([[0, 0, 300, 220], [0, 0, 300, 220]])
    kinds = np.array([PatchKind.HIGH, PatchKind.LOW])
    assert refine(big, np.ones(2), kinds, 320, 240, lambda1=0.5, lambda2=1.0, max_patches=5).tolist() == [0]
