"""The single-object classification data of the search, held in memory as uint8 tensors.

Reads ImageNet-style class folders (``<root>/{train,val}/<class>/*.jpg``, the torchvision ``ImageFolder``
convention, via :class:`factory.data.imagenet.ImageFolder`), keeps at most ``max_per_class`` images per
class (a seeded sample, so a real ImageNet tree stays affordable) and resizes them to ``size`` × ``size``.
Normalisation (ImageNet mean/std) and flips happen on the batch, on whatever device it lives on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from factory.data.imagenet import ImageFolder
from runtime.errors import UserError

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass
class Split:
    """Images ``N×3×S×S`` uint8 (RGB) and their class indices ``N`` int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.numel())

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


@dataclass
class Dataset:
    """The train and val splits and the class names (sorted folder names)."""

    classes: list[str]
    train: Split
    val: Split


def load_split(root: Path, size: int, max_per_class: int, seed: int) -> tuple[list[str], Split]:
    """One class-folder tree as a :class:`Split`; fewer than two non-empty classes is a :class:`UserError`."""
    folder = ImageFolder(root)
    counts = folder.counts()
    present = [c for c, n in counts.items() if n > 0]
    if len(present) < 2:
        raise UserError(f"{root}: needs images of at least 2 classes, found {len(present)} "
                        f"({', '.join(f'{c}: {n}' for c, n in counts.items())})")
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, t in enumerate(folder.targets):
        by_class.setdefault(t, []).append(i)
    chosen = []
    for items in by_class.values():
        chosen.extend(rng.choice(items, size=min(len(items), max_per_class), replace=False).tolist())
    chosen.sort()
    images = np.empty((len(chosen), size, size, 3), np.uint8)
    for k, i in enumerate(chosen):
        image, _ = folder[i]
        if image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        images[k] = image
    labels = torch.tensor([folder.targets[i] for i in chosen], dtype=torch.int64)
    return folder.classes, Split(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels)


def load_dataset(root: str | Path, size: int, max_per_class: int, seed: int) -> Dataset:
    """``<root>/train`` and ``<root>/val``; their class lists must agree."""
    root = Path(root)
    classes, train = load_split(root / "train", size, max_per_class, seed)
    val_classes, val = load_split(root / "val", size, max_per_class, seed + 1)
    if val_classes != classes:
        raise UserError(f"{root}: train classes {classes} differ from val classes {val_classes}")
    return Dataset(classes, train, val)


def halves(split: Split, seed: int) -> tuple[Split, Split]:
    """Two disjoint random halves (DARTS: weights on one, architecture on the other, Eq. 2a/2b)."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    half = len(split) // 2
    return split.subset(order[:half]), split.subset(order[half:2 * half])


def loader(split: Split, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A single-process loader over an in-memory split (num_workers=0: see docs/STACK.md)."""
    return DataLoader(TensorDataset(split.images, split.labels), batch_size=batch_size, shuffle=shuffle,
                      num_workers=0, drop_last=shuffle and len(split) > batch_size,
                      generator=torch.Generator().manual_seed(seed) if shuffle else None)


def normalise(images: torch.Tensor, augment: bool = False) -> torch.Tensor:
    """uint8 ``N×3×H×W`` → float, ImageNet mean/std; ``augment`` mirrors a random half of the batch and
    shifts every image by up to 1/8 of its side (reflect padding)."""
    x = images.float().div_(255.0)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    if augment:
        n, _, h, w = x.shape
        mask = torch.rand(n, device=x.device) < 0.5
        x = torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
        pad = max(h // 8, 1)
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy, dx = torch.randint(0, 2 * pad + 1, (2, n)).tolist()
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    return x
