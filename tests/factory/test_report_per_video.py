"""Per-video, per-method metrics: the flat ``metrics.json`` shape (``dvc metrics show``), the MLflow keys the
evaluate stage logs, and which runs the strips show — on a small constructed results object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory.report.build import dvc_metrics
from factory.report.config import EvaluateParams
from factory.report.per_video import flat_metrics, method_metrics, mlflow_key, strip_methods
from factory.tracking import Tracker
from runtime.atomic import write_json


def _row(approach: str, size: int, f1: float, ms: float, ap50: float | None = 0.4) -> dict[str, Any]:
    return {"approach": approach, "size": size, "f1": f1, "latency_p50_ms": ms,
            **({} if ap50 is None else {"ap50": ap50})}


def _results() -> dict[str, Any]:
    rows = {"baseline-320": _row("Baseline", 320, 0.40, 120.0), "baseline-480": _row("Baseline", 480, 0.47, 240.0),
            "baseline-640": _row("Baseline", 640, 0.52, 420.0), "mini-240": _row("ParaLoupe_mini", 240, 0.2, 30.0),
            "paraloupe-240": _row("ParaLoupe", 240, 0.48, 95.5)}
    real = {"baseline-480": _row("Baseline", 480, 0.85, 240.0, None)}  # AP not computed for this one
    point = {"approach": "Baseline", "f1": 0.52}
    tradeoff = {"raspberry-pi-4b": {"points": [point, {**point, "approach": "ParaLoupe", "f1": 0.48}],
                                    "comparisons": {"per_patch": {"speedup": {"speedup": 2.5}, "gain": {"gain": -0.1}},
                                                    "per_frame": {"speedup": {"speedup": None}}}}}
    return {"world": {"tradeoff": tradeoff}, "real": None,
            "per_video": {"test-static": {"device": "raspberry-pi-4b", "frames": "0:60", "methods": rows},
                          "vtest": {"device": "raspberry-pi-4b", "frames": "500:650", "methods": real}}}


def test_metrics_file_lists_each_method_per_video_beside_the_headline_rows(tmp_path: Path) -> None:
    metrics = dvc_metrics(_results(), EvaluateParams())
    write_json(tmp_path / "metrics.json", metrics)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["headline_device"] == "raspberry-pi-4b"  # the existing keys stay
    assert saved["world/raspberry-pi-4b"]["speedup_per_patch"] == 2.5
    assert saved["world/raspberry-pi-4b"]["best_f1_ParaLoupe"] == 0.48
    assert saved["f1"]["test-static"] == {"baseline-320": 0.40, "baseline-480": 0.47, "baseline-640": 0.52,
                                          "mini-240": 0.2, "paraloupe-240": 0.48}
    assert saved["f1"]["vtest"] == {"baseline-480": 0.85}
    assert saved["ap50"] == {"test-static": {m: 0.4 for m in saved["f1"]["test-static"]}}  # vtest has none
    assert saved["latency_p50_ms"]["test-static"]["paraloupe-240"] == 95.5
    for metric in ("f1", "ap50", "latency_p50_ms"):  # flat: metric -> video -> method -> number
        assert all(isinstance(x, float) for row in saved[metric].values() for x in row.values())


def test_ap50_is_left_out_when_no_method_has_it() -> None:
    videos = {"v": {"methods": {"baseline-480": _row("Baseline", 480, 0.5, 10.0, None)}}}
    assert set(method_metrics(videos)) == {"f1", "latency_p50_ms"}
    assert method_metrics({}) == {}


def test_flat_metrics_are_the_mlflow_keys() -> None:
    metrics = {**dvc_metrics(_results(), EvaluateParams()), "seconds": 12.5, "full": False, "figures": ["a.png"],
               "frames": {"test-static": "0:60"}}
    flat = flat_metrics(metrics)
    assert flat["f1.test-static.paraloupe-240"] == 0.48
    assert flat["ap50.test-static.baseline-480"] == 0.4
    assert flat["latency_p50_ms.vtest.baseline-480"] == 240.0
    assert flat["world/raspberry-pi-4b/speedup_per_patch"] == 2.5
    assert flat["seconds"] == 12.5
    assert "world/raspberry-pi-4b/speedup_per_frame" not in flat  # None is no number
    assert not any(k.startswith(("frames", "figures", "full")) for k in flat)
    assert mlflow_key("f1.cam #1 (east).paraloupe-240") == "f1.cam _1 _east_.paraloupe-240"

    logged: dict[str, float] = {}

    class FakeMlflow:
        def log_metrics(self, values: dict[str, float], step: int | None = None) -> None:
            logged.update(values)

    Tracker(FakeMlflow()).metrics(flat)
    assert logged == flat


def test_strips_show_paraloupe_at_the_reference_side_and_the_baseline_at_equal_budget() -> None:
    rows = _results()["per_video"]["test-static"]["methods"]
    assert strip_methods(rows, 240, 250.0) == {"paraloupe": "paraloupe-240", "baseline": "baseline-480"}
    assert strip_methods(rows, 320, 100.0) == {"paraloupe": "paraloupe-240", "baseline": "baseline-320"}
    assert strip_methods(rows, 240, None)["baseline"] == "baseline-640"
    assert strip_methods({}, 240, 250.0) == {}
