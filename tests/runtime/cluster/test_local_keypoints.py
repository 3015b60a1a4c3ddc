"""The keypoint task on the cluster (``paraloupe-run --task keypoints``): a local:2 run end to end on the tiny
video's people against the one-device run on the same crops; the ``keypoints`` message and the ``schedule``
``task`` on the wire; detection requests unchanged. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.cluster.protocol import Malformed, ProtocolError, decode, encode, try_decode
from runtime.keypoint_task import KeypointLoop, PatchPose, to_person
from runtime.modes import JpegChroma

POINTS = [[1.0, 2.0, 0.5]] * 13


@pytest.fixture(scope="module")
def kp_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from tests.runtime.cluster.tiny_keypoints import build_keypoint_bundle

    return build_keypoint_bundle(tiny_bundle, tmp_path_factory.mktemp("kp") / "bundle")


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_local_cluster_keypoints_match_one_device(kp_bundle: Path, tiny_video: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from runtime.cli.eval import main as eval_main
    from runtime.cli.keypoints import main as keypoints_main
    from runtime.cli.run import main as run_main
    from tests.runtime.cluster.tiny_keypoints import MINI

    gt = tiny_video.parent / "keypoints.json"
    out, summary, single = tmp_path / "p.jsonl", tmp_path / "s.json", tmp_path / "one.jsonl"
    assert run_main(["--bundle", str(kp_bundle), "--video", str(tiny_video), "--cluster", "local:2", "--frames",
                     "0:6", "--task", "keypoints", "--boxes", str(gt), "--keypoint-model", MINI, "--devices",
                     "raspberry-pi-4b", "--gt", str(gt), "--out", str(out), "--summary", str(summary), "--quiet",
                     "--workdir", str(tmp_path / "work")]) == 0
    assert keypoints_main(["--bundle", str(kp_bundle), "--model", MINI, "--video", str(tiny_video), "--boxes",
                           str(gt), "--frames", "0:6", "--out", str(single)]) == 0
    lines, ones = _lines(out), _lines(single)
    assert [x["frame"] for x in lines] == [x["frame"] for x in ones] == list(range(6))
    assert sum(len(x["persons"]) for x in lines) > 0
    for line, one in zip(lines, ones, strict=True):  # same boxes, the same crops (JPEG on the wire)
        assert [p["box"] for p in line["persons"]] == [p["box"] for p in one["persons"]]
        assert all(len(p["keypoints"]) == 17 and p["keypoints"][1] == [0, 0, 0] for p in line["persons"])
        assert line["latency_ms"] > 0 and len(line["patch_rects"]) == len(line["persons"])
    s = json.loads(summary.read_text())
    assert s["task"] == "keypoints" and s["frames"] == 6 and s["frames_dropped"] == 0
    assert set(s["patches_per_device"]) <= {"server-0", "server-1"} and s["e2e_ms"]["p50"] > 0
    assert set(s["emulation"]["latency_estimated"]) == {MINI, "kp-base-64x32-fp32"}  # no keypoint profile rows
    assert s["counters"].get("local_patches", 0) == 0
    capsys.readouterr()
    assert eval_main(["--task", "keypoints", "--pred", str(out), "--gt", str(gt), "--frames", "0:6"]) == 0
    assert json.loads(capsys.readouterr().out)["keypoints"] == s["keypoints"]


def test_keypoint_message_round_trip_and_malformed_ones_are_counted() -> None:
    frames = encode("keypoints", req="3.0.1", model="kp", device="server-0", w=32, h=64, points=POINTS, score=0.5,
                    infer_ms=1.0, server_ms=2.0, paced=True)
    msg = decode(frames)
    assert msg.type == "keypoints" and msg["points"] == POINTS and msg["w"] == 32
    malformed = Malformed()
    for bad in ({"points": []}, {"points": [[1.0, 2.0]]}, {"score": "high"}):
        fields = dict(req="r", model="kp", device="d", w=1, h=1, points=POINTS, score=0.5, infer_ms=1.0,
                      server_ms=1.0, paced=False) | bad
        assert try_decode(encode("keypoints", **fields), malformed) is None
    assert malformed == {"field:points": 2, "field:score": 1}
    schedule = dict(req="f1", frame=1, kind="mini", slo_ms=250.0, patches=[], bandwidths={}, exclude=[])
    assert "task" not in decode(encode("schedule", **schedule)).header  # detection: unchanged, no task
    assert decode(encode("schedule", task="keypoints", **schedule))["task"] == "keypoints"
    with pytest.raises(ProtocolError, match="field:task"):
        decode(encode("schedule", task="pose", **schedule))


def test_master_plans_each_task_over_its_own_models(kp_bundle: Path) -> None:
    from runtime.bundle import load_manifest
    from runtime.cluster.config import ClusterConfig
    from runtime.cluster.master import Master
    from tests.runtime.cluster.tiny_keypoints import BASE, MINI

    master = Master(load_manifest(kp_bundle), ClusterConfig(), log=lambda s: None)
    assert master.kinds["detection"] == {"tiny-64-fp32": "mini", "tiny-96-fp32": "mini",
                                         "baseline-160-fp32": "baseline"}
    assert master.kinds["keypoints"] == {MINI: "mini", BASE: "baseline"}
    rows = {m: {"latency_ms": 5.0, "accuracy": 0.5} for m in ("tiny-64-fp32", MINI)}
    state = dict(device="s0", endpoint="tcp://x", models=rows, cost=0.0, pace_factor=1.0, emulated=True, served=0,
                 malformed=0)
    master.handle(decode(encode("state", **state)), 0.0)
    ask = dict(frame=1, kind="mini", slo_ms=250.0, patches=[{"bytes": 1000, "confidence": 1.0}], bandwidths={},
               exclude=[])
    det = master.handle(decode(encode("schedule", req="a", **ask)), 0.1)
    kp = master.handle(decode(encode("schedule", req="b", task="keypoints", **ask)), 0.1)
    assert det["assignment"] == [["s0", "tiny-64-fp32"]] and kp["assignment"] == [["s0", MINI]]


def test_crop_answers_map_back_through_a_downscaled_jpeg() -> None:
    person = to_person([10, 20, 30, 60], (0, 10, 40, 90), np.array([[20.0, 40.0, 0.9]] * 13), 0.9, (20, 40))
    assert person["keypoints"][0] == [40.0, 90.0, 1.0] and person["score"] == 0.9
    loop = KeypointLoop({0: [[10, 20, 30, 60]]}, 0.75, "mini", 90, JpegChroma.FULL)
    plan = loop.plan(np.zeros((100, 100, 3), np.uint8), 0)
    assert len(plan.entries) == 1 and plan.entries[0].model_kind == "mini"
    dets = loop.finish(plan, [PatchPose(plan.entries[0].rect, (1, 1), np.zeros((13, 3)), 0.2)])
    assert dets.labels == ["person"] and loop.line_extra()["persons"][0]["box"] == [10, 20, 30, 60]


def test_detection_run_is_unchanged_by_keypoint_models(kp_bundle: Path, tiny_bundle: Path, tiny_video: Path,
                                                       tmp_path: Path) -> None:
    from runtime.cli.run import main as run_main

    lines = {}  # one device profile on both servers: the same model whichever server a patch lands on
    for name, bundle in (("plain", tiny_bundle), ("with-kp", kp_bundle)):
        out = tmp_path / f"{name}.jsonl"
        assert run_main(["--bundle", str(bundle), "--video", str(tiny_video), "--cluster", "local:2", "--frames",
                         "0:4", "--mode", "ep-4", "--scheduler", "uniform", "--devices", "raspberry-pi-4b",
                         "--out", str(out), "--quiet",
                         "--workdir", str(tmp_path / name)]) == 0
        lines[name] = _lines(out)
    strip = [{k: v for k, v in x.items() if k != "latency_ms"} for x in lines["with-kp"]]
    assert strip == [{k: v for k, v in x.items() if k != "latency_ms"} for x in lines["plain"]]
    assert all("persons" not in x for x in strip)


def test_person_boxes_from_a_detection_jsonl(tmp_path: Path) -> None:
    from runtime.keypoint_task import load_person_boxes

    pred = tmp_path / "det.jsonl"
    pred.write_text(json.dumps({"frame": 3, "detections": [[1, 2, 10, 40, "person", 0.9], [5, 5, 10, 10, "person", 0.8],
                                                           [0, 0, 50, 50, "vehicle", 0.9]]}) + "\n")
    assert load_person_boxes(pred, "detections", min_height=24) == {3: [[1.0, 2.0, 10.0, 40.0]]}
