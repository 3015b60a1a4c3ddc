"""The client's frame queue without sockets: overflow and stale drops carry the last result over, and frames
leave in arrival order whatever order they finish in."""

from __future__ import annotations

import time

import numpy as np

from runtime.cluster.client_frames import FrameQueue
from runtime.cluster.config import ClientSection
from runtime.cluster.summary import Stats
from runtime.detections import Detections


def _frames(n: int) -> list[tuple[int, np.ndarray]]:
    return [(i, np.zeros((4, 4, 3), dtype=np.uint8)) for i in range(n)]


def test_overflow_drops_the_oldest_waiting_frame_and_output_keeps_arrival_order() -> None:
    cfg = ClientSection(mode="ep-4", offer_fps=1000.0, queue_frames=2)
    stats = Stats(slo_ms=cfg.slo_ms)
    q = FrameQueue(cfg, stats)
    q.last = Detections(np.array([[1.0, 2.0, 3.0, 4.0]]), ["car"], np.array([0.9]), -1)
    t0 = time.monotonic()
    q.open(_frames(4), t0)
    q.admit(t0 + 0.0035, room=True)  # due at 0, 1, 2, 3 ms: all four taken, 0 and 1 overflow
    assert not q.exhausted and [f for f, _, _ in q.waiting] == [2, 3] and set(q.done) == {0, 1}
    assert q.done[0][2] == {"dropped": True, "reason": "overflow"} and q.done[0][0].labels == ["car"]
    assert q.done[0][0].frame == 0
    job2, job3 = q.next_fresh(), q.next_fresh()
    assert (job2.frame_id, job3.frame_id) == (2, 3) and q.next_fresh() is None
    got: list[int] = []
    q.put(3, Detections.empty(3), job3.frame, {})
    q.emit(lambda d, f, e: got.append(d.frame), None)
    assert got == [0, 1]  # frame 2 not done yet: 3 waits for it
    q.put(2, Detections.empty(2), job2.frame, {})
    q.admit(t0 + 1.0, room=True)
    q.emit(lambda d, f, e: got.append(d.frame), None)
    assert got == [0, 1, 2, 3] and q.finished and q.emitted == 4
    assert stats.frames_dropped == 2


def test_a_frame_waiting_past_stale_ms_is_dropped() -> None:
    cfg = ClientSection(mode="ep-4", stale_ms=1.0)
    q = FrameQueue(cfg, Stats(slo_ms=cfg.slo_ms))
    q.open(_frames(1), time.monotonic())
    q.admit(time.monotonic(), room=True)
    assert q.next_due(time.monotonic(), room=True) is None  # one waits: the source is read after it starts
    time.sleep(0.01)
    assert q.next_fresh() is None and q.done[0][2]["reason"] == "stale"


def test_headroom_plans_within_the_slo_less_the_overhead_seen() -> None:
    from runtime.cluster.client_parts import Headroom

    room = Headroom(window=4, min_frames=2, floor=0.25)
    assert room.slo(250.0) == 250.0  # nothing seen yet
    room.add(300.0, 240.0)  # 60 ms beyond the master's prediction
    assert room.slo(250.0) == 250.0  # still fewer than min_frames
    room.add(280.0, 240.0)
    assert room.slo(250.0) == 200.0  # median overhead 50 ms
    for _ in range(4):
        room.add(100.0, 120.0)  # faster than predicted: no negative overhead
    assert room.slo(250.0) == 250.0
    for _ in range(4):
        room.add(1000.0, 10.0)
    assert room.slo(250.0) == 62.5  # never below floor × SLO
