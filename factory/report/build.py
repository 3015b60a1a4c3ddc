"""Build the whole report: plan every run, replay what is not cached, summarise, draw, write.

:func:`build_report` is what ``paraloupe-report`` and the DVC ``evaluate`` stage both call. Outputs:
``<out_dir>/*.png``, ``<out_dir>/strips/<video>-{paraloupe,baseline}.png`` (frame strips), ``<out_dir>/results.json``
(every number the figures use), ``<out_dir>/cache/`` (one JSON per replay run, keyed by bundle checksum + params),
the markdown report, and in ``metrics_dir`` ``metrics.json`` (headline numbers; ``f1`` / ``ap50`` /
``latency_p50_ms`` per video and method) plus ``tradeoff.csv``, ``generators.csv`` and ``iou.csv`` (DVC plots).
"""

from __future__ import annotations

import csv
import logging
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factory.pipeline import resolve_path
from factory.report import experiments as ex
from factory.report import per_video as pv
from factory.report.cluster_headline import headline_latency
from factory.report.cluster_hook import cluster_section
from factory.report.config import EvaluateParams
from factory.report.context import Context, open_context, real_devices
from factory.report.headline import accuracy as headline_accuracy
from factory.report.headline import headline_metrics as headline_metrics_of
from factory.report.headline import headline_section, headline_specs
from factory.report.keypoints import keypoint_section
from factory.report.runs import run_all
from factory.report.sections import real_sections, world_sections
from factory.report.writer import Section, figures_of, write_report
from runtime.atomic import atomic_open, write_json

log = logging.getLogger("paraloupe")


def machine() -> str:
    """This host in words: CPU model, cores (the VM is shared with other jobs)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores shared with other jobs"


def plan(ctx: Context) -> list:
    """Every run the report needs (duplicates across experiments are one run)."""
    w = ctx.world
    specs = (ex.tradeoff_specs(ctx, w, list(ctx.devices)) + ex.sources_specs(ctx) + ex.generators_specs(ctx, w)
             + ex.per_frame_specs(ctx) + ex.max_patches_specs(ctx) + ex.iou_specs(ctx) + ex.rois_specs(ctx)
             + headline_specs(ctx))
    if ctx.real:
        specs += ex.tradeoff_specs(ctx, [ctx.real], real_devices(ctx)) + ex.generators_specs(ctx, [ctx.real])
    return specs


def summarise(ctx: Context) -> dict[str, Any]:
    """Every experiment's numbers (JSON-able); ``per_video``: each video's methods (:mod:`factory.report.per_video`)."""
    w = ctx.world
    world = {"tradeoff": ex.tradeoff(ctx, w, list(ctx.devices)), "sources": ex.sources(ctx),
             "generators": ex.generators(ctx, w), "per_frame": ex.per_frame(ctx), "max_patches": ex.max_patches(ctx),
             "iou": ex.iou_sweep(ctx), "rois": ex.rois(ctx)}
    real = None
    if ctx.real:
        lo, hi = ctx.ranges[ctx.real]
        real = {"name": ctx.real, "frames": f"{lo}:{hi}",
                "tradeoff": ex.tradeoff(ctx, [ctx.real], real_devices(ctx)),
                "generators": ex.generators(ctx, [ctx.real])}
    return {"world": world, "real": real, "per_video": pv.per_video(ctx), "headline": headline_accuracy(ctx)}


def measured_lines(ctx: Context) -> dict[str, str]:
    """How each experiment was measured (machine, threads, videos, frames, emulated or measured device)."""
    p, host = ctx.params, f"{machine()}; ncnn {ctx.params.threads} thread(s), in-process replay (runtime/replay.py)"
    vids = ", ".join(f"{v} {ctx.ranges[v][0]}:{ctx.ranges[v][1]}" for v in ctx.world)
    n = sum(ctx.ranges[v][1] - ctx.ranges[v][0] for v in ctx.world)
    basis = ", ".join(f"{d}: {dm.basis}" for d, dm in ctx.devices.items())
    lat = (f"latency per patch = the bundle profile row of each device ({basis}); per frame = per patch × mean "
           f"patches per frame (one device, sequential; skipped frames count 0)")
    world = f"world test videos {vids} ({n} frames), F1 pooled over videos at IoU 0.5; {host}"
    h = p.headline_device
    m = {"tradeoff": f"{world}; {lat}; accuracy run with precision '{ctx.scope.precision}' ({ctx.precision}).",
         "sources": f"{world}; {h} profile rows ({ctx.devices[h].basis}).",
         "generators": f"{world}; mini model at side {p.generators_size} ({ctx.precision} accuracy run); lastDet "
                       + ("with" if p.lastdet_bootstrap else "without") + " ParaLoupe's bootstrap tiles.",
         "per_frame": f"{world}; per-patch times measured on this host during the replay × the device/host "
                      f"profile latency ratio (emulated devices) — mini side {p.reference_size}, baseline at its "
                      f"largest exported side.",
         "max_patches": f"{world}; per frame = patch generation measured on this host + patches × the "
                        f"{p.single_device} per-patch profile row ({ctx.devices[p.single_device].basis}); no network "
                        f"(end-to-end cluster latency: see the cluster section).",
         "iou": f"{world}; the {p.single_device} models ({ctx.precision} accuracy run).",
         "rois": f"{p.rois.video} (static camera), {ctx.scope.roi_frames or 'all'} frames; RoIs from "
                 f"{p.rois.train_annotations}; {host}.",
         "gen_ms": f"{world}; generation + JPEG encoding per frame measured on this host (1 thread, first "
                   f"{ex.GEN_WARMUP_FRAMES} frames of each run left out); Jetson/RPi not measured here."}
    if ctx.real:
        lo, hi = ctx.ranges[ctx.real]
        rv = f"real video {ctx.real} frames {lo}:{hi}, teacher ground truth (score ≥ 0.40); {host}"
        m["real"] = f"{rv}; {lat}."
        m["real_generators"] = f"{rv}; mini side {p.generators_size}."
    return m


def headline_metrics(results: Mapping[str, Any], p: EvaluateParams) -> dict[str, Any]:
    """The DVC metrics: per device and basis, speedup and F1 gain; best F1 per approach."""
    out: dict[str, Any] = {"headline_device": p.headline_device, "target_speedup": p.target_speedup,
                           "target_gain": p.target_gain}
    for scope in ("world", "real"):
        if not results.get(scope):
            continue
        for d, e in results[scope]["tradeoff"].items():
            row: dict[str, Any] = {}
            for basis, c in e["comparisons"].items():
                row[f"speedup_{basis}"] = c["speedup"]["speedup"]
                if "gain" in c:
                    row[f"f1_gain_{basis}"] = c["gain"]["gain"]
            for a in ex.APPROACHES:
                f1s = [q["f1"] for q in e["points"] if q["approach"] == a]
                row[f"best_f1_{a}"] = max(f1s) if f1s else None
            out[f"{scope}/{d}"] = row
    return out


def dvc_metrics(results: Mapping[str, Any], p: EvaluateParams) -> dict[str, Any]:
    """``metrics.json`` before the run's facts: the headline rows (:func:`headline_metrics`) and, per video and
    method, ``f1`` / ``ap50`` / ``latency_p50_ms`` (:func:`factory.report.per_video.method_metrics`)."""
    return {**headline_metrics(results, p), **pv.method_metrics(results.get("per_video") or {}),
            "headline": headline_metrics_of(results.get("headline") or {}, results.get("headline_latency") or {})}


def write_csvs(results: Mapping[str, Any], folder: Path) -> None:
    """The DVC plot tables (one row per point)."""
    rows, gens, ious = [], [], []
    for scope in ("world", "real"):
        r = results.get(scope)
        if not r:
            continue
        for d, e in r["tradeoff"].items():
            rows += [{"videos": scope, "device": d, "approach": q["approach"], "size": q["size"], "f1": q["f1"],
                      "per_patch_ms": q["per_patch_ms"], "per_frame_ms": q["per_frame_ms"],
                      "patches_per_frame": q["patches_per_frame"]} for q in e["points"]]
        gens += [{"videos": scope, "generator": g["generator"], "patches_per_frame": g["patches_per_frame"],
                  "f1": g["f1"], "gen_ms_mean": round(g["gen_ms"]["mean"], 3)} for g in r["generators"]]
    for name, f1s in results["world"]["iou"].items():
        ious += [{"series": name, "iou": i, "f1": f} for i, f in zip(results["_ious"], f1s, strict=False)]
    for fname, data in (("tradeoff.csv", rows), ("generators.csv", gens), ("iou.csv", ious)):
        with atomic_open(folder / fname) as handle:
            fields = list(data[0]) if data else ["empty"]
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(data)


def build_report(params: EvaluateParams, full: bool = False, bundle: Path | None = None,
                 out_dir: Path | None = None, report: Path | None = None,
                 metrics_dir: Path | None = None, netns: bool = False) -> dict[str, Any]:
    """Regenerate every figure and the report; returns the headline metrics (with ``seconds``). ``netns``: the
    cluster section also runs Fig. 22–24 on ``--cluster netns:N`` (root; skipped with a line otherwise)."""
    t0 = time.time()
    out_dir = out_dir or resolve_path(params.out_dir)
    report = report or resolve_path(params.report)
    metrics_dir = metrics_dir or resolve_path(params.metrics_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    ctx = open_context(params, full, bundle, out_dir)
    ctx.runs = run_all(plan(ctx), ctx.env, params.workers, log.info)
    t_runs = time.time() - t0
    results = summarise(ctx)
    results["_ious"] = list(params.iou_thresholds)
    write_json(out_dir / "results.json", results)
    m = measured_lines(ctx)
    sections = world_sections(results["world"], params, out_dir, m)
    reason = "; ".join(x for x in ctx.left_out if x.startswith(params.real.name)) or "no real video configured"
    sections += real_sections(results["real"], params, out_dir, m, reason)
    sections.append(pv.strips_section(ctx, results["per_video"], out_dir))
    sections.append(keypoint_section(resolve_path(params.keypoints), out_dir))
    cluster: dict[str, Any] = {}
    sections.append(cluster_section(ctx, results, log.info, netns=netns, sink=cluster))
    results["headline_latency"] = headline_latency(cluster["results"]) if cluster.get("results") else {}
    sections.insert(0, headline_section(ctx, results["headline"], results["headline_latency"], cluster.get("results")))
    write_json(out_dir / "results.json", results)
    metrics = dvc_metrics(results, params)
    cluster_s = float((cluster.get("results") or {}).get("wall_s") or 0.0)
    metrics.update({"seconds": round(time.time() - t0, 1), "replay_seconds": round(t_runs, 1),
                    "cluster_seconds": round(cluster_s, 1), "full": full,
                    "frames": {v: f"{a}:{b}" for v, (a, b) in ctx.ranges.items()},
                    "bundle_checksum": ctx.checksum, "figures": [f.png for f in figures_of(sections)]})
    sections.append(Section("How this report was made", [
        f"`paraloupe-report{' --full' if full else ''}{' --netns' if netns else ''}` (or `dvc repro evaluate`, "
        f"the quick set) on {machine()}; "
        f"bundle `{ctx.env.bundle_dir}` checksum `{ctx.checksum[:16]}…` (factory commit "
        f"`{ctx.env.manifest.factory.git_commit if ctx.env.manifest.factory else '?'}`); "
        f"{metrics['seconds']:.0f} s in all, "
        f"{t_runs:.0f} s of replay, {cluster_s:.0f} s of cluster runs. Every number comes from "
        f"`{out_dir / 'results.json'}`; each replay run is cached "
        f"under `{out_dir / 'cache'}` by bundle checksum + params, so re-rendering only re-draws.",
        "Left out: " + ("; ".join(ctx.left_out) if ctx.left_out else "nothing") + ".",
        "Objectness model M: " + ("from the bundle." if ctx.env.manifest.objectness is not None else
                                  "the bundle has none — the generator's prior was used.")]))
    preamble = [f"Reproduction of the ParaLoupe paper's §IV experiments ({'full' if full else 'quick'} set). "
                "Paper numbers sit beside ours; every figure is followed by its reading and how it was measured. "
                "Latencies of jetson/rpi/phone are **emulated (estimated from host)** unless the bundle says "
                "measured; `host` rows are measured. Per-patch and per-frame latency are never mixed."]
    write_report(report, "ParaLoupe evaluation report", preamble, sections, out_dir)
    write_json(metrics_dir / "metrics.json", metrics)
    write_csvs(results, metrics_dir)
    log.info("report: %s (%d figures, %.0f s)", report, len(metrics["figures"]), metrics["seconds"])
    return metrics
