"""The search space (paper §III-B2): a DARTS cell of ``nodes`` nodes in NNI 3.0 mutables.

Each edge (predecessor i → node j) is a ``LayerChoice`` among :data:`factory.nas.ops.OP_NAMES` labelled
``<kind>_n<j>_e<i>``; each node j ≥ 1 picks two of its ``2 + j`` incoming edges with an ``InputChoice``
labelled ``<kind>_n<j>_in`` (node 0 has exactly two predecessors, the cell inputs, and takes both). All
normal cells share one set of labels (``normal_…``) and all reduction cells another (``reduce_…``): the
search finds one normal and one reduction cell, stacked as :mod:`factory.nas.backbone` describes.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before nni, which imports pytorch_lightning/torchvision)

from dataclasses import dataclass

import torch
from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace, MutableModule
from torch import nn

from factory.nas.backbone import Skeleton
from factory.nas.ops import OP_NAMES, make_op, preprocess


@dataclass(frozen=True)
class SpaceConfig:
    """Size of the space: stem width ``channels``, ``nodes`` per cell, ``cells`` in all, the op set."""

    channels: int = 16
    nodes: int = 3
    cells: int = 6
    ops: tuple[str, ...] = OP_NAMES
    num_classes: int = 3


def edge_label(kind: str, node: int, source: int) -> str:
    """Label of the op choice on the edge ``source`` → ``node`` of a ``kind`` ("normal"/"reduce") cell."""
    return f"{kind}_n{node}_e{source}"


def input_label(kind: str, node: int) -> str:
    """Label of the input choice of ``node`` (nodes ≥ 1) of a ``kind`` cell."""
    return f"{kind}_n{node}_in"


class SearchCell(MutableModule):
    """A cell whose edges are ``LayerChoice`` s and whose nodes pick two edges with ``InputChoice`` s."""

    def __init__(self, ops: tuple[str, ...], nodes: int, reduction: bool, c_pp: int, c_p: int, c: int,
                 reduction_prev: bool) -> None:
        super().__init__()
        kind = "reduce" if reduction else "normal"
        self.pre0 = preprocess(c_pp, c, reduction_prev)
        self.pre1 = preprocess(c_p, c, False)
        self.edges = nn.ModuleList()
        self.inputs = nn.ModuleList()
        for j in range(nodes):
            self.edges.append(nn.ModuleList(
                LayerChoice({op: make_op(op, c, 2 if reduction and i < 2 else 1) for op in ops},
                            label=edge_label(kind, j, i))
                for i in range(2 + j)))
            self.inputs.append(InputChoice(2 + j, n_chosen=2, reduction="sum", label=input_label(kind, j))
                               if j > 0 else nn.Identity())

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for edges, choose in zip(self.edges, self.inputs, strict=False):
            outs = [edge(states[i]) for i, edge in enumerate(edges)]
            states.append(outs[0] + outs[1] if isinstance(choose, nn.Identity) else choose(outs))
        return torch.cat(states[2:], dim=1)


class CellSpace(ModelSpace):
    """The classifier search space: searched backbone + global pooling + linear head (logits)."""

    def __init__(self, config: SpaceConfig) -> None:
        super().__init__()
        self.config = config

        def make_cell(reduction: bool, c_pp: int, c_p: int, c: int, reduction_prev: bool) -> nn.Module:
            return SearchCell(config.ops, config.nodes, reduction, c_pp, c_p, c, reduction_prev)

        self.backbone = Skeleton(make_cell, config.channels, config.nodes, config.cells)
        self.head = nn.Linear(self.backbone.feature_channels[-1], config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)[-1].mean(dim=(2, 3)))
