"""Training the detectors: the mini detectors on the patch set (one per input size, each larger size starting
from the previous size's best weights — progressive resizing) and the full-frame baseline on multi-scale
crops of whole frames. The best epoch is chosen by validation F1 at IoU 0.5, and the score threshold that
gives it is written into the model's decoding parameters. With ``ema_decay`` > 0 the weights evaluated, chosen
and kept are an exponential moving average of the trained ones (:class:`factory.train.fit.WeightEma`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset, RandomSampler

from factory.models.detector import Detector
from factory.models.lightning import DetectorTask
from factory.tracking import Tracker
from factory.train.data import collate
from factory.train.evaluation import Scores
from factory.train.fit import EpochEnd, WeightEma, make_trainer

log = logging.getLogger("paraloupe")


def epoch_loader(dataset: Dataset, batch_size: int, samples: int | None, workers: int) -> DataLoader:
    """Shuffled batches; ``samples`` caps an epoch to a fresh random subset of that many items."""
    n = len(dataset)  # type: ignore[arg-type]
    sampler = RandomSampler(dataset, num_samples=min(samples, n)) if samples else RandomSampler(dataset)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=True,
                      collate_fn=collate, persistent_workers=bool(workers))


def train_detector(model: Detector, dataset: Dataset, validate: Callable[[Detector], Scores], *, epochs: int,
                   batch_size: int, lr: float, weight_decay: float, samples_per_epoch: int | None,
                   accelerator: str, workers: int, tracker: Tracker | None, prefix: str, seed: int,
                   warmup_fraction: float = 0.1, ema_decay: float = 0.0) -> dict[str, Any]:
    """Train ``model`` in place; keep the epoch with the best validation F1; set its decoding threshold.

    Returns the summary: best val F1, its threshold and epoch, the per-epoch history and the seconds spent.
    """
    pl.seed_everything(seed, verbose=False)
    data = epoch_loader(dataset, batch_size, samples_per_epoch, workers)
    total = max(len(data) * epochs, 1)
    task = DetectorTask(model, lr, weight_decay, total, int(warmup_fraction * total))
    chosen: dict[int, float] = {}

    def evaluate(m: Detector) -> dict[str, float]:
        scores = validate(m)
        chosen[len(chosen)] = scores.best_threshold
        return {"val_f1": scores.best_f1, "val_threshold": scores.best_threshold}

    ema = WeightEma(ema_decay) if ema_decay > 0 else None
    keeper = EpochEnd("val_f1", tracker, prefix=prefix, evaluate=evaluate,  # type: ignore[arg-type]
                      weights=ema.model if ema is not None else None)
    t0 = time.time()
    make_trainer(accelerator, epochs, [c for c in (ema, keeper) if c is not None]).fit(task, data)
    keeper.restore_best(model)
    model.cpu().eval()
    best_epoch = int(keeper.best_metrics.get("epoch", 0))
    threshold = float(keeper.best_metrics.get("val_threshold", model.spec["decode"]["score_threshold"]))
    model.spec["decode"]["score_threshold"] = threshold
    return {"val_f1": round(keeper.best, 4), "val_threshold": threshold, "best_epoch": best_epoch,
            "seconds": round(time.time() - t0, 1), "history": keeper.history}
