"""The client's records and helpers: the mode → model-kind rule, one server's link, one frame's job, one
outstanding patch request, and the bandwidth thread (the network profiler on sockets of its own).
Used by :mod:`runtime.cluster.client` and its ``client_*`` modules; times are ``time.monotonic()`` seconds,
latencies ms."""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import zmq

from runtime.cluster.aggregate import PatchDetections
from runtime.cluster.config import ClusterConfig
from runtime.cluster.transport import Transport
from runtime.frame_plan import FramePlan
from runtime.keypoint_task import PatchPose
from runtime.modes import Mode, ModelKind
from runtime.profilers.network import NetworkProfiler, ZmqProbe


def mode_kind(mode: Mode | str) -> ModelKind:
    """The model kind a mode uses (``baseline`` or ``mini``); an unknown mode is a UserError."""
    return Mode.parse(mode, "--mode").model_kind


@dataclass
class Link:
    """The client's view of one server."""

    name: str
    endpoint: str
    sock: zmq.Socket
    models: dict[str, float]  # model → latency (ms), of the kind this client uses
    alive: bool = True
    last_seen: float = 0.0
    first_unanswered: float | None = None  # when the oldest ping not answered yet was sent (None: none)
    inflight: set = field(default_factory=set)
    weight_credit: float = 0.0  # smooth weighted round robin (baseline)
    monitor: zmq.Socket | None = None  # reports the TCP connection's loss at once (kill -9, reboot)


@dataclass
class Job:
    """One frame on its way through the cluster."""

    frame_id: int
    frame: np.ndarray
    arrival: float
    rects: list[tuple[int, int, int, int]] = field(default_factory=list)
    jpegs: list[bytes] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    model_kinds: list[str] = field(default_factory=list)  # per patch: the model kind that infers it
    results: list[PatchDetections | PatchPose | None] = field(default_factory=list)  # PatchPose: keypoint task
    attempts: list[int] = field(default_factory=list)
    gen_ms: float = 0.0
    sched_req: str | None = None
    sched_sent: float = 0.0
    sched_ms: float | None = None
    reqs: list[str] = field(default_factory=list)  # every patch request sent for this frame
    plan: FramePlan | None = None  # what the closed loop planned for this frame
    min_scores: list[float | None] = field(default_factory=list)  # per patch: score floor asked (None: model's)
    predicted_ms: float | None = None  # the master's predicted slowest device time for this frame, ms

    def min_score(self, index: int) -> float | None:
        """The score floor entry ``index`` asks of its model (None: the model's own threshold)."""
        return self.min_scores[index] if index < len(self.min_scores) else None

    @property
    def remaining(self) -> int:
        return sum(1 for r in self.results if r is None)


class Headroom:
    """The SLO a frame's device time is planned within: the SLO less the median overhead of the last ``window``
    frames — their end-to-end time beyond the master's prediction (generation, transfer, queueing, contention),
    ms. Until ``min_frames`` frames are seen, the SLO itself; never below ``floor`` × the SLO."""

    def __init__(self, window: int = 30, min_frames: int = 5, floor: float = 0.25) -> None:
        self.samples: collections.deque[float] = collections.deque(maxlen=window)
        self.min_frames, self.floor = min_frames, floor

    def add(self, e2e_ms: float, predicted_ms: float) -> None:
        """One finished frame: its end-to-end time and the master's prediction for it, ms."""
        self.samples.append(max(0.0, e2e_ms - predicted_ms))

    def slo(self, slo_ms: float) -> float:
        """The device-time SLO for the next frame, ms."""
        if len(self.samples) < self.min_frames:
            return slo_ms
        return max(self.floor * slo_ms, slo_ms - float(np.median(self.samples)))


@dataclass
class Flight:
    """One patch request outstanding at a server."""

    req: str
    job: Job
    index: int
    device: str
    model: str
    sent: float
    deadline: float
    superseded: bool = False


class BandwidthThread(threading.Thread):
    """Runs the network profiler on its own sockets; :meth:`set_peers` / :meth:`bandwidths` are thread-safe."""

    def __init__(self, cluster: ClusterConfig, node: str) -> None:
        super().__init__(daemon=True, name="bandwidth")
        self.cluster, self.node = cluster, node
        self._lock = threading.Lock()
        self._peers: dict[str, str] = {}
        self._table: dict[str, float] = {}
        self._stop_event = threading.Event()
        self.scanned = threading.Event()  # set once every peer known has been measured (or found unreachable)

    def set_peers(self, peers: Mapping[str, str]) -> None:
        with self._lock:
            self._peers = dict(peers)

    def bandwidths(self) -> dict[str, float]:
        with self._lock:
            return dict(self._table)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        transport = Transport(self.cluster.transport, self.cluster.curve(self.node))
        config = self.cluster.client.network_profiler
        current: dict[str, str] = {}
        sockets: dict[str, zmq.Socket] = {}
        profiler: NetworkProfiler | None = None
        try:
            while not self._stop_event.wait(0.2):
                with self._lock:
                    peers = dict(self._peers)
                if peers != current:
                    for sock in sockets.values():
                        transport.discard(sock)
                    sockets = {n: transport.dealer(ep) for n, ep in peers.items()}
                    probe = ZmqProbe(sockets, config)

                    def measure(peer: str, probe: ZmqProbe = probe) -> float | None:
                        try:
                            return probe(peer)
                        except zmq.ZMQError:
                            return None

                    profiler = NetworkProfiler(list(peers), measure, config)
                    current = peers
                if profiler is not None and profiler.tick():
                    with self._lock:
                        self._table = profiler.bandwidths()
                        if current == self._peers:
                            self.scanned.set()
        finally:
            transport.close()
