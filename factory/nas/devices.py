"""Target devices of the search (names: docs/CONVENTIONS.md) and their FLOPS, with where each figure comes from.

The three edge devices' figures are reference values, not measurements of ours; ``host`` is the machine the
stage runs on, measured at stage start by :func:`measure_host_flops`. FLOPS here means FP32 floating-point
operations per second (a multiply-accumulate is 2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from runtime.errors import UserError

HOST = "host"


@dataclass(frozen=True)
class Device:
    """A target device: its name, FLOPS (FLOP/s) and the source of that figure."""

    name: str
    flops: float
    source: str


REFERENCE: dict[str, Device] = {d.name: d for d in (
    Device("jetson-xavier-nx", 8.45e11,
           "NVIDIA Jetson Xavier NX datasheet: 384-core Volta GPU at 1100 MHz; FP32 peak = 384 x 2 x 1.1e9"),
    Device("raspberry-pi-4b", 1.35e10,
           "HPL (LINPACK) figure commonly reported for the Pi 4B, 4x Cortex-A72 at 1.5 GHz (about 13.5 GFLOPS)"),
    Device("snapdragon-732g", 1.6e11,
           "estimate, CPU FP32 NEON peak: 2x Kryo 470 Gold (A76) 2.3 GHz x 16 + 6x Silver (A55) 1.8 GHz x 8 "
           "FLOP/cycle"),
)}
KNOWN = (*REFERENCE, HOST)


def measure_host_flops(seconds: float = 0.3, threads: int = 1) -> float:
    """This machine's FP32 FLOPS on ``threads`` threads: the mean of a 512² matmul and a 64-channel 3×3 conv
    (8×64×32×32), each timed for about ``seconds``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(512, 512), torch.randn(512, 512)
        x = torch.randn(8, 64, 32, 32)
        conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
        rates = []
        with torch.no_grad():
            for fn, flop in ((lambda: a @ b, 2 * 512 ** 3), (lambda: conv(x), 2 * 8 * 64 * 64 * 9 * 32 * 32)):
                fn()
                fn()
                count, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    fn()
                    count += 1
                rates.append(flop * count / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(previous)
    return sum(rates) / len(rates)


def resolve(name: str, flops: float | None, source: str | None, where: str,
            host_flops: float | None = None) -> Device:
    """The device ``name`` with ``flops`` (or its reference / measured figure when None).

    An unknown name or FLOPS ≤ 0 is a :class:`UserError` naming ``where`` and the device.
    """
    if name not in KNOWN:
        raise UserError(f"{where}: unknown device {name!r} (known: {', '.join(KNOWN)})")
    if flops is not None:
        if not flops > 0:
            raise UserError(f"{where}: device {name!r}: FLOPS must be > 0, got {flops!r}")
        return Device(name, float(flops), source or "params")
    if name == HOST:
        measured = host_flops if host_flops is not None else measure_host_flops()
        return Device(name, measured, source or "measured at stage start (1-thread matmul/conv micro-benchmark)")
    ref = REFERENCE[name]
    return Device(name, ref.flops, source or ref.source)
