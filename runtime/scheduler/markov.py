"""Markov approximation for problem P (paper §III-D3, Algorithm 1).

Each chain is Algorithm 1:

1. A feasible initial assignment (Eq. 4b holds) — see "Initialisation" below.
2. Each iteration picks a uniformly random patch p_k and a uniformly random other (device, model) for it. A
   proposal that breaks T_SLO is discarded; a feasible one is accepted with probability
   ρ = 1 / (1 + e^((U − Ũ)/β)) — the paper's rule, unchanged.
3. Stop after T_max proposals, or when the best U has risen by less than ε = 0.01 in each of N = 10
   consecutive *sweeps* (a sweep = K·(O − 1) proposals, the size of one patch-move neighbourhood; counting
   single proposals would stop a K = 12 chain after a few dozen steps, since one move changes U by Δu/K).
   The chain's answer is the best assignment it visited (never worse than its start).

Initialisation. The paper's random feasible start (random patch order, each patch a uniformly random option
that still fits) reaches only U/U* ≈ 0.98 mean, 0.93 on the worst 5 % (``paraloupe-bench scheduler``,
row ``markov-paper``): single-patch moves cannot cross between regions of the feasible set that are linked
only through an overloaded device (e.g. two patches that must swap devices). So by default (``init="greedy"``)
chain 1 starts from the greedy policy extended with two-patch changes (:func:`greedy_pairs`), and chains 2..3
from random feasible starts refined the same way; the best chain wins. Every start is feasible and the
acceptance rule is the paper's. ``MarkovConfig(init="random", pairs=False, chains=1)`` is Algorithm 1 as
printed. Restarts are skipped above K·O = 1000 (K = 50, C = 20 runs one chain).

Choices (measured by ``paraloupe-bench scheduler``):

- β = ``beta_patch`` / K with ``beta_patch`` = 0.03: a move that changes one patch's utility term by δ is
  taken with ρ = 1 / (1 + e^(−δ / 0.03)) whatever K is — a loss of 0.03 with ρ ≈ 0.27, of 0.1 with ρ ≈ 0.03.
  (0.003 and 0.01 explored too little, 0.1 too much.)
- T_max = 12 sweeps = 12 · K · (O − 1) proposals (1,584 for K = 12 and 4 × 3 options; 35,400 for K = 50,
  C = 20), capped at ``t_max_cap``; longer chains did not raise U on the benchmark.

Speed: the utility and load terms are precomputed per (patch, option) (:class:`Problem`), T_i is kept
incrementally, the chain is a numba kernel, and its random numbers are drawn up front from
``numpy.random.default_rng(seed)`` — the same seed gives the same answer.

Infeasible instances (no assignment meets T_SLO): the min-max-latency assignment, ``feasible=False``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from runtime.config import bounded
from runtime.scheduler import _kernels
from runtime.scheduler.heuristics import greedy, greedy_pairs, min_max_start
from runtime.scheduler.problem import FEAS_TOL_MS, Problem, Schedule


@dataclasses.dataclass(frozen=True)
class MarkovConfig:
    """Parameters of Algorithm 1 (defaults documented in the module docstring)."""

    beta_patch: float = bounded(0.03, "β · K: randomness on the scale of one patch's utility term", gt=0)
    sweeps_max: int = bounded(12, "T_max in sweeps of K·(O−1) proposals", ge=1)
    t_max_cap: int = bounded(200_000, "hard cap on T_max, proposals", ge=1)
    eps: float = bounded(0.01, "ε: least rise of the best U per sweep that counts as progress", ge=0)
    n_stall: int = bounded(10, "N: sweeps without progress before stopping", ge=1)
    init: Literal["greedy", "random"] = bounded("greedy", "initial feasible assignment")
    attempts: int = bounded(20, "random initialisation tries before the min-max placement", ge=1)
    pairs: bool = bounded(True, "greedy warm start also tries two-patch changes")
    chains: int = bounded(3, "independent chains; the 2nd and later start from random feasible assignments", ge=1)
    chains_max_size: int = bounded(1000, "above this K·O, one chain only (each restart is a full warm start)",
                                   ge=0)


def _random_start(problem: Problem, rng: np.random.Generator, config: MarkovConfig) -> Schedule | None:
    draws = rng.random(config.attempts * 2 * problem.n_patches)
    choice = _kernels.random_feasible(problem.w, problem.dev, problem.n_devices, problem.slo_ms + FEAS_TOL_MS,
                                      draws, config.attempts)
    return Schedule.of(problem, choice) if choice.size else None


def _chain(problem: Problem, start: Schedule, rng: np.random.Generator, config: MarkovConfig) -> Schedule:
    n_k, n_o = problem.n_patches, problem.n_options
    sweep = n_k * (n_o - 1)
    t_max = min(config.sweeps_max * sweep, config.t_max_cap)
    pick_k = rng.integers(0, n_k, t_max)
    pick_o = rng.integers(0, n_o - 1, t_max)
    accept = rng.random(t_max)
    best, _ = _kernels.markov_chain(start.choice, problem.u, problem.w, problem.dev, problem.n_devices,
                                    problem.slo_ms + FEAS_TOL_MS, config.beta_patch / n_k, pick_k, pick_o, accept,
                                    config.eps, config.n_stall, sweep)
    return Schedule.of(problem, best)


def markov(problem: Problem, seed: int = 0, config: MarkovConfig | None = None) -> Schedule:
    """Algorithm 1 on ``problem`` with ``numpy.random.default_rng(seed)``; never drops a patch."""
    config = config or MarkovConfig()
    if problem.n_patches == 0:
        return Schedule.of(problem, np.zeros(0, dtype=np.int64))
    rng = np.random.default_rng(seed)
    if config.init == "greedy":
        first = greedy_pairs(problem) if config.pairs else greedy(problem)
    else:
        first = _random_start(problem, rng, config)
    if first is None:
        first = min_max_start(problem)
    if not first.feasible or problem.n_options == 1:
        return first
    best = _chain(problem, first, rng, config)
    n_chains = config.chains if problem.n_patches * problem.n_options <= config.chains_max_size else 1
    for _ in range(n_chains - 1):
        start = _random_start(problem, rng, config)
        if start is not None and config.pairs:
            start = greedy_pairs(problem, start)
        if start is not None:
            other = _chain(problem, start, rng, config)
            if other.utility > best.utility + 1e-12:
                best = other
    return best


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on a tiny instance, so a timed call measures the
    decision alone."""
    u = np.array([[0.5, 0.6], [0.4, 0.7]])
    w = np.array([[1.0, 2.0], [1.0, 2.0]])
    problem = Problem(u=u, w=w, dev=np.array([0, 1]), model=np.array([0, 0]), slo_ms=10.0, n_devices=2)
    markov(problem, 0)
    markov(problem, 0, MarkovConfig(init="random"))
    greedy(problem)
