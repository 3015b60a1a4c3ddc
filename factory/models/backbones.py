"""The backbone protocol and registry: ``create_backbone(name, **kw)`` is the one way to build a backbone.

A backbone is a plain ``nn.Module`` whose ``forward(x)`` returns ``[C3, C4, C5]``, the feature maps at
strides 8, 16 and 32, and which exposes ``out_channels`` (their channel counts), ``size_multiple`` (input
sides it accepts must be multiples of it) and ``identity`` (a JSON-able description that a checkpoint
records, so that weights of another architecture are refused by name).

Registered names:

- ``searched:<device>`` — the architecture the context-aware search found for ``<device>``
  (``<search_dir>/<device>/arch.json``, built by :mod:`factory.nas.derive`);
- ``standin`` — a tiny plain CNN, the stand-in for tests and for when no search result exists;
- ``resnet-lite`` — the conventional residual backbone of the full-frame baseline detector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from factory import paths
from factory.models.blocks import BasicBlock, ConvBNAct, DWSep
from runtime.errors import UserError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
SEARCHED = "searched:"


def register_backbone(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a backbone factory under ``name``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = fn
        return fn

    return wrap


def list_backbones() -> list[str]:
    """The registered built-in names (``searched:<device>`` comes on top, one per searched device)."""
    return sorted(_REGISTRY)


def create_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` (see the module docstring); unknown names are a one-line error."""
    if name.startswith(SEARCHED):
        return searched_backbone(name[len(SEARCHED):], **kwargs)
    if name not in _REGISTRY:
        raise UserError(f"backbone {name!r}: unknown (known: {', '.join(list_backbones())}, searched:<device>)")
    return _REGISTRY[name](**kwargs)


def _finish(module: nn.Module, name: str, out_channels: list[int], size_multiple: int, **identity: Any) -> nn.Module:
    module.out_channels = list(out_channels)  # type: ignore[assignment]
    module.size_multiple = int(size_multiple)  # type: ignore[assignment]
    module.identity = {"name": name, **identity}  # type: ignore[assignment]
    return module


class _Stages(nn.Module):
    """``stem`` then ``stages``; returns the outputs of the last three stages (strides 8, 16, 32)."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module]) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs[-3:]


@register_backbone("standin")
def standin(width: int = 16) -> nn.Module:
    """A tiny plain CNN (stride-4 stem, depthwise-separable stages) — the test stand-in."""
    w = int(width)
    stem = nn.Sequential(ConvBNAct(3, w, 3, 2), ConvBNAct(w, w * 3 // 2, 3, 2))
    stages = [DWSep(w * 3 // 2, 2 * w, 3, 2),
              nn.Sequential(DWSep(2 * w, 4 * w, 3, 2), DWSep(4 * w, 4 * w)),
              nn.Sequential(DWSep(4 * w, 8 * w, 3, 2), DWSep(8 * w, 8 * w))]
    return _finish(_Stages(stem, stages), "standin", [2 * w, 4 * w, 8 * w], 32, width=w)


@register_backbone("resnet-lite")
def resnet_lite(width: int = 32, blocks: tuple[int, ...] | list[int] = (0, 1, 1, 1)) -> nn.Module:
    """A conventional residual backbone (3×3 convs, basic blocks): a stride-2 stem, then stages at strides
    4, 8, 16, 32 of widths ``width`` × (1, 2, 4, 6), each a stride-2 conv and ``blocks`` basic blocks."""
    w = int(width)
    widths = [w, 2 * w, 4 * w, 6 * w]
    stem = ConvBNAct(3, w // 2, 3, 2)
    stages, c_in = [], w // 2
    for c, n in zip(widths, blocks, strict=False):
        stages.append(nn.Sequential(ConvBNAct(c_in, c, 3, 2), *[BasicBlock(c) for _ in range(int(n))]))
        c_in = c
    return _finish(_Stages(stem, stages), "resnet-lite", widths[1:], 32, width=w, blocks=list(blocks))


class SearchedBackbone(nn.Module):
    """Adapter around the plain backbone that :mod:`factory.nas.derive` builds from an ``arch.json``."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))


def arch_file(device: str, search_dir: str | Path = paths.SEARCH_DIR) -> Path:
    """Where the search stage writes the architecture of ``device``."""
    return Path(search_dir) / device / "arch.json"


def searched_backbone(device: str, search_dir: str | Path = paths.SEARCH_DIR) -> nn.Module:
    """The backbone searched for ``device``, built from ``<search_dir>/<device>/arch.json``."""
    path = arch_file(device, search_dir)
    if not path.is_file():
        raise UserError(f"{path}: no searched architecture for device {device!r} (run the search stage first)")
    try:
        from factory.nas import derive
    except ImportError as exc:
        raise UserError(f"searched:{device}: factory.nas.derive is not available ({exc})") from None
    arch = derive.load_arch(path)
    body = derive.build_backbone(arch)
    core = {k: arch[k] for k in ("space", "genotype") if k in arch}
    digest = hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]
    channels = list(getattr(body, "out_channels", None) or body.feature_channels)
    return _finish(SearchedBackbone(body), f"{SEARCHED}{device}", channels, 32, arch_sha=digest)
