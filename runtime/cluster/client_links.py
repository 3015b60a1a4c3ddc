"""The client's links: one DEALER to the master and one per server, all watched by one poller, the servers
kept under watch by heartbeats (the ZeroMQ guide's Paranoid Pirate, client side).

- heartbeats: a ``ping`` to every server each ``heartbeat_ms`` (≤ 300); any message from a server proves it
  alive; a ping unanswered for ``liveness`` periods (and as long a silence) → the server is removed, its socket
  closed (queued messages gone), its in-flight patches re-sent elsewhere (``on_lost``), and it is named in
  ``exclude`` in schedule requests. A client loop that stalled (numba JIT of its first frame, a busy host)
  sent no pings meanwhile, so its stall alone never removes a server; servers are known only once the master
  lists them, i.e. once they are ready (readiness before liveness);
  a lost TCP connection (the socket's monitor: kill -9, reboot) removes it at once;
- rejoin: a removed server's endpoint keeps being pinged on a fresh socket; its first ``pong`` (or a new
  endpoint in the master's device table) brings it back.

The poller is built once and changed only when a socket is opened or closed (a server joins, moves, is
removed); an event of a socket closed while an earlier event of the same poll was handled is skipped. What
arrives is handed to ``receive(socket, link, now)`` (``link`` None: the master's socket). Times are
``time.monotonic()`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from runtime.cluster.client_parts import BandwidthThread, Link
from runtime.cluster.config import ClusterConfig
from runtime.cluster.protocol import encode
from runtime.cluster.summary import Stats
from runtime.cluster.transport import Transport

#: ``receive(socket, link, now)``: read what waits on a socket (``link`` None: the master's).
Receive = Callable[[zmq.Socket, Link | None, float], None]


class ClientLinks:
    """The client's sockets and its view of the servers (``links``: name → :class:`Link`).

    Nothing is connected before :meth:`open`; :meth:`close` ends every socket and the bandwidth thread.
    ``event(what, device)`` records a join, move, removal or rejoin; ``on_lost(link, now)`` re-sends the
    in-flight patches of a server just removed."""

    def __init__(self, cluster: ClusterConfig, master_endpoint: str, stats: Stats,
                 event: Callable[[str, str], None], receive: Receive,
                 on_lost: Callable[[Link, float], None]) -> None:
        self.cluster = cluster
        self.master_endpoint = master_endpoint
        self.stats = stats
        self.event = event
        self.receive = receive
        self.on_lost = on_lost
        node = cluster.client.name
        self.transport = Transport(cluster.transport, cluster.curve(node))  # a context: no socket yet
        self.bw = BandwidthThread(cluster, node)
        self.links: dict[str, Link] = {}
        self.poller = zmq.Poller()
        self._sockets: dict[zmq.Socket, Link | None] = {}  # polled socket → its server (None: the master)
        self._monitors: dict[zmq.Socket, Link] = {}  # polled monitor socket → its server
        self._master: zmq.Socket | None = None
        self.next_heartbeat = 0.0  # when the next round of pings is due (monotonic s)

    # ---------------------------------------------------------------- lifetime

    def open(self) -> None:
        """Connect to the master and start the bandwidth thread."""
        self._master = self.transport.dealer(self.master_endpoint)
        self._watch(self._master, None)
        self.bw.start()

    def close(self) -> None:
        """Stop the bandwidth thread (waits up to 5 s) and close every socket."""
        self.bw.stop()
        if self.bw.ident is not None:
            self.bw.join(timeout=5)
        self.transport.close()

    @property
    def master(self) -> zmq.Socket:
        """The DEALER to the master (after :meth:`open`)."""
        if self._master is None:
            raise RuntimeError("ClientLinks.open() connects the master socket")
        return self._master

    # ---------------------------------------------------------------- sending and polling

    def send(self, sock: zmq.Socket, frames: list[bytes], counted: bool = True) -> bool:
        """Send without blocking; a failure (peer not connected, queue full) is counted as ``send_failed``
        when ``counted``. True when sent."""
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
            return True
        except zmq.ZMQError:
            if counted:
                self.stats.count("send_failed")
            return False

    def send_master(self, frames: list[bytes], counted: bool = True) -> bool:
        """:meth:`send` to the master."""
        return self.send(self.master, frames, counted)

    def poll(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for any socket; hand each ready one to its handler."""
        for sock, _ in self.poller.poll(timeout_ms):
            if sock in self._monitors:
                self._on_monitor(self._monitors[sock], time.monotonic())
            elif sock in self._sockets:
                self.receive(sock, self._sockets[sock], time.monotonic())
            # else: closed while an earlier event of this poll was handled

    def poll_master(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for the master only and read what it sent."""
        if self.master.poll(timeout_ms, zmq.POLLIN):
            self.receive(self.master, None, time.monotonic())

    def _watch(self, sock: zmq.Socket, link: Link | None) -> None:
        self._sockets[sock] = link
        self.poller.register(sock, zmq.POLLIN)

    # ---------------------------------------------------------------- the servers

    def live(self) -> list[Link]:
        """The servers alive and serving a model of the client's kind."""
        return [link for link in self.links.values() if link.alive and link.models]

    def dead(self) -> list[str]:
        """Names of the servers removed and not back (``exclude`` of a schedule request)."""
        return [name for name, link in self.links.items() if not link.alive]

    def update_devices(self, devices: Mapping[str, Mapping[str, Any]], now: float) -> None:
        """The master's device table: new servers joined, moved ones reconnected, model latencies (ms)
        refreshed; the bandwidth thread measures every server known."""
        for name, info in devices.items():
            link = self.links.get(name)
            models = {m: float(t) for m, t in info["models"].items()}
            if link is None:
                link = self.links[name] = Link(name, info["endpoint"], None, models, True, now)  # type: ignore[arg-type]
                self._connect(link)
                self.event("server joined", name)
            elif link.endpoint != info["endpoint"]:
                self._disconnect(link)
                link.endpoint, link.models = info["endpoint"], models
                self._connect(link)
                self.event("server moved", name)
            else:
                link.models = models
        self.bw.set_peers({name: link.endpoint for name, link in self.links.items()})

    def _connect(self, link: Link) -> None:
        """A fresh DEALER to the link's endpoint (nothing queued) with a monitor for disconnections."""
        link.sock = self.transport.dealer(link.endpoint)
        link.monitor = self.transport.monitor(link.sock, zmq.EVENT_DISCONNECTED)
        self._watch(link.sock, link)
        self._monitors[link.monitor] = link
        self.poller.register(link.monitor, zmq.POLLIN)

    def _disconnect(self, link: Link) -> None:
        """Close the link's socket and monitor now (queued messages gone)."""
        if link.monitor is not None:
            self.poller.unregister(link.monitor)
            del self._monitors[link.monitor]
        self.poller.unregister(link.sock)
        del self._sockets[link.sock]
        self.transport.discard(link.sock)

    # ---------------------------------------------------------------- liveness

    def heartbeat(self, now: float) -> None:
        """When due: read what arrived first (a stalled loop is not a dead server), remove the servers that
        left a ping unanswered for ``liveness`` heartbeat periods, ping every server."""
        if now < self.next_heartbeat:
            return
        hb = self.cluster.timing.heartbeat_ms / 1000.0
        limit = self.cluster.timing.liveness * hb
        for link in list(self.links.values()):
            self.receive(link.sock, link, now)
        for link in self.links.values():
            unanswered = link.first_unanswered
            if link.alive and unanswered is not None and min(now - unanswered, now - link.last_seen) >= limit:
                self.remove(link, now, "missed heartbeats")
            self.send(link.sock, encode("ping", seq=int(now * 1000)), counted=False)
            if link.first_unanswered is None:  # also when unsendable (no connection, queue full): it was due
                link.first_unanswered = now
        self.next_heartbeat = now + hb

    def remove(self, link: Link, now: float, why: str) -> None:
        """Take a server out: its socket replaced by a fresh one (pinged until it answers), its in-flight
        patches sent elsewhere."""
        link.alive = False
        link.first_unanswered = None
        self.stats.count("servers_removed")
        self.event(f"server removed ({why})", link.name)
        self._disconnect(link)
        self._connect(link)
        self.on_lost(link, now)
        link.inflight.clear()

    def _on_monitor(self, link: Link, now: float) -> None:
        while link.monitor is not None and link.monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(link.monitor)
            if event["event"] == zmq.EVENT_DISCONNECTED and link.alive:
                self.remove(link, now, "disconnected")
                return

    def seen(self, link: Link, now: float) -> None:
        """A message from ``link``'s server: alive now; back if it had been removed (rejoin)."""
        link.last_seen = now
        link.first_unanswered = None
        if not link.alive:
            link.alive = True
            self.stats.count("servers_rejoined")
            self.event("server rejoined", link.name)
