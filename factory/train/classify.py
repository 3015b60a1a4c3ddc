"""Backbone pretraining as an image classifier on an ImageNet-style class-folder tree (paper §III-B3):
timm's augmentation (``create_transform``), a pooled linear head on the stride-32 feature, best weights by
validation accuracy."""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm)

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from timm.data import create_transform
from torch import nn

from factory.data.imagenet import ImageFolder


class BackboneClassifier(nn.Module):
    """``backbone`` → global average pool of its last feature → linear ``num_classes`` logits."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)[-1].mean(dim=(2, 3)))


class _Pil:
    """Adapter: numpy RGB → PIL → a timm/torchvision transform."""

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return self.transform(Image.fromarray(image))


def folder(root: str, size: int, train: bool, mean: Sequence[float], std: Sequence[float],
           auto_augment: str | None = None) -> ImageFolder:
    """An ImageFolder with timm's train or eval transform at ``size`` (``mean``/``std`` in 0–255 units)."""
    m = tuple(v / 255.0 for v in mean)
    s = tuple(v / 255.0 for v in std)
    if train:
        tf = create_transform(size, is_training=True, scale=(0.6, 1.0), color_jitter=0.3, auto_augment=auto_augment,
                              mean=m, std=s)
    else:
        tf = create_transform(size, is_training=False, crop_pct=1.0, mean=m, std=s)
    return ImageFolder(root, _Pil(tf))
