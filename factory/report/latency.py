"""Device latencies for the report, from the bundle's profiles (CONVENTIONS: measured ``host``, emulated rest).

Per patch, a model costs its device profile row's ``latency_ms`` (the paper's "averaged inference latency on
the patch basis"): the ``host`` row is measured by the profile stage; the others are estimates (host × FLOPS
ratio) and are labelled "emulated (estimated from host)". The baseline is exported at several input sides,
each a model with its own profile row; a side the bundle has no baseline model for runs the largest one
letterboxed to it (the network is fully convolutional) and costs its profile row scaled by the ratio of this
host's measured latencies at the two sides (:func:`measure_host`, median of ``runs``, same process and threads).

A device serves the models its profile lists (``profiles[device].models``): one mini detector per input side
and the baseline at each exported side. ``precision`` other than ``device`` runs another precision variant of
the same model for the accuracy (latency still from the served row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.atomic import write_json
from runtime.errors import UserError
from runtime.manifest import Manifest

EMULATED = "emulated (estimated from host)"
MEASURED = "measured"


@dataclass
class DeviceModels:
    """What one device serves: ``mini`` side → model (latency rows), ``run_mini`` side → model run for the
    accuracy, the same for the baseline (``baselines``, ``run_baselines``; ``baseline`` / ``run_baseline`` = the
    largest side's); ``basis`` is :data:`MEASURED` or :data:`EMULATED`."""

    device: str
    basis: str
    source: str
    mini: dict[int, str] = field(default_factory=dict)
    run_mini: dict[int, str] = field(default_factory=dict)
    baseline: str | None = None
    run_baseline: str | None = None
    baselines: dict[int, str] = field(default_factory=dict)
    run_baselines: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def baseline_at(self, side: int) -> tuple[str, str]:
        """(latency model, run model) of the baseline at ``side``: the model exported at that side, else the
        largest one (letterboxed to ``side``)."""
        if side in self.baselines:
            return self.baselines[side], self.run_baselines[side]
        if self.baseline is None or self.run_baseline is None:
            raise UserError(f"bundle: {self.device} serves no baseline model")
        return self.baseline, self.run_baseline


def device_models(manifest: Manifest, device: str, precision: str = "device") -> DeviceModels | None:
    """The models ``device`` serves (None when the bundle has no profile for it)."""
    profile = manifest.profile(device)
    if profile is None:
        return None
    basis = EMULATED if profile.estimated else MEASURED
    out = DeviceModels(device, basis, profile.source)
    for name in profile.models:
        spec = manifest.models[name]
        if spec.task != "detection":  # the keypoint models' rows sit beside (their own section of the report)
            continue
        run = name
        if precision != "device":
            run = manifest.variant(name, precision) or name
            if run == name and spec.precision != precision:
                out.notes.append(f"{name}: no {precision} variant in the bundle, ran the served one")
        if spec.kind == "baseline":  # a side listed in several precisions: the last one (profile order)
            out.baselines[spec.input_size], out.run_baselines[spec.input_size] = name, run
        else:
            size = spec.input_size
            if size not in out.mini:  # the device's own backbone comes first in the profile when it has one
                out.mini[size], out.run_mini[size] = name, run
    if out.baselines:
        out.baseline, out.run_baseline = out.baseline_at(max(out.baselines))
    return out


def measure_host(make: Callable[[str, int], Any], items: Sequence[tuple[str, int]], runs: int, cache: Path,
                 checksum: str, log: Callable[[str], None] = lambda _m: None) -> dict[str, float]:
    """This host's median latency (ms) of each (model, side), keyed ``model@side``; cached per bundle.

    ``make(model, side)`` builds the detector. Timing: a mid-grey square of the input side, 2 warm-up runs,
    then ``runs`` rounds that time every item once in turn — interleaved, so that load from other jobs on a
    shared machine falls on all sides alike and their ratios hold.
    """
    import numpy as np

    from runtime.timing import Stopwatch

    path = cache / f"host-latency-{checksum[:16]}.json"
    done: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    missing = [(m, s) for m, s in dict.fromkeys(items) if f"{m}@{s}" not in done]
    dets = {(m, s): make(m, s) for m, s in missing}
    images = {k: np.full((k[1], k[1], 3), 127, dtype=np.uint8) for k in missing}
    times: dict[tuple[str, int], list[float]] = {k: [] for k in missing}
    for i in range(runs + 2):
        for k in missing:
            with Stopwatch() as watch:
                dets[k](images[k])
            if i >= 2:
                times[k].append(watch.ms)
    for (model, side), ts in times.items():
        done[f"{model}@{side}"] = round(float(np.median(ts)), 3)
        log(f"host latency {model}@{side}: {done[f'{model}@{side}']:.2f} ms")
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        write_json(path, done)
    return done


class LatencyTable:
    """Per-patch device latency (ms) of (model, side) and device/host ratios, from profiles + host timings."""

    def __init__(self, manifest: Manifest, host_ms: Mapping[str, float]) -> None:
        self.manifest = manifest
        self.host_ms = dict(host_ms)

    def native(self, model: str) -> int:
        """The model's exported input side (px)."""
        return self.manifest.models[model].input_size

    def profiled(self, device: str, model: str) -> float:
        """t of ``model`` in ``device``'s profile (ms); a model the profile does not list is an error."""
        t = self.manifest.latency_ms(device, model)
        if t is None:
            raise UserError(f"bundle: the profile of {device} has no row for {model}")
        return t

    def per_patch(self, device: str, model: str, side: int) -> float:
        """Latency (ms) of one inference of ``model`` at ``side`` on ``device`` (see the module docstring)."""
        base = self.profiled(device, model)
        native = self.native(model)
        if side == native:
            return base
        return base * self.host_ms[f"{model}@{side}"] / self.host_ms[f"{model}@{native}"]

    def ratio(self, device: str, model: str) -> float:
        """Device latency / host latency of ``model`` (scales host-measured per-patch times to the device)."""
        dev = self.profiled(device, model)
        host = self.manifest.latency_ms("host", model)
        host = host if host is not None else self.host_ms[f"{model}@{self.native(model)}"]
        return dev / host if host > 0 else 1.0
