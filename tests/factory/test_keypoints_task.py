"""The keypoint task: crop set, models, heatmap round trip, OKS AP, and the stage end to end (tiny sizes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from factory.data.keypointset import KeypointSet, KeypointSetParams, build_keypoint_split
from factory.keypoints.data import HeatmapDataset, heatmap_targets
from factory.keypoints.evaluate import evaluate_ap, predict
from factory.keypoints.model import KeypointNet, baseline_spec, mini_spec
from factory.world.config import SceneConfig, VideoSpec
from factory.world.generate import write_world
from runtime.keypoints import decode_heatmaps


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    scene = dataclasses.replace(SceneConfig(), persons=14, max_depth_m=40.0)
    for i, name in enumerate(("train-a", "test-a")):
        write_world(root / name, VideoSpec(seed=40 + i, frames=12, width=480, height=270), scene)
    return root


def _crops(world_dir: Path, out: Path, name: str = "train-a") -> KeypointSet:
    params = KeypointSetParams(frame_step=1, min_person_height=16.0)
    counts = build_keypoint_split("train", [name], out, params, seed=0, world_dir=str(world_dir))
    assert counts["crops"] > 5
    return KeypointSet(out)


def test_crop_set_has_one_centred_person_per_crop_in_crop_pixels(world_dir: Path, tmp_path: Path) -> None:
    crops = _crops(world_dir, tmp_path)
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert len(data["annotations"]) == len(data["images"]) == len(crops)
    for i in range(len(crops)):
        image, points, box, entry = crops[i]
        h, w = image.shape[:2]
        assert 0.5 <= entry["r"] <= 1.0
        x, y, bw, bh = box
        assert min(x, y) >= 0 and x + bw <= w + 0.01 and y + bh <= h + 0.01
        vis = points[points[:, 2] > 0]
        assert ((vis[:, 0] >= 0) & (vis[:, 0] < w) & (vis[:, 1] >= 0) & (vis[:, 1] < h)).all()
        assert (points[points[:, 2] == 0, :2] == 0).all()


@pytest.mark.parametrize("spec", [mini_spec("standin", (64, 32), head_width=8, backbone_kwargs={"width": 8}),
                                  baseline_spec("hrnet_w18_small", (64, 32))])
def test_models_give_13_maps_at_stride_4(spec: dict) -> None:
    model = KeypointNet(spec).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 32))
    assert out.shape == (2, 13, 16, 8)


def test_perfect_heatmaps_decode_to_ap_one(world_dir: Path, tmp_path: Path) -> None:
    """Targets built from the ground truth, decoded and mapped back to the crop, score OKS AP ≈ 1."""
    crops = _crops(world_dir, tmp_path)
    spec = mini_spec("standin", (128, 64), backbone_kwargs={"width": 8})
    data = HeatmapDataset(crops, spec, train=False)

    class Oracle(KeypointNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            maps = []
            for _ in range(x.shape[0]):
                _, pts, _ = data.sample(self.next)
                self.next += 1
                maps.append(torch.from_numpy(heatmap_targets(pts, 32, 16, 4, 1.0)[0]))
            return torch.stack(maps)

    oracle = Oracle(spec)
    oracle.next = 0
    result = evaluate_ap(oracle, crops)
    assert result["ap"] > 0.9 and result["images"] == len(crops)
    maps = heatmap_targets(np.array([[10.0, 30.0, 2.0]]), 32, 16, 4, 1.5)[0]
    assert np.abs(decode_heatmaps(maps, 4)[0, :2] - [10.0, 30.0]).max() <= 1.5
    oracle.next = 0
    assert len(predict(oracle, crops, limit=3)) == 3


def test_keypoints_stage_end_to_end(world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from factory.stages import keypoints as stage

    monkeypatch.setattr(stage, "world_videos", lambda split: ["test-a"] if split != "train" else ["train-a"])
    params = {"keypoints": {
        "out_dir": str(tmp_path / "kp"), "world_dir": str(world_dir), "pretrain_dir": "",
        "search_dir": str(tmp_path / "search"),
        "crops": {"frame_step": 2, "min_person_height": 16.0},
        "mini": {"backbones": ["standin"], "sizes": [[64, 32]], "head_width": 8},
        "baseline": {"sizes": [[64, 32]]},
        "train": {"epochs": 1, "batch_size": 4, "max_train_crops": 8, "val_crops": 4, "warmup_steps": 1},
        "latency_runs": 2, "export": ["fp32", "fp16", "int8"]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "metrics.json").write_text(json.dumps({"raspberry-pi-4b": {"flops": 1.35e10}}))
    monkeypatch.setenv("PARALOUPE_PARAMS", str(tmp_path / "params.yaml"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert stage.main([]) == 0
    report = json.loads((tmp_path / "kp" / "metrics.json").read_text())
    assert [r["model"] for r in report["rows"]] == ["kp-standin-64x32", "kp-hrnet-64x32"]
    assert all(0.0 <= r["test_ap"] <= 1.0 and r["host_ms"] > 0 for r in report["rows"])
    assert report["crops"]["train"]["crops"] > 0
    assert all(r["ncnn"]["fp32"]["max_keypoint_px"] <= 1.0 for r in report["rows"])  # same points as torch
    assert all(r["est_ms"]["raspberry-pi-4b"] > 0 for r in report["rows"])
    assert report["summary"]["best_mini"] == "kp-standin-64x32" and report["summary"]["latency_of"] == "raspberry-pi-4b"
    assert len(report["figures"]["fig29"]) == 1 and (tmp_path / "kp" / "tradeoff.png").is_file()
    from runtime.bundle import load_manifest

    manifest = load_manifest(tmp_path / "kp" / "ncnn")
    assert sorted(manifest.models_of_task("keypoints")) == sorted(
        f"{m}-{p}" for m in ("kp-standin-64x32", "kp-hrnet-64x32") for p in ("fp32", "fp16", "int8"))
    assert all(r["ncnn"]["int8"]["layers_int8"] > 0 for r in report["rows"])
    assert manifest.models_of_kind("mini") == []  # nothing for the detection pipeline
    from factory.keypoints.bundle_entries import read_keypoint_exports

    picked = read_keypoint_exports(tmp_path / "kp", max_parity_px=1e9)  # what the profile stage reads of it
    assert picked is not None and set(picked.models) == set(manifest.models) and not picked.left_out
    assert all(picked.accuracy[f"{r['model']}-fp32"] == r["test_ap"] for r in report["rows"])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_ncnn_export_matches_torch(world_dir: Path, tmp_path: Path, precision: str) -> None:
    pytest.importorskip("pnnx")
    pytest.importorskip("ncnn")
    from factory.keypoints.export import export_keypoint_ncnn, parity

    crops = _crops(world_dir, tmp_path / "crops")
    model = KeypointNet(mini_spec("standin", (64, 32), head_width=8, backbone_kwargs={"width": 8})).eval()
    files = export_keypoint_ncnn(model, tmp_path / "ncnn", "m", precision == "fp16")
    check = parity(model, files, precision, crops, count=3, runs=2)
    assert check["max_abs_heatmap"] < (1e-4 if precision == "fp32" else 0.05)
    assert check["max_keypoint_px"] <= 4.0 and check["ncnn_ms"] > 0


def test_bundle_keypoint_model_runs_in_the_runtime_like_torch(world_dir: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Exported with its manifest entry, the runtime's KeypointModel (ncnn, no torch) gives torch's points,
    and ``--validate`` loads and runs it."""
    pytest.importorskip("pnnx")
    pytest.importorskip("ncnn")
    import cv2

    from factory.keypoints.export import export_keypoint_ncnn, manifest_entry
    from runtime.bundle import load_manifest, write_manifest
    from runtime.cli.bundle_tools import validate_bundle
    from runtime.keypoint_infer import KeypointModel

    crops = _crops(world_dir, tmp_path / "crops")
    torch.manual_seed(0)
    model = KeypointNet(mini_spec("standin", (64, 32), head_width=8, backbone_kwargs={"width": 8})).eval()
    bundle = tmp_path / "bundle"
    files = export_keypoint_ncnn(model, bundle, "kp-64x32-fp32", fp16=False)
    entry = manifest_entry(model, "standin", "fp32", files, bundle, macs=0)
    write_manifest(bundle, {"classes": ["person", "vehicle"], "models": {"kp-64x32-fp32": entry}})
    manifest = load_manifest(bundle)
    runner = KeypointModel(bundle, "kp-64x32-fp32", manifest)
    ref = predict(model, crops, limit=2)
    for i in range(2):
        image, _, _, meta = crops[i]
        pose = runner(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        assert np.abs(pose.points[:, :2] - ref[meta["id"]][0][0][:, :2]).max() < 0.6  # letterbox rounding only
    assert validate_bundle(str(bundle)) == 0
    assert "kp-64x32-fp32: ncnn OK, keypoints, input 64x32" in capsys.readouterr().out
    from runtime.cli.eval import main as eval_main
    from runtime.cli.keypoints import main as keypoints_main

    video = world_dir / "test-a"
    pred = tmp_path / "pred.jsonl"
    assert keypoints_main(["--bundle", str(bundle), "--video", str(video / "video.mp4"), "--boxes",
                           str(video / "keypoints.json"), "--out", str(pred), "--min-height", "16"]) == 0
    lines = [json.loads(x) for x in pred.read_text().splitlines()]
    assert len(lines) == 12 and sum(len(x["persons"]) for x in lines) > 5
    assert all(len(p["keypoints"]) == 17 and p["keypoints"][1] == [0, 0, 0] for x in lines for p in x["persons"])
    capsys.readouterr()
    assert eval_main(["--task", "keypoints", "--pred", str(pred), "--gt", str(video / "keypoints.json")]) == 0
    result = json.loads(capsys.readouterr().out)["keypoints"]
    assert 0.0 <= result["ap"] <= 1.0 and result["images"] == 12


def test_paper_figures_pick_by_latency_and_by_accuracy() -> None:
    from factory.keypoints.figures import paper_figures

    def row(name: str, kind: str, ms: float, ap: float) -> dict:
        return {"model": name, "kind": kind, "test_ap": ap, "host_ms": ms, "est_ms": {"pi": ms * 10}}

    rows = [row("m1", "mini", 1.0, 0.30), row("m2", "mini", 3.0, 0.50), row("b1", "baseline", 2.5, 0.40),
            row("b2", "baseline", 10.0, 0.60)]
    fig = paper_figures(rows, "pi", slack_ms=0.0)
    assert [r["mini"] for r in fig["fig29"]] == ["m1", "m2"] and fig["fig29"][0]["gain_pct"] == -25.0
    assert fig["fig30"][0]["mini"] == "m2" and fig["fig30"][0]["reduction_pct"] == -20.0
    assert fig["fig30"][1]["mini"] is None and fig["latency_of"] == "pi (estimated)"
