"""Per video and method: F1, AP50 and per-frame latency of the runs the trade-off already replayed, in the flat
shape of the DVC metrics (``{"f1": {video: {method: value}}, "ap50": ..., "latency_p50_ms": ...}``) and as
MLflow keys (``f1.<video>.<method>``); and the frame strips of each video (``<out>/strips/``).

No run is added. A video's methods are the trade-off's configurations on one device — the headline device; for
the real video the first of its devices when the headline is not among them — named ``baseline-<side>``,
``mini-<side>`` (the mini model on the whole frame) and ``paraloupe-<side>``:

- ``f1``: micro F1 at IoU 0.5 over the video's evaluated frames (:func:`factory.report.context.stats`);
- ``ap50``: COCO AP at IoU 0.5 (:mod:`runtime.coco_ap`) of each frame's ranked detections — the loop's output
  before its score cuts (aggregator floor, tracked output threshold), kept by the replay; left out when
  ``faster-coco-eval`` is not installed;
- ``latency_p50_ms``: median over frames of the per-frame latency on that device = patches in the frame × the
  device's per-patch latency (its profile row; baseline and mini: one inference a frame) — the trade-off's
  per-frame basis, the median instead of the mean; a skipped frame counts 0.

Strips (:mod:`factory.report.strips`): ParaLoupe at ``evaluate.reference_size`` and the baseline at equal budget
— the largest side whose per-frame latency on the device fits ``evaluate.budgets_ms`` (the smallest side if none
does; the largest when the device has no budget). The replay cache keeps each frame's detections and patch kinds
but not the patch rectangles: the strips show the kinds in the captions and draw no patch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from factory.report import Figure
from factory.report import experiments as ex
from factory.report.context import Context, real_devices, stats
from factory.report.runs import RunSpec
from factory.report.strips import load_frames, pick_frames, render_strip, write_png
from factory.report.writer import Section
from runtime import coco_ap

METRICS = ("f1", "ap50", "latency_p50_ms")  # the per-method sections of metrics.json
PREFIX = {"Baseline": "baseline", "ParaLoupe_mini": "mini", "ParaLoupe": "paraloupe"}
STRIP_COUNT = 4
STRIPS_DIR = "strips"


def device_of(ctx: Context, video: str) -> str:
    """The device whose configurations name ``video``'s methods (see the module docstring)."""
    if video != ctx.real:
        return ctx.params.headline_device
    devices = real_devices(ctx)
    return ctx.params.headline_device if ctx.params.headline_device in devices or not devices else devices[0]


def methods(ctx: Context, video: str) -> dict[str, tuple[str, int, str, RunSpec]]:
    """``name → (approach, side, latency model, run)`` of ``video``'s methods that were replayed."""
    out = {}
    for approach, side, model, specs in ex.tradeoff_defs(ctx, [video], device_of(ctx, video)):
        if specs[0] in ctx.runs:
            out[f"{PREFIX[approach]}-{side}"] = (approach, side, model, specs[0])
    return out


def _ap50(ctx: Context, spec: RunSpec) -> float | None:
    if not coco_ap.available():
        return None
    run = ctx.runs[spec]
    return round(coco_ap.average_precision(ctx.gts[spec.video], run.ranked_predictions(), spec.frames).ap50, 4)


def per_video(ctx: Context) -> dict[str, Any]:
    """Per video: the device, frames, each method's numbers and the methods its strips show (JSON-able)."""
    out: dict[str, Any] = {}
    for video in [*ctx.world, *([ctx.real] if ctx.real else [])]:
        d, rows = device_of(ctx, video), {}
        for name, (approach, side, model, spec) in methods(ctx, video).items():
            t = ctx.latency.per_patch(d, model, side)
            per_frame = [t * (n if approach == "ParaLoupe" else 1) for n in ctx.runs[spec].patches]
            ap50 = _ap50(ctx, spec)
            rows[name] = {"approach": approach, "size": side, "model": model, "run_model": spec.model,
                          **stats(ctx, [spec]), **({} if ap50 is None else {"ap50": ap50}),
                          "per_patch_ms": round(t, 3), "latency_p50_ms": round(float(np.median(per_frame)), 3)}
        lo, hi = ctx.ranges[video]
        out[video] = {"device": d, "frames": f"{lo}:{hi}", "methods": rows,
                      "strips": strip_methods(rows, ctx.params.reference_size, ctx.params.budgets_ms.get(d))}
    return out


def strip_methods(rows: Mapping[str, Mapping[str, Any]], reference_size: int,
                  budget_ms: float | None) -> dict[str, str]:
    """The methods the strips show: ``paraloupe`` (at ``reference_size``, else its largest side) and
    ``baseline`` (at equal budget: see the module docstring); either is absent without such a method."""
    ours = {r["size"]: n for n, r in rows.items() if r["approach"] == "ParaLoupe"}
    base = {r["size"]: (n, r["latency_p50_ms"]) for n, r in rows.items() if r["approach"] == "Baseline"}
    out = {}
    if ours:
        out["paraloupe"] = ours.get(reference_size) or ours[max(ours)]
    if base:
        fits = [s for s, (_, ms) in base.items() if budget_ms is None or ms <= budget_ms]
        out["baseline"] = base[max(fits) if fits else min(base)][0]
    return out


def method_metrics(videos: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """The DVC metrics of :func:`per_video`'s result: metric → video → method → value; a metric no method has
    (``ap50`` without faster-coco-eval) is left out."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for metric in METRICS:
        table = {v: {m: r[metric] for m, r in e["methods"].items() if r.get(metric) is not None}
                 for v, e in videos.items()}
        if any(table.values()):
            out[metric] = {v: row for v, row in table.items() if row}
    return out


def mlflow_key(key: str) -> str:
    """``key`` with every character MLflow refuses in a metric name (not a letter, digit, ``_-./`` or space)
    replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", key)


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """What the evaluate stage logs to MLflow: ``<scope>/<device>/<name>`` for the headline rows,
    ``<metric>.<video>.<method>`` for :data:`METRICS`, ``headline.<method>.<metric>`` for the headline table and
    ``seconds``; numbers only."""
    flat: dict[str, float] = {}
    for key, row in metrics.items():
        if not isinstance(row, Mapping):
            continue
        if key in METRICS:
            flat.update({f"{key}.{v}.{m}": x for v, r in row.items() for m, x in r.items()})
        elif key == "headline":  # the report's first table: headline.<method>.<metric>
            flat.update({f"{key}.{m}.{k}": x for m, r in row.items() for k, x in r.items()})
        elif "/" in key:
            flat.update({f"{key}/{m}": x for m, x in row.items()})
    if "seconds" in metrics:
        flat["seconds"] = metrics["seconds"]
    return {mlflow_key(k): float(v) for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def strips_section(ctx: Context, videos: Mapping[str, Mapping[str, Any]], out_dir: Path) -> Section:
    """Draw each video's strips (``<out_dir>/strips/<video>-paraloupe.png`` and ``-baseline.png``) from the
    cached runs, and the report section that shows them."""
    items: list[Any] = [f"{STRIP_COUNT} frames spread over each video's evaluated range: the ground truth (thin "
                        "white), the detections (green, label and score) and, circled in red, every object no "
                        "detection of its class matches at IoU 0.5. The captions count each frame's TP/FP/FN and "
                        "patches by kind; patch rectangles are not drawn here (the replay cache does not keep them; "
                        "`paraloupe-report strips --pred P.jsonl` draws them from a `paraloupe-run --out` file)."]
    for video, e in videos.items():
        chosen = {label: e["methods"][name] for label, name in e["strips"].items()}
        if not chosen:
            continue
        runs = {name: m[3] for name, m in methods(ctx, video).items()}
        lo, hi = ctx.ranges[video]
        ids = pick_frames([f for f in ctx.gts[video].frame_ids if lo <= f < hi], STRIP_COUNT)
        images = load_frames(ctx.env.videos[video][0], ids)
        for label, name in e["strips"].items():
            row, run_spec = chosen[label], runs[name]
            run = ctx.runs[run_spec]
            kinds = dict(zip(run.frame_ids, run.kinds, strict=True))
            title = f"{video} | {label}: {name} ({row['model']}) | F1 {row['f1']:.3f} over {e['frames']}"
            strip, c = render_strip(images, ctx.gts[video], run.predictions(), title, kinds=kinds)
            png = f"{STRIPS_DIR}/{video}-{label}.png"
            write_png(out_dir / png, strip)
            items.append(Figure(
                f"strip-{video}-{label}", f"{video}: {label} ({name})", png,
                f"frames {', '.join(map(str, ids))}: TP {c.tp}, FP {c.fp}, FN {c.fn} (missed, circled) on these "
                f"frames; F1 {row['f1']:.3f} over {e['frames']}.",
                f"the cached replay {run_spec.model}@{run_spec.size} {run_spec.generator or 'whole frame'} of the "
                f"trade-off (no extra inference); latency basis {e['device']}, per frame p50 "
                f"{row['latency_p50_ms']:.1f} ms."))
    return Section("Frames: what each method sent and found (strips)", items)
