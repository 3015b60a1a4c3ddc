"""From ``results.json`` to report sections: figures (PNG written here), tables and measured explanations.

:func:`world_sections` and :func:`real_sections` render the accuracy-side experiments; :func:`explain`
turns the headline comparison into sentences built only from measured numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factory.report import plots_components as pc
from factory.report import plots_tradeoff as pt
from factory.report import tables
from factory.report.paper import SHORT, TRADEOFF_JETSON
from factory.report.writer import Section


def explain(tr: Mapping[str, Any], device: str, target_speedup: float, target_gain: float) -> str:
    """Why the headline device meets or misses the targets, in measured numbers (per-patch basis)."""
    e = tr.get(device)
    if not e:
        return f"{device}: no trade-off results."
    c = e["comparisons"]["per_patch"]
    s, g = c["speedup"], c.get("gain")
    pts = {a: [p for p in e["points"] if p["approach"] == a] for a in ("Baseline", "ParaLoupe", "ParaLoupe_mini")}
    best = {a: max(v, key=lambda p: p["f1"]) for a, v in pts.items() if v}
    out = []
    if "ParaLoupe" in best and "Baseline" in best:
        b, o = best["Baseline"], best["ParaLoupe"]
        out.append(f"Best F1 on {SHORT.get(device, device)}: Baseline {b['f1']:.3f} (side {b['size']}, "
                   f"{b['per_patch_ms']:.1f} ms), ParaLoupe {o['f1']:.3f} (side {o['size']}, {o['per_patch_ms']:.1f} "
                   f"ms/patch, {o['patches_per_frame']:.2f} patches/frame, precision {o['precision']:.3f}, recall "
                   f"{o['recall']:.3f} — " + ("missed objects dominate" if o["recall"] < o["precision"]
                                               else "false positives dominate") + ").")
        if "ParaLoupe_mini" in best:
            m = best["ParaLoupe_mini"]
            out.append(f"The mini model on the whole frame reaches F1 {m['f1']:.3f} (side {m['size']}).")
    if s["speedup"] is None:
        out.append(f"Speedup: not measurable — {s['reason']}.")
    elif s["speedup"] < target_speedup:
        out.append(f"Speedup {s['speedup']:.2f}× < {target_speedup:g}×: the most accurate ParaLoupe point that is "
                   f"comparable ({s['ours']['label']}, F1 {s['ours']['f1']:.3f}) is only matched by the baseline at "
                   f"side {s['base']['label']} ({s['base']['latency_ms']:.1f} ms); a larger speedup needs ParaLoupe "
                   f"to be comparable to a slower, more accurate baseline configuration.")
    else:
        out.append(f"Speedup {s['speedup']:.2f}× meets the {target_speedup:g}× target.")
    if g is not None:
        if g["gain"] is None:
            out.append(f"F1 gain at {g['budget_ms']:g} ms: not measurable — {g['reason']}.")
        elif g["gain"] < target_gain:
            out.append(f"F1 gain {g['gain'] * 100:+.1f}% < {target_gain:.0%}: within {g['budget_ms']:g} ms the "
                       f"baseline already runs side {g['base']['label']} (F1 {g['base']['f1']:.3f}) while ParaLoupe's "
                       f"best within it is side {g['ours']['label']} (F1 {g['ours']['f1']:.3f}).")
        else:
            out.append(f"F1 gain {g['gain'] * 100:+.1f}% meets the {target_gain:.0%} target.")
    return " ".join(out)


def world_sections(res: Mapping[str, Any], p: Any, out: Path, m: Mapping[str, str]) -> list[Section]:
    """The world-video sections (Fig. 13–21, 28); ``m`` holds the measured-by lines per experiment."""
    tr, h = res["tradeoff"], p.headline_device
    secs = [Section("Headline: Raspberry-Pi-class profile, world test videos", [
        tables.headline(tr, "headline", p.target_speedup, p.target_gain),
        "**Why (measured).** " + explain(tr, h, p.target_speedup, p.target_gain),
        "End-to-end per-frame latency (capture → aggregated result, real multi-process cluster on loopback with "
        "emulated device pacing) sits beside these in the cluster section's end-to-end table below; the "
        "per-frame rows here are the sequential single-device sum, not end-to-end."])]
    secs.append(Section("Fig. 13–15: accuracy–latency trade-off (world test videos)", [
        pt.fig13(tr, out, "fig13", h, m["tradeoff"]), pt.fig14(tr, out, "fig14", h, m["tradeoff"]),
        pt.fig15(tr, out, "fig15", h, m["tradeoff"]),
        tables.tradeoff_points(tr, "points", "Curve points (world test videos)"),
        "Paper (Jetson, Fig. 13): " + "; ".join(f"{k} {v}" for k, v in TRADEOFF_JETSON.items()) + ".",
        tables.latency_sources(tr, "latency-sources"),
        f"Baseline sides {p.baseline_sizes}: each side runs the baseline model exported at it, with its own profile "
        f"row; a side the bundle has no model for runs the largest one letterboxed to it (the network is fully "
        f"convolutional) and takes its profile row × this host's measured latency ratio (same process, "
        f"{p.latency_runs} runs)."]))
    if res["sources"]:
        secs.append(Section("Fig. 16: sources of improvement", [
            pc.fig16(res["sources"], out, "fig16", SHORT.get(h, h), m["sources"]),
            tables.sources(res["sources"], "sources", SHORT.get(h, h))]))
    if res["generators"]:
        secs.append(Section("Fig. 17: patch generators", [
            pc.fig17(res["generators"], out, "fig17", m["generators"]),
            tables.generators(res["generators"], "generators", "Fig. 17/28 — generators (world test videos)")]))
    items: list[Any] = []
    if res["per_frame"]:
        items += [pt.fig18(res["per_frame"], out, "fig18", m["per_frame"]),
                  tables.per_frame(res["per_frame"], "per-frame")]
    if res["max_patches"]:
        d = SHORT.get(p.single_device, p.single_device)
        items += [pc.fig19(res["max_patches"], out, "fig19", d, m["max_patches"]),
                  tables.max_patches(res["max_patches"], "max-patches", d)]
    secs.append(Section("Fig. 18/19: per-frame latency and the max-patches sweep", items or ["not produced: "
                                                                                             "no device served both "
                                                                                             "models at the side"]))
    if res["iou"]:
        secs.append(Section("Fig. 20: IoU threshold", [
            pc.fig20(res["iou"], p.iou_thresholds, out, "fig20", m["iou"]),
            tables.iou(res["iou"], p.iou_thresholds, "iou")]))
    if res["rois"]["rows"]:
        secs.append(Section("Fig. 21: predefined RoIs (static camera)",
                            [*pc.fig21(res["rois"], out, "fig21", m["rois"]), tables.rois(res["rois"], "rois")]))
    if res["generators"]:
        secs.append(Section("Fig. 28: patch-generation latency",
                            [pc.fig28(res["generators"], out, "fig28", m["gen_ms"])]))
    return secs


def real_sections(res: Mapping[str, Any] | None, p: Any, out: Path, m: Mapping[str, str], reason: str) -> list[Section]:
    """The real-video section (Fig. 13/14/17 on vtest), or its reason for being left out."""
    if res is None:
        return [Section("Real video", [f"Not produced: {reason}."])]
    tr, h = res["tradeoff"], p.headline_device
    items: list[Any] = [pt.fig13(tr, out, "fig13-real", h, m["real"]), pt.fig14(tr, out, "fig14-real", h, m["real"]),
                        tables.tradeoff_points(tr, "points-real", "Curve points (real video)"),
                        tables.headline(tr, "headline-real", p.target_speedup, p.target_gain)]
    if res["generators"]:
        items += [pc.fig17(res["generators"], out, "fig17-real", m["real_generators"]),
                  tables.generators(res["generators"], "generators-real", "Fig. 17 — generators (real video)")]
    return [Section(f"Real video ({res['name']} {res['frames']}, teacher ground truth)", items)]
