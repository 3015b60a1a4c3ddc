"""Lightning training of a classifier (a supernet's weights, or a derived backbone + head) and its evaluation.

The :class:`ClassificationModule` holds training logic only; the model is injected (``set_model``), as NNI's
one-shot modules expect. It subclasses NNI's ``LightningModule`` (a ``pytorch_lightning`` one), so the same
class serves the DARTS search (:mod:`factory.nas.search`) and the plain short training of a derived backbone.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before lightning/nni)

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from nni.nas.evaluator.pytorch.lightning import LightningModule
from torch import nn

from factory.nas.data import Split, loader, normalise


class ClassificationModule(LightningModule):
    """Cross-entropy training with Adam (``lr``, ``weight_decay``); batches are uint8 images + labels.

    With ``total_steps`` the learning rate follows a cosine from ``lr`` to 0 over that many steps (a short
    training then ends in a settled state, so accuracies of different backbones compare).
    """

    def __init__(self, lr: float = 2e-3, weight_decay: float = 3e-4, total_steps: int | None = None) -> None:
        super().__init__()
        self.lr = lr
        self.weight_decay = weight_decay
        self.total_steps = total_steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy of a (uint8 images, labels) batch, augmented (flips, shifts)."""
        images, labels = batch
        return F.cross_entropy(self.model(normalise(images, augment=True)), labels)

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train_loss", loss, prog_bar=False)
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if not self.total_steps:
            return optimizer
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def trainer(epochs: int, callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    """A quiet Lightning trainer on whatever accelerator is present (``accelerator="auto"``)."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LightningModule.*has parameters that were not used.*")
    return pl.Trainer(max_epochs=epochs, accelerator="auto", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, limit_val_batches=0, callbacks=callbacks or [],
                      deterministic=False)


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, batch_size: int = 256) -> float:
    """Top-1 accuracy (0–1) of ``model`` on ``split`` (eval mode, on the model's device)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    for images, labels in loader(split, batch_size, shuffle=False):
        logits = model(normalise(images.to(device)))
        correct += int((logits.argmax(1) == labels.to(device)).sum())
    model.train(was_training)
    return correct / max(len(split), 1)


def fit_classifier(model: nn.Module, train: Split, epochs: int, batch_size: int, lr: float,
                   weight_decay: float, seed: int) -> nn.Module:
    """Train ``model`` (logits) on ``train`` for ``epochs`` (cosine learning rate); returns it (on CPU)."""
    pl.seed_everything(seed, workers=False, verbose=False)
    batches = loader(train, batch_size, shuffle=True, seed=seed)
    module = ClassificationModule(lr, weight_decay, total_steps=epochs * len(batches))
    module.set_model(model)
    trainer(epochs).fit(module, train_dataloaders=batches)
    return model.cpu()
