"""Tables of the cluster experiments (:mod:`factory.report.cluster`), beside their figures
(:mod:`factory.report.cluster_figures`): the end-to-end per-frame table (ParaLoupe vs the frame-level baseline on 4
servers and each device alone), 4 servers vs 1, and loopback vs netns. Pure: the results dict in, a
:class:`factory.report.Table` out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from factory.report import Table
from factory.report.cluster_numbers import (
    FIG22_ORDER,
    SHORT,
    empty_frames,
    fig22_stats,
    fig23_shares,
    fig24_phases,
    fmt,
    frames_text,
    links_text,
    netns_label,
    netns_numbers,
    pct,
    ran_latencies,
    run_ok,
    scale_numbers,
    servers_text,
)


def e2e_table(results: Mapping[str, Any], prefix: str = "fig22-", key: str = "cluster-e2e",
              where: str = "") -> Table:
    """End-to-end per-frame latency (ms) and F1 of the Fig. 22 runs named ``prefix`` + strategy."""
    runs, w = results.get("runs", {}), results.get("warmup", 5)
    rows = []
    for name, label in FIG22_ORDER:
        run = runs.get(prefix + name)
        if not run_ok(run):
            rows.append([label, "–", "not measured", "–", "–", "–", "–", "–", "–", "–"])
            continue
        p = pct(ran_latencies(run, w))
        s = run["summary"]
        f1 = s.get("f1")
        rows.append([label, run["spec"]["mode"], servers_text(run), str(p["n"]), str(empty_frames(run, w)),
                     fmt(p["p50"]), fmt(p["p90"]), fmt(p["p99"]), fmt(s.get("patches_per_frame"), 2),
                     "–" if f1 is None else f"{f1:.3f}"])
    ref = next((runs[prefix + n] for n, _ in FIG22_ORDER if run_ok(runs.get(prefix + n))), None)
    fac = ref["summary"].get("emulation", {}).get("pace_factor") if ref else None
    four = runs.get(prefix + "markov") if run_ok(runs.get(prefix + "markov")) else ref  # its links: all 4 servers
    net = (f"netns cluster (each process in its own network namespace, {links_text(four)})"
           if four and four.get("spec", {}).get("cluster") == "netns" else "loopback cluster")
    caption = (f"End-to-end per-frame latency (capture → aggregated result, ms){where}: ParaLoupe (Markov, "
               f"Uniform) vs the frame-level baseline on 4 emulated servers and each device alone — {net} "
               f"on the 2-core dev VM, devices emulated (slow-down {fmt(fac, 2)}), "
               f"{frames_text(four) if four else '–'}; timed = frames with ≥ 1 patch after the first {w}; F1 from "
               f"--gt on the same frames; a device alone may run the clip's first frames only (steady per-frame load; "
               f"see frames timed)")
    return Table(key, caption, ["configuration", "mode", "servers", "frames timed", "frames w/o patches", "p50",
                                "p90", "p99", "patches/frame", "F1"], rows)


def scale_table(results: Mapping[str, Any]) -> Table:
    """4 servers vs 1 (per-frame end-to-end ms, Markov) against the ideal ceil(K/4)/K."""
    sc = scale_numbers(results)
    header = ["servers", "p50 ms", "p90 ms", "p99 ms", "mean ms", "per-frame ratio (same K)",
              "ideal mean ceil(K/4)/K", "ratio of means", "ideal Σceil(K/4)/ΣK"]
    dev = results.get("scale_device", "raspberry-pi-4b")
    if sc is None:
        return Table("cluster-scale", f"4 × {dev} vs 1 × {dev}: not measured", header, [])
    name = SHORT.get(dev, dev)
    rows = []
    for label, pair in (("SLO 500 ms", sc), ("SLO 250 ms", scale_numbers(results, "scale-4x-rpi-slo250",
                                                                         "scale-1x-rpi-slo250"))):
        if pair is None:
            continue
        rows += [[f"1 × {name}, {label}", fmt(pair["one"]["p50"]), fmt(pair["one"]["p90"]),
                  fmt(pair["one"]["p99"]), fmt(pair["one"]["mean"]), "1", "1", "1", "1"],
                 [f"4 × {name}, {label}", fmt(pair["four"]["p50"]), fmt(pair["four"]["p90"]),
                  fmt(pair["four"]["p99"]), fmt(pair["four"]["mean"]), fmt(pair["ratio_paired"], 3),
                  fmt(pair["ideal"], 3), fmt(pair["ratio_mean"], 3), fmt(pair["ideal_of_means"], 3)]]
    run = results["runs"]["scale-4x-rpi"]
    fac = run["summary"].get("emulation", {}).get("pace_factor")
    caption = (f"4 servers vs 1 doing everything (per-frame end-to-end, Markov, {dev} emulated with slow-down "
               f"{fmt(fac, 2)}, loopback cluster on the 2-core dev VM, {frames_text(run)}, first "
               f"{results.get('warmup', 5)} frames left out): per-frame ratio over the {sc['paired_frames']} frames "
               f"where both runs had the same K (mean K {fmt(sc.get('paired_patches_per_frame'), 2)}) vs the ideal "
               f"ceil(K/4)/K averaged over them; whole-run ratio of means (K = {sc['patches_per_frame']:.2f} "
               f"patches per frame on 4 servers) vs Σceil(K/4)/ΣK. Above the ideal = per-frame work that does not "
               f"parallelise (patch generation, scheduling, transfer, aggregation) — or, at the 500 ms SLO, Markov "
               f"packing several patches on one server because the frame still meets its SLO (it maximises accuracy "
               f"within the SLO, not speed); the 250 ms pair forces it to spread them")
    return Table("cluster-scale", caption, header, rows)


def netns_skip_text(reason: str) -> str:
    """The one line in the report when the netns variant was asked for but namespaces cannot be made."""
    from factory.report.cluster_netns import netns_skip_line

    return netns_skip_line(reason)


def netns_compare_table(results: Mapping[str, Any], prefix: str = "netns-") -> Table:
    """Loopback vs netns, side by side: Fig. 22 mean and p50 per strategy, Fig. 23 share of the high-cost server,
    Fig. 24 p50 and drops per phase."""
    ns = netns_numbers(results, prefix) or {}
    lo22, ns22 = fig22_stats(results), ns.get("fig22", {})
    rows = []
    for name, label in FIG22_ORDER:
        a, b = lo22.get(name), ns22.get(name)
        for stat in ("mean", "p50"):
            va, vb = (a or {}).get(stat), (b or {}).get(stat)
            rows.append([f"Fig. 22 {label}, {stat} ms", fmt(va), fmt(vb),
                         fmt(vb / va, 2) if va and vb is not None else "–"])
    lo23, ns23 = fig23_shares(results), fig23_shares(results, prefix + "fig23-cost")
    for half in ("share_high", "share_low"):
        va, vb = (lo23 or {}).get(half), (ns23 or {}).get(half)
        what = "while its cost was high" if half == "share_high" else "after"
        rows.append([f"Fig. 23 share of the high-cost server's patches {what}, %",
                     fmt(None if va is None else 100 * va, 0), fmt(None if vb is None else 100 * vb, 0), "–"])
    lo24 = {p["servers"]: p for p in fig24_phases(results)}
    ns24 = {p["servers"]: p for p in fig24_phases(results, prefix + "fig24-kill")}
    for n in sorted(set(lo24) | set(ns24), reverse=True):
        a, b = lo24.get(n, {}), ns24.get(n, {})
        rows.append([f"Fig. 24 {n} server(s) up: p50 ms (dropped/frames)",
                     f"{fmt(a.get('p50'), 0)} ({a.get('dropped', '–')}/{a.get('frames', '–')})",
                     f"{fmt(b.get('p50'), 0)} ({b.get('dropped', '–')}/{b.get('frames', '–')})",
                     fmt(b["p50"] / a["p50"], 2) if a.get("p50") and b.get("p50") is not None else "–"])
    runs = results.get("runs", {})
    ref = runs.get(prefix + "fig22-markov") if run_ok(runs.get(prefix + "fig22-markov")) else \
        next((r for n, r in sorted(runs.items()) if n.startswith(prefix) and run_ok(r)), None)
    caption = (f"Loopback vs {netns_label(results)}: the same Fig. 22–24 runs (same frames, pace factor and "
               f"schedules), once on loopback and once with every process in its own network namespace; "
               f"{links_text(ref) if ref else 'links not reported'}"
               + (f"; failed netns runs: {', '.join(ns['failed'])}" if ns.get("failed") else ""))
    return Table("cluster-netns-vs-loopback", caption, ["quantity", "loopback", "netns", "netns / loopback"], rows)
