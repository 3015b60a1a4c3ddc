"""``paraloupe-bench scheduler [--instances 1000] [--seed N] [--json OUT] [--large 20]``

Every scheduling policy on random instances, against the exact MILP optimum U*. An instance: K uniform in
3–12 patches of 8–120 KB (y ∈ {1, 0.5}); 4 devices with Jetson-, RPi-, RPi- and phone-like latencies, 3 models
each whose accuracy rises with latency; bandwidth 5–40 MB/s; device cost ∈ {0, 0.1, 0.3, 0.6}; γ = 0.2;
T_SLO = 0.9–2.5 × the greedy (LPT) makespan. Only instances the MILP proves feasible are kept.

Per policy: utility ratio U / U* (an assignment that misses T_SLO counts 0), its mean and the mean of the
worst 5 %, the feasibility rate, and the decision time (instance → assignment, kernels warm) median / p90
in ms. ``--large N`` adds N instances with K = 50, C = 20 (5 × the 4 device types): decision time, and U over
the LP-relaxation bound (≤ U*, so a lower bound on U / U*). Table on stderr, JSON on stdout (and in OUT).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from runtime.bench.common import report as emit
from runtime.errors import UserError, cli_entry, run_cli
from runtime.modes import Solver
from runtime.scheduler import (
    Device,
    Instance,
    MarkovConfig,
    Model,
    Patch,
    Schedule,
    _kernels,
    compile_problem,
    greedy,
    markov,
    proportional,
    uniform,
    warm_up,
)
from runtime.timing import Stopwatch

#: (kind, fastest model latency ms): Jetson Xavier NX, Raspberry Pi 4B (two), Snapdragon 732G phone.
DEVICE_KINDS = (("jetson", 8.0), ("rpi", 45.0), ("rpi", 45.0), ("phone", 20.0))
COSTS = (0.0, 0.1, 0.3, 0.6)

Policy = Callable[[Instance, int], Schedule]
#: The policies timed here (the MILP optimum is the reference, run apart), and Markov as the paper runs it.
POLICIES: dict[str, Policy] = {
    Solver.MARKOV: lambda inst, seed: markov(compile_problem(inst), seed),
    "markov-paper": lambda inst, seed: markov(compile_problem(inst), seed, MarkovConfig(init="random", pairs=False,
                                                                                       chains=1)),
    Solver.GREEDY: lambda inst, seed: greedy(compile_problem(inst)),
    Solver.PROPORTIONAL: lambda inst, seed: proportional(compile_problem(inst)),
    Solver.UNIFORM: lambda inst, seed: uniform(compile_problem(inst)),
}


def random_instance(rng: np.random.Generator, n_patches: int | None = None, n_devices: int = 4) -> Instance:
    """One random instance as described in the module docstring (K drawn in 3–12 unless given)."""
    k = int(rng.integers(3, 13)) if n_patches is None else n_patches
    devices = []
    for i in range(n_devices):
        kind, fastest = DEVICE_KINDS[i % len(DEVICE_KINDS)]
        latency = np.sort(fastest * np.array([1.0, 2.0, 4.0]) * rng.uniform(0.8, 1.25, 3))
        accuracy = np.clip(rng.uniform(0.50, 0.62) + np.cumsum(np.r_[0.0, rng.uniform(0.04, 0.12, 2)]), 0, 1)
        models = [Model(name=f"{kind}-m{j}", latency_ms=float(t), accuracy=float(a))
                  for j, (t, a) in enumerate(zip(latency, accuracy, strict=False))]
        devices.append(Device(name=f"{kind}-{i}", bandwidth_Bps=float(rng.uniform(5e6, 40e6)), models=models,
                              cost=float(rng.choice(COSTS))))
    patches = [Patch(bytes=float(rng.uniform(8e3, 120e3)), confidence=float(rng.choice([1.0, 0.5])))
               for _ in range(k)]
    draft = Instance(slo_ms=1.0, gamma=0.2, patches=patches, devices=devices)
    draft_problem = compile_problem(draft)
    lpt = _kernels.minimax(draft_problem.u, draft_problem.w, draft_problem.dev, draft_problem.n_devices, 0)
    makespan = Schedule.of(draft_problem, lpt).max_latency_ms
    return Instance(slo_ms=float(makespan * rng.uniform(0.9, 2.5)), gamma=0.2, patches=patches, devices=devices)


def _timed(policy: Policy, inst: Instance, seed: int) -> tuple[Schedule, float]:
    with Stopwatch() as watch:
        result = policy(inst, seed)
    return result, watch.ms


def _summary(ratios: list[float], feasible: list[bool], ms: list[float]) -> dict[str, float]:
    r = np.sort(np.asarray(ratios))
    worst = r[: max(1, int(round(0.05 * r.size)))]
    return {"ratio_mean": float(r.mean()), "ratio_worst5_mean": float(worst.mean()), "ratio_min": float(r[0]),
            "feasible_rate": float(np.mean(feasible)), "ms_median": float(np.median(ms)),
            "ms_p90": float(np.percentile(ms, 90)), "ms_max": float(np.max(ms))}


def run_small(n: int, seed: int) -> dict[str, Any]:
    """The K = 3–12 benchmark against the MILP optimum."""
    from runtime.scheduler.milp import milp

    rng = np.random.default_rng(seed)
    names = [*POLICIES, Solver.MILP]
    rows: dict[str, dict[str, list]] = {p: {"ratio": [], "feasible": [], "ms": []} for p in names}
    drawn = 0
    while len(rows[Solver.MILP]["ratio"]) < n:
        inst = random_instance(rng)
        drawn += 1
        best, best_ms = _timed(lambda i, s: milp(compile_problem(i)), inst, 0)
        if not best.feasible:
            continue
        for name in names:
            result, ms = (best, best_ms) if name == Solver.MILP else _timed(POLICIES[name], inst, drawn)
            rows[name]["ratio"].append(result.utility / best.utility if result.feasible else 0.0)
            rows[name]["feasible"].append(result.feasible)
            rows[name]["ms"].append(ms)
    return {"instances": n, "drawn": drawn,
            "policies": {p: _summary(r["ratio"], r["feasible"], r["ms"]) for p, r in rows.items()}}


def run_large(n: int, seed: int) -> dict[str, Any]:
    """K = 50, C = 20: decision time and U over the LP bound, for markov and greedy."""
    from runtime.scheduler.milp import lp_bound

    rng = np.random.default_rng(seed + 1)
    rows: dict[str, dict[str, list]] = {p: {"ratio": [], "feasible": [], "ms": []}
                                        for p in (Solver.MARKOV, Solver.GREEDY)}
    while len(rows[Solver.MARKOV]["ms"]) < n:
        inst = random_instance(rng, n_patches=50, n_devices=20)
        bound = lp_bound(compile_problem(inst))
        if not np.isfinite(bound):
            continue
        for name in rows:
            result, ms = _timed(POLICIES[name], inst, len(rows[name]["ms"]))
            rows[name]["ratio"].append(result.utility / bound if result.feasible else 0.0)
            rows[name]["feasible"].append(result.feasible)
            rows[name]["ms"].append(ms)
    return {"instances": n, "K": 50, "C": 20,
            "policies": {p: _summary(r["ratio"], r["feasible"], r["ms"]) for p, r in rows.items()}}


def format_table(report: dict[str, Any]) -> str:
    """Human-readable table of a :func:`main` report."""
    lines = []
    for key, title, ref in (("small", "K 3-12, C 4", "U*"), ("large", "K 50, C 20", "LP bound")):
        if key not in report:
            continue
        part = report[key]
        lines.append(f"{title}: {part['instances']} instances; ratio = U / {ref}, a miss of T_SLO counts 0")
        lines.append(f"{'policy':<20}{'mean':>8}{'worst5%':>9}{'min':>8}{'feasible':>10}{'ms med':>9}{'ms p90':>9}")
        for name, s in part["policies"].items():
            lines.append(f"{name:<20}{s['ratio_mean']:>8.4f}{s['ratio_worst5_mean']:>9.4f}{s['ratio_min']:>8.3f}"
                         f"{s['feasible_rate']:>10.3f}{s['ms_median']:>9.3f}{s['ms_p90']:>9.3f}")
        lines.append("")
    return "\n".join(lines)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-bench scheduler", description=__doc__.split("\n\n")[1])
    parser.add_argument("--instances", type=int, default=1000, help="feasible K 3-12 instances (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the instance generator (default 0)")
    parser.add_argument("--json", default=None, help="also write the JSON report here")
    parser.add_argument("--large", type=int, default=20, help="K=50, C=20 instances (default 20, 0 = skip)")
    args = parser.parse_args(argv)
    if args.instances < 1 or args.large < 0:
        raise UserError("--instances must be >= 1 and --large >= 0")
    warm_up()
    report: dict[str, Any] = {"seed": args.seed, "small": run_small(args.instances, args.seed)}
    if args.large:
        report["large"] = run_large(args.large, args.seed)
    emit(report, format_table(report), args.json)
    return 0


if __name__ == "__main__":
    run_cli(main)
