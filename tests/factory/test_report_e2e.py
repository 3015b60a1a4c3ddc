"""The whole report on a tiny real ncnn bundle and a 12-frame world video: every figure has its PNG (the frame
strips included), the report and the DVC metrics/plots are written, and a second build replays nothing (the
cache)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest

from factory.report import cluster_hook
from factory.report.build import build_report
from factory.report.config import EvaluateParams, RoiParams, ScopeParams, VideoParams
from runtime import coco_ap
from runtime.errors import UserError


@pytest.fixture(scope="module")
def tiny(tiny_bundle: Path, tiny_video: Path) -> tuple[Path, Path]:
    """The shared tiny bundle and the folder of the tiny world video (video.mp4 + annotations.json)."""
    return tiny_bundle, tiny_video.parent


def _params(tmp_path: Path, bundle: Path, video: Path) -> EvaluateParams:
    devices = ["jetson-xavier-nx", "raspberry-pi-4b", "snapdragon-732g"]
    scope = ScopeParams(world_frames="0:8", real_frames="500:510", roi_frames="0:8", max_patches=None, roi_counts=None)
    return EvaluateParams(
        bundle=str(bundle), out_dir=str(tmp_path / "report"), report=str(tmp_path / "report.md"),
        metrics_dir=str(tmp_path / "evaluate"),
        videos=[VideoParams("tiny", str(video / "video.mp4"), str(video / "annotations.json"))],
        real=VideoParams("real", str(tmp_path / "absent.avi"), str(tmp_path / "absent.json"), optional=True),
        devices=devices, budgets_ms={"raspberry-pi-4b": 250.0}, baseline_sizes=[128, 160], mini_sizes=[64, 96],
        generators=["ep-1", "ep-4", "lastdet", "paraloupe"], generators_size=64, reference_size=96,
        max_patches=[1, 2], iou_thresholds=[0.3, 0.5, 0.7],
        rois=RoiParams(video="tiny", train_annotations=str(video / "annotations.json"), counts=[0, 2], sizes=[64],
                       side=64),
        quick=scope, full=scope, latency_runs=3)


@pytest.mark.slow
def test_tiny_report_end_to_end(tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(cluster_hook, "MODULES", ())  # no real cluster runs in a unit test
    params = _params(tmp_path, *tiny)
    metrics = build_report(params)
    text = (tmp_path / "report.md").read_text()
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    for key in ("fig13", "fig14", "fig15", "fig16", "fig17", "fig18", "fig19", "fig20", "fig21", "fig28"):
        assert f"report/{key}.png" in links, key
    assert all((tmp_path / link).is_file() for link in links)
    assert len(links) == len(metrics["figures"])
    assert text.count("**Reading.**") == len(links) == text.count("*Measured:*")
    assert "cluster figures: not produced" in text
    assert "Real video" in text and "absent.avi" in text  # left out, with the reason
    assert "emulated (estimated from host)" in text
    saved = json.loads((tmp_path / "evaluate" / "metrics.json").read_text())
    assert saved["headline_device"] == "raspberry-pi-4b"
    assert "speedup_per_patch" in saved["world/raspberry-pi-4b"]
    assert "f1_gain_per_frame" in saved["world/raspberry-pi-4b"]
    for metric in ("f1", "latency_p50_ms"):  # per video and method, flat (dvc metrics show)
        assert {"baseline-160", "mini-96", "paraloupe-96"} <= set(saved[metric]["tiny"]), metric
    assert "ap50" in saved or not coco_ap.available()
    for method in ("paraloupe", "baseline"):  # the frame strips, from the cached runs, linked
        assert f"report/strips/tiny-{method}.png" in links
    for name in ("tradeoff.csv", "generators.csv", "iou.csv"):
        assert (tmp_path / "evaluate" / name).read_text().count("\n") > 1
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    rpi = results["world"]["tradeoff"]["raspberry-pi-4b"]
    assert {p["approach"] for p in rpi["points"]} == {"Baseline", "ParaLoupe_mini", "ParaLoupe"}
    base = {p["size"]: p for p in rpi["points"] if p["approach"] == "Baseline"}
    assert base[160]["per_patch_ms"] == pytest.approx(240.0)  # the profile row at the exported side
    assert base[128]["per_patch_ms"] > 0  # scaled by this host's measured ratio (tiny: too noisy to order)
    with caplog.at_level(logging.INFO, logger="paraloupe"):
        build_report(params)
    assert any(", 0 to replay" in r.getMessage() for r in caplog.records)


def test_a_camera_mini_the_bundle_lacks_is_a_one_line_error(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    params = _params(tmp_path, *tiny)
    params.videos[0] = dataclasses.replace(params.videos[0], mini="rpi4b-999-int8")
    with pytest.raises(UserError, match="evaluate: tiny: mini 'rpi4b-999-int8' is not a mini model"):
        build_report(params)
    assert not (tmp_path / "report.md").exists()
