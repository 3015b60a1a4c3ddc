"""``paraloupe-eval --pred P.jsonl --gt GT.json [--iou 0.5] [--frames A:B] [--min-score S]``.

Prints precision, recall and F1 per class and overall (micro) as JSON on stdout and as a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from runtime.coco import load_coco
from runtime.errors import cli_entry, run_cli
from runtime.evaluate import evaluate, format_table, parse_frame_range
from runtime.predictions import read_predictions


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-eval", description=__doc__.split("\n\n")[1])
    parser.add_argument("--pred", required=True, help="prediction JSONL (one line per frame)")
    parser.add_argument("--gt", required=True, help="ground-truth COCO JSON (image id = frame index)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold for a match (default 0.5)")
    parser.add_argument("--frames", default=None, help="half-open frame range A:B (default: all)")
    parser.add_argument("--min-score", type=float, default=0.0, help="drop predictions below this score")
    args = parser.parse_args(argv)
    gt = load_coco(args.gt)
    preds = read_predictions(args.pred)
    result = evaluate(gt, preds, iou=args.iou, frames=parse_frame_range(args.frames), min_score=args.min_score)
    print(format_table(result), file=sys.stderr)
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    run_cli(main)
