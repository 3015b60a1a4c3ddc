"""Which model infers each entry of a frame in replay, as the cluster would choose it: the master's own ``plan``.

``paraloupe-bench loop --devices raspberry-pi-4b,raspberry-pi-4b,... --slo 250`` replays the closed loop with
the cluster's decisions but host inference: each frame's patch budget comes from :func:`runtime.frame_plan.patch_budget`
over the devices' profiled latencies (as the client computes it from live servers), and each entry's model from
:func:`runtime.cluster.master.plan` (the scheduler the master runs) over device states built from the bundle's
profiles (as an emulated server announces them). So replay accuracy includes the per-patch model choice; what
replay cannot show is timing (drops, late replies): per-frame latency comes from cluster runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from runtime.cluster.master import plan
from runtime.errors import UserError
from runtime.frame_plan import FramePlan, patch_budget
from runtime.manifest import Manifest
from runtime.modes import Solver


class Placement:
    """The emulated cluster's devices (from the bundle's profiles) and the scheduler that places entries."""

    def __init__(self, manifest: Manifest, devices: Sequence[str], slo_ms: float, scheduler: Solver | str,
                 gamma: float = 0.1, bandwidth_Bps: float = 12.5e6, whole_tiles: int = 1, seed: int = 0) -> None:
        """``devices``: device names of the bundle's profiles, one per server; ``slo_ms``: the client's SLO (ms,
        device time); ``whole_tiles``: baseline entries per frame the budget keeps time for."""
        if not devices:
            raise UserError("--devices: name at least one device")
        self.manifest = manifest
        self.slo_ms = float(slo_ms)
        self.scheduler = Solver.parse(scheduler, "--scheduler") if isinstance(scheduler, str) else scheduler
        self.gamma = float(gamma)
        self.bandwidth = float(bandwidth_Bps)
        self.whole_tiles = int(whole_tiles)
        self.seed = int(seed)
        self.kinds = manifest.kinds()  # detection models only
        self.states: dict[str, dict[str, Any]] = {}
        for i, device in enumerate(devices):
            if manifest.profile(device) is None:
                raise UserError(f"--devices: {device!r} has no profile in the bundle "
                                f"(have: {', '.join(sorted(manifest.profiles))})")
            models = {m: {"latency_ms": manifest.latency_ms(device, m), "accuracy": manifest.accuracy(device, m)}
                      for m in manifest.models_served_by(device) if manifest.latency_ms(device, m) is not None}
            cost = manifest.devices[device].cost if device in manifest.devices else 0.0
            self.states[f"{device}#{i}"] = {"endpoint": f"emulated-{i}", "models": models, "cost": cost}
        self.chosen: Counter[str] = Counter()  #: entries per model so far

    def _fastest(self, kind: str, pinned: str | None = None) -> list[float]:
        """Per device, the latency (ms) of its fastest model of ``kind`` — of ``pinned`` where it serves that one
        (devices without one left out)."""
        out = []
        for st in self.states.values():
            lat = {m: r["latency_ms"] for m, r in st["models"].items() if self.kinds.get(m) == kind}
            if lat:
                out.append(lat.get(pinned or "", min(lat.values())))
        return out

    def budget(self, whole_pass: bool, pinned: str | None = None) -> int:
        """The frame's patch budget, as the client computes it (baseline entries' time reserved first; the
        pinned mini's latency where a device serves it)."""
        reserved = min(self._fastest("baseline"), default=0.0) * self.whole_tiles if whole_pass else 0.0
        return patch_budget(self.slo_ms, self._fastest("mini", pinned), reserved)

    def models(self, frame: FramePlan, kind: str = "mini", pinned: str | None = None) -> list[str]:
        """The model name of each entry of ``frame`` (in order), chosen by the master's ``plan``; ``pinned``: the
        model every entry of ``kind`` asks for (``client.mini``)."""
        if not frame.entries:
            return []
        request = {"kind": kind, "slo_ms": self.slo_ms, "exclude": [], "bandwidths": {},
                   "patches": [{"bytes": len(e.jpeg), "confidence": e.confidence,
                                **({"kind": e.model_kind} if e.model_kind != kind else {}),
                                **({"model": pinned} if pinned and e.model_kind == kind else {})}
                               for e in frame.entries]}
        out = plan(request, self.states, self.kinds, self.scheduler, self.gamma, self.bandwidth, self.seed)
        if out.get("error"):
            raise UserError(f"frame {frame.frame_id}: {out['error']}")
        names = [pair[1] for pair in out["assignment"]]
        self.chosen.update(names)
        return names
