"""``paraloupe-bench versus`` — ParaLoupe against the whole-frame baseline at every exported side, per video.

Run::

    paraloupe-bench versus --bundle models/bundle --videos models/world/test-static models/world/test-moving
        [--real ../shared/data/vtest/vtest.avi --real-gt models/label/vtest/annotations.json --real-frames 500:795]
        [--devices raspberry-pi-4b,raspberry-pi-4b,raspberry-pi-4b,raspberry-pi-4b] [--slo 250]
        [--precision int8] [--tracked] [--jobs 2] [--cluster] [--json OUT] [--set loop.KEY=VALUE ...]

Each video (``--frames`` / ``--real-frames`` apply to every run of it) runs ``paraloupe-bench loop`` once in
ParaLoupe mode with the emulated cluster (``--devices``, ``--slo``: the scheduler picks each patch's model, the
SLO sets the patch budget; extra options such as ``--set`` go to this run only) and once per exported baseline
side of ``--precision`` (``--mode baseline``, raw per-frame detections, as users run it; ``--tracked`` adds the
equal-budget side through the same tracker).
The *equal-budget side* is the largest side whose profiled latency on the first device fits the SLO: one
frame on one device, the per-frame budget ParaLoupe spends across the cluster. Printed per video: ParaLoupe's
F1 (P / R), patch recall, patches per frame and per object, the loop's own ms per frame (median / p90:
generation + aggregation and tracker update, JPEG and inference excluded), every side's
F1, the ratio to the equal-budget side and the gap to the best side (F1 points); then the means and issue 14's
goals (ratio >= 1.2, gap >= -2 points, patch recall >= 0.95, loop median <= 5 ms) met or not, per video;
then, pooled over the videos by object size (:func:`size_split`), the share of ground-truth objects ParaLoupe
found and served against each video's best side's — where ParaLoupe loses, and whether the generator (served)
or the minis (found when served) lose it.
Per-frame latency comes from cluster runs: ``--cluster`` adds them (:mod:`runtime.bench.versus_cluster`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.atomic import write_json
from runtime.bench import loop, tune, versus_cluster
from runtime.bench.common import folder_video, real_video
from runtime.bench.served import side_bin_names
from runtime.bundle import load_manifest
from runtime.errors import UserError
from runtime.evaluate import parse_frame_range
from runtime.manifest import Manifest

#: ``--real-mini`` value that lets the real video's tuning range choose its mini
TUNED = "tuned"
GOALS = {"ratio": 1.2, "gap_points": -2.0, "patch_recall": 0.95, "loop_ms_median": 5.0}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paraloupe-bench versus", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--videos", nargs="*", default=[], help="video folders (video.mp4 + annotations.json)")
    p.add_argument("--frames", help="half-open range A:B of the --videos folders, for every run (default: whole)")
    p.add_argument("--real", help="a real video")
    p.add_argument("--real-gt", help="its COCO ground truth (required with --real)")
    p.add_argument("--real-frames", default="500:795", help="its evaluation range A:B")
    p.add_argument("--real-mini", help="the real video's camera: every ParaLoupe patch asks for this mini "
                                       "(client.mini, chosen on its training frames: paraloupe-bench tune --per-mini); "
                                       f"{TUNED!r}: chosen here on --real-tune-frames among the scheduler's choice "
                                       "and every mini the devices serve pinned: the smallest mini whose F1 there is "
                                       "within --real-tune-tolerance of the best (the scheduler only when no mini "
                                       "pinned is)")
    p.add_argument("--real-tune-frames", default="200:500",
                   help=f"with --real-mini {TUNED}: the real video's tuning range A:B (before --real-frames)")
    p.add_argument("--real-tune-tolerance", type=float, default=tune.MINI_TOLERANCE,
                   help=f"with --real-mini {TUNED}: F1 (0-1) a cheaper mini may trail the best by on the tuning range")
    p.add_argument("--devices", default=",".join(["raspberry-pi-4b"] * 4),
                   help="comma-separated device profiles of the emulated cluster")
    p.add_argument("--slo", type=float, default=250.0, help="per-frame budget, ms of device time")
    p.add_argument("--precision", default="int8", help="the baseline export compared (fp32 | fp16 | int8)")
    p.add_argument("--tracked", action="store_true", help="also the equal-budget side through the loop's tracker")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (one process each)")
    p.add_argument("--cluster", action="store_true",
                   help="also time each video on a real local cluster of --devices (paraloupe-run --cluster "
                        "local:N, pace factor 1), one run at a time: ParaLoupe, the equal-budget side, the best side")
    p.add_argument("--cluster-warmup", type=int, default=5, help="with --cluster: frames left out of the p50")
    p.add_argument("--json", help="write every run's figures and the comparison here")
    return p


def baseline_sides(manifest: Manifest, precision: str, device: str) -> dict[int, tuple[str, float | None]]:
    """Input side (px) → (baseline model of ``precision``, its latency on ``device`` in ms, None when neither
    profiled nor estimable), ascending sides."""
    out: dict[int, tuple[str, float | None]] = {}
    for name in manifest.models_of_kind("baseline"):
        spec = manifest.model(name)
        if spec.precision == precision:
            out[spec.input_size] = (name, manifest.latency_or_estimate(device, name)[0])
    if not out:
        raise UserError(f"--precision {precision}: the bundle has no baseline in that precision")
    return out


def equal_budget_side(sides: dict[int, tuple[str, float | None]], slo_ms: float) -> int | None:
    """The largest side whose latency fits ``slo_ms`` (None when none does)."""
    fits = [s for s, (_, ms) in sides.items() if ms is not None and ms <= slo_ms]
    return max(fits) if fits else None


def compare(pl: dict[str, Any], side_f1: dict[int, float], equal: int | None) -> dict[str, Any]:
    """One video's comparison: ratio to the equal-budget side, gap to the best side (points), goals met."""
    best = max(side_f1, key=lambda s: side_f1[s])
    ratio = pl["f1"] / side_f1[equal] if equal is not None and side_f1[equal] > 0 else None
    gap = 100.0 * (pl["f1"] - side_f1[best])
    met = {"ratio": ratio is not None and ratio >= GOALS["ratio"], "gap_points": gap >= GOALS["gap_points"],
           "patch_recall": pl["patch_recall"] >= GOALS["patch_recall"],
           "loop_ms_median": pl["loop_ms_median"] <= GOALS["loop_ms_median"]}
    return {"f1": pl["f1"], "sides": side_f1, "equal_side": equal, "ratio": ratio, "best_side": best,
            "gap_points": gap, "met": met}


def size_split(runs: dict[str, dict[str, Any]], table: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per object-size bin (:func:`runtime.bench.served.side_bin_names`), pooled over the videos (weighted by
    their objects): ``objects``, ParaLoupe's ``found``, ``served`` and ``found_if_served``, and ``best_found``, the
    share each video's best side found (``runs[video]["B{side}"]``); fractions 0-1. Bins without objects are left
    out."""
    split: dict[str, dict[str, float]] = {}
    for name in side_bin_names():
        objects = found = served = found_served = best = 0.0
        for video, c in table.items():
            ours = runs[video]["paraloupe"]["by_side"][name]
            theirs = runs[video][f"B{c['best_side']}"]["by_side"][name]
            n = ours["objects"]
            objects += n
            found += n * ours["found"]
            served += n * ours["served"]
            found_served += n * ours["served"] * ours["found_if_served"]
            best += n * theirs["found"]
        if objects:
            split[name] = {"objects": objects, "found": found / objects, "served": served / objects,
                           "found_if_served": found_served / max(served, 1e-9), "best_found": best / objects}
    return split


def _videos(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    videos = [folder_video(f) for f in map(Path, args.videos)]
    if args.frames:
        videos = [(name, [*argv, "--frames", args.frames]) for name, argv in videos]
    if args.real:
        videos.append(real_video(args.real, args.real_gt, args.real_frames))
    if not videos:
        raise UserError("no videos: give --videos and/or --real")
    return videos


def main(argv: Sequence[str] | None = None) -> int:
    args, loop_args = _parser().parse_known_args(argv)
    if args.cluster and loop_args:
        raise UserError(f"--cluster: the loop options {' '.join(loop_args)} would reach the in-process run only, "
                        "not the cluster runs")
    if args.real_mini and not args.real:
        raise UserError("--real-mini: names the real video's mini; give --real too")
    if "--score-frames" in loop_args:
        raise UserError("--score-frames: not with versus (every run is scored on its --frames / --real-frames)")
    videos = _videos(args)
    manifest = load_manifest(args.bundle)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if not devices:
        raise UserError("--devices: name at least one device")
    sides = baseline_sides(manifest, args.precision, devices[0])
    equal = equal_budget_side(sides, args.slo)
    mini, choice = args.real_mini, None
    if mini == TUNED:
        choice = tuned_mini(args, loop_args)
        mini = None if choice["mini"] == tune.SCHEDULER else choice["mini"]
    camera = {videos[-1][0]: ["--mini", mini]} if args.real and mini else {}  # client.mini
    jobs: list[tuple[str, str, list[str]]] = []  # (video, run name, loop argv)
    for name, video in videos:
        common = ["--bundle", args.bundle, *video]
        jobs.append((name, "paraloupe", [*common, "--devices", args.devices, "--slo", str(args.slo), *loop_args,
                                         *camera.get(name, [])]))
        for side, (model, _) in sides.items():
            jobs.append((name, f"B{side}", [*common, "--mode", "baseline", "--baseline", model]))
        if args.tracked and equal is not None:
            jobs.append((name, f"B{equal}+tracker", [*common, "--mode", "baseline", "--baseline", sides[equal][0],
                                                     "--tracked"]))
    results = loop.run_many([a for _, _, a in jobs], max(1, args.jobs))  # accuracy: in process, in parallel
    runs: dict[str, dict[str, Any]] = {}
    for (name, run, _), r in zip(jobs, results, strict=True):
        runs.setdefault(name, {})[run] = r
    table = {name: compare(r["paraloupe"], {s: r[f"B{s}"]["f1"] for s in sides}, equal) for name, r in runs.items()}
    by_size = size_split(runs, table)
    _print(runs, table, sides, equal, devices[0], args)
    _print_sizes(by_size)
    cluster = None
    if args.cluster:
        timed = [(name, video, {**({"equal": equal} if equal is not None else {}), "best": table[name]["best_side"]})
                 for name, video in videos]
        cluster = versus_cluster.run_videos(args.bundle, timed, devices, args.slo, args.cluster_warmup, camera)
        versus_cluster.print_table(cluster)
    if args.json:
        write_json(args.json, {"devices": devices, "slo_ms": args.slo, "precision": args.precision,
                               "latency_ms": {s: ms for s, (_, ms) in sides.items()}, "equal_side": equal,
                               "comparison": table, "by_size": by_size, "runs": runs, "cluster": cluster,
                               "options": loop_args, "real_mini": choice or args.real_mini},
                   indent=1)
    return 0


def tuned_mini(args: argparse.Namespace, loop_args: list[str]) -> dict[str, Any]:
    """``--real-mini tuned``: the real video's mini chosen on ``--real-tune-frames`` (which must end by the start
    of ``--real-frames``), printed; ``{"mini": best choice, "frames": A:B, "f1": {choice: F1}}``."""
    tuning, evaluation = parse_frame_range(args.real_tune_frames), parse_frame_range(args.real_frames)
    if tuning[1] > evaluation[0]:  # both are A:B strings (parser defaults): parse_frame_range returns a range
        raise UserError(f"--real-tune-frames {args.real_tune_frames}: must end by the start of --real-frames "
                        f"({args.real_frames}): the evaluation range is never tuned on")
    video = real_video(args.real, args.real_gt, args.real_tune_frames)
    table = tune.mini_f1(args.bundle, [video], ["--devices", args.devices, "--slo", str(args.slo), *loop_args],
                         max(1, args.jobs))
    f1 = {choice: row[video[0]] for choice, row in table.items()}
    chosen = tune.cheapest_within(f1, args.real_tune_tolerance)
    print(f"{video[0]}: mini chosen on the tuning range: {chosen} (the smallest within "
          f"{args.real_tune_tolerance:g} F1 of the best; " + ", ".join(f"{c} {v:.3f}" for c, v in f1.items()) + ")")
    return {"mini": chosen, "frames": args.real_tune_frames, "f1": f1, "tolerance": args.real_tune_tolerance}


def _print(runs: dict[str, dict[str, Any]], table: dict[str, dict[str, Any]],
           sides: dict[int, tuple[str, float | None]], equal: int | None, device: str,
           args: argparse.Namespace) -> None:
    lat = ", ".join(f"{s}: {ms:.0f} ms" if ms is not None else f"{s}: ?" for s, (_, ms) in sides.items())
    print(f"baseline {args.precision} on {device} ({lat}); SLO {args.slo:g} ms -> equal-budget "
          f"side {equal}")
    width = max(len(n) for n in table)
    head = "  ".join(f"B{s}".ljust(5) for s in sides)
    print(f"{'video'.ljust(width)}  PL F1  P      R      recall  p/frame p/obj  loop ms  {head}  ratio  gap")
    for name, c in table.items():
        pl = runs[name]["paraloupe"]
        side_cols = "  ".join(f"{c['sides'][s]:.3f}" for s in sides)
        ratio = f"{c['ratio']:.2f}x" if c["ratio"] is not None else "  -  "
        print(f"{name.ljust(width)}  {pl['f1']:.3f}  {pl['precision']:.3f}  {pl['recall']:.3f}  "
              f"{pl['patch_recall']:.3f}   {pl['patches_per_frame']:5.1f}  {pl['patches_per_object']:4.1f}  "
              f"{pl['loop_ms_median']:.1f}/{pl['loop_ms_p90']:.1f}  {side_cols}  {ratio}  "
              f"{c['gap_points']:+.1f}")
        if args.tracked and equal is not None:
            print(f"{''.ljust(width)}  (B{equal} + the loop's tracker: {runs[name][f'B{equal}+tracker']['f1']:.3f})")
    n = len(table)
    print(f"{'mean'.ljust(width)}  {sum(c['f1'] for c in table.values()) / n:.3f}  "
          + "  ".join(f"B{s} {sum(c['sides'][s] for c in table.values()) / n:.3f}" for s in sides))
    for goal, bound in GOALS.items():
        met = [name for name, c in table.items() if c["met"][goal]]
        print(f"goal {goal} ({'>=' if goal != 'loop_ms_median' else '<='} {bound:g}): met on {len(met)}/{n}"
              + (f" ({', '.join(met)})" if met and len(met) < n else ""))


def _print_sizes(by_size: dict[str, dict[str, float]]) -> None:
    """One line per size bin of :func:`size_split`: objects, ParaLoupe's shares, the best side's, the difference
    (points)."""
    print("by object size (longer side, px), pooled: ParaLoupe found (served, found when served) vs the best side")
    for name, row in by_size.items():
        gap = 100 * (row["found"] - row["best_found"])
        print(f"  {name:>6}  {int(row['objects']):6d} objects  {row['found']:.3f} ({row['served']:.3f}, "
              f"{row['found_if_served']:.3f})  vs {row['best_found']:.3f}  {gap:+.1f}")


if __name__ == "__main__":
    sys.exit(main())
