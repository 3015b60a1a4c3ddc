"""``--cluster local:N``: a master and N servers as separate processes on loopback, started and shut down.

Each process is ``python -m runtime.cli.run --bundle B --role master|server --config CFG [--name NAME]``
with a cluster.yaml written into a work folder; every socket binds ``tcp://127.0.0.1:*`` (a free port) and
the endpoints travel through the processes' JSON ready lines and the servers' state reports — no fixed
ports. Server i takes device profile ``devices[i % len(devices)]``; emulated devices are paced with one
common factor (:func:`runtime.cluster.server.common_pace_factor`) measured on this host. With ``curve``,
key pairs are made in the work folder and every connection is encrypted and authenticated.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import yaml

from runtime.cluster.config import ClusterConfig, SecuritySection, ServerSection
from runtime.cluster.server import common_pace_factor, served_models
from runtime.cluster.transport import make_keys
from runtime.config import to_mapping
from runtime.errors import UserError
from runtime.infer import Detector, time_model


def default_devices(manifest: Mapping[str, Any]) -> list[str]:
    """The bundle's profiled devices (sorted), or ``host`` when it has none."""
    return sorted(manifest.get("profiles") or {}) or ["host"]


def host_latencies(bundle_dir: str | Path, manifest: Mapping[str, Any], models: list[str]) -> dict[str, float]:
    """Median ncnn latency (ms) of each model on this host (1 thread)."""
    return {m: time_model(Detector(bundle_dir, m, manifest), runs=5, warmup=2) for m in models}


class LocalCluster:
    """Master + N servers on loopback. Use as a context manager; :attr:`config` is the client's config."""

    def __init__(self, bundle_dir: str | Path, manifest: Mapping[str, Any], n: int, base: ClusterConfig,
                 workdir: str | Path, devices: list[str] | None = None, curve: bool = False,
                 ready_timeout_s: float = 60.0) -> None:
        if n < 1:
            raise UserError(f"--cluster local:N needs N >= 1, got {n}")
        self.bundle_dir, self.manifest, self.n = str(bundle_dir), manifest, n
        self.workdir = Path(workdir)
        self.devices = list(devices or default_devices(manifest))
        for d in self.devices:
            if d != "host" and d not in (manifest.get("profiles") or {}):
                raise UserError(f"--devices: {d!r} has no profile in the bundle "
                                f"(have: {', '.join(manifest.get('profiles') or {}) or 'none'}, or host)")
        self.base = base
        self.curve = curve
        self.ready_timeout_s = ready_timeout_s
        self.procs: dict[str, subprocess.Popen] = {}
        self.endpoints: dict[str, str] = {}
        self.pace_factor = 1.0
        self.host_ms: dict[str, float] = {}
        self.config = base

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "LocalCluster":
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
        models = sorted({m for d in emulated for m in served_models(self.manifest, d)})
        self.host_ms = host_latencies(self.bundle_dir, self.manifest, models) if models else {}
        self.pace_factor = common_pace_factor(self.manifest, emulated, self.host_ms)
        security = SecuritySection()
        if self.curve:
            keys = self.workdir / "keys"
            if not (keys / "server.key_secret").exists():
                make_keys(keys, ["server", self.base.client.name] + self.server_names())
            security = SecuritySection(curve=True, keys_dir=str(keys))
        master = dataclasses.replace(self.base.master, bind="tcp://127.0.0.1:*", endpoint="")
        servers = [ServerSection(name=s, bind="tcp://127.0.0.1:*", device=self.device_of(s),
                                 emulate=self.device_of(s) != "host", pace_factor=self.pace_factor)
                   for s in self.server_names()]
        self.config = dataclasses.replace(self.base, master=master, servers=servers, security=security)
        self._write("master.yaml")
        self.procs["master"] = self._spawn(["--role", "master"], "master.yaml", "master")
        ready = self._ready("master")
        self.endpoints["master"] = ready["endpoint"]
        self.config = dataclasses.replace(self.config, master=dataclasses.replace(master, endpoint=ready["endpoint"]))
        self._write("cluster.yaml")
        for s in self.server_names():
            self.procs[s] = self._spawn(["--role", "server", "--name", s], "cluster.yaml", s)
        for s in self.server_names():
            self.endpoints[s] = self._ready(s)["endpoint"]

    def _write(self, name: str) -> None:
        (self.workdir / name).write_text(yaml.safe_dump(to_mapping(self.config), sort_keys=False))

    def _spawn(self, role: list[str], config: str, name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        cmd = [sys.executable, "-m", "runtime.cli.run", "--bundle", self.bundle_dir, *role,
               "--config", str(self.workdir / config)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env)
        finally:
            log.close()

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
        self.procs[name] = self._spawn(["--role", "server", "--name", name], "cluster.yaml", name)
        self.endpoints[name] = self._ready(name)["endpoint"]
        return self.endpoints[name]

    def stop(self) -> None:
        """SIGTERM every process, wait up to 5 s, then SIGKILL what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout:
                proc.stdout.close()

    def emulation(self) -> dict[str, Any]:
        """What the summary says about emulation."""
        return {"servers": {s: self.device_of(s) for s in self.server_names()},
                "emulated": any(self.device_of(s) != "host" for s in self.server_names()),
                "pace_factor": round(self.pace_factor, 3), "host_ms": {m: round(t, 3) for m, t in self.host_ms.items()},
                "note": "replies paced to the bundle's device profiles x pace_factor (real inference runs on this "
                        "host); latencies are emulated, not measured on the devices"}
