"""Client: reads frames, generates patches, asks the master, sends patches straight to servers, aggregates.

One thread runs an event loop over the master DEALER and one DEALER per server; a second thread runs the
network profiler (timed probes on sockets of its own) and publishes b_i per server.

Per frame: patches from the generator (``paraloupe``, ``lastdet``, ``ep-K``) or the whole frame (``mini``,
``baseline``) → ``schedule`` (metadata only: bytes, confidence, the measured bandwidths) → ``assign`` →
each patch sent to its server → results mapped to the frame and merged (:mod:`runtime.cluster.aggregate`) →
one prediction line per frame, in frame order. ``baseline`` needs no master round trip: whole frames go to
the servers in proportion to their speed (smooth weighted round robin on 1 / latency of the baseline model).

Reliability (the ZeroMQ guide's Paranoid Pirate, client side):

- heartbeats: a ``ping`` to every server each ``heartbeat_ms`` (≤ 300); any message from a server proves it
  alive; ``liveness`` periods of silence → the server is removed, its socket closed (queued messages gone),
  its in-flight patches re-sent elsewhere, and it is named in ``exclude`` in schedule requests;
- a patch not answered by its deadline (``resend_factor × max(SLO, predicted device time)``) is re-sent to
  another live server; an ``error`` reply re-sends at once; after ``max_resends`` the client infers it
  itself. Replies to superseded or unknown requests are late: dropped and counted;
- no live server (or none serving the needed kind) → local inference with the client's own copy of the
  bundle: every frame gets a result. A master that does not answer in ``master_timeout_ms`` → round robin
  over the live servers (counted);
- rejoin: a removed server's endpoint keeps being pinged on a fresh socket; its first ``pong`` (or a new
  endpoint in the master's device table) brings it back;
- bounded queues: at most ``pipeline`` frames in flight and ``queue_frames`` waiting; under overload the
  oldest waiting frame is dropped, and a frame that waited longer than ``stale_ms`` is dropped — each a
  prediction line with ``"dropped": true`` carrying the last result over, and counted.

Memory stays flat on an endless stream: statistics are fixed-size (:class:`runtime.cluster.summary.Stats`:
counters, histograms, the last few records), a finished frame's superseded requests are forgotten (their late
replies are then unknown requests: dropped and counted the same), and the largest depth of every queue is
kept in ``stats.peaks`` (``waiting``, ``frames_in_flight``, ``patches_in_flight``, ``server_queued:NAME``).
"""

from __future__ import annotations

import collections
import itertools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zmq

from runtime.cluster.aggregate import PatchResult, aggregate
from runtime.cluster.client_parts import BandwidthThread, Flight, Job, Link, mode_kind
from runtime.cluster.config import ClusterConfig
from runtime.cluster.protocol import Malformed, encode, try_decode
from runtime.cluster.summary import Stats
from runtime.cluster.transport import Transport
from runtime.errors import UserError
from runtime.infer import Detector
from runtime.patches import ObjectnessModel, make_generator
from runtime.patches.queue import build_entries, encode_patch
from runtime.predictions import FrameDetections


class Client:
    """One client run over a cluster whose master is at ``master_endpoint``."""

    def __init__(self, bundle_dir: str | Path, manifest: Mapping[str, Any], cluster: ClusterConfig,
                 master_endpoint: str, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> None:
        self.bundle_dir = str(bundle_dir)
        self.manifest = manifest
        self.cluster = cluster
        self.cfg = cluster.client
        self.mode = self.cfg.mode
        self.kind = mode_kind(self.mode)
        self.master_endpoint = master_endpoint
        self.log = log
        self.stats = Stats(slo_ms=self.cfg.slo_ms)
        self.malformed = Malformed()
        self.links: dict[str, Link] = {}
        self.flights: dict[str, Flight] = {}
        self.jobs: dict[int, Job] = {}
        self._local: dict[str, Detector] = {}
        self._req = itertools.count()
        self.last = FrameDetections(-1, np.zeros((0, 4)), [], np.zeros(0))
        self.generator = None
        if self.mode not in ("mini", "baseline"):
            objectness = manifest.get("objectness")
            model = ObjectnessModel.from_dict(objectness) if objectness else None
            try:
                self.generator = make_generator(self.mode, self.cfg.patches, model)
            except ValueError as exc:
                raise UserError(f"--mode: {exc}") from None
        kinds = {m: s.get("kind", "mini") for m, s in manifest["models"].items()}
        self.kind_models = sorted((m for m, k in kinds.items() if k == self.kind),
                                  key=lambda m: manifest["models"][m]["input_size"])
        if not self.kind_models:
            raise UserError(f"bundle has no {self.kind} model (mode {self.mode})")
        self.whole_frame_side = max(manifest["models"][m]["input_size"] for m in self.kind_models)
        self.t0 = time.monotonic()

    # ---------------------------------------------------------------- helpers

    def _event(self, event: str, device: str = "") -> None:
        self.stats.event({"t_s": round(time.monotonic() - self.t0, 3), "event": event, "device": device})
        self.log(f"client: {event} {device}".rstrip())

    def _live(self) -> list[Link]:
        return [l for l in self.links.values() if l.alive and l.models]

    def _local_detector(self, model: str) -> Detector:
        if model not in self._local:
            self._local[model] = Detector(self.bundle_dir, model, self.manifest)
        return self._local[model]

    def _send(self, sock: zmq.Socket, frames: list[bytes], counted: bool = True) -> bool:
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
            return True
        except zmq.ZMQError:
            if counted:
                self.stats.count("send_failed")
            return False

    # ---------------------------------------------------------------- device table

    def _update_devices(self, devices: Mapping[str, Mapping[str, Any]], now: float) -> None:
        for name, info in devices.items():
            link = self.links.get(name)
            models = {m: float(t) for m, t in info["models"].items()}
            if link is None:
                link = self.links[name] = Link(name, info["endpoint"], None, models, True, now)  # type: ignore[arg-type]
                self._connect(link)
                self._event("server joined", name)
            elif link.endpoint != info["endpoint"]:
                self.transport.discard(link.sock)
                link.endpoint, link.models = info["endpoint"], models
                self._connect(link)
                self._event("server moved", name)
            else:
                link.models = models
        self.bw.set_peers({n: l.endpoint for n, l in self.links.items()})

    def _connect(self, link: Link) -> None:
        """A fresh DEALER to the link's endpoint (nothing queued) with a monitor for disconnections."""
        link.sock = self.transport.dealer(link.endpoint)
        link.monitor = self.transport.monitor(link.sock, zmq.EVENT_DISCONNECTED)

    def _hello(self) -> None:
        """An empty schedule request: the master answers with its device table (discovery, rejoin)."""
        hello = encode("schedule", req=f"hello-{next(self._req)}", frame=-1, kind=self.kind, slo_ms=self.cfg.slo_ms,
                       patches=[], bandwidths={}, exclude=[])
        self._send(self.master, hello, counted=False)

    # ---------------------------------------------------------------- liveness

    def _heartbeat(self, now: float) -> None:
        hb = self.cluster.timing.heartbeat_ms / 1000.0
        limit = self.cluster.timing.liveness * hb
        for link in list(self.links.values()):  # read what arrived first: a stalled loop is not a dead server
            self._drain(link.sock, link, now)
        for link in self.links.values():
            self._send(link.sock, encode("ping", seq=int(now * 1000)), counted=False)
            if link.alive and now - link.last_seen > limit:
                self._remove(link, now, "missed heartbeats")

    def _remove(self, link: Link, now: float, why: str) -> None:
        """Take a server out: its socket replaced by a fresh one (pinged until it answers), its in-flight
        patches sent elsewhere."""
        link.alive = False
        self.stats.count("servers_removed")
        self._event(f"server removed ({why})", link.name)
        self.transport.discard(link.sock)
        self._connect(link)
        for req in list(link.inflight):
            fl = self.flights.get(req)
            if fl is not None and not fl.superseded:
                self._redispatch(fl, now, reason="rescheduled")
        link.inflight.clear()

    def _on_monitor(self, link: Link, now: float) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while link.monitor is not None and link.monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(link.monitor)
            if event["event"] == zmq.EVENT_DISCONNECTED and link.alive:
                self._remove(link, now, "disconnected")
                return

    def _seen(self, link: Link, now: float) -> None:
        link.last_seen = now
        if not link.alive:
            link.alive = True
            self.stats.count("servers_rejoined")
            self._event("server rejoined", link.name)

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self, job: Job, index: int, device: str, model: str, now: float, predicted_ms: float) -> None:
        link = self.links.get(device)
        if link is None or not link.alive or model not in link.models:
            self._dispatch_elsewhere(job, index, now, exclude=device)
            return
        job.attempts[index] += 1
        req = f"{job.frame_id}.{index}.{job.attempts[index]}"
        if not self._send(link.sock, encode("patch", payload=job.jpegs[index], req=req, model=model,
                                            frame=job.frame_id)):
            self._dispatch_elsewhere(job, index, now, exclude=device)
            return
        wait_ms = self.cfg.resend_factor * max(self.cfg.slo_ms, predicted_ms)
        self.flights[req] = Flight(req, job, index, device, model, now, now + wait_ms / 1000.0)
        link.inflight.add(req)
        job.reqs.append(req)
        self.stats.peak("patches_in_flight", len(self.flights))

    def _best_other(self, exclude: str) -> tuple[Link, str] | None:
        live = self._live()
        others = [l for l in live if l.name != exclude] or live
        if not others:
            return None
        link = min(others, key=lambda l: (len(l.inflight) + 1) * min(l.models.values()))
        return link, min(link.models, key=link.models.get)

    def _dispatch_elsewhere(self, job: Job, index: int, now: float, exclude: str) -> None:
        choice = self._best_other(exclude)
        if choice is None or job.attempts[index] > self.cfg.max_resends:
            self._infer_locally(job, index, now)
            return
        link, model = choice
        self._dispatch(job, index, link.name, model, now, (len(link.inflight) + 1) * link.models[model])

    def _redispatch(self, fl: Flight, now: float, reason: str) -> None:
        fl.superseded = True
        if fl.device in self.links:
            self.links[fl.device].inflight.discard(fl.req)
        self.stats.count(reason)
        if fl.job.results[fl.index] is None and fl.job.frame_id in self.jobs:
            self._dispatch_elsewhere(fl.job, fl.index, now, exclude=fl.device)

    def _infer_locally(self, job: Job, index: int, now: float) -> None:
        model = self.kind_models[-1] if self.kind == "baseline" else self.kind_models[0]
        image = cv2.imdecode(np.frombuffer(job.jpegs[index], dtype=np.uint8), cv2.IMREAD_COLOR)
        out = self._local_detector(model)(image)
        self.stats.count("local_patches")
        self.stats.add_patch("local", rtt_ms=out.infer_ms, infer_ms=out.infer_ms)
        self._complete(job, index, PatchResult(job.rects[index], (image.shape[1], image.shape[0]), out.boxes,
                                               out.labels, out.scores), time.monotonic())

    def _assign_fallback(self, job: Job, now: float) -> None:
        live = self._live()
        if not live:
            for i in range(len(job.jpegs)):
                if job.results[i] is None:
                    self._infer_locally(job, i, now)
            return
        for i in range(len(job.jpegs)):
            link = live[i % len(live)]
            model = min(link.models, key=link.models.get)
            self._dispatch(job, i, link.name, model, now, link.models[model])

    def _on_assign(self, header: Mapping[str, Any], now: float) -> None:
        self._update_devices(header["devices"], now)
        req = header["req"]
        job = next((j for j in self.jobs.values() if j.sched_req == req), None)
        if job is None:
            if not req.startswith("hello-"):
                self.stats.count("late_assign")
            return
        job.sched_req = None
        job.sched_ms = (now - job.sched_sent) * 1000.0
        assignment = header["assignment"]
        if header.get("error") or len(assignment) != len(job.jpegs):
            self.stats.count("assign_failed")
            self._assign_fallback(job, now)
            return
        if not header["feasible"]:
            self.stats.count("schedule_infeasible")
        per_device = collections.Counter(d for d, _ in assignment)
        for i, (device, model) in enumerate(assignment):
            lat = self.links[device].models.get(model, 0.0) if device in self.links else 0.0
            self._dispatch(job, i, device, model, now, per_device[device] * lat)

    def _on_result(self, link: Link | None, msg: Any, now: float) -> None:
        fl = self.flights.pop(msg["req"], None)
        if link is not None:
            link.inflight.discard(msg["req"])
        if fl is None or fl.superseded or fl.job.frame_id not in self.jobs or fl.job.results[fl.index] is not None:
            self.stats.count("late_replies")
            return
        job = fl.job
        if msg.type == "error":
            self.stats.count("error_replies")
            self._redispatch(fl, now, reason="resent")
            return
        rtt = (now - fl.sent) * 1000.0
        self.stats.add_patch(fl.device, rtt_ms=rtt, infer_ms=msg["infer_ms"], server_ms=msg["server_ms"],
                             transfer_ms=max(rtt - msg["server_ms"], 0.0))
        self._complete(job, fl.index, PatchResult(job.rects[fl.index], (msg["w"], msg["h"]),
                                                  np.asarray(msg["boxes"], dtype=np.float64).reshape(-1, 4),
                                                  list(msg["labels"]), np.asarray(msg["scores"], dtype=np.float64)),
                       now)

    def _complete(self, job: Job, index: int, result: PatchResult, now: float) -> None:
        job.results[index] = result
        if job.remaining == 0:
            self._finish(job)

    # ---------------------------------------------------------------- frames

    def _start(self, job: Job, now: float) -> None:
        t0 = time.perf_counter()
        frame = job.frame
        h, w = frame.shape[:2]
        q = self.cfg.patches.jpeg_quality
        if self.generator is not None:
            fp = self.generator(frame, job.frame_id, detections=self.last.boxes, scores=self.last.scores,
                                det_frame_id=self.last.frame if self.last.frame >= 0 else None)
            if fp.skipped:
                job.gen_ms = (time.perf_counter() - t0) * 1000.0
                self._finish(job, skipped=True)
                return
            for e in build_entries(frame, fp, q, self.cfg.patches.max_side):
                job.rects.append(e.location)
                job.jpegs.append(e.jpeg)
                job.confidence.append(e.confidence)
        else:
            job.rects.append((0, 0, w, h))
            job.jpegs.append(encode_patch(frame, q, self.whole_frame_side))
            job.confidence.append(1.0)
        job.results = [None] * len(job.jpegs)
        job.attempts = [0] * len(job.jpegs)
        job.gen_ms = (time.perf_counter() - t0) * 1000.0
        self.jobs[job.frame_id] = job
        if not job.jpegs:
            self._finish(job)
            return
        now = time.monotonic()
        if self.kind == "baseline":
            self._baseline_assign(job, now)
            return
        job.sched_req = f"f{job.frame_id}-{next(self._req)}"
        job.sched_sent = now
        ok = self._send(self.master, encode(
            "schedule", req=job.sched_req, frame=job.frame_id, kind=self.kind, slo_ms=self.cfg.slo_ms,
            patches=[{"bytes": len(j), "confidence": c} for j, c in zip(job.jpegs, job.confidence, strict=False)],
            bandwidths=self.bw.bandwidths(), exclude=[n for n, l in self.links.items() if not l.alive]))
        if not ok:
            job.sched_req = None
            self.stats.count("master_fallbacks")
            self._assign_fallback(job, now)

    def _baseline_assign(self, job: Job, now: float) -> None:
        live = self._live()
        if not live:
            self._infer_locally(job, 0, now)
            return
        weights = {l.name: 1.0 / max(min(l.models.values()), 1e-3) for l in live}
        total = sum(weights.values())
        for l in live:
            l.weight_credit += weights[l.name]
        best = max(live, key=lambda l: l.weight_credit)
        best.weight_credit -= total
        model = min(best.models, key=best.models.get)
        job.sched_ms = 0.0
        self._dispatch(job, 0, best.name, model, now, (len(best.inflight) + 1) * best.models[model])

    def _finish(self, job: Job, skipped: bool = False) -> None:
        t0 = time.perf_counter()
        h, w = job.frame.shape[:2]
        if skipped:
            dets = FrameDetections(job.frame_id, self.last.boxes, list(self.last.labels), self.last.scores)
        else:
            dets = aggregate(job.frame_id, w, h, [r for r in job.results if r is not None], self.cfg.merge_iou,
                             self.cfg.merge_contain,
                             min_score=self.cfg.min_score if self.generator is not None else 0.0)
            self.last = dets
        agg_ms = (time.perf_counter() - t0) * 1000.0
        done = time.monotonic()
        self.jobs.pop(job.frame_id, None)
        self._forget_requests(job)
        e2e_ms = (done - job.arrival) * 1000.0
        self.stats.add_frame(job.frame_id, e2e_ms, job.gen_ms, job.sched_ms, agg_ms, len(job.jpegs), skipped)
        self._done[job.frame_id] = (dets, job.frame, {"latency_ms": round(e2e_ms, 2),
                                                      "patches": len(job.jpegs), **({"skipped": True} if skipped else {})})

    def _forget_requests(self, job: Job) -> None:
        """Drop a finished frame's outstanding (superseded) requests: they no longer pin the frame in memory."""
        for req in job.reqs:
            fl = self.flights.pop(req, None)
            if fl is not None and fl.device in self.links:
                self.links[fl.device].inflight.discard(req)
        job.reqs.clear()

    def _drop(self, frame_id: int, frame: np.ndarray, reason: str) -> None:
        self.stats.add_drop(frame_id, reason)
        dets = FrameDetections(frame_id, self.last.boxes, list(self.last.labels), self.last.scores)
        self._done[frame_id] = (dets, frame, {"dropped": True, "reason": reason})

    # ---------------------------------------------------------------- main loop

    def run(self, frames: Iterator[tuple[int, np.ndarray]],
            sink: Callable[[FrameDetections, np.ndarray, dict[str, Any]], None],
            progress: Callable[[dict[str, Any]], None] | None = None,
            on_frame: Callable[[int], None] | None = None) -> Stats:
        """Run ``frames`` through the cluster; ``sink(detections, frame, extra)`` gets every frame in order."""
        self.transport = Transport(self.cluster.transport, self.cluster.curve(self.cfg.name))
        self.bw = BandwidthThread(self.cluster, self.cfg.name)
        self._done: dict[int, tuple[FrameDetections, np.ndarray, dict[str, Any]]] = {}
        try:
            self.master = self.transport.dealer(self.master_endpoint)
            self.bw.start()
            self._wait_for_servers()
            self._loop(frames, sink, progress, on_frame)
        finally:
            self.bw.stop()
            self.bw.join(timeout=5)
            self.transport.close()
        self.stats.malformed.update(self.malformed)
        return self.stats

    def _wait_for_servers(self) -> None:
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while len(self._live()) < self.cfg.min_servers and time.monotonic() < deadline:
            self._hello()
            if self.master.poll(100, zmq.POLLIN):
                self._drain(self.master, None, time.monotonic())
        if len(self._live()) < self.cfg.min_servers:
            self._event(f"only {len(self._live())} of {self.cfg.min_servers} servers after "
                        f"{self.cfg.startup_timeout_s:.0f} s; missing work is inferred locally")

    def _drain(self, sock: zmq.Socket, link: Link | None, now: float) -> None:
        for _ in range(256):
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            msg = try_decode(frames, self.malformed)
            if msg is None:
                continue
            if link is not None:
                self._seen(link, now)
            if msg.type == "assign" and link is None:
                self._on_assign(msg.header, now)
            elif msg.type in ("result", "error") and link is not None:
                self._on_result(link, msg, now)
            elif msg.type == "pong":
                if link is not None:
                    self.stats.peak(f"server_queued:{link.name}", int(msg["queued"]))
            else:
                self.malformed.add(f"unexpected:{msg.type}")

    def _loop(self, frames: Iterator[tuple[int, np.ndarray]], sink: Callable[..., None],
              progress: Callable[[dict[str, Any]], None] | None, on_frame: Callable[[int], None] | None) -> None:
        cfg = self.cfg
        depth = cfg.pipeline or (max(1, len(self._live())) if self.kind == "baseline" else 1)
        hb = self.cluster.timing.heartbeat_ms / 1000.0
        waiting: collections.deque[tuple[int, np.ndarray, float]] = collections.deque()
        order: collections.deque[int] = collections.deque()
        exhausted = False
        source = iter(frames)
        now = time.monotonic()
        next_arrival, next_hb, next_hello, next_progress = now, now, now + 1.0, now + 1.0
        emitted = 0
        while True:
            now = time.monotonic()
            # admit frames (camera-like at offer_fps, or as fast as the pipeline takes them)
            while not exhausted and (now >= next_arrival if cfg.offer_fps > 0
                                     else (not waiting and len(self.jobs) < depth)):
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                arrival = next_arrival if cfg.offer_fps > 0 else time.monotonic()
                next_arrival += 1.0 / cfg.offer_fps if cfg.offer_fps > 0 else 0.0
                order.append(item[0])
                if len(waiting) >= cfg.queue_frames:
                    old = waiting.popleft()
                    self._drop(old[0], old[1], "overflow")
                waiting.append((item[0], item[1], arrival))
                self.stats.peak("waiting", len(waiting))
            while waiting and len(self.jobs) < depth:
                fid, frame, arrival = waiting.popleft()
                if (time.monotonic() - arrival) * 1000.0 > cfg.stale_ms:
                    self._drop(fid, frame, "stale")
                    continue
                self._start(Job(fid, frame, arrival), time.monotonic())
                self.stats.peak("frames_in_flight", len(self.jobs))
            now = time.monotonic()
            if now >= next_hb:
                self._heartbeat(now)
                next_hb = now + hb
            if now >= next_hello:
                self._hello()
                next_hello = now + 1.0
            for fl in [f for f in self.flights.values() if not f.superseded and now >= f.deadline]:
                self._redispatch(fl, now, reason="resent")  # stays in flights: its late reply is dropped
            for job in [j for j in self.jobs.values() if j.sched_req is not None
                        and (now - j.sched_sent) * 1000.0 > cfg.master_timeout_ms]:
                job.sched_req = None
                self.stats.count("master_fallbacks")
                self._assign_fallback(job, now)
            while order and order[0] in self._done:
                fid = order.popleft()
                dets, frame, extra = self._done.pop(fid)
                sink(dets, frame, extra)
                emitted += 1
                if on_frame:
                    on_frame(fid)
            if len(self.flights) > 4096:  # forget superseded requests whose replies never came
                for req in [r for r, f in self.flights.items() if f.superseded and now - f.sent > 30][:1024]:
                    del self.flights[req]
            if progress and now >= next_progress:
                progress({"frames": emitted, "live": len(self._live()), "in_flight": len(self.jobs),
                          "dropped": self.stats.frames_dropped})
                next_progress = now + 1.0
            if exhausted and not waiting and not self.jobs and not order:
                return
            # wait for the next message or timer
            timers = [next_hb, next_hello] + [f.deadline for f in self.flights.values() if not f.superseded]
            if cfg.offer_fps > 0 and not exhausted:
                timers.append(next_arrival)
            if not waiting and not exhausted and len(self.jobs) < depth and cfg.offer_fps == 0:
                timers.append(now)
            timeout_ms = max(0, int((min(timers) - time.monotonic()) * 1000))
            poller = zmq.Poller()
            poller.register(self.master, zmq.POLLIN)
            socks = {l.sock: l for l in self.links.values()}
            monitors = {l.monitor: l for l in self.links.values() if l.monitor is not None}
            for s in [*socks, *monitors]:
                poller.register(s, zmq.POLLIN)
            for sock, _ in poller.poll(min(timeout_ms, 50) if timeout_ms else 0):
                if sock in monitors:
                    if monitors[sock].monitor is sock:
                        self._on_monitor(monitors[sock], time.monotonic())
                elif sock in socks and socks[sock].sock is not sock:
                    continue  # replaced while handling an earlier event of this poll
                elif sock is self.master or sock in socks:
                    self._drain(sock, socks.get(sock), time.monotonic())
