"""Client: reads frames, generates patches, asks the master, sends patches straight to servers, aggregates.

One thread runs an event loop over the master DEALER and one DEALER per server; a second thread runs the
network profiler (timed probes on sockets of its own) and publishes b_i per server.

Per frame: patches from the generator (``paraloupe``, ``lastdet``, ``ep-K``), the whole frame (``mini``,
``baseline``) or SAHI's slices and whole frame on the baseline model (``sahi``) → ``schedule`` (metadata
only: bytes, confidence, the measured bandwidths) → ``assign`` → each patch sent to its server → results
mapped to the frame and merged (:mod:`runtime.cluster.aggregate`; ``sahi``: :mod:`runtime.sahi`) →
one prediction line per frame, in frame order. With ``client.task: keypoints`` the frame's entries are its person
crops instead (:mod:`runtime.cluster.client_keypoints`), answered by ``keypoints`` messages; the rest is the same.

The loop, per pass: admit frames and start those the pipeline has room for; run the timers (heartbeats, the
master hello each second, patch deadlines, master timeouts); emit the frames done, in order; then wait on
the one poller for the next message or timer. Each message goes to its handler by type (:meth:`Client._drain`:
one table for the master's socket, one for the servers'). Reliability (the ZeroMQ guide's Paranoid Pirate,
client side) lives with the code that does it:

- :mod:`runtime.cluster.client_links` — sockets, heartbeats, removal of silent or disconnected servers, rejoin;
- :mod:`runtime.cluster.client_dispatch` — placing patches, deadlines and re-sends, late replies, local
  inference, the fallbacks when the master or every server is gone;
- :mod:`runtime.cluster.client_frames` — bounded queues, overload and stale drops, output in frame order.
- :mod:`runtime.cluster.client_detection` — the models a detection client's frames use, a frame's patch budget.

Memory stays flat on an endless stream: statistics are fixed-size (:class:`runtime.cluster.summary.Stats`:
counters, histograms, the last few records), a finished frame's superseded requests are forgotten, and the
largest depth of every queue is kept in ``stats.peaks`` (``waiting``, ``frames_in_flight``,
``patches_in_flight``, ``server_queued:NAME``).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from runtime.cluster.client_detection import detection_client, frame_patch_budget
from runtime.cluster.client_dispatch import PatchDispatch
from runtime.cluster.client_frames import FrameQueue, Sink
from runtime.cluster.client_keypoints import keypoint_client
from runtime.cluster.client_links import ClientLinks
from runtime.cluster.client_parts import Flight, Headroom, Job, Link, mode_kind
from runtime.cluster.config import ClusterConfig
from runtime.cluster.protocol import Malformed, Message, encode, try_decode
from runtime.cluster.summary import Stats
from runtime.keypoint_task import KeypointLoop
from runtime.loop import ClosedLoop
from runtime.manifest import Manifest
from runtime.modes import Mode
from runtime.timing import Stopwatch

#: A message handler: ``(message, sender, now)``; the sender is None for the master.
Handler = Callable[[Message, Link | None, float], None]
#: Messages read from one socket per wake-up at most (the others get their turn).
DRAIN_LIMIT = 256


class Client:
    """One client run over a cluster whose master is at ``master_endpoint``: :meth:`run` once."""

    def __init__(self, bundle_dir: str | Path, manifest: Manifest, cluster: ClusterConfig,
                 master_endpoint: str, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                 fps: float = 25.0) -> None:
        """``fps``: the stream's frame rate (the closed loop's video time is frame id / fps, s)."""
        self.bundle_dir = str(bundle_dir)
        self.manifest = manifest
        self.cluster = cluster
        self.cfg = cluster.client
        self.mode = self.cfg.mode
        self.kind = mode_kind(self.mode)
        self.master_endpoint = master_endpoint
        self.log = log
        self.stats = Stats(slo_ms=self.cfg.slo_ms)
        self.headroom = Headroom(self.cfg.headroom_frames)
        self.malformed = Malformed()
        self.jobs: dict[int, Job] = {}  # frames in flight
        self._req = itertools.count()
        self.task = self.cfg.task
        self.loop: ClosedLoop | KeypointLoop
        if self.task == "keypoints":  # one crop per person box, no generator (client_keypoints)
            self.kind, self.loop, local_models = keypoint_client(self.cfg, manifest)
            self.kinds_used = [self.kind]
        else:
            setup = detection_client(self.cfg, manifest, self.kind, fps)
            self.loop, self.kinds_used, local_models = setup.loop, setup.kinds_used, setup.local_models
        self.frames = FrameQueue(self.cfg, self.stats, {"persons": []} if self.task == "keypoints" else None)
        self.net = ClientLinks(cluster, master_endpoint, self.stats, self._event, self._drain, self._on_server_lost)
        self.dispatch = PatchDispatch(self.cfg, self.net, self.jobs, self.stats, bundle_dir, manifest, local_models,
                                      self._finish, task=self.task)
        # message type → handler, one table per sender; a type not in its sender's table is counted as malformed
        self._master_handlers: dict[str, Handler] = {"assign": self._on_assign, "pong": self._on_pong}
        self._server_handlers: dict[str, Handler] = {"result": self._on_result, "error": self._on_result,
                                                     "pong": self._on_pong}
        if self.task == "keypoints":
            self._server_handlers["keypoints"] = self._on_result
        self._next_hello = 0.0  # the next device-table request to the master (monotonic s)
        self._next_progress = 0.0  # the next progress report (monotonic s)
        self.t0 = time.monotonic()

    @property
    def links(self) -> dict[str, Link]:
        """The servers known: name → :class:`Link`."""
        return self.net.links

    @property
    def flights(self) -> dict[str, Flight]:
        """The patch requests outstanding: request id → :class:`Flight`."""
        return self.dispatch.flights

    # ---------------------------------------------------------------- the run

    def run(self, frames: Iterable[tuple[int, np.ndarray]], sink: Sink,
            progress: Callable[[dict[str, Any]], None] | None = None,
            on_frame: Callable[[int], None] | None = None) -> Stats:
        """Run ``frames`` through the cluster; ``sink(detections, frame, extra)`` gets every frame in order,
        then ``on_frame(id)``; ``progress`` gets a status dict every second."""
        try:
            self.net.open()
            self._wait_for_servers()
            self._loop(frames, sink, progress, on_frame)
        finally:
            self.net.close()
        self.stats.malformed.update(self.malformed)
        return self.stats

    def warm_up(self, width: int, height: int) -> float:
        """Run the closed loop on two noise frames of the stream's size (``width`` × ``height`` px) and reset it:
        its numba kernels are compiled (or loaded) before the first camera frame is due, not while frames
        queue behind it. Returns the time it took, ms."""
        rng = np.random.default_rng(0)
        with Stopwatch() as watch:
            for i in range(2):
                frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                self.loop.finish(self.loop.plan(frame, i), [])
            self.loop.reset()
        return watch.ms

    def _wait_for_servers(self) -> None:
        """Ask the master for its device table until ``min_servers`` are live, then wait for the network
        profiler's first measurement of them (on idle links), both within ``startup_timeout_s``."""
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while len(self.net.live()) < self.cfg.min_servers and time.monotonic() < deadline:
            self._hello()
            self.net.poll_master(100)
        while not self.net.bw.scanned.is_set() and self.net.live() and time.monotonic() < deadline:
            self.net.poll_master(100)  # the first bandwidths measured on idle links, before any frame
        if len(self.net.live()) < self.cfg.min_servers:
            self._event(f"only {len(self.net.live())} of {self.cfg.min_servers} servers after "
                        f"{self.cfg.startup_timeout_s:.0f} s; missing work is inferred locally")

    def _loop(self, frames: Iterable[tuple[int, np.ndarray]], sink: Sink,
              progress: Callable[[dict[str, Any]], None] | None, on_frame: Callable[[int], None] | None) -> None:
        """The event loop (see the module docstring), until every frame of the source has been emitted."""
        whole_frames = self.mode == Mode.BASELINE and self.task == "detection"
        depth = self.cfg.pipeline or (max(1, len(self.net.live())) if whole_frames else 1)
        now = time.monotonic()
        self.t0 = now  # events' t_s: seconds since the stream started (the kill and partition schedules' clock)
        self.frames.open(frames, now)
        self.net.next_heartbeat, self._next_hello, self._next_progress = now, now + 1.0, now + 1.0
        while True:
            self._admit(depth)
            now = time.monotonic()
            self._run_timers(now)
            self.frames.emit(sink, on_frame)
            self.dispatch.prune(now)
            if progress and now >= self._next_progress:
                progress({"frames": self.frames.emitted, "live": len(self.net.live()), "in_flight": len(self.jobs),
                          "dropped": self.stats.frames_dropped})
                self._next_progress = now + 1.0
            if self.frames.finished and not self.jobs:
                return
            self.net.poll(self._poll_timeout_ms(now, depth))

    def _admit(self, depth: int) -> None:
        """Take the frames due from the source, then start waiting ones while fewer than ``depth`` are in flight."""
        self.frames.admit(time.monotonic(), room=len(self.jobs) < depth)
        while len(self.jobs) < depth and (job := self.frames.next_fresh()) is not None:
            self._start(job, time.monotonic())
            self.stats.peak("frames_in_flight", len(self.jobs))

    def _run_timers(self, now: float) -> None:
        """Heartbeats, the master hello (each second), patch deadlines and master timeouts that are due."""
        self.net.heartbeat(now)
        if now >= self._next_hello:
            self._hello()
            self._next_hello = now + 1.0
        self.dispatch.resend_overdue(now)
        self.dispatch.master_timeouts(now)

    def _poll_timeout_ms(self, now: float, depth: int) -> int:
        """How long the poller may wait (ms, at most 50): until the earliest timer, 0 if one is due."""
        timers = [self.net.next_heartbeat, self._next_hello, *self.dispatch.deadlines()]
        due = self.frames.next_due(now, room=len(self.jobs) < depth)
        if due is not None:
            timers.append(due)
        return min(max(0, int((min(timers) - time.monotonic()) * 1000)), 50)

    # ---------------------------------------------------------------- messages

    def _drain(self, sock: zmq.Socket, link: Link | None, now: float) -> None:
        """Hand up to :data:`DRAIN_LIMIT` waiting messages of ``sock`` (``link`` None: the master's) to the
        handler of their type in the sender's table; any message from a server proves it alive; a type the
        sender never sends is counted as malformed (``unexpected:TYPE``)."""
        handlers = self._master_handlers if link is None else self._server_handlers
        for _ in range(DRAIN_LIMIT):
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            msg = try_decode(frames, self.malformed)
            if msg is None:
                continue
            if link is not None:
                self.net.seen(link, now)
            handler = handlers.get(msg.type)
            if handler is None:
                self.malformed.add(f"unexpected:{msg.type}")
            else:
                handler(msg, link, now)

    def _on_assign(self, msg: Message, link: Link | None, now: float) -> None:
        """``assign`` (master): its device table first (joins, moves), then the frame's patches sent."""
        self.net.update_devices(msg["devices"], now)
        self.dispatch.on_assign(msg.header, now)

    def _on_result(self, msg: Message, link: Link | None, now: float) -> None:
        """``result`` or ``error`` (server)."""
        self.dispatch.on_result(link, msg, now)

    def _on_pong(self, msg: Message, link: Link | None, now: float) -> None:
        """``pong`` (server): its queue depth kept as a peak; a stray one from the master is ignored."""
        if link is not None:
            self.stats.peak(f"server_queued:{link.name}", int(msg["queued"]))

    def _on_server_lost(self, link: Link, now: float) -> None:
        self.dispatch.reroute(link, now)

    def _event(self, event: str, device: str = "") -> None:
        self.stats.event({"t_s": round(time.monotonic() - self.t0, 3), "event": event, "device": device})
        self.log(f"client: {event} {device}".rstrip())

    # ---------------------------------------------------------------- frames

    def _hello(self) -> None:
        """An empty schedule request: the master answers with its device table (discovery, rejoin)."""
        hello = encode("schedule", req=f"hello-{next(self._req)}", frame=-1, kind=self.kind, slo_ms=self.cfg.slo_ms,
                       patches=[], bandwidths={}, exclude=[], kinds=self.kinds_used, **self._task_field())
        self.net.send_master(hello, counted=False)

    def _start(self, job: Job, now: float) -> None:
        """Cut the frame into patches and send them on their way: to the master for an assignment, or for
        ``baseline`` (one whole frame) straight to a server; a frame the generator skips or with no patch is
        finished at once."""
        t0 = time.perf_counter()
        if not self._cut(job):
            job.gen_ms = (time.perf_counter() - t0) * 1000.0
            self._finish(job, skipped=True)
            return
        job.results = [None] * len(job.jpegs)
        job.attempts = [0] * len(job.jpegs)
        job.gen_ms = (time.perf_counter() - t0) * 1000.0
        self.jobs[job.frame_id] = job
        if not job.jpegs:
            self._finish(job)
            return
        now = time.monotonic()
        if self.mode == Mode.BASELINE and self.task == "detection":  # keypoint crops are scheduled in every mode
            self.dispatch.baseline_assign(job, now)
            return
        self._request_schedule(job, now)

    def _cut(self, job: Job) -> bool:
        """The job's patches (rectangles, JPEGs, confidences) from the generator, or the whole frame; False
        when the generator skips the frame."""
        job.plan = plan = self.loop.plan(job.frame, job.frame_id, self._budget())
        if isinstance(self.loop, ClosedLoop) and self.loop.cut:
            self.stats.count("scene_cuts")  # the loop started over on this frame (the summary's counters)
        if plan.skipped:
            return False
        for entry in plan.entries:
            job.rects.append(entry.rect)
            job.jpegs.append(entry.jpeg)
            job.confidence.append(entry.confidence)
            job.model_kinds.append(entry.model_kind)
            job.min_scores.append(entry.min_score)
        return True

    def _budget(self) -> int | None:
        """The frame's patch budget (:func:`frame_patch_budget`) from the live servers; None: the cap holds."""
        return frame_patch_budget(self.cfg, self.loop, self._plan_slo(),
                                  lambda kind: [self.dispatch.of_kind(link, kind) for link in self.net.live()])

    def _plan_slo(self) -> float:
        """The SLO this frame's device time is planned within, ms (:class:`Headroom`; the SLO when off)."""
        return self.headroom.slo(self.cfg.slo_ms) if self.cfg.headroom else self.cfg.slo_ms

    def _request_schedule(self, job: Job, now: float) -> None:
        """Ask the master where the patches go (metadata only); unsendable → round robin (counted)."""
        job.sched_req = f"f{job.frame_id}-{next(self._req)}"
        job.sched_sent = now
        # every slice on the client's own baseline (its side), as SAHI runs one model; every crop on the keypoint
        # model named (client.keypoints.model), if one is; every patch on the camera's mini (client.mini), if set
        pinned = self.mode == Mode.SAHI or (self.task == "keypoints" and bool(self.cfg.keypoints.model)) \
            or (self.kind == "mini" and bool(self.cfg.mini))
        ok = self.net.send_master(encode(
            "schedule", req=job.sched_req, frame=job.frame_id, kind=self.kind, slo_ms=self._plan_slo(),
            patches=[{"bytes": len(j), "confidence": c, **({"kind": k} if k != self.kind else {}),
                      **({"model": self.dispatch.local_models[k]} if k != self.kind or pinned else {})}
                     for j, c, k in zip(job.jpegs, job.confidence, job.model_kinds, strict=True)],
            bandwidths=self.net.bw.bandwidths(), exclude=self.net.dead(), kinds=self.kinds_used,
            **self._task_field()))
        if not ok:
            job.sched_req = None
            self.stats.count("master_fallbacks")
            self.dispatch.assign_fallback(job, now)

    def _task_field(self) -> dict[str, str]:
        """The ``task`` field of a ``schedule`` request: absent for detection (its messages unchanged)."""
        return {} if self.task == "detection" else {"task": self.task}

    def _finish(self, job: Job, skipped: bool = False) -> None:
        """Merge the frame's patch results (a skipped frame carries the last result over), record its timings,
        forget its requests and queue its line for output."""
        t0 = time.perf_counter()
        dets = self.loop.finish(job.plan, [r for r in job.results if r is not None])
        if not skipped:
            self.frames.last = dets
        agg_ms = (time.perf_counter() - t0) * 1000.0
        done = time.monotonic()
        self.jobs.pop(job.frame_id, None)
        self.dispatch.forget(job)
        e2e_ms = (done - job.arrival) * 1000.0
        if job.predicted_ms is not None and not skipped:
            self.headroom.add(e2e_ms, job.predicted_ms)
        self.stats.add_frame(job.frame_id, e2e_ms, job.gen_ms, job.sched_ms, agg_ms, len(job.jpegs), skipped)
        extra = {"latency_ms": round(e2e_ms, 2), "patches": len(job.jpegs), **({"skipped": True} if skipped else {}),
                 "patch_rects": [[*(int(v) for v in e.rect), e.kind] for e in job.plan.entries] if job.plan else [],
                 **self.loop.line_extra()}  # detection: the detections before the score cuts (AP ranks them)
        self.frames.put(job.frame_id, dets, job.frame, extra)
