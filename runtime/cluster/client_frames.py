"""The client's frame queue: admission, bounded waiting, drops under overload, and output in frame order.

- admission: camera-like, one frame every 1 / ``offer_fps`` s (all those due are taken at once), or, with
  ``offer_fps`` 0, one frame whenever none waits and the pipeline has room;
- bounded queues: at most ``pipeline`` frames in flight (the client's ``jobs``) and ``queue_frames``
  waiting; under overload the oldest waiting frame is dropped, and a frame that waited longer than
  ``stale_ms`` is dropped — each a prediction line with ``"dropped": true`` carrying the last result over,
  and counted;
- output: one prediction line per frame, in arrival order, as soon as the frame and all before it are done.

Nothing here grows with the stream: the queues are bounded and ``done`` holds only frames waiting for an
earlier one. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from runtime.cluster.client_parts import Job
from runtime.cluster.config import ClientSection
from runtime.cluster.summary import Stats
from runtime.detections import Detections

#: ``sink(detections, frame, extra)``: receives every frame's prediction, in order.
Sink = Callable[[Detections, np.ndarray, dict[str, Any]], None]


class FrameQueue:
    """Frames between the source and the sink: ``waiting`` to start, ``order`` of arrival, ``done`` results
    not yet emitted, and ``last``, the latest aggregated result (carried over to dropped and skipped frames,
    fed back to the patch generator)."""

    def __init__(self, cfg: ClientSection, stats: Stats, drop_extra: dict[str, Any] | None = None) -> None:
        """``drop_extra``: keys every dropped frame's line carries besides ``dropped`` and ``reason`` (the keypoint
        task's empty ``persons``)."""
        self.cfg = cfg
        self.stats = stats
        self.drop_extra = dict(drop_extra or {})
        self.waiting: collections.deque[tuple[int, np.ndarray, float]] = collections.deque()  # (id, frame, arrival)
        self.order: collections.deque[int] = collections.deque()
        self.done: dict[int, tuple[Detections, np.ndarray, dict[str, Any]]] = {}
        self.last = Detections.empty(-1)
        self.source: Iterator[tuple[int, np.ndarray]] = iter(())
        self.exhausted = False
        self.next_arrival = 0.0  # when the next frame is due with offer_fps > 0 (monotonic s)
        self.emitted = 0

    def open(self, frames: Iterable[tuple[int, np.ndarray]], now: float) -> None:
        """Take frames from ``frames`` from ``now`` on."""
        self.source = iter(frames)
        self.exhausted = False
        self.next_arrival = now

    @property
    def finished(self) -> bool:
        """The source is exhausted and every frame taken has been emitted."""
        return self.exhausted and not self.waiting and not self.order

    def admit(self, now: float, room: bool) -> None:
        """Take the frames due by ``now`` (``room``: the pipeline can start one more), dropping the oldest
        waiting one beyond ``queue_frames``."""
        paced = self.cfg.offer_fps > 0
        while not self.exhausted and (now >= self.next_arrival if paced else (not self.waiting and room)):
            item = next(self.source, None)
            if item is None:
                self.exhausted = True
                break
            arrival = self.next_arrival if paced else time.monotonic()
            self.next_arrival += 1.0 / self.cfg.offer_fps if paced else 0.0
            self.order.append(item[0])
            if len(self.waiting) >= self.cfg.queue_frames:
                old = self.waiting.popleft()
                self.drop(old[0], old[1], "overflow")
            self.waiting.append((item[0], item[1], arrival))
            self.stats.peak("waiting", len(self.waiting))

    def next_due(self, now: float, room: bool) -> float | None:
        """When the source should be read next (monotonic s; ``now`` = at once), None when only a finished
        frame can make room."""
        if self.exhausted:
            return None
        if self.cfg.offer_fps > 0:
            return self.next_arrival
        return now if not self.waiting and room else None

    def next_fresh(self) -> Job | None:
        """The oldest waiting frame as a new job, dropping those waiting longer than ``stale_ms``."""
        while self.waiting:
            fid, frame, arrival = self.waiting.popleft()
            if (time.monotonic() - arrival) * 1000.0 > self.cfg.stale_ms:
                self.drop(fid, frame, "stale")
                continue
            return Job(fid, frame, arrival)
        return None

    def drop(self, frame_id: int, frame: np.ndarray, reason: str) -> None:
        """Give up on a frame: its line carries the last result over, marked dropped (counted)."""
        self.stats.add_drop(frame_id, reason)
        dets = Detections(self.last.boxes, list(self.last.labels), self.last.scores, frame_id)
        self.done[frame_id] = (dets, frame, {"dropped": True, "reason": reason, **self.drop_extra})

    def put(self, frame_id: int, dets: Detections, frame: np.ndarray, extra: dict[str, Any]) -> None:
        """A frame's result, emitted once every frame before it is."""
        self.done[frame_id] = (dets, frame, extra)

    def emit(self, sink: Sink, on_frame: Callable[[int], None] | None) -> None:
        """Hand every done frame at the head of the arrival order to ``sink`` (then ``on_frame(id)``)."""
        while self.order and self.order[0] in self.done:
            fid = self.order.popleft()
            dets, frame, extra = self.done.pop(fid)
            sink(dets, frame, extra)
            self.emitted += 1
            if on_frame:
                on_frame(fid)
