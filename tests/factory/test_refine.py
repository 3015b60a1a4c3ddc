"""Hard-example mining (factory/train/mining.py) and the refine stage end to end on a tiny synthetic video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from factory.models.detector import load_detector
from factory.train.mining import MiningParams, TorchDetector, false_positive_boxes, hard_patch_rects, loop_predictions
from runtime.coco import FrameAnnotations, VideoAnnotations, load_coco
from runtime.detections import Detections
from runtime.video import iter_frames
from tests.factory.test_detectors_stages import build_workspace, write_params

torch.set_num_threads(1)


def test_one_patch_per_distractor_within_the_dedupe_window() -> None:
    box = np.array([[100.0, 50.0, 20.0, 40.0]])
    moved = box + [30.0, 0.0, 0.0, 0.0]  # IoU 0 with the first: another distractor
    rects = hard_patch_rects({0: box, 1: box, 3: box, 4: box, 5: moved}, 320, 240, MiningParams(dedupe_frames=3))
    assert sorted(rects) == [0, 4, 5]  # frames 1 and 3 repeat frame 0's distractor; frame 4 is 4 frames later
    x0, y0, x1, y1 = rects[0][0]
    assert x1 - x0 == y1 - y0 == 80  # longer side 40 / side_ratio 0.5
    assert (x0 + x1) / 2 == pytest.approx(110, abs=1) and (y0 + y1) / 2 == pytest.approx(70, abs=1)


def test_patches_stay_inside_the_frame_and_respect_the_cap() -> None:
    corner = {f: np.array([[0.0, 0.0, 4.0, 4.0], [300.0, 200.0, 20.0, 40.0]]) for f in range(0, 40, 4)}
    rects = hard_patch_rects(corner, 320, 240, MiningParams(min_side=32))
    flat = [r for rs in rects.values() for r in rs]
    assert len(flat) == 20
    for x0, y0, x1, y1 in flat:
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240 and x1 - x0 >= 32
    capped = hard_patch_rects(corner, 320, 240, MiningParams(per_video_cap=7))
    assert sum(len(r) for r in capped.values()) == 7


def test_false_positives_are_what_the_evaluator_counts() -> None:
    frame = FrameAnnotations(np.array([[10.0, 10.0, 20.0, 40.0]]), ["person"], np.zeros(1, dtype=bool))
    gt = VideoAnnotations(["person"], {0: frame},
                          100, 100)
    preds = {0: Detections(np.array([[10.0, 10.0, 20.0, 40.0], [60.0, 60.0, 10.0, 10.0]]), ["person", "person"],
                           np.array([0.9, 0.8]), 0)}
    out = false_positive_boxes(gt, preds)
    assert list(out) == [0] and np.allclose(out[0], [[60.0, 60.0, 10.0, 10.0]])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return build_workspace(tmp_path_factory.mktemp("refine"))


def _with_refine(root: Path, src: dict[str, str], **refine: object) -> Path:
    path = write_params(root, src)
    params = yaml.safe_load(path.read_text())
    absent = {"video": str(root / "absent.mp4"), "annotations": src["annotations"], "optional": True}
    params["refine"] = {"in_dir": str(root / "detectors"), "out_dir": str(root / "refined"),
                        "videos": [src, absent],
                        "objectness": str(root / "absent.json"), **refine}
    params["datasets"] = {"patches": {"frame_step": 4, "min_object_side": 8, "seeded_per_video": 8}}
    path.write_text(yaml.safe_dump(params))
    return path


def test_refine_mines_the_loop_and_trains_the_minis_again(workspace, monkeypatch) -> None:
    from factory.stages import finetune, pretrain, refine

    root, src = workspace
    monkeypatch.setenv("PARALOUPE_PARAMS", str(_with_refine(root, src, mining={"min_side": 16})))
    assert pretrain.main([]) == 0 and finetune.main([]) == 0
    gt = load_coco(src["annotations"])
    mini, base = (load_detector(root / "detectors" / n / "model.pt") for n in ("standin-48", "baseline"))
    assert sorted(loop_predictions(src["video"], gt, mini, base, None)) == sorted(gt.frames)  # the real loop
    assert sorted(loop_predictions(src["video"], gt, mini, base, None, range(2, 5))) == [2, 3, 4]
    _, frame = next(iter(iter_frames(src["video"], [0])))
    crops = [frame[0:40, 0:40], frame[10:70, 20:80], frame[0:50, 0:30]]
    for step in (TorchDetector(mini), TorchDetector(base, 64)):  # one batched call = one call per image
        step.spec = {**step.spec, "decode": {**step.spec["decode"], "score_threshold": 0.001}}  # untrained: low
        with torch.no_grad():
            one, many = [step(c) for c in crops], step.batch(crops, [None, 0.002, None])
            one[1] = step(crops[1], min_score=0.002)
        for a, b in zip(one, many, strict=True):
            np.testing.assert_allclose(a.detections.scores, b.detections.scores, atol=1e-4)
            np.testing.assert_allclose(a.detections.boxes, b.detections.boxes, atol=1e-2)
        assert sum(len(a.detections) for a in one) > 0  # something to compare
    # one-epoch minis report next to nothing: add a false positive per video so that a patch is mined
    real = refine.false_positive_boxes
    monkeypatch.setattr(refine, "false_positive_boxes",
                        lambda g, p: {**real(g, p), 3: np.array([[120.0, 60.0, 12.0, 24.0]])})
    assert refine.main([]) == 0
    out = root / "refined"
    for name in ("standin-48", "standin-64", "baseline"):
        assert (out / name / "model.pt").is_file()
    report = json.loads((out / "metrics.json").read_text())
    mined = json.loads((out / "mined" / "annotations.json").read_text())
    assert report["mining"]["total_patches"] == len(mined["images"]) > 0
    assert report["mining"]["minis"] == ["standin-48", "standin-64"]
    assert report["mining"]["skipped"] == [str(root / "absent.mp4")]  # optional and absent: skipped, listed
    assert json.loads((out / "plain" / "annotations.json").read_text())["images"]
    kinds = {(r["model"], r["kind"]) for r in report["rows"]}
    assert ("standin-48", "mini") in kinds and ("baseline", "baseline") in kinds
    first = (root / "detectors" / "standin-48" / "model.pt").read_bytes()
    assert (out / "standin-48" / "model.pt").read_bytes() != first  # trained again
    assert (out / "baseline" / "model.pt").read_bytes() == (root / "detectors" / "baseline" / "model.pt").read_bytes()

    monkeypatch.setenv("PARALOUPE_PARAMS", str(_with_refine(root, src, enabled=False)))
    assert refine.main([]) == 0
    assert not (out / "mined").exists() and (out / "standin-48" / "model.pt").read_bytes() == first


def test_the_miners_detector_feeds_the_network_rgb_as_it_was_trained(monkeypatch) -> None:
    """The loop hands its detectors BGR images (decoded JPEGs); the networks were trained on RGB."""
    from factory.train import mining
    from runtime.detections import Detections

    seen = []

    def capture(model, canvases, letterboxes, classes, decode, mean, std):
        seen.extend(canvases)
        return [Detections.empty() for _ in canvases]

    monkeypatch.setattr(mining, "run_batch", capture)
    model = torch.nn.Identity()
    model.spec = {"input_size": 32, "kind": "mini", "decode": {"score_threshold": 0.5}, "classes": ["person"],
                  "mean": [0, 0, 0], "std": [1, 1, 1]}
    blue = np.zeros((32, 32, 3), dtype=np.uint8)
    blue[..., 0] = 255  # pure blue in BGR
    TorchDetector(model)(blue)
    assert seen[-1][16, 16].tolist() == [0, 0, 255]  # RGB: blue last
    model.spec = {**model.spec, "colour": "bgr"}
    TorchDetector(model)(blue)
    assert seen[-1][16, 16].tolist() == [255, 0, 0]
