"""Everything one report run shares: params, scope, bundle, ground truths, device models, latencies, runs.

:func:`open_context` loads the bundle manifest (files hash-checked), the ground truth of every video that
exists (an optional one that does not is left out with its reason), resolves each video's frame range and
each device's served models, and measures this host's latency of the baseline at every swept side.
:func:`series` names the runs of one configuration over several videos; :func:`stats` pools them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.pipeline import resolve_path
from factory.report.config import SOURCE_BASE_SIDE, EvaluateParams, ScopeParams, VideoParams
from factory.report.latency import DeviceModels, LatencyTable, device_models, measure_host
from factory.report.runs import RunEnv, RunResult, RunSpec, make_detector
from runtime.bundle import load_manifest
from runtime.coco import VideoAnnotations, load_coco
from runtime.config import to_mapping
from runtime.errors import UserError
from runtime.evaluate import Counts, evaluate, parse_frame_range

log = logging.getLogger("paraloupe")


@dataclass
class Context:
    """Shared state of one report run (see the module docstring)."""

    params: EvaluateParams
    scope: ScopeParams
    full: bool
    out_dir: Path
    env: RunEnv
    gts: dict[str, VideoAnnotations]
    ranges: dict[str, tuple[int, int]]
    world: list[str]
    real: str | None
    precision: str
    devices: dict[str, DeviceModels]
    latency: LatencyTable
    left_out: list[str] = field(default_factory=list)
    runs: dict[RunSpec, RunResult] = field(default_factory=dict)
    spread: list[str] = field(default_factory=list)  # headline.videos that exist (more world seeds: accuracy only)

    @property
    def checksum(self) -> str:
        return self.env.manifest.checksum


def _range(gt: VideoAnnotations, text: str | None) -> tuple[int, int]:
    ids = gt.frame_ids
    if not ids:
        raise UserError("ground truth has no frame")
    lo, hi = parse_frame_range(text) if text else (ids[0], ids[-1] + 1)
    hi = min(hi, ids[-1] + 1)
    if hi <= lo:
        raise UserError(f"frames {text}: no ground-truth frame in range")
    return lo, hi


def _load_video(v: VideoParams, left_out: list[str]) -> tuple[str, str, VideoAnnotations] | None:
    video, ann = resolve_path(v.video), resolve_path(v.annotations)
    missing = [str(p) for p in (video, ann) if not p.is_file()]
    if missing:
        if v.optional:
            left_out.append(f"{v.name}: left out ({', '.join(missing)} not found)")
            return None
        raise UserError(f"evaluate.videos: {v.name}: {missing[0]} not found (run the world/label stages)")
    return str(video), str(ann), load_coco(ann)


def open_context(params: EvaluateParams, full: bool, bundle: Path | None = None,
                 out_dir: Path | None = None) -> Context:
    """Load everything a report run needs (see the module docstring)."""
    scope = params.full if full else params.quick
    bundle = bundle or resolve_path(params.bundle)
    out_dir = out_dir or resolve_path(params.out_dir)
    manifest = load_manifest(bundle)
    left_out: list[str] = []
    videos: dict[str, tuple[str, str]] = {}
    gts: dict[str, VideoAnnotations] = {}
    ranges: dict[str, tuple[int, int]] = {}
    spread = [dataclasses.replace(v, optional=True) for v in params.headline.videos]  # absent: said, not fatal
    for v in params.videos + [params.real] + spread:
        loaded = _load_video(v, left_out)
        if loaded is None:
            continue
        if v.mini:
            manifest.check_mini(v.mini, f"evaluate: {v.name}: mini")
        videos[v.name], gts[v.name] = (loaded[0], loaded[1]), loaded[2]
        text = scope.real_frames if v is params.real else scope.world_frames
        ranges[v.name] = _range(loaded[2], text)
    precision = scope.precision
    if precision == "headline":
        head = device_models(manifest, params.headline_device)
        name = next(iter(head.run_mini.values()), None) if head else None
        precision = manifest.models[name].precision if name else "device"
    devices = {}
    for d in params.devices:
        dm = device_models(manifest, d, precision)
        if dm is None:
            left_out.append(f"device {d}: no profile in the bundle")
        else:
            devices[d] = dm
    if params.headline_device not in devices:
        raise UserError(f"evaluate.headline_device: {params.headline_device} has no profile in {bundle}")
    env = RunEnv(str(bundle), manifest, videos, to_mapping(params.patch_config()), params.threads,
                 str(out_dir / "cache"))
    native = LatencyTable(manifest, {}).native
    host_rows = manifest.latencies("host")
    sides = {*params.baseline_sizes, SOURCE_BASE_SIDE}
    items = sorted({(m, x) for dm in devices.values() if dm.baseline for s in sides
                    for m in [dm.baseline_at(s)[0]] for x in (s, native(m))}
                   | {(m, native(m)) for dm in devices.values() for m in dm.mini.values() if m not in host_rows})
    host_ms = measure_host(lambda m, s: make_detector(env, m, s), items, params.latency_runs, out_dir / "cache",
                           manifest.checksum, log.info)
    world = [v.name for v in params.videos if v.name in videos]
    real = params.real.name if params.real.name in videos else None
    return Context(params, scope, full, out_dir, env, gts, ranges, world, real, precision, devices,
                   LatencyTable(manifest, host_ms), left_out, spread=[v.name for v in spread if v.name in videos])


def real_devices(ctx: Context) -> list[str]:
    """The devices whose curves the real video gets (the scope's ``real_devices``, else all), among those profiled."""
    return [d for d in (ctx.scope.real_devices or ctx.params.devices) if d in ctx.devices]


def series(ctx: Context, videos: Sequence[str], model: str, size: int, generator: str | None = None,
           overrides: dict[str, Any] | None = None, frames: tuple[int, int] | None = None) -> list[RunSpec]:
    """One configuration replayed over ``videos`` (each over its own range unless ``frames`` is given)."""
    base = ctx.env.patches  # overrides equal to the base config are dropped: the same run, one cache entry
    frozen = tuple(sorted((k, _freeze(v)) for k, v in (overrides or {}).items() if base.get(k) != v))
    return [RunSpec(v, frames or ctx.ranges[v], model, size, generator, frozen) for v in videos]


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def counts(ctx: Context, specs: Sequence[RunSpec], iou: float = 0.5) -> Counts:
    """TP/FP/FN pooled over the runs of ``specs`` (micro, CONVENTIONS) at IoU ``iou``."""
    total = Counts()
    for s in specs:
        r = ctx.runs[s]
        total.add(evaluate(ctx.gts[s.video], r.predictions(), iou=iou, frames=s.frames).overall)
    return total


def stats(ctx: Context, specs: Sequence[RunSpec], iou: float = 0.5) -> dict[str, Any]:
    """F1/precision/recall (pooled), frames, mean patches per frame and host inference ms of a series."""
    c = counts(ctx, specs, iou)
    runs = [ctx.runs[s] for s in specs]
    patches = [n for r in runs for n in r.patches]
    infer = [t for r in runs for frame in r.infer_ms for t in frame]
    return {"f1": round(c.f1, 4), "precision": round(c.precision, 4), "recall": round(c.recall, 4),
            "tp": c.tp, "fp": c.fp, "fn": c.fn, "frames": len(patches),
            "patches_per_frame": round(float(np.mean(patches)) if patches else 0.0, 3),
            "host_infer_ms_median": round(float(np.median(infer)) if infer else 0.0, 3),
            "skipped_fraction": round(float(np.mean([k for r in runs for k in r.skipped])) if patches else 0.0, 3)}
