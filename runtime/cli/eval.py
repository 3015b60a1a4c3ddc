"""``paraloupe-eval --pred P.jsonl --gt GT.json [--iou 0.5] [--frames A:B] [--min-score S] [--task keypoints]``.

Prints precision, recall and F1 per class and overall (micro) as JSON on stdout and as a table on stderr; beside
them COCO AP50 and AP@[.5:.95] per class and overall (:mod:`runtime.coco_ap`, JSON key ``coco_ap``) when
``faster-coco-eval`` is installed (``pip install 'paraloupe[coco]'``; without it one line on stderr says so).
F1 reads each line's ``detections``; AP ranks its ``ranked_detections`` where the line has them (the frame's
detections before the score thresholds), else its ``detections``. ``--task keypoints``: the lines of
``paraloupe-keypoints`` against a COCO keypoint JSON (a world video's ``keypoints.json``): OKS AP / AP50 / AP75
(:mod:`runtime.keypoint_ap`, COCO's sigmas) as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from runtime import coco_ap
from runtime.coco import load_coco
from runtime.errors import cli_entry, run_cli
from runtime.evaluate import evaluate, format_table, parse_frame_range
from runtime.manifest import TASKS
from runtime.predictions import RANKED_KEY, read_predictions, read_ranked


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-eval", description=__doc__.split("\n\n")[1])
    parser.add_argument("--pred", required=True, help="prediction JSONL (one line per frame)")
    parser.add_argument("--gt", required=True, help="ground-truth COCO JSON (image id = frame index)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold of an F1 match (default 0.5)")
    parser.add_argument("--frames", default=None, help="half-open frame range A:B (default: all)")
    parser.add_argument("--min-score", type=float, default=0.0, help="drop predictions below this score (F1 and AP)")
    parser.add_argument("--task", choices=TASKS, default="detection",
                        help="keypoints: OKS AP of keypoint lines against a COCO keypoint JSON")
    args = parser.parse_args(argv)
    if args.task == "keypoints":
        from runtime.keypoint_ap import read_pose_lines, video_keypoint_ap

        result = video_keypoint_ap(args.gt, read_pose_lines(args.pred), parse_frame_range(args.frames))
        print(f"OKS AP {result['ap']:.3f}, AP50 {result['ap50']:.3f}, AP75 {result['ap75']:.3f} over "
              f"{result['images']} frames", file=sys.stderr)
        print(json.dumps({"keypoints": result}))
        return 0
    gt = load_coco(args.gt)
    preds = read_predictions(args.pred)
    frames = parse_frame_range(args.frames)
    result = evaluate(gt, preds, iou=args.iou, frames=frames, min_score=args.min_score)
    print(format_table(result), file=sys.stderr)
    out = result.as_dict()
    if coco_ap.available():
        ranked, with_key = read_ranked(args.pred)
        source = {0: "detections", len(ranked): RANKED_KEY}.get(
            with_key, f"{RANKED_KEY} on {with_key} of {len(ranked)} lines, detections elsewhere")
        ap = coco_ap.average_precision(gt, ranked, frames, args.min_score, source)
        print(coco_ap.format_ap(ap), file=sys.stderr)
        out["coco_ap"] = ap.as_dict()
    else:
        print(f"COCO AP: not computed, faster-coco-eval is not installed ({coco_ap.INSTALL_HINT})", file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    run_cli(main)
