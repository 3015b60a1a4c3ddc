"""The export → profile → bundle stages end to end on tiny checkpoints and a tiny patch set (the baseline exported
at several sides); the bundle is then valid for the runtime (``paraloupe-run --validate``)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import factory.pipeline as pipeline
from factory.models.detector import baseline_spec, build_detector, mini_spec, save_detector
from runtime.bundle import load_manifest
from runtime.patches.objectness import ObjectnessModel

CLASSES = ["person", "vehicle"]
DEVICES = {"jetson-xavier-nx": 8.45e11, "raspberry-pi-4b": 1.35e10, "snapdragon-732g": 1.6e11, "host": 1.3e11}
BASE_SIDES = [64, 160, 256]  # the baseline's sides (given unsorted in params): 6x and 16x the pixels of the first
PRECISIONS = ("fp32", "fp16", "int8")


def _patch_set(folder: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(count):
        h, w = (int(v) for v in rng.integers(40, 90, 2))
        img = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
        bw, bh = w * 3 // 4, h * 3 // 4
        img[4:4 + bh, 3:3 + bw] = 200
        cv2.imwrite(str(folder / "images" / f"{i}.jpg"), img)
        images.append({"id": i, "file_name": f"images/{i}.jpg", "width": w, "height": h})
        anns.append({"id": i + 1, "image_id": i, "category_id": 1 + i % 2, "bbox": [3, 4, bw, bh], "area": bw * bh,
                     "iscrowd": 0})
    cats = [{"id": k + 1, "name": c} for k, c in enumerate(CLASSES)]
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def _video(folder: Path, frames: int = 4) -> None:
    """A tiny whole-frame video (a bright box moving right) with its COCO ground truth (image id = frame)."""
    folder.mkdir(parents=True)
    writer = cv2.VideoWriter(str(folder / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    images, anns = [], []
    for i in range(frames):
        img = np.full((64, 96, 3), 40, dtype=np.uint8)
        img[20:44, 10 + 8 * i:40 + 8 * i] = 220
        writer.write(img)
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 96, "height": 64})
        anns.append({"id": i + 1, "image_id": i, "category_id": 2, "bbox": [10 + 8 * i, 20, 30, 24], "area": 720,
                     "iscrowd": 0})
    writer.release()
    cats = [{"id": k + 1, "name": c} for k, c in enumerate(CLASSES)]
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    torch.manual_seed(0)
    det = tmp_path / "models" / "detectors"
    save_detector(det / "tiny-64" / "model.pt",
                  build_detector(mini_spec("standin", CLASSES, 64, 16, 16, 1, {"width": 8})), name="tiny-64")
    save_detector(det / "baseline" / "model.pt",
                  build_detector(baseline_spec(CLASSES, 8, [0, 1, 1, 1], 16, 1)), name="baseline")
    _patch_set(tmp_path / "patches" / "train", 8, 0)
    _patch_set(tmp_path / "patches" / "val", 6, 1)
    _video(tmp_path / "val-video")
    (tmp_path / "search.json").write_text(json.dumps({d: {"flops": f} for d, f in DEVICES.items()}))
    (tmp_path / "objectness.json").write_text(json.dumps(ObjectnessModel.prior().to_dict()))
    params = {
        "export": {"detectors_dir": "models/detectors", "out_dir": "out/export",
                   "baseline_sizes": [BASE_SIDES[2], BASE_SIDES[0], BASE_SIDES[1]],
                   "eval": "patches/val", "parity_images": 2, "baseline_frame_step": 2,
                   "loop_eval": [{"video": "val-video/video.mp4", "annotations": "val-video/annotations.json"}],
                   "loop_objectness": "objectness.json",
                   "baseline_eval": [{"video": "val-video/video.mp4", "annotations": "val-video/annotations.json"}],
                   "baseline_calibration": [{"video": "val-video/video.mp4",
                                             "annotations": "val-video/annotations.json"}],
                   "baseline_calibration_step": 1,
                   "int8": {"calibration": "patches/train", "images": 8, "min_weights": 0}},
        "profile": {"export_dir": "out/export", "search_metrics": "search.json", "out_dir": "out/profile"},
        "bundle": {"export_dir": "out/export", "profile_dir": "out/profile", "objectness": "objectness.json",
                   "out_dir": "out/bundle"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARALOUPE_PARAMS", raising=False)
    monkeypatch.setattr(pipeline, "SECTIONS", tuple(dict.fromkeys(pipeline.SECTIONS + ("export", "profile", "bundle"))))
    return tmp_path


def test_export_profile_bundle(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from factory.stages import bundle, export, profile
    from runtime.cli import run

    assert export.main([]) == 0
    metrics = json.loads((workspace / "out/export/metrics.json").read_text())
    rows = {r["model"]: r for r in metrics["rows"]}
    bases = {s: [f"baseline-{s}-{p}" for p in PRECISIONS] for s in BASE_SIDES}
    assert set(rows) == {f"tiny-64-{p}" for p in PRECISIONS} | {n for names in bases.values() for n in names}
    for s, names in bases.items():
        assert all(rows[n]["input_size"] == s and rows[n]["kind"] == "baseline" for n in names)
    assert [rows[f"baseline-{s}-fp32"]["macs"] for s in BASE_SIDES] == sorted(
        {rows[f"baseline-{s}-fp32"]["macs"] for s in BASE_SIDES})  # strictly growing with the side
    for r in rows.values():
        if r["precision"] == "fp32":
            assert r["torch_max_abs_diff"] < 1e-3
        assert 0.0 <= r["f1"] <= 1.0 and r["bin_bytes"] > 0
        minis = "closed loop on held-out videos (fp32 variant)"  # alpha = the loop's F1, patch-set F1 kept
        assert r["evaluation"] == ("held-out whole frames" if r["kind"] == "baseline" else minis)
        assert ("patch_f1" in r) == (r["kind"] == "mini")
    assert rows["tiny-64-int8"]["bin_bytes"] < rows["tiny-64-fp32"]["bin_bytes"] / 2

    assert profile.main([]) == 0
    profiles = json.loads((workspace / "out/profile/profiles.json").read_text())
    assert set(profiles["profiles"]) == set(DEVICES)
    host = profiles["profiles"]["host"]
    assert host["estimated"] is False and set(host["models"]) == set(rows)
    pi = profiles["profiles"]["raspberry-pi-4b"]
    pi_bases = [f"baseline-{s}-int8" for s in BASE_SIDES]
    assert pi["estimated"] is True and set(pi["models"]) == {"tiny-64-int8", *pi_bases}
    host_flops = profiles["devices"]["host"]["flops"]  # measured by the profile stage beside its latencies
    assert host_flops > 0 and host_flops != DEVICES["host"]
    ratio = host_flops / DEVICES["raspberry-pi-4b"]
    for name, row in pi["models"].items():
        assert row["estimated"] is True
        assert row["latency_ms"] == pytest.approx(host["models"][name]["latency_ms"] * ratio, rel=1e-3)
        assert row["accuracy"] == host["models"][name]["accuracy"]
    assert profiles["devices"]["raspberry-pi-4b"]["serves"] == ["tiny-64-int8", *pi_bases]
    for dev, p in profiles["profiles"].items():  # measured on host, FLOPS-scaled elsewhere: slower with the side
        for prec in PRECISIONS:
            t = [p["models"][n]["latency_ms"] for n in (f"baseline-{s}-{prec}" for s in BASE_SIDES) if n in p["models"]]
            assert t == sorted(set(t)) and (len(t) == len(BASE_SIDES) or dev != "host"), (dev, prec, t)
    assert json.loads((workspace / "out/profile/metrics.json").read_text())["warnings"] == []

    assert bundle.main([]) == 0
    manifest = load_manifest(workspace / "out/bundle")
    assert manifest.classes == CLASSES and manifest.objectness is not None and manifest.objectness.version == 1
    assert manifest.factory is not None and len(manifest.factory.params_sha256) == 64
    assert manifest.models_of_kind("baseline") == [n for s in BASE_SIDES for n in bases[s]]
    assert [manifest.models[n].input_size for n in manifest.models_of_kind("baseline")[::3]] == BASE_SIDES
    assert manifest.models_served_by("raspberry-pi-4b") == ["tiny-64-int8", *pi_bases]
    entry = manifest.models["tiny-64-int8"]
    assert entry.colour == "rgb" and entry.decode.strides == [16] and entry.macs > 0
    capsys.readouterr()
    assert run.main(["--bundle", str(workspace / "out/bundle"), "--validate"]) == 0
    table = capsys.readouterr().out
    assert "tiny-64-int8" in table and " meas" in table and " est" in table


def test_baseline_sizes_are_checked() -> None:
    from factory.stages.export import ExportParams, identities
    from runtime.errors import UserError

    for bad, msg in (([], "at least one side"), ([320, 100], "100 is not a positive multiple of 32"),
                     ([320, 320], "duplicate sides")):
        with pytest.raises(UserError, match=msg):
            ExportParams(baseline_sizes=bad).validate("export")
    assert identities("baseline", {"kind": "baseline"}, [640, 320]) == [("baseline", 320), ("baseline", 640)]
    assert identities("rpi4b-240", {"kind": "mini", "input_size": 240}, [640]) == [("rpi4b", 240)]
