"""Inference server: loads the bundle's models with ncnn and infers patches from any client.

One thread, one bound ROUTER. Per message (after validation, :mod:`runtime.cluster.protocol`):

- ``patch`` → JPEG decoded, the named model run (real ncnn inference, :mod:`runtime.infer`), a ``result``
  with boxes in the decoded JPEG's pixels; an unknown model, an undecodable JPEG or a full queue → ``error``;
- ``ping`` → ``pong`` at once (heartbeats are never queued behind work);
- a bandwidth probe (``runtime.profilers.network``) → its ack; anything malformed → dropped and counted.

Every ``report_ms`` the server sends its profilers' state to the master (``state``): per model its latency
(the device profile's, times the pace factor, when emulated; measured on this host otherwise) and accuracy,
its cost c_i and counters.

Cost schedule (experiments, paper Fig. 23): ``--cost-schedule NAME:COST@T0-T1[,...]`` makes the server report
c_i = COST instead of its profiler's cost while T0 ≤ t < T1 (T1 empty = to the end), t in seconds since the
server first heard from a client (≈ the client's start); NAME is the server's name or its device profile
(entries for other servers are ignored, so one string serves a whole local cluster). The master's scheduler
reads the reported c_i as usual.

Emulated devices (CONVENTIONS.md): a server given a device profile keeps a virtual timeline of that device —
a patch starts when the device would be free, and its reply is released ``pace_factor × profiled latency``
later (real inference still runs at once on receipt; a reply is never released before it is computed, and a
release that the real computation overran is counted). The server stays responsive to heartbeats while
its emulated device is busy. Figures from emulated servers are labelled so in the summary.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import zmq

from runtime.cluster.config import ClusterConfig, ServerSection
from runtime.cluster.protocol import Malformed, encode, try_decode
from runtime.cluster.transport import Transport, drain
from runtime.errors import UserError
from runtime.infer import Detector, time_model
from runtime.profilers.device import DeviceProfiler, ModelTiming
from runtime.profilers.network import is_probe, probe_reply


def served_models(manifest: Mapping[str, Any], device: str, override: list[str] | None = None) -> list[str]:
    """Models a server on ``device`` serves: ``override`` if given, else the bundle's ``devices.serves`` plus
    the baseline models profiled on that device, else every model profiled there, else every model."""
    models = manifest["models"]
    if override:
        for name in override:
            if name not in models:
                raise UserError(f"server models: {name!r} is not in the bundle (have: {', '.join(models)})")
        return list(override)
    profile = (manifest.get("profiles") or {}).get(device, {}).get("models", {})
    serves = list((manifest.get("devices") or {}).get(device, {}).get("serves", []))
    if serves:
        serves += [m for m in profile if models.get(m, {}).get("kind") == "baseline" and m not in serves]
        return [m for m in serves if m in models]
    return [m for m in profile if m in models] or list(models)


def model_accuracy(manifest: Mapping[str, Any], device: str, model: str) -> float:
    """α of ``model`` on ``device`` from the bundle; for an unprofiled device the mean over the devices that
    profile it (accuracy belongs to the model, not the host), else 0."""
    profiles = manifest.get("profiles") or {}
    row = profiles.get(device, {}).get("models", {}).get(model)
    if row is not None:
        return float(row["accuracy"])
    values = [float(p["models"][model]["accuracy"]) for p in profiles.values() if model in p.get("models", {})]
    return float(np.mean(values)) if values else 0.0


def profiled_latency(manifest: Mapping[str, Any], device: str, model: str) -> float | None:
    """t (ms) of ``model`` on ``device`` from the bundle, or None."""
    row = (manifest.get("profiles") or {}).get(device, {}).get("models", {}).get(model)
    return None if row is None else float(row["latency_ms"])


def common_pace_factor(manifest: Mapping[str, Any], devices: list[str], host_ms: Mapping[str, float]) -> float:
    """The one slow-down applied to every emulated device (CONVENTIONS): the largest ratio host latency /
    profiled latency over the emulated devices' models, at least 1, so no profile is faster than this host."""
    factor = 1.0
    for device in devices:
        for model in served_models(manifest, device):
            t = profiled_latency(manifest, device, model)
            if t is not None and t > 0 and model in host_ms:
                factor = max(factor, host_ms[model] / t)
    return factor


@dataclass(frozen=True)
class CostStep:
    """One entry of a cost schedule: server (name or device profile) ``target`` reports c_i = ``cost`` while
    ``start_s`` ≤ t < ``end_s`` (seconds since its first client contact; ``end_s`` None = to the end)."""

    target: str
    cost: float
    start_s: float
    end_s: float | None = None

    def active(self, t: float) -> bool:
        return self.start_s <= t and (self.end_s is None or t < self.end_s)

    def spec(self) -> str:
        return f"{self.target}:{self.cost:g}@{self.start_s:g}-{'' if self.end_s is None else f'{self.end_s:g}'}"


def parse_seconds(text: str, flag: str, entry: str) -> float:
    """``text`` as a finite number of seconds >= 0; else a one-line UserError naming ``flag`` and ``entry``."""
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{flag}: {entry!r}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{flag}: {entry!r}: {text!r} must be a finite number of seconds >= 0")
    return value


def parse_cost_schedule(spec: str, flag: str = "--cost-schedule") -> list[CostStep]:
    """``NAME:COST@T0-T1[,...]`` → steps; any malformed entry is a one-line UserError naming ``flag``."""
    steps = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        head, at, window = entry.partition("@")
        target, colon, cost_text = head.rpartition(":")
        if not at or not colon or not target or "-" not in window:
            raise UserError(f"{flag}: {entry!r} is not NAME:COST@T0-T1 (e.g. snapdragon-732g:1.0@0-10; T1 may be "
                            f"empty for 'to the end')")
        try:
            cost = float(cost_text)
        except ValueError:
            raise UserError(f"{flag}: {entry!r}: cost {cost_text!r} is not a number") from None
        if not math.isfinite(cost) or cost < 0:
            raise UserError(f"{flag}: {entry!r}: cost {cost_text!r} must be a finite number >= 0")
        t0_text, _, t1_text = window.partition("-")
        start = parse_seconds(t0_text, flag, entry)
        end = parse_seconds(t1_text, flag, entry) if t1_text else None
        if end is not None and end <= start:
            raise UserError(f"{flag}: {entry!r}: the window ends ({end:g} s) before it starts ({start:g} s)")
        steps.append(CostStep(target, cost, start, end))
    if not steps:
        raise UserError(f"{flag}: empty schedule")
    return steps


def scheduled_cost(steps: Sequence[CostStep], t: float | None) -> float | None:
    """The cost the last active step sets at ``t`` (None before the first client contact or when none)."""
    if t is None:
        return None
    active = [s.cost for s in steps if s.active(t)]
    return active[-1] if active else None


class Server:
    """One server process's state; :meth:`run` binds, serves until ``stop()``, then closes everything."""

    def __init__(self, bundle_dir: str, manifest: Mapping[str, Any], section: ServerSection, cluster: ClusterConfig,
                 master_endpoint: str, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                 cost_schedule: Sequence[CostStep] = ()) -> None:
        self.manifest = manifest
        self.section = section
        self.cluster = cluster
        self.master_endpoint = master_endpoint
        self.log = log
        names = served_models(manifest, section.device, section.models)
        self.detectors = {n: Detector(bundle_dir, n, manifest, section.threads) for n in names}
        self.emulated = section.emulate and section.device != "host" and all(
            profiled_latency(manifest, section.device, n) is not None for n in names)
        if section.emulate and section.device != "host" and not self.emulated:
            raise UserError(f"server {section.name}: device {section.device!r} has no profiled latency for every "
                            f"served model ({', '.join(names)}); set emulate: false or pick models")
        self.service_ms: dict[str, float] = {}
        for n, det in self.detectors.items():
            if self.emulated:
                self.service_ms[n] = section.pace_factor * float(profiled_latency(manifest, section.device, n))
            else:
                self.service_ms[n] = time_model(det, runs=3, warmup=1)
        self.profiler = DeviceProfiler(section.name, {n: ModelTiming(t) for n, t in self.service_ms.items()})
        self.malformed = Malformed()
        self.counters = {"served": 0, "errors": 0, "overruns": 0, "reply_failed": 0, "probes": 0}
        self.cost_schedule = [c for c in cost_schedule if c.target in (section.name, section.device)]
        self.epoch: float | None = None  # first message from a client (the cost schedule's t = 0)
        self._stop = False

    def current_cost(self, now: float | None = None) -> tuple[float, bool]:
        """c_i to report: the cost schedule's while one of its steps is active, else the profiler's."""
        now = time.monotonic() if now is None else now
        scheduled = scheduled_cost(self.cost_schedule, None if self.epoch is None else now - self.epoch)
        if scheduled is not None:
            return scheduled, True
        return self.profiler.state().cost, False

    def state_fields(self, endpoint: str) -> dict[str, Any]:
        """The ``state`` message fields (the profilers' state)."""
        st = self.profiler.state()
        cost, scheduled = self.current_cost()
        return {"device": self.section.name, "endpoint": endpoint,
                "models": {n: {"latency_ms": t, "accuracy": model_accuracy(self.manifest, self.section.device, n)}
                           for n, t in st.latency_ms.items()},
                "cost": cost, "cost_scheduled": scheduled,
                "pace_factor": self.section.pace_factor if self.emulated else 1.0,
                "emulated": self.emulated, "served": self.counters["served"], "malformed": self.malformed.total}

    def _infer(self, model: str, payload: bytes) -> tuple[dict[str, Any] | None, str]:
        det = self.detectors.get(model)
        if det is None:
            return None, f"unknown model {model!r}"
        image = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            self.malformed.add("payload_jpeg")
            return None, "undecodable JPEG"
        out = det(image)
        return {"w": int(image.shape[1]), "h": int(image.shape[0]),
                "boxes": [[round(float(v), 2) for v in b] for b in out.boxes], "labels": out.labels,
                "scores": [round(float(s), 4) for s in out.scores], "infer_ms": out.infer_ms}, ""

    def _send(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone (ROUTER_MANDATORY) or its queue full: the client re-sends
            self.counters["reply_failed"] += 1

    def run(self, stop: Callable[[], bool] | None = None, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until ``stop()`` is true or SIGTERM/SIGINT arrives."""
        stop = stop or (lambda: self._stop)
        transport = Transport(self.cluster.transport, self.cluster.curve(self.section.name))
        try:
            router, bound = transport.router(self.section.bind)
            endpoint = self.section.endpoint or bound
            master = transport.dealer(self.master_endpoint)
            if on_ready:
                on_ready(endpoint)
            self._loop(router, master, endpoint, stop)
        finally:
            transport.close()

    def _loop(self, router: zmq.Socket, master: zmq.Socket, endpoint: str, stop: Callable[[], bool]) -> None:
        report_s = self.cluster.timing.report_ms / 1000.0
        pending: list[tuple[float, int, bytes, list[bytes]]] = []  # (release time, seq, identity, frames)
        seq = itertools.count()
        busy_until = 0.0  # the emulated device's timeline (monotonic s)
        next_report = 0.0
        cost_before: tuple[float, bool] | None = None
        while not (stop() or self._stop):
            now = time.monotonic()
            if self.cost_schedule:  # report a scheduled cost change at once
                cost_now = self.current_cost(now)
                if cost_now != cost_before:
                    cost_before, next_report = cost_now, now
            if now >= next_report:
                try:
                    master.send_multipart(encode("state", **self.state_fields(endpoint)), flags=zmq.NOBLOCK)
                except zmq.Again:
                    pass  # master not connected (yet): the next report retries
                next_report = now + report_s
            while pending and pending[0][0] <= now:
                _, _, identity, frames = heapq.heappop(pending)
                self._send(router, [identity, *frames])
            wake = min(next_report, pending[0][0] if pending else next_report)
            if self.cost_schedule and self.epoch is not None:
                wake = min(wake, now + 0.05)  # notice a scheduled cost change within 50 ms
            if not router.poll(max(0, math.ceil((wake - time.monotonic()) * 1000)), zmq.POLLIN):
                continue
            for identity, frames in drain(router):
                received = time.monotonic()
                if self.epoch is None:
                    self.epoch = received
                if is_probe(frames):
                    self.counters["probes"] += 1
                    self._send(router, [identity, *probe_reply(frames)])
                    continue
                msg = try_decode(frames, self.malformed)
                if msg is None:
                    continue
                if msg.type == "ping":
                    self._send(router, [identity, *encode("pong", seq=msg["seq"], device=self.section.name,
                                                          queued=len(pending))])
                    continue
                if msg.type != "patch":
                    self.malformed.add(f"unexpected:{msg.type}")
                    continue
                if len(pending) >= self.section.queue_max:
                    self.counters["errors"] += 1
                    self._send(router, [identity, *encode("error", req=msg["req"], reason="queue full")])
                    continue
                fields, reason = self._infer(msg["model"], msg.payload)
                if fields is None:
                    self.counters["errors"] += 1
                    self._send(router, [identity, *encode("error", req=msg["req"], reason=reason)])
                    continue
                done = time.monotonic()
                if self.emulated:
                    start = max(received, busy_until)
                    release = start + self.service_ms[msg["model"]] / 1000.0
                    if release < done:
                        self.counters["overruns"] += 1
                        release = done
                    busy_until = release
                else:
                    release = done
                self.counters["served"] += 1
                reply = encode("result", req=msg["req"], model=msg["model"], device=self.section.name,
                               server_ms=(release - received) * 1000.0, paced=self.emulated, **fields)
                heapq.heappush(pending, (release, next(seq), identity, reply))

    def request_stop(self, *_: Any) -> None:
        self._stop = True


def serve(bundle_dir: str, manifest: Mapping[str, Any], cluster: ClusterConfig, name: str,
          cost_schedule: Sequence[CostStep] = ()) -> int:
    """``--role server``: serve until SIGTERM/SIGINT; prints one JSON ready line on stdout."""
    section = cluster.server(name)
    if not cluster.master.endpoint:
        raise UserError("cluster config: master.endpoint is required for a server")
    server = Server(bundle_dir, manifest, section, cluster, cluster.master.endpoint, cost_schedule=cost_schedule)
    signal.signal(signal.SIGTERM, server.request_stop)
    signal.signal(signal.SIGINT, server.request_stop)

    def ready(endpoint: str) -> None:
        print(json.dumps({"ready": "server", "name": name, "endpoint": endpoint, "device": section.device,
                          "emulated": server.emulated, "models": server.service_ms,
                          "cost_schedule": [c.spec() for c in server.cost_schedule]}), flush=True)

    server.run(on_ready=ready)
    print(json.dumps({"stopped": "server", "name": name, **server.counters,
                      "malformed": server.malformed.as_dict()}), flush=True)
    return 0
