"""Readiness before liveness: a server warms its models before it reports; a client whose loop stalled (numba
JIT of its first frame) does not count servers missing it never pinged meanwhile; a master handles waiting
state reports before a request."""

from __future__ import annotations

from pathlib import Path

from runtime.bundle import load_manifest
from runtime.cluster.client_links import ClientLinks
from runtime.cluster.client_parts import Link
from runtime.cluster.config import ClusterConfig, ServerSection
from runtime.cluster.master import states_first
from runtime.cluster.protocol import Message
from runtime.cluster.server import Server
from runtime.cluster.summary import Stats


def _links() -> tuple[ClientLinks, Link, list[str]]:
    events: list[str] = []
    links = ClientLinks(ClusterConfig(), "tcp://127.0.0.1:1", Stats(), lambda what, dev: events.append(what),
                        lambda sock, link, now: None, lambda link, now: None)
    link = Link("s0", "tcp://127.0.0.1:1", None, {"m": 1.0}, True, 100.0)  # type: ignore[arg-type]
    links.links["s0"] = link
    links._connect(link)
    return links, link, events


def test_a_stalled_client_loop_does_not_remove_a_server_it_never_pinged() -> None:
    links, link, events = _links()
    try:
        links.heartbeat(102.0)  # 2 s after its last message, but no ping was outstanding: the loop stalled
        assert link.alive and link.first_unanswered == 102.0
        links.next_heartbeat = 0.0
        links.heartbeat(102.5)
        assert link.alive
        links.next_heartbeat = 0.0
        links.heartbeat(102.8)  # a ping unanswered for 0.8 s >= 3 periods of 0.25 s: missing
        assert not link.alive and events == ["server removed (missed heartbeats)"]
    finally:
        links.transport.close()


def test_an_answer_clears_the_unanswered_ping() -> None:
    links, link, _ = _links()
    try:
        for k in range(3):
            links.next_heartbeat = 0.0
            links.heartbeat(100.0 + 0.25 * k)
        links.seen(link, 100.6)
        links.next_heartbeat = 0.0
        links.heartbeat(101.4)
        assert link.alive and link.first_unanswered == 101.4
    finally:
        links.transport.close()


def test_an_emulated_server_is_warm_before_it_reports(tiny_bundle: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    section = ServerSection(name="s0", bind="tcp://127.0.0.1:*", device="raspberry-pi-4b")
    server = Server(str(tiny_bundle), manifest, section, ClusterConfig(servers=[section]), "tcp://127.0.0.1:1")
    state = server.state_fields("tcp://127.0.0.1:9")
    assert server.emulated and state["ready"] is True and state["warm_ms"] > 0


def test_the_master_handles_waiting_states_before_requests() -> None:
    batch = [(b"c", Message("schedule", {})), (b"s1", Message("state", {"n": 1})), (b"s2", Message("state", {"n": 2}))]
    assert [i for i, _ in states_first(batch)] == [b"s1", b"s2", b"c"]
