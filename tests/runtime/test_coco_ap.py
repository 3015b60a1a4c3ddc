"""COCO AP beside F1: hand-computed cases (101-point interpolated precision), the ranked-detections key of a
prediction line, and ``paraloupe-eval`` with and without faster-coco-eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime import coco_ap
from runtime.cli.eval import main as eval_main
from runtime.coco import write_coco
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.predictions import RANKED_KEY, parse_line, ranked_extra, read_ranked
from tests.runtime.test_evaluate import gt_frame, video

needs_coco = pytest.mark.skipif(not coco_ap.available(),
                                reason=f"faster-coco-eval is not installed ({coco_ap.INSTALL_HINT})")

#: Two frames, two people each (and one vehicle in frame 1).
PEOPLE = {0: [[0, 0, 10, 20], [40, 40, 10, 20]], 1: [[5, 5, 10, 20], [60, 10, 10, 20]]}


def _gt():
    return video({0: gt_frame(PEOPLE[0], ["person"] * 2),
                  1: gt_frame([*PEOPLE[1], [20, 60, 30, 15]], ["person", "person", "vehicle"])})


def _dets(frame: int, boxes: list[list[float]], labels: list[str], scores: list[float]) -> Detections:
    return Detections(np.array(boxes, dtype=float).reshape(-1, 4), labels, np.array(scores, dtype=float), frame)


def _perfect() -> dict[int, Detections]:
    return {0: _dets(0, PEOPLE[0], ["person"] * 2, [0.9, 0.8]),
            1: _dets(1, [*PEOPLE[1], [20, 60, 30, 15]], ["person", "person", "vehicle"], [0.7, 0.6, 0.9])}


@needs_coco
def test_perfect_predictions_have_ap_1() -> None:
    res = coco_ap.average_precision(_gt(), _perfect())
    assert res.ap == pytest.approx(1.0) and res.ap50 == pytest.approx(1.0) and res.frames == 2
    assert res.per_class == {"person": (pytest.approx(1.0), pytest.approx(1.0)),
                             "vehicle": (pytest.approx(1.0), pytest.approx(1.0))}


@needs_coco
def test_half_the_objects_missed_is_51_of_101_recall_points() -> None:
    # one person found per frame (exactly): precision 1 up to recall 0.5, then nothing -> 51 of the 101 points
    preds = {0: _dets(0, PEOPLE[0][:1], ["person"], [0.9]), 1: _dets(1, PEOPLE[1][:1], ["person"], [0.8])}
    res = coco_ap.average_precision(_gt(), preds)
    assert res.per_class["person"] == (pytest.approx(51 / 101), pytest.approx(51 / 101))
    assert res.per_class["vehicle"] == (0.0, 0.0)  # ground truth, no detection
    assert res.ap50 == pytest.approx(51 / 202)  # COCO's overall: the mean over the classes


@needs_coco
def test_a_false_positive_ranked_first_halves_ap_and_iou_thresholds_count() -> None:
    gt = video({0: gt_frame([[0, 0, 10, 20]], ["person"])})
    fp_first = {0: _dets(0, [[50, 50, 10, 20], [0, 0, 10, 20]], ["person", "person"], [0.9, 0.8])}
    assert coco_ap.average_precision(gt, fp_first).ap50 == pytest.approx(0.5)  # precision 1/2 at every recall
    # a box of IoU 0.8 (height 16 of 20) matches at thresholds 0.50..0.80 (7 of 10): AP 0.7, AP50 1
    loose = {0: _dets(0, [[0, 0, 10, 16]], ["person"], [0.9])}
    res = coco_ap.average_precision(gt, loose)
    assert res.ap50 == pytest.approx(1.0) and res.ap == pytest.approx(0.7)
    assert res.per_class["vehicle"] == (None, None)  # no vehicle in the ground truth: left out of the mean


@needs_coco
def test_frame_range_and_min_score() -> None:
    res = coco_ap.average_precision(_gt(), _perfect(), frames=(0, 1))
    assert res.frames == 1 and res.per_class["vehicle"] == (None, None) and res.ap == pytest.approx(1.0)
    cut = coco_ap.average_precision(_gt(), _perfect(), min_score=0.75)  # frame 1's people dropped
    assert cut.per_class["person"][0] == pytest.approx(51 / 101)


def test_ranked_key_round_trip_and_fallback(tmp_path: Path) -> None:
    shown = _dets(0, [[0, 0, 10, 20]], ["person"], [0.9])
    ranked = _dets(0, [[0, 0, 10, 20], [40, 40, 10, 20]], ["person", "person"], [0.9, 0.3])
    line = shown.to_line(**ranked_extra(ranked), latency_ms=3.0)
    assert json.loads(line)[RANKED_KEY][1] == [40.0, 40.0, 10.0, 20.0, "person", 0.3]
    assert len(parse_line(line, "x:1")) == 1  # F1's reader keeps to "detections"
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n\n" + _dets(1, [], [], []).to_line() + "\n")
    frames, with_key = read_ranked(path)
    assert with_key == 1 and len(frames[0]) == 2 and frames[0].scores.tolist() == [0.9, 0.3] and len(frames[1]) == 0
    path.write_text(json.dumps({"frame": 0, "detections": [], RANKED_KEY: [[0, 0, 1]]}) + "\n")
    with pytest.raises(UserError, match=f"{RANKED_KEY}\\[0\\] is not"):
        read_ranked(path)


def _files(tmp_path: Path) -> tuple[str, str]:
    """GT and a prediction file whose frame 1 shows only what scored >= 0.5 (its second person, at 0.3, missing)
    and carries every detection under the ranked key; frame 0 has no ranked key."""
    write_coco(tmp_path / "gt.json", _gt())
    frame1 = _perfect()[1]
    frame1.scores[1] = 0.3
    lines = [_perfect()[0].to_line(), frame1.select(frame1.scores >= 0.5).to_line(**ranked_extra(frame1))]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "p.jsonl"), str(tmp_path / "gt.json")


@needs_coco
def test_cli_prints_ap_beside_f1_from_the_ranked_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _files(tmp_path)
    assert eval_main(["--pred", pred, "--gt", gt]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # stdout is the JSON alone
    assert out["overall"]["fn"] == 1  # F1: the low-score person is not in "detections"
    ap = out["coco_ap"]
    assert ap["ap"] == pytest.approx(1.0) and ap["per_class"]["person"]["ap50"] == pytest.approx(1.0)
    assert ap["source"] == f"{RANKED_KEY} on 1 of 2 lines, detections elsewhere" and ap["frames"] == 2
    assert "COCO AP" in captured.err and "AP50" in captured.err


def test_cli_without_faster_coco_eval_says_how_to_get_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coco_ap, "available", lambda: False)
    pred, gt = _files(tmp_path)
    assert eval_main(["--pred", pred, "--gt", gt]) == 0
    captured = capsys.readouterr()
    assert "coco_ap" not in json.loads(captured.out) and json.loads(captured.out)["overall"]["tp"] == 4
    note = [line for line in captured.err.splitlines() if "COCO AP" in line]
    assert note == [f"COCO AP: not computed, faster-coco-eval is not installed ({coco_ap.INSTALL_HINT})"]
