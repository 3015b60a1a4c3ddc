"""MACs, parameter counts and torch CPU latency of a model at a given input size."""

from __future__ import annotations

import statistics

import torch
from torch import nn

from runtime.timing import Stopwatch


def count_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass on a 1×3×``height``×``width`` input (convolutions and linear
    layers; BN, activations and pooling are not counted)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() // output.shape[0] * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() // output.shape[0] * module.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, height, width))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return int(total)


def count_params(model: nn.Module) -> int:
    """Number of parameters."""
    return int(sum(p.numel() for p in model.parameters()))


def cpu_latency_ms(model: nn.Module, height: int, width: int, runs: int = 20, warmup: int = 3,
                   threads: int = 1) -> float:
    """Median wall time (ms) of one forward pass on CPU with ``threads`` intra-op threads (restored after)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, height, width)
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + runs):
                with Stopwatch() as watch:
                    model(x)
                if i >= warmup:
                    times.append(watch.ms)
    finally:
        torch.set_num_threads(previous)
        model.train(was_training)
    return float(statistics.median(times))
