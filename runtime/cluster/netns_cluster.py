"""``--cluster netns:N``: the master and N servers of :class:`runtime.cluster.local.LocalCluster`, each in its own
network namespace on a shaped link (:mod:`runtime.cluster.netns`), the client in another.

Everything ``local:N`` offers works the same (``--devices``, ``--kill-schedule``, ``--pace-factor``,
``--cost-schedule``, ``--schedule-log``, ``--curve``); in addition:

- ``links`` (``--link R[,R...]``): the servers' link rates, one for all or one per server (default 300mbit);
- ``partition_schedule`` (``--partition-schedule NAME@T0-T1[,...]``): server NAME's link goes down T0 seconds
  after the client's start and up again at T1 (the process lives on); :attr:`NetnsCluster.partition_events`
  records when, and after which emitted frame.

The client runs in this process: :meth:`NetnsCluster.client_namespace` puts the calling (main) thread in the
client's namespace, so its sockets and threads are made there. :meth:`stop` deletes every namespace.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.cluster.emulation import parse_seconds
from runtime.cluster.local import LocalCluster
from runtime.cluster.netns import Netns, parse_links
from runtime.errors import UserError


@dataclass(frozen=True)
class Partition:
    """Server ``server``'s link down from ``start_s`` to ``end_s`` (seconds after the client's start)."""

    server: str
    start_s: float
    end_s: float


def parse_partition_schedule(spec: str, flag: str = "--partition-schedule") -> list[Partition]:
    """``NAME@T0-T1[,...]`` → partitions in time order; a malformed entry is a one-line UserError naming ``flag``."""
    out = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, at, window = entry.rpartition("@")
        t0, dash, t1 = window.partition("-")
        if not at or not name or not dash or not t0 or not t1:
            raise UserError(f"{flag}: {entry!r} is not NAME@T0-T1 (e.g. server-1@3-5)")
        start, end = parse_seconds(t0, flag, entry), parse_seconds(t1, flag, entry)
        if end <= start:
            raise UserError(f"{flag}: {entry!r}: the link comes back ({end:g} s) before it goes ({start:g} s)")
        out.append(Partition(name, start, end))
    if not out:
        raise UserError(f"{flag}: empty schedule")
    return sorted(out, key=lambda p: p.start_s)


class NetnsCluster(LocalCluster):
    """:class:`LocalCluster` over network namespaces; ``links`` and ``partition_schedule`` as in the module doc."""

    def __init__(self, *args: Any, links: str | None = None, partition_schedule: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rates_bps = parse_links(links, self.n)
        self.partitions = parse_partition_schedule(partition_schedule) if partition_schedule else []
        for p in self.partitions:
            if p.server not in self.server_names():
                raise UserError(f"--partition-schedule: no server named {p.server!r} "
                                f"(have: {', '.join(self.server_names())})")
        self.network: Netns | None = None
        self.partition_events: list[dict[str, Any]] = []
        self._partitioner: threading.Thread | None = None
        self._partitioner_stop = threading.Event()
        self._t0: float | None = None  # the client's start (monotonic s)
        #: with a partition schedule: per emitted frame (s since the client's start, latency ms or None if dropped)
        self.lines: list[tuple[float, float | None]] = []

    def start(self) -> None:
        """Build the namespaces and links, then start the master and servers inside them."""
        self.network = Netns(self.server_names(), self.rates_bps)
        super().start()

    def bind(self, name: str) -> str:
        assert self.network is not None
        return f"tcp://{self.network.nodes[name].address}:*"

    def command(self, name: str, cmd: list[str]) -> list[str]:
        assert self.network is not None
        return self.network.command(name, cmd)

    def client_namespace(self) -> contextlib.AbstractContextManager[None]:
        """A context in which the calling thread is in the client's namespace."""
        assert self.network is not None
        return self.network.entered("client")

    def go(self, last_frame: Any = None) -> None:
        """The client's first frame: start the kill schedule's and the partition schedule's timers."""
        super().go(last_frame)
        if not self.partitions or self._partitioner is not None:
            return
        t0 = self._t0 = time.monotonic()
        actions = sorted([(p.start_s, False, p) for p in self.partitions]
                         + [(p.end_s, True, p) for p in self.partitions], key=lambda a: a[0])
        records = {id(p): {"server": p.server, "down_at_s": p.start_s, "up_at_s": p.end_s} for p in self.partitions}
        self.partition_events = list(records.values())

        def partitioner() -> None:
            for at, up, p in actions:
                if self._partitioner_stop.wait(max(0.0, t0 + at - time.monotonic())):
                    return
                assert self.network is not None
                self.network.set_link(p.server, up)
                key = "up" if up else "down"
                records[id(p)].update({f"t_{key}_s": round(time.monotonic() - t0, 3),
                                       f"after_frame_{key}": last_frame() if last_frame else None})

        self._partitioner = threading.Thread(target=partitioner, name="partition-schedule", daemon=True)
        self._partitioner.start()

    def record_line(self, frame: int, keys: Mapping[str, Any]) -> None:
        """A prediction line emitted now (``keys``: its ``latency_ms`` or ``dropped``); kept only while a
        partition schedule runs (for :meth:`network_summary`'s SLO recovery)."""
        if self._t0 is not None:
            latency = None if keys.get("dropped") else keys.get("latency_ms")
            self.lines.append((time.monotonic() - self._t0, latency))

    def stop(self) -> None:
        """Stop the timers and every process, then delete the namespaces (also after an error)."""
        self._partitioner_stop.set()
        if self._partitioner is not None:
            self._partitioner.join(timeout=15)
        try:
            super().stop()
        finally:
            if self.network is not None:
                self.network.close()

    def hooks(self) -> dict[str, Any]:
        out = super().hooks()
        if self.partitions:
            out["partition_schedule"] = [{"server": p.server, "from_s": p.start_s, "to_s": p.end_s}
                                         for p in self.partitions]
            out["partitions"] = list(self.partition_events)
            out["partition_clock"] = "seconds since the client's start; after_frame = the last frame emitted by then"
        return out

    def network_summary(self, bandwidths_Bps: Mapping[str, float], events: list[dict[str, Any]]) -> dict[str, Any]:
        """The summary's ``network``: per link the shaped and the profiler's measured rate (Mbit/s), and per
        partition how long after the link went down the client removed the server and frames met the SLO
        again, and after it came back the server rejoined (s, from the client's ``events``, whose clock
        starts with the stream, and the lines recorded by :meth:`record_line`)."""
        assert self.network is not None
        out = self.network.describe()
        for name, link in out["links"].items():  # type: ignore[union-attr]
            b = bandwidths_Bps.get(name)
            link["measured_mbit"] = None if b is None else round(b * 8 / 1e6, 2)
        for rec in self.partition_events:
            rec.update(_recovery(rec, events))
            rec["slo_again_after_s"] = _slo_again(rec, self.lines, self.config.client.slo_ms)
        if self.partition_events:
            out["partitions"] = self.partition_events
        return out


def _recovery(rec: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, float | None]:
    """``removed_after_s`` (link down → the client's first removal of the server) and ``rejoined_after_s`` (link
    up → its first rejoin), s; None when it did not happen (or the partition did not take place)."""
    def first(kind: str, since: float | None) -> float | None:
        if since is None:
            return None
        times = [e["t_s"] for e in events if e["device"] == rec["server"] and e["event"].startswith(kind)
                 and e["t_s"] >= since]
        return round(min(times) - since, 3) if times else None

    return {"removed_after_s": first("server removed", rec.get("t_down_s")),
            "rejoined_after_s": first("server rejoined", rec.get("t_up_s"))}


def _slo_again(rec: Mapping[str, Any], lines: list[tuple[float, float | None]], slo_ms: float) -> float | None:
    """Seconds from the link going down to the arrival of the first frame after which every frame that
    arrived before the link came back met the SLO (arrival = emission − latency; a dropped frame misses at its
    emission); None without such a frame."""
    down, up = rec.get("t_down_s"), rec.get("t_up_s")
    if down is None or up is None:
        return None
    arrivals = sorted((t - (lat or 0.0) / 1000.0, lat is not None and lat <= slo_ms) for t, lat in lines)
    window = [(a, ok) for a, ok in arrivals if down <= a < up]
    last_miss = max((i for i, (_, ok) in enumerate(window) if not ok), default=-1)
    if last_miss + 1 >= len(window):
        return None
    return round(max(window[last_miss + 1][0] - down, 0.0), 3)
