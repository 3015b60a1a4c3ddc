"""The backbone skeleton shared by the search space and the derived (frozen) backbones.

Layout (input S×S, S divisible by 32)::

    stem (stride 4, ``channels``)
    stage 0: reduction cell, normal cells…   → feature at stride 8,  nodes · channels     channels
    stage 1: reduction cell, normal cells…   → feature at stride 16, nodes · 2·channels   channels
    stage 2: reduction cell, normal cells…   → feature at stride 32, nodes · 4·channels   channels

``cells`` (≥ 3) counts all cells; each stage starts with a reduction cell and the ``cells − 3`` normal cells
are spread over the stages, earlier stages first. A cell (DARTS) takes the outputs of the two previous cells,
brings both to its width ``c`` (1×1 conv, or a factorized reduction when the previous cell halved the
resolution), computes ``nodes`` nodes — node j sums two edges from its predecessors (the two cell inputs and
nodes < j), each edge one op of :mod:`factory.nas.ops` — and outputs the nodes concatenated. A reduction
cell uses stride 2 on the edges that leave the cell inputs.

This module does not import NNI: a derived backbone (:class:`FixedCell` cells) runs wherever torch does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from factory.nas.ops import Stem, make_op, preprocess

CellFactory = Callable[[bool, int, int, int, bool], nn.Module]
"""``(reduction, c_prev_prev, c_prev, c, reduction_prev) -> cell``."""


def cell_plan(cells: int) -> list[tuple[int, bool]]:
    """``(stage, is_reduction)`` of every cell, in order."""
    if cells < 3:
        raise ValueError(f"cells must be >= 3 (one reduction cell per stage), got {cells}")
    extra = cells - 3
    plan = []
    for stage in range(3):
        plan.append((stage, True))
        plan.extend((stage, False) for _ in range(extra // 3 + (1 if stage < extra % 3 else 0)))
    return plan


class Skeleton(nn.Module):
    """Stem + cells made by ``make_cell``; ``forward`` returns the features at strides 8, 16, 32."""

    def __init__(self, make_cell: CellFactory, channels: int, nodes: int, cells: int) -> None:
        super().__init__()
        self.stem = Stem(channels)
        self.cells = nn.ModuleList()
        self.feature_index: list[int] = []  # index of the last cell of each stage
        self.feature_channels: list[int] = []
        c_pp = c_p = channels
        reduction_prev = False
        plan = cell_plan(cells)
        for k, (stage, reduction) in enumerate(plan):
            c = channels * 2 ** stage
            self.cells.append(make_cell(reduction, c_pp, c_p, c, reduction_prev))
            c_pp, c_p, reduction_prev = c_p, nodes * c, reduction
            if k == len(plan) - 1 or plan[k + 1][0] != stage:
                self.feature_index.append(k)
                self.feature_channels.append(nodes * c)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s0 = s1 = self.stem(x)
        features = []
        for k, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if k in self.feature_index:
                features.append(s1)
        return features


class Classifier(nn.Module):
    """A backbone with global average pooling and a linear head on its stride-32 feature (logits)."""

    def __init__(self, backbone: nn.Module, feature_channels: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)[-1].mean(dim=(2, 3)))


class FixedCell(nn.Module):
    """A derived cell: node j = op_a(state[i_a]) + op_b(state[i_b]) for its two chosen edges."""

    def __init__(self, genotype: Sequence[Sequence[tuple[int, str]]], reduction: bool, c_pp: int, c_p: int,
                 c: int, reduction_prev: bool) -> None:
        super().__init__()
        self.pre0 = preprocess(c_pp, c, reduction_prev)
        self.pre1 = preprocess(c_p, c, False)
        self.inputs = [[i for i, _ in node] for node in genotype]
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, c, 2 if reduction and i < 2 else 1) for i, op in node) for node in genotype)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for inputs, ops in zip(self.inputs, self.edges, strict=False):
            out = ops[0](states[inputs[0]])
            for i, op in zip(inputs[1:], ops[1:], strict=False):
                out = out + op(states[i])
            states.append(out)
        return torch.cat(states[2:], dim=1)


class Backbone(Skeleton):
    """A derived backbone: every normal cell follows ``genotype["normal"]``, every reduction cell
    ``genotype["reduce"]`` (lists over nodes of ``[(input index, op name), ...]``)."""

    def __init__(self, genotype: Mapping[str, Sequence[Sequence[tuple[int, str]]]], channels: int, nodes: int,
                 cells: int) -> None:
        def make_cell(reduction: bool, c_pp: int, c_p: int, c: int, reduction_prev: bool) -> nn.Module:
            return FixedCell(genotype["reduce" if reduction else "normal"], reduction, c_pp, c_p, c,
                             reduction_prev)

        kinds = {"reduce" if reduction else "normal" for _, reduction in cell_plan(cells)}
        for kind in sorted(kinds):
            if kind not in genotype:
                raise ValueError(f"genotype: no {kind!r} cell")
            if len(genotype[kind]) != nodes:
                raise ValueError(f"genotype {kind}: {len(genotype[kind])} nodes, expected {nodes}")
        super().__init__(make_cell, channels, nodes, cells)
