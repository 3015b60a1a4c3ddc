"""DVC stage ``export``: every detector checkpoint → pnnx → ncnn in fp32, fp16 and int8, with checks.

Run: ``python -m factory.stages.export`` (reads ``params.yaml: export``). For each checkpoint
``<detectors_dir>/<ckpt>/model.pt`` (the mini detectors ``<backbone>-<size>`` and ``baseline``):

1. pnnx export (graph passes at ``optlevel``) at the model's input size — the fully convolutional baseline
   at every side of ``baseline_sizes`` (``baseline-320``, ``baseline-480``, ...), each a model of its own —
   with float32 weights (``<name>-fp32``) and float16 weights (``<name>-fp16``);
2. int8 (``<name>-int8``) from the fp32 files: per-channel weight scales, activation scales calibrated on
   ``int8.images`` training patches (the baseline: every ``baseline_calibration_step``-th training frame)
   (``int8.method``: kl | percentile | maxabs), ncnn's int8 format — or ncnn's own ``ncnn2table``/``ncnn2int8``
   when they are on PATH and ``int8.use_ncnn_tools`` is set;
3. parity on real held-out patches: torch vs ncnn fp32 max |diff| (the stage fails above ``max_abs_diff``),
   and the cosine of every precision's outputs to torch's;
4. F1 (accuracy α) of every exported file through the runtime's inference: the mini detectors on the
   held-out patch set (``eval``) and then — α, what the scheduler maximises — in the runtime's closed loop on
   the held-out videos ``loop_eval`` (:mod:`factory.export.loop_alpha`; the patch-set F1 stays as
   ``patch_f1``), the whole-frame baseline (every side) on every ``baseline_frame_step``-th
   frame of the held-out videos (``baseline_eval``), each frame letterboxed whole into its square input as the
   runtime's baseline mode does. Steps 3–4 run for every exported file: at the default 40 frames they cost
   a few seconds even at side 960, far less than the int8 calibration of that side.

Writes ``<out_dir>/<name>.param|.bin``, ``<out_dir>/models.json`` (classes + the manifest's ``models``
entries) and ``<out_dir>/metrics.json`` (the table: precision, F1, .bin size, parity, MACs).
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before anything that may import timm / lightning)

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from factory import paths
from factory.data.builder import Source, world_source
from factory.export.checks import frames_f1, output_cosine, parity, patch_f1, read_frames, read_images
from factory.export.loop_alpha import closed_loop_f1
from factory.export.ncnn_export import NcnnFiles, blob_names, export_ncnn, manifest_entry
from factory.models.complexity import count_macs, count_params
from factory.models.detector import Detector as Network
from factory.models.detector import load_detector
from factory.pipeline import load_section, resolve_path
from factory.quant.int8 import ncnn_tools, quantize_ncnn, quantize_with_ncnn_tools
from factory.tracking import stage_run
from factory.train.data import PAD_VALUE
from runtime.atomic import write_json
from runtime.config import bounded, to_mapping
from runtime.errors import UserError, cli_entry, run_cli
from runtime.infer import Detector
from runtime.loop_config import LoopConfig
from runtime.manifest import Manifest, parse_manifest
from runtime.patches.objectness import ObjectnessModel

log = logging.getLogger("paraloupe")

PRECISIONS = ("fp32", "fp16", "int8")


#: the held-out world videos the minis' closed-loop alpha is measured on (world stage defaults)
VAL_VIDEOS = ("val-static", "val-moving", "val-static-2", "val-moving-2", "val-switch", "val-moving-3")


@dataclass
class Int8Params:
    """Post-training int8 quantization (``export.int8``)."""

    calibration: str = paths.patches("train")  # COCO patch set the activations are calibrated on
    images: int = bounded(200, "calibration patches, evenly spread over the set", ge=1)
    method: Literal["kl", "percentile", "maxabs"] = "percentile"  # activation threshold (see factory.quant.calibrate)
    percentile: float = bounded(99.99, "quantile of |x| for method percentile (%)", gt=50, le=100)
    kl_step: int = bounded(4, "KL threshold searched every n histogram bins (of 2048)", ge=1)
    skip_depthwise: bool = False  # keep depthwise convolutions in fp32
    min_weights: int = bounded(32, "layers with fewer weights per output channel stay fp32 (int8 overhead)", ge=0)
    requantize: bool = True  # int8 → int8 between consecutive int8 layers (no dequantize/quantize pair)
    use_ncnn_tools: bool = True  # use ncnn2table + ncnn2int8 when both are on PATH


@dataclass
class ExportParams:
    """The ``export`` section of params.yaml."""

    detectors_dir: str = paths.REFINED_DIR  # the refine stage's (second-pass minis + the baseline)
    out_dir: str = paths.EXPORT_DIR
    models: list[str] | None = None  # checkpoint folders of detectors_dir; null = every one with a model.pt
    baseline_sizes: list[int] = bounded([320, 480, 640, 960], "square input sides the whole-frame baseline is "
                                        "exported at (px, multiples of 32): one model per side")
    precisions: list[str] = bounded(["fp32", "fp16", "int8"], "variants written (fp32 is always written)")
    optlevel: int = bounded(2, "pnnx graph optimisation level (2 = all passes)", ge=0, le=2)
    eval: str = paths.patches("val")  # held-out patch set (COCO) for the minis' F1
    # the minis' α = closed-loop F1 on these held-out videos (factory/export/loop_alpha.py); [] = patch-set F1
    loop_eval: list[Source] = field(default_factory=lambda: [world_source(name) for name in VAL_VIDEOS])
    loop_objectness: str = paths.OBJECTNESS_WEIGHTS  # the loop's objectness model M (absent: the prior)
    baseline_eval: list[Source] = field(default_factory=lambda: [world_source("val-static"),
                                                                 world_source("val-moving")])
    baseline_frame_step: int = bounded(10, "every n-th frame of baseline_eval", ge=1)
    baseline_calibration: list[Source] = field(default_factory=lambda: [world_source("train-static"),
                                                                        world_source("train-moving")])
    baseline_calibration_step: int = bounded(20, "every n-th frame of baseline_calibration (its int8 calibration)",
                                             ge=1)
    parity_images: int = bounded(16, "held-out patches for torch vs ncnn parity", ge=1)
    max_abs_diff: float = bounded(1e-3, "fp32 torch vs ncnn bound; the stage fails above it", gt=0)
    threads: int = bounded(1, "torch and ncnn threads", ge=1)
    int8: Int8Params = field(default_factory=Int8Params)

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        for p in self.precisions:
            if p not in PRECISIONS:
                raise UserError(f"{where}.precisions: {p!r} is not one of {', '.join(PRECISIONS)}")
        if not self.baseline_sizes:
            raise UserError(f"{where}.baseline_sizes: expected at least one side")
        for s in self.baseline_sizes:
            if s < 32 or s % 32:
                raise UserError(f"{where}.baseline_sizes: {s} is not a positive multiple of 32")
        if len(set(self.baseline_sizes)) != len(self.baseline_sizes):
            raise UserError(f"{where}.baseline_sizes: duplicate sides {self.baseline_sizes}")


def checkpoints(params: ExportParams) -> list[str]:
    """Checkpoint names to export (a missing one is a one-line error)."""
    root = resolve_path(params.detectors_dir)
    names = params.models if params.models is not None else sorted(
        p.parent.name for p in root.glob("*/model.pt"))
    if not names:
        raise UserError(f"{root}: no detector checkpoints (<name>/model.pt); run the finetune stage first")
    for n in names:
        if not (root / n / "model.pt").is_file():
            raise UserError(f"{root / n / 'model.pt'}: checkpoint not found (export.models lists {n})")
    return names


def video_sources(items: list[Source], where: str) -> list[tuple[Path, Path, str | None]]:
    """``(video, annotations, frames)`` of ``export.<where>`` (absent optional ones skipped, others an error)."""
    out = []
    for i, src in enumerate(items):
        video, ann = resolve_path(src.video), resolve_path(src.annotations)
        if not (video.is_file() and ann.is_file()):
            if src.optional:
                continue
            raise UserError(f"params.yaml: export.{where}[{i}]: {video if not video.is_file() else ann} not found")
        out.append((video, ann, src.frames))
    if not out:
        raise UserError(f"params.yaml: export.{where}: no video")
    return out


def identities(ckpt: str, spec: dict[str, Any], baseline_sizes: list[int]) -> list[tuple[str, int]]:
    """(backbone, input size) of each model exported from a checkpoint: ``rpi4b-240`` → [(rpi4b, 240)]; the
    baseline at every side of ``baseline_sizes``, ascending."""
    if spec["kind"] == "baseline":
        return [("baseline", s) for s in sorted(baseline_sizes)]
    size = int(spec["input_size"])
    base, _, tail = ckpt.rpartition("-")
    return [((base if tail == str(size) and base else ckpt), size)]


def typed(bundle: dict[str, Any], out: Path) -> Manifest:
    """The models exported so far (``models.json`` in the making), typed as :class:`runtime.infer.Detector`
    reads them."""
    return parse_manifest(bundle, f"{out / 'models.json'}:")


def int8_variant(params: ExportParams, fp32: NcnnFiles, out: Path, name: str, bundle: dict[str, Any],
                 fp32_name: str, calibration: list[Any]) -> tuple[NcnnFiles, dict[str, Any]]:
    """The int8 files of one model from its fp32 files; returns them and a summary."""
    q = params.int8
    det = Detector(out, fp32_name, typed(bundle, out))
    inputs = [det.preprocess(image)[0] for _, image in calibration]
    param, weights = out / f"{name}.param", out / f"{name}.bin"
    tools = ncnn_tools() if q.use_ncnn_tools else None
    if tools:
        from runtime.geometry import Letterbox

        canvases = []
        for _, image in calibration:
            lb = Letterbox.fit(image.shape[1], image.shape[0], det.size)
            canvases.append(lb.apply(image, det.pad_value))
        report = quantize_with_ncnn_tools(tools, fp32.param, fp32.bin, param, weights, canvases, det.size,
                                          det.spec.mean, det.spec.std, det.spec.colour, q.method)
    else:
        report = quantize_ncnn(fp32.param, fp32.bin, param, weights, fp32.input_blob, inputs, method=q.method,
                               percentile=q.percentile, kl_step=q.kl_step, skip_depthwise=q.skip_depthwise,
                               min_weights=q.min_weights, requantize=q.requantize)
    input_blob, outputs = blob_names(param, weights)
    summary = {"tool": report.tool, "layers_int8": len(report.quantized), "layers_fp32": len(report.skipped),
               "requantized": len(report.fused), "skipped": report.skipped}
    return NcnnFiles(param, weights, input_blob, outputs), summary


def export_one(params: ExportParams, ckpt: str, out: Path, bundle: dict[str, Any], parity_set: list[Any],
               eval_set: list[Any], calibration: list[Any], frames: Any) -> list[dict[str, Any]]:
    """Export one checkpoint (the baseline at each of its sides) in every precision, check each model, add
    their entries to ``bundle``; their table rows."""
    model = load_detector(resolve_path(params.detectors_dir) / ckpt / "model.pt")
    rows = []
    for backbone, size in identities(ckpt, model.spec, params.baseline_sizes):
        rows += export_at(params, model, ckpt, backbone, size, out, bundle, parity_set, eval_set, calibration,
                          frames)
    return rows


def export_at(params: ExportParams, model: Network, ckpt: str, backbone: str, size: int, out: Path,
              bundle: dict[str, Any], parity_set: list[Any], eval_set: list[Any], calibration: list[Any],
              frames: Any) -> list[dict[str, Any]]:
    """Export ``model`` at input side ``size`` as ``<backbone>-<size>-<precision>`` in every precision, check
    each file (parity, F1), add the entries to ``bundle``; their table rows."""
    spec = model.spec
    model.check_input(size, size)
    macs, n_params = count_macs(model, size, size), count_params(model)
    rows = []
    files: dict[str, NcnnFiles] = {}
    for precision in ["fp32"] + [p for p in params.precisions if p != "fp32"]:
        name = f"{backbone}-{size}-{precision}"
        t0 = time.time()
        extra: dict[str, Any] = {}
        if precision == "int8":
            files[precision], extra = int8_variant(params, files["fp32"], out, name, bundle,
                                                   f"{backbone}-{size}-fp32", calibration)
        else:
            files[precision] = export_ncnn(model, size, out, name, fp16=precision == "fp16", optlevel=params.optlevel)
        bundle["models"][name] = manifest_entry(spec, backbone, size, precision, files[precision], out, macs,
                                                n_params, PAD_VALUE)
        catalog = typed(bundle, out)
        det = Detector(out, name, catalog, params.threads)
        check = parity(model, det, [im for _, im in parity_set])
        if precision == "fp32" and not check["max_abs_diff"] < params.max_abs_diff:
            raise UserError(f"{files['fp32'].param}: torch vs ncnn fp32 max |diff| {check['max_abs_diff']:.3g} "
                            f">= export.max_abs_diff {params.max_abs_diff:g}")
        if spec["kind"] == "baseline":
            f1 = frames_f1(out, catalog, name, frames()[0], frames()[1], params.threads)
        else:
            f1 = patch_f1(out, catalog, name, resolve_path(params.eval), eval_set, params.threads)
            extra["recall_by_side"] = f1["recall_by_side"]
            if f1["servable_px"] is not None:
                bundle["models"][name]["servable_px"] = f1["servable_px"]
            else:
                log.warning("export %s: no object size reaches recall 0.8 on the held-out patches: no servable "
                            "range in the manifest (the runtime uses its default)", name)
        rows.append({"model": name, "checkpoint": ckpt, "kind": spec["kind"], "backbone": backbone,
                     "input_size": size, "precision": precision, "f1": round(f1["f1"], 4),
                     "evaluation": ("held-out whole frames" if spec["kind"] == "baseline" else "held-out patches"),
                     "precision_pr": round(f1["precision"], 4), "recall": round(f1["recall"], 4),
                     "bin_bytes": files[precision].bin.stat().st_size,
                     "torch_max_abs_diff": check["max_abs_diff"], "torch_cosine_min": round(check["cosine_min"], 6),
                     "macs": macs, "params": n_params, "seconds": round(time.time() - t0, 1), **extra})
        log.info("export %s: F1 %.4f, .bin %.0f kB, torch max|diff| %.2g, cosine %.6f (%.1f s)", name, f1["f1"],
                 rows[-1]["bin_bytes"] / 1024, check["max_abs_diff"], check["cosine_min"], rows[-1]["seconds"])
    fp32 = next(r for r in rows if r["precision"] == "fp32")
    for r in rows:
        r["f1_drop_points_vs_fp32"] = round(100 * (fp32["f1"] - r["f1"]), 2)
    catalog = typed(bundle, out)
    ref = Detector(out, fp32["model"], catalog)
    for r in rows:
        if r["precision"] != "fp32":
            r["cosine_min_vs_fp32"] = round(output_cosine(ref, Detector(out, r["model"], catalog),
                                                          [im for _, im in parity_set]), 6)
    return rows


def loop_alphas(params: ExportParams, out: Path, bundle: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Replace each mini row's F1 (its α) by the closed loop's F1 on ``loop_eval`` with that mini's fp32 variant
    on every patch (all precisions of a mini get it; the patch-set F1 stays as ``patch_f1``)."""
    catalog = typed(bundle, out)
    side = LoopConfig().whole_side
    baselines = sorted((m for m, spec in catalog.models.items() if spec.kind == "baseline" and m.endswith("-fp32")),
                       key=lambda m: (catalog.model(m).input_size != side, -catalog.model(m).input_size))
    if not baselines:
        log.warning("export: no baseline exported, the minis keep their patch-set F1 as α")
        return
    weights = resolve_path(params.loop_objectness)
    objectness = ObjectnessModel.from_dict(json.loads(weights.read_text()), str(weights)) if weights.exists() \
        else None
    sources = video_sources(params.loop_eval, "loop_eval")
    for ckpt in sorted({r["checkpoint"] for r in rows if r["kind"] == "mini"}):
        fp32 = next(r for r in rows if r["checkpoint"] == ckpt and r["precision"] == "fp32")
        t0 = time.time()
        f1 = closed_loop_f1(out, catalog, fp32["model"], baselines[0], sources, objectness, params.threads)
        log.info("export %s: closed-loop F1 %.4f (patch set %.4f; %.0f s)", ckpt, f1["f1"], fp32["f1"],
                 time.time() - t0)
        for r in rows:
            if r["checkpoint"] == ckpt:
                r.update(patch_f1=r["f1"], f1=round(f1["f1"], 4), precision_pr=round(f1["precision"], 4),
                         recall=round(f1["recall"], 4), evaluation="closed loop on held-out videos (fp32 variant)")


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("export", ExportParams)
    out = resolve_path(params.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(params.threads)
    names = checkpoints(params)
    for stale in list(out.glob("*.param")) + list(out.glob("*.bin")):
        stale.unlink()
    t0 = time.time()
    with stage_run("export", params, out) as tracker:
        eval_path = resolve_path(params.eval)
        eval_set = read_images(eval_path)
        parity_set = read_images(eval_path, params.parity_images)
        calibration = read_images(resolve_path(params.int8.calibration), params.int8.images)
        classes = load_detector(resolve_path(params.detectors_dir) / names[0] / "model.pt").spec["classes"]
        bundle: dict[str, Any] = {"classes": list(classes), "models": {}}
        rows: list[dict[str, Any]] = []
        cache: list[Any] = []

        def frames() -> Any:  # read only when a baseline is exported
            if not cache:
                cache.append(read_frames(video_sources(params.baseline_eval, "baseline_eval"),
                                         params.baseline_frame_step))
            return cache[0]

        for ckpt in names:
            kind = load_detector(resolve_path(params.detectors_dir) / ckpt / "model.pt").spec["kind"]
            calib = calibration if kind != "baseline" else read_frames(
                video_sources(params.baseline_calibration, "baseline_calibration"),
                params.baseline_calibration_step)[1]
            rows += export_one(params, ckpt, out, bundle, parity_set, eval_set, calib, frames)
        write_json(out / "models.json", bundle)
        if params.loop_eval:
            loop_alphas(params, out, bundle, rows)
        report = {"rows": rows, "seconds": round(time.time() - t0, 1), "int8_tool": "ncnn2table+ncnn2int8"
                  if params.int8.use_ncnn_tools and ncnn_tools() else "paraloupe", "params": to_mapping(params)}
        write_json(out / "metrics.json", report)
        for r in rows:
            tracker.metrics({f"{r['model']}/f1": r["f1"], f"{r['model']}/bin_bytes": r["bin_bytes"],
                             f"{r['model']}/torch_max_abs_diff": r["torch_max_abs_diff"]})
        log.info("%-22s %-5s %7s %9s %10s", "model", "prec", "F1", "bin kB", "max|diff|")
        for r in rows:
            log.info("%-22s %-5s %7.4f %9.1f %10.2g", r["model"], r["precision"], r["f1"], r["bin_bytes"] / 1024,
                     r["torch_max_abs_diff"])
    return 0


if __name__ == "__main__":
    run_cli(main)
