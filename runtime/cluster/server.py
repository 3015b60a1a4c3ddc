"""Inference server: loads the bundle's models with ncnn and infers patches from any client.

One thread, one bound ROUTER. Per message (after validation, :mod:`runtime.cluster.protocol`; one handler
per type, looked up in a table):

- ``patch`` → JPEG decoded, the named model run (real ncnn inference, :mod:`runtime.infer`), a ``result``
  with boxes in the decoded JPEG's pixels (a server of ``task: keypoints`` serves the bundle's keypoint models
  and answers ``keypoints``: the person's points in those pixels); an unknown model, an undecodable JPEG or a full
  queue → ``error``;
- ``ping`` → ``pong`` at once (heartbeats are never queued behind work);
- a bandwidth probe (``runtime.profilers.network``) → its ack; anything malformed → dropped and counted.

Readiness before liveness: a server loads every model and runs it once (ncnn's first-run allocations, numba
JIT) before it binds or reports, so nobody can count it missing while it warms up; its first ``state`` (and
the ready line on stdout, with ``warm_ms``) says it is ready, and the master's and clients' liveness counts
from then.

Every ``report_ms`` the server sends its profilers' state to the master (``state``): per model its latency
(the device profile's, times the pace factor, when emulated — a keypoint model without a profile row: estimated
by :meth:`runtime.manifest.Manifest.latency_or_estimate`, with a warning; measured on this host otherwise) and
accuracy,
its cost c_i and counters.

Cost schedule (experiments, paper Fig. 23): ``--cost-schedule`` (:mod:`runtime.cluster.emulation`) makes the
server report a scheduled c_i instead of its profiler's cost for a while.

Emulated devices (CONVENTIONS.md): a server given a device profile keeps a virtual timeline of that device —
a patch starts when the device would be free, and its reply is released ``pace_factor × profiled latency``
later (real inference still runs at once on receipt; a reply is never released before it is computed, and a
release that the real computation overran is counted). The server stays responsive to heartbeats while
its emulated device is busy. Figures from emulated servers are labelled so in the summary.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import zmq

from runtime.cluster.config import ClusterConfig, ServerSection
from runtime.cluster.emulation import CostStep, scheduled_cost
from runtime.cluster.protocol import Malformed, Message, encode, try_decode
from runtime.cluster.transport import Transport, drain
from runtime.errors import UserError
from runtime.infer import time_model
from runtime.keypoint_infer import KeypointModel, load_model
from runtime.manifest import Manifest
from runtime.profilers.device import DeviceProfiler, ModelTiming
from runtime.profilers.network import is_probe, probe_reply
from runtime.timing import Stopwatch


class Server:
    """One server process's state; :meth:`run` binds, serves until ``stop()``, then closes everything."""

    def __init__(self, bundle_dir: str, manifest: Manifest, section: ServerSection, cluster: ClusterConfig,
                 master_endpoint: str, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                 cost_schedule: Sequence[CostStep] = ()) -> None:
        self.manifest = manifest
        self.section = section
        self.cluster = cluster
        self.master_endpoint = master_endpoint
        self.log = log
        names = manifest.models_served_by(section.device, section.models, task=section.task)
        self.detectors = {n: load_model(bundle_dir, n, manifest, section.threads) for n in names}
        # keypoint models may lack profile rows: their latency is then estimated (host × FLOPS ratio), warned
        estimable = section.task == "keypoints"
        self.emulated = section.emulate and section.device != "host" and all(
            estimable or manifest.latency_ms(section.device, n) is not None for n in names)
        if section.emulate and section.device != "host" and not self.emulated:
            raise UserError(f"server {section.name}: device {section.device!r} has no profiled latency for every "
                            f"served model ({', '.join(names)}); set emulate: false or pick models")
        self.service_ms: dict[str, float] = {}
        with Stopwatch() as warm:
            for n, det in self.detectors.items():
                if self.emulated:
                    t, source = manifest.latency_or_estimate(section.device, n)
                    if t is None:  # no row to start from: this host's own timing, scaled
                        t, source = manifest.latency_or_estimate(section.device, n, time_model(det, 3, 1))
                    if source != "profile":
                        log(f"server {section.name}: warning: {n} has no {section.device} profile row; latency "
                            f"{t:.2f} ms estimated from the {source}")
                    self.service_ms[n] = section.pace_factor * float(t or 0.0)
                    time_model(det, runs=1, warmup=0)  # warm: the first inference is not a client's
                else:
                    self.service_ms[n] = time_model(det, runs=3, warmup=1)
        self.warm_ms = warm.ms  # loading is done before; this is the warm-up (and host timing), ms
        self.profiler = DeviceProfiler(section.name, {n: ModelTiming(t) for n, t in self.service_ms.items()})
        self.malformed = Malformed()
        self.counters = {"served": 0, "errors": 0, "overruns": 0, "reply_failed": 0, "probes": 0}
        self.cost_schedule = [c for c in cost_schedule if c.target in (section.name, section.device)]
        self.epoch: float | None = None  # first message from a client (the cost schedule's t = 0)
        self.pending: list[tuple[float, int, bytes, list[bytes]]] = []  # heap of (release s, seq, identity, frames)
        self._seq = itertools.count()  # ties in ``pending`` keep arrival order
        self.busy_until = 0.0  # the emulated device's timeline (monotonic s)
        self._next_report = 0.0  # monotonic s
        self._cost_before: tuple[float, bool] | None = None  # the cost last reported under a cost schedule
        #: message type → handler(identity, message, receipt time) → the reply to send at once, if any
        self._handlers: dict[str, Callable[[bytes, Message, float], list[bytes] | None]] = {
            "ping": self._on_ping, "patch": self._on_patch}
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
                "models": {n: {"latency_ms": t, "accuracy": self.manifest.accuracy(self.section.device, n)}
                           for n, t in st.latency_ms.items()},
                "cost": cost, "cost_scheduled": scheduled,
                "pace_factor": self.section.pace_factor if self.emulated else 1.0,
                "emulated": self.emulated, "served": self.counters["served"], "malformed": self.malformed.total,
                "ready": True, "warm_ms": round(self.warm_ms, 1)}

    def _infer(self, model: str, payload: bytes, min_score: Any = None) -> tuple[dict[str, Any] | None, str]:
        det = self.detectors.get(model)
        if det is None:
            return None, f"unknown model {model!r}"
        image = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            self.malformed.add("payload_jpeg")
            return None, "undecodable JPEG"
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float))
                                      or not 0.0 <= min_score <= 1.0):
            self.malformed.add("field:min_score")
            return None, "min_score must be a number in [0, 1]"
        if isinstance(det, KeypointModel):  # task keypoints: one person per crop
            pose = det(image)
            return {"w": int(image.shape[1]), "h": int(image.shape[0]), "score": round(pose.score, 4),
                    "points": [[round(float(v), 2) for v in p] for p in pose.points], "infer_ms": pose.infer_ms}, ""
        out = det(image, min_score=None if min_score is None else float(min_score))
        dets = out.detections.as_sent()
        return {"w": int(image.shape[1]), "h": int(image.shape[0]), "boxes": dets.boxes.tolist(),
                "labels": dets.labels, "scores": dets.scores.tolist(), "infer_ms": out.infer_ms}, ""

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
        """One pass: report the state when due, release the replies due, wait for messages (or the next of
        those times) and handle them."""
        while not (stop() or self._stop):
            now = time.monotonic()
            self._report(master, endpoint, now)
            while self.pending and self.pending[0][0] <= now:
                _, _, identity, frames = heapq.heappop(self.pending)
                self._send(router, [identity, *frames])
            if not router.poll(self._wait_ms(now), zmq.POLLIN):
                continue
            for identity, frames in drain(router):
                self._receive(router, identity, frames)

    def _report(self, master: zmq.Socket, endpoint: str, now: float) -> None:
        """Send ``state`` to the master every ``report_ms``, and at once when the scheduled cost changes."""
        if self.cost_schedule:
            cost_now = self.current_cost(now)
            if cost_now != self._cost_before:
                self._cost_before, self._next_report = cost_now, now
        if now >= self._next_report:
            with contextlib.suppress(zmq.Again):  # master not connected (yet): the next report retries
                master.send_multipart(encode("state", **self.state_fields(endpoint)), flags=zmq.NOBLOCK)
            self._next_report = now + self.cluster.timing.report_ms / 1000.0

    def _wait_ms(self, now: float) -> int:
        """How long to wait for messages (ms): until the next report or reply release, at most 50 ms while a
        cost schedule runs (a scheduled change is noticed within 50 ms)."""
        wake = min(self._next_report, self.pending[0][0] if self.pending else self._next_report)
        if self.cost_schedule and self.epoch is not None:
            wake = min(wake, now + 0.05)
        return max(0, math.ceil((wake - time.monotonic()) * 1000))

    def _receive(self, router: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        """One message from ``identity``: a bandwidth probe is acked; anything else is validated and handed to
        the handler of its type, whose reply (if any) is sent at once; other types are counted as malformed."""
        received = time.monotonic()
        if self.epoch is None:
            self.epoch = received
        if is_probe(frames):
            self.counters["probes"] += 1
            self._send(router, [identity, *probe_reply(frames)])
            return
        msg = try_decode(frames, self.malformed)
        if msg is None:
            return
        handler = self._handlers.get(msg.type)
        if handler is None:
            self.malformed.add(f"unexpected:{msg.type}")
            return
        reply = handler(identity, msg, received)
        if reply is not None:
            self._send(router, [identity, *reply])

    def _on_ping(self, identity: bytes, msg: Message, received: float) -> list[bytes]:
        """``ping`` → ``pong`` at once, with the number of replies waiting for release."""
        return encode("pong", seq=msg["seq"], device=self.section.name, queued=len(self.pending))

    def _on_patch(self, identity: bytes, msg: Message, received: float) -> list[bytes] | None:
        """``patch`` → inferred now; its ``result`` queued for release (emulated: when the device would be
        done). A full queue, an unknown model or an undecodable JPEG → an ``error`` at once."""
        if len(self.pending) >= self.section.queue_max:
            self.counters["errors"] += 1
            return encode("error", req=msg["req"], reason="queue full")
        fields, reason = self._infer(msg["model"], msg.payload, msg.header.get("min_score"))
        if fields is None:
            self.counters["errors"] += 1
            return encode("error", req=msg["req"], reason=reason)
        release = self._release_time(msg["model"], received, time.monotonic())
        self.counters["served"] += 1
        answer = "keypoints" if isinstance(self.detectors[msg["model"]], KeypointModel) else "result"
        reply = encode(answer, req=msg["req"], model=msg["model"], device=self.section.name,
                       server_ms=(release - received) * 1000.0, paced=self.emulated, **fields)
        heapq.heappush(self.pending, (release, next(self._seq), identity, reply))
        return None

    def _release_time(self, model: str, received: float, done: float) -> float:
        """When the reply may go (monotonic s): at once (``done``) on a real device; on an emulated one when
        the device, busy until ``busy_until``, would finish ``model`` started at ``received`` or later — never
        before ``done`` (an overrun, counted)."""
        if not self.emulated:
            return done
        release = max(received, self.busy_until) + self.service_ms[model] / 1000.0
        if release < done:
            self.counters["overruns"] += 1
            release = done
        self.busy_until = release
        return release

    def request_stop(self, *_: Any) -> None:
        self._stop = True


def serve(bundle_dir: str, manifest: Manifest, cluster: ClusterConfig, name: str,
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
                          "warm_ms": round(server.warm_ms, 1),
                          "cost_schedule": [c.spec() for c in server.cost_schedule]}), flush=True)

    server.run(on_ready=ready)
    with contextlib.suppress(BrokenPipeError):  # the run that started it is gone (its namespace cleaned)
        print(json.dumps({"stopped": "server", "name": name, **server.counters,
                          "malformed": server.malformed.as_dict()}), flush=True)
    return 0
