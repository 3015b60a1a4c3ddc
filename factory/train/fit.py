"""Training glue: a Lightning ``Trainer`` configured the same way for every stage, and a callback that
evaluates, keeps the best weights and forwards epoch metrics to the stage's tracker.

``accelerator="auto"`` picks a GPU where there is one; Lightning's progress bar shows long runs. No
Lightning logger and no Lightning checkpoints: metrics go through :class:`factory.tracking.Tracker` and the
best weights through the stage's own ``on_best`` (checkpoints that record their architecture).
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before pytorch_lightning)

import copy
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset

from factory.tracking import Tracker

log = logging.getLogger("paraloupe")


def _reseed_worker(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    if info is not None and hasattr(info.dataset, "rng"):
        info.dataset.rng = np.random.default_rng(int(torch.initial_seed()) % 2**32)


def loader(dataset: Dataset, batch_size: int, shuffle: bool, workers: int,
           collate_fn: Callable[[list[Any]], Any] | None = None) -> DataLoader:
    """A DataLoader (``workers`` = 0: in-process, best on a 2-core machine)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, drop_last=shuffle,
                      collate_fn=collate_fn, worker_init_fn=_reseed_worker if workers else None,
                      persistent_workers=bool(workers), pin_memory=torch.cuda.is_available())


def steps_per_epoch(dataset: Dataset, batch_size: int) -> int:
    """Optimiser updates per epoch of a shuffled, drop-last loader."""
    return max(len(dataset) // batch_size, 1)  # type: ignore[arg-type]


class WeightEma(pl.Callback):
    """An exponential moving average of the model's weights and buffers (BatchNorm statistics too), updated
    after every optimiser step with ``decay`` per step (torch's ``AveragedModel``). Its horizon is about
    1 / (1 - decay) steps. Averaging the end of a noisy trajectory is the usual cure for a small model whose
    chosen epoch depends on which batches it saw last."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.averaged: AveragedModel | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.averaged = AveragedModel(pl_module.model, multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                                      use_buffers=True)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        assert self.averaged is not None
        self.averaged.update_parameters(pl_module.model)

    def model(self) -> nn.Module:
        """The averaged weights, as a module of the trained model's class."""
        assert self.averaged is not None, "WeightEma.model() before training started"
        return self.averaged.module


class EpochEnd(pl.Callback):
    """After every training epoch: run ``evaluate`` on the plain model (or on ``weights()``, e.g. a
    :class:`WeightEma`'s average) in eval mode, merge its numbers with the epoch's logged metrics, keep a copy
    of those weights when ``monitor`` improves, log to ``tracker``."""

    def __init__(self, monitor: str, tracker: Tracker | None = None, prefix: str = "",
                 evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
                 weights: Callable[[], nn.Module] | None = None) -> None:
        self.monitor, self.tracker, self.prefix, self.evaluate = monitor, tracker, prefix, evaluate
        self.weights = weights
        self.best: float = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logged = trainer.callback_metrics
        metrics = {k: float(v) for k, v in logged.items() if not k.endswith("_step") and f"{k}_epoch" not in logged
                   and torch.as_tensor(v).numel() == 1}
        model: nn.Module = self.weights() if self.weights is not None else pl_module.model  # type: ignore[assignment]
        if self.evaluate is not None:
            was = model.training
            model.eval()
            metrics.update(self.evaluate(model))
            model.train(was)
        metrics["epoch"] = trainer.current_epoch
        self.history.append(metrics)
        value = metrics.get(self.monitor, -math.inf)
        if value > self.best:
            self.best = value
            self.best_metrics = dict(metrics)
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if self.tracker is not None:
            self.tracker.metrics({f"{self.prefix}{k}": v for k, v in metrics.items() if k != "epoch"},
                                 step=trainer.current_epoch)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()) if k != "epoch")
        log.info("%sepoch %d: %s", self.prefix, trainer.current_epoch, shown)

    def restore_best(self, model: nn.Module) -> nn.Module:
        """Load the best weights seen into ``model`` (no-op when none was recorded)."""
        if self.best_state is not None:
            model.load_state_dict(copy.deepcopy(self.best_state))
        return model


def make_trainer(accelerator: str, max_epochs: int, callbacks: list[pl.Callback], validate: bool = False,
                 progress: bool = True, precision: str = "32-true") -> pl.Trainer:
    """The Trainer every stage uses (one device, no logger, no Lightning checkpoints)."""
    return pl.Trainer(accelerator=accelerator, devices=1, max_epochs=max_epochs, logger=False,
                      enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0,
                      limit_val_batches=1.0 if validate else 0, callbacks=callbacks, enable_progress_bar=progress,
                      precision=precision, log_every_n_steps=10, gradient_clip_val=10.0)
