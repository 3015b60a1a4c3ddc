"""Pure computations behind the report's headline numbers (paper §IV-B2/B3) — no I/O, no models.

A curve is a list of :class:`Point` (one configuration of an approach: its F1 and its latency in ms on one
basis — per patch or per frame, never mixed). Two comparisons, as CONVENTIONS.md and the paper define them:

- :func:`gain_at_budget` (Fig. 14): the best F1 of each approach among its points whose latency is within a
  budget (ms); the relative gain is ``F1_ours / F1_base − 1``.
- :func:`speedup_at_comparable` (Fig. 15): for each of our points, the baseline reference is the cheapest
  baseline point at least as accurate (or, where ours beats every baseline point, the most accurate one);
  the pair is comparable when our F1 is at most ``drop`` (F1 units, 0.046 = 4.6 points) below it. The
  speedup is ``latency_base / latency_ours``, the largest over comparable pairs.

Both return a record with a ``reason`` sentence when no answer exists, built from the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Point:
    """One configuration: ``label`` (e.g. ``240``), ``f1`` (0–1), ``latency_ms`` on one basis."""

    label: str
    f1: float
    latency_ms: float


@dataclass(frozen=True)
class BudgetGain:
    """F1 of each approach within ``budget_ms`` and the relative gain (None where undefined)."""

    budget_ms: float
    base: Point | None
    ours: Point | None
    gain: float | None
    reason: str = ""


@dataclass(frozen=True)
class Speedup:
    """The comparable pair with the largest speedup, our F1 drop (F1 units, >0 = ours lower)."""

    base: Point | None
    ours: Point | None
    speedup: float | None
    drop: float | None
    reason: str = ""


def best_within(points: Sequence[Point], budget_ms: float) -> Point | None:
    """The most accurate point with latency ≤ ``budget_ms`` (ties: the faster), or None."""
    ok = [p for p in points if p.latency_ms <= budget_ms]
    return max(ok, key=lambda p: (p.f1, -p.latency_ms)) if ok else None


def gain_at_budget(base: Sequence[Point], ours: Sequence[Point], budget_ms: float) -> BudgetGain:
    """Relative F1 gain of ``ours`` over ``base`` under the same latency budget (ms)."""
    b, o = best_within(base, budget_ms), best_within(ours, budget_ms)
    if o is None:
        fastest = min(ours, key=lambda p: p.latency_ms, default=None)
        why = f"ours has no point within {budget_ms:g} ms" + (
            f" (fastest {fastest.latency_ms:.1f} ms)" if fastest else "")
        return BudgetGain(budget_ms, b, None, None, why)
    if b is None:
        fastest = min(base, key=lambda p: p.latency_ms, default=None)
        why = f"the baseline has no point within {budget_ms:g} ms" + (
            f" (fastest {fastest.latency_ms:.1f} ms): it cannot meet the budget at all" if fastest else "")
        return BudgetGain(budget_ms, None, o, None, why)
    if b.f1 <= 0:
        return BudgetGain(budget_ms, b, o, None, "the baseline's F1 within the budget is 0 (relative gain undefined)")
    return BudgetGain(budget_ms, b, o, o.f1 / b.f1 - 1.0)


def speedup_at_comparable(base: Sequence[Point], ours: Sequence[Point], drop: float = 0.046) -> Speedup:
    """Largest latency speedup of ``ours`` over ``base`` at comparable accuracy (see the module docstring)."""
    if not base or not ours:
        return Speedup(None, None, None, None, "no points to compare")
    best: tuple[float, Point, Point] | None = None
    closest: tuple[float, Point, Point] | None = None
    top = max(base, key=lambda p: (p.f1, -p.latency_ms))
    for o in ours:
        above = [b for b in base if b.f1 >= o.f1]
        ref = min(above, key=lambda b: (b.latency_ms, -b.f1)) if above else top
        gap = ref.f1 - o.f1
        if closest is None or gap < closest[0]:
            closest = (gap, ref, o)
        if gap <= drop + 1e-12 and o.latency_ms > 0:
            s = ref.latency_ms / o.latency_ms
            if best is None or s > best[0]:
                best = (s, ref, o)
    if best is None:
        assert closest is not None
        gap, ref, o = closest
        return Speedup(ref, o, None, gap, f"no comparable pair: our closest point ({o.label}, F1 {o.f1:.3f}) is "
                                          f"{gap * 100:.1f} points below the baseline's {ref.label} "
                                          f"(F1 {ref.f1:.3f}); comparable means ≤ {drop * 100:.1f}")
    s, ref, o = best
    return Speedup(ref, o, s, ref.f1 - o.f1)


def pareto(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both F1 (higher) and latency (lower), by latency."""
    out: list[Point] = []
    for p in sorted(points, key=lambda p: (p.latency_ms, -p.f1)):
        if not out or p.f1 > out[-1].f1:
            out.append(p)
    return out


def cdf(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``values`` and their empirical CDF (fraction ≤ value, 0–1)."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, (np.arange(1, len(x) + 1) / len(x)) if len(x) else np.zeros(0)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, p90 and p99 of ``values`` (same unit), zeros when empty."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "p99": 0.0, "n": 0}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "p90": float(np.percentile(v, 90)),
            "p99": float(np.percentile(v, 99)), "n": int(len(v))}


def shortfall(value: float | None, target: float, kind: str) -> str:
    """``met`` or how far ``value`` is below ``target`` (``kind``: ``ratio`` ×, ``relative`` %)."""
    if value is None:
        return "not measurable"
    if value >= target:
        return "met"
    if kind == "ratio":
        return f"short by {target - value:.2f}× ({value / target * 100:.0f}% of the target)"
    return f"short by {(target - value) * 100:.1f} points of relative gain"
