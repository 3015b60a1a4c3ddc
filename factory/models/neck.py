"""Necks: the mini detector's single-scale fusion and the baseline's FPN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from factory.models.blocks import ConvBNAct, DWSep


class SingleScaleNeck(nn.Module):
    """Fuse C3, C4, C5 into one map at stride 16 (PAN-lite): C3 down by a stride-2 depthwise conv, C5 up
    ×2 (nearest), both added to C4's 1×1 projection, then a depthwise-separable 3×3."""

    def __init__(self, in_channels: list[int], width: int) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        self.down3 = DWSep(c3, width, 3, 2)
        self.lat4 = ConvBNAct(c4, width, 1)
        self.lat5 = ConvBNAct(c5, width, 1)
        self.fuse = DWSep(width, width)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        c3, c4, c5 = feats
        x = self.lat4(c4) + F.interpolate(self.lat5(c5), scale_factor=2.0, mode="nearest") + self.down3(c3)
        return [self.fuse(x)]


class FPN(nn.Module):
    """Feature pyramid (Lin et al. 2017): 1×1 laterals, top-down nearest upsampling, a 3×3 conv per level;
    outputs P3, P4, P5 (strides 8, 16, 32), ``width`` channels each."""

    def __init__(self, in_channels: list[int], width: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(ConvBNAct(c, width, 1) for c in in_channels)
        self.smooth = nn.ModuleList(ConvBNAct(width, width, 3) for _ in in_channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        lat = [layer(f) for layer, f in zip(self.lateral, feats, strict=False)]
        for i in range(len(lat) - 2, -1, -1):
            lat[i] = lat[i] + F.interpolate(lat[i + 1], scale_factor=2.0, mode="nearest")
        return [conv(x) for conv, x in zip(self.smooth, lat, strict=False)]
