"""Policies on random instances: feasibility whenever a feasible assignment exists (brute force on tiny
instances, MILP on small ones), infeasible instances flagged with the min-max answer, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from runtime.bench.scheduler import random_instance
from runtime.scheduler import (
    SOLVERS,
    Device,
    Instance,
    MarkovConfig,
    Model,
    Patch,
    Problem,
    Schedule,
    compile_problem,
    markov,
    solve,
)
from runtime.scheduler.milp import milp

pytest.importorskip("scipy")

POLICIES = list(SOLVERS)


def _tiny(rng: np.random.Generator) -> Problem:
    """K ≤ 4 patches, 2 devices × 2 models: brute force over ≤ 256 assignments."""
    inst = random_instance(rng, n_patches=int(rng.integers(1, 5)), n_devices=2)
    devices = [Device(name=d.name, bandwidth_Bps=d.bandwidth_Bps, models=d.models[:2], cost=d.cost)
               for d in inst.devices]
    return compile_problem(Instance(slo_ms=inst.slo_ms * float(rng.uniform(0.6, 1.6)), gamma=inst.gamma,
                                    patches=inst.patches, devices=devices))


def _brute(problem: Problem) -> tuple[float | None, float]:
    """(best feasible utility or None, smallest possible max T_i)."""
    best, peak = None, np.inf
    for combo in itertools.product(range(problem.n_options), repeat=problem.n_patches):
        s = Schedule.of(problem, np.array(combo))
        peak = min(peak, s.max_latency_ms)
        if s.feasible and (best is None or s.utility > best):
            best = s.utility
    return best, peak


def test_tiny_instances_against_brute_force() -> None:
    rng = np.random.default_rng(7)
    n_infeasible = 0
    for i in range(40):
        problem = _tiny(rng)
        best, peak = _brute(problem)
        for name in POLICIES:
            result = solve(problem, name, seed=i)
            assert len(result.choice) == problem.n_patches  # no patch dropped
            if name in ("markov", "greedy", "milp"):
                assert result.feasible == (best is not None), (i, name)
            if result.feasible:
                assert result.max_latency_ms <= problem.slo_ms + 1e-6
                assert result.utility <= best + 1e-9
        if best is None:
            n_infeasible += 1
            assert solve(problem, "milp").max_latency_ms == pytest.approx(peak)
            assert solve(problem, "markov").max_latency_ms == pytest.approx(peak)
        else:
            assert solve(problem, "milp").utility == pytest.approx(best)
            assert solve(problem, "markov", seed=i).utility >= 0.97 * best
    assert 0 < n_infeasible < 40  # both kinds were exercised


def test_small_instances_against_milp() -> None:
    rng = np.random.default_rng(11)
    ratios = []
    for i in range(25):
        problem = compile_problem(random_instance(rng))
        exact = milp(problem)
        for name in ("markov", "greedy"):
            result = solve(problem, name, seed=i)
            assert result.feasible == exact.feasible, (i, name)
            if result.feasible:
                assert result.max_latency_ms <= problem.slo_ms + 1e-6
                assert result.utility <= exact.utility + 1e-9
        if exact.feasible:
            ratios.append(solve(problem, "markov", seed=i).utility / exact.utility)
    assert np.mean(ratios) >= 0.97


def test_infeasible_instance_is_flagged_and_keeps_every_patch() -> None:
    inst = Instance(slo_ms=5.0, gamma=0.2, patches=[Patch(bytes=50_000, confidence=1.0)] * 6,
                    devices=[Device(name="a", bandwidth_Bps=1e7, cost=0.0,
                                    models=[Model(name="m", latency_ms=10, accuracy=0.6)]),
                             Device(name="b", bandwidth_Bps=2e7, cost=0.3,
                                    models=[Model(name="m", latency_ms=30, accuracy=0.8)])])
    problem = compile_problem(inst)
    for name in POLICIES:
        result = solve(problem, name)
        assert not result.feasible and len(result.choice) == 6
        assert result.max_latency_ms > inst.slo_ms
    # a patch costs 15 ms on a, 32.5 ms on b: the min-max split is 4 on a (60 ms), 2 on b (65 ms)
    exact = solve(problem, "milp").max_latency_ms
    assert exact == pytest.approx(65.0)
    assert solve(problem, "markov").max_latency_ms == pytest.approx(exact)


def test_same_seed_same_answer() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        problem = compile_problem(random_instance(rng))
        for config in (None, MarkovConfig(init="random", pairs=False, chains=1)):
            a, b = markov(problem, 42, config), markov(problem, 42, config)
            assert np.array_equal(a.choice, b.choice) and a.utility == b.utility


def test_empty_frame() -> None:
    inst = random_instance(np.random.default_rng(0))
    problem = compile_problem(Instance(slo_ms=1.0, gamma=0.2, patches=[], devices=inst.devices))
    for name in POLICIES:
        result = solve(problem, name)
        assert result.feasible and result.assignment(problem) == [] and result.utility == 0.0


def test_large_instance_stays_feasible() -> None:
    problem = compile_problem(random_instance(np.random.default_rng(5), n_patches=50, n_devices=20))
    result = markov(problem, 0)
    assert result.feasible and result.max_latency_ms <= problem.slo_ms + 1e-6
    assert result.utility >= solve(problem, "greedy").utility - 1e-12
