"""``paraloupe-schedule --instance I.json [--solver markov|uniform|proportional|greedy|milp] [--seed N]``

Assigns every patch of a scheduler instance (CONVENTIONS.md's format) to a (device, model) and prints
``{"assignment": [[patch, device, model], ...], "utility": U, "feasible": true|false, "max_latency_ms": T,
"ms": decision time}`` on stdout. Indices point into the instance's lists; T = the largest device latency
T_i (ms). ``feasible`` is false when no assignment found meets T_SLO: the answer then minimises T.
The decision time covers instance → assignment with the numba kernels already loaded (a warm-up call runs
first and is not counted).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from runtime.errors import cli_entry, run_cli
from runtime.modes import Solver
from runtime.scheduler import compile_problem, load_instance, solve, warm_up
from runtime.timing import Stopwatch


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-schedule", description=__doc__.split("\n\n")[1])
    parser.add_argument("--instance", required=True, help="scheduler instance JSON (CONVENTIONS.md)")
    parser.add_argument("--solver", default=Solver.MARKOV.value, choices=Solver.values(),
                        help=f"policy (default {Solver.MARKOV})")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the markov solver (default 0)")
    args = parser.parse_args(argv)
    instance = load_instance(args.instance)
    if args.solver == Solver.MILP:
        from runtime.scheduler.milp import require_scipy

        require_scipy()  # import scipy before the clock starts (or fail with a one-line error)
    else:
        warm_up()
    with Stopwatch() as watch:
        problem = compile_problem(instance)
        result = solve(problem, args.solver, args.seed)
    print(json.dumps(result.as_dict(problem, watch.ms)))
    return 0


if __name__ == "__main__":
    run_cli(main)
