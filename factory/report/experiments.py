"""The accuracy-side experiments of paper §IV as run definitions plus summaries (JSON-able dicts).

Each experiment has ``<name>_specs(ctx)`` (the runs it needs; cheap, nothing executed) and ``<name>(ctx)``
(its numbers, once ``ctx.runs`` holds those runs). Accuracy is F1 pooled (micro) over the experiment's
videos at IoU 0.5 unless said otherwise. Latencies come from :mod:`factory.report.latency`: per patch = the
device's profile row; per frame = what one device spends on a frame sequentially (patches × per-patch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from factory.pipeline import resolve_path
from factory.report.config import SOURCE_BASE_SIDE
from factory.report.context import Context, series, stats
from factory.report.metrics import Point, gain_at_budget, percentiles, speedup_at_comparable
from factory.report.rois import density_map, pick_rois
from factory.report.runs import LASTDET_BOOT, RunSpec
from runtime.coco import load_coco
from runtime.evaluate import parse_frame_range
from runtime.modes import Mode

APPROACHES = ("Baseline", "ParaLoupe_mini", "ParaLoupe")
GEN_WARMUP_FRAMES = 5  # Fig. 28: first frames of a run left out (numba cache load, JPEG tables)


def tradeoff_defs(ctx: Context, videos: Sequence[str], device: str) -> list[tuple[str, int, str, list[RunSpec]]]:
    """The trade-off's configurations on ``device``: (approach, input side, latency model, runs over ``videos``)."""
    dm, p = ctx.devices[device], ctx.params
    defs = []
    if dm.run_baseline:  # each side on the model exported at it where the bundle has one
        defs += [("Baseline", s, dm.baseline_at(s)[0], series(ctx, videos, dm.baseline_at(s)[1], s))
                 for s in p.baseline_sizes]
    for s in p.mini_sizes:
        if s in dm.run_mini:
            defs.append(("ParaLoupe_mini", s, dm.mini[s], series(ctx, videos, dm.run_mini[s], s)))
            defs.append(("ParaLoupe", s, dm.mini[s], series(ctx, videos, dm.run_mini[s], s, Mode.PARALOUPE)))
    return defs


def tradeoff_specs(ctx: Context, videos: Sequence[str], devices: Sequence[str]) -> list[RunSpec]:
    return [s for d in devices for *_, specs in tradeoff_defs(ctx, videos, d) for s in specs]


def tradeoff(ctx: Context, videos: Sequence[str], devices: Sequence[str]) -> dict[str, Any]:
    """Fig. 13–15 per device: curve points on both bases and the gain/speedup comparisons."""
    out: dict[str, Any] = {}
    for d in devices:
        dm = ctx.devices[d]
        points = []
        for approach, side, model, specs in tradeoff_defs(ctx, videos, d):
            st = stats(ctx, specs)
            t = ctx.latency.per_patch(d, model, side)
            frame = t * (st["patches_per_frame"] if approach == "ParaLoupe" else 1.0)
            points.append({"approach": approach, "size": side, "model": model, "run_model": specs[0].model,
                           "per_patch_ms": round(t, 3), "per_frame_ms": round(frame, 3), **st})
        comp = {}
        for basis in ("per_patch", "per_frame"):
            curve = {a: [Point(str(q["size"]), q["f1"], q[f"{basis}_ms"]) for q in points if q["approach"] == a]
                     for a in APPROACHES}
            sp = speedup_at_comparable(curve["Baseline"], curve["ParaLoupe"], ctx.params.comparable_drop)
            entry = {"speedup": dataclasses.asdict(sp)}
            if d in ctx.params.budgets_ms:
                gain = gain_at_budget(curve["Baseline"], curve["ParaLoupe"], ctx.params.budgets_ms[d])
                entry["gain"] = dataclasses.asdict(gain)
            comp[basis] = entry
        out[d] = {"basis": dm.basis, "source": dm.source, "notes": dm.notes, "points": points,
                  "comparisons": comp, "budget_ms": ctx.params.budgets_ms.get(d)}
    return out


def _source_defs(ctx: Context) -> list[tuple[str, str, int, list[RunSpec]]]:
    dm, w = ctx.devices[ctx.params.headline_device], ctx.world
    defs = []
    if dm.run_baseline:
        base, run = dm.baseline_at(SOURCE_BASE_SIDE)
        defs += [(f"Baseline-{SOURCE_BASE_SIDE}-S1", base, SOURCE_BASE_SIDE, series(ctx, w, run, SOURCE_BASE_SIDE)),
                 (f"Baseline-{SOURCE_BASE_SIDE}-S4", base, SOURCE_BASE_SIDE,
                  series(ctx, w, run, SOURCE_BASE_SIDE, Mode.EP4))]
    small = sorted(dm.run_mini)[:2]
    if small:
        defs.append((f"mini-{small[0]}-S4", dm.mini[small[0]], small[0],
                     series(ctx, w, dm.run_mini[small[0]], small[0], Mode.EP4)))
    defs += [(f"ParaLoupe-{s}-PG", dm.mini[s], s, series(ctx, w, dm.run_mini[s], s, Mode.PARALOUPE)) for s in small]
    return defs


def sources_specs(ctx: Context) -> list[RunSpec]:
    return [s for *_, specs in _source_defs(ctx) for s in specs]


def sources(ctx: Context) -> list[dict[str, Any]]:
    """Fig. 16 on the headline device: per-patch and per-frame latency and F1 of five approaches."""
    d = ctx.params.headline_device
    rows = []
    for label, model, side, specs in _source_defs(ctx):
        st = stats(ctx, specs)
        t = ctx.latency.per_patch(d, model, side)
        rows.append({"label": label, "model": model, "size": side, "per_patch_ms": round(t, 3),
                     "per_frame_ms": round(t * st["patches_per_frame"], 3), **st})
    return rows


def _gen_name(ctx: Context, g: str) -> str:
    return LASTDET_BOOT if g == Mode.LASTDET and ctx.params.lastdet_bootstrap else g


def _generator_defs(ctx: Context, videos: Sequence[str]) -> list[tuple[str, list[RunSpec]]]:
    dm, side = ctx.devices[ctx.params.headline_device], ctx.params.generators_size
    if side not in dm.run_mini:
        return []
    return [(g, series(ctx, videos, dm.run_mini[side], side, _gen_name(ctx, g))) for g in ctx.params.generators]


def generators_specs(ctx: Context, videos: Sequence[str]) -> list[RunSpec]:
    return [s for _, specs in _generator_defs(ctx, videos) for s in specs]


def generators(ctx: Context, videos: Sequence[str]) -> list[dict[str, Any]]:
    """Fig. 17 and 28: patches per frame, F1 and generation time (ms, this host) per generator."""
    rows = []
    for g, specs in _generator_defs(ctx, videos):
        gen = [t for s in specs for t in ctx.runs[s].gen_ms[GEN_WARMUP_FRAMES:]]
        rows.append({"generator": g, "run_generator": specs[0].generator, **stats(ctx, specs),
                     "gen_ms": percentiles(gen), "gen_ms_values": [round(t, 2) for t in gen]})
    return rows


def per_frame_specs(ctx: Context) -> list[RunSpec]:
    return tradeoff_specs(ctx, ctx.world, list(ctx.devices))


def per_frame(ctx: Context) -> dict[str, Any]:
    """Fig. 18 per device: per-frame latency (ms) of the baseline (its largest exported side), ParaLoupe mean and sum
    over a frame's patches — host-measured per-patch time in the replay × the device/host profile ratio."""
    side, out = ctx.params.reference_size, {}
    for d, dm in ctx.devices.items():
        if side not in dm.run_mini or not dm.run_baseline:
            continue
        native = ctx.latency.native(dm.baseline)
        base = series(ctx, ctx.world, dm.run_baseline, native)
        ours = series(ctx, ctx.world, dm.run_mini[side], side, Mode.PARALOUPE)
        rb, rm = ctx.latency.ratio(d, dm.baseline), ctx.latency.ratio(d, dm.mini[side])
        b = [sum(f) * rb for s in base for f in ctx.runs[s].infer_ms]
        frames = [f for s in ours for f in ctx.runs[s].infer_ms if f]
        mean, total = [float(np.mean(f)) * rm for f in frames], [float(np.sum(f)) * rm for f in frames]
        out[d] = {"basis": dm.basis, "baseline_model": dm.baseline, "mini_model": dm.mini[side],
                  "ratio_baseline": round(rb, 4), "ratio_mini": round(rm, 4),
                  "series": {"Baseline": [round(v, 2) for v in b], "ParaLoupe (mean)": [round(v, 2) for v in mean],
                             "ParaLoupe (sum)": [round(v, 2) for v in total]},
                  "stats": {k: percentiles(v) for k, v in (("Baseline", b), ("ParaLoupe (mean)", mean),
                                                           ("ParaLoupe (sum)", total))}}
    return out


def _cap_defs(ctx: Context) -> list[tuple[int, list[RunSpec]]]:
    dm, side = ctx.devices[ctx.params.single_device], ctx.params.reference_size
    if side not in dm.run_mini:
        return []
    return [(k, series(ctx, ctx.world, dm.run_mini[side], side, Mode.PARALOUPE, {"max_patches": k}))
            for k in ctx.scope.max_patches or ctx.params.max_patches]


def max_patches_specs(ctx: Context) -> list[RunSpec]:
    return [s for _, specs in _cap_defs(ctx) for s in specs]


def max_patches(ctx: Context) -> list[dict[str, Any]]:
    """Fig. 19: F1 and per-frame latency (host generation + patches × the single device's per-patch ms; the
    first frames of each run are left out of the latency as in Fig. 28)."""
    d, side = ctx.params.single_device, ctx.params.reference_size
    rows = []
    for k, specs in _cap_defs(ctx):
        t = ctx.latency.per_patch(d, ctx.devices[d].mini[side], side)
        frame = [g + n * t for s in specs
                 for g, n in list(zip(ctx.runs[s].gen_ms, ctx.runs[s].patches, strict=False))[GEN_WARMUP_FRAMES:]]
        rows.append({"max_patches": k, **stats(ctx, specs), "per_patch_ms": round(t, 3),
                     "per_frame_ms": percentiles(frame)})
    return rows


def iou_specs(ctx: Context) -> list[RunSpec]:
    return tradeoff_specs(ctx, ctx.world, [ctx.params.single_device])


def iou_sweep(ctx: Context) -> dict[str, list[float]]:
    """Fig. 20: F1 at each IoU threshold for ParaLoupe per side and the baseline at its largest exported side."""
    dm, out = ctx.devices[ctx.params.single_device], {}
    ious = ctx.params.iou_thresholds
    if dm.run_baseline:
        specs = series(ctx, ctx.world, dm.run_baseline, ctx.latency.native(dm.baseline))
        out[f"Baseline-{ctx.latency.native(dm.baseline)}"] = [round(stats(ctx, specs, i)["f1"], 4) for i in ious]
    for s in ctx.params.mini_sizes:
        if s in dm.run_mini:
            specs = series(ctx, ctx.world, dm.run_mini[s], s, Mode.PARALOUPE)
            out[f"ParaLoupe-{s}"] = [round(stats(ctx, specs, i)["f1"], 4) for i in ious]
    return out


def _roi_defs(ctx: Context) -> tuple[list[list[float]], np.ndarray, list[tuple[int, int, list[RunSpec]]]]:
    p, dm = ctx.params.rois, ctx.devices[ctx.params.headline_device]
    if p.video not in ctx.ranges:
        return [], np.zeros((0, 0)), []
    train = load_coco(resolve_path(p.train_annotations))
    dens = density_map(train, p.small_area_px, p.new_weight)
    rois = pick_rois(dens, max(p.counts), p.side)
    gt = ctx.gts[p.video]
    frames = (gt.frame_ids[0], gt.frame_ids[-1] + 1)
    if ctx.scope.roi_frames is not None:
        lo, hi = parse_frame_range(ctx.scope.roi_frames)
        frames = (lo, min(hi, frames[1]))
    defs = [(side, k, series(ctx, [p.video], dm.run_mini[side], side, Mode.PARALOUPE,
                             {"predefined_rois": rois[:k]} if k else None, frames))
            for side in p.sizes if side in dm.run_mini for k in ctx.scope.roi_counts or p.counts if k <= len(rois)]
    return rois, dens, defs


def rois_specs(ctx: Context) -> list[RunSpec]:
    return [s for *_, specs in _roi_defs(ctx)[2] for s in specs]


def rois(ctx: Context) -> dict[str, Any]:
    """Fig. 21: patches per frame and F1 with 0–6 predefined RoIs (chosen on the training video) per side."""
    chosen, dens, defs = _roi_defs(ctx)
    rows = [{"size": side, "rois": k, **stats(ctx, specs)} for side, k, specs in defs]
    return {"rois": chosen, "density": np.round(dens, 2).tolist(), "rows": rows,
            "train_annotations": ctx.params.rois.train_annotations, "video": ctx.params.rois.video}
