"""``--cluster netns:N`` on real network namespaces (root, iproute2): a link shaped to 20 Mbit/s measured by the
network profiler, netns:2 end to end through the CLI, and a partition with every frame accounted for. Where
namespaces cannot be made these tests skip with the reason — but fail when CI=true, so CI never skips them
silently."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from runtime.bundle import load_manifest
from runtime.cli.run import main
from runtime.cluster.client import Client
from runtime.cluster.config import ClientSection, ClusterConfig, MasterSection
from runtime.cluster.netns import Netns, burst_bytes, check_available, our_namespaces, parse_rate
from runtime.cluster.netns_cluster import NetnsCluster
from runtime.errors import UserError
from runtime.profilers.network import NetworkProfilerConfig, ZmqProbe, serve_probes
from runtime.video import iter_frames


@pytest.fixture(autouse=True)
def _namespaces_or_skip() -> Iterator[None]:
    """Skip (or, with CI=true, fail) where namespaces cannot be made; afterwards none of ours is left."""
    try:
        check_available()
        Netns([], []).close()  # root is not enough in some containers: make one to know
    except UserError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but network namespaces are unavailable: {exc}")
        pytest.skip(f"network namespaces unavailable: {exc}")
    yield
    assert not [n for n, pid in our_namespaces().items() if pid == os.getpid()]


def test_a_20_mbit_link_is_measured_within_20_percent_by_the_profiler() -> None:
    rate = parse_rate("20mbit")
    net = Netns(["server-0"], [rate])
    stop = threading.Event()
    bound: list[str] = []

    def probe_server() -> None:
        with net.entered("server-0"):
            ctx = zmq.Context()
            sock = ctx.socket(zmq.ROUTER)
            sock.bind(f"tcp://{net.nodes['server-0'].address}:*")
        bound.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))
        serve_probes(sock, stop.is_set)
        sock.close(0)
        ctx.term()

    thread = threading.Thread(target=probe_server)
    thread.start()
    try:
        while not bound and thread.is_alive():
            thread.join(0.05)
        with net.entered("client"):
            ctx = zmq.Context()
            dealer = ctx.socket(zmq.DEALER)
            dealer.connect(bound[0])
            measured = ZmqProbe({"s": dealer}, NetworkProfilerConfig(payload_bytes=262_144, rounds=3))("s")
            dealer.close(0)
            ctx.term()
    finally:
        stop.set()
        thread.join(5)
        net.close()
    assert burst_bytes(rate) == 4096  # tbf burst stated: 4 KiB (1 ms at 20 Mbit/s is 2.5 KB)
    assert measured is not None and abs(measured * 8 - rate) <= 0.2 * rate, measured * 8 / 1e6


def test_cli_netns_2_end_to_end(tiny_bundle: Path, tiny_video: Path, tmp_path: Path) -> None:
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    code = main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "netns:2", "--frames", "0:6",
                 "--link", "300mbit,50mbit", "--mode", "ep-4", "--scheduler", "uniform", "--out", str(out),
                 "--summary", str(summary), "--quiet", "--workdir", str(tmp_path / "work")])
    assert code == 0
    assert [json.loads(line)["frame"] for line in out.read_text().splitlines()] == list(range(6))
    s = json.loads(summary.read_text())
    assert s["cluster"] == "netns:2" and s["frames"] == 6 and s["frames_dropped"] == 0
    assert set(s["patches_per_device"]) == {"server-0", "server-1"}
    links = s["network"]["links"]
    assert links["server-0"]["shaped_mbit"] == 300 and links["server-1"]["shaped_mbit"] == 50
    assert links["server-1"]["measured_mbit"] is not None
    assert links["server-0"]["address"].startswith("10.") and s["bandwidth_Bps"]


def test_a_partition_accounts_for_every_frame_and_the_server_rejoins(tiny_bundle: Path, tiny_video: Path,
                                                                     tmp_path: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    base = ClusterConfig(master=MasterSection(scheduler="uniform"),
                         client=ClientSection(mode="ep-4", min_servers=2, slo_ms=400.0, offer_fps=10.0))
    frames = [f for _, f in iter_frames(tiny_video)] * 4  # 48 frames at 10 fps: 4.8 s
    with NetnsCluster(tiny_bundle, manifest, 2, base, tmp_path / "work", ["jetson-xavier-nx"],
                      partition_schedule="server-1@1-2.5") as cluster, cluster.client_namespace():
        client = Client(tiny_bundle, manifest, cluster.config, cluster.endpoints["master"], log=lambda s: None)
        last = {"frame": None}

        def source() -> Iterator:
            cluster.go(lambda: last["frame"])
            yield from enumerate(frames)

        got = []

        def sink(dets, frame, extra) -> None:  # noqa: ANN001
            got.append((dets.frame, extra))
            cluster.record_line(dets.frame, extra)

        stats = client.run(source(), sink, on_frame=lambda f: last.update(frame=f))
        record = cluster.network_summary(client.net.bw.bandwidths(), stats.events)["partitions"][0]
    assert [f for f, _ in got] == list(range(len(frames)))  # every frame has a line
    dropped = [extra["reason"] for _, extra in got if extra.get("dropped")]
    assert len(dropped) == stats.frames_dropped == sum(v for k, v in stats.counters.items()
                                                       if k.startswith("frames_dropped_"))
    assert stats.frames_total == len(frames)
    assert record["t_down_s"] >= 1.0 and record["t_up_s"] >= 2.5
    assert record["removed_after_s"] is not None and record["removed_after_s"] <= 1.5
    assert record["rejoined_after_s"] is not None and record["rejoined_after_s"] <= 1.5
    assert "slo_again_after_s" in record  # its value depends on the host's load: reported, not asserted
