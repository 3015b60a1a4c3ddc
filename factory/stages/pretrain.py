"""DVC stage ``pretrain``: each backbone trained as a classifier on the ImageNet-style set (paper §III-B3).

Run: ``python -m factory.stages.pretrain`` (reads ``params.yaml: pretrain``). For every entry of
``backbones`` (registry names, e.g. ``searched:raspberry-pi-4b`` — the search stage's architecture for that
device — or ``standin``) it trains backbone + pooled linear head on ``train_dir`` (class folders: the built
person/vehicle/background set, or a real ImageNet tree) with timm's augmentation, optimiser and cosine
schedule, and keeps the weights of the epoch with the best accuracy on ``val_dir``::

    <out_dir>/<backbone>/backbone.pt     backbone weights + identity (checked when loaded)
    <out_dir>/<backbone>/metrics.json    per-epoch history, best val accuracy
    <out_dir>/metrics.json               one row per backbone

``accelerator: auto`` uses a GPU where there is one. With ``PARALOUPE_TRACKING=off`` (or no mlflow) nothing is
logged to MLflow; the files above are still written.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm / pytorch_lightning)

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch

from factory import paths
from factory.models.backbones import SEARCHED, create_backbone
from factory.models.detector import MEAN, STD, save_backbone
from factory.models.lightning import ClassifierTask
from factory.pipeline import load_section, resolve_path
from factory.tracking import stage_run
from factory.train.classify import BackboneClassifier, folder
from factory.train.fit import EpochEnd, loader, make_trainer, steps_per_epoch
from runtime.atomic import write_json
from runtime.config import bounded
from runtime.errors import UserError, cli_entry, run_cli

log = logging.getLogger("paraloupe")


@dataclass
class PretrainParams:
    """The ``pretrain`` section of params.yaml."""

    out_dir: str = paths.PRETRAIN_DIR
    backbones: list[str] = field(default_factory=lambda: ["searched:raspberry-pi-4b"])  # registry names
    search_dir: str = paths.SEARCH_DIR  # where searched:<device> architectures are read
    train_dir: str = paths.imagenet("train")  # class folders (a real ImageNet tree works too)
    val_dir: str = paths.imagenet("val")
    image_size: int = bounded(64, "classifier input side (px), a multiple of 32", ge=32)
    epochs: int = bounded(5, "training epochs", ge=1)
    batch_size: int = bounded(64, "images per batch", ge=1)
    lr: float = bounded(3e-3, "peak AdamW learning rate", gt=0)
    weight_decay: float = bounded(0.05, "AdamW weight decay", ge=0)
    warmup_epochs: float = bounded(0.5, "linear warm-up, in epochs", ge=0)
    auto_augment: str | None = None  # timm auto-augment policy, e.g. rand-m9-mstd0.5; null = off
    accelerator: str = "auto"  # Lightning accelerator: auto, cpu, gpu
    workers: int = bounded(0, "DataLoader workers (0 is fastest on a 2-core machine)", ge=0)
    threads: int | None = bounded(1, "torch CPU threads (null: torch's default; 1 is fastest on a shared CPU)", ge=1)
    seed: int = 0

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        if self.image_size % 32:
            raise UserError(f"{where}.image_size: {self.image_size} is not a multiple of 32 (the backbone stride)")
        if not self.backbones:
            raise UserError(f"{where}.backbones: empty")


def slug(name: str) -> str:
    """Folder name of a backbone: ``searched:raspberry-pi-4b`` → ``raspberry-pi-4b``."""
    return name[len(SEARCHED):] if name.startswith(SEARCHED) else name


def backbone_kwargs(name: str, search_dir: str) -> dict[str, str]:
    """Constructor arguments of a registry name (searched ones read their architecture from ``search_dir``)."""
    return {"search_dir": search_dir} if name.startswith(SEARCHED) else {}


def pretrain_one(name: str, params: PretrainParams, out: Path, tracker: object) -> dict[str, float | str]:
    """Train one backbone as a classifier; write its best weights and metrics; return its summary row."""
    pl.seed_everything(params.seed, verbose=False)
    backbone = create_backbone(name, **backbone_kwargs(name, params.search_dir))
    train = folder(str(resolve_path(params.train_dir)), params.image_size, True, MEAN, STD, params.auto_augment)
    val = folder(str(resolve_path(params.val_dir)), params.image_size, False, MEAN, STD)
    if train.classes != val.classes:
        raise UserError(f"pretrain: class folders differ: train {train.classes}, val {val.classes}")
    if len(train.classes) < 2:
        raise UserError(f"{params.train_dir}: needs at least two class folders, found {train.classes}")
    model = BackboneClassifier(backbone, len(train.classes))
    steps = steps_per_epoch(train, params.batch_size)
    task = ClassifierTask(model, params.lr, params.weight_decay, steps * params.epochs,
                          int(params.warmup_epochs * steps))
    keeper = EpochEnd("val_acc", tracker, prefix=f"{slug(name)}/")  # type: ignore[arg-type]
    trainer = make_trainer(params.accelerator, params.epochs, [keeper], validate=True)
    t0 = time.time()
    trainer.fit(task, loader(train, params.batch_size, True, params.workers),
                loader(val, params.batch_size * 2, False, params.workers))
    keeper.restore_best(model)
    folder_out = out / slug(name)
    save_backbone(folder_out / "backbone.pt", model.backbone.cpu(), classes=train.classes,
                  val_acc=keeper.best, image_size=params.image_size)
    row = {"backbone": name, "val_acc": round(keeper.best, 4), "best_epoch": keeper.best_metrics.get("epoch", -1),
           "train_images": len(train), "val_images": len(val), "seconds": round(time.time() - t0, 1)}
    write_json(folder_out / "metrics.json", {**row, "history": keeper.history})
    log.info("pretrain %s: val acc %.4f (%d s)", name, keeper.best, row["seconds"])
    return row


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("pretrain", PretrainParams)
    out = resolve_path(params.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_float32_matmul_precision("high")
    if params.threads:
        torch.set_num_threads(params.threads)
    with stage_run("pretrain", params, out) as tracker:
        rows = [pretrain_one(name, params, out, tracker) for name in params.backbones]
        write_json(out / "metrics.json", {"backbones": rows})
        for row in rows:
            tracker.metrics({f"{slug(str(row['backbone']))}/best_val_acc": row["val_acc"]})
            tracker.artifact(out / slug(str(row["backbone"])), folder=slug(str(row["backbone"])))
    return 0


if __name__ == "__main__":
    run_cli(main)
