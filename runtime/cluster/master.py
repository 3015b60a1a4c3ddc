"""Master scheduler: one per cluster; runs the scheduler on the profilers' state that every server reports.

One thread, one bound ROUTER. ``state`` messages (every ``report_ms`` from each server) refresh the table of
devices; a device silent for ``liveness × report_ms`` is left out until it reports again (rejoin). A server
reports only once it is ready (models loaded and warmed), and of the messages waiting after a stall of the
master the states are handled first, so neither a warming server nor a stalled master counts as a miss. A
``schedule`` request (a client's patch metadata, its measured bandwidths and the devices it has found dead)
becomes a scheduler instance (:func:`runtime.profilers.build_instance`) over the live devices' models of
the requested kind and task (``task``: detection when absent; keypoint crops are placed like patches), is solved
with the configured policy (:func:`runtime.scheduler.solve`), and is answered
with ``assign``: one (device, model) per patch plus every live device's endpoint and model latencies.

``--schedule-log PATH`` (experiments, paper Fig. 23): one JSON line per scheduled frame — ``frame``, ``t_s``
(seconds since the master started), ``patches`` K, ``per_device`` {device: patches assigned}, ``costs``
{device: c_i used}, ``bandwidths_Bps`` {device: b_i used — the client's network profiler's, or
``default_bandwidth_Bps`` before it has measured}, ``feasible``, ``max_latency_ms``, ``ms`` (decision time).
"""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import zmq

from runtime.cluster.config import ClusterConfig
from runtime.cluster.protocol import Malformed, Message, encode, try_decode
from runtime.cluster.transport import Transport, drain
from runtime.errors import UserError
from runtime.manifest import TASKS, Manifest, asked_models
from runtime.modes import Solver
from runtime.profilers import DeviceState, ModelProfiler, build_instance
from runtime.scheduler import Patch, compile_problem, solve, warm_up
from runtime.timing import Stopwatch


def plan(request: Mapping[str, Any], devices: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str],
         scheduler: Solver | str, gamma: float, default_bandwidth: float, seed: int = 0) -> dict[str, Any]:
    """The ``assign`` fields for one ``schedule`` request (pure: no sockets).

    ``devices``: live device name → its last ``state`` header; ``kinds``: model name → kind (bundle). The
    patches of the request's kind are scheduled by ``scheduler`` within the SLO less the time kept for the
    patches of another kind (a patch mode's baseline pass), which then go to the device where they finish
    first given that load (greedy, one by one). Where the patches of the request's kind name a model (mode
    ``sahi``: the client's baseline; a camera's own mini), the scheduler chooses among those on each device that
    serves one, else among the same networks in another precision (a Jetson serving ``rpi4b-240-fp16`` where the
    client named ``rpi4b-240-int8``), else among all the device's models of that kind.
    The device table lists the models of every kind the request names (``kind``, ``kinds``, patch kinds).
    """
    exclude = set(request["exclude"])
    live = {n: s for n, s in devices.items() if n not in exclude}
    kind = request["kind"]
    wanted = {kind, *request.get("kinds", ()), *(p.get("kind", kind) for p in request["patches"])}
    asked = {p["model"] for p in request["patches"] if p.get("kind", kind) == kind and "model" in p}
    states, accuracy, table = {}, {}, {}
    for name, st in live.items():
        listed = {m: float(r["latency_ms"]) for m, r in st["models"].items() if kinds.get(m) in wanted}
        if listed:
            table[name] = {"endpoint": st["endpoint"], "models": listed}
        models = {m: row for m, row in st["models"].items() if kinds.get(m) == kind}
        if asked:  # the models the patches name where this device serves one, else another precision of them
            answer = asked_models(models, asked)
            models = {m: row for m, row in models.items() if m in answer} or models
        if models:
            states[name] = DeviceState(name, {m: float(r["latency_ms"]) for m, r in models.items()},
                                       float(st["cost"]))
            accuracy[name] = {m: float(r["accuracy"]) for m, r in models.items()}
    base = {"assignment": [], "devices": table, "feasible": False, "max_latency_ms": 0.0, "ms": 0.0}
    if not request["patches"]:
        return dict(base, feasible=True)
    own = [i for i, p in enumerate(request["patches"]) if p.get("kind", kind) == kind]
    if own and not states:
        return dict(base, error=f"no live server serves a {kind} model")
    watch = Stopwatch()
    assignment: list[list[str] | None] = [None] * len(request["patches"])
    fields: dict[str, Any] = {"feasible": True, "max_latency_ms": 0.0}
    if own:
        bandwidths = {n: float(request["bandwidths"].get(n, default_bandwidth)) for n in states}
        patches = [Patch(bytes=float(request["patches"][i]["bytes"]),
                         confidence=float(request["patches"][i]["confidence"])) for i in own]
        slo = float(request.get("slo_ms", 1000.0))
        slo_own = max(slo - _other_kind_ms(request["patches"], kind, kinds, table), 0.25 * slo)
        instance = build_instance(patches, bandwidths, states, ModelProfiler(accuracy), slo_own, gamma)
        problem = compile_problem(instance)
        result = solve(problem, scheduler, seed)
        for i, (_, d, m) in zip(own, result.assignment(problem), strict=True):
            assignment[i] = [instance.devices[d].name, instance.devices[d].models[m].name]
        fields = {"feasible": bool(result.feasible), "max_latency_ms": float(result.max_latency_ms)}
    if not _place_others(request["patches"], kind, kinds, table, assignment):
        return dict(base, error="no live server serves the model kind of every patch")
    return dict(base, assignment=assignment, ms=watch.ms, **fields)


def _other_kind_ms(patches: list[Mapping[str, Any]], kind: str, kinds: Mapping[str, str],
                   table: Mapping[str, Mapping[str, Any]]) -> float:
    """The SLO share (ms) kept free for the patches of another kind: the longest of their fastest latencies
    (one such patch per device at most, as they are placed next). 0 when there are none."""
    longest = 0.0
    for p in patches:
        if p.get("kind", kind) == kind:
            continue
        lat = [t for row in table.values() for m, t in row["models"].items()
               if kinds.get(m) == p["kind"] and (m == p.get("model") or "model" not in p)]
        longest = max(longest, min(lat, default=0.0))
    return longest


def _place_others(patches: list[Mapping[str, Any]], kind: str, kinds: Mapping[str, str],
                  table: Mapping[str, Mapping[str, Any]], assignment: list[list[str] | None]) -> bool:
    """Fill ``assignment`` for the patches of another kind than ``kind``: each to the (device, model of its kind —
    the one the patch names where a device serves it) that finishes it first given the latency (ms) already
    assigned there; False if one has none."""
    load = {name: 0.0 for name in table}
    for pair in assignment:
        if pair is not None:
            load[pair[0]] += table[pair[0]]["models"][pair[1]]
    for i, p in enumerate(patches):
        if p.get("kind", kind) == kind:
            continue
        options = [(load[n] + lat, n, m) for n, row in table.items() for m, lat in row["models"].items()
                   if kinds.get(m) == p["kind"]]
        options = [o for o in options if o[2] == p.get("model")] or options  # the model asked for, where served
        if not options:
            return False
        done, device, model = min(options)
        load[device] = done
        assignment[i] = [device, model]
    return True


def states_first(batch: list[tuple[bytes, Message]]) -> list[tuple[bytes, Message]]:
    """The waiting ``(identity, message)`` pairs with every ``state`` first (otherwise in arrival order): after a
    stall of the master, a server whose report waits behind a client's request is not counted missing."""
    return sorted(batch, key=lambda item: item[1].type != "state")


class Master:
    """The master's state; :meth:`run` binds, serves until ``stop()``, then closes everything."""

    def __init__(self, manifest: Manifest, cluster: ClusterConfig, name: str = "master",
                 log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                 schedule_log: str | Path | None = None) -> None:
        self.cluster = cluster
        self.name = name
        #: task → model name → kind: a ``schedule`` is planned over the models of its ``task`` (absent: detection)
        self.kinds = {task: manifest.kinds(task) for task in TASKS}
        self.devices: dict[str, tuple[float, dict[str, Any]]] = {}  # name → (last seen, state header)
        self.malformed = Malformed()
        self.counters = {"schedules": 0, "joins": 0, "removals": 0}
        self.log = log
        #: message type → handler(message, now) → the ``assign`` fields to reply with, if any
        self._handlers: dict[str, Callable[[Message, float], dict[str, Any] | None]] = {
            "state": self._on_state, "schedule": self._on_schedule}
        self._stop = False
        self.t0 = time.monotonic()
        self._schedule_log: IO[str] | None = None
        if schedule_log:
            try:
                self._schedule_log = open(schedule_log, "w", buffering=1)  # noqa: SIM115 (closed by close())
            except OSError as exc:
                raise UserError(f"--schedule-log: cannot write {schedule_log} ({exc.strerror})") from None

    def close(self) -> None:
        if self._schedule_log is not None:
            self._schedule_log.close()
            self._schedule_log = None

    def _log_decision(self, request: Mapping[str, Any], live: Mapping[str, Mapping[str, Any]],
                      fields: Mapping[str, Any], now: float) -> None:
        if self._schedule_log is None or not request["patches"]:
            return
        excluded = set(request.get("exclude", ()))
        live = {n: st for n, st in live.items() if n not in excluded}
        per_device = collections.Counter(d for d, _ in fields["assignment"])
        default_b = self.cluster.master.default_bandwidth_Bps
        line = {"frame": request["frame"], "t_s": round(now - self.t0, 4), "patches": len(request["patches"]),
                "per_device": dict(sorted(per_device.items())),
                "costs": {n: float(st["cost"]) for n, st in sorted(live.items())},
                "bandwidths_Bps": {n: round(float(request["bandwidths"].get(n, default_b))) for n in sorted(live)},
                "feasible": fields["feasible"], "max_latency_ms": round(float(fields["max_latency_ms"]), 3),
                "ms": round(float(fields["ms"]), 3), **({"error": fields["error"]} if fields.get("error") else {})}
        self._schedule_log.write(json.dumps(line, separators=(",", ":")) + "\n")

    def live(self, now: float) -> dict[str, dict[str, Any]]:
        """Devices heard from within the liveness window; the others are forgotten (counted)."""
        window = self.cluster.timing.liveness * self.cluster.timing.report_ms / 1000.0
        for name in [n for n, (t, _) in self.devices.items() if now - t > window]:
            del self.devices[name]
            self.counters["removals"] += 1
            self.log(f"master: {name} missed {self.cluster.timing.liveness} reports, removed")
        return {n: st for n, (_, st) in self.devices.items()}

    def handle(self, msg: Message, now: float) -> dict[str, Any] | None:
        """Process one message (``now``: monotonic s) with the handler of its type; returns the ``assign``
        fields to reply with, if any. Other types are counted as malformed."""
        handler = self._handlers.get(msg.type)
        if handler is None:
            self.malformed.add(f"unexpected:{msg.type}")
            return None
        return handler(msg, now)

    def _on_state(self, msg: Message, now: float) -> None:
        """A server's ``state``: its row of the device table refreshed (a new name joins)."""
        if msg["device"] not in self.devices:
            self.counters["joins"] += 1
            self.log(f"master: {msg['device']} joined at {msg['endpoint']}")
        self.devices[msg["device"]] = (now, msg.header)

    def _on_schedule(self, msg: Message, now: float) -> dict[str, Any]:
        """A client's ``schedule``: planned over the live devices; a UserError becomes the reply's ``error``."""
        self.counters["schedules"] += 1
        m = self.cluster.master
        live = self.live(now)
        try:
            kinds = self.kinds[msg.header.get("task", "detection")]
            fields = plan(msg.header, live, kinds, m.scheduler, m.gamma, m.default_bandwidth_Bps, m.seed)
        except UserError as exc:
            fields = {"assignment": [], "devices": {}, "feasible": False, "max_latency_ms": 0.0, "ms": 0.0,
                      "error": str(exc)}
        self._log_decision(msg.header, live, fields, now)
        return {"req": msg["req"], **fields}

    def run(self, stop: Callable[[], bool] | None = None, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until ``stop()`` or SIGTERM/SIGINT."""
        stop = stop or (lambda: self._stop)
        if self.cluster.master.scheduler != Solver.MILP:
            warm_up()
        transport = Transport(self.cluster.transport, self.cluster.curve(self.name))
        try:
            router, endpoint = transport.router(self.cluster.master.bind)
            if on_ready:
                on_ready(self.cluster.master.endpoint or endpoint)
            while not (stop() or self._stop):
                if not router.poll(100, zmq.POLLIN):
                    continue
                batch = [(identity, msg) for identity, frames in drain(router)
                         if (msg := try_decode(frames, self.malformed)) is not None]
                for identity, msg in states_first(batch):
                    reply = self.handle(msg, time.monotonic())
                    if reply is not None:
                        with contextlib.suppress(zmq.ZMQError):  # client gone: it falls back after its timeout
                            router.send_multipart([identity, *encode("assign", **reply)], flags=zmq.NOBLOCK)
        finally:
            transport.close()
            self.close()

    def request_stop(self, *_: Any) -> None:
        self._stop = True


def serve(manifest: Manifest, cluster: ClusterConfig, schedule_log: str | None = None) -> int:
    """``--role master``: serve until SIGTERM/SIGINT; prints one JSON ready line on stdout."""
    if not cluster.master.bind:
        raise UserError("cluster config: master.bind is required for the master")
    master = Master(manifest, cluster, schedule_log=schedule_log)
    signal.signal(signal.SIGTERM, master.request_stop)
    signal.signal(signal.SIGINT, master.request_stop)
    master.run(on_ready=lambda ep: print(json.dumps({"ready": "master", "endpoint": ep}), flush=True))
    with contextlib.suppress(BrokenPipeError):  # the run that started it is gone
        print(json.dumps({"stopped": "master", **master.counters, "malformed": master.malformed.as_dict()}),
              flush=True)
    return 0
