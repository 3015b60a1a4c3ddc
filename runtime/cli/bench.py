"""``paraloupe-bench <what> [options]`` — runtime-side benchmarks that print figures (table + JSON).

Subcommands are modules ``runtime.bench.<what>`` with a ``main(argv) -> int``:
``scheduler`` (policies vs the MILP optimum), ``patches`` (patch generators: speed and coverage),
``soak`` (the local cluster under overload for minutes: queues, RSS, drops, latency), ``tracker`` (the
multi-object tracker: ms/frame incl. camera motion, id switches), ``motion`` (motion boxes: ms/frame),
``loop`` (the closed loop in process with the real models: F1, patch recall, patches per frame), ``tune``
(that loop over the whole tuning set: per-video F1 and the mean to compare settings by), ``stability`` (replays
started at different frames, scored on their common frames: the F1 spread) and ``versus`` (ParaLoupe against
the baseline at every exported side per video: ratio to the equal-budget side, gap to the best).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from runtime.errors import UserError, cli_entry, run_cli

SUBCOMMANDS = ("scheduler", "patches", "soak", "tracker", "motion", "loop", "tune", "stability", "versus")


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    what, rest = args[0], args[1:]
    if what not in SUBCOMMANDS:
        raise UserError(f"paraloupe-bench: unknown benchmark {what!r} (choose from {', '.join(SUBCOMMANDS)})")
    module = importlib.import_module(f"runtime.bench.{what}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    run_cli(main)
