"""``paraloupe-bench soak`` — overload soak of the local cluster: bounded queues, flat RSS, drops accounted.

Run (10 minutes by default; emulated devices, labelled so)::

    paraloupe-bench soak --bundle models/bundle --video models/world/test-static/video.mp4
        [--seconds 600] [--servers 4] [--devices raspberry-pi-4b] [--mode paraloupe] [--scheduler markov]
        [--offer-fps 50] [--slo-ms 500] [--queue-frames 4] [--stale-ms 2000] [--sample-s 10]
        [--json OUT] [--workdir DIR]

A master and ``--servers`` servers start on loopback (:class:`runtime.cluster.local.LocalCluster`, the
same processes as ``paraloupe-run --cluster local:N``); the video is decoded in a loop (never held in
memory) and its frames are offered like a camera at ``--offer-fps`` — chosen faster than the cluster
serves — for ``--seconds``. Every ``--sample-s`` a thread samples the resident set size (VmRSS, MB) of the
client (this process), the master and every server, and the client's queues.

Report (table on stderr, JSON on stdout and in ``--json``): frames offered / served / dropped (by reason)
and whether every offered frame got a prediction line; the largest queue depths seen beside their
bounds (frames waiting, frames and patches in flight, per server the patches it reported queued); RSS
per process: start, min, max, end and the least-squares slope (MB/min) over the second half of the run;
end-to-end latency p50/p90/p99 (ms, after 5 warm-up frames) and SLO misses; the client's counters;
the machine and the emulation note.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from runtime.atomic import write_json
from runtime.errors import UserError, cli_entry, run_cli
from runtime.modes import Mode, Solver

WARMUP_FRAMES = 5


def rss_mb(pid: int) -> float | None:
    """Resident set size (MB) of process ``pid`` from /proc, or None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def rss_slope(t_s: Sequence[float], mb: Sequence[float | None], from_s: float = 0.0) -> float | None:
    """Least-squares slope (MB/min) of RSS samples (MB) at times ``t_s`` (s) from ``from_s`` on; None with
    fewer than two usable samples."""
    pts = [(t, m) for t, m in zip(t_s, mb, strict=False) if m is not None and t >= from_s]
    if len(pts) < 2 or len({t for t, _ in pts}) < 2:
        return None
    t, m = np.asarray(pts, dtype=np.float64).T
    return float(np.polyfit(t / 60.0, m, 1)[0])


def rss_figures(samples: list[dict[str, Any]], name: str, seconds: float) -> dict[str, float | None]:
    """Start, min, max, end (MB) and the second-half slope (MB/min) of one process's RSS samples."""
    t = [s["t_s"] for s in samples]
    mb = [s["rss_mb"].get(name) for s in samples]
    seen = [m for m in mb if m is not None]
    if not seen:
        return {"start": None, "min": None, "max": None, "end": None, "slope_mb_per_min_2nd_half": None}
    slope = rss_slope(t, mb, from_s=seconds / 2.0)
    return {"start": round(seen[0], 1), "min": round(min(seen), 1), "max": round(max(seen), 1),
            "end": round(seen[-1], 1), "slope_mb_per_min_2nd_half": None if slope is None else round(slope, 3) + 0.0}


def looped_frames(video: str, seconds: float, offered: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(id, frame)`` for ``seconds`` (from the first call), the video decoded again at each end; ids count
    up across loops; ``offered[0]`` counts the frames handed out."""
    from runtime.video import iter_frames

    ids = itertools.count()
    t0 = None
    while True:
        for _, frame in iter_frames(video):
            t0 = time.monotonic() if t0 is None else t0
            if time.monotonic() - t0 >= seconds:
                return
            offered[0] += 1
            yield next(ids), frame


class Sampler(threading.Thread):
    """Samples every ``period_s``: RSS of each process in ``pids`` and the client's queues (read-only)."""

    def __init__(self, pids: Mapping[str, int], client: Any, period_s: float) -> None:
        super().__init__(daemon=True, name="soak-sampler")
        self.pids, self.client, self.period_s = dict(pids), client, period_s
        self.samples: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self._stop_event = threading.Event()

    def sample(self) -> dict[str, Any]:
        stats = self.client.stats
        s = {"t_s": round(time.monotonic() - self.t0, 1),
             "rss_mb": {n: (None if (m := rss_mb(p)) is None else round(m, 1)) for n, p in self.pids.items()},
             "frames_in_flight": len(self.client.jobs), "patches_in_flight": len(self.client.flights),
             "served": stats.frames_ran, "dropped": stats.frames_dropped}
        self.samples.append(s)
        return s

    def run(self) -> None:
        self.sample()
        while not self._stop_event.wait(self.period_s):
            s = self.sample()
            rss = ", ".join(f"{n} {m}" for n, m in s["rss_mb"].items())
            print(f"[soak] t {s['t_s']:.0f} s  served {s['served']}  dropped {s['dropped']}  "
                  f"in flight {s['frames_in_flight']}/{s['patches_in_flight']}  RSS MB: {rss}", file=sys.stderr,
                  flush=True)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self.sample()


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    """Start the local cluster, run the soak, stop everything; the report."""
    from runtime.bundle import load_manifest
    from runtime.cluster.client import Client
    from runtime.cluster.config import ClientSection, ClusterConfig, MasterSection
    from runtime.cluster.local import LocalCluster
    from runtime.cluster.summary import summarize
    from runtime.video import video_info

    manifest = load_manifest(args.bundle)
    width, height, fps = video_info(args.video)
    client_cfg = ClientSection(mode=args.mode, slo_ms=args.slo_ms, offer_fps=args.offer_fps, min_servers=args.servers,
                               queue_frames=args.queue_frames, stale_ms=args.stale_ms)
    base = ClusterConfig(master=MasterSection(scheduler=args.scheduler), client=client_cfg)
    devices = [d for d in args.devices.split(",") if d] if args.devices else None
    offered = [0]
    emitted = [0]

    def sink(dets: Any, frame: Any, extra: dict[str, Any]) -> None:
        emitted[0] += 1

    with (tempfile.TemporaryDirectory(prefix="paraloupe-soak-") as tmp,
          LocalCluster(args.bundle, manifest, args.servers, base, args.workdir or tmp, devices) as cluster):
        client = Client(args.bundle, manifest, cluster.config, cluster.endpoints["master"],
                        log=lambda s: print(f"[soak] {s}", file=sys.stderr))
        pids = {"client": os.getpid(), **{n: p.pid for n, p in cluster.procs.items()}}
        sampler = Sampler(pids, client, args.sample_s)
        sampler.start()
        t0 = time.monotonic()
        try:
            stats = client.run(looped_frames(args.video, args.seconds, offered), sink)
        finally:
            sampler.stop()
        wall_s = time.monotonic() - t0
        emulation = cluster.emulation()
        queue_max = cluster.config.servers[0].queue_max if cluster.config.servers else None
    summary = summarize(stats, args.slo_ms, warmup=WARMUP_FRAMES)
    counters = summary["counters"]
    drops = {k[len("frames_dropped_"):]: v for k, v in counters.items() if k.startswith("frames_dropped_")}
    pipeline = client_cfg.pipeline or (max(1, args.servers) if client_cfg.mode is Mode.BASELINE else 1)
    return {
        "seconds": args.seconds, "wall_s": round(wall_s, 1), "video": str(args.video), "frame_size": [width, height],
        "servers": args.servers, "devices": emulation["servers"], "mode": args.mode, "scheduler": args.scheduler,
        "offer_fps": args.offer_fps, "slo_ms": args.slo_ms,
        "frames": {"offered": offered[0], "served": stats.frames_ran, "skipped": stats.frames_skipped,
                   "dropped": stats.frames_dropped, "dropped_by_reason": drops, "emitted": emitted[0],
                   "all_accounted": offered[0] == emitted[0] == stats.frames_ran + stats.frames_dropped,
                   "served_fps": round(stats.frames_ran / wall_s, 2) if wall_s > 0 else None},
        "queues_max": dict(sorted(stats.peaks.items())),
        "queue_bounds": {"waiting": client_cfg.queue_frames, "frames_in_flight": pipeline,
                         "server_queued": queue_max, "stale_ms": client_cfg.stale_ms},
        "rss_mb": {name: rss_figures(sampler.samples, name, wall_s) for name in pids},
        "e2e_ms": summary["e2e_ms"], "slo_misses": summary["slo_misses"], "warmup_frames": summary["warmup_frames"],
        "patches_per_frame": summary["patches_per_frame"], "patches_per_device": summary["patches_per_device"],
        "counters": counters, "events": summary["events"], "machine": summary["machine"],
        "cpus": os.cpu_count(), "emulation": emulation, "rss_samples": sampler.samples,
    }


def format_report(r: dict[str, Any]) -> str:
    """A short table of the soak report."""
    f, e = r["frames"], r["e2e_ms"]
    lines = [f"soak {r['seconds']:.0f} s ({r['wall_s']} s wall) on {r['machine']}, {r['cpus']} CPUs; "
             f"local:{r['servers']} {sorted(set(r['devices'].values()))} (emulated), mode {r['mode']}",
             f"frames offered {f['offered']} at {r['offer_fps']} fps, served {f['served']} ({f['served_fps']} fps, "
             f"skipped {f['skipped']}), dropped {f['dropped']} {f['dropped_by_reason']}, all accounted "
             f"{f['all_accounted']}",
             f"queues max {r['queues_max']} (bounds {r['queue_bounds']})",
             f"end-to-end ms p50 {e['p50']} p90 {e['p90']} p99 {e['p99']}, SLO {r['slo_ms']:.0f} ms misses "
             f"{r['slo_misses']}",
             "RSS MB (start / min / max / end, slope MB/min over the 2nd half):"]
    for name, x in r["rss_mb"].items():
        lines.append(f"  {name:<10} {x['start']} / {x['min']} / {x['max']} / {x['end']}, "
                     f"{x['slope_mb_per_min_2nd_half']}")
    return "\n".join(lines)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="paraloupe-bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--video", required=True, help="video, looped")
    p.add_argument("--seconds", type=float, default=600.0, help="duration of the soak, s (default 600)")
    p.add_argument("--servers", type=int, default=4, help="local servers (default 4)")
    p.add_argument("--devices", default="raspberry-pi-4b", help="device profiles cycled over the servers "
                   "(default raspberry-pi-4b; '' = the bundle's)")
    p.add_argument("--mode", default=Mode.PARALOUPE.value, choices=Mode.values(), metavar="MODE",
                   help=f"client mode: {Mode.help_text()} (default {Mode.PARALOUPE})")
    p.add_argument("--scheduler", default=Solver.MARKOV.value, choices=Solver.values(),
                   help=f"scheduling policy (default {Solver.MARKOV})")
    p.add_argument("--offer-fps", type=float, default=50.0, help="frames offered per second (default 50)")
    p.add_argument("--slo-ms", type=float, default=500.0, help="T_SLO per frame, ms (default 500)")
    p.add_argument("--queue-frames", type=int, default=4, help="client frame queue bound (default 4)")
    p.add_argument("--stale-ms", type=float, default=2000.0, help="waiting frames older than this are dropped")
    p.add_argument("--sample-s", type=float, default=10.0, help="RSS sampling period, s (default 10)")
    p.add_argument("--json", help="also write the JSON report here")
    p.add_argument("--workdir", help="folder for the cluster's configs and logs (default: a temp folder)")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.offer_fps <= 0 or args.sample_s <= 0 or args.servers < 1 or args.queue_frames < 1:
        raise UserError("--seconds, --offer-fps, --sample-s must be > 0; --servers, --queue-frames >= 1")
    report = run_soak(args)
    print(format_report(report), file=sys.stderr)
    print(json.dumps(report))
    if args.json:
        write_json(args.json, report, indent=1)
    return 0


if __name__ == "__main__":
    run_cli(main)
