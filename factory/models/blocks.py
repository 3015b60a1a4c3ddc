"""Small building blocks shared by the necks, heads and the built-in backbones."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNAct(nn.Sequential):
    """k×k conv → BatchNorm → ReLU (``act=False``: no activation)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(c_out)]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DWSep(nn.Sequential):
    """Depthwise k×k (with ``stride``) → pointwise 1×1, each with BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(ConvBNAct(c_in, c_in, kernel, stride, groups=c_in), ConvBNAct(c_in, c_out, 1))


class BasicBlock(nn.Module):
    """Residual block of two 3×3 convs (ResNet's basic block, same width, stride 1)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(c, c, 3)
        self.conv2 = ConvBNAct(c, c, 3, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.conv1(x)))
