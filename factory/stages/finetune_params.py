"""The ``finetune`` section of ``params.yaml``, typed: mini detectors, the full-frame baseline, their evaluation.

Defaults equal params.yaml (pinned by tests/factory/test_params_defaults.py); ``validate`` checks what the
single-field bounds cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from factory import paths
from factory.data.builder import Source, baseline_train_sources, world_source
from runtime.config import bounded
from runtime.errors import UserError

MINI_STRIDE = 16


@dataclass
class MiniParams:
    """Training of the mini detectors (``finetune.mini``)."""

    train: list[str] = field(default_factory=lambda: [paths.patches("train")])  # COCO patch sets
    val: list[str] = field(default_factory=lambda: [paths.patches("val")])
    epochs: int = bounded(40, "epochs at the smallest size", ge=1)
    resize_epochs: int = bounded(6, "epochs at each larger size (starting from the previous size)", ge=1)
    samples_per_epoch: int | None = bounded(3200, "patches drawn per epoch (null: the whole set)", ge=1)
    batch_size: int = bounded(32, "patches per batch", ge=1)
    lr: float = bounded(4e-3, "peak AdamW learning rate", gt=0)
    resize_lr: float = bounded(1.5e-3, "peak learning rate at the larger sizes", gt=0)
    weight_decay: float = bounded(0.05, "AdamW weight decay", ge=0)
    ema_decay: float = bounded(0.99, "per-step decay of the weight average that is validated and kept "
                                    "(0: the plain weights)", ge=0, lt=1)
    neck_width: int = bounded(128, "neck channels", ge=8)
    head_width: int = bounded(128, "head channels", ge=8)
    head_depth: int = bounded(2, "depthwise-separable layers in the head", ge=0)
    top_k: int = bounded(30, "proposals kept before NMS (a patch holds one object, maybe a neighbour)", ge=1)
    max_detections: int = bounded(15, "detections kept after NMS", ge=1)
    val_limit: int | None = bounded(400, "val patches used per epoch (null: all)", ge=1)


@dataclass
class BaselineParams:
    """Training of the full-frame baseline (``finetune.baseline``)."""

    enabled: bool = True
    # every frame the minis learn from (both passes) and the real video's training split: a fair comparison
    train: list[Source] = field(default_factory=baseline_train_sources)
    val: list[Source] = field(default_factory=lambda: [world_source("val-static"), world_source("val-moving")])
    frame_step: int = bounded(1, "use every n-th training frame", ge=1)
    epochs: int = bounded(16, "training epochs", ge=1)
    samples_per_epoch: int | None = bounded(None, "crops per epoch (null: one per training frame)", ge=1)
    crop: int = bounded(256, "side of the square training crops (px), a multiple of 32", ge=64)
    train_widths: list[int] = bounded([640, 1200], "frames are rescaled to a width drawn from [lo, hi] (px)")
    batch_size: int = bounded(8, "crops per batch", ge=1)
    lr: float = bounded(4e-3, "peak AdamW learning rate", gt=0)
    weight_decay: float = bounded(0.05, "AdamW weight decay", ge=0)
    width: int = bounded(24, "backbone base width (stages: 1, 2, 4, 6 ×)", ge=8)
    blocks: list[int] = bounded([0, 1, 1, 1], "residual blocks per stage (strides 4, 8, 16, 32)")
    fpn_width: int = bounded(48, "FPN and head channels", ge=8)
    head_depth: int = bounded(2, "3×3 layers per head", ge=0)
    level_bounds: list[float] = bounded([64.0, 160.0], "longer-side bounds (px) splitting objects over P3/P4/P5")
    val_width: int = bounded(960, "input width of the per-epoch validation (px)", ge=32)
    val_frame_step: int = bounded(5, "validate on every n-th val frame", ge=1)


@dataclass
class EvalParams:
    """Evaluation on the held-out test videos (``finetune.eval``)."""

    test: list[Source] = field(default_factory=lambda: [world_source("test-static"), world_source("test-moving"),
                                                        world_source("test-switch")])
    frame_step: int = bounded(10, "evaluate every n-th test frame (baseline, GT patches)", ge=1)
    mini_frame_step: int = bounded(20, "every n-th test frame for the minis on whole frames", ge=1)
    widths: list[int] = bounded([320, 480, 640, 960], "full-frame input widths (px)")
    patch_r: list[float] = bounded([0.5, 1.0], "object/patch area ratio range of the GT patches")
    seed: int = 0
    latency_runs: int = bounded(10, "timed forward passes per latency figure (after 3 warm-ups)", ge=1)


@dataclass
class FinetuneParams:
    """The ``finetune`` section of params.yaml."""

    out_dir: str = paths.DETECTORS_DIR
    pretrain_dir: str = paths.PRETRAIN_DIR  # pretrained backbones (pretrain stage); null-like "" = from scratch
    search_dir: str = paths.SEARCH_DIR
    backbones: list[str] = field(default_factory=lambda: ["searched:raspberry-pi-4b"])
    aliases: dict[str, str] = field(default_factory=lambda: {
        "jetson-xavier-nx": "nx", "raspberry-pi-4b": "rpi4b", "snapdragon-732g": "sd732g", "host": "host"})
    classes: list[str] = field(default_factory=lambda: ["person", "vehicle"])
    sizes: list[int] = bounded([160, 240, 320], "mini detector input sides (px), multiples of 16")
    mini: MiniParams = field(default_factory=MiniParams)
    baseline: BaselineParams = field(default_factory=BaselineParams)
    eval: EvalParams = field(default_factory=EvalParams)
    accelerator: str = "auto"  # Lightning accelerator: auto, cpu, gpu
    workers: int = bounded(0, "DataLoader workers (0 is fastest on a 2-core machine)", ge=0)
    threads: int | None = bounded(1, "torch CPU threads (null: torch's default; 1 is fastest on a shared CPU)", ge=1)
    seed: int = 0

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        for i, s in enumerate(self.sizes):
            if s <= 0 or s % MINI_STRIDE:
                raise UserError(f"{where}.sizes[{i}]: {s} is not a positive multiple of {MINI_STRIDE} "
                                f"(the mini detector's stride)")
        for i, w in enumerate(self.eval.widths):
            if w <= 0 or w % 32:
                raise UserError(f"{where}.eval.widths[{i}]: {w} is not a positive multiple of 32 "
                                f"(the baseline's largest stride)")
        b = self.baseline
        for key, value in (("crop", b.crop), ("val_width", b.val_width)):
            if value % 32:
                raise UserError(f"{where}.baseline.{key}: {value} is not a multiple of 32 (the baseline's stride)")
        if len(b.train_widths) != 2 or not 0 < b.train_widths[0] <= b.train_widths[1]:
            raise UserError(f"{where}.baseline.train_widths: expected [lo, hi] with 0 < lo <= hi")
        if len(b.level_bounds) != 2 or not 0 < b.level_bounds[0] < b.level_bounds[1]:
            raise UserError(f"{where}.baseline.level_bounds: expected two increasing sides (px)")
        if len(self.classes) < 1 or len(set(self.classes)) != len(self.classes):
            raise UserError(f"{where}.classes: expected distinct class names")
