"""Network profiler: timed transfers over a real loopback ZeroMQ DEALER/ROUTER pair; top-n and refresh."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import zmq

from runtime.profilers import NetworkProfiler, NetworkProfilerConfig, ZmqProbe, serve_probes
from runtime.profilers.network import probe_reply


@pytest.fixture()
def loopback() -> Iterator[zmq.Socket]:
    """A DEALER connected to a ROUTER (tcp://127.0.0.1, random port) served by a probe thread."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()
    thread = threading.Thread(target=serve_probes, args=(router, stop.is_set, 10), daemon=True)
    thread.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        yield dealer
    finally:
        stop.set()
        thread.join(2)
        dealer.close()
        router.close()
        ctx.term()


def test_measures_loopback_bandwidth(loopback: zmq.Socket) -> None:
    config = NetworkProfilerConfig(payload_bytes=64 * 1024, rounds=3, timeout_ms=2000)
    probe = ZmqProbe({"server": loopback}, config)
    bandwidth = probe("server")
    assert bandwidth is not None and bandwidth > 1e6  # loopback: far above 1 MB/s
    profiler = NetworkProfiler(["server"], probe, config)
    assert profiler.tick(now=0.0)
    assert list(profiler.bandwidths()) == ["server"]


def test_unanswered_peer_is_dropped() -> None:
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect("tcp://127.0.0.1:9")  # nothing listens there
    try:
        probe = ZmqProbe({"gone": dealer}, NetworkProfilerConfig(payload_bytes=1024, timeout_ms=50))
        assert probe("gone") is None
        profiler = NetworkProfiler(["gone"], probe)
        profiler.tick(now=0.0)
        assert profiler.bandwidths() == {}
    finally:
        dealer.close()
        ctx.term()


def test_keeps_n_best_and_refreshes_on_period() -> None:
    rates = {f"d{i}": float(i + 1) * 1e6 for i in range(5)}
    calls: list[str] = []

    def measure(peer: str) -> float:
        calls.append(peer)
        return rates[peer]

    config = NetworkProfilerConfig(top_n=2, refresh_s=15.0, rescan_s=300.0)
    profiler = NetworkProfiler(list(rates), measure, config)
    assert profiler.tick(now=0.0) and len(calls) == 5  # first: every peer
    assert list(profiler.bandwidths()) == ["d4", "d3"]
    calls.clear()
    assert not profiler.tick(now=10.0) and calls == []  # not due yet
    rates["d3"] = 9e6
    assert profiler.tick(now=15.0) and sorted(calls) == ["d3", "d4"]  # refresh: the kept peers only
    assert profiler.bandwidths() == {"d3": 9e6, "d4": 5e6}
    calls.clear()
    rates["d0"] = 20e6
    assert profiler.tick(now=300.0) and len(calls) == 5  # rescan: a newly fast peer enters
    assert list(profiler.bandwidths()) == ["d0", "d3"]


def test_a_link_too_slow_for_a_full_probe_gets_the_upper_bound() -> None:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def answer_empty_probes_only() -> None:  # a full probe "never arrives in time"
        while not stop.is_set():
            if router.poll(10, zmq.POLLIN):
                identity, *frames = router.recv_multipart()
                if not frames[2]:
                    router.send_multipart([identity, *probe_reply(frames)])

    thread = threading.Thread(target=answer_empty_probes_only, daemon=True)
    thread.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        probe = ZmqProbe({"slow": dealer}, NetworkProfilerConfig(payload_bytes=1000, rounds=1, timeout_ms=100))
        assert probe("slow") == pytest.approx(1000 / 0.1)  # B/s: at most payload / timeout
    finally:
        stop.set()
        thread.join(2)
        dealer.close()
        router.close()
        ctx.term()
