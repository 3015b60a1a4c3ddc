"""System state profilers (paper §III-D1): network (bandwidth b_i), device (latency t_i^j, cost c_i) and
model (accuracy α_i^j). Each is a small object whose current state the master scheduler reads;
:func:`build_instance` turns those states and a frame's patch metadata into a scheduler instance.
"""

from runtime.profilers.device import DeviceProfiler, DeviceProfilerConfig, DeviceState, ModelTiming
from runtime.profilers.model import ModelProfiler
from runtime.profilers.network import NetworkProfiler, NetworkProfilerConfig, ZmqProbe, serve_probes
from runtime.profilers.snapshot import build_instance

__all__ = ["DeviceProfiler", "DeviceProfilerConfig", "DeviceState", "ModelProfiler", "ModelTiming",
           "NetworkProfiler", "NetworkProfilerConfig", "ZmqProbe", "build_instance", "serve_probes"]
