"""Comparison policies and the min-max-latency fallback (paper §III-D, §IV baselines).

- :func:`uniform` — round-robin: patch k goes to device k mod C.
- :func:`proportional` — capability-proportional, as the paper's frame-level YOLOv7 distribution: device i
  gets a share of the patches ∝ 1 / (t_i + s̄ / b_i) for its best-utility model (largest remainder).
- Both then give each device one model for all its patches: the best-utility model whose load still fits
  T_SLO, else the fastest. They never repair: when their split overloads a device they report
  ``feasible=False`` (that is what they are compared on).
- :func:`greedy` — best marginal utility: start from the min-max-latency placement, then repeatedly apply
  the feasible single-patch change with the largest utility gain until none gains.
- :func:`greedy_pairs` — greedy, plus the best two-patch change whenever no single change gains (one patch
  makes room on a device, the other takes it; or two patches swap). Markov's default warm start.
- :func:`min_max_start` — the min-max-latency assignment: LPT; if that misses T_SLO, LPT + improving one-
  and two-patch changes, and, when that heuristic misses T_SLO, scipy is installed and K·O ≤ 1000, the exact
  MILP min-max (so a feasible instance of that size is never reported infeasible; larger ones rely on the
  heuristic). It is the answer of greedy and Markov on instances where no assignment meets T_SLO.

All take a compiled :class:`Problem` and return a :class:`Schedule`; none drops a patch.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import UserError
from runtime.scheduler import _kernels
from runtime.scheduler.problem import FEAS_TOL_MS, Problem, Schedule

#: Largest K·O for the exact min-max fallback (HiGHS needs seconds beyond; K = 12 × 12 options is 144).
EXACT_MAX_SIZE = 1000


LARGE_SIZE = 1000  # K·O above which the quadratic two-patch searches are cut short (decision-time bound)
LARGE_REPAIR_STEPS = 20  # two-patch repair steps of the min-max start above LARGE_SIZE


def _slo(problem: Problem) -> float:
    return problem.slo_ms + FEAS_TOL_MS


def _one_model_per_device(problem: Problem, device_of_patch: np.ndarray) -> Schedule:
    """For a fixed patch → device split, give each device its best-utility model that fits, else its fastest."""
    n_k = problem.n_patches
    choice = np.zeros(n_k, dtype=np.int64)
    for i in range(problem.n_devices):
        ks = np.flatnonzero(device_of_patch == i)
        opts = np.flatnonzero(problem.dev == i)
        if ks.size == 0:
            continue
        loads = problem.w[np.ix_(ks, opts)].sum(axis=0)
        fits = loads <= _slo(problem)
        if fits.any():
            score = np.where(fits, problem.u[np.ix_(ks, opts)].sum(axis=0), -np.inf)
            best = opts[int(np.argmax(score))]
        else:
            best = opts[int(np.argmin(loads))]
        choice[ks] = best
    return Schedule.of(problem, choice)


def uniform(problem: Problem) -> Schedule:
    """Round-robin over devices (patch k → device k mod C), one fitting model per device."""
    return _one_model_per_device(problem, np.arange(problem.n_patches) % problem.n_devices)


def proportional(problem: Problem) -> Schedule:
    """Patches split ∝ device capability 1 / (t_best + s̄ / b_i), one fitting model per device."""
    n_k, n_dev = problem.n_patches, problem.n_devices
    if n_k == 0:
        return Schedule.of(problem, np.zeros(0, dtype=np.int64))
    mean_u = problem.u.mean(axis=0)
    mean_w = problem.w.mean(axis=0)
    speed = np.zeros(n_dev)
    for i in range(n_dev):
        opts = np.flatnonzero(problem.dev == i)
        best = opts[int(np.argmax(mean_u[opts]))]
        speed[i] = 1.0 / max(float(mean_w[best]), 1e-9)
    quota = n_k * speed / speed.sum()
    counts = np.floor(quota).astype(np.int64)
    for i in np.argsort(-(quota - counts), kind="stable")[: n_k - int(counts.sum())]:
        counts[i] += 1
    order = np.argsort(-speed, kind="stable")
    device_of_patch = np.repeat(order, counts[order])
    return _one_model_per_device(problem, device_of_patch)


def _milp_min_max(problem: Problem) -> np.ndarray | None:
    """Exact min-max choice, or None when scipy is not installed."""
    from runtime.scheduler.milp import min_max_choice

    try:
        return min_max_choice(problem)
    except UserError:
        return None


def min_max_start(problem: Problem, exact_fallback: bool = True) -> Schedule:
    """Assignment minimising the largest T_i: heuristic, then (if it misses T_SLO) exact MILP when scipy
    is present. The result is feasible iff some assignment meets T_SLO (given scipy)."""
    if problem.n_patches == 0:
        return Schedule.of(problem, np.zeros(0, dtype=np.int64))
    start = Schedule.of(problem, _kernels.minimax(problem.u, problem.w, problem.dev, problem.n_devices, 0))
    if not start.feasible:  # plain LPT misses T_SLO: improve it by one- and two-patch changes
        large = problem.n_patches * problem.n_options > LARGE_SIZE
        steps = min(4 * problem.n_patches, LARGE_REPAIR_STEPS) if large else 4 * problem.n_patches
        start = Schedule.of(problem, _kernels.minimax(problem.u, problem.w, problem.dev, problem.n_devices, steps))
    if start.feasible or not exact_fallback or problem.n_patches * problem.n_options > EXACT_MAX_SIZE:
        return start
    exact = _milp_min_max(problem)
    if exact is None:
        return start
    other = Schedule.of(problem, exact)
    return other if other.max_latency_ms < start.max_latency_ms else start


def greedy_pairs(problem: Problem, start: Schedule | None = None) -> Schedule:
    """:func:`greedy`, then also two-patch changes when no single change gains (Markov's warm start).

    Above K·O = :data:`LARGE_SIZE` the two-patch search (O(K²O²) per step) is skipped: plain :func:`greedy`,
    so that K = 50, C = 20 decisions stay within about 20 ms."""
    start = start if start is not None else min_max_start(problem)
    if problem.n_patches * problem.n_options > LARGE_SIZE:
        return greedy(problem, start)
    if not start.feasible or problem.n_patches == 0:
        return start
    steps = 4 * problem.n_patches * problem.n_options
    choice = _kernels.ascend_pairs(start.choice, problem.u, problem.w, problem.dev, problem.n_devices,
                                   _slo(problem), steps)
    return Schedule.of(problem, choice)


def greedy(problem: Problem, start: Schedule | None = None) -> Schedule:
    """Best-marginal-utility ascent from the min-max start; on an infeasible instance, the min-max answer."""
    start = start if start is not None else min_max_start(problem)
    if not start.feasible or problem.n_patches == 0:
        return start
    steps = 4 * problem.n_patches * problem.n_options
    choice = _kernels.ascend(start.choice, problem.u, problem.w, problem.dev, problem.n_devices, _slo(problem),
                             steps)
    return Schedule.of(problem, choice)
