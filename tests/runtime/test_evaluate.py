"""The F1 evaluator against hand-computed cases (CONVENTIONS.md matching rules)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.cli.eval import main as eval_main
from runtime.coco import FrameAnnotations, VideoAnnotations, write_coco
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.evaluate import FP, IGNORED, TP, evaluate, match_frame, match_objects, parse_frame_range


def gt_frame(boxes: list[list[float]], labels: list[str], crowd: list[bool] | None = None) -> FrameAnnotations:
    n = len(labels)
    return FrameAnnotations(np.array(boxes, dtype=float).reshape(-1, 4), labels,
                            np.array(crowd or [False] * n, dtype=bool), -np.ones(n, dtype=np.int64), np.zeros(n),
                            np.ones(n))


def counts(gt: FrameAnnotations, boxes: list[list[float]], labels: list[str], scores: list[float], iou: float = 0.5):
    return match_frame(gt, np.array(boxes, dtype=float).reshape(-1, 4), labels, np.array(scores, dtype=float), iou)


def test_duplicate_detection_is_one_tp_and_one_fp() -> None:
    gt = gt_frame([[0, 0, 10, 10]], ["person"])
    c = counts(gt, [[0, 0, 10, 10], [1, 0, 10, 10]], ["person", "person"], [0.9, 0.8])["person"]
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)
    assert c.precision == 0.5 and c.recall == 1.0 and c.f1 == pytest.approx(2 / 3)


def test_class_mismatch_is_fp_and_fn() -> None:
    gt = gt_frame([[0, 0, 10, 10]], ["person"])
    res = counts(gt, [[0, 0, 10, 10]], ["vehicle"], [0.9])
    assert (res["person"].tp, res["person"].fn) == (0, 1)
    assert (res["vehicle"].tp, res["vehicle"].fp) == (0, 1)


def test_iou_exactly_at_threshold_matches() -> None:
    gt = gt_frame([[0, 0, 10, 10]], ["person"])
    # prediction [0, 0, 10, 20]: intersection 100, union 200 -> IoU exactly 0.5
    assert counts(gt, [[0, 0, 10, 20]], ["person"], [0.9])["person"].tp == 1
    assert counts(gt, [[0, 0, 10, 20.5]], ["person"], [0.9])["person"].fp == 1


def test_highest_score_takes_the_best_box_first() -> None:
    gt = gt_frame([[0, 0, 10, 10], [8, 0, 10, 10]], ["person", "person"])
    # the high-score prediction overlaps both, best with the second; the low-score one only fits the first
    c = counts(gt, [[7, 0, 10, 10], [0, 0, 10, 10]], ["person", "person"], [0.9, 0.5])["person"]
    assert (c.tp, c.fp, c.fn) == (2, 0, 0)


def test_crowd_regions_are_ignored_not_counted() -> None:
    gt = gt_frame([[0, 0, 10, 10], [50, 50, 20, 20]], ["person", "person"], [False, True])
    c = counts(gt, [[0, 0, 10, 10], [50, 50, 20, 20], [200, 200, 5, 5]], ["person"] * 3, [0.9, 0.8, 0.7])["person"]
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)  # crowd prediction ignored, the stray one is an FP, crowd gt not an FN


def test_match_objects_names_the_missed_boxes_and_each_prediction_outcome() -> None:
    gt = gt_frame([[0, 0, 10, 10], [50, 50, 20, 20], [100, 0, 10, 10], [30, 30, 5, 5]],
                  ["person", "person", "vehicle", "person"], [False, True, False, False])
    boxes = np.array([[0, 0, 10, 10], [50, 50, 20, 20], [100, 0, 10, 10], [200, 200, 5, 5]], dtype=float)
    labels = ["person", "person", "person", "vehicle"]  # the third has the wrong class
    matched, outcome = match_objects(gt, boxes, labels, np.array([0.9, 0.8, 0.7, 0.6]))
    assert matched.tolist() == [True, False, False, False]  # the crowd box is never matched, the vehicle is missed
    assert outcome.tolist() == [TP, IGNORED, FP, FP]
    c = match_frame(gt, boxes, labels, np.array([0.9, 0.8, 0.7, 0.6]))
    assert (c["person"].tp, c["person"].fp, c["person"].fn, c["vehicle"].fn) == (1, 1, 1, 1)


def video(frames: dict[int, FrameAnnotations]) -> VideoAnnotations:
    return VideoAnnotations(["person", "vehicle"], frames, 100, 100, {}, {"person": 1, "vehicle": 2})


def test_micro_average_and_frame_range() -> None:
    gt = video({0: gt_frame([[0, 0, 10, 10]], ["person"]), 1: gt_frame([[0, 0, 10, 10]], ["vehicle"]),
                2: gt_frame([[0, 0, 10, 10]], ["person"])})
    preds = {0: Detections(np.array([[0, 0, 10, 10.0]]), ["person"], np.array([0.9]), 0),
             1: Detections(np.array([[30, 30, 10, 10.0]]), ["vehicle"], np.array([0.9]), 1)}
    res = evaluate(gt, preds)
    assert (res.overall.tp, res.overall.fp, res.overall.fn) == (1, 1, 2)
    assert res.frames == 3 and res.frames_without_predictions == 1
    res = evaluate(gt, preds, frames=(0, 1))
    assert (res.overall.tp, res.overall.fp, res.overall.fn) == (1, 0, 0)
    assert evaluate(gt, preds, min_score=0.95).overall.tp == 0


def test_prediction_for_unknown_frame_is_an_error() -> None:
    gt = video({0: gt_frame([], [])})
    with pytest.raises(UserError, match="frame 7"):
        evaluate(gt, {7: Detections.empty(7)})


def test_frame_range_parsing() -> None:
    assert parse_frame_range("500:795") == (500, 795)
    with pytest.raises(UserError, match="--frames"):
        parse_frame_range("5-7")


def test_cli_json_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_coco(tmp_path / "gt.json", video({0: gt_frame([[0, 0, 10, 10]], ["person"])}))
    (tmp_path / "p.jsonl").write_text(json.dumps({"frame": 0, "detections": [[0, 0, 10, 10, "person", 0.8]]}) + "\n")
    assert eval_main(["--pred", str(tmp_path / "p.jsonl"), "--gt", str(tmp_path / "gt.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overall"]["f1"] == 1.0 and out["per_class"]["person"]["tp"] == 1
    (tmp_path / "bad.jsonl").write_text(json.dumps({"frame": 3, "detections": []}) + "\n")
    assert eval_main(["--pred", str(tmp_path / "bad.jsonl"), "--gt", str(tmp_path / "gt.json")]) == 2
    assert "frame 3" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert eval_main(["--pred", str(tmp_path / "p.jsonl"), "--gt", str(tmp_path / "broken.json")]) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and len(err.strip().splitlines()) == 1
