"""Cluster experiments of the report: the hooks' parsing (one-line errors naming the flag), the run plan and
cache key, and the figure code on synthetic results (no subprocess)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from factory.report import Figure, Table
from factory.report.cluster import CLUSTER_DEVICES, QUICK, RunSpec, pace_factor_for, plan_runs
from factory.report.cluster_figures import cluster_figures
from factory.report.cluster_netns import NETNS_FIGURES, NETNS_LINK, netns_skip_line, netns_unavailable
from factory.report.cluster_numbers import cluster_numbers, ideal_ratio, pct
from factory.report.cluster_run import read_frames, run_key
from runtime.cli.run import main
from runtime.cluster.config import ClusterConfig, MasterSection
from runtime.cluster.emulation import CostStep, parse_cost_schedule, scheduled_cost
from runtime.cluster.local import LocalCluster, parse_kill_schedule
from runtime.cluster.master import Master
from runtime.cluster.protocol import decode, encode
from runtime.errors import UserError
from tests.runtime.cluster.tiny_bundle import fake_manifest

# ------------------------------------------------------------------------------------------------ hooks


def test_cost_schedule_parses_windows_and_open_ends() -> None:
    steps = parse_cost_schedule("snapdragon-732g:1@0-5, server-2:0.5@2.5-")
    assert steps == [CostStep("snapdragon-732g", 1.0, 0.0, 5.0), CostStep("server-2", 0.5, 2.5, None)]
    assert scheduled_cost(steps, None) is None  # no client yet
    assert scheduled_cost(steps[:1], 4.99) == 1.0 and scheduled_cost(steps[:1], 5.0) is None
    assert scheduled_cost(steps, 3.0) == 0.5  # the last active entry wins
    assert steps[1].spec() == "server-2:0.5@2.5-"


@pytest.mark.parametrize("spec", ["jetson:1", "jetson@0-5", ":1@0-5", "jetson:x@0-5", "jetson:-1@0-5",
                                  "jetson:1@5-2", "jetson:1@a-5", "jetson:1@0", "jetson:nan@0-1", ","])
def test_bad_cost_schedule_is_one_line_error_naming_the_flag(spec: str) -> None:
    with pytest.raises(UserError) as err:
        parse_cost_schedule(spec)
    assert str(err.value).startswith("--cost-schedule:") and "\n" not in str(err.value)


def test_kill_schedule_parses_in_time_order() -> None:
    assert parse_kill_schedule("server-1@6,server-0@3") == [("server-0", 3.0), ("server-1", 6.0)]


@pytest.mark.parametrize("spec", ["server-0", "server-0@", "@3", "server-0@x", "server-0@-1", "server-0@inf",
                                  "server-0@1,server-0@2", ""])
def test_bad_kill_schedule_is_one_line_error_naming_the_flag(spec: str) -> None:
    with pytest.raises(UserError) as err:
        parse_kill_schedule(spec)
    assert str(err.value).startswith("--kill-schedule:") and "\n" not in str(err.value)


@pytest.mark.parametrize("argv, flag", [
    (["--cluster", "local:2", "--kill-schedule", "server-0"], "--kill-schedule"),
    (["--cluster", "local:2", "--cost-schedule", "server-0@1"], "--cost-schedule"),
    (["--kill-schedule", "server-0@1", "--role", "master", "--config", "c.yaml"], "--kill-schedule"),
    (["--schedule-log", "l.jsonl", "--role", "server", "--config", "c.yaml"], "--schedule-log"),
    (["--cluster", "local:2", "--pace-factor", "0.5"], "--pace-factor"),
])
def test_cli_rejects_bad_hooks_before_starting_anything(argv: list[str], flag: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--bundle", str(tmp_path / "no-bundle"), "--video", "v.mp4", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: {flag}:") and "\n" not in err


MANIFEST = fake_manifest({}, profiles={d: {} for d in set(CLUSTER_DEVICES)})


def test_local_cluster_checks_hook_names_against_its_servers(tmp_path: Path) -> None:
    def make(**kw: str) -> LocalCluster:
        return LocalCluster("b", MANIFEST, 2, ClusterConfig(), tmp_path, ["jetson-xavier-nx", "raspberry-pi-4b"],
                            **kw)

    make(cost_schedule="server-1:1@0-5,jetson-xavier-nx:0.5@5-", kill_schedule="server-0@1")  # fine
    with pytest.raises(UserError, match=r"^--cost-schedule: 'snapdragon-732g' is neither"):
        make(cost_schedule="snapdragon-732g:1@0-5")
    with pytest.raises(UserError, match=r"^--kill-schedule: no server named 'server-2'"):
        make(kill_schedule="server-2@1")
    with pytest.raises(UserError, match=r"^--pace-factor"):
        LocalCluster("b", MANIFEST, 1, ClusterConfig(), tmp_path, pace_factor=0.9)


def test_master_logs_each_decision_with_the_reported_costs(tmp_path: Path) -> None:
    manifest = fake_manifest({"m": "mini"})
    log = tmp_path / "schedule.jsonl"
    cluster = ClusterConfig(master=MasterSection(scheduler="uniform"))
    master = Master(manifest, cluster, log=lambda s: None, schedule_log=log)
    for name, cost in (("s0", 1.0), ("s1", 0.0)):
        master.handle(decode(encode("state", device=name, endpoint=f"tcp://{name}", models={"m": {
            "latency_ms": 5.0, "accuracy": 0.8}}, cost=cost, pace_factor=1.0, emulated=True, served=0,
            malformed=0)), 0.0)
    reply = master.handle(decode(encode("schedule", req="r1", frame=7, kind="mini", slo_ms=100.0, patches=[
        {"bytes": 1000, "confidence": 1.0}] * 4, bandwidths={}, exclude=[])), 0.1)
    master.handle(decode(encode("schedule", req="hello", frame=-1, kind="mini", slo_ms=100.0, patches=[],
                                bandwidths={}, exclude=[])), 0.1)  # discovery: not logged
    master.close()
    assert len(reply["assignment"]) == 4
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["frame"] == 7 and lines[0]["patches"] == 4 and lines[0]["costs"] == {"s0": 1.0, "s1": 0.0}
    assert sum(lines[0]["per_device"].values()) == 4


# ------------------------------------------------------------------------------------------------ plan + cache


def test_plan_has_every_experiment_and_one_pace_factor() -> None:
    specs = plan_runs({"test-static": "models/world/test-static/video.mp4"}, quick=True, pace_factor=7.5)
    names = [s.name for s in specs]
    assert names[:6] == ["fig22-single-jetson-xavier-nx", "fig22-single-raspberry-pi-4b",
                         "fig22-single-snapdragon-732g", "fig22-uniform", "fig22-baseline", "fig22-markov"]
    assert {"fig23-cost", "fig24-kill", "scale-4x-rpi", "scale-1x-rpi"} <= set(names)
    assert {s.pace_factor for s in specs if not s.name.startswith("scale-")} == {7.5}
    assert {s.pace_factor for s in specs if s.name.startswith("scale-")} == {1.0}  # CONVENTIONS: F = 1 where allowed
    assert by_name(specs, "fig22-single-raspberry-pi-4b").frames == f"0:{QUICK.single_frames}"
    assert by_name(specs, "fig22-markov").frames == QUICK.fig22_frames
    by = {s.name: s for s in specs}
    assert by["fig24-kill"].kill_schedule == "server-0@6,server-1@12,server-2@18"
    assert by["fig23-cost"].cost_schedule == f"jetson-xavier-nx:1@0-{QUICK.fig23_frames / QUICK.fig23_fps / 2:g}"
    assert "--pace-factor" in by["fig22-markov"].args("B") and "--mode" in by["fig22-baseline"].args("B")


def by_name(specs: list[RunSpec], name: str) -> RunSpec:
    return next(s for s in specs if s.name == name)


def test_cache_key_follows_arguments_and_bundle() -> None:
    a = RunSpec("x", "v.mp4", 4, CLUSTER_DEVICES, "0:100")
    assert run_key(a, "B", "c1") == run_key(RunSpec("x", "v.mp4", 4, CLUSTER_DEVICES, "0:100"), "B", "c1")
    assert run_key(a, "B", "c1") != run_key(a, "B", "c2")
    assert run_key(a, "B", "c1") != run_key(RunSpec("x", "v.mp4", 4, CLUSTER_DEVICES, "0:99"), "B", "c1")


def test_pace_factor_comes_from_the_bundle_host_profile() -> None:
    manifest = fake_manifest({"a": "mini", "b": "mini"},
                             profiles={"fast": {"a": 0.5}, "slow": {"b": 20.0}, "host": {"a": 2.0, "b": 4.0}},
                             serves={"fast": ["a"], "slow": ["b"]})
    assert pace_factor_for(manifest, ["fast", "slow"], margin=1.5) == 6.0  # 2.0 / 0.5 × 1.5
    assert pace_factor_for(fake_manifest({}), ["fast"]) is None


def test_read_frames_marks_dropped(tmp_path: Path) -> None:
    p = tmp_path / "p.jsonl"
    p.write_text('{"frame": 0, "detections": [], "latency_ms": 12.5, "patches": 3}\n'
                 '{"frame": 1, "detections": [], "dropped": true, "reason": "stale"}\n')
    f = read_frames(p)
    assert f["latency_ms"] == [12.5, None] and f["dropped"] == [False, True] and f["patches"] == [3, None]


# ------------------------------------------------------------------------------------------------ figures


def _run(name: str, devices: tuple[str, ...], lat: list[float | None], patches: list[int | None], *,
         mode: str = "paraloupe", fps: float = 0.0, schedule: list[dict] | None = None,
         experiment: dict | None = None) -> dict:
    n = 1 if len(devices) == 1 and not name.startswith("scale") else 4
    servers = {f"server-{i}": devices[i % len(devices)] for i in range(n)}
    summary = {"machine": "vm (x86_64)", "slo_ms": 500.0, "patches_per_frame": 2.5, "f1": 0.5, "frames_dropped": 0,
               "counters": {}, "emulation": {"servers": servers, "pace_factor": 10.0, "pace_factor_measured": 6.5}}
    if experiment:
        summary["experiment"] = experiment
    return {"name": name, "spec": {"name": name, "video": "models/world/test-static/video.mp4", "n": n,
                                   "devices": list(devices), "frames": f"0:{len(lat)}", "mode": mode,
                                   "offer_fps": fps},
            "summary": summary, "schedule": schedule or [],
            "frames": {"frame": list(range(len(lat))), "latency_ms": lat, "patches": patches,
                       "dropped": [x is None for x in lat], "skipped": [False] * len(lat)}}


def synthetic_results() -> dict:
    n = 40
    runs = {}
    for dev, base in (("jetson-xavier-nx", 10.0), ("raspberry-pi-4b", 120.0), ("snapdragon-732g", 30.0)):
        runs[f"fig22-single-{dev}"] = _run("s", (dev,), [base + i % 5 for i in range(n)], [3] * 20 + [5] * 20)
    runs["fig22-single-raspberry-pi-4b"]["frames"]["patches"][0] = 4  # K differs from the 4-server run's: unpaired
    runs["fig22-uniform"] = _run("u", CLUSTER_DEVICES, [80.0 + i % 3 for i in range(n)], [3] * n)
    runs["fig22-baseline"] = _run("b", CLUSTER_DEVICES, [300.0 + 5 * (i % 4) for i in range(n)], [1] * n,
                                  mode="baseline")
    runs["fig22-markov"] = _run("m", CLUSTER_DEVICES, [12.0 + i % 4 for i in range(n)], [3] * n)
    sched = [{"frame": i, "patches": 3, "per_device": {"server-1": 3} if i < 20 else {"server-0": 2, "server-1": 1},
              "costs": {"server-0": 1.0 if i < 20 else 0.0, "server-1": 0.0}} for i in range(n)]
    runs["fig23-cost"] = _run("c", CLUSTER_DEVICES, [15.0] * n, [3] * n, fps=10.0, schedule=sched,
                              experiment={"cost_schedule": ["jetson-xavier-nx:1@0-2"]})
    lat24 = [20.0] * 10 + [30.0] * 10 + [200.0] * 10 + [None if i % 2 else 2000.0 for i in range(10)]
    kills = [{"server": f"server-{i}", "device": CLUSTER_DEVICES[i], "at_s": 1.0 * (i + 1), "t_s": 1.0 * (i + 1),
              "after_frame": 10 * (i + 1) - 1} for i in range(3)]
    runs["fig24-kill"] = _run("k", CLUSTER_DEVICES, lat24, [3] * n, fps=10.0, experiment={"kills": kills})
    runs["scale-4x-rpi"] = _run("scale", ("raspberry-pi-4b",), [50.0] * n, [3] * 20 + [5] * 20)
    return {"runs": runs, "warmup": 0, "cost_device": "jetson-xavier-nx", "high_cost": 1.0,
            "scale_device": "raspberry-pi-4b"}


def test_figures_and_tables_from_synthetic_results(tmp_path: Path) -> None:
    results = synthetic_results()
    figures, tables = cluster_figures(results, tmp_path / "out", rel_to=tmp_path)
    assert [f.key for f in figures] == ["fig22", "fig23", "fig24"]
    for f in figures:
        assert isinstance(f, Figure) and (tmp_path / f.png).stat().st_size > 1000
        assert f.png.startswith("out/") and f.reading and "\n" not in f.reading
        assert "2-core dev VM" in f.measured and "emulated" in f.measured and "10" in f.measured
    fig22, fig23, fig24 = figures
    assert "Markov (4 servers) 14" in fig22.reading and "Markov is below Uniform" in fig22.reading
    assert "server-0 (Jetson) got 0% of the patches while its cost was 1 (frames 0–19) and 67% after" in fig23.reading
    assert "4 up: p50 20 ms" in fig24.reading and "1 up:" in fig24.reading and "5/10 dropped" in fig24.reading
    assert all(isinstance(t, Table) for t in tables)
    e2e, scale = tables
    assert len(e2e.rows) == 6 and e2e.rows[-1][0] == "Markov (4 servers)" and e2e.rows[-1][5] == "13.5"
    ideal = (19 * math.ceil(3 / 4) / 3 + 20 * math.ceil(5 / 4) / 5) / 39  # frame 0 is not paired
    assert scale.rows[1][6] == f"{ideal:.3f}" and scale.rows[1][8] == f"{(20 + 40) / (60 + 100):.3f}"
    paired = [50.0 / (120.0 + i % 5) for i in range(1, 40)]
    assert scale.rows[1][5] == f"{sum(paired) / 39:.3f}" and "over the 39 frames" in scale.caption
    assert "| 4 × RPi, SLO 500 ms |" in scale.markdown()
    nums = cluster_numbers(results)
    assert nums["fig23"]["share_high"] == 0.0 and nums["scale"]["ideal"] == pytest.approx(ideal)
    assert [p["servers"] for p in nums["fig24"]] == [4, 3, 2, 1]


def test_failed_runs_leave_readable_gaps(tmp_path: Path) -> None:
    results = synthetic_results()
    results["runs"]["fig22-baseline"] = {"name": "b", "error": "rc=2: boom", "spec": {}}
    del results["runs"]["fig24-kill"]
    results["runs"]["fig23-cost"]["schedule"] = []
    figures, tables = cluster_figures(results, tmp_path)
    assert "not measured: Frame-level baseline (4 servers)" in figures[0].reading
    assert figures[1].reading.startswith("not measured") and figures[2].reading.startswith("not measured")
    assert tables[0].rows[4][2] == "not measured"


def test_helpers() -> None:
    assert ideal_ratio([4, 4, None, 0], 4) == 0.25
    assert ideal_ratio([None], 4) is None
    assert pct([])["p50"] is None and pct([1.0, 3.0])["p50"] == 2.0


def test_frames_without_patches_are_left_out_and_named(tmp_path: Path) -> None:
    results = synthetic_results()
    results["runs"]["fig22-markov"]["frames"]["patches"][3] = 0
    results["runs"]["fig22-markov"]["frames"]["latency_ms"][3] = 1.0
    fig22 = cluster_figures(results, tmp_path)[0][0]
    assert "frames without patches left out: Markov (4 servers) 1" in fig22.reading
    assert cluster_numbers(results)["fig22"]["markov"]["n"] == 39


# ------------------------------------------------------------------------------------------------ netns variant


def _netns_results(results: dict) -> dict:
    """``results`` with every fig22/23/24 run copied as its netns variant (slower by 10 %, links reported)."""
    links = {f"server-{i}": {"shaped_mbit": 300.0, "measured_mbit": 291.2 - i} for i in range(4)}
    for name, run in list(results["runs"].items()):
        if not name.startswith(("fig22-", "fig23-", "fig24-")):
            continue
        copy = json.loads(json.dumps(run))
        copy["spec"].update(cluster="netns", link="300mbit")
        copy["summary"]["network"] = {"links": links}
        copy["frames"]["latency_ms"] = [None if x is None else 1.1 * x for x in copy["frames"]["latency_ms"]]
        results["runs"]["netns-" + name] = copy
    results["netns"] = {"requested": True, "skipped": None, "link": "300mbit", "prefix": "netns-"}
    return results


def test_netns_variant_repeats_fig22_to_24_only_with_shaped_links() -> None:
    videos = {"test-static": "models/world/test-static/video.mp4"}
    plain = plan_runs(videos, quick=True, pace_factor=7.5)
    specs = plan_runs(videos, quick=True, pace_factor=7.5, netns=True)
    assert specs[:len(plain)] == plain  # the loopback runs unchanged, the variant after them
    extra = specs[len(plain):]
    assert [s.name for s in extra] == ["netns-" + s.name for s in plain if s.name.startswith(NETNS_FIGURES)]
    assert len(extra) == 8 and not any(s.name.startswith(("netns-scale", "netns-real")) for s in extra)
    by = {s.name: s for s in specs}
    for s in extra:
        local = by[s.name.removeprefix("netns-")]
        assert dataclasses.replace(s, name=local.name, cluster="local", link=None) == local  # nothing else differs
        a = s.args("B")
        assert a[a.index("--cluster") + 1] == f"netns:{local.n}" and a[a.index("--link") + 1] == NETNS_LINK == "300mbit"
        la = local.args("B")
        assert la[la.index("--cluster") + 1] == f"local:{local.n}" and "--link" not in la


def test_netns_cache_keys_are_distinct_and_leave_loopback_keys_alone() -> None:
    videos = {"test-static": "models/world/test-static/video.mp4"}
    before = {s.name: run_key(s, "B", "c") for s in plan_runs(videos, quick=True, pace_factor=7.5)}
    specs = plan_runs(videos, quick=True, pace_factor=7.5, netns=True)
    keys = {s.name: run_key(s, "B", "c") for s in specs}
    assert {n: keys[n] for n in before} == before  # a loopback run's cache stays valid with --netns
    assert len(set(keys.values())) == len(keys)
    for name in keys:
        if name.startswith("netns-"):
            assert keys[name] != keys[name.removeprefix("netns-")]
    s = RunSpec("x", "v.mp4", 4, CLUSTER_DEVICES, "0:100", cluster="netns", link="300mbit")
    assert run_key(s, "B", "c") != run_key(dataclasses.replace(s, link="20mbit"), "B", "c")


def test_netns_unavailable_gives_one_line_and_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import runtime.bundle
    import runtime.cluster.netns
    from factory.report import cluster

    def unavailable() -> None:
        raise UserError("--cluster netns:N: network namespaces need root here; use --cluster local:N")

    monkeypatch.setattr(runtime.cluster.netns, "check_available", unavailable)
    why = netns_unavailable()
    assert why == "--cluster netns:N: network namespaces need root here; use --cluster local:N"
    line = netns_skip_line(why)
    assert "\n" not in line and line.startswith("**netns variant (Fig. 22–24): skipped**") and "need root" in line

    ran: list[str] = []
    monkeypatch.setattr(runtime.bundle, "load_manifest", lambda b: fake_manifest({}))
    monkeypatch.setattr(cluster, "run_one", lambda spec, *a, **k: ran.append(spec.name) or {"name": spec.name})
    res = cluster.run_cluster_experiments("B", {"test-static": "v.mp4"}, tmp_path, quick=True, netns=True,
                                          log=lambda s: None)
    assert ran and not any(n.startswith("netns-") for n in ran)
    assert res["netns"]["requested"] and res["netns"]["skipped"] == why and res["numbers"]["netns"] == {"skipped": why}
    items = cluster_figures({**synthetic_results(), "netns": res["netns"]}, tmp_path)[1]
    assert [x for x in items if isinstance(x, str)] == [line]

    monkeypatch.setattr(runtime.cluster.netns, "check_available", lambda: None)
    ran.clear()
    res = cluster.run_cluster_experiments("B", {"test-static": "v.mp4"}, tmp_path, quick=True, netns=True,
                                          log=lambda s: None)
    assert sum(n.startswith("netns-") for n in ran) == 8 and res["netns"]["skipped"] is None
    ran.clear()
    res = cluster.run_cluster_experiments("B", {"test-static": "v.mp4"}, tmp_path, quick=True, log=lambda s: None)
    assert not any(n.startswith("netns-") for n in ran) and res["netns"]["requested"] is False

    def fails(spec: RunSpec, *a: object, **k: object) -> dict:  # the first netns run cannot make its namespaces
        ran.append(spec.name)
        if spec.cluster != "netns":
            return {"name": spec.name}
        return {"name": spec.name, "error": "rc=2: warming | error: --cluster netns:N: `ip netns add x` failed "
                                            "(Operation not permitted); local:N needs no namespaces"}

    monkeypatch.setattr(cluster, "run_one", fails)
    ran.clear()
    res = cluster.run_cluster_experiments("B", {"test-static": "v.mp4"}, tmp_path, quick=True, netns=True,
                                          log=lambda s: None)
    assert sum(n.startswith("netns-") for n in ran) == 1 and not any(n.startswith("netns-") for n in res["runs"])
    assert res["netns"]["skipped"].startswith("--cluster netns:N: `ip netns add x` failed (Operation not permitted)")


def test_netns_figures_sit_beside_the_loopback_ones(tmp_path: Path) -> None:
    results = _netns_results(synthetic_results())
    figures, tables = cluster_figures(results, tmp_path / "out", rel_to=tmp_path)
    assert [f.key for f in figures] == ["fig22", "fig22-netns", "fig23", "fig23-netns", "fig24", "fig24-netns"]
    for f in figures:
        assert (tmp_path / f.png).stat().st_size > 1000 and "\n" not in f.reading
    for loop, ns in zip(figures[::2], figures[1::2], strict=True):
        assert "loopback, emulated devices" in loop.title and "loopback cluster" in loop.measured
        assert "netns, 300 Mbit/s tbf links, emulated devices" in ns.title
        assert "network namespace" in ns.measured and "server-0 300/291.2" in ns.measured
        assert ns.png != loop.png
    assert "Markov (4 servers) 15" in figures[1].reading  # 1.1 × 13.5
    keys = [t.key for t in tables]
    assert keys == ["cluster-e2e", "cluster-e2e-netns", "cluster-netns-vs-loopback", "cluster-scale"]
    e2e_ns, compare = tables[1], tables[2]
    assert "netns" in e2e_ns.caption and e2e_ns.rows[-1][5] == f"{1.1 * 13.5:.1f}"
    row = next(r for r in compare.rows if r[0] == "Fig. 22 Markov (4 servers), p50 ms")
    assert row[1:] == ["13.5", f"{1.1 * 13.5:.1f}", "1.10"]
    assert any(r[0].startswith("Fig. 24 4 server(s) up") for r in compare.rows)
    nums = cluster_numbers(results)
    assert nums["netns"]["fig22"]["markov"]["p50"] == pytest.approx(1.1 * 13.5)
    assert nums["netns"]["links"]["server-0"] == {"shaped_mbit": 300.0, "measured_mbit": 291.2}
    assert [p["servers"] for p in nums["netns"]["fig24"]] == [4, 3, 2, 1] and "fig23" in nums["netns"]
    assert nums["fig22"] == cluster_numbers(synthetic_results())["fig22"]  # loopback numbers untouched


def test_report_hook_passes_netns_and_writes_the_numbers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from factory.report import cluster_hook

    seen: dict = {}

    def run(bundle_dir: str, videos: list, out_dir: Path, quick: bool, netns: bool = False) -> dict:
        seen["netns"] = netns
        return {"numbers": {"netns": {"skipped": "no root"}}}

    monkeypatch.setattr(cluster_hook, "_find", lambda name: run if name == "run_cluster_experiments" else
                        (lambda results: ["a line"]))
    ctx = SimpleNamespace(env=SimpleNamespace(bundle_dir="B", manifest=None), params=SimpleNamespace(videos=[]),
                          out_dir=tmp_path, full=False, world=[], real=None, scope=SimpleNamespace(real_frames=None))
    section = cluster_hook.cluster_section(ctx, {}, lambda s: None, netns=True)
    assert seen["netns"] is True and "a line" in section.items
    assert json.loads((tmp_path / "cluster_numbers.json").read_text()) == {"netns": {"skipped": "no root"}}
    cluster_hook.cluster_section(ctx, {}, lambda s: None)
    assert seen["netns"] is False


def test_report_cli_has_a_netns_flag_default_off() -> None:
    from factory.report.cli import parse_args

    assert parse_args([]).netns is False and parse_args(["--netns"]).netns is True


def test_plan_runs_the_real_camera_on_its_own_mini(tmp_path: Path) -> None:
    video = tmp_path / "vtest.avi"
    video.write_bytes(b"")  # only its existence is checked when planning
    real = {"name": "vtest", "video": str(video), "annotations": None, "mini": "rpi4b-240-int8"}
    specs = plan_runs({"test-static": "models/world/test-static/video.mp4"}, quick=True, real=real,
                      real_frames="500:795", pace_factor=7.5)
    by = {s.name: s for s in specs}
    for name in ("real-fig22-markov", "real-fig22-uniform", "real-fig22-single-raspberry-pi-4b"):
        args = by[name].args("B")
        assert args[args.index("--mini") + 1] == "rpi4b-240-int8"
    assert "--mini" not in by["real-fig22-baseline"].args("B")  # the whole-frame baseline has no mini
    assert "--mini" not in by["fig22-markov"].args("B")  # a world camera without one: the scheduler picks
