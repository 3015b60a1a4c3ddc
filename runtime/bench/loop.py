"""``paraloupe-bench loop`` — the closed loop in process, with the real models: accuracy, patch recall, cost.

Run::

    paraloupe-bench loop --bundle models/bundle --video V --gt GT.json [--frames A:B]
        [--mode paraloupe|baseline|sahi|...] [--mini NAME] [--baseline NAME] [--side S]
        [--config loop.yaml] [--set patches.max_patches=20 --set loop.track=true ...] [--json OUT] [--out P.jsonl]
        [--detector models|ground-truth]

Every frame goes through :class:`runtime.loop.ClosedLoop` — the cluster client's own frame loop (for
``--mode sahi`` its :class:`runtime.sahi_loop.SahiLoop`) — with the entries inferred locally (``--mini`` for
patches, ``--baseline`` for whole frames; ``--side`` runs the baseline letterboxed to that side, which is also
``sahi``'s slice side). Printed: F1 / precision / recall (CONVENTIONS evaluation), patches per frame and per
ground-truth object, *patch recall* (ground-truth objects served by some mini patch — whole inside it and, once
the patch is letterboxed to the mini's input, its longer side within the servable range: ``--servable LO:HI``
as fractions of that input side, by default the mini's ``servable_px`` from the bundle, the sizes where its recall
on the held-out patch set is >= 0.8) per patch kind, the split of every missed object into "no patch served it"
and "served but not detected" (``missed_uncovered``: of the unserved, those whole in no mini patch at all;
``missed_too_small``: those whole in some patch but below the range in each — typically an untracked object inside
a neighbour's patch; the rest lay in one above the range), the same by object size (a table: per longer-side bin,
the fractions served, found, found when served and when not — :mod:`runtime.bench.served`), and the
patch-generation time (ms/frame, median and p90): ``patch_ms`` for generation alone (camera motion, tracker
prediction, motion boxes, generator), ``gen_ms`` with cropping and JPEG, ``update_ms`` for the loop's work on
the results (aggregation, tracker update, output rules) and ``loop_ms`` = ``patch_ms`` + ``update_ms`` per frame
(everything the loop itself does, JPEG and inference excluded: what issue 14's 5 ms bound applies to), all with
OpenCV on one thread, as that bound asks (its results do not depend on the thread count).
``--config`` is a YAML file with ``patches:`` and ``loop:`` sections (the client config's); ``--set`` overrides
one key. Host inference only: per-frame latency comes from cluster runs (``paraloupe-run``).
``--detector ground-truth`` answers every entry from the ground truth instead of a model
(:mod:`runtime.bench.ground_truth`): the loop's ceiling — what generator, tracker and discovery reach with a
perfect model, so that a miss there is the loop's own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cv2
import numpy as np
import yaml

from runtime.atomic import atomic_open, write_json
from runtime.bench.false_positives import FalsePositives, fp_table
from runtime.bench.ground_truth import DetectorSource, GroundTruthDetector
from runtime.bench.placement import Placement
from runtime.bench.served import DEFAULT_SERVABLE, Served, count_frame, servable_fractions, side_table
from runtime.bundle import load_manifest
from runtime.coco import VideoAnnotations, load_coco
from runtime.config import from_mapping, read_yaml
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.evaluate import evaluate, parse_frame_range
from runtime.frame_plan import BASELINE_KINDS
from runtime.infer import Detector
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopConfig, LoopSettings
from runtime.manifest import Manifest
from runtime.modes import Mode, Solver
from runtime.patches.config import PatchConfig
from runtime.predictions import ranked_extra, write_line
from runtime.replay import run_loop
from runtime.sahi_loop import make_loop
from runtime.video import iter_frames, video_info


def _parse_set(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in ("patches", "loop"):
            raise UserError(f"--set {item!r}: expected patches.KEY=VALUE or loop.KEY=VALUE")
        node = out.setdefault(section, {})
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paraloupe-bench loop", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--gt", required=True, help="COCO ground truth of the video")
    p.add_argument("--frames", help="half-open range A:B")
    p.add_argument("--score-frames", help="score only this half-open range A:B of the frames run (default: all of "
                                          "them; replays started at different frames scored on their common "
                                          "frames: ``paraloupe-bench stability``)")
    p.add_argument("--mode", default=Mode.PARALOUPE.value, choices=Mode.values())
    p.add_argument("--mini", help="mini model for patches (default: the smallest mini of the bundle); with --devices "
                                  "every patch asks for it, as client.mini does (default there: the scheduler picks)")
    p.add_argument("--baseline", help="model for whole frames (default: the bundle's baseline)")
    p.add_argument("--side", type=int, help="input side of whole-frame inference, px (default: the model's)")
    p.add_argument("--tracked", action="store_true", help="whole-frame modes: their detections through the loop's "
                                                           "tracker (output = confirmed tracks), to show the "
                                                           "tracker's own gain")
    p.add_argument("--config", help="YAML with patches: and loop: sections")
    p.add_argument("--set", action="append", default=[], help="patches.KEY=VALUE or loop.KEY=VALUE (repeatable)")
    p.add_argument("--servable", default=None,
                   help="servable longer-side range LO:HI, fractions of the input side (default: the mini's "
                        f"servable_px from the bundle, else {DEFAULT_SERVABLE[0]}:{DEFAULT_SERVABLE[1]}, warned)")
    p.add_argument("--devices", help="comma-separated device profiles of an emulated cluster (e.g. raspberry-pi-4b "
                                     "four times): each entry's model is chosen by the master's scheduler and each "
                                     "frame's patch budget follows from the SLO, as in a cluster run (default: "
                                     "--mini for every patch, no budget; the whole-frame modes run the model they "
                                     "name on every frame either way)")
    p.add_argument("--slo", type=float, default=250.0, help="SLO with --devices, ms of device time")
    p.add_argument("--scheduler", default=Solver.MARKOV.value, choices=Solver.values(), help="with --devices")
    p.add_argument("--detector", default=DetectorSource.MODELS.value, choices=DetectorSource.values(),
                   help="where each entry's detections come from: the bundle's models, or the ground truth as a "
                        "perfect model would report it (the loop's ceiling: its misses are the loop's own)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--out", help="write the per-frame predictions here (JSONL, the runtime's format, each line with "
                   "its patch_rects as a cluster client writes them)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = run(args)
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()
                   if k not in ("by_side", "false_positives")), file=sys.stdout)
    print(side_table(out["by_side"]), file=sys.stdout)
    print(fp_table(out["false_positives"]), file=sys.stdout)
    if args.json:
        write_json(args.json, out, indent=1)
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One video through the loop (``args`` as :func:`_parser` makes them), OpenCV on one thread (restored after);
    returns the figures."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _run(args)
    finally:
        cv2.setNumThreads(threads)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    manifest = load_manifest(args.bundle)
    data = _merge(read_yaml(args.config) if args.config else {}, _parse_set(args.set))
    unknown = set(data) - {"patches", "loop"}
    if unknown:
        raise UserError(f"{args.config}: {sorted(unknown)[0]}: unknown section (known: loop, patches)")
    patches = from_mapping(PatchConfig, data.get("patches"), "patches")
    loop_cfg = from_mapping(LoopConfig, data.get("loop"), "loop")
    if args.mini:
        manifest.check_mini(args.mini, "--mini:")
    mini = args.mini or manifest.models_of_kind("mini")[0]
    base = args.baseline or manifest.models_of_kind("baseline")[-1]
    side = args.side or manifest.model(base).input_size
    _, _, fps = video_info(args.video)
    mode = Mode(args.mode)
    if args.tracked and not mode.is_whole_frame:
        raise UserError("--tracked: only for the whole-frame modes (baseline, mini); patch modes track by loop.track")
    settings = LoopSettings(mode, patches, side, loop=loop_cfg, fps=fps or 25.0, track_whole=args.tracked)
    loop = make_loop(settings, manifest.objectness_model())
    whole_side = loop_cfg.whole_side if mode.is_patch_generator else side
    gt = load_coco(args.gt)
    span = parse_frame_range(args.frames)
    ids = range(*span) if span else range(min(gt.frames), max(gt.frames) + 1)
    mini_side = manifest.model(mini).input_size
    lo, hi = servable_fractions(args.servable, manifest.model(mini).servable_px, mini_side, mini)
    preds, gen_ms, patch_ms, update_ms, n_patches, served = {}, [], [], [], [], Served()
    ranked: dict[int, Detections] = {}  # before the score cuts: the --out lines carry them for average precision
    patch_rects: dict[int, list[list[Any]]] = {}  # frame → [x0, y0, x1, y1, kind] per entry, as the client's lines
    detectors, route, budget, placement = _inference(args, manifest, mode, loop, gt, mini, base, whole_side)
    for step in run_loop(loop, iter_frames(args.video, ids), detectors, route, budget):
        d = step.detections
        preds[d.frame] = d
        if step.ranked is not None:
            ranked[d.frame] = step.ranked
        gen_ms.append(step.gen_ms)
        patch_ms.append(step.patch_ms)
        update_ms.append(step.update_ms)
        if args.out:  # only the --out lines carry them
            patch_rects[d.frame] = [[*(int(v) for v in r), k] for r, k in zip(step.rects, step.kinds, strict=True)]
        if step.skipped:
            continue
        minis = [k not in BASELINE_KINDS for k in step.kinds]
        rects = np.array([r for r, m in zip(step.rects, minis, strict=True) if m]).reshape(-1, 4)
        kinds = [k for k, m in zip(step.kinds, minis, strict=True) if m]
        n_patches.append(len(rects))
        count_frame(served, gt.frames.get(d.frame), d, rects, kinds, mini_side, lo, hi)
    scored = parse_frame_range(args.score_frames) or (ids.start, ids.stop)
    result = evaluate(gt, preds, frames=scored)
    false_positives = FalsePositives.of_video(gt, preds, scored)
    if args.out:
        with atomic_open(args.out) as handle:
            for f in sorted(preds):
                write_line(handle, preds[f], patch_rects=patch_rects.get(f, []),
                           **(ranked_extra(ranked[f]) if f in ranked else {}))
    o = result.overall
    out = {"mode": mode.value, "detector": str(args.detector), "mini": mini, "baseline": base, "side": side,
           "frames": result.frames,
           "f1": o.f1, "precision": o.precision, "recall": o.recall,
           "patches_per_frame": float(np.mean(n_patches)) if n_patches else 0.0,
           "patches_per_object": float(np.sum(n_patches)) / max(served.objects, 1),
           "patch_recall": served.served / max(served.objects, 1),
           "patch_recall_by_kind": {k: v / max(served.objects, 1) for k, v in sorted(served.by_kind.items())},
           "missed_unserved": served.missed_unserved, "missed_served": served.missed_served,
           "missed_uncovered": served.missed_uncovered, "missed_too_small": served.missed_too_small,
           "by_side": served.side_figures(), "false_positives": false_positives.figures(),
           "gen_ms_median": float(np.median(gen_ms)), "gen_ms_p90": float(np.percentile(gen_ms, 90)),
           "patch_ms_median": float(np.median(patch_ms)), "patch_ms_p90": float(np.percentile(patch_ms, 90)),
           "update_ms_median": float(np.median(update_ms)), "update_ms_p90": float(np.percentile(update_ms, 90)),
           **_loop_ms(patch_ms, update_ms),
           **_device_figures(args, mode, placement, budget, mini, base, result.frames)}
    return out


def _inference(args: argparse.Namespace, manifest: Manifest, mode: Mode, loop: ClosedLoop, gt: VideoAnnotations,
               mini: str, base: str, whole_side: int) -> tuple[dict[str, Detector], Any, int | None, Placement | None]:
    """How the run infers its entries: the host detectors by model kind, ``run_loop``'s route (the scheduler's
    per-entry model with ``--devices``; the ground truth with ``--detector ground-truth``), the frame's patch budget
    and the placement (both with ``--devices``)."""
    ground_truth = DetectorSource(args.detector) is DetectorSource.GROUND_TRUTH
    detectors: dict[str, Detector] = {}
    if not ground_truth:
        detectors = {"mini": Detector(args.bundle, mini, manifest),
                     "baseline": Detector(args.bundle, base, manifest.resized(base, whole_side))}
        if mode == Mode.BASELINE:  # whole frames are entries of the mode's own kind
            detectors["mini"] = detectors["baseline"]
    route, budget, placement = None, None, None
    if args.devices and not mode.is_whole_frame:  # a whole-frame mode runs the model it names, at its side
        placement = Placement(manifest, [d.strip() for d in args.devices.split(",")], args.slo, args.scheduler,
                              whole_tiles=loop.settings.loop.pass_tiles)
        budget = placement.budget(loop.whole_pass, args.mini) if loop.settings.loop.budget else None
        if not ground_truth:
            route = _router(args.bundle, manifest, placement, whole_side, args.mini)
    if ground_truth:  # the budget stays the devices' (with --devices)
        route = GroundTruthDetector(gt).route
    return detectors, route, budget, placement


def _loop_ms(patch_ms: list[float], update_ms: list[float]) -> dict[str, float]:
    """Median and p90 of the loop's own work per frame (generation + update, ms)."""
    total = np.asarray(patch_ms) + np.asarray(update_ms)
    return {"loop_ms_median": float(np.median(total)), "loop_ms_p90": float(np.percentile(total, 90))}


def _one(argv: list[str]) -> dict[str, Any]:
    """One :func:`run` from its command line (a worker process's job)."""
    return run(_parser().parse_args(argv))


def run_many(argvs: Sequence[list[str]], jobs: int) -> list[dict[str, Any]]:
    """:func:`run` once per command line, ``jobs`` at a time (one process each), results in order; bad options
    fail once, before any worker starts."""
    for a in argvs:
        _parser().parse_args(a)
    if jobs <= 1 or len(argvs) <= 1:
        return [_one(list(a)) for a in argvs]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_one, [list(a) for a in argvs]))


def _device_figures(args: argparse.Namespace, mode: Mode, placement: Placement | None, budget: int | None,
                    mini: str, base: str, frames: int) -> dict[str, Any]:
    """The ``--devices`` part of the figures: the placement's model counts, or, in a whole-frame mode, the one
    model it ran on every frame."""
    if placement is not None:
        return {"devices": args.devices, "slo_ms": args.slo, "budget": budget,
                "entries_per_model": dict(sorted(placement.chosen.items()))}
    if args.devices:
        return {"devices": args.devices, "entries_per_model": {base if mode == Mode.BASELINE else mini: frames}}
    return {}


def _router(bundle: str, manifest: Manifest, placement: Placement, whole_side: int, pinned: str | None) -> Any:
    """``run_loop``'s route: each entry to a host detector of the model the placement chose (loaded once each;
    baseline models at the loop's whole-pass side); ``pinned``: the mini every patch asks for (``--mini``)."""
    cache: dict[str, Detector] = {}

    def detector(name: str) -> Detector:
        if name not in cache:
            spec = manifest.model(name)
            m = manifest.resized(name, whole_side) if spec.kind == "baseline" else manifest
            cache[name] = Detector(bundle, name, m)
        return cache[name]

    return lambda frame_plan: [detector(n) for n in placement.models(frame_plan, pinned=pinned)]
