"""The evaluation report's pure parts: speedup / gain computations, the markdown writer, params, RoIs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from factory.pipeline import load_section
from factory.report import Figure, Table
from factory.report.config import EvaluateParams
from factory.report.metrics import (
    Point,
    best_within,
    gain_at_budget,
    pareto,
    percentiles,
    shortfall,
    speedup_at_comparable,
)
from factory.report.rois import pick_rois
from factory.report.writer import Section, figures_of, render, write_report
from runtime.errors import UserError

# A synthetic baseline curve (side: F1, ms) and a faster, less accurate ParaLoupe curve.
BASE = [Point("320", 0.60, 80.0), Point("480", 0.75, 200.0), Point("640", 0.85, 300.0), Point("960", 0.90, 500.0)]
OURS = [Point("160", 0.55, 15.0), Point("240", 0.81, 37.0), Point("320", 0.84, 62.0)]


def test_gain_at_budget_takes_the_best_point_within_the_budget() -> None:
    g = gain_at_budget(BASE, OURS, 250.0)
    assert g.base == BASE[1] and g.ours == OURS[2]
    assert g.gain == pytest.approx(0.84 / 0.75 - 1)
    assert best_within(BASE, 79.0) is None


def test_gain_is_undefined_with_a_reason_when_the_baseline_cannot_meet_the_budget() -> None:
    g = gain_at_budget(BASE, OURS, 50.0)
    assert g.gain is None and g.base is None and g.ours == OURS[1]
    assert "cannot meet the budget" in g.reason and "80.0 ms" in g.reason
    assert gain_at_budget(BASE, OURS, 10.0).reason.startswith("ours has no point")


def test_speedup_uses_the_cheapest_baseline_at_least_as_accurate() -> None:
    s = speedup_at_comparable(BASE, OURS, drop=0.046)
    # 320 (0.84) -> cheapest baseline >= 0.84 is 640 (0.85, 300 ms): 300/62; 240 (0.81) -> 640 too, 300/37.
    assert s.base == BASE[2] and s.ours == OURS[1]
    assert s.speedup == pytest.approx(300.0 / 37.0)
    assert s.drop == pytest.approx(0.04)


def test_speedup_when_ours_beats_every_baseline_point_compares_with_the_most_accurate() -> None:
    s = speedup_at_comparable(BASE, [Point("x", 0.95, 50.0)])
    assert s.base == BASE[3] and s.speedup == pytest.approx(10.0) and s.drop == pytest.approx(-0.05)


def test_no_comparable_pair_gives_the_measured_gap() -> None:
    s = speedup_at_comparable(BASE, [Point("160", 0.10, 10.0)], drop=0.046)
    assert s.speedup is None and s.drop == pytest.approx(0.50)
    assert "50.0 points below" in s.reason and "320" in s.reason


def test_pareto_percentiles_and_shortfall() -> None:
    assert [p.label for p in pareto(BASE + [Point("bad", 0.5, 400.0)])] == ["320", "480", "640", "960"]
    st = percentiles([1.0, 2.0, 3.0, 4.0])
    assert st["median"] == pytest.approx(2.5) and st["n"] == 4 and percentiles([])["n"] == 0
    assert shortfall(6.0, 5.0, "ratio") == "met"
    assert shortfall(2.5, 5.0, "ratio").startswith("short by 2.50×")
    assert shortfall(0.30, 0.45, "relative").startswith("short by 15.0 points")
    assert shortfall(None, 0.45, "relative") == "not measurable"


def test_writer_lays_out_tables_and_figures_with_relative_links(tmp_path: Path) -> None:
    out = tmp_path / "models" / "report"
    out.mkdir(parents=True)
    (out / "fig1.png").write_bytes(b"\x89PNG")
    fig = Figure("fig1", "Fig. 1 — a title", "fig1.png", "F1 rises.", "host, 1 thread")
    table = Table("t", "A caption", ["a", "b"], [["1", "2"], ["3", "4"]])
    sections = [Section("One", [table, fig, "a paragraph"])]
    md = write_report(tmp_path / "models" / "report.md", "Title", ["intro"], sections, out)
    text = md.read_text()
    assert text.startswith("# Title\n\nintro\n\n## One")
    assert "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |" in text
    assert "![fig1](report/fig1.png)" in text
    reading = text.index("**Reading.** F1 rises.")
    assert text.index("![fig1]") < reading < text.index("*Measured:* host, 1 thread") < text.index("a paragraph")
    assert figures_of(sections) == [fig]


def test_writer_refuses_a_figure_without_its_png(tmp_path: Path) -> None:
    fig = Figure("fig9", "Fig. 9", "fig9.png", "r", "m")
    with pytest.raises(UserError, match="fig9"):
        render("T", [], [Section("S", [fig])], tmp_path, tmp_path)


def _params_file(tmp_path: Path, section: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"evaluate": section}))
    return path


def test_params_reject_unknown_keys_by_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"evaluate\.bogus: unknown key"):
        load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"bogus": 1}))
    with pytest.raises(UserError, match=r"evaluate\.quick\.frames: unknown key"):
        load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"quick": {"frames": "0:10"}}))
    with pytest.raises(UserError, match=r"patches\.max_patch: unknown key"):
        load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"patches": {"max_patch": 3}}))


def test_params_cross_checks(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="headline_device"):
        load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"headline_device": "toaster"}))
    with pytest.raises(UserError, match="generators"):
        load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"generators": ["ep-3"]}))
    with pytest.raises(UserError, match="world_frames"):
        load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"quick": {"world_frames": "9:3"}}))
    p = load_section("evaluate", EvaluateParams, _params_file(tmp_path, {"patches": {"max_patches": 2}}))
    assert p.patch_config().max_patches == 2


def test_the_repository_params_file_has_a_valid_evaluate_section() -> None:
    repo = Path(__file__).resolve().parents[2]
    p = load_section("evaluate", EvaluateParams, repo / "params.yaml")
    assert p.headline_device in p.devices


def test_rois_take_the_densest_windows_without_overlap() -> None:
    dens = np.zeros((20, 40))
    dens[2:6, 30:34] = 5.0
    dens[12:16, 4:8] = 1.0
    rois = pick_rois(dens, 3, side=32, cell=8)
    assert rois[0][:2] == [240.0, 16.0] and rois[0][2:] == [32.0, 32.0]
    assert rois[1][:2] == [32.0, 96.0]
    assert len(rois) == 2  # nothing left with any density


def test_a_device_s_detection_models_leave_its_keypoint_rows_out() -> None:
    from factory.report.latency import device_models
    from tests.runtime.cluster.tiny_bundle import fake_manifest

    m = fake_manifest({"mini-64": "mini", "kp-64": "mini", "baseline-320-int8": "baseline"},
                      profiles={"pi": {"kp-64": 5.0, "mini-64": 20.0, "baseline-320-int8": 90.0}})
    # a keypoint model's row in the same profile (the bundle stage adds them)
    m.models["kp-64"] = dataclasses.replace(m.models["kp-64"], task="keypoints")
    dm = device_models(m, "pi")
    assert dm is not None and dm.mini == {64: "mini-64"} and dm.baselines == {64: "baseline-320-int8"}


def test_each_baseline_side_uses_the_model_exported_at_it() -> None:
    from factory.report.latency import LatencyTable, device_models
    from tests.runtime.cluster.tiny_bundle import fake_manifest

    sides = {"baseline-320-int8": 320, "baseline-640-int8": 640}
    m = fake_manifest({"mini-64": "mini", **{n: "baseline" for n in sides}},
                      profiles={"pi": {"mini-64": 20.0, "baseline-320-int8": 90.0, "baseline-640-int8": 350.0}})
    for name, side in sides.items():
        m = m.resized(name, side)
    dm = device_models(m, "pi")
    assert dm is not None and dm.baselines == {320: "baseline-320-int8", 640: "baseline-640-int8"}
    assert (dm.baseline, dm.run_baseline) == ("baseline-640-int8", "baseline-640-int8")  # the largest side
    assert dm.baseline_at(320) == ("baseline-320-int8", "baseline-320-int8")
    assert dm.baseline_at(480) == ("baseline-640-int8", "baseline-640-int8")  # none at 480: the largest, letterboxed
    table = LatencyTable(m, {"baseline-640-int8@480": 50.0, "baseline-640-int8@640": 100.0})
    assert table.per_patch("pi", "baseline-320-int8", 320) == 90.0  # its own profile row, no host ratio
    assert table.per_patch("pi", "baseline-640-int8", 480) == pytest.approx(175.0)
