"""Motion regions: square, at least the model input side, inside the frame, containing their boxes; merged only
when that saves area (UFPMP-Det) and keeps every member box >= the member fraction (Frigate). The numba
merge kernel agrees with its numpy reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from runtime.discovery import DiscoveryConfig, cluster_regions, cluster_regions_numpy, motion_regions, square_regions

W, H = 960, 540


def area(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r).reshape(-1, 4)
    return ((r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])).astype(float)


def random_boxes(rng: np.random.Generator, n: int, w: int = W, h: int = H) -> np.ndarray:
    sides = rng.uniform(4, min(220, w, h), (n, 2))
    return np.column_stack([rng.uniform(0, w - sides[:, 0]), rng.uniform(0, h - sides[:, 1]), sides])


def test_single_box_square_centred_and_shifted_inside() -> None:
    r = square_regions(np.array([[400.0, 200.0, 40.0, 20.0]]), W, H, 128)
    assert r.dtype == np.int64 and r.tolist() == [[356, 146, 484, 274]]  # 128 square, centred on (420, 210)
    r = square_regions(np.array([[400.0, 200.0, 200.0, 100.0]]), W, H, 128)
    assert r.tolist() == [[365, 115, 635, 385]]  # 1.35 × the longer side
    r = square_regions(np.array([[2.0, 530.0, 10.0, 8.0]]), W, H, 128)
    assert r.tolist() == [[0, H - 128, 128, H]]  # shifted, not cut
    r = square_regions(np.array([[100.0, 0.0, 500.0, 500.0]]), W, H, 128)
    assert r.tolist() == [[13, 0, 688, H]]  # taller than the frame: 675 wide, centred, cut to the frame height
    assert square_regions(np.zeros((0, 4)), W, H, 128).shape == (0, 4)


def test_nearby_boxes_merge_distant_boxes_do_not() -> None:
    near = np.array([[300.0, 200.0, 30.0, 60.0], [350.0, 210.0, 30.0, 50.0]])
    rects, member = cluster_regions(near, W, H, 160)
    assert rects.tolist() == [[260, 150, 420, 310]] and member.tolist() == [0, 0]
    far = np.array([[100.0, 100.0, 100.0, 100.0], [500.0, 100.0, 100.0, 100.0]])
    rects, member = cluster_regions(far, W, H, 64)
    assert len(rects) == 2 and member.tolist() == [0, 1]
    overlapping = np.array([[100.0, 100.0, 100.0, 100.0], [110.0, 105.0, 100.0, 100.0]])
    rects, member = cluster_regions(overlapping, W, H, 64)
    assert len(rects) == 1 and area(rects)[0] <= area(square_regions(overlapping, W, H, 64)).sum()


def test_member_fraction_decides() -> None:
    """A thin box inside a big box's extent: the merge costs no area, so only the member fraction decides."""
    big, region = [100.0, 100.0, 200.0, 200.0], 270 * 270
    thin_ok = [280.0, 100.0, 20.0, 200.0]    # 4000 px² = 5.5 % of the merged region
    thin_small = [280.0, 100.0, 10.0, 200.0]  # 2000 px² = 2.7 %
    rects, _ = cluster_regions(np.array([big, thin_ok]), W, H, 64)
    assert len(rects) == 1 and area(rects)[0] == region
    assert len(cluster_regions(np.array([big, thin_small]), W, H, 64)[0]) == 2
    loose = DiscoveryConfig(min_member_fraction=0.02)
    assert len(cluster_regions(np.array([big, thin_small]), W, H, 64, loose)[0]) == 1
    # in one region of the model input side, any box may join (the input is not downscaled)
    tiny = np.array([[300.0, 300.0, 4.0, 4.0], [340.0, 330.0, 30.0, 30.0]])
    assert len(cluster_regions(tiny, W, H, 192)[0]) == 1


@pytest.mark.parametrize("seed", range(8))
def test_invariants_on_random_boxes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = DiscoveryConfig()
    min_side = int(rng.choice([96, 160, 256]))
    boxes = random_boxes(rng, int(rng.integers(1, 33)))
    rects, member = cluster_regions(boxes, W, H, min_side, cfg)
    assert rects.dtype == np.int64 and rects.shape[1] == 4 and member.shape == (len(boxes),)
    assert sorted(set(member.tolist())) == list(range(len(rects)))
    np.testing.assert_array_equal(motion_regions(boxes, W, H, min_side, cfg), rects)
    side_w, side_h = rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1]
    assert (rects[:, :2] >= 0).all() and (rects[:, 2] <= W).all() and (rects[:, 3] <= H).all()
    assert (side_w >= min_side).all() and (side_h >= min_side).all()
    assert ((side_w == side_h) | (side_w == W) | (side_h == H)).all()  # square unless the frame cuts it
    singles = area(square_regions(boxes, W, H, min_side, cfg.region_scale))
    box_area = boxes[:, 2] * boxes[:, 3]
    for k, r in enumerate(rects):
        mine = np.flatnonzero(member == k)
        b = boxes[mine]
        assert (b[:, 0] >= r[0]).all() and (b[:, 1] >= r[1]).all()  # members lie inside their region
        assert (b[:, 0] + b[:, 2] <= r[2] + 1e-9).all() and (b[:, 1] + b[:, 3] <= r[3] + 1e-9).all()
        assert area(r)[0] <= singles[mine].sum() + 1e-6  # merging never cost area (ratio 1)
        if len(mine) > 1 and max(side_w[k], side_h[k]) > min_side:
            assert (box_area[mine] >= cfg.min_member_fraction * area(r)[0] - 1e-6).all()
    # no two regions left that could still merge
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            both = boxes[(member == i) | (member == j)]
            union = np.array([[both[:, 0].min(), both[:, 1].min(), (both[:, 0] + both[:, 2]).max(),
                               (both[:, 1] + both[:, 3]).max()]])
            merged = square_regions(np.column_stack([union[:, :2], union[:, 2:] - union[:, :2]]), W, H, min_side,
                                    cfg.region_scale)
            longer = max(union[0, 2] - union[0, 0], union[0, 3] - union[0, 1])
            side = max(math.ceil(cfg.region_scale * longer - 1e-9), min_side)
            fits = area(merged)[0] <= area(rects[i])[0] + area(rects[j])[0] + 1e-9
            big_enough = side <= min_side or (box_area[(member == i) | (member == j)] >= cfg.min_member_fraction
                                              * area(merged)[0]).all()
            assert not (fits and big_enough), (i, j)


@pytest.mark.parametrize("seed", range(20))
def test_kernel_matches_numpy_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    w, h = int(rng.integers(64, 1300)), int(rng.integers(64, 800))
    boxes = random_boxes(rng, int(rng.integers(0, 40)), w, h)
    cfg = dataclasses.replace(DiscoveryConfig(), region_scale=float(rng.uniform(1.0, 2.0)),
                              merge_area_ratio=float(rng.uniform(0.8, 1.5)),
                              min_member_fraction=float(rng.uniform(0.0, 0.2)))
    min_side = int(rng.integers(16, 400))
    rects, member = cluster_regions(boxes, w, h, min_side, cfg)
    ref_rects, ref_member = cluster_regions_numpy(boxes, w, h, min_side, cfg)
    np.testing.assert_array_equal(rects, ref_rects)
    np.testing.assert_array_equal(member, ref_member)


def test_edge_cases() -> None:
    rects, member = cluster_regions(np.zeros((0, 4)), W, H, 128)
    assert rects.shape == (0, 4) and rects.dtype == np.int64 and member.shape == (0,)
    whole = cluster_regions(np.array([[10.0, 10.0, 20.0, 20.0]]), 100, 80, 128)[0]
    assert whole.tolist() == [[0, 0, 100, 80]]  # a frame smaller than the model input: the whole frame
    with pytest.raises(ValueError):
        cluster_regions(np.zeros((1, 4)), W, H, 0)
