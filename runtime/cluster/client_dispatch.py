"""Where the client sends each patch, and what it does when no answer comes (the ZeroMQ guide's Paranoid
Pirate, client side, for requests):

- an ``assign`` from the master sends each patch to its (server, model); ``baseline`` needs no master round
  trip: whole frames go to the servers in proportion to their speed (smooth weighted round robin on
  1 / latency of the baseline model);
- a patch not answered by its deadline (``resend_factor × max(SLO, predicted device time)``) is re-sent to
  another live server; an ``error`` reply re-sends at once; after ``max_resends`` the client infers it
  itself. Replies to superseded or unknown requests are late: dropped and counted; the patches in flight at
  a server removed (:mod:`runtime.cluster.client_links`) are re-sent elsewhere;
- no live server (or none serving the needed kind) → local inference with the client's own copy of the
  bundle: every frame gets a result. A master that does not answer in ``master_timeout_ms`` → round robin
  over the live servers (counted).

Memory stays flat: a finished frame's superseded requests are forgotten (their late replies are then unknown
requests: dropped and counted the same). Times are ``time.monotonic()`` seconds, latencies ms.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from runtime.cluster.aggregate import PatchDetections
from runtime.cluster.client_keypoints import pose_result
from runtime.cluster.client_links import ClientLinks
from runtime.cluster.client_parts import Flight, Job, Link
from runtime.cluster.config import ClientSection
from runtime.cluster.protocol import Message, encode
from runtime.cluster.summary import Stats
from runtime.detections import Detections
from runtime.infer import Detector
from runtime.keypoint_infer import KeypointModel, load_model
from runtime.keypoint_task import PatchPose
from runtime.manifest import Manifest

#: Outstanding requests beyond which superseded ones whose replies never came are forgotten.
MAX_FLIGHTS = 4096


class PatchDispatch:
    """The patch requests in flight (``flights``: request id → :class:`Flight`) of the frames in ``jobs``.

    ``local_models`` (model kind → name) are the models the client runs itself from its copy of the bundle
    (``bundle_dir``, ``manifest``); ``finish(job)`` is called when a frame's last patch has its result. Every
    choice of a model for a patch keeps to the patch's model kind (``job.model_kinds``)."""

    def __init__(self, cfg: ClientSection, links: ClientLinks, jobs: Mapping[int, Job], stats: Stats,
                 bundle_dir: str | Path, manifest: Manifest, local_models: Mapping[str, str],
                 finish: Callable[[Job], None], task: str = "detection") -> None:
        self.cfg = cfg
        self.links = links
        self.jobs = jobs
        self.stats = stats
        self.bundle_dir = str(bundle_dir)
        self.manifest = manifest
        self.local_models = dict(local_models)
        self.finish = finish
        self.task = task  # the models used: detection, or keypoints (crops answered by ``keypoints`` messages)
        self.flights: dict[str, Flight] = {}
        self._local: dict[str, Detector | KeypointModel] = {}

    # ---------------------------------------------------------------- sending

    def dispatch(self, job: Job, index: int, device: str, model: str, now: float, predicted_ms: float) -> None:
        """Send patch ``index`` of ``job`` to ``model`` on ``device`` (elsewhere if it cannot take it); its
        deadline is ``resend_factor × max(SLO, predicted_ms)`` from ``now``."""
        link = self.links.links.get(device)
        if link is None or not link.alive or model not in link.models:
            self.dispatch_elsewhere(job, index, now, exclude=device)
            return
        job.attempts[index] += 1
        req = f"{job.frame_id}.{index}.{job.attempts[index]}"
        floor = job.min_score(index)
        extra = {} if floor is None else {"min_score": float(floor)}
        if not self.links.send(link.sock, encode("patch", payload=job.jpegs[index], req=req, model=model,
                                                 frame=job.frame_id, **extra)):
            self.dispatch_elsewhere(job, index, now, exclude=device)
            return
        wait_ms = self.cfg.resend_factor * max(self.cfg.slo_ms, predicted_ms)
        self.flights[req] = Flight(req, job, index, device, model, now, now + wait_ms / 1000.0)
        link.inflight.add(req)
        job.reqs.append(req)
        self.stats.peak("patches_in_flight", len(self.flights))

    def of_kind(self, link: Link, kind: str) -> dict[str, float]:
        """The models of ``kind`` that ``link`` serves: name → latency (ms). The baseline is exported at several
        input sides: whole frames keep to the side of the client's own baseline model (``local_models``; for
        ``--mode baseline`` the largest) wherever the link serves that side."""
        models = self.manifest.models
        served = {m: t for m, t in link.models.items()
                  if m in models and models[m].kind == kind and models[m].task == self.task}
        local = self.local_models.get(kind)
        if kind == "baseline" and local in models:
            at_side = {m: t for m, t in served.items() if models[m].input_size == models[local].input_size}
            return at_side or served
        return served

    def _fastest(self, link: Link, kind: str) -> str:
        served = self.of_kind(link, kind)
        return min(served, key=served.get)

    def _best_other(self, exclude: str, kind: str) -> tuple[Link, str] | None:
        live = [link for link in self.links.live() if self.of_kind(link, kind)]
        others = [link for link in live if link.name != exclude] or live
        if not others:
            return None
        best = min(others, key=lambda link: (len(link.inflight) + 1) * min(self.of_kind(link, kind).values()))
        return best, self._fastest(best, kind)

    def dispatch_elsewhere(self, job: Job, index: int, now: float, exclude: str) -> None:
        """Send the patch to the least loaded other live server, or infer it locally when there is none or
        it has been re-sent ``max_resends`` times."""
        choice = self._best_other(exclude, job.model_kinds[index])
        if choice is None or job.attempts[index] > self.cfg.max_resends:
            self.infer_locally(job, index, now)
            return
        link, model = choice
        self.dispatch(job, index, link.name, model, now, (len(link.inflight) + 1) * link.models[model])

    def redispatch(self, fl: Flight, now: float, reason: str) -> None:
        """Supersede ``fl`` (counted as ``reason``) and send its patch elsewhere unless it has a result."""
        fl.superseded = True
        if fl.device in self.links.links:
            self.links.links[fl.device].inflight.discard(fl.req)
        self.stats.count(reason)
        if fl.job.results[fl.index] is None and fl.job.frame_id in self.jobs:
            self.dispatch_elsewhere(fl.job, fl.index, now, exclude=fl.device)

    def reroute(self, link: Link, now: float) -> None:
        """Send the patches in flight at a server just removed elsewhere."""
        for req in list(link.inflight):
            fl = self.flights.get(req)
            if fl is not None and not fl.superseded:
                self.redispatch(fl, now, reason="rescheduled")

    def infer_locally(self, job: Job, index: int, now: float) -> None:
        """Run the patch on the client's own copy of the local model of its kind."""
        name = self.local_models[job.model_kinds[index]]
        if name not in self._local:
            self._local[name] = load_model(self.bundle_dir, name, self.manifest)
        model = self._local[name]
        image = cv2.imdecode(np.frombuffer(job.jpegs[index], dtype=np.uint8), cv2.IMREAD_COLOR)
        self.stats.count("local_patches")
        if isinstance(model, KeypointModel):
            pose = model(image)
            self.stats.add_patch("local", rtt_ms=pose.infer_ms, infer_ms=pose.infer_ms, model=name)
            self._complete(job, index, PatchPose(job.rects[index], (image.shape[1], image.shape[0]), pose.points,
                                                 pose.score))
            return
        out = model(image, min_score=job.min_score(index))
        self.stats.add_patch("local", rtt_ms=out.infer_ms, infer_ms=out.infer_ms, model=name)
        self._complete(job, index, PatchDetections(job.rects[index], (image.shape[1], image.shape[0]),
                                                   out.detections.as_sent()))

    # ---------------------------------------------------------------- placing a frame's patches

    def assign_fallback(self, job: Job, now: float) -> None:
        """Without the master's answer: round robin over the live servers, or every patch locally."""
        for i in range(len(job.jpegs)):
            kind = job.model_kinds[i]
            live = [link for link in self.links.live() if self.of_kind(link, kind)]
            if not live:
                if job.results[i] is None:
                    self.infer_locally(job, i, now)
                continue
            link = live[i % len(live)]
            model = self._fastest(link, kind)
            self.dispatch(job, i, link.name, model, now, link.models[model])

    def baseline_assign(self, job: Job, now: float) -> None:
        """The whole frame to the next server of the smooth weighted round robin (weights 1 / latency)."""
        live = [link for link in self.links.live() if self.of_kind(link, "baseline")]
        if not live:
            self.infer_locally(job, 0, now)
            return
        weights = {link.name: 1.0 / max(min(self.of_kind(link, "baseline").values()), 1e-3) for link in live}
        total = sum(weights.values())
        for link in live:
            link.weight_credit += weights[link.name]
        best = max(live, key=lambda link: link.weight_credit)
        best.weight_credit -= total
        model = self._fastest(best, "baseline")
        job.sched_ms = 0.0
        self.dispatch(job, 0, best.name, model, now, (len(best.inflight) + 1) * best.models[model])

    def on_assign(self, header: Mapping[str, Any], now: float) -> None:
        """The master's ``assign``: each patch of the frame that asked to its (device, model); a late answer
        is counted, an error or a wrong length falls back to round robin."""
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
            self.assign_fallback(job, now)
            return
        if not header["feasible"]:
            self.stats.count("schedule_infeasible")
        job.predicted_ms = float(header["max_latency_ms"])
        per_device = collections.Counter(d for d, _ in assignment)
        links = self.links.links
        for i, (device, model) in enumerate(assignment):
            lat = links[device].models.get(model, 0.0) if device in links else 0.0
            self.dispatch(job, i, device, model, now, per_device[device] * lat)

    # ---------------------------------------------------------------- answers

    def on_result(self, link: Link | None, msg: Message, now: float) -> None:
        """A ``result`` or ``keypoints`` (the patch done) or an ``error`` (re-sent at once); late replies dropped
        and counted."""
        fl = self.flights.pop(msg["req"], None)
        if link is not None:
            link.inflight.discard(msg["req"])
        if fl is None or fl.superseded or fl.job.frame_id not in self.jobs or fl.job.results[fl.index] is not None:
            self.stats.count("late_replies")
            return
        job = fl.job
        if msg.type == "error":
            self.stats.count("error_replies")
            self.redispatch(fl, now, reason="resent")
            return
        rtt = (now - fl.sent) * 1000.0
        self.stats.add_patch(fl.device, rtt_ms=rtt, infer_ms=msg["infer_ms"], server_ms=msg["server_ms"],
                             transfer_ms=max(rtt - msg["server_ms"], 0.0), model=msg["model"])
        if msg.type == "keypoints":  # a person crop's points, in the JPEG's pixels
            self._complete(job, fl.index, pose_result(job.rects[fl.index], msg))
            return
        dets = Detections(msg["boxes"], list(msg["labels"]), msg["scores"])  # boxes in the JPEG's pixels
        self._complete(job, fl.index, PatchDetections(job.rects[fl.index], (msg["w"], msg["h"]), dets))

    def _complete(self, job: Job, index: int, result: PatchDetections | PatchPose) -> None:
        job.results[index] = result
        if job.remaining == 0:
            self.finish(job)

    # ---------------------------------------------------------------- timers

    def deadlines(self) -> list[float]:
        """Deadlines of the requests still awaited (monotonic s)."""
        return [f.deadline for f in self.flights.values() if not f.superseded]

    def resend_overdue(self, now: float) -> None:
        """Re-send every patch past its deadline (its request stays in ``flights``: its late reply is dropped)."""
        for fl in [f for f in self.flights.values() if not f.superseded and now >= f.deadline]:
            self.redispatch(fl, now, reason="resent")

    def master_timeouts(self, now: float) -> None:
        """Frames whose schedule request went unanswered for ``master_timeout_ms``: round robin (counted)."""
        for job in [j for j in self.jobs.values() if j.sched_req is not None
                    and (now - j.sched_sent) * 1000.0 > self.cfg.master_timeout_ms]:
            job.sched_req = None
            self.stats.count("master_fallbacks")
            self.assign_fallback(job, now)

    def forget(self, job: Job) -> None:
        """Drop a finished frame's outstanding (superseded) requests: they no longer pin the frame in memory."""
        for req in job.reqs:
            fl = self.flights.pop(req, None)
            if fl is not None and fl.device in self.links.links:
                self.links.links[fl.device].inflight.discard(req)
        job.reqs.clear()

    def prune(self, now: float) -> None:
        """Past :data:`MAX_FLIGHTS` outstanding requests, forget up to 1024 superseded ones sent over 30 s ago
        whose replies never came."""
        if len(self.flights) > MAX_FLIGHTS:
            for req in [r for r, f in self.flights.items() if f.superseded and now - f.sent > 30][:1024]:
                del self.flights[req]
