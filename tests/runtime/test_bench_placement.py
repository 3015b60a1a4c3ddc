"""Replay's per-entry model choice: the master's plan over device states built from the bundle's profiles, and
the client's patch budget."""

from __future__ import annotations

import pytest

from runtime.bench.placement import Placement
from runtime.errors import UserError
from runtime.frame_plan import Entry, FramePlan
from tests.runtime.cluster.tiny_bundle import fake_manifest

MODELS = {"m-64": "mini", "m-96": "mini", "base": "baseline"}


def _manifest():
    return fake_manifest(MODELS, {"rpi": {"m-64": (10.0, 0.5), "m-96": (20.0, 0.7), "base": 50.0}},
                         serves={"rpi": ["m-64", "m-96"]})


def _frame(n_mini: int, n_base: int = 0) -> FramePlan:
    entries = [Entry((0, 0, 10, 10), "high", 1.0, b"x" * 100) for _ in range(n_mini)]
    entries += [Entry((0, 0, 50, 50), "keyframe", 1.0, b"x" * 1000, "baseline") for _ in range(n_base)]
    return FramePlan(0, 100, 100, entries)


def test_budget_is_the_clients_rule() -> None:
    p = Placement(_manifest(), ["rpi", "rpi"], slo_ms=100.0, scheduler="markov", whole_tiles=2)
    assert p.budget(whole_pass=False) == 20  # two devices x floor(100 / 10 ms)
    assert p.budget(whole_pass=True) == 10  # two 50-ms baseline tiles kept free: 100 ms of the fastest mini


def test_models_follow_the_slo_and_kind() -> None:
    tight = Placement(_manifest(), ["rpi"], slo_ms=60.0, scheduler="markov")
    names = tight.models(_frame(6))
    assert names == ["m-64"] * 6  # 6 x 20 ms would miss the SLO: only the fast mini fits
    roomy = Placement(_manifest(), ["rpi", "rpi"], slo_ms=1000.0, scheduler="markov")
    names = roomy.models(_frame(3, n_base=1))
    assert names[:3] == ["m-96"] * 3 and names[3] == "base"  # the more accurate mini where time allows
    assert roomy.chosen == {"m-96": 3, "base": 1}


def test_unknown_device_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="--devices: 'jetson' has no profile"):
        Placement(_manifest(), ["jetson"], 100.0, "markov")


def test_a_pinned_mini_is_asked_for_and_budgets_at_its_latency() -> None:
    roomy = Placement(_manifest(), ["rpi", "rpi"], slo_ms=1000.0, scheduler="markov")
    names = roomy.models(_frame(3, n_base=1), pinned="m-64")
    assert names[:3] == ["m-64"] * 3 and names[3] == "base"  # the less accurate mini, because the camera chose it
    p = Placement(_manifest(), ["rpi", "rpi"], slo_ms=100.0, scheduler="markov")
    assert p.budget(whole_pass=False, pinned="m-96") == 10  # two devices x floor(100 / 20 ms)
