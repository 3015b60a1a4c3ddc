"""Exact reference: problem P as a mixed-integer program, solved by ``scipy.optimize.milp`` (HiGHS).

Variables x[k, o] ∈ {0, 1} (K·O, row-major). Maximise Σ u[k, o] x[k, o] / K subject to Σ_o x[k, o] = 1 per
patch (Eq. 4c) and Σ_{k, o on device i} w[k, o] x[k, o] ≤ T_SLO per device (Eq. 4b, ms).

When no assignment meets T_SLO, a second program minimises z ≥ T_i for all i (the largest device latency,
ms); the answer is then the best-utility assignment with max T_i = z*, flagged ``feasible=False``.

scipy is optional on the edge: it is imported here, lazily, and its absence is a one-line UserError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runtime.errors import UserError
from runtime.scheduler.problem import FEAS_TOL_MS, Problem, Schedule


def require_scipy() -> Any:
    try:
        from scipy import optimize, sparse
    except ImportError:
        raise UserError("solver milp needs scipy (pip install 'paraloupe[exact]')") from None
    return optimize, sparse


def _structure(problem: Problem) -> tuple[Any, Any]:
    """(one-per-patch equality rows, per-device load rows) as sparse matrices over the K·O variables."""
    _, sparse = require_scipy()
    n_k, n_o = problem.n_patches, problem.n_options
    cols = np.arange(n_k * n_o)
    assign = sparse.csr_matrix((np.ones(n_k * n_o), (cols // n_o, cols)), shape=(n_k, n_k * n_o))
    loads = sparse.csr_matrix((problem.w.ravel(), (problem.dev[cols % n_o], cols)),
                              shape=(problem.n_devices, n_k * n_o))
    return assign, loads


def _decode(problem: Problem, x: np.ndarray) -> np.ndarray:
    return np.argmax(x[: problem.n_patches * problem.n_options].reshape(problem.n_patches, -1), axis=1)


def _max_utility(problem: Problem, cap_ms: float, time_limit_s: float) -> np.ndarray | None:
    """Best-utility choice with every T_i ≤ ``cap_ms``; None when the program is infeasible."""
    optimize, _ = require_scipy()
    assign, loads = _structure(problem)
    n_var = problem.n_patches * problem.n_options
    cons = [optimize.LinearConstraint(assign, 1, 1), optimize.LinearConstraint(loads, -np.inf, cap_ms)]
    res = optimize.milp(-problem.u.ravel(), constraints=cons, integrality=np.ones(n_var),
                        bounds=optimize.Bounds(0, 1), options={"time_limit": time_limit_s})
    if res.x is None:
        return None
    return _decode(problem, res.x)


def min_max_choice(problem: Problem, time_limit_s: float = 30.0) -> np.ndarray:
    """Option per patch minimising max T_i (ms), exactly (up to HiGHS's gap)."""
    optimize, sparse = require_scipy()
    assign, loads = _structure(problem)
    n_var = problem.n_patches * problem.n_options
    z_col = sparse.csr_matrix(-np.ones((problem.n_devices, 1)))
    cons = [optimize.LinearConstraint(sparse.hstack([assign, sparse.csr_matrix((problem.n_patches, 1))]), 1, 1),
            optimize.LinearConstraint(sparse.hstack([loads, z_col]), -np.inf, 0)]
    cost = np.zeros(n_var + 1)
    cost[-1] = 1.0
    integrality = np.ones(n_var + 1)
    integrality[-1] = 0
    res = optimize.milp(cost, constraints=cons, integrality=integrality,
                        bounds=optimize.Bounds(np.zeros(n_var + 1), np.r_[np.ones(n_var), np.inf]),
                        options={"time_limit": time_limit_s})
    if res.x is None:  # pragma: no cover - the program always has a solution
        raise RuntimeError(f"HiGHS found no min-max assignment: {res.message}")
    return _decode(problem, res.x)


def milp(problem: Problem, time_limit_s: float = 30.0) -> Schedule:
    """Exact optimum of P; on an infeasible instance, the best-utility assignment among min-max ones."""
    if problem.n_patches == 0:
        return Schedule.of(problem, np.zeros(0, dtype=np.int64))
    for cap in (problem.slo_ms, problem.slo_ms * (1 - 1e-7)):  # 2nd try: absorbs HiGHS's own tolerance
        choice = _max_utility(problem, cap, time_limit_s)
        if choice is None:
            break
        found = Schedule.of(problem, choice)
        if found.feasible:
            return found
    peak = Schedule.of(problem, min_max_choice(problem, time_limit_s)).max_latency_ms
    choice = _max_utility(problem, peak + FEAS_TOL_MS, time_limit_s)
    if choice is None or Schedule.of(problem, choice).max_latency_ms > peak + FEAS_TOL_MS:
        choice = min_max_choice(problem, time_limit_s)
    return Schedule.of(problem, choice)


def lp_bound(problem: Problem) -> float:
    """Upper bound on U* from the LP relaxation (for instances too large for the exact program)."""
    optimize, _ = require_scipy()
    assign, loads = _structure(problem)
    cons = [optimize.LinearConstraint(assign, 1, 1), optimize.LinearConstraint(loads, -np.inf, problem.slo_ms)]
    res = optimize.milp(-problem.u.ravel(), constraints=cons, bounds=optimize.Bounds(0, 1))
    return float(-res.fun / problem.n_patches) if res.x is not None else float("nan")
