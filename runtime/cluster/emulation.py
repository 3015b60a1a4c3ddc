"""What an emulated server pretends (CONVENTIONS.md): one common pace factor for every emulated device, and the
cost schedule of the paper's Fig. 23 experiment.

Cost schedule (experiments, paper Fig. 23): ``--cost-schedule NAME:COST@T0-T1[,...]`` makes the server report
c_i = COST instead of its profiler's cost while T0 ≤ t < T1 (T1 empty = to the end), t in seconds since the
server first heard from a client (≈ the client's start); NAME is the server's name or its device profile
(entries for other servers are ignored, so one string serves a whole local cluster). The master's scheduler
reads the reported c_i as usual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runtime.errors import UserError
from runtime.manifest import Manifest


def common_pace_factor(manifest: Manifest, devices: list[str], host_ms: Mapping[str, float],
                       task: str = "detection") -> float:
    """The one slow-down applied to every emulated device (CONVENTIONS): the largest ratio host latency /
    profiled latency over the emulated devices' models of ``task``, at least 1, so no profile is faster than this
    host (keypoint models without a profile row: their estimate, :meth:`Manifest.latency_or_estimate`)."""
    factor = 1.0
    for device in devices:
        for model in manifest.models_served_by(device, task=task):
            t = (manifest.latency_ms(device, model) if task == "detection"
                 else manifest.latency_or_estimate(device, model, host_ms.get(model))[0])
            if t is not None and t > 0 and model in host_ms:
                factor = max(factor, host_ms[model] / t)
    return factor


@dataclass(frozen=True)
class CostStep:
    """One entry of a cost schedule: server (name or device profile) ``target`` reports c_i = ``cost`` while
    ``start_s`` ≤ t < ``end_s`` (seconds since its first client contact; ``end_s`` None = to the end)."""

    target: str
    cost: float
    start_s: float
    end_s: float | None = None

    def active(self, t: float) -> bool:
        return self.start_s <= t and (self.end_s is None or t < self.end_s)

    def spec(self) -> str:
        return f"{self.target}:{self.cost:g}@{self.start_s:g}-{'' if self.end_s is None else f'{self.end_s:g}'}"


def parse_seconds(text: str, flag: str, entry: str) -> float:
    """``text`` as a finite number of seconds >= 0; else a one-line UserError naming ``flag`` and ``entry``."""
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{flag}: {entry!r}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{flag}: {entry!r}: {text!r} must be a finite number of seconds >= 0")
    return value


def parse_cost_schedule(spec: str, flag: str = "--cost-schedule") -> list[CostStep]:
    """``NAME:COST@T0-T1[,...]`` → steps; any malformed entry is a one-line UserError naming ``flag``."""
    steps = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        head, at, window = entry.partition("@")
        target, colon, cost_text = head.rpartition(":")
        if not at or not colon or not target or "-" not in window:
            raise UserError(f"{flag}: {entry!r} is not NAME:COST@T0-T1 (e.g. snapdragon-732g:1.0@0-10; T1 may be "
                            f"empty for 'to the end')")
        try:
            cost = float(cost_text)
        except ValueError:
            raise UserError(f"{flag}: {entry!r}: cost {cost_text!r} is not a number") from None
        if not math.isfinite(cost) or cost < 0:
            raise UserError(f"{flag}: {entry!r}: cost {cost_text!r} must be a finite number >= 0")
        t0_text, _, t1_text = window.partition("-")
        start = parse_seconds(t0_text, flag, entry)
        end = parse_seconds(t1_text, flag, entry) if t1_text else None
        if end is not None and end <= start:
            raise UserError(f"{flag}: {entry!r}: the window ends ({end:g} s) before it starts ({start:g} s)")
        steps.append(CostStep(target, cost, start, end))
    if not steps:
        raise UserError(f"{flag}: empty schedule")
    return steps


def scheduled_cost(steps: Sequence[CostStep], t: float | None) -> float | None:
    """The cost the last active step sets at ``t`` (None before the first client contact or when none)."""
    if t is None:
        return None
    active = [s.cost for s in steps if s.active(t)]
    return active[-1] if active else None
