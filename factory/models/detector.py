"""Detectors = backbone + neck + anchor-free head(s), built from a JSON-able spec; checkpoints that know
their architecture.

- ``mini``: a (searched) backbone, :class:`SingleScaleNeck`, one light head at stride 16 — for single-object
  patches at a reduced square input (paper §III-B3), few proposals.
- ``baseline``: the conventional full-frame detector — ``resnet-lite`` backbone, :class:`FPN`, one head per
  level at strides 8, 16, 32; any input whose sides are multiples of 32.

``forward(x)`` gives the deployed outputs (one ``(N, C + 4, H, W)`` tensor per stride, the layout
:mod:`runtime.decode` reads); ``forward_train(x)`` gives class logits and distances for the loss. Input:
RGB, ``(pixel − mean) / std`` with the spec's ``mean``/``std`` (0–255 scale).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from factory.models.backbones import create_backbone
from factory.models.head import Head
from factory.models.neck import FPN, SingleScaleNeck
from runtime.atomic import atomic_path
from runtime.errors import UserError

CHECKPOINT_FORMAT = "paraloupe-detector/1"
BACKBONE_FORMAT = "paraloupe-backbone/1"

DEFAULT_DECODE = {"score_threshold": 0.3, "top_k": 100, "nms_iou": 0.6, "max_detections": 100}
MEAN = [127.5, 127.5, 127.5]
STD = [127.5, 127.5, 127.5]


def spec_colour(spec: dict[str, Any]) -> str:
    """The channel order (``rgb`` | ``bgr``) a detector spec's network takes: its ``color`` (``colour`` read too),
    rgb when absent — what the ncnn manifest entry says and what the torch inference steps feed."""
    return str(spec.get("colour", spec.get("color", "rgb")))


def mini_spec(backbone: str, classes: list[str], input_size: int, neck_width: int = 64, head_width: int = 64,
              head_depth: int = 2, backbone_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The spec of a mini detector (single-object patches, square ``input_size`` px, stride 16). Its decoding
    keeps top-k 10 and 5 detections; the finetune stage replaces both with ``finetune.mini.top_k`` and
    ``max_detections``."""
    return {"kind": "mini", "backbone": backbone, "backbone_kwargs": dict(backbone_kwargs or {}),
            "classes": list(classes), "input_size": int(input_size), "strides": [16], "neck_width": neck_width,
            "head_width": head_width, "head_depth": head_depth, "level_bounds": [],
            "mean": MEAN, "std": STD, "color": "rgb",
            "decode": {"score_threshold": 0.3, "top_k": 10, "nms_iou": 0.6, "max_detections": 5}}


def baseline_spec(classes: list[str], width: int = 24, blocks: list[int] | None = None, fpn_width: int = 48,
                  head_depth: int = 2, level_bounds: list[float] | None = None) -> dict[str, Any]:
    """The spec of the full-frame baseline (FPN, strides 8–32); ``level_bounds`` split objects over the
    levels by their longer side in input pixels."""
    return {"kind": "baseline", "backbone": "resnet-lite",
            "backbone_kwargs": {"width": width, "blocks": list(blocks or [0, 1, 1, 1])},
            "classes": list(classes), "input_size": None, "strides": [8, 16, 32], "neck_width": fpn_width,
            "head_width": fpn_width, "head_depth": head_depth, "level_bounds": list(level_bounds or [64.0, 160.0]),
            "mean": MEAN, "std": STD, "color": "rgb", "decode": dict(DEFAULT_DECODE)}


class Detector(nn.Module):
    """A plain detector module (see the module docstring); ``spec`` is kept for checkpoints and export."""

    def __init__(self, spec: dict[str, Any], backbone: nn.Module, neck: nn.Module, heads: list[nn.Module]) -> None:
        super().__init__()
        self.spec = copy.deepcopy(spec)
        self.backbone = backbone
        self.neck = neck
        self.heads = nn.ModuleList(heads)
        self.strides = list(spec["strides"])
        self.num_classes = len(spec["classes"])
        self.size_multiple = max(self.strides)
        self.pad_multiple = int(getattr(backbone, "size_multiple", 32))

    def check_input(self, height: int, width: int) -> None:
        """A one-line error unless both input sides are positive multiples of the largest stride."""
        m = self.size_multiple
        if height <= 0 or width <= 0 or height % m or width % m:
            raise UserError(f"input size {width}x{height}: both sides must be multiples of {m} "
                            f"(the {self.spec['kind']} detector's stride)")

    def forward_train(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per stride: class logits (N, C, H/s, W/s) and distances in stride units (N, 4, H/s, W/s)."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.pad_multiple, (-w) % self.pad_multiple
        if ph or pw:  # e.g. 240 for a backbone that needs multiples of 32: pad, run, crop the outputs
            x = F.pad(x, (0, pw, 0, ph))
        outs = []
        for head, feat, s in zip(self.heads, self.neck(self.backbone(x)), self.strides, strict=False):
            cls, box = head(feat)
            if ph or pw:
                cls, box = cls[..., :h // s, :w // s], box[..., :h // s, :w // s]
            outs.append((cls, box))
        return outs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Deployed outputs: per stride ``cat(sigmoid(logits), distances)`` → (N, C + 4, H/s, W/s)."""
        return [torch.cat([cls.sigmoid(), box], dim=1) for cls, box in self.forward_train(x)]


def build_detector(spec: dict[str, Any]) -> Detector:
    """Build the detector a spec (:func:`mini_spec`, :func:`baseline_spec`) describes, weights random."""
    backbone = create_backbone(spec["backbone"], **spec.get("backbone_kwargs", {}))
    c = len(spec["classes"])
    if spec["kind"] == "mini":
        neck: nn.Module = SingleScaleNeck(backbone.out_channels, spec["neck_width"])
        heads = [Head(spec["neck_width"], c, spec["head_width"], spec["head_depth"], light=True)]
    elif spec["kind"] == "baseline":
        neck = FPN(backbone.out_channels, spec["neck_width"])
        heads = [Head(spec["neck_width"], c, spec["head_width"], spec["head_depth"], light=False)
                 for _ in spec["strides"]]
    else:
        raise UserError(f"detector kind {spec['kind']!r}: unknown (mini, baseline)")
    model = Detector(spec, backbone, neck, heads)
    if spec.get("input_size"):
        model.check_input(spec["input_size"], spec["input_size"])
    return model


def _load(path: str | Path, fmt: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise UserError(f"{path}: not a readable torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{path}: not a {fmt} checkpoint (found {found!r})")
    return data


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}" if unexpected
                  else f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, expected {tuple(own[wrong[0]].shape)}")
        raise UserError(f"{path}: weights do not fit {what} ({len(missing)} missing, {len(unexpected)} unexpected, "
                        f"{len(wrong)} mis-shaped; first: {detail})")
    module.load_state_dict(state)


def save_detector(path: str | Path, model: Detector, **extra: Any) -> Path:
    """Write ``model`` with its spec (and ``extra`` entries, e.g. metrics) to ``path`` (atomically)."""
    path = Path(path)
    data = {"format": CHECKPOINT_FORMAT, "spec": model.spec, "state_dict": model.state_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def load_detector(path: str | Path, expect: dict[str, Any] | None = None) -> Detector:
    """Rebuild the detector saved at ``path``, in eval mode. With ``expect`` (a spec), a checkpoint of another
    architecture (kind, backbone, classes, widths) is a one-line error naming both."""
    path = Path(path)
    data = _load(path, CHECKPOINT_FORMAT)
    spec = data["spec"]
    if expect is not None:
        keys = ("kind", "backbone", "backbone_kwargs", "classes", "neck_width", "head_width", "head_depth", "strides")
        diff = [k for k in keys if spec.get(k) != expect.get(k)]
        if diff:
            k = diff[0]
            raise UserError(f"{path}: checkpoint of another architecture ({k} = {spec.get(k)!r}, "
                            f"expected {expect.get(k)!r})")
    model = build_detector(spec)
    _load_state(model, data["state_dict"], path, f"detector {spec['kind']}/{spec['backbone']}")
    return model.eval()


def save_backbone(path: str | Path, backbone: nn.Module, **extra: Any) -> Path:
    """Write pretrained backbone weights with the backbone's identity to ``path`` (atomically)."""
    path = Path(path)
    data = {"format": BACKBONE_FORMAT, "identity": backbone.identity, "state_dict": backbone.state_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load pretrained weights into ``backbone``; weights of another architecture are a one-line error."""
    path = Path(path)
    data = _load(path, BACKBONE_FORMAT)
    if data["identity"] != backbone.identity:
        raise UserError(f"{path}: pretrained for backbone {data['identity']}, not {backbone.identity} "
                        f"(checkpoint of another architecture)")
    _load_state(backbone, data["state_dict"], path, f"backbone {backbone.identity.get('name')}")
    return data
