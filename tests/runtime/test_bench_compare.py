"""``paraloupe-bench stability`` and ``versus``: argument rules, the equal-budget side, and real runs of the loop
on the tiny bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.bench import stability, tune, versus, versus_cluster
from runtime.bench.served import side_bin_names
from runtime.bundle import load_manifest
from runtime.errors import UserError


def test_starts_are_parsed_and_checked() -> None:
    assert stability.parse_starts("20, 0,10") == [0, 10, 20]
    for bad in ("0", "a,b", "-1,3", "5,5"):
        with pytest.raises(UserError, match="--starts"):
            stability.parse_starts(bad)


def test_stability_scores_every_start_on_the_common_frames(tiny_bundle: Path, tiny_video: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.json"
    gt = tiny_video.parent / "annotations.json"
    assert stability.main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--gt", str(gt),
                           "--starts", "0,3", "--end", "8", "--jobs", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["scored"] == [3, 8] and set(data["runs"]) == {"0", "3"}
    assert all(r["frames"] == 5 for r in data["runs"].values())  # both scored on [3, 8) only
    f1 = [r["f1"] for r in data["runs"].values()]
    assert data["spread"] == pytest.approx(max(f1) - min(f1))
    assert "spread" in capsys.readouterr().out
    with pytest.raises(UserError, match="--frames: set by stability"):
        stability.main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--gt", str(gt),
                        "--frames", "0:4"])
    with pytest.raises(UserError, match="--end 3: must be after"):
        stability.main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--gt", str(gt),
                        "--starts", "0,3", "--end", "3"])


def test_equal_budget_side_is_the_largest_that_fits(tiny_bundle: Path) -> None:
    sides = versus.baseline_sides(load_manifest(tiny_bundle), "fp32", "raspberry-pi-4b")
    assert sides == {160: ("baseline-160-fp32", 240.0)}
    assert versus.equal_budget_side(sides, 250.0) == 160
    assert versus.equal_budget_side(sides, 200.0) is None
    assert versus.equal_budget_side({320: ("a", 55.0), 480: ("b", 134.0), 640: ("c", 282.0)}, 250.0) == 480
    with pytest.raises(UserError, match="--precision int8: the bundle has no baseline"):
        versus.baseline_sides(load_manifest(tiny_bundle), "int8", "raspberry-pi-4b")


def test_compare_ratio_gap_and_goals() -> None:
    pl = {"f1": 0.8, "patch_recall": 0.96, "loop_ms_median": 3.0}
    c = versus.compare(pl, {480: 0.6, 960: 0.83}, 480)
    assert c["ratio"] == pytest.approx(0.8 / 0.6) and c["best_side"] == 960
    assert c["gap_points"] == pytest.approx(-3.0)
    assert c["met"] == {"ratio": True, "gap_points": False, "patch_recall": True, "loop_ms_median": True}
    none_fits = versus.compare(pl, {960: 0.7}, None)
    assert none_fits["ratio"] is None and not none_fits["met"]["ratio"] and none_fits["met"]["gap_points"]


def _bins(objects: int, found: float, served: float = 0.0, found_if_served: float = 0.0) -> dict[str, Any]:
    """A run's ``by_side`` with every object in the 32-48 px bin."""
    empty = {"objects": 0, "found": 0.0, "served": 0.0, "found_if_served": 0.0, "found_if_unserved": 0.0}
    bins = {name: dict(empty) for name in side_bin_names()}
    bins["32-48"] = {**empty, "objects": objects, "found": found, "served": served,
                     "found_if_served": found_if_served}
    return bins


def test_size_split_pools_videos_by_their_objects_against_each_ones_best_side() -> None:
    runs = {"a": {"paraloupe": {"by_side": _bins(10, 0.5, 0.8, 0.5 / 0.8)}, "B960": {"by_side": _bins(10, 0.9)},
                  "B640": {"by_side": _bins(10, 0.1)}},
            "b": {"paraloupe": {"by_side": _bins(30, 0.9, 1.0, 0.9)}, "B960": {"by_side": _bins(30, 0.0)},
                  "B640": {"by_side": _bins(30, 0.7)}}}
    table = {"a": {"best_side": 960}, "b": {"best_side": 640}}
    split = versus.size_split(runs, table)
    assert list(split) == ["32-48"]  # bins without objects are left out
    row = split["32-48"]
    assert row["objects"] == 40
    assert row["found"] == pytest.approx((5 + 27) / 40)
    assert row["served"] == pytest.approx((8 + 30) / 40)
    assert row["found_if_served"] == pytest.approx((5 + 27) / 38)
    assert row["best_found"] == pytest.approx((9 + 21) / 40)  # a's B960, b's B640


def test_versus_runs_paraloupe_and_every_side(tiny_bundle: Path, tiny_video: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.json"
    assert versus.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--precision", "fp32",
                        "--tracked", "--jobs", "1", "--json", str(out), "--frames", "0:4"]) == 0
    data = json.loads(out.read_text())
    name = tiny_video.parent.name
    assert set(data["runs"][name]) == {"paraloupe", "B160", "B160+tracker"}
    assert data["runs"][name]["paraloupe"]["mode"] == "paraloupe"
    assert data["runs"][name]["B160"]["mode"] == "baseline" and data["runs"][name]["B160"]["side"] == 160
    assert {r["frames"] for r in data["runs"][name].values()} == {4}  # --frames reaches every run
    assert data["equal_side"] == 160 and data["comparison"][name]["sides"] == {"160": data["runs"][name]["B160"]["f1"]}
    assert set(data["by_size"]) <= set(side_bin_names())
    printed = capsys.readouterr().out
    assert "equal-budget side 160" in printed and "goal patch_recall" in printed
    with pytest.raises(UserError, match="no videos"):
        versus.main(["--bundle", str(tiny_bundle)])


def test_versus_real_mini_pins_the_real_cameras_patches(tiny_bundle: Path, tiny_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "v.json"
    gt = tiny_video.parent / "annotations.json"
    assert versus.main(["--bundle", str(tiny_bundle), "--real", str(tiny_video), "--real-gt", str(gt),
                        "--real-frames", "0:4", "--real-mini", "tiny-64-fp32", "--precision", "fp32", "--jobs", "1",
                        "--devices", "jetson-xavier-nx", "--json", str(out)]) == 0
    (runs,) = json.loads(out.read_text())["runs"].values()
    assert runs["paraloupe"]["mini"] == "tiny-64-fp32"
    assert {m for m in runs["paraloupe"]["entries_per_model"] if m.startswith("tiny")} == {"tiny-64-fp32"}
    with pytest.raises(UserError, match="--real-mini"):  # without --real it would pin nothing
        versus.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--real-mini", "tiny-64-fp32"])


def test_versus_real_mini_tuned_chooses_on_the_tuning_range_only(tiny_bundle: Path, tiny_video: Path,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.json"
    gt = tiny_video.parent / "annotations.json"
    argv = ["--bundle", str(tiny_bundle), "--real", str(tiny_video), "--real-gt", str(gt), "--real-frames", "6:9",
            "--real-mini", "tuned", "--precision", "fp32", "--jobs", "1", "--devices", "jetson-xavier-nx"]
    assert versus.main([*argv, "--real-tune-frames", "0:4", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    choice = data["real_mini"]
    assert choice["frames"] == "0:4" and set(choice["f1"]) == {"scheduler", "tiny-64-fp32", "tiny-96-fp32"}
    assert choice["tolerance"] == tune.MINI_TOLERANCE
    assert choice["mini"] == tune.cheapest_within(choice["f1"], tune.MINI_TOLERANCE)
    (runs,) = data["runs"].values()
    pinned = {m for m in runs["paraloupe"]["entries_per_model"] if m.startswith("tiny")}
    if choice["mini"] != "scheduler":  # the chosen mini is the one the evaluation run pins
        assert pinned == {choice["mini"]}
    assert "mini chosen on the tuning range" in capsys.readouterr().out
    with pytest.raises(UserError, match="--real-tune-frames 0:8: must end by the start of --real-frames"):
        versus.main([*argv, "--real-tune-frames", "0:8"])


def test_cluster_claim_needs_both_the_gap_and_the_speedup() -> None:
    best = {"f1": 0.85, "p50_ms": 300.0}
    assert versus_cluster.claim({"f1": 0.84, "p50_ms": 90.0}, best)["met"]
    assert not versus_cluster.claim({"f1": 0.82, "p50_ms": 90.0}, best)["met"]  # 3 points below
    slow = versus_cluster.claim({"f1": 0.86, "p50_ms": 150.0}, best)
    assert slow["speedup"] == pytest.approx(2.0) and not slow["met"]
    assert not versus_cluster.claim({"f1": None, "p50_ms": 90.0}, best)["met"]


def test_versus_cluster_times_paraloupe_and_the_sides_on_a_real_local_cluster(
        tiny_bundle: Path, tiny_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.json"
    assert versus.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--precision", "fp32",
                        "--jobs", "1", "--frames", "0:6", "--cluster", "--cluster-warmup", "1",
                        "--devices", "jetson-xavier-nx,jetson-xavier-nx", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    runs = data["cluster"][tiny_video.parent.name]["runs"]
    assert set(runs) == {"paraloupe", "equal", "best"} and runs["best"]["side"] == 160
    assert all(r["frames"] == 6 and r["p50_ms"] > 0 and r["f1"] is not None for r in runs.values())
    assert data["cluster"][tiny_video.parent.name]["claim"]["speedup"] > 0
    assert "cluster runs (pace factor 1" in capsys.readouterr().out
    with pytest.raises(UserError, match="--cluster: the loop options"):
        versus.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--cluster",
                     "--set", "loop.track=false"])
