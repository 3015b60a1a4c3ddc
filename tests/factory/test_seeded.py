"""Seeded crops (the closed loop's patches on noisy ground-truth seeds): geometry, false seeds, determinism,
their place in a built split, bad params."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from factory.data.builder import build_split
from factory.data.imagenet import ImagenetParams
from factory.data.patchset import FALSE_SEED, PatchParams
from factory.data.seeded import false_seed, noisy_seed, plan_seeded
from runtime.coco import load_coco
from runtime.config import from_mapping
from runtime.errors import UserError
from runtime.geometry import clip_boxes
from runtime.patches.config import PatchConfig
from tests.factory.test_patchset import H, W, make_video

SEEDED = PatchParams(frame_step=1, min_object_side=8, tiles_per_video=0, max_crops_per_video=1,
                     seeded_per_video=60, false_seeds=0.5, seed_jitter=0.1, seed_margin=[0.0, 0.2])


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seeded")
    make_video(root)
    return root


def test_noisy_seed_without_noise_is_the_box_grown_by_its_margin() -> None:
    rng = np.random.default_rng(0)
    assert np.allclose(noisy_seed(np.array([10.0, 20.0, 8.0, 16.0]), 0.0, 0.0, rng), [10, 20, 8, 16])
    assert np.allclose(noisy_seed(np.array([10.0, 20.0, 8.0, 16.0]), 0.0, 0.25, rng), [6, 16, 16, 24])


def test_false_seed_centre_lies_in_no_object() -> None:
    rng = np.random.default_rng(1)
    boxes = np.array([[0.0, 0.0, 60.0, 160.0], [100.0, 40.0, 20.0, 30.0]])
    for _ in range(50):
        b = false_seed(boxes, W, H, rng)
        assert b is not None and tuple(b[2:]) in {(60.0, 160.0), (20.0, 30.0)}
        cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
        assert not ((boxes[:, 0] <= cx) & (cx <= boxes[:, 0] + boxes[:, 2]) &
                    (boxes[:, 1] <= cy) & (cy <= boxes[:, 1] + boxes[:, 3])).any()
    assert false_seed(np.array([[0.0, 0.0, float(W), float(H)]]), W, H, rng) is None  # nowhere to go


def test_plan_seeded_follows_the_generators_rule(video_dir: Path) -> None:
    video = load_coco(video_dir / "annotations.json")
    crops = plan_seeded(video, None, SEEDED, np.random.default_rng(0))
    false = [c for c in crops if c.obj == FALSE_SEED]
    assert len(crops) <= 60 and len(false) == pytest.approx(20, abs=3)
    rule = PatchConfig()
    for c in crops:
        x0, y0, x1, y1 = c.patch
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
        assert min(x1 - x0, y1 - y0) >= min(rule.min_patch_side, W, H)
        if c.obj >= 0:  # a true seed's patch is around its object: their centres are close
            box = clip_boxes(video.frames[c.frame].boxes[c.obj][None], W, H)[0]
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            assert x0 <= cx <= x1 and y0 <= cy <= y1
    again = plan_seeded(video, None, SEEDED, np.random.default_rng(0))
    assert again == crops


def test_built_split_labels_seeded_crops(video_dir: Path, tmp_path: Path) -> None:
    from factory.data.builder import Source

    src = Source(str(video_dir / "video.mp4"), str(video_dir / "annotations.json"))
    metrics = build_split("train", [src], tmp_path / "p", tmp_path / "i", SEEDED,
                          ImagenetParams(frame_step=4, background_per_video=2, min_object_side=10), 0)
    data = json.loads((tmp_path / "p" / "annotations.json").read_text())
    labels = [im["label"] for im in data["images"]]
    assert metrics["false_seeds"] == labels.count("false-seed") > 0
    assert sum(label in ("person", "vehicle") for label in labels) > metrics["false_seeds"]


@pytest.mark.parametrize("margin", [[0.3, 0.1], [-0.1, 0.2], [0.0]])
def test_bad_seed_margin_names_the_key(margin: list[float]) -> None:
    with pytest.raises(UserError, match="patches.seed_margin"):
        from_mapping(PatchParams, {"seed_margin": margin}, "patches")
