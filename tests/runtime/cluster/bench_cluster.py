"""Cluster benchmarks on loopback (emulated devices; not collected by pytest). Run from the repo root::

    python tests/runtime/cluster/bench_cluster.py kill --bundle B --video V [--servers 4] [--frames 120] [--fps 10]

``kill``: frames offered at --fps; server-0 gets SIGKILL (or SIGSTOP with --signal STOP: a hung device whose
connection stays up) at 40 % of the run; prints the time from
the kill until every later frame's end-to-end latency is under the SLO, and the frames lost (must be 0).
The overload soak is ``paraloupe-bench soak`` (:mod:`runtime.bench.soak`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from runtime.bundle import load_manifest  # noqa: E402
from runtime.cluster.client import Client  # noqa: E402
from runtime.cluster.config import ClientSection, ClusterConfig, MasterSection  # noqa: E402
from runtime.cluster.local import LocalCluster  # noqa: E402
from runtime.cluster.summary import summarize  # noqa: E402
from runtime.video import iter_frames  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def kill(args: argparse.Namespace) -> None:
    manifest = load_manifest(args.bundle)
    base = ClusterConfig(master=MasterSection(scheduler=args.scheduler),
                         client=ClientSection(mode=args.mode, min_servers=args.servers, slo_ms=args.slo_ms,
                                              offer_fps=args.fps))
    frames = [f for _, f in iter_frames(args.video, range(args.frames))]
    kill_at = int(0.4 * len(frames))
    t_kill = {}
    with LocalCluster(args.bundle, manifest, args.servers, base, args.workdir, [args.device]) as cluster:
        client = Client(args.bundle, manifest, cluster.config, cluster.endpoints["master"], log=lambda s: None)
        done = {}

        def do_kill() -> None:  # from a timer thread, so that patches are likely in flight
            t_kill["t"] = time.monotonic()
            if args.signal == "KILL":
                cluster.kill("server-0")
            else:  # SIGSTOP: the process hangs, its TCP connection stays up — only heartbeats can tell
                os.kill(cluster.procs["server-0"].pid, signal.SIGSTOP)

        def source():
            for i, frame in enumerate(frames):
                if i == kill_at:
                    threading.Timer(0.5 * 0.9 / args.fps, do_kill).start()
                yield i, frame

        def sink(dets, frame, extra):
            done[dets.frame] = (time.monotonic(), extra)

        stats = client.run(source(), sink)
        if args.signal == "STOP":
            os.kill(cluster.procs["server-0"].pid, signal.SIGKILL)
    rec = {i: {"dropped": extra.get("dropped", False), "e2e_ms": extra.get("latency_ms", 0.0)}
           for i, (_, extra) in done.items()}  # the sink's extra keys: the client keeps only recent records
    after = [i for i in range(kill_at, len(frames)) if done[i][0] >= t_kill["t"]]
    bad = [i for i in after if rec[i]["dropped"] or rec[i]["e2e_ms"] > args.slo_ms]
    last_bad = max(bad) if bad else None
    recovery = (done[last_bad][0] - t_kill["t"]) if last_bad is not None else 0.0
    s = summarize(stats, args.slo_ms, warmup=5)
    print(json.dumps({"servers": args.servers, "device": args.device, "fps": args.fps, "slo_ms": args.slo_ms,
                      "frames": len(frames), "emitted": len(done), "lost": len(frames) - len(done),
                      "killed_at_frame": kill_at, "frames_over_slo_after_kill": bad,
                      "recovery_s": round(recovery, 3),
                      "max_e2e_after_kill_ms": round(max(rec[i].get("e2e_ms", 0) for i in after), 1),
                      "counters": s["counters"], "events": s["events"], "e2e_ms": s["e2e_ms"]}, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["kill"])
    p.add_argument("--bundle", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--servers", type=int, default=4)
    p.add_argument("--device", default="raspberry-pi-4b")
    p.add_argument("--mode", default="ep-4")
    p.add_argument("--scheduler", default="greedy")
    p.add_argument("--slo-ms", type=float, default=500.0)
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--signal", choices=["KILL", "STOP"], default="KILL")
    p.add_argument("--workdir", default="/tmp/paraloupe-bench")
    a = p.parse_args()
    kill(a)
