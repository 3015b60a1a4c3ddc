"""The profile and bundle stages with the keypoints stage's output (issue 16): keypoint rows per device (host
measured by runtime.profiling, others FLOPS-scaled, α = OKS AP), int8 left out while its parity fails, the
keypoint models copied and hash-checked into the bundle, and the detection entries unchanged by all of it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import factory.pipeline as pipeline
from runtime.bundle import load_manifest

pytest.importorskip("pnnx")

FLOPS = {"jetson-xavier-nx": 8.45e11, "raspberry-pi-4b": 1.35e10, "host": 1.3e11}
DEVICES = [{"name": "jetson-xavier-nx", "backbone": "nx", "precision": "fp16", "threads": 4},
           {"name": "raspberry-pi-4b", "backbone": "tiny", "precision": "int8", "threads": 4},
           {"name": "host", "backbone": "host", "precision": "fp32", "threads": 1}]
KP = "kp-tiny-64x32"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export stage output (the tiny detector in fp32/fp16/int8 with F1 figures), a keypoints stage output
    and the search stage's FLOPS, built once."""
    from tests.runtime.cluster.tiny_bundle import build_precision_bundle
    from tests.runtime.cluster.tiny_keypoints import build_keypoint_stage_output

    root = tmp_path_factory.mktemp("inputs")
    export = build_precision_bundle(root / "export")
    manifest = json.loads((export / "manifest.json").read_text())
    (export / "models.json").write_text(json.dumps({"classes": manifest["classes"], "models": manifest["models"]}))
    rows = [{"model": n, "f1": 0.5 + 0.1 * i} for i, n in enumerate(manifest["models"])]
    (export / "metrics.json").write_text(json.dumps({"rows": rows}))
    build_keypoint_stage_output(root / "keypoints")
    (root / "search.json").write_text(json.dumps({d: {"flops": f} for d, f in FLOPS.items()}))
    return root


def _workspace(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keypoints: bool) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    kp_dir = str(root / "keypoints") if keypoints else str(tmp_path / "no-keypoints")
    params = {"profile": {"export_dir": str(root / "export"), "search_metrics": str(root / "search.json"),
                          "out_dir": "out/profile", "keypoints_dir": kp_dir, "devices": DEVICES},
              "bundle": {"export_dir": str(root / "export"), "profile_dir": "out/profile", "objectness": None,
                         "out_dir": "out/bundle", "keypoints_dir": kp_dir}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARALOUPE_PARAMS", raising=False)
    monkeypatch.setattr(pipeline, "SECTIONS", tuple(dict.fromkeys(pipeline.SECTIONS + ("profile", "bundle"))))
    return tmp_path


def test_keypoint_rows_and_bundle_entries(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from factory.stages import bundle, profile
    from runtime.cli import run

    work = _workspace(inputs, tmp_path, monkeypatch, keypoints=True)
    assert profile.main([]) == 0
    data = json.loads((work / "out/profile/profiles.json").read_text())
    host = data["profiles"]["host"]["models"]
    kp_host = {n: r for n, r in host.items() if n.startswith("kp-")}
    assert list(kp_host) == [f"{KP}-fp32", f"{KP}-fp16"]  # int8: its parity fails (40 px), left out
    for row in kp_host.values():  # measured by runtime.profiling, as the detectors
        assert row["estimated"] is False and row["runs"] == 30 and row["latency_ms"] > 0 and row["net_ms"] > 0
        assert row["accuracy"] == 0.3  # the keypoints stage's test OKS AP
    ratio = data["devices"]["host"]["flops"] / FLOPS["raspberry-pi-4b"]
    pi = data["profiles"]["raspberry-pi-4b"]["models"]
    assert [n for n in pi if n.startswith("kp-")] == [f"{KP}-fp32"]  # no int8 keypoint file: the fp32 one
    assert pi[f"{KP}-fp32"]["latency_ms"] == pytest.approx(kp_host[f"{KP}-fp32"]["latency_ms"] * ratio, rel=1e-3)
    assert pi[f"{KP}-fp32"]["estimated"] is True and pi[f"{KP}-fp32"]["accuracy"] == 0.3
    assert [n for n in data["profiles"]["jetson-xavier-nx"]["models"] if n.startswith("kp-")] == [f"{KP}-fp16"]
    assert all(not n.startswith("kp-") for d in data["devices"].values() for n in d["serves"])
    metrics = json.loads((work / "out/profile/metrics.json").read_text())
    assert "parity fails" in metrics["keypoints"]["left_out"][f"{KP}-int8"]

    assert bundle.main([]) == 0
    manifest = load_manifest(work / "out/bundle")  # every file's sha256 checked
    assert manifest.models_of_task("keypoints") == [f"{KP}-fp32", f"{KP}-fp16"]
    spec = manifest.models[f"{KP}-fp16"]
    assert spec.files.param == f"models/{KP}-fp16.param" and spec.keypoints is not None
    assert spec.keypoints.input_hw == [64, 32] and len(spec.keypoints.skeleton) == 14
    for device in FLOPS:  # what a keypoint server serves has real profile rows: no latency estimate
        served = manifest.models_served_by(device, task="keypoints")
        assert served and all(manifest.latency_or_estimate(device, m)[1] == "profile" for m in served)
    assert manifest.models_served_by("raspberry-pi-4b", task="keypoints") == [f"{KP}-fp32"]
    capsys.readouterr()
    assert run.main(["--bundle", str(work / "out/bundle"), "--validate"]) == 0
    assert f"{KP}-fp16" in capsys.readouterr().out


def _fake_measure(bundle_dir: Any, manifest: Any, names: list[str], *args: Any, **kwargs: Any
                  ) -> dict[str, dict[str, Any]]:
    return {n: {"latency_ms": 1.0 + len(n) / 10, "net_ms": 0.5, "memory_mb": 3.0, "runs": 30, "warmup": 5,
                "estimated": False} for n in names}


def _run_both(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keypoints: bool
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    from factory.stages import bundle, profile

    monkeypatch.setattr(profile, "measure_models", _fake_measure)  # deterministic "measurements"
    monkeypatch.setattr(profile, "measure_host_flops", lambda threads=1: 2.0e11)
    work = _workspace(inputs, tmp_path, monkeypatch, keypoints)
    assert profile.main([]) == 0 and bundle.main([]) == 0
    profiles = json.loads((work / "out/profile/profiles.json").read_text())
    manifest = json.loads((work / "out/bundle/manifest.json").read_text())
    shutil.rmtree(work / "out")
    return profiles, manifest


def test_detection_entries_unchanged_by_keypoint_models(inputs: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="paraloupe")
    plain_profiles, plain = _run_both(inputs, tmp_path / "plain", monkeypatch, keypoints=False)
    said = [r.getMessage() for r in caplog.records if "no keypoint models found" in r.getMessage()]
    assert len(said) == 2 and said[0].startswith("profile: ") and said[1].startswith("bundle: ")
    caplog.clear()
    kp_profiles, with_kp = _run_both(inputs, tmp_path / "kp", monkeypatch, keypoints=True)
    assert not [r for r in caplog.records if "no keypoint models found" in r.getMessage()]

    def detection_only(profiles: dict[str, Any]) -> dict[str, Any]:
        out = json.loads(json.dumps(profiles))
        for p in out.values():
            p["models"] = {n: r for n, r in p["models"].items() if not n.startswith("kp-")}
        return out

    assert not any(n.startswith("kp-") for p in plain_profiles["profiles"].values() for n in p["models"])
    assert json.dumps(detection_only(kp_profiles["profiles"])) == json.dumps(plain_profiles["profiles"])
    assert json.dumps(kp_profiles["devices"]) == json.dumps(plain_profiles["devices"])
    assert json.dumps(detection_only(with_kp["profiles"])) == json.dumps(plain["profiles"])
    detection = {n: e for n, e in with_kp["models"].items() if e.get("task", "detection") == "detection"}
    assert json.dumps(detection) == json.dumps(plain["models"])  # same entries, same order, same bytes
    assert [n for n in with_kp["models"] if n not in detection] == [f"{KP}-fp32", f"{KP}-fp16"]
    for key in ("classes", "devices", "schema_version"):
        assert with_kp[key] == plain[key]


def test_device_profiling_keeps_keypoint_rows(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """paraloupe-profile on a device times its keypoint models too (runtime.profiling), so measuring a device does
    not drop the rows the profile stage gave it."""
    from factory.stages import bundle, profile
    from runtime.cli.profile import profile_bundle

    monkeypatch.setattr(profile, "measure_models", _fake_measure)
    monkeypatch.setattr(profile, "measure_host_flops", lambda threads=1: 2.0e11)
    work = _workspace(inputs, tmp_path, monkeypatch, keypoints=True)
    assert profile.main([]) == 0 and bundle.main([]) == 0
    measured = profile_bundle(work / "out/bundle", "raspberry-pi-4b", threads=1, isolate=False, quiet=True)
    assert measured.estimated is False and f"{KP}-fp32" in measured.models
    row = measured.models[f"{KP}-fp32"]
    assert row.net_ms is not None and row.latency_ms >= row.net_ms > 0 and row.accuracy == 0.3
    assert load_manifest(work / "out/bundle").latency_or_estimate("raspberry-pi-4b", f"{KP}-fp32")[1] == "profile"
