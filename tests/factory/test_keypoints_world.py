"""The world's keypoint ground truth: detection boxes unchanged, jointed figure, COCO keypoints, visibility."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from factory.world.actors import Actor
from factory.world.config import SceneConfig, VideoSpec
from factory.world.generate import World, write_world
from factory.world.keypoints import load_keypoints
from factory.world.render import keypoint_visibility
from runtime.coco import load_coco
from runtime.keypoints import BODY_NAMES, COCO_NAMES
from tests.factory.test_world import bus, empty_world, person

BEFORE = Path(__file__).parent / "data" / "world_boxes_before_keypoints.json"
SPECS = {"static": VideoSpec(seed=11, frames=40, width=640, height=360, camera="static"),
         "moving": VideoSpec(seed=12, frames=40, width=640, height=360, camera="moving")}


def test_detection_ground_truth_is_unchanged_by_the_jointed_figure() -> None:
    """Boxes, crowd flags and occluded shares of two seeds equal those recorded before keypoints existed."""
    before = json.loads(BEFORE.read_text())
    for name, spec in SPECS.items():
        rows = []
        for i, _, ann in World(spec, SceneConfig(persons=20)).frames():
            for b, lab, c, t, o in zip(ann.boxes, ann.labels, ann.iscrowd, ann.track_ids, ann.occluded, strict=True):
                rows.append([i, int(t), lab, [float(v) for v in b], bool(c), round(float(o), 6)])
        assert rows == before[name], name


def _walker(world: World, axis: str, direction: int, phase: float = 1.0) -> Actor:
    a = person(world, 0.0, world.layout.proj.near_depth * 2.0)
    a.axis, a.direction, a.phase = axis, direction, phase
    return a


def test_limbs_have_two_segments_and_sides_follow_the_walking_direction() -> None:
    world = empty_world()
    world.population.actors = [_walker(world, "x", 1)]
    _, boxes, _ = world.render(0)
    k = {n: boxes[0].keypoints[i] for i, n in enumerate(BODY_NAMES)}
    assert all(p[2] == 2 for p in k.values())
    for s in ("left", "right"):
        hip, knee, ankle = k[f"{s}_hip"][:2], k[f"{s}_knee"][:2], k[f"{s}_ankle"][:2]
        assert hip[1] < knee[1] < ankle[1]
        assert knee[0] > (hip[0] + ankle[0]) / 2  # walking right: knees bend forward (to the right)
        sh, el, wr = k[f"{s}_shoulder"][:2], k[f"{s}_elbow"][:2], k[f"{s}_wrist"][:2]
        assert sh[1] < el[1] < wr[1] and el[0] < (sh[0] + wr[0]) / 2  # elbows bend back
    assert k["nose"][1] < k["left_shoulder"][1]
    front = empty_world()
    front.population.actors = [_walker(front, "z", -1)]  # towards the camera: the person's left is image right
    _, boxes, _ = front.render(0)
    k = {n: boxes[0].keypoints[i] for i, n in enumerate(BODY_NAMES)}
    assert k["left_shoulder"][0] > k["right_shoulder"][0] and k["left_hip"][0] > k["right_hip"][0]


def test_points_under_a_nearer_object_are_v1_and_off_frame_v0() -> None:
    world = empty_world()
    near = world.layout.proj.near_depth
    front = bus(world, -2.0, near * 1.5)
    for dx, depth in [(dx, d) for d in (1.8, 2.0, 2.3, 2.7) for dx in np.linspace(-10, 6, 17)]:
        walker = _walker(world, "x", 1)
        walker.x, walker.z = float(dx), near * depth
        world.population.actors = [walker, front]
        _, boxes, _ = world.render(0)
        mine = [b for b in boxes if b.label == "person"]
        if mine and (mine[0].keypoints[:, 2] == 1).any() and (mine[0].keypoints[:, 2] == 2).any():
            break
    else:
        pytest.fail("no partly occluded position found")
    kps = mine[0].keypoints
    covered = kps[kps[:, 2] == 1]
    assert all(world.label_map[int(y), int(x)] == 2 for x, y, _ in covered)  # the bus is sprite 2
    label_map = np.zeros((10, 20), np.uint16)
    label_map[:, 10:] = 3  # a nearer sprite (3) covers the right half; the figure is sprite 2
    pts = np.array([[2.5, 4.0], [12.0, 4.0], [-0.5, 4.0], [5.0, 10.0]])
    out = keypoint_visibility(pts, label_map, 2)
    assert out[:, 2].tolist() == [2, 1, 0, 0] and (out[2:, :2] == 0).all() and out[1, 0] == 12.0


def test_write_world_exports_coco_keypoints_for_every_person_box(tmp_path: Path) -> None:
    spec = VideoSpec(seed=3, frames=6, width=320, height=180)
    write_world(tmp_path, spec, dataclasses.replace(SceneConfig(), persons=8))
    det = load_coco(tmp_path / "annotations.json")
    frames, w, h = load_keypoints(tmp_path / "keypoints.json")
    data = json.loads((tmp_path / "keypoints.json").read_text())
    assert data["categories"][0]["keypoints"] == list(COCO_NAMES) and (w, h) == (320, 180)
    total = 0
    for fid, fa in det.frames.items():
        persons = {int(t): b for t, b, lab in zip(fa.track_ids, fa.boxes, fa.labels, strict=True) if lab == "person"}
        anns = frames[fid]
        assert {a["track_id"] for a in anns} == set(persons)
        for a in anns:
            kp = a["keypoints"].reshape(17, 3)
            assert (kp[1:5] == 0).all() and a["num_keypoints"] == int((kp[:, 2] > 0).sum())
            assert np.allclose(a["bbox"], persons[a["track_id"]])
            x, y, bw, bh = a["bbox"]
            vis = kp[kp[:, 2] > 0]
            tol = 3 + 0.1 * bh  # bent limbs may leave the envelope box a little; tiny figures round
            assert ((vis[:, 0] >= x - tol) & (vis[:, 0] <= x + bw + tol)).all()
            total += 1
    assert total > 10


def test_front_and_back_views_differ_so_left_and_right_can_be_told() -> None:
    """Walking towards the camera shows a face, walking away shows hair: the same pose mirrored in labels."""
    heads = []
    for direction in (-1, 1):
        world = empty_world()
        world.population.actors = [_walker(world, "z", direction, phase=0.0)]
        frame, boxes, _ = world.render(0)
        x, y = boxes[0].keypoints[0, :2]
        heads.append(frame[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2].astype(int))
        k = {n: boxes[0].keypoints[i] for i, n in enumerate(BODY_NAMES)}
        assert (k["left_wrist"][0] > k["right_wrist"][0]) == (direction < 0)
    assert np.abs(heads[0] - heads[1]).mean() > 20
