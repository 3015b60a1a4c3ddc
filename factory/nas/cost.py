"""#operations of Eq. 3: MACs of every candidate op at its real input shape, and the differentiable
expected MACs of the searched cells.

Counting rule (:func:`count_macs`): a convolution costs ``output elements × (C_in / groups) × k_h × k_w``
multiply-accumulates (MACs), a linear layer ``in × out`` per sample, a k×k pooling window ``k²`` per output
element; BatchNorm (folded into the conv at deployment), ReLU and additions cost nothing. Counts are per
image (batch 1) at the search input size.

:func:`edge_costs` runs the supernet once on one image, records the input shape that reaches every
``LayerChoice`` and counts each candidate on a tensor of exactly that shape, so a 5×5 separable conv on a
4×4 map of 64 channels costs what it costs there, not a table value. Cells that share labels (all normal
cells, all reduction cells) add up under one label.

:class:`ExpectedMacs` turns the architecture logits into the expected MACs of the backbone::

    E = fixed + Σ_edges w_in(edge) · Σ_op softmax(α_edge)_op · MACs(edge, op)

where ``w_in = min(1, 2 · softmax(α_in)_source)`` is the share of the node's two chosen edges that leaves
this source (``1`` for node 0, which takes both cell inputs; two equally strong inputs get 1 each), and
``fixed`` covers stem, input preprocessing and head. ``E`` is differentiable in every α, so a loss that grows
with it pushes the architecture weights towards cheap ops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

_EDGE = re.compile(r"^(?P<kind>normal|reduce)_n(?P<node>\d+)_e(?P<source>\d+)$")


def _leaf_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    batch = output.shape[0] if output.dim() > 0 else 1
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() // batch * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() // batch * module.in_features
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = module.kernel_size
        kh, kw = (k, k) if isinstance(k, int) else k
        return output.numel() // batch * kh * kw
    return 0


class MacCounter:
    """Forward hooks on every leaf module of ``root``: ``per_module[module]`` accumulates its MACs."""

    def __init__(self, root: nn.Module) -> None:
        self.per_module: dict[nn.Module, int] = {}
        self._handles = [m.register_forward_hook(self._hook) for m in root.modules()
                         if isinstance(m, (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d))]

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.per_module[module] = self.per_module.get(module, 0) + _leaf_macs(module, inputs, output)

    def total(self, modules: Iterable[nn.Module] | None = None) -> int:
        """MACs of all counted modules (or of those among ``modules``)."""
        if modules is None:
            return sum(self.per_module.values())
        return sum(self.per_module.get(m, 0) for m in modules)

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


@torch.no_grad()
def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """MACs of one forward of ``model`` on ``inputs``, per sample of the batch."""
    counter = MacCounter(model)
    was_training = model.training
    try:
        model.eval()
        model(*inputs)
    finally:
        model.train(was_training)
        counter.close()
    return counter.total()


@dataclass
class EdgeCost:
    """MACs of each candidate of one edge label (summed over the cells that share the label)."""

    label: str
    ops: list[str]
    macs: list[int]
    input_label: str | None  # the node's InputChoice label (None for node 0: both inputs always used)
    source: int  # index of this edge's source among the node's input candidates
    kind: str  # "normal" or "reduce"
    instances: int = 1
    shapes: list[list[int]] = field(default_factory=list)


@torch.no_grad()
def edge_costs(supernet: nn.Module, image_size: int) -> tuple[list[EdgeCost], int]:
    """Per-label candidate MACs of a DARTS supernet (NNI's mixed layers) and the MACs outside them.

    Runs ``supernet`` once on a ``1×3×S×S`` zero image; returns ``(edges, fixed_macs)``.
    """
    layers = [m for m in supernet.modules() if hasattr(m, "names") and hasattr(m, "label")
              and _EDGE.match(str(m.label))]
    if not layers:
        raise ValueError("no searchable edges (LayerChoice labels <kind>_n<j>_e<i>) in the supernet")
    shapes: dict[nn.Module, torch.Size] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args: shapes.__setitem__(mod, args[0].shape))
               for m in layers]
    counter = MacCounter(supernet)
    device = next(supernet.parameters()).device
    was_training = supernet.training
    try:
        supernet.eval()
        supernet(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        supernet.train(was_training)
        counter.close()
        for handle in handles:
            handle.remove()
    inside: set[nn.Module] = set()
    by_label: dict[str, EdgeCost] = {}
    for layer in layers:
        inside.update(layer.modules())
        shape = shapes[layer]
        x = torch.zeros(shape, device=device)
        macs = [count_macs(layer[name], x) for name in layer.names]
        match = _EDGE.match(layer.label)
        assert match is not None
        kind, node, source = match["kind"], int(match["node"]), int(match["source"])
        if layer.label in by_label:
            cost = by_label[layer.label]
            cost.macs = [a + b for a, b in zip(cost.macs, macs, strict=False)]
            cost.instances += 1
            cost.shapes.append(list(shape))
        else:
            by_label[layer.label] = EdgeCost(layer.label, list(layer.names), macs,
                                             f"{kind}_n{node}_in" if node > 0 else None, source, kind,
                                             shapes=[list(shape)])
    fixed = counter.total(m for m in counter.per_module if m not in inside)
    return list(by_label.values()), fixed


class ExpectedMacs(nn.Module):
    """Differentiable expected MACs of the backbone from the architecture logits (see module docstring).

    The MACs tables are buffers, so they follow the module to the GPU.
    """

    def __init__(self, edges: list[EdgeCost], fixed_macs: int) -> None:
        super().__init__()
        self.edges = edges
        self.fixed_macs = float(fixed_macs)
        for i, edge in enumerate(edges):
            self.register_buffer(f"macs_{i}", torch.tensor(edge.macs, dtype=torch.float32), persistent=False)

    def table(self, i: int) -> torch.Tensor:
        return getattr(self, f"macs_{i}")

    def per_kind(self, alphas: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Expected MACs of the searched edges by cell kind (``normal``, ``reduce``), all instances."""
        out: dict[str, torch.Tensor] = {}
        for i, edge in enumerate(self.edges):
            probs = torch.softmax(alphas[edge.label], dim=-1)
            expected = (probs * self.table(i)).sum()
            if edge.input_label is not None:
                share = 2.0 * torch.softmax(alphas[edge.input_label], dim=-1)[edge.source]
                expected = expected * share.clamp(max=1.0)
            out[edge.kind] = out[edge.kind] + expected if edge.kind in out else expected
        return out

    def forward(self, alphas: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Expected MACs (per image) of the whole backbone + head."""
        return self.fixed_macs + sum(self.per_kind(alphas).values())
