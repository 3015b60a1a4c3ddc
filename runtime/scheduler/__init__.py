"""Patch-based task scheduler (paper §III-D): which (device, model) infers each patch of a frame.

Pure algorithms — arrays and dataclasses in and out, no sockets, no files beyond :func:`load_instance`.
``solve(problem, Solver.MARKOV, seed)`` is the one way in (a :class:`runtime.modes.Solver` or its value, e.g.
``"markov"``); the policies are:

- ``markov`` — Markov approximation, Algorithm 1 (:mod:`runtime.scheduler.markov`);
- ``greedy``, ``uniform``, ``proportional`` — comparison policies (:mod:`runtime.scheduler.heuristics`);
- ``milp`` — the exact optimum via scipy's HiGHS (optional scipy; :mod:`runtime.scheduler.milp`).
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.modes import Solver
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


SOLVERS: dict[Solver, Callable[[Problem, int], Schedule]] = {
    Solver.MARKOV: lambda problem, seed: markov(problem, seed),
    Solver.UNIFORM: lambda problem, seed: uniform(problem),
    Solver.PROPORTIONAL: lambda problem, seed: proportional(problem),
    Solver.GREEDY: lambda problem, seed: greedy(problem),
    Solver.MILP: _milp,
}
assert set(SOLVERS) == set(Solver), "every Solver needs an entry in SOLVERS"


def solve(problem: Problem, solver: Solver | str = Solver.MARKOV, seed: int = 0) -> Schedule:
    """Run policy ``solver`` (a :class:`Solver` or its value) on ``problem``; ``seed`` matters for markov only.
    An unknown name is a one-line :class:`runtime.errors.UserError`."""
    return SOLVERS[Solver.parse(solver, "solver")](problem, seed)


__all__ = ["Device", "Instance", "MarkovConfig", "Model", "Patch", "Problem", "SOLVERS", "Schedule", "Solver",
           "compile_problem", "device_loads", "greedy", "load_instance", "markov", "min_max_start",
           "parse_instance", "proportional", "solve", "uniform", "warm_up"]
