"""The training glue: the weight average (WeightEma) and the epoch keeper that validates and keeps it."""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before pytorch_lightning)

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from factory.train.fit import EpochEnd, WeightEma, make_trainer


class _Task(pl.LightningModule):
    """A linear model with a BatchNorm buffer, plain SGD; records its weights after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
        self.steps: list[dict[str, torch.Tensor]] = []

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return ((self.model(x) - y) ** 2).mean()

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        self.steps.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def _fit(decay: float) -> tuple[_Task, WeightEma, EpochEnd]:
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(32, 3), torch.randn(32, 2)), batch_size=8)
    task, ema = _Task(), WeightEma(decay)
    keeper = EpochEnd("val_f1", evaluate=lambda m: {"val_f1": 1.0}, weights=ema.model)
    make_trainer("cpu", 1, [ema, keeper], progress=False).fit(task, data)
    return task, ema, keeper


def test_the_average_follows_every_step_with_the_decay_weights_and_buffers_too() -> None:
    decay = 0.8
    task, ema, _ = _fit(decay)
    assert len(task.steps) == 4
    expected = {k: v.float() for k, v in task.steps[0].items()}  # the first update copies
    for state in task.steps[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * state[k].float() for k in expected}
    averaged = ema.model().state_dict()
    for key in ("0.weight", "0.bias", "1.running_mean", "1.running_var"):
        torch.testing.assert_close(averaged[key].float(), expected[key], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(averaged["0.weight"], task.model.state_dict()["0.weight"])


def test_the_keeper_restores_the_averaged_weights_not_the_last_ones() -> None:
    task, ema, keeper = _fit(0.8)
    fresh = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    keeper.restore_best(fresh)
    torch.testing.assert_close(fresh.state_dict()["0.weight"], ema.model().state_dict()["0.weight"])
