"""Network namespaces for ``--cluster netns:N``: every node of a run on its own shaped link of a private LAN.

Topology (all of it inside namespaces this run creates; nothing is added to the host's own namespace)::

    plp<PID>-hub       a bridge pl<PID>br, and the hub end pl<PID>h<i> of every node's veth pair
    plp<PID>-<node>    one per node (client, master, s0, s1, ...): lo and pl<PID>n<i>, address 10.X.Y.(i+1)/24

Node i = 0 is the client, 1 the master, 2 + k server k. A server's link is shaped in both directions with a
``tbf`` qdisc (rate, burst ``max(rate × 1 ms, 4 KiB)``, queue ``latency 100ms``) on both ends of its veth pair:
the node end shapes what the server sends, the hub end what it receives. The client's and the master's links
are not shaped. No namespace has a default route, so no address outside this run's /24 can be reached.

The /24 is chosen from 10.0.0.0/8 (a start that depends on the PID) so that it overlaps none of the host's
routes (``ip -4 route show table all``, the default route aside) and no live run of ours. A partition
(:meth:`Netns.set_link`) takes a node's hub end down (the process lives on; its packets are dropped) and up.

``ip`` and ``tc`` (iproute2) are run with the standard library's :mod:`subprocess`, written by hand here; the
client thread joins its namespace with ``setns(2)`` through ctypes (Python 3.11 has no ``os.setns``). Every
namespace is deleted by :meth:`Netns.close` (at exit, on Ctrl-C, on error); :func:`clean` deletes those of
runs whose PID is gone (``paraloupe-run netns-clean``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from runtime.errors import UserError

PREFIX = "plp"  # our namespaces: plp<PID>-<node>
_OURS = re.compile(rf"^{PREFIX}(\d+)-[a-z0-9]+$")
CLONE_NEWNET = 0x40000000  # <linux/sched.h>
_UNITS = {"bit": 1, "kbit": 10 ** 3, "mbit": 10 ** 6, "gbit": 10 ** 9}
DEFAULT_RATE = "300mbit"  # the paper's Wi-Fi
MAX_SERVERS = 250  # one /24 holds the client, the master and the servers


def parse_rate(text: str, flag: str = "--link") -> int:
    """``300mbit``, ``20mbit``, ``500kbit``, ``1gbit`` → bits/s; anything else a one-line UserError naming ``flag``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)\s*", text.lower())
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"{flag}: {text!r} is not a rate like 300mbit, 20mbit, 500kbit or 1gbit")
    bits = int(float(m.group(1)) * _UNITS[m.group(2)])
    if not 8_000 <= bits <= 100 * 10 ** 9:
        raise UserError(f"{flag}: {text!r} is outside 8kbit..100gbit")
    return bits


def parse_links(spec: str | None, n: int, flag: str = "--link") -> list[int]:
    """The rate (bits/s) of each of ``n`` servers' links: one rate for all, or exactly one per server (default
    :data:`DEFAULT_RATE`)."""
    rates = [parse_rate(r, flag) for r in (spec or DEFAULT_RATE).split(",") if r.strip()]
    if len(rates) == 1:
        return rates * n
    if len(rates) != n:
        raise UserError(f"{flag}: give one rate or one per server ({n}), got {len(rates)}")
    return rates


def burst_bytes(rate_bps: int) -> int:
    """The tbf burst for ``rate_bps``: 1 ms at that rate, at least 4 KiB (bytes)."""
    return max(rate_bps // 8 // 1000, 4096)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip ARGS`` (or ``tc`` when the first argument is ``tc``); a failure is a one-line UserError."""
    cmd = list(args) if args[0] == "tc" else ["ip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        why = "; ".join(line.strip() for line in proc.stderr.splitlines() if line.strip()) or proc.returncode
        raise UserError(f"--cluster netns:N: `{' '.join(cmd)}` failed ({why}); local:N needs no namespaces")
    return proc


def check_available() -> None:
    """A one-line UserError when namespaces cannot be made here (not root, no iproute2, no kernel support)."""
    if os.geteuid() != 0:
        raise UserError("--cluster netns:N: network namespaces need root here; use --cluster local:N")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise UserError(f"--cluster netns:N: `{tool}` (iproute2) is not installed; use --cluster local:N")
    if not os.path.exists("/proc/self/ns/net"):
        raise UserError("--cluster netns:N: this kernel has no network namespaces; use --cluster local:N")


def our_namespaces() -> dict[str, int]:
    """Our namespaces on this machine: name → the PID of the run that made it."""
    out = _ip("netns", "list", check=False).stdout
    names = (line.split()[0] for line in out.splitlines() if line.strip())
    return {name: int(m.group(1)) for name in names if (m := _OURS.match(name))}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean() -> list[str]:
    """Delete the namespaces of our runs whose process is gone (never a live run's), after ending the processes
    left inside them (SIGTERM; a master or server orphaned by a kill -9); returns their names."""
    gone = sorted(name for name, pid in our_namespaces().items() if not _alive(pid))
    for name in gone:
        for pid in _ip("netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGTERM)
        _ip("netns", "del", name, check=False)
    return gone


def _host_routes() -> list[ipaddress.IPv4Network]:
    """The destinations of the host's IPv4 routes (every table), the default route left out."""
    rows = json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    nets = []
    for row in rows:
        dst = row.get("dst", "default")
        if dst != "default":
            nets.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False))
    return nets


def _used_by_our_runs() -> list[ipaddress.IPv4Network]:
    """The /24s that live runs of ours use (read from their namespaces' addresses)."""
    nets = []
    for name in our_namespaces():
        rows = json.loads(_ip("-n", name, "-j", "-4", "addr", check=False).stdout or "[]")
        nets += [ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
                 for row in rows for a in row.get("addr_info", []) if a.get("local", "").startswith("10.")]
    return nets


def choose_subnet(pid: int, taken: Sequence[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """A 10.X.Y.0/24 that overlaps none of ``taken``, searched from a start that depends on ``pid``."""
    start = pid % 65536
    for k in range(65536):
        i = (start + k) % 65536
        net = ipaddress.ip_network(f"10.{i // 256}.{i % 256}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return net
    raise UserError("--cluster netns:N: no free 10.X.Y.0/24 beside the host's routes")


@dataclass(frozen=True)
class Node:
    """One node of the LAN: its namespace, its interface (node end, hub end), address and link rate."""

    name: str  # client, master, server-0, ...
    netns: str
    dev: str
    hub_dev: str
    address: str
    rate_bps: int | None  # None: not shaped


class Netns:
    """The namespaces, bridge and links of one run; :meth:`close` deletes them all (idempotent)."""

    def __init__(self, servers: Sequence[str], rates_bps: Sequence[int], pid: int | None = None) -> None:
        check_available()
        if len(servers) > MAX_SERVERS:
            raise UserError(f"--cluster netns:N: at most {MAX_SERVERS} servers on one /24, got {len(servers)}")
        self.pid = os.getpid() if pid is None else pid
        self.hub = f"{PREFIX}{self.pid}-hub"
        self.bridge = f"pl{self.pid}br"
        self.subnet = choose_subnet(self.pid, _host_routes() + _used_by_our_runs())
        hosts = list(self.subnet.hosts())
        names = ["client", "master", *servers]
        rates: list[int | None] = [None, None, *rates_bps]
        self.nodes = {name: Node(name, f"{PREFIX}{self.pid}-{'s' + str(i - 2) if i >= 2 else name}",
                                 f"pl{self.pid}n{i}", f"pl{self.pid}h{i}", str(hosts[i]), rates[i])
                      for i, name in enumerate(names)}
        self.made: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        if self.hub in our_namespaces():
            raise UserError(f"--cluster netns:N: namespace {self.hub} exists already (run `paraloupe-run netns-clean`)")
        self._add_netns(self.hub)
        _ip("-n", self.hub, "link", "add", self.bridge, "type", "bridge")
        _ip("-n", self.hub, "link", "set", self.bridge, "up")
        for node in self.nodes.values():
            self._add_netns(node.netns)
            _ip("-n", node.netns, "link", "set", "lo", "up")
            _ip("-n", self.hub, "link", "add", node.hub_dev, "type", "veth", "peer", "name", node.dev,
                "netns", node.netns)
            _ip("-n", self.hub, "link", "set", node.hub_dev, "master", self.bridge, "up")
            _ip("-n", node.netns, "addr", "add", f"{node.address}/{self.subnet.prefixlen}", "dev", node.dev)
            _ip("-n", node.netns, "link", "set", node.dev, "up")
            if node.rate_bps is not None:
                self.shape(node.name, node.rate_bps)

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self.made.append(name)

    def shape(self, name: str, rate_bps: int) -> None:
        """Shape node ``name``'s link to ``rate_bps`` in both directions (tbf on both ends of its veth pair)."""
        node = self.nodes[name]
        tbf = ["tbf", "rate", f"{rate_bps}bit", "burst", str(burst_bytes(rate_bps)), "latency", "100ms"]
        _ip("tc", "-n", node.netns, "qdisc", "replace", "dev", node.dev, "root", *tbf)
        _ip("tc", "-n", self.hub, "qdisc", "replace", "dev", node.hub_dev, "root", *tbf)

    def set_link(self, name: str, up: bool) -> None:
        """Node ``name``'s link up or down (a partition: its hub end down; its process is not touched)."""
        _ip("-n", self.hub, "link", "set", self.nodes[name].hub_dev, "up" if up else "down")

    def command(self, name: str, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside node ``name``'s namespace (``ip netns exec`` execs it: the PID is the command's)."""
        return ["ip", "netns", "exec", self.nodes[name].netns, *cmd]

    @contextlib.contextmanager
    def entered(self, name: str) -> Iterator[None]:
        """The calling thread inside node ``name``'s namespace for the block (threads and sockets it makes stay
        there); back in its own namespace afterwards."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.nodes[name].netns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise UserError(f"--cluster netns: setns into {self.nodes[name].netns} failed "
                                f"({os.strerror(ctypes.get_errno())})")
            try:
                yield
            finally:
                libc.setns(own, CLONE_NEWNET)
        finally:
            os.close(own)
            os.close(target)

    def close(self) -> None:
        """Delete every namespace this run made (their interfaces, bridge and qdiscs go with them)."""
        while self.made:
            _ip("netns", "del", self.made.pop(), check=False)

    def describe(self) -> dict[str, object]:
        """What the summary says about the network."""
        return {"subnet": str(self.subnet), "namespaces": sorted([self.hub, *(n.netns for n in self.nodes.values())]),
                "links": {n.name: {"address": n.address, "shaped_mbit": None if n.rate_bps is None else
                                   round(n.rate_bps / 1e6, 3),
                                   **({"burst_bytes": burst_bytes(n.rate_bps)} if n.rate_bps else {})}
                          for n in self.nodes.values()},
                "shaping": "tbf both directions on the server links (burst max(rate x 1 ms, 4 KiB), "
                           "latency 100ms); client and master links unshaped"}
