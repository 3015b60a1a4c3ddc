"""Whole frames with the baseline exported at several input sides: the client sends them to the model at the side of
its own baseline model (``--mode baseline``: the largest), not to a link's fastest (smallest) one."""

from __future__ import annotations

from typing import Any

import numpy as np

from runtime.cluster.client_dispatch import PatchDispatch
from runtime.cluster.client_parts import Job, Link
from runtime.cluster.config import ClientSection
from runtime.cluster.summary import Stats
from runtime.manifest import Manifest
from tests.runtime.cluster.tiny_bundle import fake_manifest

SIDES = {"baseline-320-fp32": 320, "baseline-640-fp32": 640, "baseline-960-fp32": 960}


class _Links:
    """The two things :class:`PatchDispatch` asks of its links here: the live ones and a send that works."""

    def __init__(self, links: list[Link]) -> None:
        self.links = {link.name: link for link in links}

    def live(self) -> list[Link]:
        return list(self.links.values())

    def send(self, sock: Any, msg: Any) -> bool:
        return True


def _manifest() -> Manifest:
    m = fake_manifest({"tiny-64-fp32": "mini", **{n: "baseline" for n in reversed(SIDES)}})
    for name, side in SIDES.items():
        m = m.resized(name, side)
    return m


def _dispatch(m: Manifest, links: list[Link]) -> PatchDispatch:
    cfg = ClientSection(mode="baseline")
    local = {"baseline": m.models_of_kind("baseline")[-1], "mini": m.models_of_kind("mini")[0]}
    return PatchDispatch(cfg, _Links(links), {}, Stats(slo_ms=cfg.slo_ms), ".", m, local, lambda job: None)


def test_models_of_kind_lists_the_baseline_sides_ascending() -> None:
    assert _manifest().models_of_kind("baseline") == list(SIDES)


def test_whole_frames_go_to_the_side_of_the_clients_own_baseline_model() -> None:
    m = _manifest()
    every = Link("a", "tcp://a", None, {"tiny-64-fp32": 5.0, "baseline-320-fp32": 40.0, "baseline-640-fp32": 150.0,
                                         "baseline-960-fp32": 340.0})
    small = Link("b", "tcp://b", None, {"baseline-320-fp32": 40.0, "baseline-640-fp32": 150.0})
    d = _dispatch(m, [every, small])
    assert d.of_kind(every, "baseline") == {"baseline-960-fp32": 340.0}
    assert d.of_kind(every, "mini") == {"tiny-64-fp32": 5.0}
    assert d._fastest(small, "baseline") == "baseline-320-fp32"  # that side not served: the link's fastest
    job = Job(0, np.zeros((8, 8, 3), dtype=np.uint8), 0.0, [(0, 0, 8, 8)], [b"jpeg"], [1.0], ["baseline"], [None],
              [0])
    sent = []
    for _ in range(20):  # weights 1 / latency: "a" (340 ms) gets about one frame in ten
        d.baseline_assign(job, 0.0)
        sent.append((d.flights[job.reqs[-1]].device, d.flights[job.reqs[-1]].model))
    assert ("a", "baseline-960-fp32") in sent and ("a", "baseline-320-fp32") not in sent
