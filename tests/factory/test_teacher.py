"""Teacher labelling: reproduces vtest.teacher.json (mapped, cut); layouts; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from factory.teacher.cli import main as label_main
from factory.teacher.detector import PRESETS, Detector, decode_output, nms_classwise, with_overrides
from factory.teacher.labels import agreement, label_video, to_ground_truth
from runtime.coco import load_coco
from runtime.errors import UserError

SHARED = Path(__file__).resolve().parents[3] / "shared"
VTEST = SHARED / "data" / "vtest"
TEACHER = SHARED / "models" / "teacher" / "centernet.onnx"
needs_shared = pytest.mark.skipif(not (VTEST / "vtest.avi").is_file() or not TEACHER.is_file(),
                                  reason="../shared (vtest video and teacher model) is absent")


@pytest.mark.shared
@needs_shared
def test_teacher_reproduces_vtest_labels(tmp_path: Path) -> None:
    frames = range(0, 795, 20)
    out = tmp_path / "gt.json"
    assert label_main(["--video", str(VTEST / "vtest.avi"), "--model", str(TEACHER), "--out", str(out),
                       "--raw", str(tmp_path / "raw.json"), "--frames", "0:795:20", "--threads", "1"]) == 0
    ours = load_coco(out)
    assert ours.categories == ["person", "vehicle"] and ours.category_ids == {"person": 1, "vehicle": 2}
    assert ours.frame_ids == list(frames)
    ref = to_ground_truth(load_coco(VTEST / "vtest.teacher.json"))
    agree = agreement(ours, ref, 2.0, frames)
    assert agree["ref_boxes"] > 100
    assert agree["ref_matched_fraction"] >= 0.95 and agree["ours_matched_fraction"] >= 0.95, agree
    data = json.loads(out.read_text())
    assert all(a["score"] >= 0.40 for a in data["annotations"])
    raw = load_coco(tmp_path / "raw.json")
    assert len(raw.categories) == 80 and raw.category_ids["car"] == 3
    assert min(s for f in raw.frames.values() for s in f.scores) >= 0.20


def test_ground_truth_mapping_and_cut() -> None:
    from runtime.coco import VideoAnnotations, frames_from_boxes

    raw = VideoAnnotations(["person", "car", "truck", "dog"], frames_from_boxes(
        [(0, [([0, 0, 5, 5], "person", 0.9), ([1, 1, 5, 5], "truck", 0.5), ([2, 2, 5, 5], "car", 0.39),
              ([3, 3, 5, 5], "dog", 0.99)]), (1, [])]), 10, 10)
    gt = to_ground_truth(raw)
    assert gt.frame_ids == [0, 1] and len(gt.frames[1]) == 0
    assert gt.frames[0].labels == ["person", "vehicle"]
    assert np.allclose(gt.frames[0].scores, [0.9, 0.5])


def test_yolo_layouts_decode_the_same() -> None:
    spec = PRESETS["yolo"]
    n, nc = 3, 80
    rows = np.zeros((n, 5 + nc), dtype=np.float32)
    rows[:, :4] = [[100, 100, 20, 40], [300, 200, 50, 50], [10, 10, 4, 4]]
    rows[:, 4] = [0.9, 0.8, 0.1]
    rows[0, 5 + 0] = 1.0  # person
    rows[1, 5 + 2] = 0.5  # car
    rows[2, 5 + 7] = 1.0  # truck
    boxes, scores, classes = decode_output(rows[None], spec)
    assert np.allclose(boxes[0], [90, 80, 110, 120]) and list(classes) == [0, 2, 7]
    assert np.allclose(scores, [0.9, 0.4, 0.1])
    v8 = np.concatenate([rows[:, :4], rows[:, 5:] * rows[:, 4:5]], axis=1).T[None]  # [1, 84, N]
    b8, s8, c8 = decode_output(v8, spec)
    assert np.allclose(b8, boxes) and np.allclose(s8, scores) and list(c8) == list(classes)
    with pytest.raises(UserError, match="layout yolo"):
        decode_output(np.zeros((1, 7, 5)), spec)


def test_classwise_nms() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=float)
    keep = nms_classwise(boxes, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 1, 0]), 0.5)
    assert sorted(keep.tolist()) == [0, 2, 3]


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    model = tmp_path / "model.onnx"
    model.write_bytes(b"not a model")
    bad_video = tmp_path / "bad.avi"
    bad_video.write_bytes(b"\x00garbage" * 100)
    video = tmp_path / "ok.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, dtype=np.uint8))
    writer.release()
    cases = [
        (["--video", str(tmp_path / "none.avi"), "--model", str(model)], "none.avi"),
        (["--video", str(bad_video), "--model", str(model)], "bad.avi"),
        (["--video", str(video), "--model", str(tmp_path / "none.onnx")], "none.onnx"),
        (["--video", str(video), "--model", str(model)], "model.onnx"),
        (["--video", str(video), "--model", str(model), "--frames", "5:2"], "--frames"),
    ]
    for args, name in cases:
        out = tmp_path / "gt.json"
        assert label_main(args + ["--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and name in err and "\n" not in err and "Traceback" not in err
        assert not out.exists()


@needs_shared
def test_corrupt_and_empty_video(tmp_path: Path) -> None:
    import cv2

    detector = Detector(TEACHER, with_overrides(PRESETS["teacher-centernet"], threads=1))
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(UserError, match="bad.avi"):
        label_video(bad, detector)
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    writer.release()
    with pytest.raises(UserError, match="empty.avi"):
        label_video(empty, detector)


def test_label_stage_skips_without_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from factory.stages.label import LabelParams, run

    monkeypatch.setenv("PARALOUPE_TRACKING", "off")
    stale = tmp_path / "label" / "vtest" / "annotations.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    status = run(LabelParams(video=str(tmp_path / "absent.avi"), out_dir=str(tmp_path / "label")))
    assert status["status"] == "skipped" and "absent.avi" in status["reason"]
    assert json.loads((tmp_path / "label" / "status.json").read_text())["status"] == "skipped"
    assert not stale.exists()
