"""The scheduling problem P (paper §III-D2, Eq. 4a–4d): instance model, validation, compiled arrays.

The instance format is CONVENTIONS.md's::

    {"slo_ms": T_SLO, "gamma": γ,
     "patches": [{"bytes": s_k, "confidence": y_k}],
     "devices": [{"name": .., "bandwidth_Bps": b_i, "cost": c_i,
                  "models": [{"name": .., "latency_ms": t, "accuracy": α, "cost": c (optional)}]}]}

Units: bytes, B/s, ms. A device's load is T_i = Σ (s_k / b_i · 1000 + t_i^j) in ms over the patches it
receives; the utility is U = (1/K) Σ y_k (α_i^j − γ c_i^j). A model's own ``cost`` overrides its device's.

:func:`compile_problem` flattens the (device, model) pairs into O "options" (device-major order) and
precomputes, per patch and option, the utility term ``u[k, o]`` and the load term ``w[k, o]`` (ms), so the
policies work on two K×O arrays. A :class:`Schedule` is one option index per patch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from runtime.config import bounded, from_mapping
from runtime.errors import UserError, read_text

#: Slack (ms) when comparing a load with T_SLO, so that float rounding never flips feasibility.
FEAS_TOL_MS = 1e-6


def _required(help: str, **bounds: float) -> Any:
    """A required dataclass field (no default) with a description and bounds for :func:`from_mapping`."""
    return dataclasses.field(metadata={"help": help, **bounds})


def _finite(where: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            raise UserError(f"{where}.{name}: must be finite")


@dataclasses.dataclass(frozen=True)
class Patch:
    """One patch to place: its JPEG size in bytes and its confidence level y_k."""

    bytes: float = _required("JPEG size s_k sent to the server, bytes", gt=0)
    confidence: float = _required("confidence level y_k (1.0 high, 0.5 low)", ge=0)

    def validate(self, where: str) -> None:
        _finite(where, bytes=self.bytes, confidence=self.confidence)


@dataclasses.dataclass(frozen=True)
class Model:
    """One model served by a device: latency t_i^j (ms), accuracy α_i^j, optional own cost c_i^j."""

    name: str = _required("model name (bundle manifest id)")
    latency_ms: float = _required("computation latency t_i^j, ms", ge=0)
    accuracy: float = _required("accuracy α_i^j (F1 on held-out data, 0-1)", ge=0, le=1)
    cost: float | None = bounded(None, "per-model cost c_i^j; overrides the device's cost", ge=0)

    def validate(self, where: str) -> None:
        _finite(where, latency_ms=self.latency_ms, cost=self.cost)


@dataclasses.dataclass(frozen=True)
class Device:
    """One candidate server device: bandwidth b_i from the client (B/s), cost c_i and its models."""

    name: str = _required("device name")
    bandwidth_Bps: float = _required("available bandwidth client → device, B/s", gt=0)
    models: list[Model] = _required("models this device serves")
    cost: float | None = bounded(None, "computational cost c_i (fraction of frames needing inference)", ge=0)

    def validate(self, where: str) -> None:
        _finite(where, bandwidth_Bps=self.bandwidth_Bps, cost=self.cost)
        if not self.models:
            raise UserError(f"{where}.models: must list at least one model")
        for j, model in enumerate(self.models):
            if model.cost is None and self.cost is None:
                raise UserError(f"{where}.cost: required key is missing (models[{j}] gives no cost either)")

    def model_cost(self, j: int) -> float:
        """c_i^j: the model's own cost if given, else the device's."""
        own = self.models[j].cost
        return float(own if own is not None else self.cost)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Instance:
    """One scheduling decision's input: the patches of a frame and the current cluster state."""

    slo_ms: float = _required("latency target T_SLO per device and frame, ms", gt=0)
    gamma: float = _required("trade-off γ between accuracy and cost", ge=0)
    patches: list[Patch] = _required("patches of the frame")
    devices: list[Device] = _required("candidate server devices")

    def validate(self, where: str) -> None:
        _finite(where, slo_ms=self.slo_ms, gamma=self.gamma)
        if not self.devices:
            raise UserError(f"{where}.devices: must list at least one device")
        seen: dict[str, int] = {}
        for i, device in enumerate(self.devices):
            if device.name in seen:
                raise UserError(f"{where}.devices[{i}].name: {device.name!r} repeats devices[{seen[device.name]}]")
            seen[device.name] = i


def parse_instance(data: Any, where: str = "instance") -> Instance:
    """Validate plain data (from JSON) into an :class:`Instance`; errors name the field, e.g.
    ``instance.devices[1].bandwidth_Bps: -5.0 must be > 0``."""
    if not isinstance(data, Mapping):
        raise UserError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return from_mapping(Instance, data, where)


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance JSON file; unreadable or invalid files are a one-line UserError."""
    path = Path(path)
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return parse_instance(data)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Problem:
    """Instance compiled to arrays. O options = (device, model) pairs, device-major.

    ``u[k, o]`` = y_k (α − γ c) (utility term, unitless), ``w[k, o]`` = s_k / b_i · 1000 + t (load term, ms).
    """

    u: np.ndarray  # (K, O) float64
    w: np.ndarray  # (K, O) float64, ms
    dev: np.ndarray  # (O,) int64, device index of each option
    model: np.ndarray  # (O,) int64, model index within its device
    slo_ms: float
    n_devices: int
    instance: Instance | None = None

    @property
    def n_patches(self) -> int:
        return int(self.u.shape[0])

    @property
    def n_options(self) -> int:
        return int(self.u.shape[1])


def compile_problem(instance: Instance) -> Problem:
    """Flatten an instance into the K×O utility and load arrays the policies use."""
    dev, model, base, lat, inv_bw = [], [], [], [], []
    for i, device in enumerate(instance.devices):
        for j, m in enumerate(device.models):
            dev.append(i)
            model.append(j)
            base.append(m.accuracy - instance.gamma * device.model_cost(j))
            lat.append(m.latency_ms)
            inv_bw.append(1000.0 / device.bandwidth_Bps)
    size = np.array([p.bytes for p in instance.patches], dtype=np.float64)
    conf = np.array([p.confidence for p in instance.patches], dtype=np.float64)
    u = conf[:, None] * np.asarray(base, dtype=np.float64)[None, :]
    w = size[:, None] * np.asarray(inv_bw)[None, :] + np.asarray(lat, dtype=np.float64)[None, :]
    return Problem(u=np.ascontiguousarray(u), w=np.ascontiguousarray(w), dev=np.asarray(dev, dtype=np.int64),
                   model=np.asarray(model, dtype=np.int64), slo_ms=float(instance.slo_ms),
                   n_devices=len(instance.devices), instance=instance)


def device_loads(problem: Problem, choice: np.ndarray) -> np.ndarray:
    """T_i per device (ms) for option indices ``choice`` (one per patch)."""
    k = np.arange(problem.n_patches)
    return np.bincount(problem.dev[choice], weights=problem.w[k, choice], minlength=problem.n_devices)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A decision: ``choice[k]`` = option index of patch k, with its utility U, feasibility and max T_i (ms)."""

    choice: np.ndarray
    utility: float
    feasible: bool
    max_latency_ms: float

    @classmethod
    def of(cls, problem: Problem, choice: np.ndarray) -> Schedule:
        """Evaluate ``choice`` exactly (utility, loads) on ``problem``."""
        choice = np.asarray(choice, dtype=np.int64)
        if problem.n_patches == 0:
            return cls(choice=choice, utility=0.0, feasible=True, max_latency_ms=0.0)
        k = np.arange(problem.n_patches)
        loads = device_loads(problem, choice)
        peak = float(loads.max())
        return cls(choice=choice, utility=float(problem.u[k, choice].mean()),
                   feasible=peak <= problem.slo_ms + FEAS_TOL_MS, max_latency_ms=peak)

    def assignment(self, problem: Problem) -> list[list[int]]:
        """``[[patch, device, model], ...]`` — indices into the instance's lists."""
        return [[k, int(problem.dev[o]), int(problem.model[o])] for k, o in enumerate(self.choice)]

    def as_dict(self, problem: Problem, ms: float) -> dict[str, Any]:
        """The ``paraloupe-schedule`` output object; ``ms`` = decision time in ms."""
        return {"assignment": self.assignment(problem), "utility": self.utility, "feasible": self.feasible,
                "max_latency_ms": self.max_latency_ms, "ms": ms}
