"""``paraloupe-bench tune`` — the closed loop over the whole tuning set at once: per-video F1 and their mean.

Run::

    paraloupe-bench tune --bundle models/bundle --world models/world
        [--real ../shared/data/vtest/vtest.avi --real-gt models/label/vtest/annotations.json --real-frames 200:500]
        [--devices raspberry-pi-4b,raspberry-pi-4b,raspberry-pi-4b,raspberry-pi-4b --slo 250]
        [--set loop.KEY=VALUE ...] [--config loop.yaml] [--mode ...] [--jobs 2] [--json OUT] [--per-mini]

The tuning set is every ``val*`` folder of ``--world`` (``video.mp4`` + ``annotations.json``) plus, with
``--real``, a real video's training range. Test videos are refused (a folder named ``test*`` given with
``--videos``, or ``--real-frames`` reaching into the real video's evaluation range ``--real-test-from``): a
setting is chosen on these and only reported on the test videos. Each video runs ``paraloupe-bench loop`` with
the same options, ``--jobs`` at a time (one process each); the mean F1 over the videos is the figure to compare
settings by — single 200-frame videos swing by about ±2 points between nearly equal settings.

``--per-mini`` (with ``--devices``) runs the set once with the scheduler's choice and once per mini the devices
serve, every patch pinned to it, and prints each video's choice — the smallest mini within ``--tolerance`` F1 of
the best (:func:`cheapest_within`): a camera whose own labelled frames favour one mini (the real video's [0, 500)
over its scheduler choice) gets it as ``client.mini`` (``paraloupe-run --mini``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime.atomic import write_json
from runtime.bench import loop
from runtime.bench.common import folder_video, real_video
from runtime.bundle import load_manifest
from runtime.errors import UserError
from runtime.evaluate import parse_frame_range


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paraloupe-bench tune", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--world", help="folder of world videos: every val* subfolder is a tuning video")
    p.add_argument("--videos", nargs="*", default=[], help="tuning video folders (video.mp4 + annotations.json) "
                                                            "instead of --world's val* ones")
    p.add_argument("--real", help="a real video whose training range joins the tuning set")
    p.add_argument("--real-gt", help="its COCO ground truth (required with --real)")
    p.add_argument("--real-frames", default="0:500", help="the real video's tuning range A:B")
    p.add_argument("--real-test-from", type=int, default=500, help="first frame of the real video's evaluation "
                                                                   "range (never tuned on)")
    p.add_argument("--jobs", type=int, default=2, help="videos run at once (one process each)")
    p.add_argument("--json", help="write every video's figures and the mean here")
    p.add_argument("--per-mini", action="store_true", help="with --devices: the scheduler's choice and every mini "
                                                           "the devices serve pinned, each video's choice printed")
    p.add_argument("--tolerance", type=float, default=MINI_TOLERANCE,
                   help="with --per-mini: F1 (0-1) a smaller mini may trail the best choice by and still be chosen")
    return p


def tuning_videos(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, ``paraloupe-bench loop`` video arguments) per tuning video; a test video is a one-line error."""
    folders = [Path(v) for v in args.videos]
    if not folders and args.world:
        folders = sorted(p for p in Path(args.world).glob("val*") if p.is_dir())
    for f in folders:
        if f.name.startswith("test"):
            raise UserError(f"{f}: a test video is never tuned on (choose val* videos)")
    videos = [folder_video(f) for f in folders]
    if args.real:
        real = real_video(args.real, args.real_gt, args.real_frames)
        span = parse_frame_range(args.real_frames)
        if span is None or span[1] > args.real_test_from:
            raise UserError(f"--real-frames {args.real_frames}: must end by frame {args.real_test_from} (the "
                            "evaluation range is never tuned on)")
        videos.append(real)
    if not videos:
        raise UserError("no tuning videos: give --world (with val* folders), --videos or --real")
    return videos


def served_minis(bundle: str, devices: str) -> list[str]:
    """The mini models the ``--devices`` (comma-separated profiles) serve, by ascending input side."""
    manifest = load_manifest(bundle)
    minis = manifest.models_of_kind("mini")
    served = {m for d in devices.split(",") for m in manifest.models_served_by(d.strip())}
    return [m for m in minis if m in served]


#: the mini choice that pins nothing: the scheduler picks each patch's model
SCHEDULER = "scheduler"
#: F1 (0-1) by which a camera's smaller mini may trail its best choice on the tuning frames and still be chosen:
#: one 300-frame range moves by about this between nearly equal settings, while each step up in input side costs
#: the device 1.5-2x the time per patch
MINI_TOLERANCE = 0.01


def cheapest_within(f1: dict[str, float], tolerance: float) -> str:
    """The camera's mini from :func:`mini_f1`'s F1 per choice (:data:`SCHEDULER` first, then the minis by
    ascending input side): the first mini whose F1 is within ``tolerance`` of the best choice's, else the
    scheduler's choice (the best is always within a ``tolerance`` >= 0)."""
    if tolerance < 0:
        raise UserError(f"tolerance: expected an F1 difference >= 0, got {tolerance:g}")
    if not f1:
        raise UserError("no mini choice to pick from: the devices serve no mini")
    best = max(f1.values())
    order = [*(c for c in f1 if c != SCHEDULER), *(c for c in f1 if c == SCHEDULER)]
    return next(c for c in order if f1[c] >= best - tolerance)


def mini_f1(bundle: str, videos: list[tuple[str, list[str]]], loop_args: list[str],
            jobs: int) -> dict[str, dict[str, float]]:
    """F1 per mini choice (:data:`SCHEDULER`, then every mini the ``--devices`` in ``loop_args`` serve, pinned)
    per video: ``{choice: {video: f1}}``."""
    known, _ = loop._parser().parse_known_args(["--bundle", bundle, "--video", "v", "--gt", "g", *loop_args])
    if not known.devices or known.mini:
        raise UserError("--per-mini: give --devices (and no --mini: every mini the devices serve is tried)")
    choices = [SCHEDULER, *served_minis(bundle, known.devices)]
    argvs = [["--bundle", bundle, *video, *loop_args, *([] if c == SCHEDULER else ["--mini", c])]
             for c in choices for _, video in videos]
    results = iter(loop.run_many(argvs, jobs))
    return {c: {name: next(results)["f1"] for name, _ in videos} for c in choices}


def per_mini(args: argparse.Namespace, videos: list[tuple[str, list[str]]], loop_args: list[str]) -> int:
    """``--per-mini``: F1 per video × choice (the scheduler's, then each mini pinned) and each video's best."""
    table = mini_f1(args.bundle, videos, loop_args, args.jobs)
    choices = list(table)
    means = {c: sum(table[c].values()) / len(videos) for c in choices}
    rows = {**{name: {c: table[c][name] for c in choices} for name, _ in videos}, "mean": means}
    chosen = {name: cheapest_within(row, args.tolerance) for name, row in rows.items()}
    width = max(len(n) for n in rows)
    print(f"{'video'.ljust(width)}  " + "  ".join(c.rjust(max(len(c), 6)) for c in choices)
          + f"  choice (within {args.tolerance:g})")
    for name, row in rows.items():
        cells = "  ".join(f"{row[c]:.3f}".rjust(max(len(c), 6)) for c in choices)
        print(f"{name.ljust(width)}  {cells}  {chosen[name]}")
    if args.json:
        write_json(args.json, {"f1": table, "mean_f1": means, "tolerance": args.tolerance, "options": loop_args,
                               "choice": chosen}, indent=1)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args, loop_args = _parser().parse_known_args(argv)
    videos = tuning_videos(args)
    if args.per_mini:
        return per_mini(args, videos, loop_args)
    argvs = [["--bundle", args.bundle, *video, *loop_args] for _, video in videos]
    results = loop.run_many(argvs, args.jobs)
    rows = {name: r for (name, _), r in zip(videos, results, strict=True)}
    mean = sum(r["f1"] for r in rows.values()) / len(rows)
    width = max(len(n) for n in rows)
    print(f"{'video'.ljust(width)}  F1     P      R      patches/frame")
    for name, r in rows.items():
        print(f"{name.ljust(width)}  {r['f1']:.3f}  {r['precision']:.3f}  {r['recall']:.3f}  "
              f"{r['patches_per_frame']:.1f}")
    print(f"{'mean'.ljust(width)}  {mean:.4f}  ({len(rows)} videos; options: {' '.join(loop_args) or 'defaults'})",
          file=sys.stdout)
    if args.json:
        write_json(args.json, {"mean_f1": mean, "videos": rows, "options": loop_args}, indent=1)
    return 0
