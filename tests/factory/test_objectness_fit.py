"""Offline fit of the objectness model: synthetic video → weights the runtime accepts."""

import json
from pathlib import Path

import cv2
import numpy as np

from factory.objectness.fit import fit_objectness, main
from runtime.coco import FrameAnnotations, VideoAnnotations, write_coco
from runtime.patches.objectness import ObjectnessModel


def _video(tmp_path: Path, n: int = 16) -> tuple[Path, VideoAnnotations]:
    rng = np.random.default_rng(0)
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (192, 128))
    frames = {}
    for i in range(n):
        f = np.full((128, 192, 3), 100, np.uint8)
        boxes = []
        for x, y in ((8 + 6 * i, 20), (150 - 5 * i, 80)):
            f[y:y + 32, x:x + 16] = rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)  # textured, moving
            boxes.append([x, y, 16, 32])
        writer.write(f)
        frames[i] = FrameAnnotations(np.array(boxes, float), ["person"] * 2, np.zeros(2, bool), np.full(2, -1),
                                     np.zeros(2), np.ones(2))
    writer.release()
    return path, VideoAnnotations(["person", "vehicle"], frames, 192, 128)


def test_fit_gives_usable_weights(tmp_path):
    path, gt = _video(tmp_path)
    weights = fit_objectness([(path, gt, None)], cell=16, sub=4)
    model = ObjectnessModel.from_dict(json.loads(json.dumps(weights)))
    assert weights["weights"][0] > 0 and weights["weights"][1] > 0  # texture and change mean objects here
    assert weights["fit"]["train_accuracy_balanced"] > 0.8
    assert model.w.shape == (4,)


def test_fit_cli(tmp_path):
    path, gt = _video(tmp_path, 8)
    gt_path = tmp_path / "gt.json"
    write_coco(gt_path, gt)
    out = tmp_path / "w.json"
    assert main(["--video", str(path), "--gt", str(gt_path), "--frames", "0:6", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["fit"]["cells"] == 6 * 8 * 12
    assert main(["--video", str(path), "--gt", str(gt_path), "--frames", "4:2", "--out", str(out)]) == 2
