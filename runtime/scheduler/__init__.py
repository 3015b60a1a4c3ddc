"""Patch-based task scheduler (paper §III-D): which (device, model) infers each patch of a frame.

Pure algorithms — arrays and dataclasses in and out, no sockets, no files beyond :func:`load_instance`.
``solve(problem, "markov", seed)`` is the one way in; the policies are:

- ``markov`` — Markov approximation, Algorithm 1 (:mod:`runtime.scheduler.markov`);
- ``greedy``, ``uniform``, ``proportional`` — comparison policies (:mod:`runtime.scheduler.heuristics`);
- ``milp`` — the exact optimum via scipy's HiGHS (optional scipy; :mod:`runtime.scheduler.milp`).
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.errors import UserError
from runtime.scheduler.heuristics import greedy, min_max_start, proportional, uniform
from runtime.scheduler.markov import MarkovConfig, markov, warm_up
from runtime.scheduler.problem import (
    Device,
    Instance,
    Model,
    Patch,
    Problem,
    Schedule,
    compile_problem,
    device_loads,
    load_instance,
    parse_instance,
)


def _milp(problem: Problem, seed: int) -> Schedule:
    from runtime.scheduler.milp import milp

    return milp(problem)


SOLVERS: dict[str, Callable[[Problem, int], Schedule]] = {
    "markov": lambda problem, seed: markov(problem, seed),
    "greedy": lambda problem, seed: greedy(problem),
    "uniform": lambda problem, seed: uniform(problem),
    "proportional": lambda problem, seed: proportional(problem),
    "milp": _milp,
}


def solve(problem: Problem, solver: str = "markov", seed: int = 0) -> Schedule:
    """Run policy ``solver`` (a key of :data:`SOLVERS`) on ``problem``; ``seed`` matters for markov only."""
    if solver not in SOLVERS:
        raise UserError(f"solver: unknown {solver!r} (choose from {', '.join(SOLVERS)})")
    return SOLVERS[solver](problem, seed)


__all__ = ["Device", "Instance", "MarkovConfig", "Model", "Patch", "Problem", "SOLVERS", "Schedule",
           "compile_problem", "device_loads", "greedy", "load_instance", "markov", "min_max_start",
           "parse_instance", "proportional", "solve", "uniform", "warm_up"]
