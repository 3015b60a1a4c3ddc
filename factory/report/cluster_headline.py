"""The cluster runs of the report's per-frame headline table (:mod:`factory.report.headline`): every method on
two emulated clusters, one clip per video of ``evaluate.headline.cluster_videos``.

- ``rpi4`` — the comparison cluster (CONVENTIONS: 4 × ``raspberry-pi-4b``), pace factor F = 1 (the RPi profile
  is slower than this host for every model, so no slow-down is needed), SLO ``headline.slo_ms``;
- ``mixed`` — the paper's mixed cluster (Jetson, phone, 2 × RPi), the report's common pace factor F (> 1: the
  Jetson's profile is faster than this host), SLO ``headline.slo_ms`` × F; its latencies are brought back to
  device time as CONVENTIONS says: divided by F (which shrinks a patch mode's host-side work — patch
  generation, scheduling, aggregation, H — by F too: H is kept in the results beside the undivided p50, and
  the caption names it).

Run names: ``head-<cluster>-<video>-<method>``; methods: ``baseline-<side>`` for every ``baseline_sizes`` side
(``--mode baseline --baseline-side S``), ``sahi-<side>`` (``--baseline-side headline.sahi_side``) and the other
modes by name. A run whose arguments equal another's (the 4 × RPi ParaLoupe run and ``scale-4x-rpi-slo250``) runs
once (:func:`factory.report.cluster.run_cluster_experiments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from factory.report.cluster import CLUSTER_DEVICES, RunSpec
from factory.report.cluster_numbers import pct, ran_latencies, run_ok
from runtime.modes import Mode

PREFIX = "head-"
RPI4 = ("raspberry-pi-4b",)  # cycled over 4 servers
CLUSTERS = ("rpi4", "mixed")
LABELS = {"rpi4": "4 × RPi", "mixed": "mixed (Jetson, phone, 2 × RPi)"}


def method_names(baseline_sizes: Sequence[int], modes: Sequence[str], sahi_side: int) -> list[tuple[str, Mode,
                                                                                                       int | None]]:
    """``(name, mode, baseline side or None)`` of every headline method, in the table's order."""
    out: list[tuple[str, Mode, int | None]] = [(f"baseline-{s}", Mode.BASELINE, s) for s in baseline_sizes]
    for m in modes:
        mode = Mode(m)
        out.append((f"sahi-{sahi_side}", mode, sahi_side) if mode is Mode.SAHI else (str(mode), mode, None))
    return out


def plan_headline(videos: Sequence[Mapping[str, Any]], params: Any, pace_factor: float | None) -> list[RunSpec]:
    """The headline runs: ``videos`` are the cluster clips' records (``name``, ``video``, ``annotations``);
    ``params`` the ``evaluate`` params (``headline``, ``baseline_sizes``); ``pace_factor`` the mixed cluster's F
    (None: each run measures its own, and the SLO is not scaled)."""
    h = params.headline
    methods = method_names(params.baseline_sizes, h.modes, h.sahi_side)
    f = pace_factor or 1.0
    specs = []
    for v in videos:
        if v["name"] not in h.cluster_videos:
            continue
        for name, mode, side in methods:
            specs.append(RunSpec(f"{PREFIX}rpi4-{v['name']}-{name}", v["video"], 4, RPI4, h.clip_frames,
                                 v["annotations"], mode=mode, baseline_side=side, pace_factor=1.0, slo_ms=h.slo_ms))
            specs.append(RunSpec(f"{PREFIX}mixed-{v['name']}-{name}", v["video"], 4, CLUSTER_DEVICES, h.clip_frames,
                                 v["annotations"], mode=mode, baseline_side=side, pace_factor=pace_factor,
                                 slo_ms=h.slo_ms * f))
    return specs


def headline_latency(results: Mapping[str, Any]) -> dict[str, Any]:
    """Per method, cluster and clip video: per-frame end-to-end p50 / p90 / mean (ms, device time), the undivided
    p50, F, frames timed, the clip's F1 from the run's ``--gt`` and the servers' replies (``served``) of which
    ``overruns`` were computed later than their paced device time (the host too busy to emulate the device) —
    ``{method: {cluster: {video: {...}}}}``; failed runs give ``{"error": ...}``."""
    warmup = int(results.get("warmup", 5))
    out: dict[str, Any] = {}
    for name, run in (results.get("runs") or {}).items():
        if not name.startswith(PREFIX):
            continue
        cluster, rest = name[len(PREFIX):].split("-", 1)
        video = next((v for v in _videos(results) if rest.startswith(v + "-")), None)
        if cluster not in CLUSTERS or video is None:
            continue
        method = rest[len(video) + 1:]
        cell: dict[str, Any]
        if not run_ok(run):
            cell = {"error": run.get("error") or "no frames"}
        else:
            s = run["summary"]
            f = float(s.get("emulation", {}).get("pace_factor") or 1.0)
            lat = ran_latencies(run, warmup)
            host = host_stages_ms(s) if f > 1.0 else 0.0
            dev = pct([device_time(x, f) for x in lat])
            totals = s.get("emulation", {}).get("server_counters", {}).get("totals", {})
            cell = {"p50": dev["p50"], "p90": dev["p90"], "mean": dev["mean"], "n": dev["n"], "pace_factor": f,
                    "served": int(totals.get("served", 0)), "overruns": int(totals.get("overruns", 0)),
                    "host_stages_ms": round(host, 2), "p50_paced": pct(lat)["p50"], "f1_clip": s.get("f1"),
                    "patches_per_frame": s.get("patches_per_frame"), "slo_ms": s.get("slo_ms"),
                    "frames": run["spec"].get("frames")}
        out.setdefault(method, {}).setdefault(cluster, {})[video] = cell
    return out


HOST_STAGES = ("patch_generation", "scheduling", "aggregation")  # the summary's stages no device paces


def host_stages_ms(summary: Mapping[str, Any]) -> float:
    """A run's host-side time per frame (ms): the sum of the p50s of :data:`HOST_STAGES` in its summary."""
    stages = summary.get("stages_ms") or {}
    return float(sum((stages.get(k) or {}).get("p50") or 0.0 for k in HOST_STAGES))


def device_time(latency_ms: float, pace_factor: float) -> float:
    """A paced run's per-frame latency (ms) in device time (CONVENTIONS: divided by the pace factor)."""
    return latency_ms / pace_factor


def _videos(results: Mapping[str, Any]) -> list[str]:
    """The clip videos of the headline runs, longest name first (``test-static-2`` before ``test-static``)."""
    return sorted(results.get("headline_videos") or [], key=len, reverse=True)
