"""The anchor-free detection head (FCOS-style, one per feature level).

Per cell it predicts C class logits and 4 distances (left, top, right, bottom) from the cell centre in
units of the level's stride (``exp`` of the raw value). The deployed output is ``sigmoid(logits)`` and the
distances concatenated on the channel axis — the layout :mod:`runtime.decode` reads.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from factory.models.blocks import ConvBNAct, DWSep

PRIOR = 0.01  # initial foreground probability (focal-loss bias init)


class Head(nn.Module):
    """``depth`` shared 3×3 layers (depthwise-separable when ``light``), then 1×1 class and box convs."""

    def __init__(self, c_in: int, num_classes: int, width: int, depth: int = 2, light: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            c = c_in if i == 0 else width
            layers.append(DWSep(c, width) if light else ConvBNAct(c, width, 3))
        self.trunk = nn.Sequential(*layers) if layers else nn.Identity()
        c_out = width if depth else c_in
        self.cls = nn.Conv2d(c_out, num_classes, 1)
        self.box = nn.Conv2d(c_out, 4, 1)
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.constant_(self.cls.bias, -math.log((1 - PRIOR) / PRIOR))
        nn.init.normal_(self.box.weight, std=0.01)
        nn.init.constant_(self.box.bias, 0.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (N, C, H, W) and distances in stride units (N, 4, H, W)."""
        t = self.trunk(x)
        return self.cls(t), torch.exp(self.box(t).clamp(max=8.0))
