"""DVC stage ``finetune``: the mini detectors, the full-frame baseline, and their evaluation (paper §III-B3,
§IV-B/C).

Run: ``python -m factory.stages.finetune`` (reads ``params.yaml: finetune``; ``--only mini|baseline`` trains
one family, ``--eval-only`` re-evaluates the checkpoints already written). Writes::

    <out_dir>/<model>/model.pt       weights + spec (architecture, classes, strides, mean/std, decoding)
    <out_dir>/<model>/metrics.json   training history and evaluation of that model
    <out_dir>/metrics.json           the table: model, input size, MACs, params, torch CPU latency
                                     (1 thread), F1 — and a summary: the baseline's best full-frame
                                     F1 and each mini detector's gap to it (points)

Mini detectors: one per backbone × input size, named ``<alias>-<size>`` (e.g. ``rpi4b-240``): the
pretrained backbone (``pretrain`` stage) + single-scale neck + light anchor-free head at stride 16, trained
on the low-complexity patch set; the smallest size trains longest, each larger size starts from the
previous one's best weights. Selected by patch-set (val) F1 at IoU 0.5. The baseline (``baseline``): a
conventional FPN detector (strides 8–32) trained on multi-scale crops of whole frames, selected by
full-frame val F1 at ``baseline.val_width``.

Evaluation on the held-out test videos (F1 at IoU 0.5, each model at the score threshold it chose on
validation data): the baseline on whole frames at every ``eval.widths``; every mini detector on
single-object patches cut around the test ground truth (patch-set geometry) and, as "ParaLoupe_mini", on
whole frames at every width.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm / pytorch_lightning)

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import torch

from factory.data.builder import Source
from factory.data.patchset import PatchSet
from factory.models.backbones import SEARCHED
from factory.models.complexity import count_macs, count_params, cpu_latency_ms
from factory.models.detector import (
    Detector,
    baseline_spec,
    build_detector,
    load_backbone_weights,
    load_detector,
    mini_spec,
    save_detector,
)
from factory.pipeline import load_section, resolve_path
from factory.stages.finetune_params import FinetuneParams
from factory.stages.pretrain import backbone_kwargs, slug
from factory.tracking import Tracker, stage_run
from factory.train.data import Frame, FrameCropSet, PatchDetectionSet, letterbox_frame, load_frames
from factory.train.detect import train_detector
from factory.train.evaluation import Scores, evaluate_frames, evaluate_gt_patches, evaluate_patch_set
from runtime.atomic import write_json
from runtime.config import to_mapping
from runtime.errors import UserError, cli_entry, run_cli

log = logging.getLogger("paraloupe")


def model_name(backbone: str, size: int, aliases: dict[str, str]) -> str:
    """``searched:raspberry-pi-4b`` at 240 → ``rpi4b-240`` (CONVENTIONS: backbone, input size[, precision])."""
    base = backbone[len(SEARCHED):] if backbone.startswith(SEARCHED) else backbone
    return f"{aliases.get(base, base)}-{size}"


def read_frames(sources: list[Source], step: int, where: str) -> list[Frame]:
    """Frames of the given sources (optional absent ones skipped with a note)."""
    frames: list[Frame] = []
    for i, src in enumerate(sources):
        video, ann = resolve_path(src.video), resolve_path(src.annotations)
        if not (video.is_file() and ann.is_file()):
            if src.optional:
                log.info("%s[%d]: optional source %s skipped (absent)", where, i, src.video)
                continue
            raise UserError(f"params.yaml: {where}[{i}]: {video if not video.is_file() else ann} not found")
        frames.extend(load_frames(video, ann, src.frames, step)[0])
    if not frames:
        raise UserError(f"params.yaml: {where}: no frames")
    return frames


def _patch_sets(paths: list[str], where: str) -> list[PatchSet]:
    return [PatchSet(resolve_path(p)) for p in paths] if paths else []


def build_mini(params: FinetuneParams, backbone: str, size: int) -> Detector:
    """A mini detector at ``size`` with its pretrained backbone loaded (when ``pretrain_dir`` is set)."""
    m = params.mini
    spec = mini_spec(backbone, params.classes, size, m.neck_width, m.head_width, m.head_depth,
                     backbone_kwargs(backbone, params.search_dir))
    spec["decode"].update(top_k=m.top_k, max_detections=m.max_detections)
    model = build_detector(spec)
    if params.pretrain_dir:
        path = resolve_path(params.pretrain_dir) / slug(backbone) / "backbone.pt"
        if not path.is_file():
            raise UserError(f"{path}: no pretrained backbone for {backbone} (run the pretrain stage, or set "
                            f"finetune.pretrain_dir: '' to train from scratch)")
        load_backbone_weights(model.backbone, path)
    return model


def train_minis(params: FinetuneParams, out: Path, tracker: Tracker, resume: bool = False) -> list[Path]:
    """Train every backbone × size; returns the checkpoint paths.

    With ``resume``, a size whose checkpoint is already in ``out`` (a run that stopped part way) is loaded instead of
    trained again and seeds the next size's progressive resizing, as it did in the run that wrote it.
    """
    m = params.mini
    val_sets = _patch_sets(m.val, "finetune.mini.val")
    paths = []
    for backbone in params.backbones:
        previous: Detector | None = None
        for k, size in enumerate(sorted(params.sizes)):
            name = model_name(backbone, size, params.aliases)
            if resume and (out / name / "model.pt").is_file():
                previous = load_detector(out / name / "model.pt")
                if previous.spec["input_size"] != size:
                    raise UserError(f"{out / name / 'model.pt'}: input size {previous.spec['input_size']}, "
                                    f"finetune.sizes says {size} (remove it to train again)")
                log.info("finetune %s: kept %s (--resume)", name, out / name / "model.pt")
                paths.append(out / name / "model.pt")
                continue
            model = build_mini(params, backbone, size)
            if previous is not None:  # progressive resizing: same architecture, weights of the last size
                model.load_state_dict(previous.state_dict())
            spec = model.spec
            train = PatchDetectionSet([resolve_path(p) for p in m.train], params.classes, size, spec["mean"],
                                      spec["std"], train=True, seed=params.seed + k)
            summary = train_detector(
                model, train, lambda mod, s=size: evaluate_patch_set(mod, val_sets, s, mod.spec["decode"],
                                                                     limit=m.val_limit),
                epochs=m.epochs if previous is None else m.resize_epochs, batch_size=m.batch_size,
                lr=m.lr if previous is None else m.resize_lr, weight_decay=m.weight_decay,
                samples_per_epoch=m.samples_per_epoch, accelerator=params.accelerator, workers=params.workers,
                tracker=tracker, prefix=f"{name}/", seed=params.seed, ema_decay=m.ema_decay)
            path = save_detector(out / name / "model.pt", model, name=name, train=summary)
            write_json(out / name / "train.json", {"model": name, **summary})
            log.info("finetune %s: val patch F1 %.4f at threshold %.2f (%s s)", name, summary["val_f1"],
                     summary["val_threshold"], summary["seconds"])
            paths.append(path)
            previous = model
    return paths


def train_baseline(params: FinetuneParams, out: Path, tracker: Tracker) -> Path:
    """Train the full-frame baseline; returns its checkpoint path."""
    b = params.baseline
    spec = baseline_spec(params.classes, b.width, b.blocks, b.fpn_width, b.head_depth, b.level_bounds)
    model = build_detector(spec)
    frames = read_frames(b.train, b.frame_step, "finetune.baseline.train")
    val = read_frames(b.val, b.val_frame_step, "finetune.baseline.val")
    log.info("baseline: %d training frames, %d val frames", len(frames), len(val))
    train = FrameCropSet(frames, params.classes, b.crop, (b.train_widths[0], b.train_widths[1]), spec["mean"],
                         spec["std"], seed=params.seed)
    summary = train_detector(
        model, train, lambda mod: evaluate_frames(mod, val, b.val_width, mod.spec["decode"]),
        epochs=b.epochs, batch_size=b.batch_size, lr=b.lr, weight_decay=b.weight_decay,
        samples_per_epoch=b.samples_per_epoch, accelerator=params.accelerator, workers=params.workers,
        tracker=tracker, prefix="baseline/", seed=params.seed)
    path = save_detector(out / "baseline" / "model.pt", model, name="baseline", train=summary)
    write_json(out / "baseline" / "train.json", {"model": "baseline", **summary})
    log.info("finetune baseline: val F1 %.4f at width %d, threshold %.2f (%s s)", summary["val_f1"], b.val_width,
             summary["val_threshold"], summary["seconds"])
    return path


def _canvas(width: int, frame: Frame, multiple: int) -> tuple[int, int]:
    canvas, _ = letterbox_frame(frame.image(), width, multiple)
    return canvas.shape[0], canvas.shape[1]


def _row(model: Detector, name: str, kind: str, h: int, w: int, scores: Scores, runs: int,
         evaluation: str) -> dict[str, Any]:
    res = scores.at(model.spec["decode"]["score_threshold"])
    return {"model": name, "kind": kind, "input_size": w, "input": f"{w}x{h}", "macs": count_macs(model, h, w),
            "params": count_params(model), "latency_ms_torch_cpu_1t": round(cpu_latency_ms(model, h, w, runs), 2),
            "f1": round(res.overall.f1, 4), "precision": round(res.overall.precision, 4),
            "recall": round(res.overall.recall, 4), "score_threshold": model.spec["decode"]["score_threshold"],
            "evaluation": evaluation, "images": scores.count}


def evaluate_models(params: FinetuneParams, out: Path, tracker: Tracker, names: list[str]) -> list[dict[str, Any]]:
    """The table's rows of the checkpoints ``names`` under ``out`` on the test videos (module docstring);
    each model's rows also go to ``out/<name>/metrics.json``."""
    e = params.eval
    frames = read_frames(e.test, e.frame_step, "finetune.eval.test")
    mini_frames = frames[::max(e.mini_frame_step // e.frame_step, 1)]
    w0, h0 = frames[0].image().shape[1], frames[0].image().shape[0]
    rows: list[dict[str, Any]] = []
    for name in names:
        model = load_detector(out / name / "model.pt").eval()
        t0 = time.time()
        if model.spec["kind"] == "baseline":
            for width in e.widths:
                h, w = _canvas(width, frames[0], model.size_multiple)
                s = evaluate_frames(model, frames, width, model.spec["decode"])
                rows.append(_row(model, name, "baseline", h, w, s, e.latency_runs, "full frames (test)"))
        else:
            size = int(model.spec["input_size"])
            s = evaluate_gt_patches(model, frames, w0, h0, size, model.spec["decode"],
                                    (e.patch_r[0], e.patch_r[1]), e.seed)
            rows.append(_row(model, name, "mini", size, size, s, e.latency_runs, "GT single-object patches (test)"))
            for width in e.widths:
                h, w = _canvas(width, frames[0], model.size_multiple)
                s = evaluate_frames(model, mini_frames, width, model.spec["decode"])
                rows.append(_row(model, name, "ParaLoupe_mini", h, w, s, e.latency_runs, "full frames (test)"))
        for row in rows:
            if row["model"] == name:
                tracker.metrics({f"test/{name}/{row['kind']}/{row['input_size']}/f1": row["f1"]})
        write_json(out / name / "metrics.json", {"model": name, "rows": [r for r in rows if r["model"] == name]})
        log.info("evaluated %s (%.0f s)", name, time.time() - t0)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The table's summary: the baseline's best full-frame F1 and each mini's gap to it (points)."""
    baseline_f1 = {r["input_size"]: r["f1"] for r in rows if r["kind"] == "baseline"}
    summary: dict[str, Any] = {}
    if baseline_f1:
        largest = max(baseline_f1)
        best = max(baseline_f1.values())
        summary.update(baseline_best_full_frame_f1=best, baseline_f1_at_largest_width=baseline_f1[largest],
                       baseline_largest_width=largest)
        mini_macs = [r["macs"] for r in rows if r["kind"] == "ParaLoupe_mini" and r["input_size"] == 640]
        base_macs = [r["macs"] for r in rows if r["kind"] == "baseline" and r["input_size"] == 640]
        if mini_macs and base_macs:
            summary["baseline_macs_over_mini_at_640"] = round(base_macs[0] / max(mini_macs), 2)
        for r in rows:
            if r["kind"] == "mini":
                summary.setdefault("mini_gt_patch_f1", {})[r["model"]] = r["f1"]
                summary.setdefault("gap_points_vs_baseline_best", {})[r["model"]] = round(100 * (best - r["f1"]), 2)
    return summary


def evaluate_all(params: FinetuneParams, out: Path, tracker: Tracker, names: list[str]) -> dict[str, Any]:
    """The table and the comparison on the test videos (see the module docstring)."""
    rows = evaluate_models(params, out, tracker, names)
    return {"rows": rows, "summary": summarize(rows)}


def _print_table(rows: list[dict[str, Any]]) -> None:
    log.info("%-12s %-15s %-9s %9s %9s %9s %7s  %s", "model", "kind", "input", "MMACs", "params", "lat ms", "F1",
             "evaluation")
    for r in rows:
        log.info("%-12s %-15s %-9s %9.1f %9d %9.2f %7.4f  %s", r["model"], r["kind"], r["input"], r["macs"] / 1e6,
                 r["params"], r["latency_ms_torch_cpu_1t"], r["f1"], r["evaluation"])


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.stages.finetune", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("mini", "baseline"), help="train only this family")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the checkpoints already written")
    parser.add_argument("--resume", action="store_true",
                        help="keep the checkpoints a stopped run already wrote and train the rest (outside "
                             "`dvc repro`, which clears the outputs first; `dvc commit finetune` afterwards)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("finetune", FinetuneParams)
    out = resolve_path(params.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_float32_matmul_precision("high")
    if params.threads:
        torch.set_num_threads(params.threads)
    names = [model_name(b, s, params.aliases) for b in params.backbones for s in sorted(params.sizes)]
    if params.baseline.enabled:
        names.append("baseline")
    t0 = time.time()
    with stage_run("finetune", params, out) as tracker:
        if not args.eval_only:
            if args.only in (None, "mini"):
                train_minis(params, out, tracker, resume=args.resume)
            kept = args.resume and (out / "baseline" / "model.pt").is_file()
            if args.only in (None, "baseline") and params.baseline.enabled and not kept:
                train_baseline(params, out, tracker)
        missing = [n for n in names if not (out / n / "model.pt").is_file()]
        if missing:
            raise UserError(f"{out / missing[0] / 'model.pt'}: checkpoint missing (train it first)")
        report = evaluate_all(params, out, tracker, names)
        report["seconds"] = round(time.time() - t0, 1)
        report["params"] = to_mapping(params)
        write_json(out / "metrics.json", report)
        tracker.metrics({k: v for k, v in report["summary"].items() if isinstance(v, (int, float))})
        for name in names:
            tracker.artifact(out / name, folder=name)
        _print_table(report["rows"])
        log.info("summary: %s", report["summary"])
    return 0


if __name__ == "__main__":
    run_cli(main)
