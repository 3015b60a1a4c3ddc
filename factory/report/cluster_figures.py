"""Figures and tables of the cluster experiments (:mod:`factory.report.cluster`): Fig. 22 (per-frame latency
CDF per scheduling strategy), Fig. 23 (patches per device while one device's cost is high), Fig. 24 (latency
over frames while servers are disconnected) and the end-to-end per-frame tables (ParaLoupe vs the frame-level
baseline on 4 servers; 4 servers vs 1). With the netns variant in the results (runs ``netns-*``), Fig. 22–24 and
the end-to-end table again from those runs, right after the loopback ones, labelled
"netns, 300 Mbit/s tbf links, emulated devices", and a loopback-vs-netns table of the headline numbers.

Pure apart from writing PNGs (matplotlib, Agg): works on the results dict alone, so tests feed it synthetic
results. A run that failed or is missing leaves its curve out and the reading says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from factory.report import Figure, Table
from factory.report.cluster_numbers import (
    FIG22_ORDER,
    PAPER,
    SHORT,
    empty_frames,
    fig22_stats,
    fig23_shares,
    fig24_phases,
    fmt,
    frames_text,
    high_cost_server,
    kill_frames,
    links_text,
    measured_text,
    netns_label,
    netns_numbers,
    pct,
    ran_latencies,
    run_ok,
    scale_numbers,
    servers_text,
)
from runtime.atomic import atomic_path

LOOPBACK_TAG = "loopback, emulated devices"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(out_dir: Path, key: str, rel_to: Path | None) -> tuple[Path, str]:
    path = out_dir / f"{key}.png"
    return path, os.path.relpath(path, rel_to or out_dir)


def plot_fig22(results: Mapping[str, Any], out_dir: Path, rel_to: Path | None = None,
               prefix: str = "fig22-", key: str = "fig22", where: str = "", tag: str = LOOPBACK_TAG) -> Figure:
    runs, w = results.get("runs", {}), results.get("warmup", 5)
    stats = fig22_stats(results, prefix)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    for name, label in FIG22_ORDER:
        run = runs.get(prefix + name)
        if not run_ok(run):
            continue
        lat = np.sort(np.asarray(ran_latencies(run, w)))
        if lat.size == 0:
            continue
        ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post",
                label=f"{label}: p50 {stats[name]['p50']:.0f} ms")
    ax.set_xscale("log")
    ax.set_xlabel("per-frame end-to-end latency, ms (log)")
    ax.set_ylabel("CDF of frames")
    ax.set_title(f"Fig. 22 — per-frame latency per scheduling strategy{where}\n({tag})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path, rel = _png(out_dir, key, rel_to)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    missing = [label for name, label in FIG22_ORDER if name not in stats]
    empty = {label: empty_frames(runs[prefix + name], w) for name, label in FIG22_ORDER if name in stats}
    parts = [f"{label} {stats[name]['mean']:.0f}" for name, label in FIG22_ORDER if name in stats]
    paper = PAPER["fig22_mean_ms"]
    reading = ("mean per-frame latency, ms: " + ", ".join(parts) +
               f" (paper: Uniform {paper['uniform']:.0f}, YOLOv7 frame-level {paper['baseline']:.0f}, "
               f"Markov {paper['markov']:.0f})")
    if {"markov", "uniform"} <= set(stats):
        faster = "below" if stats["markov"]["mean"] < stats["uniform"]["mean"] else "above"
        reading += f"; Markov is {faster} Uniform here"
    if missing:
        reading += f"; not measured: {', '.join(missing)}"
    if any(empty.values()):
        reading += "; frames without patches left out: " + ", ".join(f"{k} {v}" for k, v in empty.items() if v)
    used = [runs.get(prefix + n) for n, _ in FIG22_ORDER]
    return Figure(key, f"Fig. 22 — per-frame latency with different scheduling strategies{where} ({tag})", rel,
                  reading,
                  measured_text([r for r in used if r], w, "; 4-server runs: " +
                                (servers_text(runs[prefix + "markov"]) if run_ok(runs.get(prefix + "markov"))
                                 else "–")))


def plot_fig23(results: Mapping[str, Any], out_dir: Path, rel_to: Path | None = None, prefix: str = "",
               key: str = "fig23", tag: str = LOOPBACK_TAG) -> Figure:
    name = prefix + "fig23-cost"
    run = results.get("runs", {}).get(name)
    w = results.get("warmup", 5)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    path, rel = _png(out_dir, key, rel_to)
    title = f"Fig. 23 — patches dispatched to each device (one device's cost high for the first half) ({tag})"
    if not run_ok(run) or not run.get("schedule"):
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120)
        plt.close(fig)
        why = (run or {}).get("error") or "no schedule log"
        return Figure(key, title, rel, f"not measured: {why}", measured_text([], w))
    sched = sorted(run["schedule"], key=lambda r: r["frame"])
    frames = np.array([r["frame"] for r in sched])
    servers = run["summary"].get("emulation", {}).get("servers") or {}
    names = sorted(set(servers) | {d for r in sched for d in r["per_device"]})
    total = sum(r["patches"] for r in sched)
    server_hi = high_cost_server(results, run)
    for s in names:
        cum = np.cumsum([r["per_device"].get(s, 0) for r in sched]) / max(total, 1)
        style = {"linewidth": 2.5} if s == server_hi else {}
        ax.plot(frames, cum, label=f"{s} ({SHORT.get(servers.get(s, ''), servers.get(s, '?'))})", **style)
    if server_hi:
        high = frames[[r["costs"].get(server_hi, 0.0) > 0 for r in sched]]
        if high.size:
            ax.axvspan(high.min(), high.max(), color="red", alpha=0.08,
                       label=f"{server_hi} cost c = {results.get('high_cost', 1.0):g}")
    ax.set_xlabel("frame")
    ax.set_ylabel("cumulative patches / all patches")
    ax.set_title(title.replace(" (", "\n("), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    sh = fig23_shares(results, name)
    if sh and sh["share_high"] is not None and sh["share_low"] is not None:
        reading = (f"{sh['server']} ({SHORT.get(sh['device'], sh['device'])}) got {100 * sh['share_high']:.0f}% of "
                   f"the patches while its cost was {results.get('high_cost', 1.0):g} (frames {sh['frames_high'][0]}–"
                   f"{sh['frames_high'][1]}) and {100 * sh['share_low']:.0f}% after it dropped to 0; per-device "
                   f"totals {dict(sorted(_device_totals(sched).items()))} (paper: the high-cost XiaoMi gets "
                   f"fewer patches in the first half, more after)")
    else:
        reading = "the cost window did not overlap the scheduled frames (see the schedule log)"
    g = run["summary"].get("experiment", {})
    extra = (f"; Markov, SLO {run['summary'].get('slo_ms', '?')} ms, γ = 0.1; cost schedule "
             f"{', '.join(g.get('cost_schedule', []))} (seconds since the client's start), the master's decisions "
             f"per frame from --schedule-log")
    return Figure(key, title, rel, reading, measured_text([run], w, extra))


def _device_totals(sched: list[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in sched:
        for d, c in r["per_device"].items():
            out[d] = out.get(d, 0) + int(c)
    return out


def plot_fig24(results: Mapping[str, Any], out_dir: Path, rel_to: Path | None = None, prefix: str = "",
               key: str = "fig24", tag: str = LOOPBACK_TAG) -> Figure:
    name = prefix + "fig24-kill"
    run = results.get("runs", {}).get(name)
    w = results.get("warmup", 5)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    path, rel = _png(out_dir, key, rel_to)
    title = f"Fig. 24 — end-to-end latency as servers are disconnected one by one ({tag})"
    if not run_ok(run):
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120)
        plt.close(fig)
        return Figure(key, title, rel, f"not measured: {(run or {}).get('error', 'missing run')}",
                      measured_text([], w))
    f = run["frames"]
    fr = np.array(f["frame"])
    lat = np.array([np.nan if x is None else x for x in f["latency_ms"]], dtype=np.float64)
    empty = np.array([x is not None and not k for x, k in zip(f["latency_ms"], f["patches"], strict=False)], dtype=bool)
    ax.plot(fr[~empty], lat[~empty], marker=".", markersize=3, linewidth=0.8, label="per-frame latency")
    if empty.any():
        ax.plot(fr[empty], lat[empty], "o", markerfacecolor="none", color="grey", markersize=4,
                label="frame without patches")
    ran = fr[np.isfinite(lat)]
    if ran.size > w > 0:
        ax.axvspan(fr[0] - 0.5, ran[w - 1] + 0.5, color="grey", alpha=0.12, label="warm-up (left out)")
    dropped = fr[np.array(f["dropped"], dtype=bool)]
    top = np.nanmax(lat) * 1.3 if np.isfinite(lat).any() else 1000.0
    if dropped.size:
        ax.plot(dropped, np.full(dropped.size, top), "x", color="red", markersize=4,
                label=f"dropped frames ({dropped.size})")
    for dev, k in kill_frames(run):
        ax.axvline(k, color="grey", linestyle="--", linewidth=1)
        ax.text(k, top * 0.75, f" {SHORT.get(dev, dev)} off", rotation=90, va="top", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("frame")
    ax.set_ylabel("end-to-end latency, ms (log)")
    ax.set_title(title.replace(" (", "\n(", 1), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    phases = fig24_phases(results, name)
    parts = [f"{p['servers']} up: p50 {fmt(p['p50'], 0)} ms, max {fmt(p['max'], 0)} ms, {p['dropped']}/{p['frames']} "
             f"dropped" for p in phases]
    reading = "; ".join(parts) + f" (paper: {PAPER['fig24']})"
    g = run["summary"].get("experiment", {})
    kills = ", ".join(f"{k['server']} ({SHORT.get(k['device'], k['device'])}) at {k['t_s']:.1f} s"
                      for k in g.get("kills", []))
    c = run["summary"].get("counters", {})
    extra = (f"; kill -9 of {kills or 'no server'} after the client's start; client queue "
             f"{run['summary'].get('frames_dropped', 0)} frames dropped (overflow/stale), "
             f"{c.get('local_patches', 0)} patches inferred locally, {c.get('servers_removed', 0)} removals")
    return Figure(key, title, rel, reading, measured_text([run], w, extra))


def e2e_table(results: Mapping[str, Any], prefix: str = "fig22-", key: str = "cluster-e2e",
              where: str = "") -> Table:
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


def cluster_figures(results: Mapping[str, Any], out_dir: str | Path,
                    rel_to: str | Path | None = None) -> tuple[list[Figure], list[Table | str]]:
    """Write fig22/23/24 PNGs into ``out_dir`` (paths in the records relative to ``rel_to``, default
    ``out_dir``) and build the end-to-end tables; with netns runs in ``results`` also their fig22/23/24-netns
    beside each, their end-to-end table and a loopback-vs-netns table; with the variant asked for but skipped,
    one line saying why."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rel = Path(rel_to) if rel_to is not None else None
    runs = results.get("runs", {})
    ns = results.get("netns") or {}
    prefix = ns.get("prefix") or "netns-"
    netns = any(n.startswith(prefix) for n in runs)
    figures: list[Any] = []
    for plot, key in ((plot_fig22, "fig22"), (plot_fig23, "fig23"), (plot_fig24, "fig24")):
        figures.append(plot(results, out, rel))
        if netns:  # the netns variant right beside its loopback figure
            tag = netns_label(results)
            figures.append(plot_fig22(results, out, rel, prefix=prefix + "fig22-", key="fig22-netns", tag=tag)
                           if key == "fig22" else plot(results, out, rel, prefix=prefix, key=f"{key}-netns", tag=tag))
    tables: list[Any] = [e2e_table(results)]
    if netns:
        tables += [e2e_table(results, prefix=prefix + "fig22-", key="cluster-e2e-netns",
                             where=f" ({netns_label(results)})"), netns_compare_table(results, prefix)]
    elif ns.get("skipped"):
        tables.append(netns_skip_text(ns["skipped"]))
    elif ns and not ns.get("requested"):
        tables.append("netns variant of Fig. 22–24 (300 Mbit/s tbf links): not run — `paraloupe-report --netns` "
                      "(as root) runs it.")
    tables.append(scale_table(results))
    if any(n.startswith("real-fig22-") for n in runs):
        figures.append(plot_fig22(results, out, rel, prefix="real-fig22-", key="fig22-real",
                                  where=" on the real video"))
        tables.append(e2e_table(results, prefix="real-fig22-", key="cluster-e2e-real", where=" on the real video"))
    return figures, tables
