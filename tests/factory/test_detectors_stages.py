"""The pretrain and finetune stages end to end on a tiny synthetic video with tiny budgets, and their
one-line errors (sizes off the stride, a pretrained backbone of another architecture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from factory import pipeline
from factory.data.builder import build_split
from factory.data.imagenet import ImagenetParams
from factory.data.patchset import PatchParams
from factory.models.detector import load_detector
from runtime.coco import VideoAnnotations, frames_from_boxes, write_coco

torch.set_num_threads(1)
W, H, N = 256, 160, 16


def make_video(root: Path) -> dict[str, str]:
    """A 256×160, 16-frame video of coloured boxes on noise (persons tall, vehicles wide) + COCO."""
    import cv2

    rng = np.random.default_rng(3)
    objects = [("person", 20, 30, 16, 40, 3), ("vehicle", 60, 100, 60, 30, 4), ("vehicle", 170, 20, 48, 26, -3),
               ("person", 200, 90, 14, 36, -2)]
    writer = cv2.VideoWriter(str(root / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    per_frame = []
    for f in range(N):
        frame = rng.integers(60, 90, size=(H, W, 3), dtype=np.uint8)
        dets = []
        for label, x, y, w, h, vx in objects:
            x = x + vx * f
            frame[y:y + h, max(x, 0):x + w] = (230, 60, 60) if label == "person" else (40, 200, 240)
            dets.append(([float(max(x, 0)), float(y), float(w + min(x, 0)), float(h)], label, 1.0))
        writer.write(frame)
        per_frame.append((f, dets))
    writer.release()
    write_coco(root / "annotations.json", VideoAnnotations(["person", "vehicle"], frames_from_boxes(per_frame), W, H))
    return {"video": str(root / "video.mp4"), "annotations": str(root / "annotations.json")}


def build_workspace(root: Path) -> tuple[Path, dict[str, str]]:
    """The tiny video under ``root`` and its patch and ImageNet-style sets (train and val from the same video)."""
    from factory.data.builder import Source

    src = make_video(root)
    for split in ("train", "val"):
        build_split(split, [Source(**src)], root / "patches" / split, root / "imagenet" / split,
                    PatchParams(frame_step=1, min_object_side=8, seeded_per_video=40),
                    ImagenetParams(frame_step=2, background_per_video=8, min_object_side=10), seed=1)
    return root, src


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return build_workspace(tmp_path_factory.mktemp("stages"))


def write_params(root: Path, src: dict[str, str], **finetune: object) -> Path:
    params = {
        "pretrain": {"out_dir": str(root / "pretrain"), "backbones": ["standin"], "image_size": 32, "epochs": 1,
                     "batch_size": 16, "train_dir": str(root / "imagenet" / "train"),
                     "val_dir": str(root / "imagenet" / "val"), "accelerator": "cpu"},
        "finetune": {"out_dir": str(root / "detectors"), "pretrain_dir": str(root / "pretrain"),
                     "backbones": ["standin"], "sizes": [64, 48], "accelerator": "cpu",
                     "mini": {"train": [str(root / "patches" / "train")], "val": [str(root / "patches" / "val")],
                              "epochs": 1, "resize_epochs": 1, "samples_per_epoch": 16, "batch_size": 8,
                              "neck_width": 16, "head_width": 16, "head_depth": 1, "top_k": 10, "max_detections": 5},
                     "baseline": {"train": [src], "val": [src], "epochs": 1, "samples_per_epoch": 8, "batch_size": 4,
                                  "crop": 96, "train_widths": [200, 300], "width": 8, "fpn_width": 16,
                                  "head_depth": 1, "val_width": 128, "val_frame_step": 8},
                     "eval": {"test": [src], "frame_step": 8, "mini_frame_step": 8, "widths": [64, 128],
                              "latency_runs": 1},
                     **finetune},
    }
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(autouse=True)
def _sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "SECTIONS", tuple(dict.fromkeys((*pipeline.SECTIONS, "pretrain", "finetune"))))


def test_pretrain_then_finetune_write_checkpoints_and_the_table(workspace, monkeypatch, capsys) -> None:
    from factory.stages import finetune, pretrain

    root, src = workspace
    monkeypatch.setenv("PARALOUPE_PARAMS", str(write_params(root, src)))
    assert pretrain.main([]) == 0
    assert (root / "pretrain" / "standin" / "backbone.pt").is_file()
    assert finetune.main([]) == 0
    report = json.loads((root / "detectors" / "metrics.json").read_text())
    kinds = [(r["model"], r["kind"], r["input_size"]) for r in report["rows"]]
    assert ("standin-48", "mini", 48) in kinds and ("standin-64", "mini", 64) in kinds
    assert ("baseline", "baseline", 128) in kinds and ("standin-48", "ParaLoupe_mini", 64) in kinds
    for r in report["rows"]:
        assert r["macs"] > 0 and r["params"] > 0 and r["latency_ms_torch_cpu_1t"] > 0 and 0 <= r["f1"] <= 1
    model = load_detector(root / "detectors" / "standin-48" / "model.pt")
    assert model.spec["input_size"] == 48 and model.spec["decode"]["top_k"] == 10
    assert "baseline_best_full_frame_f1" in report["summary"]


def test_resume_keeps_the_checkpoints_written_and_trains_the_rest(workspace, monkeypatch) -> None:
    from factory.stages import finetune, pretrain

    root, src = workspace
    monkeypatch.setenv("PARALOUPE_PARAMS", str(write_params(root, src, out_dir=str(root / "resume"))))
    if not (root / "pretrain" / "standin" / "backbone.pt").is_file():
        assert pretrain.main([]) == 0
    assert finetune.main([]) == 0
    out = root / "resume"
    kept = {n: (out / n / "model.pt").stat().st_mtime_ns for n in ("standin-48", "baseline")}
    (out / "standin-64" / "model.pt").unlink()
    assert finetune.main(["--resume"]) == 0
    assert {n: (out / n / "model.pt").stat().st_mtime_ns for n in kept} == kept  # not written again
    assert load_detector(out / "standin-64" / "model.pt").spec["input_size"] == 64


def test_size_off_the_stride_is_a_one_line_error(workspace, monkeypatch, capsys) -> None:
    from factory.stages import finetune

    root, src = workspace
    monkeypatch.setenv("PARALOUPE_PARAMS", str(write_params(root, src, sizes=[64, 250])))
    assert finetune.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "finetune.sizes[1]: 250 is not a positive multiple of 16" in err


def test_pretrained_backbone_of_another_architecture_is_refused(workspace, monkeypatch, capsys) -> None:
    from factory.models.backbones import create_backbone
    from factory.models.detector import save_backbone
    from factory.stages import finetune

    root, src = workspace
    save_backbone(root / "other" / "standin" / "backbone.pt", create_backbone("standin", width=8))
    monkeypatch.setenv("PARALOUPE_PARAMS", str(write_params(root, src, pretrain_dir=str(root / "other"),
                                                            out_dir=str(root / "other-out"))))
    assert finetune.main(["--only", "mini"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "another architecture" in err
