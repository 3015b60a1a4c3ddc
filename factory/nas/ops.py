"""The candidate operations of a cell edge (DARTS, Liu et al. 2019), all ``C`` → ``C`` channels.

Every op is pre-activation (ReLU first) and ends in BatchNorm where it has weights, as in DARTS. ``stride``
is 2 on the edges of a reduction cell that leave the cell's inputs, else 1. ``none`` outputs zeros (it lets
the search switch an edge off; a derived architecture never keeps it). ``skip`` is the identity, or a
factorized 1×1 reduction when the stride is 2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

OP_NAMES = ("sep_conv_3x3", "sep_conv_5x5", "conv_3x3", "max_pool_3x3", "avg_pool_3x3", "skip", "none")
NONE = "none"


class ReLUConvBN(nn.Sequential):
    """ReLU → k×k conv → BN (the preprocessing of cell inputs uses k = 1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class SepConv(nn.Sequential):
    """Depthwise-separable conv applied twice (DARTS ``sep_conv``): (ReLU, dw k×k, pw 1×1, BN) × 2."""

    def __init__(self, c: int, kernel: int, stride: int) -> None:
        pad = kernel // 2
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, stride, pad, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c),
                         nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, 1, pad, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1×1 stride-2 convs on offset grids, concatenated (DARTS)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv1(x), self.conv2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::self.stride, ::self.stride] * 0.0


OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "sep_conv_3x3": lambda c, s: SepConv(c, 3, s),
    "sep_conv_5x5": lambda c, s: SepConv(c, 5, s),
    "conv_3x3": lambda c, s: ReLUConvBN(c, c, 3, s),
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, s, 1),
    "avg_pool_3x3": lambda c, s: nn.AvgPool2d(3, s, 1, count_include_pad=False),
    "skip": lambda c, s: nn.Identity() if s == 1 else FactorizedReduce(c, c),
    "none": lambda c, s: Zero(s),
}


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    """The candidate op ``name`` on ``channels`` channels with ``stride`` (1 or 2)."""
    return OPS[name](channels, stride)


class Stem(nn.Sequential):
    """Stride-4 stem: conv 3×3/2 → BN → ReLU → conv 3×3/2 → BN, 3 → ``channels``."""

    def __init__(self, channels: int) -> None:
        half = max(channels // 2, 8)
        super().__init__(nn.Conv2d(3, half, 3, 2, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=False),
                         nn.Conv2d(half, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels))


def preprocess(c_in: int, c_out: int, reduce: bool) -> nn.Module:
    """Bring a cell input to ``c_out`` channels (and half resolution when ``reduce``)."""
    return FactorizedReduce(c_in, c_out) if reduce else ReLUConvBN(c_in, c_out, 1, 1)
