"""A server keeps serving while malformed messages (garbage, wrong headers, truncated payloads) are dropped
and counted; with CURVE on, a client whose key is not listed is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.bundle import load_manifest
from runtime.cluster.config import ClusterConfig, SecuritySection, ServerSection
from runtime.cluster.protocol import decode, encode
from runtime.cluster.server import Server
from runtime.cluster.transport import Curve, SocketOptions, Transport, make_keys


class Running:
    def __init__(self, server: Server) -> None:
        self.server, self.stop, self.ready = server, False, threading.Event()
        self.endpoint = ""
        self.thread = threading.Thread(target=server.run, kwargs={"stop": lambda: self.stop, "on_ready": self._ready})

    def _ready(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ready.set()


def start_server(bundle: Path, security: SecuritySection | None = None) -> Running:
    manifest = load_manifest(bundle)
    section = ServerSection(name="s0", bind="tcp://127.0.0.1:*", device="jetson-xavier-nx", emulate=False)
    cluster = ClusterConfig(servers=[section], security=security or SecuritySection())
    run = Running(Server(str(bundle), manifest, section, cluster, "tcp://127.0.0.1:1"))  # no master: reports dropped
    run.thread.start()
    assert run.ready.wait(30)
    return run


@pytest.fixture(scope="module")
def server(tiny_bundle: Path) -> Iterator[Running]:
    run = start_server(tiny_bundle)
    yield run
    run.stop = True
    run.thread.join(10)


def _jpeg() -> bytes:
    img = np.full((60, 80, 3), 90, dtype=np.uint8)
    cv2.rectangle(img, (20, 10), (50, 50), (255, 255, 255), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _request(sock: zmq.Socket, frames: list[bytes], timeout_ms: int = 3000) -> dict | None:
    sock.send_multipart(frames)
    if not sock.poll(timeout_ms, zmq.POLLIN):
        return None
    return decode(sock.recv_multipart()).header


@pytest.fixture()
def dealer(server: Running) -> Iterator[zmq.Socket]:
    transport = Transport(SocketOptions(send_timeout_ms=2000))
    sock = transport.dealer(server.endpoint)
    yield sock
    transport.close()


def test_serves_a_patch(server: Running, dealer: zmq.Socket) -> None:
    reply = _request(dealer, encode("patch", payload=_jpeg(), req="r1", model="tiny-64-fp32", frame=0))
    assert reply is not None and reply["type"] == "result" and reply["req"] == "r1"
    assert (reply["w"], reply["h"]) == (80, 60) and reply["paced"] is False


def test_unknown_model_and_bad_jpeg_get_error_replies(server: Running, dealer: zmq.Socket) -> None:
    assert _request(dealer, encode("patch", payload=_jpeg(), req="r2", model="nope", frame=0))["type"] == "error"
    before = server.server.malformed["payload_jpeg"]
    assert _request(dealer, encode("patch", payload=b"\x00notjpeg", req="r3", model="tiny-64-fp32", frame=0))["type"] \
        == "error"
    assert server.server.malformed["payload_jpeg"] == before + 1


def test_min_score_asks_for_lower_scores_and_a_bad_one_is_an_error(server: Running, dealer: zmq.Socket) -> None:
    params = server.server.detectors["tiny-64-fp32"].decode_params
    saved = params["score_threshold"]
    params["score_threshold"] = 0.99  # above every score of the tiny model
    try:
        own = _request(dealer, encode("patch", payload=_jpeg(), req="m1", model="tiny-64-fp32", frame=0))
        low = _request(dealer, encode("patch", payload=_jpeg(), req="m2", model="tiny-64-fp32", frame=0,
                                      min_score=0.0))
    finally:
        params["score_threshold"] = saved
    assert own["type"] == low["type"] == "result"
    assert own["scores"] == [] and len(low["scores"]) > 0
    before = server.server.malformed["field:min_score"]
    bad = _request(dealer, encode("patch", payload=_jpeg(), req="m3", model="tiny-64-fp32", frame=0, min_score="x"))
    assert bad["type"] == "error" and server.server.malformed["field:min_score"] == before + 1


garbage = st.one_of(
    st.lists(st.binary(max_size=100), min_size=1, max_size=4),  # garbage frames
    st.builds(lambda d, p: [json.dumps(d).encode(), p],  # wrong headers
              st.dictionaries(st.sampled_from(["v", "type", "size", "req", "model", "frame", "seq"]),
                              st.one_of(st.integers(-2, 3), st.text(max_size=5), st.none()), max_size=7),
              st.binary(max_size=30)),
    st.builds(lambda cut: (lambda h, p: [h, p[:cut]])(*encode("patch", payload=_jpeg(), req="t", model="tiny-64-fp32",
                                                                frame=1)),  # truncated payloads
              st.integers(0, 400)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=garbage)
def test_fuzzed_messages_are_dropped_and_counted_and_the_server_keeps_serving(
        server: Running, dealer: zmq.Socket, frames: list[bytes]) -> None:
    before = server.server.malformed.total + server.server.counters["errors"] + server.server.counters["served"] \
        + server.server.counters["probes"]
    dealer.send_multipart(frames)
    dealer.send_multipart(encode("ping", seq=7))
    replies = []
    while not replies or replies[-1][:1] == [b"PLBW-ACK"] or decode(replies[-1])["type"] != "pong":
        assert dealer.poll(3000, zmq.POLLIN), "the server stopped answering"
        replies.append(dealer.recv_multipart())  # a fuzzed probe or valid message gets its answer first
    after = server.server.malformed.total + server.server.counters["errors"] + server.server.counters["served"] \
        + server.server.counters["probes"]
    assert after == before + 1


def test_curve_refuses_an_unlisted_key(tiny_bundle: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    make_keys(keys, ["server", "client", "s0"])
    make_keys(keys, ["intruder"], authorize=[])
    run = start_server(tiny_bundle, SecuritySection(curve=True, keys_dir=str(keys)))
    try:
        for node, expect in (("client", True), ("intruder", False)):
            transport = Transport(SocketOptions(), Curve(keys, node))
            try:
                sock = transport.dealer(run.endpoint)
                if expect:
                    assert _request(sock, encode("ping", seq=1), 5000)["type"] == "pong"
                else:
                    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
                    with pytest.raises(zmq.Again):  # IMMEDIATE: never connected, so nothing can be queued
                        sock.send_multipart(encode("ping", seq=1), flags=zmq.NOBLOCK)
                    assert monitor.poll(5000, zmq.POLLIN), "no authentication failure reported"
                    assert sock.poll(300, zmq.POLLIN) == 0
                    sock.disable_monitor()
                    monitor.close(linger=0)
            finally:
                transport.close()
    finally:
        run.stop = True
        run.thread.join(10)
