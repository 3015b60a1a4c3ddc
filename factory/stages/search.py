"""DVC stage ``search``: latency-aware DARTS cell search per target device (paper §III-B2, Eq. 2a/2b/3).

Run: ``python -m factory.stages.search`` (reads the ``search`` section of params.yaml). For every device in
``devices`` (FLOPS from params, from :data:`factory.nas.devices.REFERENCE`, or measured for ``host``) and,
with ``unpenalised: true``, once more with the plain cross-entropy (the ablation), it searches one normal
and one reduction cell on the single-object set ``<dataset>/{train,val}`` and writes::

    <out_dir>/<device>/arch.json     the architecture (factory/nas/derive.py documents the format)
    <out_dir>/<device>/backbone.pt   {"arch", "backbone" (state dict), "head", "classes", "image_size",
                                      "mean", "std"}: the derived backbone after a short classifier training
                                      (``train_epochs``; val_accuracy is the mean over ``train_seeds``
                                      trainings, the weights are those of the one with ``seed``)
    <out_dir>/metrics.json           per device: FLOPS (+ source), MACs, expected latency, accuracy, chosen ops
    <out_dir>/params.resolved.yaml   the resolved section

Every search uses the same seed, so the runs differ only by their penalty. MLflow (when on) gets the
architecture probabilities and expected MACs per epoch, the final accuracies and the architectures.
NNI's home-folder writes are kept inside ``<out_dir>/.home`` (HOME is redirected while NNI runs).
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before lightning/nni)

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from factory import paths
from factory.nas.backbone import Classifier
from factory.nas.cost import count_macs
from factory.nas.data import MEAN, STD, Dataset, load_dataset
from factory.nas.derive import arch_json, build_backbone
from factory.nas.devices import HOST, KNOWN, REFERENCE, Device, measure_host_flops, resolve
from factory.nas.loss import LatencyLoss
from factory.nas.ops import NONE, OP_NAMES
from factory.nas.search import SearchResult, SearchSettings, run_search
from factory.nas.space import SpaceConfig
from factory.nas.train import accuracy, fit_classifier
from factory.pipeline import load_section, resolve_path
from factory.tracking import Tracker, stage_run
from runtime.atomic import atomic_path, write_json
from runtime.config import bounded
from runtime.errors import UserError, cli_entry, run_cli

log = logging.getLogger("paraloupe")

UNPENALISED = "unpenalised"


@dataclass
class DeviceParams:
    """A target device: ``name`` (docs/CONVENTIONS.md), ``flops`` in FLOP/s (null: the reference figure of
    factory/nas/devices.py, or measured for ``host``) and where that figure comes from."""

    name: str
    flops: float | None = None
    source: str | None = None


def _default_devices() -> list[DeviceParams]:
    return [*(DeviceParams(d.name, d.flops, d.source) for d in REFERENCE.values()), DeviceParams(HOST)]


@dataclass
class SearchParams:
    """The ``search`` section of params.yaml."""

    out_dir: str = paths.SEARCH_DIR
    dataset: str = paths.imagenet()  # ImageNet-style <dataset>/{train,val}/<class>/*.jpg
    max_images_per_class: int = bounded(700, "seeded sample per class and split (keeps ImageNet affordable)", ge=1)
    image_size: int = bounded(32, "search/training input side (px), a multiple of 32", ge=32)
    devices: list[DeviceParams] = field(default_factory=_default_devices)
    unpenalised: bool = True  # also run the plain cross-entropy search (the ablation)
    alpha: float = bounded(1.0, "Eq. 3 scale α", gt=0)
    beta: float = bounded(3.0, "Eq. 3 strength β", ge=0)
    t_ref: float = bounded(5e-4, "T_ref (s): expected latency at which the penalty bites", gt=0)
    latency_size: int = bounded(160, "input side (px) at which T = 2·E[MACs]/FLOPS is evaluated", ge=1)
    channels: int = bounded(16, "stem width; stage s cells work on channels·2^s", ge=4)
    nodes: int = bounded(3, "nodes per cell", ge=1)
    cells: int = bounded(5, "cells in all (3 reduction + normal ones)", ge=3)
    epochs: int = bounded(3, "search epochs", ge=1)
    warmup_epochs: int = bounded(1, "first epochs train weights only", ge=0)
    batch_size: int = bounded(64, "images per step", ge=2)
    lr: float = bounded(2e-3, "Adam learning rate of the weights", gt=0)
    arch_lr: float = bounded(3e-2, "Adam learning rate of the architecture logits", gt=0)
    weight_decay: float = bounded(3e-4, "weight decay of the weights", ge=0)
    train_epochs: int = bounded(4, "short classifier training of each derived backbone", ge=1)
    train_seeds: int = bounded(2, "trainings (seeds seed, seed+1, ...) averaged into val_accuracy", ge=1)
    seed: int = bounded(0, "seed of every search and training", ge=0)
    threads: int = bounded(1, "torch CPU threads (0: torch's default); tiny ops gain little from more", ge=0)
    ops: list[str] = field(default_factory=lambda: list(OP_NAMES))  # the candidate op of every edge (a subset)

    def validate(self, where: str) -> None:
        """Cross-field checks; errors name the key (and the device)."""
        if self.image_size % 32:
            raise UserError(f"{where}.image_size: {self.image_size} is not a multiple of 32")
        if self.warmup_epochs >= self.epochs:
            raise UserError(f"{where}.warmup_epochs: {self.warmup_epochs} leaves no architecture epoch "
                            f"(epochs: {self.epochs})")
        unknown = [op for op in self.ops if op not in OP_NAMES]
        if unknown or len(set(self.ops)) != len(self.ops) or not set(self.ops) - {NONE}:
            raise UserError(f"{where}.ops: expected distinct ops of {', '.join(OP_NAMES)} (one besides "
                            f"{NONE!r}), got {self.ops}")
        if not self.devices and not self.unpenalised:
            raise UserError(f"{where}.devices: nothing to search (no devices and unpenalised: false)")
        seen: set[str] = set()
        for i, device in enumerate(self.devices):
            at = f"{where}.devices[{i}]"
            if device.name not in KNOWN:
                raise UserError(f"{at}.name: unknown device {device.name!r} (known: {', '.join(KNOWN)})")
            if device.name in seen:
                raise UserError(f"{at}.name: device {device.name!r} is listed twice")
            seen.add(device.name)
            if device.flops is not None and not device.flops > 0:
                raise UserError(f"{at}.flops: device {device.name!r}: FLOPS must be > 0, got {device.flops!r}")

    def space(self, num_classes: int) -> SpaceConfig:
        return SpaceConfig(self.channels, self.nodes, self.cells, tuple(self.ops), num_classes)

    def settings(self) -> SearchSettings:
        return SearchSettings(self.epochs, self.warmup_epochs, self.batch_size, self.lr, self.arch_lr,
                              self.weight_decay, self.seed)

    def latency_loss(self, device: Device) -> LatencyLoss:
        """Eq. 3 for ``device``, with T evaluated at ``latency_size`` (MACs scale with the input area)."""
        scale = (self.latency_size / self.image_size) ** 2
        return LatencyLoss(device.flops / scale, self.t_ref, self.alpha, self.beta)


@contextlib.contextmanager
def nni_home(out_dir: Path) -> Iterator[Path]:
    """HOME → ``<out_dir>/.home`` for the block (NNI writes ``~/nni-experiments``); removed when left empty."""
    home = out_dir / ".home"
    home.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("HOME")
    os.environ["HOME"] = str(home.resolve())
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous
        if not any(home.iterdir()):
            shutil.rmtree(home, ignore_errors=True)


def _epoch_logger(tracker: Tracker, name: str):
    def hook(epoch: int, record: dict[str, Any]) -> None:
        values: dict[str, float] = {f"{name}.expected_macs": record["expected_macs"],
                                    f"{name}.train_loss": record["train_loss"]}
        values.update({f"{name}.expected_macs.{k}": v for k, v in record["expected_macs_by_kind"].items()})
        for label, probs in record["probs"].items():
            values.update({f"{name}.alpha.{label}.{i}": p for i, p in enumerate(probs)})
        tracker.metrics(values, step=epoch)
        log.info("search %s: epoch %d, expected MACs %.0f, train loss %.3f", name, epoch,
                 record["expected_macs"], record["train_loss"])
    return hook


def derive_and_train(params: SearchParams, data: Dataset, name: str, result: SearchResult,
                     device: Device | None, out: Path) -> dict[str, Any]:
    """Write ``<out>/<name>/arch.json`` and ``backbone.pt`` (short training); returns the device's metrics."""
    space = params.space(len(data.classes))
    space_doc = {"channels": space.channels, "nodes": space.nodes, "cells": space.cells, "ops": list(space.ops),
                 "image_size": params.image_size, "num_classes": space.num_classes}
    backbone_probe = build_backbone({"space": space_doc, "genotype": result.genotype})
    macs = count_macs(backbone_probe, torch.zeros(1, 3, params.image_size, params.image_size))
    macs_latency = count_macs(backbone_probe, torch.zeros(1, 3, params.latency_size, params.latency_size))
    start = time.perf_counter()
    accuracies = []
    for seed in range(params.seed + params.train_seeds - 1, params.seed - 1, -1):  # ends with params.seed
        torch.manual_seed(seed)
        backbone = build_backbone({"space": space_doc, "genotype": result.genotype})
        model = Classifier(backbone, backbone.feature_channels[-1], len(data.classes))
        fit_classifier(model, data.train, params.train_epochs, params.batch_size, params.lr,
                       params.weight_decay, seed)
        accuracies.insert(0, accuracy(model, data.val))
    val_accuracy = sum(accuracies) / len(accuracies)
    metrics = {
        "flops": device.flops if device else None,
        "flops_source": device.source if device else None,
        "macs": macs,
        f"macs_at_{params.latency_size}": macs_latency,
        "expected_macs": result.expected_macs,
        "expected_macs_by_kind": result.expected_macs_by_kind,
        "latency_estimate_ms": 2.0 * macs_latency / device.flops * 1e3 if device else None,
        "val_accuracy": val_accuracy,
        "val_accuracy_per_seed": accuracies,
        "supernet_val_accuracy": result.supernet_val_accuracy,
        "params": sum(p.numel() for p in backbone.parameters()),
        "train_s": time.perf_counter() - start,
        **{kind: [[f"{i}:{op}" for i, op in node] for node in cell] for kind, cell in result.genotype.items()},
    }
    arch = arch_json(result.sample, result.genotype, space_doc, name=name,
                     device={"flops": metrics["flops"], "source": metrics["flops_source"]},
                     loss=None if device is None else {"alpha": params.alpha, "beta": params.beta,
                                                       "t_ref_s": params.t_ref,
                                                       "latency_size": params.latency_size},
                     classes=data.classes, macs=macs, expected_macs=result.expected_macs,
                     probs=result.probs, val_accuracy=val_accuracy)
    folder = out / name
    write_json(folder / "arch.json", arch)
    with atomic_path(folder / "backbone.pt") as tmp:
        torch.save({"arch": arch, "backbone": backbone.state_dict(), "head": model.head.state_dict(),
                    "classes": data.classes, "image_size": params.image_size, "mean": MEAN, "std": STD}, tmp)
    return metrics


def run(params: SearchParams) -> dict[str, Any]:
    """The whole stage; returns the metrics (also written to ``<out_dir>/metrics.json``)."""
    if params.threads:
        torch.set_num_threads(params.threads)
    out = resolve_path(params.out_dir)
    host_flops = measure_host_flops() if any(d.name == HOST and d.flops is None for d in params.devices) else None
    devices = [resolve(d.name, d.flops, d.source, f"search.devices[{i}]", host_flops)
               for i, d in enumerate(params.devices)]
    runs: list[tuple[str, Device | None]] = [(d.name, d) for d in devices]
    if params.unpenalised:
        runs.append((UNPENALISED, None))
    data = load_dataset(resolve_path(params.dataset), params.image_size, params.max_images_per_class, params.seed)
    log.info("search: %d train / %d val images, classes %s", len(data.train), len(data.val), data.classes)
    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known to be good
    metrics: dict[str, Any] = {}
    with stage_run("search", params, out) as tracker:
        for name, device in runs:
            start = time.perf_counter()
            latency = params.latency_loss(device) if device else None
            with nni_home(out):
                result = run_search(data, params.space(len(data.classes)), params.image_size, latency,
                                    params.settings(), _epoch_logger(tracker, name))
            search_s = time.perf_counter() - start
            metrics[name] = {**derive_and_train(params, data, name, result, device, out), "search_s": search_s}
            m = metrics[name]
            log.info("search %s: %d MACs, val accuracy %.3f, normal %s, reduce %s (%.0f s)", name, m["macs"],
                     m["val_accuracy"], m.get("normal"), m["reduce"], search_s + m["train_s"])
            tracker.metrics({f"{name}.{k}": v for k, v in m.items() if isinstance(v, (int, float))})
            tracker.tags({f"{name}.{kind}": " | ".join(" + ".join(edge) for edge in m[kind])
                          for kind in ("normal", "reduce") if kind in m})
            tracker.artifact(out / name / "arch.json", folder=f"arch/{name}")
        write_json(out / "metrics.json", metrics)
        tracker.artifact(out / "metrics.json")
    return metrics


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(load_section("search", SearchParams))
    return 0


if __name__ == "__main__":
    run_cli(main)
