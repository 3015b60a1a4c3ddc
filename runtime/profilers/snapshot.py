"""Profiler states + patch metadata → a scheduler :class:`~runtime.scheduler.Instance` (what the master
scheduler solves for one frame).

A device enters the instance when the network profiler has a bandwidth for it (it is among the n best) and
the device profiler has reported its state; its models are those with both a latency and an accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runtime.errors import UserError
from runtime.profilers.device import DeviceState
from runtime.profilers.model import ModelProfiler
from runtime.scheduler.problem import Device, Instance, Model, Patch


def build_instance(patches: Sequence[Patch], bandwidths: Mapping[str, float],
                   devices: Mapping[str, DeviceState], models: ModelProfiler, slo_ms: float,
                   gamma: float) -> Instance:
    """The instance for one frame: ``patches`` (bytes, confidence), ``bandwidths`` device → B/s (network
    profiler), ``devices`` device → state (device profilers), accuracies from ``models``; T_SLO in ms."""
    chosen = []
    for name, bandwidth in bandwidths.items():
        state = devices.get(name)
        if state is None or bandwidth <= 0:
            continue
        served = []
        for model, latency in state.latency_ms.items():
            accuracy = models.accuracy(name, model)
            if accuracy is not None:
                served.append(Model(name=model, latency_ms=latency, accuracy=accuracy))
        if served:
            chosen.append(Device(name=name, bandwidth_Bps=float(bandwidth), models=served, cost=state.cost))
    if not chosen:
        raise UserError("scheduler: no device has both a measured bandwidth and a profiled model")
    instance = Instance(slo_ms=float(slo_ms), gamma=float(gamma), patches=list(patches), devices=chosen)
    instance.validate("instance")
    for i, device in enumerate(chosen):
        device.validate(f"instance.devices[{i}]")
    return instance
