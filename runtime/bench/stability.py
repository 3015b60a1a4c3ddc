"""``paraloupe-bench stability`` — does the closed loop's F1 depend on the frame it starts at?

Run::

    paraloupe-bench stability --bundle models/bundle --video V --gt GT.json [--starts 0,10,20] [--end N]
        [--jobs 2] [--json OUT] [any ``paraloupe-bench loop`` option: --devices ... --slo 250 --set ...]

The loop keeps state from frame to frame (tracks, motion model, the rotating tile pass), so a replay started a
few frames later sees a different history. Each start runs ``paraloupe-bench loop`` over ``[start, end)`` with
the same options (the scheduler is seeded, so two runs from one start agree), and every run is scored on the
frames all of them share, ``[max(starts), end)``. Printed: F1 / P / R per start and the spread (max − min F1),
the figure issue 14 bounds by 0.03. Cluster runs add timing noise on top: their spread is measured apart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from runtime.atomic import write_json
from runtime.bench import loop
from runtime.coco import load_coco
from runtime.errors import UserError

#: the spread issue 14 accepts (F1 points / 100)
SPREAD_GOAL = 0.03


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paraloupe-bench stability", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--gt", required=True, help="COCO ground truth of the video")
    p.add_argument("--starts", default="0,10,20", help="comma-separated first frames of the replays")
    p.add_argument("--end", type=int, help="end frame (exclusive; default: the ground truth's last frame + 1)")
    p.add_argument("--jobs", type=int, default=2, help="replays run at once (one process each)")
    p.add_argument("--json", help="write the figures here")
    return p


def parse_starts(text: str) -> list[int]:
    """``"0,10,20"`` → ``[0, 10, 20]`` (distinct, non-negative, at least two); anything else is a one-line error."""
    try:
        starts = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise UserError(f"--starts: expected comma-separated frame numbers, got {text!r}") from None
    if len(starts) < 2 or starts[0] < 0:
        raise UserError(f"--starts {text}: give at least two distinct frames >= 0")
    return starts


def main(argv: Sequence[str] | None = None) -> int:
    args, loop_args = _parser().parse_known_args(argv)
    for banned in ("--frames", "--score-frames"):
        if banned in loop_args:
            raise UserError(f"{banned}: set by stability from --starts and --end")
    starts = parse_starts(args.starts)
    end = args.end if args.end is not None else max(load_coco(args.gt).frames) + 1
    if end <= starts[-1]:
        raise UserError(f"--end {end}: must be after the last start {starts[-1]}")
    common = f"{starts[-1]}:{end}"
    argvs = [["--bundle", args.bundle, "--video", args.video, "--gt", args.gt, "--frames", f"{s}:{end}",
              "--score-frames", common, *loop_args] for s in starts]
    runs = loop.run_many(argvs, max(1, args.jobs))
    f1 = [r["f1"] for r in runs]
    spread = max(f1) - min(f1)
    print(f"start  F1     P      R      (scored on frames [{starts[-1]}, {end}))")
    for s, r in zip(starts, runs, strict=True):
        print(f"{s:<5}  {r['f1']:.3f}  {r['precision']:.3f}  {r['recall']:.3f}")
    verdict = "within" if spread <= SPREAD_GOAL else "over"
    print(f"spread {spread:.4f} ({verdict} the {SPREAD_GOAL} goal; options: {' '.join(loop_args) or 'defaults'})")
    if args.json:
        out: dict[str, Any] = {"starts": starts, "end": end, "scored": [starts[-1], end], "spread": spread,
                               "runs": {str(s): r for s, r in zip(starts, runs, strict=True)},
                               "options": loop_args}
        write_json(args.json, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
