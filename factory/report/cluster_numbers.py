"""Numbers behind the cluster figures (pure: run summaries and per-frame columns in, floats and dicts out):
Fig. 22 latency percentiles, the 4-vs-1 ratio against its ideal, Fig. 23 shares, Fig. 24 phases, and the
headline numbers for the report's metrics. :mod:`factory.report.cluster_figures` draws and tabulates them."""


from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

PAPER = {"fig22_mean_ms": {"uniform": 80.0, "baseline": 345.0, "markov": 141.0},
         "fig24": "about 100 ms while ≥ 2 servers are up, rising to about 6 s with one RPi left"}
SHORT = {"jetson-xavier-nx": "Jetson", "raspberry-pi-4b": "RPi", "snapdragon-732g": "Phone", "host": "host"}
FIG22_ORDER = [("single-jetson-xavier-nx", "Jetson alone"), ("single-raspberry-pi-4b", "RPi alone"),
               ("single-snapdragon-732g", "Phone alone"), ("uniform", "Uniform (4 servers)"),
               ("baseline", "Frame-level baseline (4 servers)"), ("markov", "Markov (4 servers)")]


# ---------------------------------------------------------------------------------------------- numbers

def run_ok(run: Mapping[str, Any] | None) -> bool:
    return bool(run) and not run.get("error") and bool(run.get("frames", {}).get("frame"))


def ran_latencies(run: Mapping[str, Any], warmup: int) -> list[float]:
    """Per-frame end-to-end latencies (ms) of the frames that ran (not dropped) after the first ``warmup`` ran
    frames, and that had at least one patch to infer (a frame without patches — nothing to look at — takes
    1–2 ms and would only measure the patch generator)."""
    f = run["frames"]
    ran = [(lat, k) for lat, k in zip(f["latency_ms"], f["patches"], strict=False) if lat is not None]
    return [lat for lat, k in ran[warmup:] if k]


def empty_frames(run: Mapping[str, Any], warmup: int) -> int:
    """Frames left out of :func:`ran_latencies` for having no patch."""
    f = run["frames"]
    ran = [k for lat, k in zip(f["latency_ms"], f["patches"], strict=False) if lat is not None]
    return sum(1 for k in ran[warmup:] if not k)


def pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def ideal_ratio(patches: list[Any], servers: int) -> float | None:
    """Mean over frames with K ≥ 1 patches of ceil(K / servers) / K: the per-frame latency ratio n servers vs
    one if patches took equal time and nothing else cost anything."""
    ks = [int(k) for k in patches if k]
    return float(np.mean([math.ceil(k / servers) / k for k in ks])) if ks else None


def fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def servers_text(run: Mapping[str, Any]) -> str:
    servers = run.get("summary", {}).get("emulation", {}).get("servers") or {}
    if not servers:
        devices = run["spec"]["devices"]
        servers = {f"server-{i}": devices[i % len(devices)] for i in range(run["spec"]["n"])}
    return ", ".join(f"{s} {d}" for s, d in servers.items())


def frames_text(run: Mapping[str, Any]) -> str:
    spec = run["spec"]
    f = run["frames"]
    ran = sum(1 for d in f["dropped"] if not d)
    drop = len(f["dropped"]) - ran
    rng = spec["frames"] or "all"
    video = Path(spec["video"]).parent.name if Path(spec["video"]).name == "video.mp4" else Path(spec["video"]).name
    how = f"offered at {spec['offer_fps']:g} fps (camera-like)" if spec["offer_fps"] else "as fast as served"
    return f"{video} frames {rng} ({ran} ran, {drop} dropped), {how}"


def is_netns(run: Mapping[str, Any] | None) -> bool:
    """Whether ``run`` ran on ``--cluster netns:N`` (its spec says so)."""
    return bool(run) and (run.get("spec") or {}).get("cluster") == "netns"


def rate_text(link: str | None) -> str:
    """``300mbit`` → ``300 Mbit/s`` (other spellings as given)."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(k|m|g)?bit\s*", (link or "").lower())
    if not m:
        return link or "?"
    unit = {"k": "kbit/s", "m": "Mbit/s", "g": "Gbit/s"}.get(m.group(2) or "", "bit/s")
    return f"{float(m.group(1)):g} {unit}"


def netns_label(results: Mapping[str, Any]) -> str:
    """The netns variant's label: ``netns, 300 Mbit/s tbf links, emulated devices``."""
    link = (results.get("netns") or {}).get("link") or "300mbit"
    return f"netns, {rate_text(link)} tbf links, emulated devices"


def links_text(run: Mapping[str, Any]) -> str:
    """``server-0 300/291.2, ...  Mbit/s shaped/measured`` from a netns run's summary (``network.links``)."""
    links = (run.get("summary", {}).get("network") or {}).get("links") or {}
    parts = [f"{name} {fmt(link.get('shaped_mbit'), 0)}/{fmt(link.get('measured_mbit'), 1)}"
             for name, link in sorted(links.items()) if link.get("shaped_mbit") is not None]
    return (", ".join(parts) + " Mbit/s shaped/measured by the bandwidth profiler") if parts else "links not reported"


def measured_text(runs: list[Mapping[str, Any]], warmup: int, extra: str = "") -> str:
    """The Figure's ``measured`` line: machine, cluster, emulated devices and slow-down, frames used."""
    runs = [r for r in runs if run_ok(r)]
    if not runs:
        return "not measured: every run of this figure failed or is missing"
    s0 = runs[0]["summary"]
    machine = s0.get("machine", "this host")
    factors = sorted({r["summary"].get("emulation", {}).get("pace_factor") for r in runs} - {None})
    fac = (f"{factors[0]:g}" if len(factors) == 1 else f"{min(factors):g}–{max(factors):g} (measured per run)") \
        if factors else "?"
    if any(r["summary"].get("emulation", {}).get("pace_factor_given") for r in runs):
        fac += " for every run (the bundle's host/device latency ratio with head-room)"
    served = overruns = 0
    for r in runs:
        totals = r["summary"].get("emulation", {}).get("server_counters", {}).get("totals", {})
        served, overruns = served + int(totals.get("served", 0)), overruns + int(totals.get("overruns", 0))
    if served:
        fac += (f"; {overruns} of {served} replies were computed later than the paced device time "
                f"(host busier than the head-room)")
    devices = sorted({d for r in runs for d in r["spec"]["devices"]})
    frames = "; ".join(sorted({frames_text(r) for r in runs}))
    if any(is_netns(r) for r in runs):
        net = next(r for r in runs if is_netns(r))
        cluster = (f"netns cluster (`--cluster netns:N --link {net['spec'].get('link') or 'default'}`): client, "
                   f"master and N server processes each in its own network namespace, server links tbf-shaped in "
                   f"both directions, no added delay or loss (no netem here); {links_text(net)}; 1 ncnn thread "
                   f"each")
    else:
        cluster = "local loopback cluster: client + master + N server processes, 1 ncnn thread each"
    return (f"2-core dev VM ({machine}), other work beside it; {cluster}; servers emulate "
            f"{', '.join(devices)} (emulated, not measured on the devices: replies paced to the bundle profile × "
            f"the common slow-down factor {fac}; real inference runs on this host); {frames}; statistics over the "
            f"frames with ≥ 1 patch after the first {warmup} ran frames{extra}")


def fig22_stats(results: Mapping[str, Any], prefix: str = "fig22-") -> dict[str, dict[str, Any]]:
    runs, w = results.get("runs", {}), results.get("warmup", 5)
    return {key: pct(ran_latencies(runs[prefix + key], w)) for key, _ in FIG22_ORDER if run_ok(runs.get(prefix + key))}


def scale_numbers(results: Mapping[str, Any], four_name: str = "scale-4x-rpi",
                  one_name: str | None = None) -> dict[str, Any] | None:
    """4 × device vs 1 × device (same frames, Markov). Two comparisons:

    - per frame: mean of latency(4) / latency(1) over the frames where both runs had the same K ≥ 1 patches,
      against the ideal mean of ceil(K/4)/K over those frames (the brief's basis);
    - whole run: mean latency(4) / mean latency(1), against Σ ceil(K/4) / Σ K (the ideal for a ratio of means).
    """
    runs, w = results.get("runs", {}), results.get("warmup", 5)
    dev = results.get("scale_device", "raspberry-pi-4b")
    four = runs.get(four_name)
    one = runs.get(one_name) if one_name else (runs.get("scale-1x-rpi") or runs.get(f"fig22-single-{dev}"))
    if not (run_ok(four) and run_ok(one)):
        return None
    p4, p1 = pct(ran_latencies(four, w)), pct(ran_latencies(one, w))
    if not p4["n"] or not p1["n"]:
        return None

    def by_frame(run: Mapping[str, Any]) -> dict[int, tuple[float, int]]:
        f = run["frames"]
        rows = [(fr, lat, k) for fr, lat, k in zip(f["frame"], f["latency_ms"], f["patches"], strict=False)
                if lat is not None and k]
        return {fr: (lat, int(k)) for fr, lat, k in rows[w:]}

    a, b = by_frame(four), by_frame(one)
    same = [fr for fr in a if fr in b and a[fr][1] == b[fr][1]]
    k4 = [k for _, k in a.values()]
    out = {"device": dev, "four": p4, "one": p1, "ratio_mean": p4["mean"] / p1["mean"],
           "ratio_p50": p4["p50"] / p1["p50"], "ideal_of_means": (sum(math.ceil(k / 4) for k in k4) / sum(k4))
           if k4 else None, "patches_per_frame": float(np.mean(k4)) if k4 else 0.0, "paired_frames": len(same),
           "ratio_paired": None, "ideal": None}
    if same:
        out["ratio_paired"] = float(np.mean([a[fr][0] / b[fr][0] for fr in same]))
        out["ideal"] = ideal_ratio([a[fr][1] for fr in same], 4)
        out["paired_patches_per_frame"] = float(np.mean([a[fr][1] for fr in same]))
    return out


def netns_numbers(results: Mapping[str, Any], prefix: str = "netns-") -> dict[str, Any] | None:
    """The netns variant's Fig. 22–24 numbers (as :func:`cluster_numbers`' loopback ones) and its links (shaped vs
    measured Mbit/s); None when no netns run is in ``results``."""
    runs = results.get("runs", {})
    if not any(name.startswith(prefix) for name in runs):
        return None
    out: dict[str, Any] = {"label": netns_label(results), "fig22": fig22_stats(results, prefix + "fig22-")}
    phases = fig24_phases(results, prefix + "fig24-kill")
    if phases:
        out["fig24"] = [{k: p[k] for k in ("servers", "p50", "dropped", "frames")} for p in phases]
    share = fig23_shares(results, prefix + "fig23-cost")
    if share:
        out["fig23"] = share
    ref = next((r for n, r in sorted(runs.items()) if n.startswith(prefix) and run_ok(r)
                and (r["summary"].get("network") or {}).get("links")), None)
    if ref:
        out["links"] = {name: {k: link.get(k) for k in ("shaped_mbit", "measured_mbit")}
                        for name, link in ref["summary"]["network"]["links"].items()
                        if link.get("shaped_mbit") is not None}
    failed = sorted(n for n, r in runs.items() if n.startswith(prefix) and not run_ok(r))
    if failed:
        out["failed"] = failed
    return out


def cluster_numbers(results: Mapping[str, Any]) -> dict[str, Any]:
    """Headline numbers (plain floats) for the report's metrics: Fig. 22 per-frame percentiles per strategy,
    the 4-vs-1 ratio, Fig. 24 per-phase medians; under ``netns`` the netns variant's (or why it was skipped)."""
    out: dict[str, Any] = {"fig22": fig22_stats(results)}
    sc = scale_numbers(results)
    if sc:
        out["scale"] = {k: sc[k] for k in ("device", "ratio_paired", "ideal", "paired_frames", "ratio_mean",
                                           "ideal_of_means", "ratio_p50", "patches_per_frame")}
    tight = scale_numbers(results, "scale-4x-rpi-slo250", "scale-1x-rpi-slo250")
    if tight:
        out["scale_slo250"] = {k: tight[k] for k in ("ratio_paired", "ideal", "paired_frames", "ratio_mean",
                                                     "ideal_of_means", "ratio_p50", "patches_per_frame")}
    phases = fig24_phases(results)
    if phases:
        out["fig24"] = [{k: p[k] for k in ("servers", "p50", "dropped", "frames")} for p in phases]
    share = fig23_shares(results)
    if share:
        out["fig23"] = share
    ns = netns_numbers(results)
    if ns:
        out["netns"] = ns
    elif (results.get("netns") or {}).get("skipped"):
        out["netns"] = {"skipped": results["netns"]["skipped"]}
    return out


# ---------------------------------------------------------------------------------------------- fig 23/24 data

def high_cost_server(results: Mapping[str, Any], run: Mapping[str, Any]) -> str | None:
    device = results.get("cost_device")
    servers = run.get("summary", {}).get("emulation", {}).get("servers") or {}
    for s, d in servers.items():
        if d == device:
            return s
    return None


def fig23_shares(results: Mapping[str, Any], name: str = "fig23-cost") -> dict[str, Any] | None:
    """Share of the patches that the cost device's server got while its cost was high and after."""
    run = results.get("runs", {}).get(name)
    if not run_ok(run) or not run.get("schedule"):
        return None
    server = high_cost_server(results, run)
    if server is None:
        return None
    high = [r for r in run["schedule"] if r["costs"].get(server, 0.0) > 0]
    low = [r for r in run["schedule"] if r["costs"].get(server, 0.0) <= 0]

    def share(rows: list[dict[str, Any]]) -> float | None:
        total = sum(r["patches"] for r in rows)
        return sum(r["per_device"].get(server, 0) for r in rows) / total if total else None

    return {"server": server, "device": results.get("cost_device"), "share_high": share(high),
            "share_low": share(low), "frames_high": [min((r["frame"] for r in high), default=None),
                                                     max((r["frame"] for r in high), default=None)],
            "frames_scheduled": len(run["schedule"])}


def kill_frames(run: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(device, frame index at the kill): the camera clock (first frame + seconds × fps) for offered frames,
    else the last frame emitted by then."""
    spec = run["spec"]
    start = int((spec["frames"] or "0:").split(":")[0] or 0)
    kills = run.get("summary", {}).get("experiment", {}).get("kills", [])
    out = []
    for k in kills:
        if spec["offer_fps"]:
            out.append((k["device"], start + k["t_s"] * spec["offer_fps"]))
        elif k.get("after_frame") is not None:
            out.append((k["device"], float(k["after_frame"])))
    return out


def fig24_phases(results: Mapping[str, Any], name: str = "fig24-kill") -> list[dict[str, Any]]:
    """Per phase between kills: servers up, frames, dropped, p50/mean per-frame latency."""
    run = results.get("runs", {}).get(name)
    if not run_ok(run):
        return []
    w = results.get("warmup", 5)
    f = run["frames"]
    n = run["spec"]["n"]
    edges = [-math.inf] + [fr for _, fr in kill_frames(run)] + [math.inf]
    first = f["frame"][0]
    phases = []
    for i in range(len(edges) - 1):
        idx = [j for j, fr in enumerate(f["frame"]) if edges[i] <= fr < edges[i + 1] and fr >= first + w]
        lat = [f["latency_ms"][j] for j in idx if f["latency_ms"][j] is not None and f["patches"][j]]
        p = pct(lat)
        phases.append({"servers": n - i, "frames": len(idx), "dropped": sum(1 for j in idx if f["dropped"][j]),
                       "p50": p["p50"], "mean": p["mean"], "max": max(lat) if lat else None})
    return phases


# ---------------------------------------------------------------------------------------------- plots

