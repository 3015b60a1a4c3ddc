"""Eq. 3: the penalty's gradient reaches the architecture weights, and a strong one makes the search cheap."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

from factory.nas.cost import ExpectedMacs, edge_costs  # noqa: E402
from factory.nas.data import Dataset, Split  # noqa: E402
from factory.nas.loss import LatencyLoss  # noqa: E402
from factory.nas.search import SearchSettings, architecture_logits, run_search  # noqa: E402
from factory.nas.space import CellSpace, SpaceConfig  # noqa: E402

TINY = SpaceConfig(channels=4, nodes=2, cells=3, num_classes=2)
CHEAP = {"max_pool_3x3", "avg_pool_3x3", "skip"}


def tiny_data(n: int = 64, size: int = 32) -> Dataset:
    """Bright vs dark noise images: learnable in a few steps."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = (torch.rand(n, 3, size, size, generator=g) * 120 + labels.view(-1, 1, 1, 1) * 120).to(torch.uint8)
    return Dataset(["dark", "bright"], Split(images, labels), Split(images[: n // 2], labels[: n // 2]))


def test_penalty_gradient_reaches_every_architecture_weight() -> None:
    from nni.nas.strategy import DARTS

    torch.manual_seed(0)
    model = CellSpace(TINY)
    DARTS().mutate_model(model)
    edges, fixed = edge_costs(model, 32)
    cost = ExpectedMacs(edges, fixed)
    alphas = architecture_logits(model)
    ce = torch.tensor(0.7)  # a constant cross-entropy isolates the penalty's own gradient
    LatencyLoss(flops=1e8, t_ref=1e-4, beta=2.0)(ce, cost(alphas)).backward()
    for e in edges:
        grad = dict(zip(e.ops, alphas[e.label].grad.tolist(), strict=False))
        assert grad["none"] < 0 < grad["sep_conv_5x5"], e.label  # descent: raise cheap, lower costly ops
        assert all(grad[op] < grad["sep_conv_5x5"] for op in CHEAP)
    inputs = [label for label in alphas if label.endswith("_in")]
    assert inputs and all(alphas[label].grad.abs().sum() > 0 for label in inputs)


def test_slower_devices_get_the_stronger_pull() -> None:
    macs = 5e5
    pulls = [LatencyLoss(flops, t_ref=1e-4, beta=2.0).elasticity(macs) for flops in (8.45e11, 1.6e11, 1.35e10)]
    assert pulls == sorted(pulls) and pulls[-1] > 3 * pulls[0]
    loss = LatencyLoss(1.35e10, t_ref=1e-4, alpha=0.5, beta=1.0)
    assert float(loss.weight(torch.tensor(0.0))) == pytest.approx(0.5)
    assert float(loss.latency(1.35e10 / 2)) == pytest.approx(1.0)  # 2 FLOPs per MAC, seconds
    with pytest.raises(ValueError):
        LatencyLoss(0.0)


def test_a_large_beta_drives_the_search_to_cheap_ops() -> None:
    data = tiny_data()
    settings = SearchSettings(epochs=3, warmup_epochs=0, batch_size=8, arch_lr=0.3, seed=0)
    plain = run_search(data, TINY, 32, None, settings)
    heavy = run_search(data, TINY, 32, LatencyLoss(flops=1e8, t_ref=1e-4, beta=8.0), settings)
    searched = {name: sum(r.expected_macs_by_kind.values()) for name, r in (("plain", plain), ("heavy", heavy))}
    assert searched["heavy"] < 0.6 * searched["plain"], searched
    assert heavy.history[-1]["expected_macs"] < heavy.history[0]["expected_macs"]
    chosen = {op for cell in heavy.genotype.values() for node in cell for _, op in node}
    assert chosen <= CHEAP, chosen
