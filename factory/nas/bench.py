"""Benchmark derived backbones with ncnn: export through pnnx, time on this machine.

Run: ``python -m factory.nas.bench models/search --size 32 --size 160 [--runs 50] [--threads 1]`` — for
every ``<dir>/<name>/arch.json`` it builds the backbone (random weights: latency does not depend on them),
exports it with pnnx (fp32) at each input size, times ``ncnn`` inference (median and p90 of ``runs`` after a
warm-up, ``threads`` threads) and prints one JSON line per (backbone, size) with MACs and latency in ms.
Needs pnnx and ncnn (the factory's CPU side, not the GPU machine).
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401

import argparse
import json
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from factory.nas.cost import count_macs
from factory.nas.derive import build_backbone, load_arch
from runtime.errors import UserError, cli_entry, run_cli
from runtime.timing import Stopwatch


def export_ncnn(model: torch.nn.Module, size: int, folder: Path) -> tuple[Path, Path]:
    """pnnx export of ``model`` at ``1×3×size×size`` (fp32) → ``(param, bin)`` paths."""
    import pnnx

    model.eval()
    x = torch.rand(1, 3, size, size)
    target = folder / f"m{size}.pt"
    pnnx.export(model, str(target), (x,), fp16=False)
    return folder / f"m{size}.ncnn.param", folder / f"m{size}.ncnn.bin"


def time_ncnn(param: Path, weights: Path, size: int, runs: int, threads: int) -> list[float]:
    """Latencies (ms) of ``runs`` ncnn inferences on a random ``3×size×size`` input, all outputs extracted."""
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_fp16_packed = False
    net.opt.use_vulkan_compute = False
    if net.load_param(str(param)) or net.load_model(str(weights)):
        raise UserError(f"{param}: ncnn cannot load the exported model")
    outputs = [name for name in net.output_names()]
    data = ncnn.Mat(np.random.rand(3, size, size).astype(np.float32))
    times = []
    for i in range(runs + 5):
        with Stopwatch() as watch:
            ex = net.create_extractor()
            ex.input(net.input_names()[0], data)
            for name in outputs:
                ex.extract(name)
        if i >= 5:
            times.append(watch.ms)
    return times


def bench(arch_path: Path, sizes: Sequence[int], runs: int, threads: int) -> list[dict]:
    """One record per input size: MACs and ncnn latency of the backbone in ``arch_path``."""
    model = build_backbone(load_arch(arch_path))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            param, weights = export_ncnn(model, size, Path(tmp))
            times = time_ncnn(param, weights, size, runs, threads)
            out.append({"backbone": arch_path.parent.name, "size": size,
                        "macs": count_macs(model, torch.zeros(1, 3, size, size)),
                        "ncnn_ms_median": statistics.median(times),
                        "ncnn_ms_p90": float(np.percentile(times, 90)), "runs": runs, "threads": threads})
    return out


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder with <name>/arch.json (e.g. models/search)")
    parser.add_argument("--size", type=int, action="append", help="input side (px), repeatable; default 32")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    archs = sorted(args.root.glob("*/arch.json"))
    if not archs:
        raise UserError(f"{args.root}: no <name>/arch.json")
    torch.set_num_threads(1)
    for path in archs:
        for record in bench(path, args.size or [32], args.runs, args.threads):
            print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
