"""The aggregator: patch → frame coordinates, duplicates across overlapping patches merged."""

from __future__ import annotations

import numpy as np

from runtime.cluster.aggregate import PatchDetections, aggregate, merge, to_frame
from runtime.detections import Detections


def patch(rect: tuple[int, int, int, int], size: tuple[int, int], boxes: np.ndarray, labels: list[str],
          scores: np.ndarray) -> PatchDetections:
    return PatchDetections(rect, size, Detections(boxes, labels, scores))


def test_to_frame_scales_a_downscaled_jpeg_and_shifts() -> None:
    # patch 200×100 at (100, 50) sent as a 100×50 JPEG: boxes scale ×2 then shift
    res = patch((100, 50, 300, 150), (100, 50), np.array([[10.0, 5.0, 20.0, 10.0]]), ["person"], np.array([0.9]))
    np.testing.assert_allclose(to_frame(res), [[120.0, 60.0, 40.0, 20.0]])


def test_to_frame_clips_to_the_patch() -> None:
    res = patch((0, 0, 100, 100), (100, 100), np.array([[-10.0, 90.0, 30.0, 30.0]]), ["car"], np.array([0.5]))
    np.testing.assert_allclose(to_frame(res), [[0.0, 90.0, 20.0, 10.0]])


def test_same_object_seen_by_two_overlapping_patches_is_kept_once() -> None:
    a = patch((0, 0, 200, 200), (200, 200), np.array([[100.0, 100.0, 50.0, 50.0]]), ["person"], np.array([0.9]))
    b = patch((80, 80, 280, 280), (200, 200), np.array([[21.0, 19.0, 50.0, 50.0]]), ["person"], np.array([0.7]))
    out = aggregate(0, 640, 480, [a, b])
    assert len(out.scores) == 1 and out.scores[0] == 0.9


def test_different_classes_are_not_merged() -> None:
    a = patch((0, 0, 200, 200), (200, 200), np.array([[100.0, 100.0, 50.0, 50.0]]), ["person"], np.array([0.9]))
    b = patch((0, 0, 200, 200), (200, 200), np.array([[100.0, 100.0, 50.0, 50.0]]), ["vehicle"], np.array([0.8]))
    assert len(aggregate(0, 640, 480, [a, b]).scores) == 2


def test_border_cut_part_is_dropped_next_to_the_whole_object() -> None:
    # object at x 180..260; patch A ends at x=200 and sees only 180..200 (cut by its inner border);
    # patch B sees it whole. IoU is low (0.25), so NMS alone keeps both; the border rule drops the part.
    a = patch((0, 100, 200, 300), (200, 200), np.array([[180.0, 50.0, 20.0, 80.0]]), ["person"], np.array([0.95]))
    b = patch((150, 100, 350, 300), (200, 200), np.array([[30.0, 50.0, 80.0, 80.0]]), ["person"], np.array([0.6]))
    out = aggregate(0, 640, 480, [a, b])
    assert len(out.scores) == 1
    np.testing.assert_allclose(out.boxes[0], [180.0, 150.0, 80.0, 80.0])


def test_box_at_a_frame_edge_is_not_treated_as_cut() -> None:
    # two distinct small objects inside a big one's area? no: a box touching the frame edge stays
    a = patch((0, 0, 100, 100), (100, 100), np.array([[0.0, 10.0, 20.0, 20.0]]), ["person"], np.array([0.9]))
    b = patch((0, 0, 300, 300), (300, 300), np.array([[0.0, 0.0, 100.0, 100.0]]), ["person"], np.array([0.5]))
    assert len(aggregate(0, 640, 480, [a, b]).scores) == 2


def test_empty_frame() -> None:
    out = aggregate(7, 640, 480, [patch((0, 0, 10, 10), (10, 10), np.zeros((0, 4)), [], np.zeros(0))])
    assert out.frame == 7 and len(out.scores) == 0




def test_a_whole_view_outranks_a_cut_one_in_nms() -> None:
    # patch 0 cuts the object at its right border (x = 50) with the higher score; patch 1 holds it whole
    rects = np.array([[0, 0, 50, 100], [20, 0, 120, 100]])
    boxes = np.array([[30.0, 20.0, 20.0, 40.0], [30.0, 20.0, 28.0, 40.0]])
    keep = merge(boxes, ["person", "person"], np.array([0.9, 0.6]), np.array([0, 1]), rects, 200, 100)
    assert keep.tolist() == [1]


def _one_patch_reference(result: PatchDetections) -> np.ndarray:
    """The per-patch mapping written out plainly (scale, shift, clip), for frame_boxes to agree with."""
    x0, y0, x1, y1 = (float(v) for v in result.rect)
    w, h = result.src_size
    sx, sy = (x1 - x0) / max(w, 1), (y1 - y0) / max(h, 1)
    b = np.asarray(result.detections.boxes)
    rects = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1) * [sx, sy, sx, sy] + [x0, y0, x0, y0]
    rects = np.clip(rects, [x0, y0, x0, y0], [x1, y1, x1, y1])
    return np.concatenate([rects[:, :2], rects[:, 2:] - rects[:, :2]], axis=1)


def test_frame_boxes_maps_every_patch_at_once_as_one_at_a_time() -> None:
    from runtime.cluster.aggregate import frame_boxes

    rng = np.random.default_rng(3)
    results = []
    for _ in range(12):
        x0, y0 = (int(v) for v in rng.integers(0, 400, 2))
        side = int(rng.integers(16, 300))
        n = int(rng.integers(0, 5))  # some patches found nothing
        src = (min(side, 160), min(side, 160))
        boxes = np.concatenate([rng.uniform(-20, 170, (n, 2)), rng.uniform(1, 90, (n, 2))], axis=1)
        results.append(patch((x0, y0, x0 + side, y0 + side), src, boxes, ["person"] * n, rng.uniform(0, 1, n)))
    mixed = [patch(r.rect, r.src_size, r.detections.boxes.astype(np.float32), list(r.detections.labels),
                   r.detections.scores) if k % 2 else r for k, r in enumerate(results)]
    for batch in (results, mixed):  # one dtype (one pass) and float32 beside float64 (patch by patch)
        mapped, patch_of = frame_boxes(batch)
        expected = [_one_patch_reference(r) for r in batch]
        np.testing.assert_array_equal(mapped, np.concatenate(expected))
        np.testing.assert_array_equal(patch_of, np.repeat(np.arange(12), [len(e) for e in expected]))
        np.testing.assert_array_equal(to_frame(batch[1]), expected[1])


def _merge_reference(boxes: np.ndarray, labels: list[str], scores: np.ndarray, patch_ids: np.ndarray,
                     rects: np.ndarray, contain: float) -> np.ndarray:
    """merge's containment rule one box pair at a time, after the same NMS (the plain-Python reading)."""
    from runtime.cluster.aggregate import _cut_by_border
    from runtime.decode import batched_nms

    names = sorted(set(labels))
    cls = np.array([names.index(lab) for lab in labels])
    cut_all = _cut_by_border(boxes, rects[patch_ids], 960, 540, 2.0)
    keep = batched_nms(boxes, scores - 2.0 * cut_all, cls, 0.5)
    area = boxes[keep, 2] * boxes[keep, 3]
    drop = np.zeros(len(keep), dtype=bool)
    for a in np.flatnonzero(cut_all[keep]):
        xa, ya, wa, ha = boxes[keep[a]]
        for b in range(len(keep)):
            if (b == a or drop[b] or cls[keep[b]] != cls[keep[a]] or patch_ids[keep[b]] == patch_ids[keep[a]]
                    or area[b] <= area[a]):
                continue
            xb, yb, wb, hb = boxes[keep[b]]
            iw = min(xa + wa, xb + wb) - max(xa, xb)
            ih = min(ya + ha, yb + hb) - max(ya, yb)
            if iw > 0 and ih > 0 and iw * ih >= contain * max(area[a], 1e-12):
                drop[a] = True
                break
    return keep[~drop]


def test_merge_drops_the_same_cut_boxes_as_the_pairwise_rule() -> None:
    rng = np.random.default_rng(5)
    for _ in range(40):
        rects = np.array([[0, 0, 400, 300], [300, 200, 700, 540], [600, 0, 960, 400], [100, 100, 500, 500]])
        n = int(rng.integers(1, 40))
        pid = rng.integers(0, len(rects), n)
        r = rects[pid]
        x0 = rng.uniform(r[:, 0], r[:, 2] - 8)
        y0 = rng.uniform(r[:, 1], r[:, 3] - 8)
        boxes = np.column_stack([x0, y0, rng.uniform(8, r[:, 2] - x0 + 1), rng.uniform(8, r[:, 3] - y0 + 1)])
        boxes[:, 2] = np.minimum(boxes[:, 2], r[:, 2] - x0)
        boxes[:, 3] = np.minimum(boxes[:, 3], r[:, 3] - y0)
        labels = [("person", "car")[int(k)] for k in rng.integers(0, 2, n)]
        scores = rng.uniform(0.1, 1.0, n)
        got = merge(boxes, labels, scores, pid, rects, 960, 540, contain=0.6)
        want = _merge_reference(boxes, labels, scores, pid, rects, 0.6)
        assert got.tolist() == want.tolist()
