"""LightningModules holding training logic only: the plain ``nn.Module`` is injected (Lightning's pattern).

Optimiser and schedule come from timm's factories (``create_optimizer_v2``; ``CosineLRScheduler`` with
warm-up, stepped per update).
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm / pytorch_lightning)

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler
from torch import nn

from factory.models.loss import Targets, detection_loss


class _Optimised(pl.LightningModule):
    """AdamW + cosine schedule with linear warm-up over ``total_steps`` updates."""

    def __init__(self, model: nn.Module, lr: float, weight_decay: float, total_steps: int,
                 warmup_steps: int) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay
        self.total_steps, self.warmup_steps = max(int(total_steps), 1), int(warmup_steps)

    def configure_optimizers(self) -> Any:
        opt = create_optimizer_v2(self.model, "adamw", lr=self.lr, weight_decay=self.weight_decay)
        sched = CosineLRScheduler(opt, t_initial=self.total_steps, lr_min=self.lr * 0.02,
                                  warmup_t=min(self.warmup_steps, self.total_steps // 2),
                                  warmup_lr_init=self.lr * 0.05, t_in_epochs=False)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        scheduler.step_update(num_updates=self.global_step)


class DetectorTask(_Optimised):
    """Trains a :class:`factory.models.detector.Detector` with :func:`detection_loss`."""

    def __init__(self, model: nn.Module, lr: float = 2e-3, weight_decay: float = 0.05, total_steps: int = 1000,
                 warmup_steps: int = 100, radius: float = 1.5, box_weight: float = 2.0) -> None:
        super().__init__(model, lr, weight_decay, total_steps, warmup_steps)
        self.radius, self.box_weight = radius, box_weight

    def training_step(self, batch: tuple[torch.Tensor, list[Targets]], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        targets = [Targets(t.boxes.to(images.device), t.labels.to(images.device), t.crowd.to(images.device))
                   for t in targets]
        losses = detection_loss(self.model.forward_train(images), targets, self.model.strides,
                                self.model.spec["level_bounds"], self.radius, self.box_weight)
        self.log_dict({"train_loss": losses["loss"].detach(), "train_cls": losses["cls"], "train_box": losses["box"]},
                      prog_bar=True, on_step=True, on_epoch=True, batch_size=images.shape[0])
        return losses["loss"]


class ClassifierTask(_Optimised):
    """Trains an image classifier (backbone + pooling + linear) with label-smoothed cross-entropy;
    logs ``val_acc``."""

    def __init__(self, model: nn.Module, lr: float = 2e-3, weight_decay: float = 0.05, total_steps: int = 1000,
                 warmup_steps: int = 50, label_smoothing: float = 0.1) -> None:
        super().__init__(model, lr, weight_decay, total_steps, warmup_steps)
        self.label_smoothing = label_smoothing

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self.model(x), y, label_smoothing=self.label_smoothing)
        self.log("train_loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=True, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self.model(x)
        self.log_dict({"val_loss": F.cross_entropy(logits, y), "val_acc": (logits.argmax(1) == y).float().mean()},
                      prog_bar=True, on_epoch=True, batch_size=x.shape[0])


class KeypointTask(_Optimised):
    """Trains a keypoint heatmap model (:mod:`factory.keypoints.model`): mean squared error to the target
    heatmaps, unlabelled points weighted 0 (SimpleBaseline's loss), scaled by 1000 for readable numbers."""

    def __init__(self, model: nn.Module, lr: float = 2e-3, weight_decay: float = 0.01, total_steps: int = 1000,
                 warmup_steps: int = 50) -> None:
        super().__init__(model, lr, weight_decay, total_steps, warmup_steps)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, maps, weights = batch
        pred = self.model(images)
        loss = (((pred - maps) ** 2).mean(dim=(2, 3)) * weights).mean() * 1000.0
        self.log("train_loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=True, batch_size=images.shape[0])
        return loss
