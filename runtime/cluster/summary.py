"""Run statistics of a client and the summary printed and written with ``--summary`` (JSON).

Per frame: end-to-end latency (capture/arrival → aggregated result, ms) and the stages patch generation,
scheduling (request → assignment, incl. the master round trip), aggregation. Per patch (the paper's
per-patch basis, never mixed with per-frame figures): round trip, server time (receipt → reply, incl. the
emulated device's queue and pacing), real inference, transfer (round trip − server time).
"""

from __future__ import annotations

import collections
import dataclasses
import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Stats:
    """What one client run measured (ms unless named otherwise)."""

    frames: list[dict[str, Any]] = field(default_factory=list)  # {frame, e2e_ms, gen_ms, sched_ms, agg_ms, patches, ...}
    patches: list[dict[str, Any]] = field(default_factory=list)  # {device, rtt_ms, server_ms, infer_ms, transfer_ms}
    counters: collections.Counter = field(default_factory=collections.Counter)
    events: list[dict[str, Any]] = field(default_factory=list)  # {t, event, device}
    malformed: collections.Counter = field(default_factory=collections.Counter)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "mean": None}
    arr = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p90": round(float(np.percentile(arr, 90)), 2),
            "p99": round(float(np.percentile(arr, 99)), 2), "mean": round(float(arr.mean()), 2)}


def summarize(stats: Stats, slo_ms: float, warmup: int = 0, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary dict; latency percentiles skip the first ``warmup`` frames that ran."""
    ran = [f for f in stats.frames if not f.get("dropped")]
    timed = ran[warmup:] if len(ran) > warmup else ran
    inferred = [f for f in timed if f.get("patches", 0) > 0]
    per_device = collections.Counter(p["device"] for p in stats.patches)
    k = [f["patches"] for f in ran if not f.get("skipped")]
    out = {
        "frames": len(stats.frames), "frames_ran": len(ran),
        "frames_dropped": sum(1 for f in stats.frames if f.get("dropped")),
        "frames_skipped": sum(1 for f in ran if f.get("skipped")),
        "slo_ms": slo_ms, "slo_misses": sum(1 for f in ran if f["e2e_ms"] > slo_ms),
        "warmup_frames": min(warmup, len(ran)),
        "e2e_ms": _pct([f["e2e_ms"] for f in timed]),
        "e2e_ms_inferred_frames": _pct([f["e2e_ms"] for f in inferred]),
        "stages_ms": {"patch_generation": _pct([f["gen_ms"] for f in timed]),
                      "scheduling": _pct([f["sched_ms"] for f in timed if f.get("sched_ms") is not None]),
                      "transfer_per_patch": _pct([p["transfer_ms"] for p in stats.patches if "transfer_ms" in p]),
                      "inference_per_patch": _pct([p["infer_ms"] for p in stats.patches]),
                      "server_per_patch": _pct([p["server_ms"] for p in stats.patches if "server_ms" in p]),
                      "aggregation": _pct([f["agg_ms"] for f in timed])},
        "patches_per_frame": round(float(np.mean(k)), 3) if k else 0.0,
        "ideal_ratio_4": round(float(np.mean([np.ceil(x / 4) / x for x in k if x > 0])), 4) if any(k) else None,
        "patches_per_device": dict(sorted(per_device.items())),
        "counters": dict(sorted(stats.counters.items())),
        "malformed_received": dict(stats.malformed),
        "events": stats.events[:50],
        "machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'})",
    }
    if extra:
        out.update(extra)
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """A short human-readable block of the summary."""
    e2e = summary["e2e_ms"]
    lines = [f"frames {summary['frames']} (ran {summary['frames_ran']}, dropped {summary['frames_dropped']}, "
             f"skipped {summary['frames_skipped']}), SLO {summary['slo_ms']:.0f} ms, misses {summary['slo_misses']}",
             f"end-to-end ms p50 {e2e['p50']} p90 {e2e['p90']} p99 {e2e['p99']}",
             "stages ms p50: " + ", ".join(f"{k} {v['p50']}" for k, v in summary["stages_ms"].items()),
             f"patches/frame {summary['patches_per_frame']}, per device {summary['patches_per_device']}",
             f"counters {summary['counters']}"]
    if summary.get("f1") is not None:
        lines.append(f"F1 {summary['f1']:.4f} (P {summary['precision']:.4f}, R {summary['recall']:.4f})")
    if summary.get("emulation"):
        lines.append(f"emulation: {summary['emulation']}")
    return "\n".join(lines)


def as_plain(obj: Any) -> Any:
    """Dataclasses/counters → plain JSON data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: as_plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
