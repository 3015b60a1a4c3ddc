"""Keypoint models: heatmaps of the 13 body points (runtime.keypoints.BODY) at stride 4 of the input.

- **mini** (paper §IV-H's task-oriented mini models): a registered backbone — ``searched:<device>``, the
  architecture the context-aware search found for that device, or ``standin`` — whose [C3, C4, C5] features
  (strides 8, 16, 32) feed a light SimpleBaseline-style head: 1×1 laterals to ``head_width``, top-down
  nearest ×2 upsampling with sums to stride 8, one 4×4 transposed conv (×2, stride 4), a depthwise-separable
  3×3 and a 1×1 conv to the 13 maps.
- **baseline**: HRNet from timm (``features_only``, stage outputs, no pretrained weights — none can be
  downloaded here) whose stride-4 branch (it fuses all resolutions at the end of the last stage) goes through
  a 1×1 conv to the 13 maps — HRNet-pose's own head (Sun et al. 2019).

A model's ``spec`` (JSON) names everything needed to rebuild it; checkpoints store ``{"spec", "state_dict"}``.
Input: RGB float, (x / 255 − mean) / std with ImageNet's mean/std, NCHW, sides multiples of 32.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm)

from pathlib import Path
from typing import Any

import torch
from torch import nn

from factory.models.backbones import create_backbone
from factory.models.blocks import ConvBNAct, DWSep
from runtime.errors import UserError
from runtime.keypoints import BODY

STRIDE = 4
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def mini_spec(backbone: str, input_hw: tuple[int, int], head_width: int = 48,
              backbone_kwargs: dict[str, Any] | None = None, sigma: float = 1.5) -> dict[str, Any]:
    """The spec of a mini keypoint model (input ``(height, width)`` px; ``sigma`` = target Gaussian, map px)."""
    return {"kind": "mini", "backbone": backbone, "backbone_kwargs": dict(backbone_kwargs or {}),
            "input": [int(input_hw[0]), int(input_hw[1])], "head_width": int(head_width), "joints": len(BODY),
            "stride": STRIDE, "sigma": float(sigma), "mean": list(MEAN), "std": list(STD)}


def baseline_spec(variant: str, input_hw: tuple[int, int], sigma: float = 1.5) -> dict[str, Any]:
    """The spec of the HRNet baseline (timm ``variant``, e.g. ``hrnet_w18_small``)."""
    return {"kind": "baseline", "backbone": variant, "input": [int(input_hw[0]), int(input_hw[1])],
            "joints": len(BODY), "stride": STRIDE, "sigma": float(sigma), "mean": list(MEAN), "std": list(STD)}


class LightHead(nn.Module):
    """[C3, C4, C5] → ``joints`` heatmaps at stride 4 (see the module docstring)."""

    def __init__(self, in_channels: list[int], width: int, joints: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList([ConvBNAct(c, width, 1) for c in in_channels])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.deconv = nn.Sequential(nn.ConvTranspose2d(width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width),
                                    nn.ReLU(inplace=True))
        self.refine = DWSep(width, width)
        self.out = nn.Conv2d(width, joints, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        c3, c4, c5 = (lat(f) for lat, f in zip(self.lateral, feats, strict=True))
        x = self.up(self.up(c5) + c4) + c3
        return self.out(self.refine(self.deconv(x)))


class HRNetStride4(nn.Module):
    """timm's HRNet as a feature extractor returning its stride-4 branch only."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        import timm

        try:
            self.body = timm.create_model(variant, pretrained=False, features_only=True, feature_location="",
                                          out_indices=(1,))
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"baseline {variant!r}: timm cannot build it as an HRNet ({exc})") from None
        if self.body.feature_info.reduction()[0] != STRIDE:
            raise UserError(f"baseline {variant!r}: its second feature is not at stride 4")
        self.channels = int(self.body.feature_info.channels()[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[0]


class KeypointNet(nn.Module):
    """Backbone + head; ``forward(x)`` → (N, 13, H/4, W/4) heatmaps. ``spec`` as :func:`mini_spec` /
    :func:`baseline_spec`."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        if spec["kind"] == "mini":
            self.backbone = create_backbone(spec["backbone"], **spec.get("backbone_kwargs", {}))
            self.head: nn.Module = LightHead(list(self.backbone.out_channels), spec["head_width"], spec["joints"])
        elif spec["kind"] == "baseline":
            self.backbone = HRNetStride4(spec["backbone"])
            self.head = nn.Conv2d(self.backbone.channels, spec["joints"], 1)
        else:
            raise UserError(f"keypoint model kind {spec['kind']!r}: expected mini or baseline")
        h, w = spec["input"]
        if h % 32 or w % 32:
            raise UserError(f"keypoint model input {h}x{w}: sides must be multiples of 32")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def save_keypoint_model(path: str | Path, model: KeypointNet, **extra: Any) -> Path:
    """Write ``{"spec", "state_dict", **extra}`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"spec": model.spec, "state_dict": model.state_dict(), **extra}, path)
    return path


def load_keypoint_model(path: str | Path) -> KeypointNet:
    """Rebuild a model saved by :func:`save_keypoint_model` (eval mode)."""
    try:
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"{path}: cannot read keypoint checkpoint ({exc})") from None
    model = KeypointNet(ckpt["spec"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
