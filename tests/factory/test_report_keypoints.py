"""The report's keypoint section reads the keypoints stage's metrics; a missing file says so."""

import json
from pathlib import Path

import pytest

from factory.report import Figure, Table
from factory.report.keypoints import keypoint_section
from runtime.errors import UserError


def _row(name: str, kind: str, ap: float, ms: float) -> dict:
    return {"model": name, "kind": kind, "input": [128, 64], "test_ap": ap, "test_ap50": ap + 0.2,
            "params_m": 0.1, "macs_m": 9.0, "train_seconds": 5.0, "est_ms": {"raspberry-pi-4b": ms},
            "ncnn": {"fp32": {"ncnn_ms": ms / 10}}}


def test_section_from_the_stage_metrics(tmp_path: Path) -> None:
    metrics = {"rows": [_row("kp-mini", "mini", 0.25, 4.0), _row("kp-hrnet", "baseline", 0.15, 33.0)],
               "figures": {"latency_of": "raspberry-pi-4b (estimated)",
                           "fig29": [{"baseline": "kp-hrnet", "latency_ms": 33.0, "baseline_ap": 0.15,
                                      "mini": "kp-mini", "mini_ap": 0.25, "gain_pct": 66.7}],
                           "fig30": [{"baseline": "kp-hrnet", "baseline_ap": 0.15, "baseline_ms": 33.0,
                                      "mini": "kp-mini", "mini_ms": 4.0, "reduction_pct": 87.9}],
                           "paper": {"fig29_gain_pct": [90.2, 47.7, 20.2], "fig30_reduction_pct": [27.9]}},
               "summary": {"best_mini": "kp-mini", "best_baseline": "kp-hrnet", "ap_share": 1.67,
                           "latency_ratio": 8.25}}
    (tmp_path / "kp").mkdir()
    (tmp_path / "kp" / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "kp" / "tradeoff.png").write_bytes(b"png")
    section = keypoint_section(tmp_path / "kp" / "metrics.json", tmp_path)
    tables = [i for i in section.items if isinstance(i, Table)]
    assert [t.key for t in tables] == ["kp-models", "kp-fig29", "kp-fig30"]
    assert tables[0].rows[0][3] == "0.250" and tables[0].rows[1][5] == "33.0"
    assert tables[1].rows[0][4] == "+66.7 %" and tables[1].rows[0][5] == "+90.2 %"
    assert tables[2].rows[0][4] == "−87.9 %" and tables[2].rows[0][5] == "−27.9 %"
    assert any(isinstance(i, Figure) for i in section.items) and (tmp_path / "keypoints-tradeoff.png").is_file()


def test_missing_metrics_says_not_produced(tmp_path: Path) -> None:
    section = keypoint_section(tmp_path / "none.json", tmp_path)
    assert section.items and "Not produced" in section.items[0]


def test_a_wrong_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({"rows": []}))
    with pytest.raises(UserError, match="metrics.json"):
        keypoint_section(bad, tmp_path)
