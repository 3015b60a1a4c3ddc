"""Device profiler (paper §III-D1): computation latency t_i^j per model (ms) and the device's cost c_i.

The latency table is fixed, read once from the bundle's device profile (here a plain mapping
model name → {"latency_ms": .., "memory_mb": .., ...}, so the bundle manifest can feed it). The cost is
dynamic: the fraction of this device's own video frames that needed inference over the last ``window_s``
seconds (the paper's m = 5 minutes), updated live by :meth:`DeviceProfiler.record_frame`.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from runtime.config import bounded
from runtime.errors import UserError


@dataclasses.dataclass(frozen=True)
class DeviceProfilerConfig:
    """``device_profiler`` section of the runtime config."""

    window_s: float = bounded(300.0, "cost window m, seconds (paper: m = 5 minutes)", gt=0)
    idle_cost: float = bounded(0.0, "cost reported before any frame was seen", ge=0, le=1)


@dataclasses.dataclass(frozen=True)
class ModelTiming:
    """Profiled figures of one model on one device: latency (ms) and memory (MB)."""

    latency_ms: float
    memory_mb: float = 0.0


def _number(value: Any, where: str, ge: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where}: expected a finite number, got {value!r}")
    if value < ge:
        raise UserError(f"{where}: {value!r} must be >= {ge}")
    return float(value)


def timings_from_profile(profile: Mapping[str, Mapping[str, Any]], where: str) -> dict[str, ModelTiming]:
    """Latency table of one device from its profile (model name → mapping with ``latency_ms``,
    optional ``memory_mb``; other keys such as ``accuracy`` are the model profiler's)."""
    if not profile:
        raise UserError(f"{where}: lists no models")
    table = {}
    for name, row in profile.items():
        if not isinstance(row, Mapping) or "latency_ms" not in row:
            raise UserError(f"{where}.{name}.latency_ms: required key is missing")
        table[str(name)] = ModelTiming(latency_ms=_number(row["latency_ms"], f"{where}.{name}.latency_ms"),
                                       memory_mb=_number(row.get("memory_mb", 0.0), f"{where}.{name}.memory_mb"))
    return table


@dataclasses.dataclass(frozen=True)
class DeviceState:
    """What the scheduler reads of one device: model name → latency (ms), and the cost c_i in [0, 1]."""

    name: str
    latency_ms: dict[str, float]
    cost: float


class DeviceProfiler:
    """One device's latency table and live cost (fraction of frames needing inference in the window)."""

    def __init__(self, name: str, timings: Mapping[str, ModelTiming],
                 config: DeviceProfilerConfig | None = None) -> None:
        self.name = name
        self.timings = dict(timings)
        self.config = config or DeviceProfilerConfig()
        self._frames: collections.deque[tuple[float, bool]] = collections.deque()
        self._needing = 0

    @classmethod
    def from_profiles(cls, profiles: Mapping[str, Mapping[str, Mapping[str, Any]]], name: str,
                      config: DeviceProfilerConfig | None = None) -> DeviceProfiler:
        """Build from a bundle-like table device name → model name → {latency_ms, memory_mb, ...}."""
        if name not in profiles:
            raise UserError(f"profiles.{name}: no profile for this device (have: {', '.join(profiles)})")
        return cls(name, timings_from_profile(profiles[name], f"profiles.{name}"), config)

    def _evict(self, now: float) -> None:
        horizon = now - self.config.window_s
        while self._frames and self._frames[0][0] <= horizon:
            _, needed = self._frames.popleft()
            self._needing -= needed

    def record_frame(self, needs_inference: bool, t: float | None = None) -> None:
        """Count one frame of this device's video at time ``t`` (s, monotonic; default now)."""
        t = time.monotonic() if t is None else t
        self._frames.append((t, bool(needs_inference)))
        self._needing += bool(needs_inference)
        self._evict(t)

    def cost(self, now: float | None = None) -> float:
        """c_i: fraction of the frames of the last ``window_s`` seconds that needed inference."""
        self._evict(time.monotonic() if now is None else now)
        if not self._frames:
            return self.config.idle_cost
        return self._needing / len(self._frames)

    def state(self, now: float | None = None) -> DeviceState:
        """Snapshot for the scheduler."""
        return DeviceState(name=self.name, latency_ms={m: t.latency_ms for m, t in self.timings.items()},
                           cost=self.cost(now))
