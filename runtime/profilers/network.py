"""Network profiler (paper §III-D1): available bandwidth b_i (B/s) from this client to each server device.

Measured iperf-style by timed transfers over the runtime's own ZeroMQ link, kept for the ``top_n`` devices
with the highest bandwidth, refreshed every ``refresh_s`` seconds (all peers re-measured every ``rescan_s``).

Wire format (client DEALER → server ROUTER; the server's loop hands probe messages to :func:`probe_reply`):

- request  ``[b"PLBW", seq (8-byte big-endian), payload (n bytes)]``
- reply    ``[b"PLBW-ACK", seq, n as ASCII decimal]``

One measurement: ``rounds`` pairs of a probe with an empty payload (round-trip time r0, s) and one of
``payload_bytes`` (r1); b = payload_bytes / (min r1 − min r0). The minima drop the queueing a busy server or a
busy client thread adds to single round trips (a busy 2-core host otherwise gives r1 < r0 and absurd rates);
a transfer too fast to resolve (loopback) counts as 1 µs. A peer that answers the empty probe but
not a full one within ``timeout_ms`` is on a link slower than that: b = payload_bytes / timeout (an upper
bound, so a slow link is never taken for an unmeasured, default-speed one). A reply that does not
arrive within ``timeout_ms`` makes the peer unreachable (dropped from the table until the next rescan).
Replies carry the request's sequence number; late replies of an earlier probe are skipped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

import zmq

from runtime.config import bounded

PROBE = b"PLBW"
PROBE_ACK = b"PLBW-ACK"


@dataclasses.dataclass(frozen=True)
class NetworkProfilerConfig:
    """``network_profiler`` section of the runtime config."""

    top_n: int = bounded(10, "keep and refresh the n devices with the highest bandwidth", ge=1)
    refresh_s: float = bounded(15.0, "re-measure the kept devices every this many seconds", gt=0)
    rescan_s: float = bounded(300.0, "re-measure every peer (and re-pick the n best) this often, s", gt=0)
    payload_bytes: int = bounded(262_144, "bytes per timed transfer", ge=1)
    rounds: int = bounded(3, "timed transfers per measurement (median taken)", ge=1)
    timeout_ms: int = bounded(2000, "give up on a peer after this long without a reply, ms", ge=1)


def is_probe(frames: Sequence[bytes]) -> bool:
    """True for a probe request's frames (after the ROUTER's identity frame is removed)."""
    return len(frames) == 3 and frames[0] == PROBE


def probe_reply(frames: Sequence[bytes]) -> list[bytes]:
    """The reply frames for probe request ``frames`` (server side)."""
    return [PROBE_ACK, frames[1], str(len(frames[2])).encode()]


def serve_probes(socket: zmq.Socket, stop: Callable[[], bool], poll_ms: int = 50) -> None:
    """A minimal server loop on a bound ROUTER ``socket`` that answers probes until ``stop()``."""
    while not stop():
        if not socket.poll(poll_ms, zmq.POLLIN):
            continue
        identity, *frames = socket.recv_multipart(copy=True)
        if is_probe(frames):
            socket.send_multipart([identity, *probe_reply(frames)])


class ZmqProbe:
    """Client side of the timed transfer over one connected DEALER socket per peer (name → socket)."""

    def __init__(self, sockets: Mapping[str, zmq.Socket], config: NetworkProfilerConfig) -> None:
        self._sockets = dict(sockets)
        self._config = config
        self._seq = 0
        self._payload = bytes(config.payload_bytes)

    def _round_trip(self, socket: zmq.Socket, payload: bytes) -> float | None:
        """Seconds from send to the matching reply, or None on timeout."""
        self._seq += 1
        seq = self._seq.to_bytes(8, "big")
        t0 = time.perf_counter()
        socket.send_multipart([PROBE, seq, payload], copy=False)
        deadline = t0 + self._config.timeout_ms / 1000.0
        while True:
            left_ms = int((deadline - time.perf_counter()) * 1000)
            if left_ms <= 0 or not socket.poll(left_ms, zmq.POLLIN):
                return None
            reply = socket.recv_multipart()
            if len(reply) == 3 and reply[0] == PROBE_ACK and reply[1] == seq:
                return time.perf_counter() - t0

    def __call__(self, peer: str) -> float | None:
        """Bandwidth to ``peer`` in B/s, or None when it does not answer at all."""
        socket = self._sockets[peer]
        empty, full = [], []
        for _ in range(self._config.rounds):
            for payload, times in ((b"", empty), (self._payload, full)):
                rtt = self._round_trip(socket, payload)
                if rtt is None:  # no answer at all: unreachable; no full answer in time: a slow link
                    return len(self._payload) / (self._config.timeout_ms / 1000.0) if payload and empty else None
                times.append(rtt)
        return len(self._payload) / max(min(full) - min(empty), 1e-6)


class NetworkProfiler:
    """Bandwidth table b_i (B/s) for the ``top_n`` best peers; ``measure(peer)`` returns B/s or None."""

    def __init__(self, peers: Sequence[str], measure: Callable[[str], float | None],
                 config: NetworkProfilerConfig | None = None) -> None:
        self.config = config or NetworkProfilerConfig()
        self._peers = list(peers)
        self._measure = measure
        self._table: dict[str, float] = {}
        self._last_refresh: float | None = None
        self._last_rescan: float | None = None

    def rescan(self, now: float) -> dict[str, float]:
        """Measure every peer and keep the ``top_n`` fastest. ``now`` in seconds (monotonic clock)."""
        found = {p: b for p in self._peers if (b := self._measure(p)) is not None}
        best = sorted(found.items(), key=lambda item: -item[1])[: self.config.top_n]
        self._table = dict(best)
        self._last_refresh = self._last_rescan = now
        return self.bandwidths()

    def refresh(self, now: float) -> dict[str, float]:
        """Re-measure the kept peers only (an unreachable one is dropped)."""
        table = {}
        for peer in self._table:
            bw = self._measure(peer)
            if bw is not None:
                table[peer] = bw
        self._table = table
        self._last_refresh = now
        return self.bandwidths()

    def tick(self, now: float | None = None) -> bool:
        """Rescan or refresh if one is due at ``now`` (default: ``time.monotonic()``); True if it measured."""
        now = time.monotonic() if now is None else now
        if self._last_rescan is None or now - self._last_rescan >= self.config.rescan_s:
            self.rescan(now)
            return True
        if self._last_refresh is not None and now - self._last_refresh >= self.config.refresh_s:
            self.refresh(now)
            return True
        return False

    def bandwidths(self) -> dict[str, float]:
        """Current table: peer name → bandwidth in B/s, fastest first (at most ``top_n``)."""
        return dict(sorted(self._table.items(), key=lambda item: -item[1]))
