"""``paraloupe-schedule`` and ``paraloupe-bench scheduler`` run in-process: output shape, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.bench import scheduler as bench
from runtime.cli import schedule

INSTANCE = {
    "slo_ms": 60.0, "gamma": 0.2,
    "patches": [{"bytes": 30000, "confidence": 1.0}, {"bytes": 60000, "confidence": 0.5},
                {"bytes": 9000, "confidence": 1.0}],
    "devices": [
        {"name": "jetson", "bandwidth_Bps": 2e7, "cost": 0.1,
         "models": [{"name": "a", "latency_ms": 8, "accuracy": 0.6}, {"name": "b", "latency_ms": 20, "accuracy": 0.7}]},
        {"name": "rpi", "bandwidth_Bps": 1e7, "cost": 0.0,
         "models": [{"name": "a", "latency_ms": 40, "accuracy": 0.55, "cost": 0.3}]},
    ],
}


def _write(tmp_path: Path, data: object, name: str = "i.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("solver", ["markov", "greedy", "uniform", "proportional", "milp"])
def test_output_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str], solver: str) -> None:
    if solver == "milp":
        pytest.importorskip("scipy")
    assert schedule.main(["--instance", _write(tmp_path, INSTANCE), "--solver", solver, "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"assignment", "utility", "feasible", "max_latency_ms", "ms"}
    assert [row[0] for row in out["assignment"]] == [0, 1, 2]
    for _, device, model in out["assignment"]:
        assert 0 <= model < len(INSTANCE["devices"][device]["models"])
    assert isinstance(out["feasible"], bool) and out["ms"] >= 0
    if solver in ("markov", "greedy", "milp"):
        assert out["feasible"] and out["max_latency_ms"] <= 60.0
        assert out["utility"] == pytest.approx(0.55)  # the MILP optimum of this instance


@pytest.mark.parametrize("edit, message", [
    ({"devices": []}, "instance.devices: must list at least one device"),
    ({"slo_ms": -1}, "instance.slo_ms: -1.0 must be > 0"),
])
def test_bad_instance(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict, message: str) -> None:
    path = _write(tmp_path, {**INSTANCE, **edit})
    assert schedule.main(["--instance", path]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: {message}\n"


def test_unreadable_and_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule.main(["--instance", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"slo_ms": NaN, "gamma": ')
    assert schedule.main(["--instance", str(bad)]) == 2
    assert "bad.json: invalid JSON" in capsys.readouterr().err
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps({**INSTANCE, "gamma": float("nan")}))
    assert schedule.main(["--instance", str(nan)]) == 2
    assert "instance.gamma: NaN is not allowed" in capsys.readouterr().err


def test_bench_small_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("scipy")
    out = tmp_path / "bench.json"
    assert bench.main(["--instances", "8", "--large", "1", "--seed", "1", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report == json.loads(out.read_text())
    policies = report["small"]["policies"]
    assert set(policies) == {"markov", "markov-paper", "greedy", "proportional", "uniform", "milp"}
    assert policies["milp"]["ratio_mean"] == pytest.approx(1.0)
    assert policies["markov"]["feasible_rate"] == 1.0 and policies["markov"]["ratio_mean"] <= 1.0 + 1e-9
    assert report["large"]["K"] == 50 and "markov" in captured.err


def test_without_scipy(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy → ImportError
    path = _write(tmp_path, INSTANCE)
    assert schedule.main(["--instance", path, "--solver", "milp"]) == 2
    assert capsys.readouterr().err == "error: solver milp needs scipy (pip install 'paraloupe[exact]')\n"
    assert schedule.main(["--instance", path, "--solver", "markov"]) == 0
    assert json.loads(capsys.readouterr().out)["feasible"] is True
