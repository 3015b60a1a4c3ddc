"""``paraloupe-label --video V --model M.onnx --out GT.json [--raw RAW.json] [--frames A:B[:S]]
[--preset teacher-centernet|yolo] [--score 0.40] [--threads N]``

Runs an ONNX COCO detector over a video and writes the ground-truth COCO JSON of CONVENTIONS.md (score
≥ 0.40, mapped to person/vehicle, categories 1 person, 2 vehicle, ``score`` kept) and, with ``--raw``, every
detection with score ≥ 0.20 (COCO-80 ids + 1) for reference. Outputs are written atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from factory.teacher.detector import PRESETS, Detector, with_overrides
from factory.teacher.labels import label_video
from runtime.coco import write_coco
from runtime.errors import cli_entry, run_cli
from runtime.video import parse_frames, video_info


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-label",
                                     description="Label a video with an ONNX COCO detector (teacher).")
    parser.add_argument("--video", required=True, help="input video (anything OpenCV decodes)")
    parser.add_argument("--model", required=True, help="ONNX detector")
    parser.add_argument("--out", required=True, help="ground-truth COCO JSON to write")
    parser.add_argument("--raw", default=None, help="also write every detection with score >= --raw-score")
    parser.add_argument("--frames", default=None, help="half-open frame range A:B or A:B:S (default: all)")
    parser.add_argument("--preset", default="teacher-centernet", choices=sorted(PRESETS),
                        help="detector description (input/output layout), default teacher-centernet")
    parser.add_argument("--score", type=float, default=0.40, help="ground-truth score cut (default 0.40)")
    parser.add_argument("--raw-score", type=float, default=0.20, help="raw file score cut (default 0.20)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = its default)")
    args = parser.parse_args(argv)
    frames = parse_frames(args.frames)
    video_info(args.video)  # a missing or undecodable video fails before the model loads
    spec = with_overrides(PRESETS[args.preset], threads=max(args.threads, 0))
    detector = Detector(args.model, spec, min_score=min(args.raw_score, args.score))
    result = label_video(args.video, detector, frames, min_score=args.score)
    write_coco(args.out, result.gt)
    if args.raw:
        write_coco(args.raw, result.raw)
    n_gt = sum(len(f) for f in result.gt.frames.values())
    print(f"labelled {result.frames} frames of {args.video}: {n_gt} ground-truth boxes, "
          f"{result.ms_per_frame:.1f} ms/frame -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
