"""DVC stage ``evaluate``: the paper's §IV experiments on the bundle — figures, ``report.md``, metrics, plots.

Run: ``python -m factory.stages.evaluate`` (reads ``params.yaml: evaluate``; the quick set, like a plain
``paraloupe-report``). Writes ``<out_dir>/*.png`` + ``results.json`` (+ the replay cache), the markdown
report, and ``<metrics_dir>/metrics.json`` (DVC metrics: speedup and F1 gain per device and latency basis; F1, AP50
and p50 per-frame latency per video and method) with ``tradeoff.csv``, ``generators.csv`` and ``iou.csv`` (DVC
plots). Logs the metrics (``world/<device>/<name>``, ``f1.<video>.<method>``, ...), the report and the PNGs to
MLflow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from factory.pipeline import load_section, resolve_path
from factory.report.build import build_report
from factory.report.config import EvaluateParams
from factory.report.per_video import flat_metrics
from factory.tracking import stage_run
from runtime.errors import cli_entry, run_cli


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("evaluate", EvaluateParams)
    out = resolve_path(params.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with stage_run("evaluate", params, out) as tracker:
        metrics = build_report(params, full=False)
        tracker.metrics(flat_metrics(metrics))
        tracker.artifact(resolve_path(params.report))
        tracker.artifact(out / "results.json")
        for png in metrics["figures"]:
            tracker.artifact(out / png, "figures")
    return 0


if __name__ == "__main__":
    run_cli(main)
