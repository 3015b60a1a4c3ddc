"""Keypoint models in the manifest: typed, validated, and invisible to every detection consumer."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runtime.errors import UserError
from runtime.keypoints import BODY, COCO_NAMES, SIGMAS, SKELETON
from runtime.manifest import parse_manifest
from tests.runtime.cluster.tiny_bundle import CLASSES, DECODE, MEAN, STD

KP = {"names": list(COCO_NAMES), "body": list(BODY), "skeleton": [list(e) for e in SKELETON], "sigmas": list(SIGMAS),
      "input_hw": [128, 64], "stride": 4}


def _entry(kind: str, task: str | None = None, keypoints: dict[str, Any] | None = None) -> dict[str, Any]:
    e = {"backbone": "tiny", "input_size": 64, "precision": "fp32", "kind": kind,
         "files": {"param": "n.param", "bin": "n.bin"}, "sha256": {"param": "", "bin": ""}, "input_blob": "in0",
         "output_blobs": ["out0"], "mean": MEAN, "std": STD, "colour": "rgb", "pad_value": 114,
         "decode": dict(DECODE), "macs": 0, "params": 0}
    if task:
        e["task"] = task
    if keypoints is not None:
        e["keypoints"] = keypoints
    return e


def _manifest(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    models = {"mini-64": _entry("mini"), "base-64": _entry("baseline"),
              "kp-mini-128x64": _entry("mini", "keypoints", copy.deepcopy(KP)),
              "kp-hrnet-128x64": _entry("baseline", "keypoints", copy.deepcopy(KP))}
    models.update(extra or {})
    profiles = {"pi": {"estimated": True, "models": {m: {"latency_ms": 10.0, "accuracy": 0.5} for m in models}}}
    return {"classes": CLASSES, "models": models, "profiles": profiles}


def test_detection_consumers_never_see_keypoint_models() -> None:
    m = parse_manifest(_manifest(), "m:")
    assert m.models["mini-64"].task == "detection" and m.models["kp-mini-128x64"].keypoints.input_hw == [128, 64]
    assert m.models_of_task("keypoints") == ["kp-mini-128x64", "kp-hrnet-128x64"]
    assert m.kinds() == {"mini-64": "mini", "base-64": "baseline"}
    assert m.models_of_kind("mini") == ["mini-64"] and m.models_of_kind("baseline") == ["base-64"]
    assert m.models_of_kind("mini", task="keypoints") == ["kp-mini-128x64"]
    assert m.models_served_by("pi") == ["mini-64", "base-64"] and m.listed_models("pi") == ["mini-64", "base-64"]
    assert m.models_served_by("pi", task="keypoints") == ["kp-mini-128x64", "kp-hrnet-128x64"]
    assert m.models_served_by("phone") == ["mini-64", "base-64"]
    assert m.variant("kp-mini-128x64", "fp32") == "kp-mini-128x64" and m.variant("mini-64", "fp32") == "mini-64"
    with pytest.raises(UserError, match="is a keypoints model, not detection"):
        m.models_served_by("pi", ["kp-mini-128x64"])
    with pytest.raises(UserError, match="task 'pose'"):
        m.models_of_task("pose")


@pytest.mark.parametrize(("entry", "message"), [
    (_entry("mini", "keypoints"), "keypoints: required exactly when task is keypoints"),
    (_entry("mini", None, copy.deepcopy(KP)), "keypoints: required exactly when task is keypoints"),
    (_entry("mini", "keypoints", {**KP, "sigmas": [0.1]}), "sigmas: expected one sigma per name"),
    (_entry("mini", "keypoints", {**KP, "body": [0, 17]}), "body: expected slot indices"),
    (_entry("mini", "keypoints", {**KP, "skeleton": [[0, 1]]}), "skeleton: expected 1-based slot pairs"),
    (_entry("mini", "keypoints", {**KP, "input_hw": [128]}), "input_hw: expected"),
    (_entry("mini", "pose"), "task"),
])
def test_bad_keypoint_entries_are_named(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_manifest(_manifest({"bad": entry}), "m:")
