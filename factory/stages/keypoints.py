"""DVC stage ``keypoints`` (paper §IV-H): the single-person crop set, mini keypoint models and the HRNet baseline.

Run: ``python -m factory.stages.keypoints`` (reads ``params.yaml: keypoints``). Steps:

1. the crop set from the world videos' ``keypoints.json`` (train videos → train, val → val, test → test):
   ``<out_dir>/crops/{train,val,test}`` (:mod:`factory.data.keypointset`);
2. the minis — each backbone of ``mini.backbones`` (``searched:<device>``: the architecture the search stage
   found, with its pretrained weights from ``pretrain_dir`` when present) + the light heatmap head, at every
   ``mini.sizes`` input — and the baseline (timm HRNet ``baseline.variant`` + 1×1 head, from scratch) at every
   ``baseline.sizes``, all trained on the train crops (Lightning; best val OKS AP kept):
   ``<out_dir>/models/<name>/model.pt``;
3. per model: OKS AP / AP50 / AP75 on the test crops (faster-coco-eval, COCO sigmas), MACs, host latency
   (torch, ``threads`` threads, median of ``latency_runs``), ncnn fp32/fp16 files with parity and ncnn host
   latency, estimated latency per ``devices`` (host ncnn fp32 × FLOPS ratio, labelled estimated) and the
   best-mini-vs-best-baseline summary, the paper's Fig. 29/30 rows (:mod:`factory.keypoints.figures`) →
   ``<out_dir>/metrics.json`` (+ ``ncnn/manifest.json``, ``tradeoff.png``), logged in MLflow.

Sizes are ``[height, width]`` px (multiples of 32); the person box of each input is the ground truth's.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm / pytorch_lightning)

import argparse
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from factory import paths
from factory.data.keypointset import SPLITS, KeypointSet, KeypointSetParams, build_keypoint_split, world_videos
from factory.keypoints.data import HeatmapDataset
from factory.keypoints.evaluate import evaluate_ap, latency_ms, macs
from factory.keypoints.figures import paper_figures, plot
from factory.keypoints.model import KeypointNet, baseline_spec, load_keypoint_model, mini_spec, save_keypoint_model
from factory.models.detector import load_backbone_weights
from factory.pipeline import load_section, resolve_path
from factory.stages.pretrain import backbone_kwargs, slug
from factory.tracking import Tracker, stage_run
from runtime.atomic import write_json
from runtime.config import bounded, to_mapping
from runtime.errors import UserError, run_cli

log = logging.getLogger("paraloupe")


def _check_sizes(sizes: list[list[int]], where: str) -> None:
    for s in sizes:
        if len(s) != 2 or s[0] % 32 or s[1] % 32 or min(s) < 32:
            raise UserError(f"{where}: expected [height, width] multiples of 32, got {s}")


@dataclass
class KeypointMiniParams:
    """The mini keypoint models: backbones (registry names) × input sizes, and the head width."""

    backbones: list[str] = field(default_factory=lambda: ["searched:raspberry-pi-4b"])
    sizes: list[list[int]] = field(default_factory=lambda: [[128, 64], [192, 96]])
    head_width: int = bounded(48, "channels of the light heatmap head", ge=4)


@dataclass
class KeypointBaselineParams:
    """The HRNet baseline: a timm HRNet variant (no pretrained weights) at input sizes."""

    variant: str = "hrnet_w18_small"
    sizes: list[list[int]] = field(default_factory=lambda: [[128, 64], [192, 96]])


@dataclass
class KeypointTrainParams:
    """Training of every keypoint model (the same recipe for minis and baseline)."""

    epochs: int = bounded(12, "training epochs per model", ge=1)
    batch_size: int = bounded(32, "crops per update", ge=1)
    lr: float = bounded(3e-3, "peak learning rate (AdamW, cosine schedule)", gt=0)
    weight_decay: float = bounded(0.01, "AdamW weight decay", ge=0)
    warmup_steps: int = bounded(50, "linear warm-up updates", ge=0)
    sigma: float = bounded(1.5, "target Gaussian, heatmap px, for a 128 px high input; scaled with the input "
                                "height (as SimpleBaseline's 2 at 256, 3 at 384)", gt=0)
    max_train_crops: int = bounded(3000, "train on at most this many crops (a fixed random subset)", ge=1)
    val_crops: int = bounded(300, "val crops scored after every epoch (OKS AP) to keep the best weights", ge=1)
    accelerator: str = "cpu"
    threads: int = bounded(1, "torch CPU threads (0 = torch's default)", ge=0)


@dataclass
class KeypointsParams:
    """The ``keypoints`` section of params.yaml."""

    out_dir: str = paths.KEYPOINTS_DIR
    world_dir: str = paths.WORLD_DIR
    search_dir: str = paths.SEARCH_DIR
    pretrain_dir: str = paths.PRETRAIN_DIR  # '' = minis train from scratch; else needs <dir>/<device>/backbone.pt
    seed: int = bounded(0, "crop sampling and training seed", ge=0)
    crops: KeypointSetParams = field(default_factory=KeypointSetParams)
    mini: KeypointMiniParams = field(default_factory=KeypointMiniParams)
    baseline: KeypointBaselineParams = field(default_factory=KeypointBaselineParams)
    train: KeypointTrainParams = field(default_factory=KeypointTrainParams)
    latency_runs: int = bounded(20, "forward passes timed per model (median)", ge=1)
    export: list[str] = field(default_factory=lambda: ["fp32", "fp16"])  # ncnn precisions; int8 (needs fp32)
    # is opt-in: its parity fails for these heatmap models so far (docs/keypoints.md)
    calibration_crops: int = bounded(100, "train crops that calibrate the int8 activation scales", ge=1)
    parity_crops: int = bounded(8, "test crops compared torch vs ncnn per exported file", ge=1)
    devices: list[str] = field(default_factory=lambda: ["raspberry-pi-4b"])  # estimated latency: host ncnn fp32
    # ms x host FLOPS / device FLOPS (FLOPS from <search_dir>/metrics.json), as the profile stage estimates

    def validate(self, where: str) -> None:
        bad = [p for p in self.export if p not in ("fp32", "fp16", "int8")]
        if bad:
            raise UserError(f"{where}.export: {bad[0]!r} is not fp32, fp16 or int8")
        if "int8" in self.export and "fp32" not in self.export:
            raise UserError(f"{where}.export: int8 is quantized from the fp32 files: list fp32 too")
        _check_sizes(self.mini.sizes, f"{where}.mini.sizes")
        _check_sizes(self.baseline.sizes, f"{where}.baseline.sizes")


def model_names(params: KeypointsParams) -> dict[str, dict[str, Any]]:
    """Every model of the stage by name (``kp-<backbone>-<h>x<w>``, ``kp-hrnet-<h>x<w>``) → its spec."""
    t = params.train
    out = {}
    for b in params.mini.backbones:
        for h, w in params.mini.sizes:
            out[f"kp-{slug(b)}-{h}x{w}"] = mini_spec(b, (h, w), params.mini.head_width,
                                                      backbone_kwargs(b, params.search_dir), t.sigma * h / 128)
    for h, w in params.baseline.sizes:
        out[f"kp-hrnet-{h}x{w}"] = baseline_spec(params.baseline.variant, (h, w), t.sigma * h / 128)
    return out


def build_crops(params: KeypointsParams, out: Path) -> dict[str, Any]:
    """Build the three crop-set splits under ``<out>/crops`` (skipped where a split is already complete)."""
    counts = {}
    for split in SPLITS:
        target = out / "crops" / split
        if (target / "annotations.json").is_file():
            counts[split] = {"crops": len(KeypointSet(target)), "reused": True}
            continue
        counts[split] = build_keypoint_split(split, world_videos(split), target, params.crops, params.seed,
                                             params.world_dir)
    return counts


def build_model(params: KeypointsParams, spec: dict[str, Any]) -> KeypointNet:
    """The model of ``spec``; a searched mini gets its pretrained backbone when ``pretrain_dir`` has one."""
    model = KeypointNet(spec)
    if spec["kind"] == "mini" and params.pretrain_dir:
        path = resolve_path(params.pretrain_dir) / slug(spec["backbone"]) / "backbone.pt"
        if path.is_file():
            load_backbone_weights(model.backbone, path)
            spec["pretrained"] = str(path)
        else:
            log.warning("%s: no pretrained backbone, training from scratch", path)
    return model


def train_one(params: KeypointsParams, name: str, spec: dict[str, Any], out: Path, tracker: Tracker) -> Path:
    """Train one model on the train crops, keep the best val OKS AP; returns its checkpoint."""
    from factory.models.lightning import KeypointTask
    from factory.train.fit import EpochEnd, loader, make_trainer, steps_per_epoch

    t = params.train
    torch.manual_seed(params.seed)
    train_set = KeypointSet(out / "crops" / "train")
    val_set = KeypointSet(out / "crops" / "val")
    data = HeatmapDataset(train_set, spec, train=True, seed=params.seed)
    if len(data) > t.max_train_crops:
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(params.seed))[:t.max_train_crops]
        data = torch.utils.data.Subset(data, pick.tolist())  # type: ignore[assignment]
    model = build_model(params, spec)
    total = steps_per_epoch(data, t.batch_size) * t.epochs
    task = KeypointTask(model, t.lr, t.weight_decay, total, t.warmup_steps)
    keep = EpochEnd("val_ap", tracker, prefix=f"{name}/",
                    evaluate=lambda m: {f"val_{k}": v for k, v in evaluate_ap(m, val_set, t.val_crops).items()
                                        if k != "images"})
    start = time.perf_counter()
    make_trainer(t.accelerator, t.epochs, [keep], progress=False).fit(task, loader(data, t.batch_size, True, 0))
    keep.restore_best(model)
    return save_keypoint_model(out / "models" / name / "model.pt", model, best=keep.best_metrics,
                               train_seconds=round(time.perf_counter() - start, 1), history=keep.history)


def evaluate_all(params: KeypointsParams, out: Path, names: list[str]) -> list[dict[str, Any]]:
    """Test OKS AP, MACs and host latency of every trained model; its ncnn files and a keypoint-only bundle
    manifest for them (``<out>/ncnn/manifest.json``: ``paraloupe-run --validate`` and ``paraloupe-keypoints``
    read it; its entries are ready to merge into the main bundle)."""
    test = KeypointSet(out / "crops" / "test")
    rows: list[dict[str, Any]] = []
    catalog: dict[str, Any] = {}
    for name in names:
        path = out / "models" / name / "model.pt"
        model = load_keypoint_model(path)
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        hw = tuple(model.spec["input"])
        ap = evaluate_ap(model, test)
        rows.append({"model": name, "kind": model.spec["kind"], "backbone": model.spec["backbone"],
                     "input": list(hw), "test_ap": round(ap["ap"], 4), "test_ap50": round(ap["ap50"], 4),
                     "test_ap75": round(ap["ap75"], 4), "test_images": ap["images"],
                     "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
                     "macs_m": round(macs(model, hw), 1),  # type: ignore[arg-type]
                     "host_ms": round(latency_ms(model, hw, params.latency_runs, max(params.train.threads, 1)), 2),
                     "train_seconds": ckpt.get("train_seconds"), "best_val": ckpt.get("best", {}),
                     "ncnn": export_all(params, model, name, out, test, catalog)})
        log.info("%s", rows[-1])
    if catalog:
        from runtime.bundle import write_manifest

        write_manifest(out / "ncnn", {"classes": ["person"], "models": catalog})
    return rows


def export_all(params: KeypointsParams, model: KeypointNet, name: str, out: Path, test: KeypointSet,
               catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """ncnn files of ``model`` in every ``params.export`` precision under ``<out>/ncnn``, with parity and the
    ncnn host latency (1 thread); adds their manifest entries (``task: keypoints``) to ``catalog``."""
    from factory.keypoints.export import export_int8, export_keypoint_ncnn, manifest_entry, parity

    result: dict[str, dict[str, Any]] = {}
    hw = tuple(model.spec["input"])
    written: dict[str, Any] = {}
    for precision in sorted(params.export, key=("fp32", "fp16", "int8").index):
        extra: dict[str, Any] = {}
        if precision == "int8":
            files, extra = export_int8(model, written["fp32"], out / "ncnn", f"{name}-int8",
                                       KeypointSet(out / "crops" / "train"), params.calibration_crops)
        else:
            files = export_keypoint_ncnn(model, out / "ncnn", f"{name}-{precision}", precision == "fp16")
        written[precision] = files
        catalog[f"{name}-{precision}"] = manifest_entry(model, slug(model.spec["backbone"]), precision, files,
                                                        out / "ncnn", int(macs(model, hw) * 1e6))  # type: ignore[arg-type]
        check = parity(model, files, precision, test, params.parity_crops, params.latency_runs)
        result[precision] = {"param": files.param.name, "bin": files.bin.name, "input_blob": files.input_blob,
                             "output_blob": files.output_blobs[0], **{k: round(v, 6) for k, v in check.items()},
                             **extra}
    return result


def estimate_devices(params: KeypointsParams, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Add ``est_ms`` {device: ms} to every row (host ncnn fp32 latency × host FLOPS / device FLOPS, the host
    FLOPS measured now, 1 thread); returns the FLOPS used. No search metrics: nothing is estimated."""
    from factory.nas.devices import measure_host_flops
    from factory.stages.profile import read_flops

    path = resolve_path(params.search_dir) / "metrics.json"
    if not params.devices or not path.is_file():
        log.warning("%s: absent, device latencies are not estimated", path)
        return {}
    flops = read_flops(path, params.devices)
    flops["host"] = measure_host_flops(threads=max(params.train.threads, 1))
    for r in rows:
        host = r["ncnn"].get("fp32", {}).get("ncnn_ms", r["host_ms"])
        r["est_ms"] = {d: round(host * flops["host"] / flops[d], 3) for d in params.devices}
    return flops


def summary(rows: list[dict[str, Any]], device: str | None) -> dict[str, Any]:
    """The issue's criterion: the best mini (highest test AP) against the best baseline — its share of the
    baseline's OKS AP and how many times lower its latency is (``device``'s estimate, else host ncnn fp32)."""
    minis = [r for r in rows if r["kind"] == "mini"]
    bases = [r for r in rows if r["kind"] == "baseline"]
    if not minis or not bases:
        return {}
    m, b = max(minis, key=lambda r: r["test_ap"]), max(bases, key=lambda r: r["test_ap"])

    def ms(r: dict[str, Any]) -> float:
        return r.get("est_ms", {}).get(device) or r["ncnn"].get("fp32", {}).get("ncnn_ms") or r["host_ms"]

    return {"best_mini": m["model"], "best_baseline": b["model"], "ap_share": round(m["test_ap"] / max(b["test_ap"],
            1e-9), 4), "latency_ratio": round(ms(b) / max(ms(m), 1e-9), 2), "latency_of": device or "host-ncnn",
            "goal": "ap_share >= 0.9 at latency_ratio >= 3"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.stages.keypoints", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="train only these models (comma-separated names); others must exist")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the checkpoints already written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("keypoints", KeypointsParams)
    out = resolve_path(params.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if params.train.threads:
        torch.set_num_threads(params.train.threads)
    specs = model_names(params)
    only = set(args.only.split(",")) if args.only else set(specs)
    unknown = only - set(specs)
    if unknown:
        raise UserError(f"--only: unknown model {sorted(unknown)[0]!r} (known: {', '.join(specs)})")
    t0 = time.time()
    with stage_run("keypoints", params, out) as tracker:
        crops = build_crops(params, out)
        log.info("crops: %s", crops)
        if not args.eval_only:
            for name, spec in specs.items():
                if name in only:
                    train_one(params, name, spec, out, tracker)
        missing = [n for n in specs if not (out / "models" / n / "model.pt").is_file()]
        if missing:
            raise UserError(f"{out / 'models' / missing[0] / 'model.pt'}: checkpoint missing (train it first)")
        rows = evaluate_all(params, out, list(specs))
        flops = estimate_devices(params, rows)
        device = params.devices[0] if flops and params.devices else None
        report = {"crops": crops, "rows": rows, "summary": summary(rows, device), "flops": flops,
                  "figures": paper_figures(rows, device), "seconds": round(time.time() - t0, 1),
                  "params": to_mapping(params)}
        plot(rows, device, out / "tradeoff.png")
        write_json(out / "metrics.json", report)
        for r in rows:
            tracker.metrics({f"{r['model']}/{k}": r[k] for k in ("test_ap", "test_ap50", "host_ms", "macs_m")})
    return 0


if __name__ == "__main__":
    run_cli(main)
