"""Keypoint predictions on a crop-set split, their OKS AP, and host latency.

Each crop is letterboxed into the model input (no augmentation), the heatmaps are decoded
(:func:`runtime.keypoints.decode_heatmaps`) and mapped back to crop pixels; a person's score is the mean peak
height. The person box is the ground truth's (the paper's single-person setting: one person per input).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from factory.data.keypointset import KeypointSet
from factory.keypoints.data import HeatmapDataset, apply_affine, invert_affine, to_tensor
from factory.keypoints.model import KeypointNet
from runtime.keypoint_ap import keypoint_ap, keypoint_results
from runtime.keypoints import decode_heatmaps


@torch.no_grad()
def predict(model: KeypointNet, crops: KeypointSet, batch_size: int = 64, limit: int | None = None
            ) -> dict[int, list[tuple[np.ndarray, float]]]:
    """Image id → ``[((13, 3) [x, y, peak] crop px, score)]`` for the first ``limit`` crops (all if None)."""
    model.eval()
    spec = model.spec
    data = HeatmapDataset(crops, spec, train=False)
    n = len(crops) if limit is None else min(limit, len(crops))
    out: dict[int, list[tuple[np.ndarray, float]]] = {}
    for start in range(0, n, batch_size):
        idx = list(range(start, min(start + batch_size, n)))
        samples = [data.sample(i) for i in idx]
        x = torch.stack([to_tensor(img, spec) for img, _, _ in samples])
        maps = model(x).float().cpu().numpy()
        for i, (_, _, m), hm in zip(idx, samples, maps, strict=True):
            pts = decode_heatmaps(hm, spec["stride"])
            pts[:, :2] = apply_affine(invert_affine(m), pts[:, :2])
            out[crops.images[i]["id"]] = [(pts, float(pts[:, 2].mean()))]
    return out


def evaluate_ap(model: KeypointNet, crops: KeypointSet, limit: int | None = None) -> dict[str, float]:
    """OKS AP / AP50 / AP75 of ``model`` on ``crops`` (the first ``limit`` crops, all if None)."""
    preds = predict(model, crops, limit=limit)
    truth: dict[str, Any] = dict(crops.data)
    if limit is not None:
        keep = set(preds)
        truth["images"] = [im for im in truth["images"] if im["id"] in keep]
        truth["annotations"] = [a for a in truth["annotations"] if a["image_id"] in keep]
    return keypoint_ap(truth, keypoint_results(preds))


@torch.no_grad()
def latency_ms(model: torch.nn.Module, input_hw: tuple[int, int], runs: int = 20, threads: int = 1) -> float:
    """Median wall time (ms) of one forward pass of a 1×3×H×W input on this host's CPU with ``threads``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.eval()
        x = torch.randn(1, 3, *input_hw)
        for _ in range(3):
            model(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000.0)
        return float(np.median(times))
    finally:
        torch.set_num_threads(previous)


def macs(model: torch.nn.Module, input_hw: tuple[int, int]) -> float:
    """Multiply-accumulates of one forward pass (conv, transposed conv and linear layers), in millions."""
    total = 0.0

    def hook(module: torch.nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += float(out.numel() * k)
        elif isinstance(module, torch.nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
            total += float(_inp[0].numel() * k)
        elif isinstance(module, torch.nn.Linear):
            total += float(out.numel() * module.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, *input_hw))
    finally:
        for h in handles:
            h.remove()
    return total / 1e6
