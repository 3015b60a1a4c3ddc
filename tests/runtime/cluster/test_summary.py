"""Bounded client statistics: histogram percentiles vs numpy within the stated bound, the summary's figures
vs the same figures computed from full per-frame records, and memory that does not grow with the frames."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from runtime.cluster.summary import ABS_ERROR_MS, HEAD_FRAMES, REL_ERROR, LogHistogram, Stats, summarize
from runtime.errors import UserError

QS = (50.0, 90.0, 99.0)


def _bound(v: float) -> float:
    return REL_ERROR * abs(v) + ABS_ERROR_MS + 1e-9


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "bimodal", "tiny", "constant", "few"])
def test_histogram_percentiles_match_numpy_within_bound(dist: str) -> None:
    rng = np.random.default_rng(7)
    values = {"lognormal": rng.lognormal(3.0, 1.0, 20000), "uniform": rng.uniform(0, 500, 5000),
              "bimodal": np.concatenate([rng.normal(20, 2, 3000), rng.normal(900, 50, 300)]).clip(0),
              "tiny": rng.uniform(0, 0.01, 1000), "constant": np.full(100, 42.0),
              "few": np.array([3.0, 250.0, 7.5])}[dist]
    h = LogHistogram()
    for v in values:
        h.add(v)
    for q, got in zip(QS, h.percentiles(QS), strict=False):
        want = float(np.percentile(values, q))
        assert abs(got - want) <= _bound(want), (q, got, want)
    assert h.n == len(values) and math.isclose(h.total / h.n, float(values.mean()), rel_tol=1e-9)


def test_histogram_remove_and_empty() -> None:
    h = LogHistogram()
    assert h.summary() == {"p50": None, "p90": None, "p99": None, "mean": None}
    values = np.arange(1.0, 101.0)
    for v in values:
        h.add(v)
    c = h.copy()
    for v in values[:50]:
        c.remove(v)
    got = c.percentiles(QS)
    for q, g in zip(QS, got, strict=False):
        assert abs(g - np.percentile(values[50:], q)) <= _bound(np.percentile(values[50:], q))
    assert h.n == 100 and c.n == 50  # the copy is independent


def _records(n: int, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if rng.random() < 0.1:
            out.append({"frame": i, "dropped": True, "reason": "overflow" if rng.random() < 0.5 else "stale"})
            continue
        k = int(rng.integers(0, 9))
        skipped = bool(rng.random() < 0.05)
        out.append({"frame": i, "e2e_ms": float(rng.lognormal(4, 0.5)), "gen_ms": float(rng.uniform(0.5, 3)),
                    "sched_ms": None if rng.random() < 0.2 else float(rng.uniform(1, 5)),
                    "agg_ms": float(rng.uniform(0, 1)), "patches": 0 if skipped else k, "skipped": skipped})
    return out


def test_summary_matches_full_records(tmp_path) -> None:
    """The summary from the bounded Stats equals the old list-based computation (percentiles within bound)."""
    records, slo, warmup = _records(3000), 80.0, 5
    stats = Stats(slo_ms=slo)
    rng = np.random.default_rng(4)
    patches = []
    for r in records:
        if r.get("dropped"):
            stats.add_drop(r["frame"], r["reason"])
        else:
            stats.add_frame(r["frame"], r["e2e_ms"], r["gen_ms"], r["sched_ms"], r["agg_ms"], r["patches"],
                            r["skipped"])
            for _ in range(r["patches"]):
                p = {"device": f"server-{rng.integers(0, 3)}", "rtt_ms": float(rng.uniform(5, 50)),
                     "infer_ms": float(rng.uniform(1, 9)), "server_ms": float(rng.uniform(2, 40))}
                p["transfer_ms"] = max(p["rtt_ms"] - p["server_ms"], 0.0)
                patches.append(p)
                stats.add_patch(p["device"], p["rtt_ms"], p["infer_ms"], p["server_ms"], p["transfer_ms"])
    s = summarize(stats, slo, warmup=warmup)
    ran = [f for f in records if not f.get("dropped")]
    timed = ran[warmup:]
    k = [f["patches"] for f in ran if not f["skipped"]]
    assert s["frames"] == len(records) and s["frames_ran"] == len(ran)
    assert s["frames_dropped"] == len(records) - len(ran)
    assert s["counters"]["frames_dropped_overflow"] + s["counters"]["frames_dropped_stale"] == s["frames_dropped"]
    assert s["frames_skipped"] == sum(f["skipped"] for f in ran)
    assert s["slo_misses"] == sum(f["e2e_ms"] > slo for f in ran)
    assert s["warmup_frames"] == warmup
    assert s["patches_per_frame"] == round(float(np.mean(k)), 3)
    assert s["ideal_ratio_4"] == round(float(np.mean([np.ceil(x / 4) / x for x in k if x > 0])), 4)
    assert s["patches_per_device"] == {d: sum(p["device"] == d for p in patches) for d in s["patches_per_device"]}
    groups = {"e2e_ms": [f["e2e_ms"] for f in timed],
              "e2e_ms_inferred_frames": [f["e2e_ms"] for f in timed if f["patches"] > 0],
              "patch_generation": [f["gen_ms"] for f in timed],
              "scheduling": [f["sched_ms"] for f in timed if f["sched_ms"] is not None],
              "aggregation": [f["agg_ms"] for f in timed],
              "transfer_per_patch": [p["transfer_ms"] for p in patches],
              "inference_per_patch": [p["infer_ms"] for p in patches],
              "server_per_patch": [p["server_ms"] for p in patches]}
    for name, values in groups.items():
        got = s[name] if name.startswith("e2e") else s["stages_ms"][name]
        for q in QS:
            want = float(np.percentile(values, q))
            assert abs(got[f"p{q:.0f}"] - want) <= _bound(want) + 0.005, (name, q)  # + the 0.01 ms rounding
        assert got["mean"] == pytest.approx(float(np.mean(values)), abs=0.0051)
    # another SLO than the client's: estimated from the histogram, off by at most the values near it
    near = sum(abs(f["e2e_ms"] - 60.0) <= _bound(60.0) * 2 for f in ran)
    assert abs(summarize(stats, 60.0)["slo_misses"] - sum(f["e2e_ms"] > 60.0 for f in ran)) <= near


def test_warmup_larger_than_all_frames_uses_all_and_too_large_is_a_user_error() -> None:
    stats = Stats()
    for i in range(3):
        stats.add_frame(i, 10.0 * (i + 1), 1.0, None, 0.1, 2)
    s = summarize(stats, 100.0, warmup=5)
    assert s["warmup_frames"] == 3 and s["stages_ms"]["scheduling"]["p50"] is None
    assert abs(s["e2e_ms"]["p50"] - 20.0) <= _bound(20.0) + 0.005 and s["e2e_ms"]["mean"] == 20.0
    for i in range(HEAD_FRAMES + 2):
        stats.add_frame(i, 1.0, 1.0, 1.0, 0.1, 2)
    with pytest.raises(UserError, match="--warmup"):
        summarize(stats, 100.0, warmup=HEAD_FRAMES + 1)


def test_memory_does_not_grow_with_frames() -> None:
    stats = Stats(slo_ms=50.0)
    rng = np.random.default_rng(0)
    e2e = rng.lognormal(3, 1, 20000)

    def feed(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            if i % 10 == 0:
                stats.add_drop(i, "overflow")
                continue
            stats.add_frame(i, float(e2e[i]), 1.0, 2.0, 0.2, 3)
            for d in range(3):
                stats.add_patch(f"server-{d}", 9.0, 3.0, 6.0, 3.0)
            stats.event({"t_s": 0.0, "event": "x", "device": ""})

    tracemalloc.start()
    feed(0, 4000)  # past the head and the recent windows (tracked, so that their turnover nets out)
    before = tracemalloc.take_snapshot()
    feed(4000, 20000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 16 * 1024, grown  # 16 000 more frames, 43 000 more patches: no per-frame growth
    assert stats.frames_total == 20000 and len(stats.recent_frames) <= 256 and len(stats.events) <= 500
    assert summarize(stats, 50.0, warmup=5)["frames"] == 20000
