"""The per-frame headline table: its cluster runs (plan, shared runs, latency ÷ F) and its numbers, without a
subprocess or a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from factory.report.cluster import CLUSTER_DEVICES, plan_runs, run_cluster_experiments
from factory.report.cluster_headline import headline_latency, method_names, plan_headline
from factory.report.config import EvaluateParams, HeadlineParams
from factory.report.headline import headline_metrics, kind_of
from runtime.config import from_mapping
from runtime.errors import UserError
from runtime.modes import Mode

VIDEOS = [{"name": "test-static", "video": "s.mp4", "annotations": "s.json"},
          {"name": "test-moving", "video": "m.mp4", "annotations": "m.json"}]


def _params(**headline: Any) -> EvaluateParams:
    return EvaluateParams(baseline_sizes=[320, 640], headline=HeadlineParams(**headline))


def test_methods_are_every_baseline_side_then_the_modes() -> None:
    names = method_names([320, 640], ["sahi", "motion-regions", "paraloupe"], 480)
    assert names == [("baseline-320", Mode.BASELINE, 320), ("baseline-640", Mode.BASELINE, 640),
                     ("sahi-480", Mode.SAHI, 480), ("motion-regions", Mode.MOTION_REGIONS, None),
                     ("paraloupe", Mode.PARALOUPE, None)]


def test_plan_runs_each_method_on_both_clusters_with_their_pace_and_slo() -> None:
    specs = plan_headline(VIDEOS, _params(modes=["sahi", "paraloupe"], clip_frames="0:20"), 8.0)
    by = {s.name: s for s in specs}
    assert len(specs) == 2 * 4 and all("test-moving" not in n for n in by)  # cluster_videos: test-static only
    rpi, mixed = by["head-rpi4-test-static-baseline-640"], by["head-mixed-test-static-sahi-320"]
    assert rpi.devices == ("raspberry-pi-4b",) and rpi.n == 4 and rpi.pace_factor == 1.0 and rpi.slo_ms == 250.0
    assert rpi.args("B")[rpi.args("B").index("--baseline-side"):][:2] == ["--baseline-side", "640"]
    assert mixed.devices == CLUSTER_DEVICES and mixed.pace_factor == 8.0 and mixed.slo_ms == 2000.0
    assert mixed.mode == Mode.SAHI and mixed.frames == "0:20" and mixed.gt == "s.json"


def test_the_4x_rpi_paraloupe_run_is_the_scale_pairs_run() -> None:
    specs = plan_runs(VIDEOS, quick=True, pace_factor=8.0, params=_params())
    by = {s.name: s for s in specs}
    assert by["head-rpi4-test-static-paraloupe"].args("B") == by["scale-4x-rpi-slo250"].args("B")


def test_runs_with_equal_arguments_run_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import factory.report.cluster as cl

    ran: list[str] = []

    def fake_run(spec: Any, bundle: str, checksum: str, cache: Path, log: Any) -> dict[str, Any]:
        ran.append(spec.name)
        return {"name": spec.name, "summary": {}, "frames": {"frame": [0]}}

    class Manifest:
        checksum = "c"

        def latencies(self, _d: str) -> dict[str, float]:
            return {}

    monkeypatch.setattr(cl, "run_one", fake_run)
    monkeypatch.setattr("runtime.bundle.load_manifest", lambda _b: Manifest())
    res = run_cluster_experiments("B", VIDEOS, tmp_path, quick=True, params=_params(modes=["paraloupe"]),
                                  only=["scale-4x-rpi-slo250", "head-rpi4"])
    assert "head-rpi4-test-static-paraloupe" not in ran and "scale-4x-rpi-slo250" in ran
    assert res["runs"]["head-rpi4-test-static-paraloupe"]["same_as"] == "scale-4x-rpi-slo250"


def _run(lat: list[float], patches: list[int], f: float, f1: float = 0.5) -> dict[str, Any]:
    return {"summary": {"emulation": {"pace_factor": f}, "f1": f1, "patches_per_frame": 2.0, "slo_ms": 250.0 * f},
            "spec": {"frames": "0:10"}, "frames": {"frame": list(range(len(lat))), "latency_ms": lat,
                                                   "patches": patches}}


def test_latency_is_divided_by_the_pace_factor_and_failures_are_marked() -> None:
    runs = {"head-rpi4-test-static-2-baseline-320": _run([10.0] * 4 + [30.0, 50.0], [1] * 6, 1.0),
            "head-mixed-test-static-2-baseline-320": _run([100.0] * 6, [1] * 6, 10.0),
            "head-rpi4-test-static-paraloupe": _run([20.0, 40.0, 0.5], [3, 3, 0], 1.0),
            "head-mixed-test-static-paraloupe": {"error": "rc=1: boom"}, "fig22-markov": _run([1.0], [1], 1.0)}
    lat = headline_latency({"runs": runs, "warmup": 1, "headline_videos": ["test-static", "test-static-2"]})
    assert set(lat) == {"baseline-320", "paraloupe"}
    assert lat["baseline-320"]["rpi4"]["test-static-2"]["p50"] == 10.0  # frames 1..5 after the warm-up
    assert lat["baseline-320"]["mixed"]["test-static-2"]["p50"] == 10.0  # 100 ms paced ÷ F = 10 (no host stages)
    assert lat["baseline-320"]["mixed"]["test-static-2"]["p50_paced"] == 100.0
    assert lat["paraloupe"]["rpi4"]["test-static"]["n"] == 1  # the frame without a patch is left out
    assert lat["paraloupe"]["mixed"]["test-static"] == {"error": "rc=1: boom"}
    m = headline_metrics({"paraloupe": {"f1": 0.6, "ap50": 0.5}}, lat)
    assert m["paraloupe"] == {"f1": 0.6, "ap50": 0.5, "p50_rpi4_ms": 40.0, "p90_rpi4_ms": 40.0}
    assert m["baseline-320"]["p50_mixed_ms"] == 10.0


def test_paced_latency_is_divided_by_the_factor() -> None:
    from factory.report.cluster_headline import device_time, host_stages_ms

    summary = {"stages_ms": {"patch_generation": {"p50": 8.0}, "scheduling": {"p50": 1.0},
                             "aggregation": {"p50": 1.0}, "transfer_per_patch": {"p50": 40.0}}}
    assert host_stages_ms(summary) == 10.0
    assert device_time(110.0, 10.0) == 11.0


def test_kind_of_a_seed_video() -> None:
    assert [kind_of(v) for v in ("test-static", "test-moving-2", "test-switch-13")] == ["static", "moving", "switch"]


@pytest.mark.parametrize(("headline", "key"), [({"modes": ["baseline"]}, "headline.modes"),
                                                ({"modes": ["nope"]}, "headline.modes"),
                                                ({"clip_frames": "x"}, "headline.clip_frames"),
                                                ({"cluster_videos": ["test-nope"]}, "headline.cluster_videos")])
def test_bad_headline_params_name_their_key(headline: dict[str, Any], key: str) -> None:
    with pytest.raises(UserError, match=key):
        from_mapping(EvaluateParams, {"headline": headline}, "evaluate")


def test_a_run_ranks_its_pre_cut_detections_where_it_kept_them() -> None:
    from factory.report.runs import RunResult, RunSpec

    spec = RunSpec("v", (0, 1), "m", 160)
    kept = RunResult(spec, [0], [[[1, 2, 3, 4, "person", 0.9]]], [1], [["high"]], [[1.0]], [0.5], [False],
                     ranked=[[[1, 2, 3, 4, "person", 0.9], [5, 6, 7, 8, "person", 0.2]]])
    assert len(kept.predictions()[0]) == 1 and len(kept.ranked_predictions()[0]) == 2
    old = RunResult(spec, [0], [[[1, 2, 3, 4, "person", 0.9]]], [1], [["high"]], [[1.0]], [0.5], [False])
    assert len(old.ranked_predictions()[0]) == 1  # a run without them ranks its detections
    assert RunResult.from_json(kept.to_json()).ranked == kept.ranked


def test_the_spread_seeds_are_world_test_videos_never_trained_on() -> None:
    from factory.data.builder import TRAIN_WORLD_VIDEOS
    from factory.stages.world import WorldParams

    names = [v.name for v in EvaluateParams().headline.videos]
    world = WorldParams().videos
    assert all(n in world for n in names) and not set(names) & set(TRAIN_WORLD_VIDEOS)
    tests = [n for n in world if n.startswith("test-")]
    assert sorted(kind_of(n) for n in tests) == ["moving"] * 3 + ["static"] * 3 + ["switch"] * 3
    assert {world[n].seed for n in ("test-static", "test-moving", "test-switch")} == {301, 302, 303}
    assert all(world[n].switch_layout_at for n in tests if kind_of(n) == "switch")


def test_a_scope_sweeps_only_points_of_the_sweep() -> None:
    quick = EvaluateParams().quick
    assert quick.max_patches == [1, 3, 6] and quick.roi_counts == [0, 3, 6]  # the paper's reference points
    with pytest.raises(UserError, match="quick.max_patches"):
        from_mapping(EvaluateParams, {"max_patches": [1, 2], "quick": {"max_patches": [1, 7]}}, "evaluate")


def test_headline_metrics_reach_mlflow_and_fig22_singles_take_the_clip_start() -> None:
    from factory.report.cluster import _first
    from factory.report.per_video import flat_metrics

    flat = flat_metrics({"headline": {"sahi-320": {"f1": 0.6, "p50_rpi4_ms": 90.0}}, "seconds": 5.0})
    assert flat == {"headline.sahi-320.f1": 0.6, "headline.sahi-320.p50_rpi4_ms": 90.0, "seconds": 5.0}
    assert _first("0:40", 20) == "0:20" and _first("500:510", 20) == "500:510" and _first(None, 20) == "0:20"
    assert _first("0:40", None) == "0:40"


def test_headline_figure_plots_the_methods_with_latency(tmp_path: Path) -> None:
    from factory.report.headline import headline_figure

    acc = {"paraloupe": {"f1": 0.6, "f1_per_video": {"a": 0.5, "b": 0.7}},
           "baseline-960": {"f1": 0.7, "f1_per_video": {"a": 0.65, "b": 0.75}}}
    lat = {"paraloupe": {"rpi4": {"a": {"p50": 80.0}}, "mixed": {"a": {"p50": 20.0}}},
           "baseline-960": {"rpi4": {"a": {"error": "rc=1"}}}}
    fig = headline_figure(acc, lat, tmp_path, "**How it was measured.** here")
    assert fig is not None and (tmp_path / fig.png).stat().st_size > 1000
    assert fig.reading == "4 × RPi: paraloupe F1 0.600 at 80 ms." and fig.measured == "here"
    assert headline_figure(acc, {}, tmp_path, "") is None


def test_tracked_baseline_rows_replay_whole_frames_through_the_tracker() -> None:
    from factory.report.headline import tracked_name
    from factory.report.runs import TRACKED, make_generator

    assert tracked_name(480) == "baseline-480+tracker"
    assert make_generator(None, TRACKED, None) is None  # whole frames: no patch generator
