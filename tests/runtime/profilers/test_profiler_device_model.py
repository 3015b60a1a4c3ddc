"""Device profiler (latency table, cost window), model profiler (accuracy) and the instance they build."""

from __future__ import annotations

import pytest

from runtime.errors import UserError
from runtime.profilers import DeviceProfiler, DeviceProfilerConfig, ModelProfiler, NetworkProfiler, build_instance
from runtime.scheduler import Patch, compile_problem, markov

PROFILES = {
    "jetson-xavier-nx": {"nx-320-fp16": {"latency_ms": 9.0, "memory_mb": 120.0, "accuracy": 0.71},
                         "nx-480-fp16": {"latency_ms": 21.0, "memory_mb": 180.0, "accuracy": 0.80}},
    "raspberry-pi-4b": {"rpi4b-240-int8": {"latency_ms": 48.0, "memory_mb": 60.0, "accuracy": 0.62}},
}


def test_cost_is_fraction_over_window() -> None:
    profiler = DeviceProfiler.from_profiles(PROFILES, "jetson-xavier-nx", DeviceProfilerConfig(window_s=60.0))
    assert profiler.cost(now=0.0) == 0.0  # nothing seen yet: idle cost
    for t in range(30):  # 0..29 s: every frame needs inference
        profiler.record_frame(True, float(t))
    for t in range(30, 60):  # 30..59 s: none does
        profiler.record_frame(False, float(t))
    assert profiler.cost(now=59.0) == pytest.approx(0.5)
    assert profiler.cost(now=75.0) == pytest.approx(14 / 44)  # window (15, 75]: frames 16..59, 14 needing
    assert profiler.cost(now=89.5) == 0.0
    assert profiler.cost(now=200.0) == 0.0  # window empty again
    state = profiler.state(now=200.0)
    assert state.latency_ms == {"nx-320-fp16": 9.0, "nx-480-fp16": 21.0}


def test_bad_profiles_name_the_key() -> None:
    with pytest.raises(UserError, match=r"profiles\.phone: no profile"):
        DeviceProfiler.from_profiles(PROFILES, "phone")
    with pytest.raises(UserError, match=r"profiles\.d\.m\.latency_ms: required key is missing"):
        DeviceProfiler.from_profiles({"d": {"m": {"accuracy": 0.5}}}, "d")
    with pytest.raises(UserError, match=r"profiles\.d: lists no models"):
        DeviceProfiler.from_profiles({"d": {}}, "d")
    with pytest.raises(UserError, match=r"profiles\.d\.m\.accuracy: nan must be a number in \[0, 1\]"):
        ModelProfiler.from_profiles({"d": {"m": {"latency_ms": 1.0, "accuracy": float("nan")}}})


def test_states_build_a_schedulable_instance() -> None:
    devices = {name: DeviceProfiler.from_profiles(PROFILES, name) for name in PROFILES}
    for t in range(10):
        devices["raspberry-pi-4b"].record_frame(t % 2 == 0, float(t))
    models = ModelProfiler.from_profiles(PROFILES)
    assert models.accuracy("raspberry-pi-4b", "rpi4b-240-int8") == 0.62
    network = NetworkProfiler(list(PROFILES), {"jetson-xavier-nx": 2e7, "raspberry-pi-4b": 1e7}.get)
    network.tick(now=0.0)
    patches = [Patch(bytes=20_000, confidence=1.0), Patch(bytes=50_000, confidence=0.5)]
    instance = build_instance(patches, network.bandwidths(), {n: p.state(now=10.0) for n, p in devices.items()},
                              models, slo_ms=80.0, gamma=0.2)
    assert [d.name for d in instance.devices] == ["jetson-xavier-nx", "raspberry-pi-4b"]
    assert instance.devices[1].cost == pytest.approx(0.5)
    assert instance.devices[0].models[1].accuracy == 0.80
    result = markov(compile_problem(instance), 0)
    assert result.feasible and len(result.choice) == 2
    with pytest.raises(UserError, match="no device has both"):
        build_instance(patches, {}, {}, models, slo_ms=80.0, gamma=0.2)
