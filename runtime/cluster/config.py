"""``cluster.yaml``: the typed, strict configuration of one cluster (master, servers, client, timing, keys).

Example (every key optional except ``master`` and the servers' ``name``/``bind``)::

    master: {bind: "tcp://*:5550", endpoint: "tcp://10.0.0.1:5550", scheduler: markov, gamma: 0.1}
    servers:
      - {name: jetson-1, device: jetson-xavier-nx, bind: "tcp://*:5551", endpoint: "tcp://10.0.0.2:5551"}
      - {name: rpi-1, device: raspberry-pi-4b, bind: "tcp://*:5551", endpoint: "tcp://10.0.0.3:5551"}
    client: {name: cam-1, slo_ms: 500, mode: paraloupe}
    timing: {heartbeat_ms: 250, liveness: 3, report_ms: 250}
    security: {curve: true, keys_dir: keys, node_key: cam-1}

A process picks its own server entry with ``--name``. Unknown keys and out-of-range values are one-line
errors naming the key (:func:`runtime.config.from_mapping`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runtime.cluster.transport import Curve, SocketOptions
from runtime.config import bounded, from_mapping, read_yaml
from runtime.errors import UserError
from runtime.keypoint_task import BoxSource
from runtime.loop_config import LoopConfig
from runtime.manifest import Task
from runtime.modes import Mode, Solver
from runtime.patches.config import PatchConfig
from runtime.profilers.network import NetworkProfilerConfig


@dataclass
class MasterSection:
    """The master scheduler: where it binds, where others reach it, and the policy."""

    bind: str = bounded("", "ZeroMQ endpoint the master binds (tcp://*:PORT; port * = any free one)")
    endpoint: str = bounded("", "endpoint servers and clients connect to")
    scheduler: Solver = bounded(Solver.MARKOV, "scheduling policy")
    gamma: float = bounded(0.1, "γ: weight of the computational cost in the utility", ge=0.0)
    seed: int = bounded(0, "seed of the markov policy", ge=0)
    default_bandwidth_Bps: float = bounded(12.5e6, "b_i used before the client has measured one, B/s", gt=0)

    def __post_init__(self) -> None:
        self.scheduler = Solver.parse(self.scheduler, "master.scheduler")  # a plain string given in code


@dataclass
class ServerSection:
    """One inference server."""

    name: str = bounded("", "unique device name in the cluster")
    bind: str = bounded("", "endpoint this server binds (tcp://*:PORT)")
    endpoint: str = bounded("", "endpoint clients connect to (default: the bound one)")
    device: str = bounded("host", "bundle device profile (jetson-xavier-nx, raspberry-pi-4b, snapdragon-732g) "
                                  "or host (measured here)")
    emulate: bool = bounded(True, "pace replies to the device profile's latency (not for host)")
    pace_factor: float = bounded(1.0, "common slow-down of every emulated device (CONVENTIONS)", ge=1.0)
    models: list[str] = bounded([], "models to serve (default: the device's models in the bundle)")
    threads: int = bounded(1, "ncnn threads", ge=1, le=64)
    queue_max: int = bounded(64, "patches waiting beyond this are refused with an error reply", ge=1)
    task: Task = bounded("detection", "the models served: detection or keypoints (the bundle's models of that task)")


@dataclass
class KeypointSection:
    """The client's keypoint task (``client.keypoints``; used with ``client.task: keypoints``)."""

    boxes: str = bounded("", "the person boxes: a COCO JSON (image id = frame index) or a detection JSONL")
    boxes_from: BoxSource = bounded("gt", "gt: boxes is a COCO ground truth; detections: the "
                                                            "detection task's prediction JSONL")
    r: float = bounded(0.75, "box area / crop area of each person crop", gt=0, le=1)
    min_height: float = bounded(24.0, "person boxes lower than this are skipped, px", ge=0)
    model: str = bounded("", "the keypoint model every crop asks for (empty: the scheduler picks among the "
                             "mode's kind: mini, or baseline with mode baseline)")


@dataclass
class ClientSection:
    """The client: what it runs and how it copes with failures and overload."""

    name: str = bounded("client", "this client's name (its CURVE key name by default)")
    mode: Mode = bounded(Mode.PARALOUPE, Mode.help_text())
    slo_ms: float = bounded(500.0, "T_SLO per frame, ms", gt=0)
    headroom: bool = bounded(True, "plan each frame's device time within the SLO less the overhead recent frames "
                                   "showed beyond the master's prediction (generation, transfer, queueing, "
                                   "contention: the median of the last headroom_frames), so a loaded cluster "
                                   "keeps frames within the SLO")
    headroom_frames: int = bounded(30, "frames the headroom's median looks back over", ge=1, le=10000)
    pipeline: int = bounded(0, "frames in flight at once (0 = 1 for patch modes, one per server for baseline)",
                            ge=0, le=64)
    queue_frames: int = bounded(4, "frames waiting to start; beyond, the oldest is dropped (counted)", ge=1)
    stale_ms: float = bounded(2000.0, "a waiting frame older than this is dropped (counted), ms", gt=0)
    offer_fps: float = bounded(0.0, "frames arrive at this rate like a camera (0 = as fast as served)", ge=0)
    resend_factor: float = bounded(2.0, "a patch is re-sent after factor × max(SLO, predicted T_i)", ge=1.0)
    max_resends: int = bounded(2, "re-sends of one patch before the client infers it itself", ge=0)
    master_timeout_ms: int = bounded(500, "a schedule request unanswered this long → local fallback policy",
                                     ge=1)
    startup_timeout_s: float = bounded(30.0, "wait this long for the servers to register", gt=0)
    min_servers: int = bounded(1, "servers to wait for before the first frame", ge=0)
    min_score: float = bounded(0.5, "aggregator: detections below this score are dropped from the frame's "
                                    "result in patch modes (and so never fed back to the patch generator); "
                                    "whole-frame modes keep the model's own threshold", ge=0, le=1)
    merge_iou: float = bounded(0.5, "aggregator: NMS IoU across patches", gt=0, le=1)
    merge_contain: float = bounded(0.8, "aggregator: area share that makes a border-cut box a duplicate",
                                   gt=0, le=1)
    baseline_side: int = bounded(0, "modes baseline and sahi: whole frames (sahi: and slices of this side) go to "
                                    "the bundle's baseline at this input side, px (or the next larger; 0 = the "
                                    "largest)", ge=0)
    mini: str = bounded("", "patch modes: the mini model every patch asks for (a per-camera choice, made on the "
                            "camera's own labelled frames: paraloupe-bench tune --per-mini; a device that does not "
                            "serve it uses the same network in its own precision, else its own); empty: the "
                            "scheduler picks by the profiles' accuracy")
    task: Task = bounded("detection", "detection (the mode's patches) or keypoints (one crop per person box, "
                                      "client.keypoints)")
    keypoints: KeypointSection = field(default_factory=KeypointSection)
    patches: PatchConfig = field(default_factory=PatchConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    network_profiler: NetworkProfilerConfig = field(default_factory=NetworkProfilerConfig)

    def __post_init__(self) -> None:
        self.mode = Mode.parse(self.mode, "client.mode")  # a plain string given in code (--mode, tests)


@dataclass
class TimingSection:
    """Heartbeats and reports (the ZeroMQ guide's Paranoid Pirate)."""

    heartbeat_ms: int = bounded(250, "client → server heartbeat period, ms", ge=10, le=300)
    liveness: int = bounded(3, "missed heartbeats (or reports) before a device is removed", ge=1, le=10)
    report_ms: int = bounded(250, "server → master state report period, ms", ge=10, le=300)


@dataclass
class SecuritySection:
    """CURVE encryption + ZAP authentication (off by default)."""

    curve: bool = bounded(False, "encrypt and authenticate every connection")
    keys_dir: str = bounded("", "folder with the key pairs and authorized/ public keys")
    server_key: str = bounded("server", "key pair name of every bound socket")
    node_key: str = bounded("", "this process's key pair name (default: its --name)")


@dataclass
class ClusterConfig:
    """The whole ``cluster.yaml``."""

    master: MasterSection = field(default_factory=MasterSection)
    servers: list[ServerSection] = bounded([], "inference servers")
    client: ClientSection = field(default_factory=ClientSection)
    timing: TimingSection = field(default_factory=TimingSection)
    transport: SocketOptions = field(default_factory=SocketOptions)
    security: SecuritySection = field(default_factory=SecuritySection)

    def validate(self, where: str) -> None:
        names = [s.name for s in self.servers]
        for i, s in enumerate(self.servers):
            if not s.name or not s.bind:
                raise UserError(f"{where}.servers[{i}]: name and bind are required")
        if len(set(names)) != len(names):
            raise UserError(f"{where}.servers: duplicate name")
        if self.security.curve and not self.security.keys_dir:
            raise UserError(f"{where}.security.keys_dir: required when curve is true")

    def server(self, name: str) -> ServerSection:
        """The server entry called ``name``."""
        for s in self.servers:
            if s.name == name:
                return s
        raise UserError(f"cluster config: no server named {name!r} (have: {', '.join(s.name for s in self.servers)})")

    def curve(self, node: str) -> Curve | None:
        """The CURVE keys of process ``node`` (None when security is off)."""
        sec = self.security
        if not sec.curve:
            return None
        return Curve(Path(sec.keys_dir), sec.node_key or node, sec.server_key)


def load_cluster_config(path: str | Path) -> ClusterConfig:
    """Read and validate ``cluster.yaml``."""
    return from_mapping(ClusterConfig, read_yaml(path), str(path))

