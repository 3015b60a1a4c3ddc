"""Run statistics of a client and the summary printed and written with ``--summary`` (JSON).

Per frame: end-to-end latency (capture/arrival → aggregated result, ms) and the stages patch generation,
scheduling (request → assignment, incl. the master round trip), aggregation. Per patch (the paper's
per-patch basis, never mixed with per-frame figures): round trip, server time (receipt → reply, incl. the
emulated device's queue and pacing), real inference, transfer (round trip − server time).

Memory is bounded for unbounded streams (a camera running for days): :class:`Stats` keeps exact counters
and sums (frames, drops by reason, skips, SLO misses, patches per frame and per device, means), one
fixed-size :class:`LogHistogram` per timing (percentiles), the first :data:`HEAD_FRAMES` frames' timings
(so the summary can leave a warm-up out exactly) and the last :data:`RECENT` frame and patch records
(debugging, tests). Nothing grows with the number of frames.

Percentile error bound: a reported p50/p90/p99 differs from ``numpy.percentile`` (linear interpolation)
of the same values by at most ``REL_ERROR × value + ABS_ERROR_MS`` (0.5 % + 0.001 ms) before the summary's
rounding to 0.01 ms; values above ``HIGH_MS`` (10⁷ ms) share one bin (estimated by the maximum seen).
Means are exact.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.errors import UserError

REL_ERROR = 0.005  # α: relative error of a histogram percentile
ABS_ERROR_MS = 1e-3  # values below this share bin 0, estimated as 0
HIGH_MS = 1e7  # values at or above this share the last bin
HEAD_FRAMES = 1000  # the first frames' timings kept: --warmup can be at most this
RECENT = 256  # the last frame records and patch records kept
EVENTS_KEPT = 500  # the first events kept (the rest only counted)
_QS = (50.0, 90.0, 99.0)


class LogHistogram:
    """Counts of non-negative values (ms) in log-spaced bins: fixed memory (~18 KB), exact count/sum/min/max.

    Bin 0 holds [0, ABS_ERROR_MS); bin i ≥ 1 holds [lo·γ^(i−1), lo·γ^i) with γ = (1+α)/(1−α) and is estimated
    by 2·lo·γ^i/(γ+1), within α of any value in it (DDSketch's mapping); the last bin also takes everything
    ≥ HIGH_MS. :meth:`percentiles` interpolates between the estimated order statistics as numpy does, so its
    error is ≤ α·p + ABS_ERROR_MS; estimates are clamped to the exact [min, max].
    """

    gamma = (1.0 + REL_ERROR) / (1.0 - REL_ERROR)
    _log_gamma = math.log(gamma)
    bins = int(math.ceil(math.log(HIGH_MS / ABS_ERROR_MS) / _log_gamma)) + 2
    _estimates = np.concatenate([[0.0], ABS_ERROR_MS * gamma ** np.arange(1, bins) * 2.0 / (gamma + 1.0)])

    def __init__(self) -> None:
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.n = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf

    def _bin(self, value: float) -> int:
        if not value >= ABS_ERROR_MS:  # also NaN and negatives
            return 0
        return min(int(math.log(value / ABS_ERROR_MS) / self._log_gamma) + 1, self.bins - 1)

    def add(self, value: float) -> None:
        """Count one value (ms; negatives count as 0)."""
        value = max(float(value), 0.0)
        self.counts[self._bin(value)] += 1
        self.n += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)

    def remove(self, value: float) -> None:
        """Un-count a value added before (min/max keep the superset's, which still bound every percentile)."""
        value = max(float(value), 0.0)
        self.counts[self._bin(value)] -= 1
        self.n -= 1
        self.total -= value

    def copy(self) -> LogHistogram:
        other = LogHistogram.__new__(LogHistogram)
        other.counts, other.n, other.total, other.low, other.high = self.counts.copy(), self.n, self.total, \
            self.low, self.high
        return other

    def count_above(self, threshold: float) -> int:
        """How many values are estimated above ``threshold`` (exact except within threshold's own bin)."""
        if self.n == 0:
            return 0
        est = np.minimum(np.maximum(self._estimates, self.low), self.high)
        return int(self.counts[est > threshold].sum())

    def percentiles(self, qs: Iterable[float] = _QS) -> list[float]:
        """``numpy.percentile(values, qs)`` (linear) within the bound above; empty → ValueError."""
        if self.n <= 0:
            raise ValueError("no values")
        cum = np.cumsum(self.counts)
        out = []
        for q in qs:
            h = (self.n - 1) * q / 100.0
            lo_rank = int(math.floor(h))
            hi_rank = min(lo_rank + 1, self.n - 1)
            v_lo, v_hi = (self._estimates[int(np.searchsorted(cum, r, side="right"))] for r in (lo_rank, hi_rank))
            v = v_lo + (h - lo_rank) * (v_hi - v_lo)
            out.append(float(min(max(v, self.low), self.high)))
        return out

    def summary(self) -> dict[str, float | None]:
        """``{p50, p90, p99, mean}`` rounded to 0.01 ms; all None when empty."""
        if self.n <= 0:
            return {"p50": None, "p90": None, "p99": None, "mean": None}
        p50, p90, p99 = self.percentiles()
        return {"p50": round(p50, 2), "p90": round(p90, 2), "p99": round(p99, 2), "mean": round(self.total / self.n, 2)}


FRAME_TIMINGS = ("e2e", "e2e_inferred", "gen", "sched", "agg")
PATCH_TIMINGS = ("transfer", "infer", "server")


@dataclass
class Stats:
    """What one client run measured (ms unless named otherwise), in memory that does not grow with the run.

    ``slo_ms``: the SLO the client runs under (SLO misses are then counted exactly; a summary for another SLO
    estimates them from the histogram). ``peaks``: the largest depth seen of each queue (frames waiting,
    frames/patches in flight, per server the patches queued it reported).
    """

    slo_ms: float | None = None
    frames_total: int = 0  # ran + dropped
    frames_ran: int = 0
    frames_skipped: int = 0
    frames_dropped: int = 0
    slo_misses: int = 0
    patches_sum: int = 0  # over ran, not skipped frames
    patches_frames: int = 0
    ideal_sum: float = 0.0  # Σ ceil(K/4)/K over frames with K > 0
    ideal_frames: int = 0
    timings: dict[str, LogHistogram] = field(
        default_factory=lambda: {k: LogHistogram() for k in FRAME_TIMINGS + PATCH_TIMINGS})
    head: np.ndarray = field(default_factory=lambda: np.full((HEAD_FRAMES, 5), np.nan))  # e2e, gen, sched, agg, K
    per_device: collections.Counter = field(default_factory=collections.Counter)  # device → patches
    per_model: collections.Counter = field(default_factory=collections.Counter)  # model → patches
    recent_frames: collections.deque = field(default_factory=lambda: collections.deque(maxlen=RECENT))
    recent_patches: collections.deque = field(default_factory=lambda: collections.deque(maxlen=RECENT))
    counters: collections.Counter = field(default_factory=collections.Counter)
    events: list[dict[str, Any]] = field(default_factory=list)  # {t_s, event, device}, the first EVENTS_KEPT
    malformed: collections.Counter = field(default_factory=collections.Counter)
    peaks: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def event(self, record: dict[str, Any]) -> None:
        """Keep an event (the first EVENTS_KEPT; later ones only counted in ``events_not_kept``)."""
        if len(self.events) < EVENTS_KEPT:
            self.events.append(record)
        else:
            self.count("events_not_kept")

    def peak(self, name: str, depth: int) -> None:
        """Remember the largest ``depth`` seen of queue ``name``."""
        if depth > self.peaks.get(name, -1):
            self.peaks[name] = depth

    def add_frame(self, frame: int, e2e_ms: float, gen_ms: float, sched_ms: float | None, agg_ms: float,
                  patches: int, skipped: bool = False) -> None:
        """One frame that ran (its result aggregated, or carried over when ``skipped``)."""
        if self.frames_ran < HEAD_FRAMES:
            self.head[self.frames_ran] = (e2e_ms, gen_ms, np.nan if sched_ms is None else sched_ms, agg_ms, patches)
        self.frames_total += 1
        self.frames_ran += 1
        t = self.timings
        t["e2e"].add(e2e_ms)
        if patches > 0:
            t["e2e_inferred"].add(e2e_ms)
        t["gen"].add(gen_ms)
        if sched_ms is not None:
            t["sched"].add(sched_ms)
        t["agg"].add(agg_ms)
        if self.slo_ms is not None and e2e_ms > self.slo_ms:
            self.slo_misses += 1
        if skipped:
            self.frames_skipped += 1
        else:
            self.patches_sum += patches
            self.patches_frames += 1
            if patches > 0:
                self.ideal_sum += math.ceil(patches / 4) / patches
                self.ideal_frames += 1
        self.recent_frames.append({"frame": frame, "e2e_ms": e2e_ms, "gen_ms": gen_ms, "sched_ms": sched_ms,
                                   "agg_ms": agg_ms, "patches": patches, "skipped": skipped})

    def add_drop(self, frame: int, reason: str) -> None:
        """One frame dropped (``overflow``, ``stale``); counted in ``frames_dropped_<reason>`` too."""
        self.frames_total += 1
        self.frames_dropped += 1
        self.count(f"frames_dropped_{reason}")
        self.recent_frames.append({"frame": frame, "dropped": True, "reason": reason})

    def add_patch(self, device: str, rtt_ms: float, infer_ms: float, server_ms: float | None = None,
                  transfer_ms: float | None = None, model: str = "") -> None:
        """One patch answered by ``device`` (or inferred ``local``ly: no server/transfer time) with ``model``."""
        self.per_device[device] += 1
        if model:
            self.per_model[model] += 1
        self.timings["infer"].add(infer_ms)
        if server_ms is not None:
            self.timings["server"].add(server_ms)
        if transfer_ms is not None:
            self.timings["transfer"].add(transfer_ms)
        record = {"device": device, "rtt_ms": rtt_ms, "infer_ms": infer_ms}
        if server_ms is not None:
            record["server_ms"] = server_ms
        if transfer_ms is not None:
            record["transfer_ms"] = transfer_ms
        self.recent_patches.append(record)

    def frame_timings(self, warmup: int) -> dict[str, LogHistogram]:
        """The per-frame histograms without the first ``warmup`` frames that ran (all of them if no more ran)."""
        t = self.timings
        if self.frames_ran <= warmup or warmup <= 0:
            return {k: t[k] for k in FRAME_TIMINGS}
        if warmup > HEAD_FRAMES:
            raise UserError(f"--warmup: at most {HEAD_FRAMES} frames (the client keeps the first {HEAD_FRAMES} "
                            f"frames' timings), got {warmup}")
        out = {k: t[k].copy() for k in FRAME_TIMINGS}
        for e2e, gen, sched, agg, k in self.head[:warmup]:
            out["e2e"].remove(e2e)
            if k > 0:
                out["e2e_inferred"].remove(e2e)
            out["gen"].remove(gen)
            if not math.isnan(sched):
                out["sched"].remove(sched)
            out["agg"].remove(agg)
        return out


def summarize(stats: Stats, slo_ms: float, warmup: int = 0, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary dict; latency percentiles skip the first ``warmup`` frames that ran."""
    ft = stats.frame_timings(warmup)
    pt = stats.timings
    misses = stats.slo_misses if stats.slo_ms == slo_ms else stats.timings["e2e"].count_above(slo_ms)
    out = {
        "frames": stats.frames_total, "frames_ran": stats.frames_ran,
        "frames_dropped": stats.frames_dropped,
        "frames_skipped": stats.frames_skipped,
        "slo_ms": slo_ms, "slo_misses": misses,
        "warmup_frames": min(warmup, stats.frames_ran),
        "e2e_ms": ft["e2e"].summary(),
        "e2e_ms_inferred_frames": ft["e2e_inferred"].summary(),
        "stages_ms": {"patch_generation": ft["gen"].summary(),
                      "scheduling": ft["sched"].summary(),
                      "transfer_per_patch": pt["transfer"].summary(),
                      "inference_per_patch": pt["infer"].summary(),
                      "server_per_patch": pt["server"].summary(),
                      "aggregation": ft["agg"].summary()},
        "patches_per_frame": round(stats.patches_sum / stats.patches_frames, 3) if stats.patches_frames else 0.0,
        "ideal_ratio_4": round(stats.ideal_sum / stats.ideal_frames, 4) if stats.ideal_frames else None,
        "patches_per_device": dict(sorted(stats.per_device.items())),
        "patches_per_model": dict(sorted(stats.per_model.items())),
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
    if isinstance(obj, collections.deque):
        return [as_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
