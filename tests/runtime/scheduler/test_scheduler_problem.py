"""Instance parsing and validation: bad input is a one-line UserError naming the field."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from runtime.errors import UserError
from runtime.scheduler import compile_problem, parse_instance

BASE = {
    "slo_ms": 60.0, "gamma": 0.2,
    "patches": [{"bytes": 30000, "confidence": 1.0}, {"bytes": 60000, "confidence": 0.5}],
    "devices": [
        {"name": "jetson", "bandwidth_Bps": 2e7, "cost": 0.1,
         "models": [{"name": "a", "latency_ms": 8, "accuracy": 0.6}, {"name": "b", "latency_ms": 20, "accuracy": 0.7}]},
        {"name": "rpi", "bandwidth_Bps": 1e7, "cost": 0.0,
         "models": [{"name": "a", "latency_ms": 40, "accuracy": 0.55, "cost": 0.3}]},
    ],
}


def _with(path: str, value: object) -> dict:
    data = copy.deepcopy(BASE)
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


def test_compile_arrays_follow_conventions() -> None:
    problem = compile_problem(parse_instance(BASE))
    assert problem.u.shape == problem.w.shape == (2, 3)
    # w = s / b · 1000 + t (ms); u = y (α − γ c), per-model cost overriding the device's
    assert problem.w[0, 0] == pytest.approx(30000 / 2e7 * 1000 + 8)
    assert problem.w[1, 2] == pytest.approx(60000 / 1e7 * 1000 + 40)
    assert problem.u[1, 1] == pytest.approx(0.5 * (0.7 - 0.2 * 0.1))
    assert problem.u[0, 2] == pytest.approx(0.55 - 0.2 * 0.3)
    assert list(problem.dev) == [0, 0, 1] and list(problem.model) == [0, 1, 0]


@pytest.mark.parametrize("path, value, message", [
    ("devices", [], "instance.devices: must list at least one device"),
    ("devices/1/bandwidth_Bps", -5.0, "instance.devices[1].bandwidth_Bps: -5.0 must be > 0"),
    ("devices/0/models", [], "instance.devices[0].models: must list at least one model"),
    ("patches/1/bytes", math.nan, "instance.patches[1].bytes: NaN is not allowed"),
    ("devices/0/models/1/accuracy", math.inf, "instance.devices[0].models[1].accuracy"),
    ("slo_ms", KeyError, "instance.slo_ms: required key is missing"),
    ("devices/1/name", "jetson", "instance.devices[1].name: 'jetson' repeats devices[0]"),
    ("devices/0/cost", KeyError, "instance.devices[0].cost: required key is missing"),
    ("devices/0/bandwith_Bps", 1.0, "instance.devices[0].bandwith_Bps: unknown key"),
    ("patches/0/confidence", "high", "instance.patches[0].confidence: expected a number"),
])
def test_bad_input_names_the_field(path: str, value: object, message: str) -> None:
    with pytest.raises(UserError) as err:
        parse_instance(_with(path, value))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_not_an_object() -> None:
    with pytest.raises(UserError, match="expected a JSON object"):
        parse_instance([1, 2])


def test_empty_frame_is_allowed() -> None:
    problem = compile_problem(parse_instance(_with("patches", [])))
    assert problem.n_patches == 0 and problem.u.shape == (0, 3)
    assert np.isfinite(problem.w).all()
