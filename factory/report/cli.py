"""``paraloupe-report`` — regenerate every figure of the evaluation and ``report.md`` from the bundle.

Run::

    paraloupe-report [--full] [--out models/report] [--bundle models/bundle] [--params params.yaml]
                     [--report models/report.md] [--netns]
    paraloupe-report strips --video V --gt GT.json --pred P.jsonl [--pred-baseline PB.jsonl] --out DIR
                     [--frames A:B] [--count 4] [--width 480] [--name NAME]

Reads the ``evaluate`` section of the params file (the DVC ``evaluate`` stage runs the same code, quick set).
The default is the quick set (a few minutes on a 2-core VM); ``--full`` replays every frame of the world test
videos and the real video's whole evaluation split. Replay runs are cached under ``<out>/cache`` keyed by
the bundle checksum and params, so a second call only re-draws. ``--netns`` (root) also runs the cluster
figures (Fig. 22–24) on ``--cluster netns:N`` — every process in its own network namespace, 300 Mbit/s tbf
links — and draws them beside the loopback ones; without namespaces the report says so in one line.

``strips`` draws, without building the report, one PNG per prediction file (``<out>/<name>-paraloupe.png``,
``<name>-baseline.png``): ``--count`` frames spread over ``--frames`` (default: the range ``--pred`` covers) with
the patches (where the lines carry ``patch_rects``), detections, ground truth and missed objects circled
(``factory/report/strips.py``). ``--name`` defaults to the video file's stem.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from factory.pipeline import load_section, resolve_path
from factory.report.build import build_report
from factory.report.config import EvaluateParams
from runtime.errors import UserError, cli_entry, run_cli
from runtime.evaluate import parse_frame_range


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="paraloupe-report", description=__doc__.split("\n\n")[0],
                                 epilog="paraloupe-report strips --help: frame strips of prediction files (no report)")
    ap.add_argument("--full", action="store_true", help="more frames and videos (the `full` scope)")
    ap.add_argument("--out", help="figures, results.json and cache (default: evaluate.out_dir)")
    ap.add_argument("--bundle", help="the bundle folder (default: evaluate.bundle)")
    ap.add_argument("--params", help="params file (default: $PARALOUPE_PARAMS or params.yaml)")
    ap.add_argument("--report", help="markdown report path (default: evaluate.report)")
    ap.add_argument("--netns", action="store_true",
                    help="also run the cluster figures (Fig. 22-24) with --cluster netns:N on 300 Mbit/s tbf links "
                         "(needs root; skipped with a line in the report otherwise)")
    return ap.parse_args(argv)


def parse_strips_args(argv: Sequence[str]) -> argparse.Namespace:
    """The options of ``paraloupe-report strips``."""
    ap = argparse.ArgumentParser(prog="paraloupe-report strips",
                                 description="frames with patches, detections, ground truth and missed objects")
    ap.add_argument("--video", required=True, help="the video the predictions are of")
    ap.add_argument("--gt", required=True, help="its ground truth (COCO, image id = frame index)")
    ap.add_argument("--pred", required=True, help="ParaLoupe's prediction JSONL (paraloupe-run --out)")
    ap.add_argument("--pred-baseline", help="the baseline's prediction JSONL (same frames)")
    ap.add_argument("--out", required=True, help="folder of the PNGs")
    ap.add_argument("--frames", help="half-open A:B to spread the frames over (default: the range --pred covers)")
    ap.add_argument("--count", type=int, default=4, help="frames per strip (default 4: a 2x2 grid)")
    ap.add_argument("--width", type=int, default=480, help="tile width, px (default 480)")
    ap.add_argument("--name", help="file name prefix (default: the video file's stem)")
    return ap.parse_args(argv)


def strips_main(argv: Sequence[str]) -> int:
    """``paraloupe-report strips``: write the strips, print their paths."""
    from factory.report.strips import strips_from_files

    args = parse_strips_args(argv)
    if args.count < 1 or args.width < 16:
        raise UserError("--count must be >= 1 and --width >= 16")
    preds = {"paraloupe": args.pred, **({"baseline": args.pred_baseline} if args.pred_baseline else {})}
    written = strips_from_files(args.video, args.gt, preds, args.out, args.name or Path(args.video).stem,
                                parse_frame_range(args.frames), args.count, args.width)
    for path in written.values():
        print(path)
    return 0


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["strips"]:
        return strips_main(argv[1:])
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
