"""``--cluster netns:N`` flags without namespaces: bad input is a one-line error naming the flag; without root
the run says so in one line; ``netns-clean`` leaves live runs' namespaces alone (pure parts, no root needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from runtime.cli.run import main
from runtime.cluster import netns
from runtime.cluster.netns import burst_bytes, choose_subnet, parse_links, parse_rate
from runtime.cluster.netns_cluster import Partition, _slo_again, parse_partition_schedule
from runtime.errors import UserError


def test_rates_and_links() -> None:
    assert parse_rate("300mbit") == 300_000_000 and parse_rate("500kbit") == 500_000 and parse_rate("1gbit") == 10 ** 9
    assert parse_links(None, 3) == [300_000_000] * 3 and parse_links("20mbit", 2) == [20_000_000] * 2
    assert parse_links("1mbit,2mbit", 2) == [10 ** 6, 2 * 10 ** 6]
    assert burst_bytes(300_000_000) == 37_500 and burst_bytes(10 ** 6) == 4096
    for bad in ("fast", "300", "-1mbit", "0mbit"):
        with pytest.raises(UserError, match="^--link"):
            parse_rate(bad)
    with pytest.raises(UserError, match="one per server"):
        parse_links("1mbit,2mbit", 3)


def test_partition_schedule() -> None:
    assert parse_partition_schedule("server-1@3-5,server-0@1-2") == [Partition("server-0", 1, 2),
                                                                    Partition("server-1", 3, 5)]
    for bad in ("server-1@3", "server-1@5-3", "@1-2", "server-1@a-2", ""):
        with pytest.raises(UserError, match="^--partition-schedule"):
            parse_partition_schedule(bad)


def test_subnet_avoids_the_host_routes() -> None:
    import ipaddress

    taken = [ipaddress.ip_network("10.0.0.0/9")]
    net = choose_subnet(0, taken)
    assert net.prefixlen == 24 and not net.overlaps(taken[0]) and net.subnet_of(ipaddress.ip_network("10.0.0.0/8"))


def test_clean_deletes_only_dead_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    deleted = []
    ours = {"plp1-hub": 2 ** 22 + 7, f"plp{os.getpid()}-hub": os.getpid()}  # a PID above pid_max, and ours
    monkeypatch.setattr(netns, "our_namespaces", lambda: ours)
    monkeypatch.setattr(netns, "_ip", lambda *a, check=True: deleted.append(a) or SimpleNamespace(stdout=""))
    assert netns.clean() == ["plp1-hub"]
    assert deleted == [("netns", "pids", "plp1-hub"), ("netns", "del", "plp1-hub")]


@pytest.mark.parametrize("argv, flag", [
    (["--cluster", "netns:2", "--link", "fast"], "--link"),
    (["--cluster", "local:2", "--link", "20mbit"], "--link"),
    (["--cluster", "local:2", "--partition-schedule", "server-0@1-2"], "--partition-schedule"),
    (["--cluster", "netns:2", "--partition-schedule", "server-0@2"], "--partition-schedule"),
    (["--cluster", "wan:2"], "--cluster"),
])
def test_bad_flags_are_one_line_errors(argv: list[str], flag: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["--bundle", "nowhere", "--video", "v.mp4", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag}") and err.count("\n") == 1, err


def test_without_root_netns_is_a_one_line_error(tiny_bundle: Path, tiny_video: Path, capsys: pytest.CaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "netns:2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "need root" in err and "local:N" in err and err.count("\n") == 1, err


def test_slo_recovery_after_a_partition() -> None:
    rec = {"t_down_s": 1.0, "t_up_s": 3.0}
    # (emitted s, latency ms | None = dropped): arrivals 0.9 ok, 1.1 late, 1.4 dropped, 1.6 ok, 2.0 ok
    lines = [(1.0, 100.0), (1.9, 800.0), (1.4, None), (1.7, 100.0), (2.1, 100.0)]
    assert _slo_again(rec, lines, 500.0) == 0.6
    assert _slo_again(rec, [(1.9, 800.0)], 500.0) is None and _slo_again({}, lines, 500.0) is None
