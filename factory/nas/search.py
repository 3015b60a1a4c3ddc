"""The latency-aware DARTS search (paper §III-B2, Eq. 2a/2b/3) with NNI 3.0, driven by our own Trainer.

NNI's ``DARTS`` strategy turns the :class:`~factory.nas.space.CellSpace` into a supernet
(``DARTS.mutate_model``: every ``LayerChoice``/``InputChoice`` becomes a softmax-weighted mixture with
architecture logits α). :class:`LatencyDartsModule` is NNI's ``DartsLightningModule`` with its
architecture step replaced: alternately

- Eq. 2b, architecture step on the second half of the training images:
  ``L = α · (1 + T/T_ref)^β · L_CE`` (:mod:`factory.nas.loss`), ``T = 2·E[MACs]/FLOPS`` with ``E[MACs]``
  computed differentiably from the α's (:mod:`factory.nas.cost`), so the penalty's gradient reaches them —
  NNI's own ``penalty=`` detaches the probabilities and does not steer (docs/STACK.md);
- Eq. 2a, weight step on the first half: plain cross-entropy (the weights do not change T).

We call ``pytorch_lightning.Trainer(accelerator="auto").fit`` on that module ourselves instead of
``NasExperiment`` (which showed no training step on the GPU machine), so the same code runs on CPU and GPU.
NNI writes ``~/nni-experiments`` only from experiments; the stage still points HOME into its own folder.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before lightning/nni)

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch
from nni.nas.oneshot.pytorch import DartsLightningModule
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from nni.nas.strategy import DARTS
from torch import nn

from factory.nas.cost import EdgeCost, ExpectedMacs, edge_costs
from factory.nas.data import Dataset, halves, loader
from factory.nas.derive import derive
from factory.nas.loss import LatencyLoss
from factory.nas.space import CellSpace, SpaceConfig
from factory.nas.train import ClassificationModule, accuracy, trainer

log = logging.getLogger("paraloupe")


def architecture_logits(model: nn.Module) -> dict[str, nn.Parameter]:
    """label → architecture logits of every mixed layer / input of a DARTS supernet."""
    out: dict[str, nn.Parameter] = {}
    for module in model.modules():
        if isinstance(module, BaseSuperNetModule) and hasattr(module, "arch_parameters"):
            for param in module.arch_parameters():
                out.setdefault(str(module.label), param)
    return out


class LatencyDartsModule(DartsLightningModule):
    """NNI's DARTS one-shot module whose architecture step minimises the latency-aware Eq. 3.

    ``latency`` None is the unpenalised search (plain cross-entropy in both steps).
    """

    def __init__(self, training_module: ClassificationModule, cost: ExpectedMacs, latency: LatencyLoss | None,
                 arc_learning_rate: float, warmup_epochs: int) -> None:
        super().__init__(training_module, arc_learning_rate=arc_learning_rate, warmup_epochs=warmup_epochs,
                         log_prob_every_n_step=10 ** 9)
        self.cost = cost
        self.latency = latency

    def alphas(self) -> dict[str, nn.Parameter]:
        return architecture_logits(self.training_module.model)

    def expected_macs(self) -> torch.Tensor:
        """E[MACs] per image under the current architecture distribution (differentiable)."""
        return self.cost(self.alphas())

    def architecture_loss(self, batch: Any) -> torch.Tensor:
        """Eq. 2b with Eq. 3: the penalised cross-entropy of ``batch``."""
        ce = self.training_module.loss(batch)
        if self.latency is None:
            return ce
        return self.latency(ce, self.expected_macs())

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        arc_optim = self.architecture_optimizers()
        if self.warmup_epochs == 0 or self.trainer.current_epoch >= self.warmup_epochs:
            arc_optim.zero_grad()
            arc_loss = self.architecture_loss(batch["val"])
            self.manual_backward(arc_loss)
            arc_optim.step()
            self.log("arch_loss", arc_loss.detach())
        loss = self.training_module.loss(batch["train"])
        self.advance_optimization(loss, batch_idx, self.gradient_clip_val)
        self.advance_lr_schedulers(batch_idx)
        self.log("train_loss", loss.detach())
        return loss


@dataclass
class SearchSettings:
    """Budget and optimiser of one search."""

    epochs: int = 3
    warmup_epochs: int = 1
    batch_size: int = 64
    lr: float = 2e-3
    arch_lr: float = 3e-3
    weight_decay: float = 3e-4
    seed: int = 0


@dataclass
class SearchResult:
    """What one search found: the NNI sample, the genotype, final probabilities and MACs."""

    sample: dict[str, Any]
    genotype: dict[str, list[list[tuple[int, str]]]]
    probs: dict[str, list[float]]
    expected_macs: float
    expected_macs_by_kind: dict[str, float]
    supernet_val_accuracy: float
    edges: list[EdgeCost] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


EpochHook = Callable[[int, dict[str, Any]], None]


class _EpochReport(pl.Callback):
    def __init__(self, hook: EpochHook | None, history: list[dict[str, Any]]) -> None:
        self.hook = hook
        self.history = history

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        assert isinstance(module, LatencyDartsModule)
        with torch.no_grad():
            alphas = module.alphas()
            by_kind = {k: float(v) for k, v in module.cost.per_kind(alphas).items()}
            record = {
                "epoch": trainer.current_epoch,
                "expected_macs": float(module.expected_macs()),
                "expected_macs_by_kind": by_kind,
                "probs": {k: torch.softmax(a, -1).cpu().tolist() for k, a in alphas.items()},
                "train_loss": float(trainer.callback_metrics.get("train_loss", float("nan"))),
            }
        self.history.append(record)
        if self.hook is not None:
            self.hook(trainer.current_epoch, record)


def run_search(data: Dataset, space: SpaceConfig, image_size: int, latency: LatencyLoss | None,
               settings: SearchSettings, on_epoch: EpochHook | None = None) -> SearchResult:
    """One DARTS search of ``space`` on ``data`` (train split halves; accuracy on the val split)."""
    pl.seed_everything(settings.seed, workers=False, verbose=False)
    model = CellSpace(space)
    strategy = DARTS(arc_learning_rate=settings.arch_lr, warmup_epochs=settings.warmup_epochs)
    strategy.mutate_model(model)  # in place: the supernet, with architecture logits per label
    edges, fixed = edge_costs(model, image_size)
    cost = ExpectedMacs(edges, fixed)
    training = ClassificationModule(settings.lr, settings.weight_decay)
    training.set_model(model)
    oneshot = LatencyDartsModule(training, cost, latency, settings.arch_lr, settings.warmup_epochs)
    weights_half, arch_half = halves(data.train, settings.seed)
    loaders = {"train": loader(weights_half, settings.batch_size, shuffle=True, seed=settings.seed),
               "val": loader(arch_half, settings.batch_size, shuffle=True, seed=settings.seed + 1)}
    history: list[dict[str, Any]] = []
    trainer(settings.epochs, [_EpochReport(on_epoch, history)]).fit(oneshot, train_dataloaders=loaders)
    model.cpu()
    cost.cpu()
    with torch.no_grad():
        alphas = architecture_logits(model)
        sample, genotype = derive(alphas, {e.label: e.ops for e in edges}, space.nodes)
        probs = {k: torch.softmax(a, -1).tolist() for k, a in alphas.items()}
        expected = float(cost(alphas))
        by_kind = {k: float(v) for k, v in cost.per_kind(alphas).items()}
    return SearchResult(sample, genotype, probs, expected, by_kind, accuracy(model, data.val), edges, history)
