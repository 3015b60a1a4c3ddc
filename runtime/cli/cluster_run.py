"""``paraloupe-run ... --cluster local:N|netns:N``: start the cluster, run the client over it, stop it, and the
``paraloupe-run netns-clean`` command.

``local:N``: a master and N servers on loopback (:class:`runtime.cluster.local.LocalCluster`). ``netns:N``: the
same processes, each in its own network namespace on a shaped link, the client in another
(:class:`runtime.cluster.netns_cluster.NetnsCluster`; ``--link``, ``--partition-schedule``); every namespace is
deleted at the end, also on Ctrl-C, SIGTERM and errors. The summary gains the network profiler's measured
bandwidth per server (``bandwidth_Bps``) and, for netns, ``network`` (per link shaped vs measured Mbit/s, and
per partition the client's removal and rejoin delays).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

from runtime.cluster.local import LocalCluster
from runtime.cluster.netns_cluster import NetnsCluster
from runtime.errors import UserError
from runtime.manifest import Manifest


class ClusterKind(str, Enum):
    """Where ``--cluster KIND:N`` runs the master and servers."""

    LOCAL = "local"  # processes on loopback
    NETNS = "netns"  # processes in network namespaces on shaped links

    @classmethod
    def parse(cls, spec: str) -> tuple[ClusterKind, int]:
        """``local:N`` / ``netns:N`` → (kind, N); anything else a one-line UserError naming ``--cluster``."""
        kind, colon, n = spec.partition(":")
        if not colon or kind not in {k.value for k in cls} or not n.isdigit() or int(n) < 1:
            raise UserError(f"--cluster: expected local:N or netns:N with N >= 1, got {spec!r}")
        return cls(kind), int(n)


def check_netns_flags(args: argparse.Namespace) -> None:
    """``--cluster`` well-formed (netns:N: namespaces can be made here), ``--link`` and ``--partition-schedule``
    only with netns:N and well-formed — one-line errors before anything starts."""
    kind = ClusterKind.parse(args.cluster)[0] if args.cluster else None
    netns = kind == ClusterKind.NETNS
    for flag, value in (("--link", args.link), ("--partition-schedule", args.partition_schedule)):
        if value is not None and not netns:
            raise UserError(f"{flag}: only with --cluster netns:N")
    if args.partition_schedule is not None:
        from runtime.cluster.netns_cluster import parse_partition_schedule

        parse_partition_schedule(args.partition_schedule)
    if args.link is not None:
        from runtime.cluster.netns import parse_rate

        for rate in args.link.split(","):
            parse_rate(rate)
    if netns:
        from runtime.cluster.netns import check_available

        check_available()


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit for the block (so the namespaces are torn down as on Ctrl-C)."""
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def run_cluster(args: argparse.Namespace, manifest: Manifest) -> int:
    """Run ``--video`` through a ``--cluster`` started here; writes --out/--summary like a client."""
    from runtime.cli.run import _client_config, run_client
    from runtime.cluster.config import ClusterConfig, load_cluster_config

    kind, n = ClusterKind.parse(args.cluster)
    base = load_cluster_config(args.config) if args.config else ClusterConfig()
    base = _client_config(base, args)
    base = dataclasses.replace(base, client=dataclasses.replace(base.client, min_servers=n))
    devices = [d for d in args.devices.split(",") if d] if args.devices else None
    common = dict(cost_schedule=args.cost_schedule, kill_schedule=args.kill_schedule,
                  schedule_log=args.schedule_log, pace_factor=args.pace_factor)
    with tempfile.TemporaryDirectory(prefix=f"paraloupe-{kind.value}-") as tmp, _sigterm_as_exit():
        workdir = args.workdir or tmp
        if kind == ClusterKind.NETNS:
            cluster: LocalCluster = NetnsCluster(args.bundle, manifest, n, base, workdir, devices, args.curve,
                                                 links=args.link, partition_schedule=args.partition_schedule,
                                                 **common)
        else:
            cluster = LocalCluster(args.bundle, manifest, n, base, workdir, devices, args.curve, **common)
        with cluster:
            last = {"frame": None}
            netns = cluster if isinstance(cluster, NetnsCluster) else None
            with netns.client_namespace() if netns else contextlib.nullcontext():
                summary = run_client(args.bundle, manifest, cluster.config, cluster.endpoints["master"], args,
                                     extra=lambda: {"cluster": f"{kind.value}:{n}", "emulation": cluster.emulation(),
                                                    **({"experiment": cluster.hooks()} if cluster.hooks() else {})},
                                     on_frame=lambda f: last.update(frame=f),
                                     on_start=lambda: cluster.go(lambda: last["frame"]),
                                     on_line=netns.record_line if netns else None)
            if netns:  # partition records in summary["experiment"] gain their recovery delays too
                summary["network"] = netns.network_summary(summary.get("bandwidth_Bps", {}), summary["events"])
                print(f"network: {_links_line(summary['network'])}", file=sys.stderr)
        # the servers' own counters (emulation overruns) exist only once they have stopped
        summary["emulation"]["server_counters"] = cluster.stopped_counters()
        if args.summary:
            from runtime.atomic import write_json

            write_json(args.summary, summary, indent=1)
    return 0


def _links_line(network: dict[str, Any]) -> str:
    """``server-0 300/291.2 Mbit/s, ...`` (shaped/measured) for the console."""
    return ", ".join(f"{name} {link['shaped_mbit']}/{link.get('measured_mbit')}" for name, link in
                     network["links"].items() if link["shaped_mbit"] is not None) + " Mbit/s shaped/measured"


def netns_clean_main(argv: Sequence[str]) -> int:
    """``paraloupe-run netns-clean``: delete the namespaces of our runs that are no longer alive."""
    from runtime.cluster.netns import check_available, clean

    parser = argparse.ArgumentParser(prog="paraloupe-run netns-clean",
                                     description="Delete network namespaces left by dead netns:N runs (ours only; "
                                                 "never a live run's).")
    parser.parse_args(argv)
    check_available()
    gone = clean()
    for name in gone:
        print(name)
    print(f"netns-clean: {len(gone)} namespace(s) of dead runs deleted", file=sys.stderr)
    return 0
