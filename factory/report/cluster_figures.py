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
    high_cost_server,
    kill_frames,
    measured_text,
    netns_label,
    ran_latencies,
    run_ok,
    servers_text,
)
from factory.report.cluster_tables import e2e_table, netns_compare_table, netns_skip_text, scale_table
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
