"""The keypoint convention and heatmap decoding (runtime.keypoints)."""

from __future__ import annotations

import numpy as np

from runtime.keypoints import (
    BODY,
    BODY_NAMES,
    COCO_NAMES,
    FLIP,
    SIGMAS,
    SKELETON,
    decode_heatmaps,
    from_coco17,
    oks,
    to_coco17,
)


def test_convention_shapes() -> None:
    assert len(COCO_NAMES) == len(SIGMAS) == 17 and len(BODY) == 13 and BODY_NAMES[0] == "nose"
    assert all(1 <= i <= 17 and (i - 1) in BODY for e in SKELETON for i in e)
    assert [FLIP[FLIP[k]] for k in range(13)] == list(range(13))
    assert BODY_NAMES[FLIP[BODY_NAMES.index("left_knee")]] == "right_knee" and FLIP[0] == 0


def test_coco17_round_trip_leaves_eyes_and_ears_empty() -> None:
    pts = np.column_stack([np.arange(13) + 1.0, np.arange(13) + 2.0, np.full(13, 2.0)])
    flat = to_coco17(pts)
    assert len(flat) == 51 and flat[3:15] == [0.0] * 12
    assert np.allclose(from_coco17(flat), pts)


def test_decode_finds_gaussian_peaks_to_a_quarter_cell() -> None:
    h, w, stride = 16, 8, 4
    ys, xs = np.mgrid[0:h, 0:w]
    centres = [(3.3, 5.7), (6.0, 12.2)]
    maps = np.stack([np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 2) for cx, cy in centres])
    out = decode_heatmaps(maps, stride)
    for (cx, cy), (x, y, s) in zip(centres, out, strict=True):
        assert abs(x - (cx + 0.5) * stride) <= 0.3 * stride and abs(y - (cy + 0.5) * stride) <= 0.3 * stride
        assert 0.5 < s <= 1.0


def test_oks_is_one_for_exact_points_and_ignores_unlabelled() -> None:
    gt = np.column_stack([np.arange(13) * 3.0, np.arange(13) * 5.0, np.full(13, 2.0)])
    assert oks(gt, gt, 400.0) == 1.0
    far = gt.copy()
    far[0, :2] += 1000
    gt2 = gt.copy()
    gt2[0, 2] = 0
    assert oks(far, gt2, 400.0) == 1.0 and oks(far, gt, 400.0) < 1.0


def test_video_keypoint_ap_of_the_ground_truth_itself_is_one(tmp_path) -> None:  # noqa: ANN001
    import json

    from runtime.keypoint_ap import read_pose_lines, video_keypoint_ap

    rng = np.random.default_rng(1)
    images, anns, lines = [], [], []
    for f in range(6):
        images.append({"id": f, "width": 320, "height": 180})
        persons = []
        for _ in range(2):
            pts = np.column_stack([rng.uniform(20, 300, 13), rng.uniform(20, 160, 13), np.full(13, 2.0)])
            flat = to_coco17(pts)
            anns.append({"id": len(anns) + 1, "image_id": f, "category_id": 1, "bbox": [10, 10, 60, 150],
                         "area": 9000, "iscrowd": 0, "keypoints": flat, "num_keypoints": 13})
            persons.append({"box": [10, 10, 60, 150], "score": 0.9, "keypoints": np.reshape(flat, (17, 3)).tolist()})
        lines.append(json.dumps({"frame": f, "persons": persons}))
    gt = tmp_path / "kp.json"
    gt.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    pred = tmp_path / "p.jsonl"
    pred.write_text("\n".join(lines) + "\n")
    assert video_keypoint_ap(gt, read_pose_lines(pred))["ap"] == 1.0
    half = video_keypoint_ap(gt, {f: p for f, p in read_pose_lines(pred).items() if f < 3})
    assert 0.3 < half["ap"] < 0.7 and video_keypoint_ap(gt, read_pose_lines(pred), (0, 3))["ap"] == 1.0
