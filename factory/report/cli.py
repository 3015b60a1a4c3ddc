"""``paraloupe-report`` — regenerate every figure of the evaluation and ``report.md`` from the bundle.

Run::

    paraloupe-report [--full] [--out models/report] [--bundle models/bundle] [--params params.yaml]
                     [--report models/report.md] [--netns]

Reads the ``evaluate`` section of the params file (the DVC ``evaluate`` stage runs the same code, quick set).
The default is the quick set (a few minutes on a 2-core VM); ``--full`` replays every frame of the world test
videos and the real video's whole evaluation split. Replay runs are cached under ``<out>/cache`` keyed by
the bundle checksum and params, so a second call only re-draws. ``--netns`` (root) also runs the cluster
figures (Fig. 22–24) on ``--cluster netns:N`` — every process in its own network namespace, 300 Mbit/s tbf
links — and draws them beside the loopback ones; without namespaces the report says so in one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Sequence

from factory.pipeline import load_section, resolve_path
from factory.report.build import build_report
from factory.report.config import EvaluateParams
from runtime.errors import cli_entry, run_cli


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="paraloupe-report", description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="more frames and videos (the `full` scope)")
    ap.add_argument("--out", help="figures, results.json and cache (default: evaluate.out_dir)")
    ap.add_argument("--bundle", help="the bundle folder (default: evaluate.bundle)")
    ap.add_argument("--params", help="params file (default: $PARALOUPE_PARAMS or params.yaml)")
    ap.add_argument("--report", help="markdown report path (default: evaluate.report)")
    ap.add_argument("--netns", action="store_true",
                    help="also run the cluster figures (Fig. 22-24) with --cluster netns:N on 300 Mbit/s tbf links "
                         "(needs root; skipped with a line in the report otherwise)")
    return ap.parse_args(argv)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    params = load_section("evaluate", EvaluateParams, args.params)
    if args.bundle:
        params = dataclasses.replace(params, bundle=args.bundle)
    metrics = build_report(params, args.full, out_dir=resolve_path(args.out) if args.out else None,
                           report=resolve_path(args.report) if args.report else None, netns=args.netns)
    for key, value in metrics.items():
        if "/" in key and isinstance(value, dict):
            shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in value.items()
                     if k.startswith(("speedup", "f1_gain"))}
            print(f"{key}: {shown}")
    print(f"report written in {metrics['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    run_cli(main)
