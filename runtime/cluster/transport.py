"""ZeroMQ sockets of the cluster: explicit timeouts, LINGER and high-water marks; optional CURVE + ZAP.

Wire format (full table in :mod:`runtime.cluster.protocol`): every message is the multipart
``[header JSON, payload bytes]``, header ``{"v": 1, "type": .., "size": len(payload), ...}``; the bound
ROUTER side sees an identity frame first. Topology (endpoints always come from the config or the command
line, never from constants; nothing is bound in a constructor — :meth:`Transport.router` binds explicitly)::

    server ROUTER (bind)  ← client DEALER (connect)   patch/result/error, ping/pong, PLBW probes
    master ROUTER (bind)  ← client DEALER (connect)   schedule/assign
                          ← server DEALER (connect)   state (one-way, every report period)

Socket options set on every socket (:class:`SocketOptions`): ``LINGER`` (pending messages are dropped
after this many ms at close), ``SNDHWM``/``RCVHWM`` (messages queued per peer; beyond, a non-blocking send
fails and the caller counts a drop), ``SNDTIMEO``/``RCVTIMEO`` (ms a blocking call may wait),
``MAXMSGSIZE`` (larger messages disconnect the peer), ``IMMEDIATE`` on DEALERs (queue only to completed
connections, so nothing piles up for a dead server), ``ROUTER_MANDATORY`` on ROUTERs (a reply to a gone
peer fails instead of vanishing silently) and TCP keep-alive. A partitioned link (the cable pulled, the
process alive) is noticed by ZMTP heartbeats: a connection silent for ``heartbeat_timeout_ms`` is closed and
re-made every ``reconnect_ivl_ms``, each TCP connect given up after ``connect_timeout_ms`` (a SYN lost in the
partition is re-sent then, not after TCP's own seconds-long back-off), so a link back up reconnects within
about a second.

Security (off by default): with a :class:`Curve` every ROUTER is a CURVE server with the cluster's server
key pair and runs a ZAP authenticator (``zmq.auth.ThreadAuthenticator``) that admits only the public keys in
``KEYS_DIR/authorized/``; every DEALER is a CURVE client with its own key pair and the server's public key.
A peer whose key is not listed is refused during the handshake. Key files are ``zmq.auth`` certificates
(``NAME.key`` public, ``NAME.key_secret`` secret), made by ``paraloupe-run keys --out DIR``.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq

from runtime.cluster.protocol import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES
from runtime.config import bounded
from runtime.errors import UserError


@dataclasses.dataclass(frozen=True)
class SocketOptions:
    """``transport`` section: socket options applied to every socket."""

    linger_ms: int = bounded(0, "ms pending messages are kept at close (0 = drop at once)", ge=0, le=10_000)
    hwm: int = bounded(256, "high-water mark, messages per peer and direction", ge=1, le=100_000)
    send_timeout_ms: int = bounded(100, "longest a blocking send may wait, ms", ge=0, le=60_000)
    recv_timeout_ms: int = bounded(1000, "longest a blocking receive may wait, ms", ge=0, le=60_000)
    heartbeat_ivl_ms: int = bounded(250, "ZMTP heartbeat period of every connection, ms (0 = off)", ge=0, le=60_000)
    heartbeat_timeout_ms: int = bounded(1000, "a connection silent this long is closed and re-made, ms",
                                        ge=10, le=600_000)
    connect_timeout_ms: int = bounded(500, "a TCP connect unanswered this long is tried again, ms (0 = TCP's own)",
                                      ge=0, le=600_000)
    reconnect_ivl_ms: int = bounded(100, "wait before re-making a lost connection, ms", ge=1, le=60_000)


@dataclasses.dataclass(frozen=True)
class Curve:
    """CURVE keys: ``keys_dir`` holds ``SERVER.key[_secret]``, ``NODE.key[_secret]`` and ``authorized/``."""

    keys_dir: Path
    node: str  # this process's own key pair (for connecting)
    server: str = "server"  # the key pair every bound socket uses

    def _pair(self, name: str) -> tuple[bytes, bytes]:
        import zmq.auth

        secret = self.keys_dir / f"{name}.key_secret"
        if not secret.is_file():
            raise UserError(f"{secret}: missing CURVE secret key (make one with `paraloupe-run keys`)")
        public, private = zmq.auth.load_certificate(str(secret))
        if private is None:
            raise UserError(f"{secret}: not a secret key file")
        return public, private

    def server_public(self) -> bytes:
        import zmq.auth

        path = self.keys_dir / f"{self.server}.key"
        if not path.is_file():
            raise UserError(f"{path}: missing the server's public CURVE key")
        return zmq.auth.load_certificate(str(path))[0]


class Transport:
    """Creates the sockets of one process from one context; :meth:`close` ends them all and the ZAP thread."""

    def __init__(self, options: SocketOptions | None = None, curve: Curve | None = None) -> None:
        self.options = options or SocketOptions()
        self.curve = curve
        self.context = zmq.Context()
        self._auth: Any = None
        self._sockets: list[zmq.Socket] = []
        self._monitors: dict[zmq.Socket, zmq.Socket] = {}

    def _common(self, sock: zmq.Socket) -> zmq.Socket:
        o = self.options
        sock.setsockopt(zmq.LINGER, o.linger_ms)
        sock.setsockopt(zmq.SNDHWM, o.hwm)
        sock.setsockopt(zmq.RCVHWM, o.hwm)
        sock.setsockopt(zmq.SNDTIMEO, o.send_timeout_ms)
        sock.setsockopt(zmq.RCVTIMEO, o.recv_timeout_ms)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_PAYLOAD_BYTES + MAX_HEADER_BYTES + 1024)
        sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
        if o.heartbeat_ivl_ms:
            sock.setsockopt(zmq.HEARTBEAT_IVL, o.heartbeat_ivl_ms)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, o.heartbeat_timeout_ms)
        sock.setsockopt(zmq.CONNECT_TIMEOUT, o.connect_timeout_ms)
        sock.setsockopt(zmq.RECONNECT_IVL, o.reconnect_ivl_ms)
        self._sockets.append(sock)
        return sock

    def _start_auth(self) -> None:
        if self._auth is not None or self.curve is None:
            return
        from zmq.auth.thread import ThreadAuthenticator

        authorized = self.curve.keys_dir / "authorized"
        if not authorized.is_dir():
            raise UserError(f"{authorized}: missing folder of authorized public keys")
        self._auth = ThreadAuthenticator(self.context)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(authorized))

    def router(self, bind: str) -> tuple[zmq.Socket, str]:
        """A ROUTER bound to ``bind`` (``tcp://host:port``; port ``*`` = any free one); returns it and the
        endpoint actually bound."""
        sock = self._common(self.context.socket(zmq.ROUTER))
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if self.curve is not None:
            self._start_auth()
            public, secret = self.curve._pair(self.curve.server)
            sock.curve_server = True
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        try:
            sock.bind(bind)
        except zmq.ZMQError as exc:
            raise UserError(f"cannot bind {bind}: {exc}") from None
        return sock, sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def dealer(self, endpoint: str, identity: bytes | None = None) -> zmq.Socket:
        """A DEALER connected to ``endpoint`` (queues only to completed connections)."""
        sock = self._common(self.context.socket(zmq.DEALER))
        sock.setsockopt(zmq.IMMEDIATE, 1)
        if identity:
            sock.setsockopt(zmq.IDENTITY, identity)
        if self.curve is not None:
            public, secret = self.curve._pair(self.curve.node)
            sock.curve_publickey = public
            sock.curve_secretkey = secret
            sock.curve_serverkey = self.curve.server_public()
        sock.connect(endpoint)
        return sock

    def monitor(self, sock: zmq.Socket, events: int) -> zmq.Socket:
        """A PAIR socket receiving ``sock``'s monitor ``events`` (``zmq.utils.monitor`` format); closed with
        the transport or by :meth:`discard` of ``sock``."""
        mon = sock.get_monitor_socket(events)
        mon.setsockopt(zmq.LINGER, 0)
        self._sockets.append(mon)
        self._monitors[sock] = mon
        return mon

    def discard(self, sock: zmq.Socket) -> None:
        """Close one socket now (pending messages dropped)."""
        mon = self._monitors.pop(sock, None)
        if mon is not None:
            sock.disable_monitor()
            self._sockets.remove(mon)
            mon.close(linger=0)
        if sock in self._sockets:
            self._sockets.remove(sock)
        sock.close(linger=0)

    def close(self) -> None:
        """Close every socket, stop the authenticator, end the context."""
        for sock in self._sockets:
            sock.close(linger=self.options.linger_ms)
        self._sockets.clear()
        self._monitors.clear()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self.context.term()


def drain(router: zmq.Socket, limit: int = 64) -> Iterator[tuple[bytes, list[bytes]]]:
    """Yield up to ``limit`` waiting ``(identity, frames)`` messages of a ROUTER socket without blocking."""
    for _ in range(limit):
        try:
            identity, *frames = router.recv_multipart(flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        yield identity, frames


def make_keys(out: str | Path, names: list[str], authorize: list[str] | None = None) -> list[Path]:
    """Create ``zmq.auth`` key pairs ``NAME.key``/``NAME.key_secret`` in ``out`` and copy the public keys of
    ``authorize`` (default: all) into ``out/authorized/``; returns the public key files."""
    import zmq.auth

    out = Path(out)
    (out / "authorized").mkdir(parents=True, exist_ok=True)
    made = []
    for name in names:
        if (out / f"{name}.key_secret").exists():
            raise UserError(f"{out / (name + '.key_secret')}: exists (refusing to overwrite a key)")
        public, _ = zmq.auth.create_certificates(str(out), name)
        made.append(Path(public))
    for name in (names if authorize is None else authorize):
        shutil.copy(out / f"{name}.key", out / "authorized" / f"{name}.key")
    return made
