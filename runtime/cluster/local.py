"""``--cluster local:N``: a master and N servers as separate processes on loopback, started and shut down.

Each process is ``python -m runtime.cli.run --bundle B --role master|server --config CFG [--name NAME]``
with a cluster.yaml written into a work folder; every socket binds ``tcp://127.0.0.1:*`` (a free port) and
the endpoints travel through the processes' JSON ready lines and the servers' state reports — no fixed
ports. Server i takes device profile ``devices[i % len(devices)]``; emulated devices are paced with one
common factor (:func:`runtime.cluster.emulation.common_pace_factor`) measured on this host, or the one given
(``--pace-factor``: the same factor across runs with different device sets). With ``curve``,
key pairs are made in the work folder and every connection is encrypted and authenticated.

Experiment hooks (paper Fig. 23/24), all off by default:

- ``cost_schedule`` (``--cost-schedule NAME:COST@T0-T1,...``): passed to every server, each applies the entries
  naming it or its device profile (:func:`runtime.cluster.emulation.parse_cost_schedule`);
- ``kill_schedule`` (``--kill-schedule NAME@SECONDS,...``): after :meth:`LocalCluster.go` (the client's start),
  a timer thread kill -9s each named server at its time; :attr:`LocalCluster.kill_events` records when and
  after which emitted frame;
- ``schedule_log`` (``--schedule-log PATH``): the master's one line per scheduling decision;
- ``pace_factor`` (``--pace-factor F``): pace every emulated device with F instead of measuring the factor at
  start (the host's latencies are then not measured: that took seconds of every run's start); replies the host
  could not compute within the paced time are counted by the servers (``overruns``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from runtime.cluster.config import ClusterConfig, SecuritySection, ServerSection
from runtime.cluster.emulation import common_pace_factor, parse_cost_schedule, parse_seconds
from runtime.cluster.transport import make_keys
from runtime.config import to_mapping
from runtime.errors import UserError
from runtime.infer import time_model
from runtime.keypoint_infer import load_model
from runtime.manifest import Manifest


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM it when this process dies (even by kill -9), so no server outlives a run
    (Linux ``prctl(PR_SET_PDEATHSIG)``; kept across exec; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def default_devices(manifest: Manifest) -> list[str]:
    """The bundle's profiled devices (sorted), or ``host`` when it has none."""
    return sorted(manifest.profiles) or ["host"]


def host_latencies(bundle_dir: str | Path, manifest: Manifest, models: list[str]) -> dict[str, float]:
    """Median ncnn latency (ms) of each model (detector or keypoint model) on this host (1 thread)."""
    return {m: time_model(load_model(bundle_dir, m, manifest), runs=5, warmup=2) for m in models}


def parse_kill_schedule(spec: str, flag: str = "--kill-schedule") -> list[tuple[str, float]]:
    """``NAME@SECONDS[,...]`` → [(server name, seconds after the client's start)], in time order; a malformed
    entry is a one-line UserError naming ``flag``."""
    out = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, at, t_text = entry.rpartition("@")
        if not at or not name or not t_text:
            raise UserError(f"{flag}: {entry!r} is not NAME@SECONDS (e.g. server-0@5)")
        out.append((name, parse_seconds(t_text, flag, entry)))
    if not out:
        raise UserError(f"{flag}: empty schedule")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise UserError(f"{flag}: a server is named twice ({spec!r})")
    return sorted(out, key=lambda e: e[1])


class LocalCluster:
    """Master + N servers on loopback. Use as a context manager; :attr:`config` is the client's config."""

    def __init__(self, bundle_dir: str | Path, manifest: Manifest, n: int, base: ClusterConfig,
                 workdir: str | Path, devices: list[str] | None = None, curve: bool = False,
                 ready_timeout_s: float = 60.0, cost_schedule: str | None = None,
                 kill_schedule: str | None = None, schedule_log: str | Path | None = None,
                 pace_factor: float | None = None) -> None:
        if n < 1:
            raise UserError(f"--cluster local:N needs N >= 1, got {n}")
        self.bundle_dir, self.manifest, self.n = str(bundle_dir), manifest, n
        self.workdir = Path(workdir)
        self.devices = list(devices or default_devices(manifest))
        for d in self.devices:
            if d != "host" and d not in manifest.profiles:
                raise UserError(f"--devices: {d!r} has no profile in the bundle "
                                f"(have: {', '.join(manifest.profiles) or 'none'}, or host)")
        self.base = base
        self.curve = curve
        self.ready_timeout_s = ready_timeout_s
        self.cost_schedule = cost_schedule
        if cost_schedule:
            known = set(self.server_names()) | {self.device_of(s) for s in self.server_names()}
            for step in parse_cost_schedule(cost_schedule):
                if step.target not in known:
                    raise UserError(f"--cost-schedule: {step.target!r} is neither a server nor a device of this "
                                    f"cluster (have: {', '.join(sorted(known))})")
        self.kill_schedule = parse_kill_schedule(kill_schedule) if kill_schedule else []
        for name, _ in self.kill_schedule:
            if name not in self.server_names():
                raise UserError(f"--kill-schedule: no server named {name!r} (have: {', '.join(self.server_names())})")
        self.schedule_log = str(Path(schedule_log).resolve()) if schedule_log else None
        self.kill_events: list[dict[str, Any]] = []
        self.stopped: dict[str, dict[str, Any]] = {}
        self._killer: threading.Thread | None = None
        self._killer_stop = threading.Event()
        self.procs: dict[str, subprocess.Popen] = {}
        self.endpoints: dict[str, str] = {}
        if pace_factor is not None and not (math.isfinite(pace_factor) and pace_factor >= 1.0):
            raise UserError(f"--pace-factor: must be a finite number >= 1, got {pace_factor!r}")
        self.fixed_pace_factor = pace_factor
        self.pace_factor = 1.0
        self.measured_pace_factor = 1.0
        self.host_ms: dict[str, float] = {}
        self.estimated: dict[str, str] = {}  # model → how its device latency was estimated (no profile row)
        self.config = base

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def server_names(self) -> list[str]:
        return [f"server-{i}" for i in range(self.n)]

    def device_of(self, name: str) -> str:
        return self.devices[int(name.split("-")[1]) % len(self.devices)]

    def start(self) -> None:
        """Measure the host, write configs, start the master, then the servers; wait for their ready lines."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        emulated = sorted({self.device_of(s) for s in self.server_names()} - {"host"})
        task = self.base.client.task  # the servers serve the client's task
        models = sorted({m for d in emulated for m in self.manifest.models_served_by(d, task=task)})
        # a given pace factor needs no measurement (it took seconds of every run's start: all served models, 7 runs)
        measure = models and self.fixed_pace_factor is None
        self.host_ms = host_latencies(self.bundle_dir, self.manifest, models) if measure else {}
        self.measured_pace_factor = common_pace_factor(self.manifest, emulated, self.host_ms, task)
        self.estimated = {m: how for d in emulated for m in self.manifest.models_served_by(d, task=task)
                          if (how := self.manifest.latency_or_estimate(d, m, self.host_ms.get(m))[1]) != "profile"}
        if self.estimated:
            print(f"local cluster: warning: no device profile row for {', '.join(sorted(self.estimated))}: their "
                  f"device latencies are estimated (the servers' logs say how)", file=sys.stderr)
        self.pace_factor = self.fixed_pace_factor or self.measured_pace_factor
        security = SecuritySection()
        if self.curve:
            keys = self.workdir / "keys"
            if not (keys / "server.key_secret").exists():
                make_keys(keys, ["server", self.base.client.name] + self.server_names())
            security = SecuritySection(curve=True, keys_dir=str(keys))
        master = dataclasses.replace(self.base.master, bind=self.bind("master"), endpoint="")
        servers = [ServerSection(name=s, bind=self.bind(s), device=self.device_of(s),
                                 emulate=self.device_of(s) != "host", pace_factor=self.pace_factor, task=task)
                   for s in self.server_names()]
        self.config = dataclasses.replace(self.base, master=master, servers=servers, security=security)
        self._write("master.yaml")
        log = ["--schedule-log", self.schedule_log] if self.schedule_log else []
        self.procs["master"] = self._spawn(["--role", "master", *log], "master.yaml", "master")
        ready = self._ready("master")
        self.endpoints["master"] = ready["endpoint"]
        self.config = dataclasses.replace(self.config, master=dataclasses.replace(master, endpoint=ready["endpoint"]))
        self._write("cluster.yaml")
        for s in self.server_names():
            self.procs[s] = self._spawn(self._server_role(s), "cluster.yaml", s)
        for s in self.server_names():
            self.endpoints[s] = self._ready(s)["endpoint"]

    def _server_role(self, name: str) -> list[str]:
        return ["--role", "server", "--name", name] + (["--cost-schedule", self.cost_schedule]
                                                        if self.cost_schedule else [])

    def go(self, last_frame: Any = None) -> None:
        """The client takes its first frame now: start the kill schedule's timer (``last_frame()`` → the last
        emitted frame, recorded with each kill)."""
        if not self.kill_schedule or self._killer is not None:
            return
        t0 = time.monotonic()

        def killer() -> None:
            for name, at in self.kill_schedule:
                if self._killer_stop.wait(max(0.0, t0 + at - time.monotonic())):
                    return
                t = time.monotonic()
                self.kill(name)
                self.kill_events.append({"server": name, "device": self.device_of(name), "at_s": at,
                                         "t_s": round(t - t0, 3),
                                         "after_frame": last_frame() if last_frame else None})

        self._killer = threading.Thread(target=killer, name="kill-schedule", daemon=True)
        self._killer.start()

    def _write(self, name: str) -> None:
        (self.workdir / name).write_text(yaml.safe_dump(to_mapping(self.config), sort_keys=False))

    def bind(self, name: str) -> str:
        """The endpoint process ``name`` binds (any free port of loopback here)."""
        return "tcp://127.0.0.1:*"

    def command(self, name: str, cmd: list[str]) -> list[str]:
        """The command line that starts process ``name`` (``cmd`` as is here)."""
        return cmd

    def _spawn(self, role: list[str], config: str, name: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "runtime.cli.run", "--bundle", self.bundle_dir, *role,
               "--config", str(self.workdir / config)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.workdir / f"{name}.log", "ab") as log:  # the child keeps its own handle
            return subprocess.Popen(self.command(name, cmd), stdout=subprocess.PIPE, stderr=log, env=env,
                                    preexec_fn=_die_with_parent)

    def _ready(self, name: str) -> dict[str, Any]:
        proc = self.procs[name]
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            r, _, _ = select.select([proc.stdout], [], [], 0.2)
            if r:
                line = proc.stdout.readline()
                if line:
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if obj.get("ready"):
                        return obj
        tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
        raise UserError(f"local cluster: {name} did not start (log {self.workdir / (name + '.log')}):\n{tail}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one process (tests: kill -9 a server)."""
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            proc.wait(timeout=10)

    def restart(self, name: str) -> str:
        """Start server ``name`` again (after :meth:`kill`); returns its new endpoint."""
        self.procs[name] = self._spawn(self._server_role(name), "cluster.yaml", name)
        self.endpoints[name] = self._ready(name)["endpoint"]
        return self.endpoints[name]

    def stop(self) -> None:
        """SIGTERM every process, wait up to 5 s, then SIGKILL what is left."""
        self._killer_stop.set()
        if self._killer is not None:
            self._killer.join(timeout=15)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout:
                self._read_stopped(name, proc)
                proc.stdout.close()

    def _read_stopped(self, name: str, proc: subprocess.Popen) -> None:
        """Keep a process's last words: the JSON ``stopped`` line with its counters (served, overruns, ...)."""
        try:
            rest = proc.stdout.read() if proc.stdout and not proc.stdout.closed else b""
        except (OSError, ValueError):
            return
        for line in (rest or b"").splitlines():
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(obj, dict) and obj.get("stopped"):
                self.stopped[name] = {k: v for k, v in obj.items() if k not in ("stopped", "name")}

    def stopped_counters(self) -> dict[str, Any]:
        """After :meth:`stop`: each server's counters and their totals (``overruns`` = replies the host
        computed later than the emulated device would have answered); killed servers say nothing."""
        servers = {n: c for n, c in self.stopped.items() if n != "master"}
        totals = {k: sum(int(c.get(k, 0)) for c in servers.values())
                  for k in ("served", "overruns", "errors", "reply_failed")}
        return {"servers": servers, "totals": totals, "reported_by": sorted(servers)}

    def emulation(self) -> dict[str, Any]:
        """What the summary says about emulation."""
        return {"servers": {s: self.device_of(s) for s in self.server_names()},
                "emulated": any(self.device_of(s) != "host" for s in self.server_names()),
                "pace_factor": round(self.pace_factor, 3),
                **({"pace_factor_given": True} if self.fixed_pace_factor else {}),
                "host_ms": {m: round(t, 3) for m, t in self.host_ms.items()},
                **({"latency_estimated": dict(sorted(self.estimated.items()))} if self.estimated else {}),
                "note": "replies paced to the bundle's device profiles x pace_factor (real inference runs on this "
                        "host); latencies are emulated, not measured on the devices"}

    def hooks(self) -> dict[str, Any]:
        """What the summary says about the experiment hooks in use (empty when none)."""
        out: dict[str, Any] = {}
        if self.cost_schedule:
            out["cost_schedule"] = [c.spec() for c in parse_cost_schedule(self.cost_schedule)]
            out["cost_schedule_clock"] = "seconds since each server's first client message (~ the client's start)"
        if self.kill_schedule:
            out["kill_schedule"] = [{"server": n, "at_s": t} for n, t in self.kill_schedule]
            out["kills"] = list(self.kill_events)
            out["kill_clock"] = "seconds since the client's start; after_frame = the last frame emitted by then"
        if self.schedule_log:
            out["schedule_log"] = self.schedule_log
        return out
