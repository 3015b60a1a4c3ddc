"""``paraloupe-run`` — the edge runtime: the embedded demo, the three cluster roles, bundle checks, keys.

    paraloupe-run --bundle models/bundle --video V.mp4 --cluster local:4      # master + 4 servers on loopback
    paraloupe-run --bundle B --role master --config cluster.yaml
    paraloupe-run --bundle B --role server --config cluster.yaml --name jetson-1
    paraloupe-run --bundle B --role client --config cluster.yaml --video V.mp4
    paraloupe-run --bundle B --validate                                       # files, sha256, ncnn, profiles
    paraloupe-run keys --out keys/ [--names server,client]                    # CURVE key pairs
    paraloupe-run --bundle B --video V --cluster netns:4 [--link 300mbit,...] # each in a network namespace (root)
    paraloupe-run netns-clean                                                 # namespaces of dead netns runs

Keypoint task (paper §IV-H): ``--task keypoints --boxes GT_KP.json [--boxes-from gt|detections]
[--keypoint-model M]`` — no patch generator, one JPEG crop per person box placed by the master like a patch
(``--mode paraloupe``/``mini``: the mini keypoint models, ``baseline``: the baseline), the servers serve the
bundle's keypoint models; each line gains ``persons`` (``paraloupe-eval --task keypoints`` scores it), ``--gt``
gives OKS AP in the summary.

Client options: ``--mode paraloupe|baseline|mini|ep-K|lastdet|sahi``, ``--scheduler markov|uniform|proportional|
greedy|milp``, ``--slo-ms``, ``--max-patches``, ``--frames A:B``, ``--offer-fps`` (camera-like arrival),
``--gt GT.json`` (F1 in the summary), ``--out P.jsonl`` (predictions), ``--save-video V.mp4`` (annotated),
``--summary S.json``. Local cluster: ``--devices a,b,..`` (device profiles cycled over the servers; default
the bundle's profiled devices, emulated and labelled so), ``--curve`` (encrypt + authenticate).
Experiment hooks: ``--cost-schedule NAME:COST@T0-T1,...`` (a server or device reports cost c_i = COST in that
window, seconds since the client's start; also for ``--role server``), ``--kill-schedule NAME@SECONDS,...``
(local:N: kill -9 those servers then), ``--schedule-log L.jsonl`` (the master's per-frame decisions; also for
``--role master``), ``--pace-factor F`` (local:N: the common slow-down of emulated devices instead of the one
measured at start, so runs with different device sets share it). netns:N (root): ``--link R[,R...]`` (the
servers' link rates, tbf both ways, default 300mbit), ``--partition-schedule NAME@T0-T1,...`` (a server's link
down and up again; the process lives).
The summary is printed on stderr at the end (JSON with ``--summary``); a progress line runs meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runtime.cli.bundle_tools import keys_main, validate_bundle
from runtime.errors import UserError, cli_entry, run_cli
from runtime.keypoint_task import BOX_SOURCES
from runtime.manifest import TASKS
from runtime.modes import Mode, Solver

if TYPE_CHECKING:
    from runtime.manifest import Manifest


def _client_config(cluster: Any, args: argparse.Namespace) -> Any:
    client = cluster.client
    changes: dict[str, Any] = {}
    for opt, key in (("mode", "mode"), ("slo_ms", "slo_ms"), ("offer_fps", "offer_fps"), ("pipeline", "pipeline"),
                     ("baseline_side", "baseline_side"), ("mini", "mini")):
        value = getattr(args, opt)
        if value is not None:
            changes[key] = value
    if args.max_patches is not None:
        changes["patches"] = dataclasses.replace(client.patches, max_patches=args.max_patches)
    if args.task is not None:
        changes["task"] = args.task
    kp = {k: v for k, v in (("boxes", args.boxes), ("boxes_from", args.boxes_from), ("model", args.keypoint_model))
          if v is not None}
    if kp:
        changes["keypoints"] = dataclasses.replace(client.keypoints, **kp)
    master = cluster.master
    if args.scheduler is not None:
        master = dataclasses.replace(master, scheduler=args.scheduler)
    return dataclasses.replace(cluster, client=dataclasses.replace(client, **changes), master=master)


def run_client(bundle: str, manifest: Manifest, cluster: Any, master_endpoint: str, args: argparse.Namespace,
               extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
               on_frame: Any = None, on_start: Callable[[], None] | None = None,
               on_line: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the video through the cluster; writes --out/--save-video/--summary; returns the summary.
    ``extra``: keys added to the summary (a callable is called after the run); ``on_start()``: called when the
    client takes its first frame (the clock of the kill schedule); ``on_line(frame, keys)``: each prediction
    line's extra keys (``latency_ms``, ``dropped``, ...) as it is emitted."""
    from runtime.atomic import atomic_open
    from runtime.cluster.client import Client
    from runtime.cluster.summary import format_summary, summarize
    from runtime.detections import Detections
    from runtime.draw import annotated
    from runtime.video import open_video_writer, parse_frames, video_info

    if not args.video:
        raise UserError("--video is required for a client")
    frames = parse_frames(args.frames)
    width, height, fps = video_info(args.video)
    client = Client(bundle, manifest, cluster, master_endpoint, fps=fps or 25.0)
    warm_ms = client.warm_up(width, height)
    preds: dict[int, Detections] = {}
    keypoints = cluster.client.task == "keypoints"
    poses: dict[int, list[dict[str, Any]]] = {}  # keypoint task with --gt: frame → persons, for OKS AP
    writer = open_video_writer(args.save_video, fps, width, height) if args.save_video else None
    with contextlib.ExitStack() as outputs:  # --out is replaced only when the run ends cleanly
        if writer is not None:
            outputs.callback(writer.release)
        handle = outputs.enter_context(atomic_open(args.out)) if args.out else None

        def sink(dets: Detections, frame: Any, extra_keys: dict[str, Any]) -> None:
            if args.gt:  # kept only for the final F1: a live stream without --gt holds nothing per frame
                preds[dets.frame] = dets
                if keypoints:
                    poses[dets.frame] = extra_keys.get("persons", [])
            if handle is not None:
                handle.write(dets.to_line(**extra_keys) + "\n")
            if on_line is not None:
                on_line(dets.frame, extra_keys)
            if writer is not None:
                patches = extra_keys.get("patch_rects", [])
                writer.write(annotated(frame, dets, patches, bool(extra_keys.get("dropped"))))

        stats = client.run(_frames_from(args.video, frames, on_start), sink,
                           None if args.quiet else _print_progress, on_frame)
    print("", file=sys.stderr)
    info = {"task": cluster.client.task, "mode": cluster.client.mode, "scheduler": cluster.master.scheduler,
            "video": str(args.video), "frame_size": [width, height], "servers_seen": sorted(client.links),
            "client_warm_ms": round(warm_ms, 1)}
    if callable(extra):
        extra = extra()
    summary = summarize(stats, cluster.client.slo_ms, warmup=args.warmup, extra={**info, **(extra or {})})
    if args.gt:
        summary.update(_oks_ap(args.gt, poses) if keypoints else _f1(args.gt, preds))
    summary["bandwidth_Bps"] = {k: round(v) for k, v in client.net.bw.bandwidths().items()}  # network profiler
    print(format_summary(summary), file=sys.stderr)
    if args.summary:
        from runtime.atomic import write_json

        write_json(args.summary, summary, indent=1)
    return summary


def _print_progress(p: dict[str, Any]) -> None:
    print(f"\r[paraloupe-run] frames {p['frames']}  servers live {p['live']}  in flight {p['in_flight']}  "
          f"dropped {p['dropped']}", end="", file=sys.stderr, flush=True)


def _frames_from(video: str, frames: range | None, on_start: Callable[[], None] | None) -> Iterator[Any]:
    """The video's ``(id, frame)`` pairs in the ``frames`` range; ``on_start()`` just before the first."""
    from runtime.video import iter_frames

    for i, item in enumerate(iter_frames(video, frames)):
        if i == 0 and on_start is not None:
            on_start()
        yield item


def _f1(gt_path: str, preds: Mapping[int, Any]) -> dict[str, Any]:
    """F1, precision, recall and the full evaluation of ``preds`` against the COCO ground truth at ``gt_path``,
    over the frames from the first to the last predicted."""
    from runtime.coco import load_coco
    from runtime.evaluate import evaluate

    gt = load_coco(gt_path)
    ids = sorted(preds)
    result = evaluate(gt, {i: preds[i] for i in ids if i in gt.frames}, frames=(ids[0], ids[-1] + 1))
    o = result.overall
    return {"f1": o.f1, "precision": o.precision, "recall": o.recall, "eval": result.as_dict()}


def _oks_ap(gt_path: str, poses: Mapping[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """OKS AP of the keypoint task's ``persons`` per frame against the COCO keypoint JSON at ``gt_path``, over
    the frames from the first to the last predicted (as ``paraloupe-eval --task keypoints``)."""
    import numpy as np

    from runtime.keypoint_ap import video_keypoint_ap
    from runtime.keypoints import from_coco17

    preds = {f: [(from_coco17(np.asarray(p["keypoints"], dtype=np.float64).reshape(-1)), float(p["score"]))
                 for p in persons] for f, persons in poses.items()}
    ids = sorted(preds)
    return {"keypoints": video_keypoint_ap(gt_path, preds, (ids[0], ids[-1] + 1) if ids else None)}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paraloupe-run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--bundle", required=True, help="bundle folder (manifest.json + model files)")
    p.add_argument("--validate", action="store_true", help="check the bundle and print models × devices")
    p.add_argument("--video", help="input video (client)")
    p.add_argument("--cluster", help="local:N — start a master and N servers on loopback; netns:N — each in its "
                                     "own network namespace on a shaped link (root)")
    p.add_argument("--link", metavar="RATE[,RATE...]",
                   help="netns:N: the servers' link rates, one for all or one per server (default 300mbit)")
    p.add_argument("--partition-schedule", metavar="NAME@T0-T1,...",
                   help="netns:N: server NAME's link down from T0 to T1 s after the client's start (it lives on)")
    p.add_argument("--role", choices=["client", "server", "master"], help="run one role of a real cluster")
    p.add_argument("--config", help="cluster.yaml (roles; optional base settings for local:N)")
    p.add_argument("--name", help="this server's name in cluster.yaml")
    p.add_argument("--devices", help="local:N: comma-separated device profiles cycled over the servers")
    p.add_argument("--curve", action="store_true", help="local:N: CURVE encryption + ZAP authentication")
    p.add_argument("--cost-schedule", metavar="NAME:COST@T0-T1,...",
                   help="local:N or server: server/device NAME reports cost c_i = COST from T0 to T1 s after the "
                        "client's start (T1 empty: to the end)")
    p.add_argument("--kill-schedule", metavar="NAME@SECONDS,...",
                   help="local:N: kill -9 server NAME that many seconds after the client's start")
    p.add_argument("--pace-factor", type=float, metavar="F",
                   help="local:N: slow every emulated device by F (>= 1) instead of the factor measured at start")
    p.add_argument("--schedule-log", metavar="L.jsonl",
                   help="local:N or master: one JSON line per scheduling decision (frame, patches per device, costs)")
    p.add_argument("--task", choices=TASKS, help="detection (default) or keypoints: one crop per person box "
                                                "(--boxes), the bundle's keypoint models, persons in every line")
    p.add_argument("--boxes", help="task keypoints: the person boxes (COCO JSON, image id = frame index)")
    p.add_argument("--boxes-from", choices=BOX_SOURCES,
                   help="task keypoints: gt (--boxes is a COCO ground truth, default) or detections (the detection "
                        "task's --out JSONL)")
    p.add_argument("--keypoint-model", help="task keypoints: every crop on this model (default: the scheduler picks "
                                            "among the mode's kind, mini or baseline)")
    p.add_argument("--mode", choices=Mode.values(), metavar="MODE", help=Mode.help_text())
    p.add_argument("--scheduler", choices=Solver.values())
    p.add_argument("--slo-ms", type=float)
    p.add_argument("--baseline-side", type=int, help="modes baseline, sahi: the baseline's input side (sahi: its slice "
                                                      "side), px (default: largest)")
    p.add_argument("--max-patches", type=int)
    p.add_argument("--mini", help="patch modes: every patch asks for this mini model (client.mini; chosen per camera "
                                  "on its own labelled frames; default: the scheduler picks)")
    p.add_argument("--offer-fps", type=float, help="frames arrive at this rate (camera-like); 0 = as served")
    p.add_argument("--pipeline", type=int, help="frames in flight")
    p.add_argument("--frames", help="half-open frame range A:B[:S]")
    p.add_argument("--warmup", type=int, default=5, help="frames left out of the latency percentiles")
    p.add_argument("--gt", help="ground truth COCO JSON: F1 in the summary")
    p.add_argument("--out", help="predictions JSONL")
    p.add_argument("--save-video", help="annotated MP4")
    p.add_argument("--summary", help="summary JSON")
    p.add_argument("--workdir", help="local:N: folder for configs and logs (default: a temp folder)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def _check_hooks(args: argparse.Namespace) -> None:
    """The experiment hooks' syntax and where they apply, before anything starts (one-line errors)."""
    from runtime.cli.cluster_run import check_netns_flags

    check_netns_flags(args)
    if args.kill_schedule is not None:
        from runtime.cluster.local import parse_kill_schedule

        if not args.cluster:
            raise UserError("--kill-schedule: only with --cluster local:N or netns:N")
        parse_kill_schedule(args.kill_schedule)
    if args.cost_schedule is not None:
        from runtime.cluster.emulation import parse_cost_schedule

        if not (args.cluster or args.role == "server"):
            raise UserError("--cost-schedule: only with --cluster local:N|netns:N or --role server")
        parse_cost_schedule(args.cost_schedule)
    if args.schedule_log is not None and not (args.cluster or args.role == "master"):
        raise UserError("--schedule-log: only with --cluster local:N|netns:N or --role master")
    if args.pace_factor is not None:
        if not args.cluster:
            raise UserError("--pace-factor: only with --cluster local:N or netns:N")
        if not (math.isfinite(args.pace_factor) and args.pace_factor >= 1.0):
            raise UserError(f"--pace-factor: must be a finite number >= 1, got {args.pace_factor!r}")


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["keys"]:
        return keys_main(argv[1:])
    if argv[:1] == ["netns-clean"]:
        from runtime.cli.cluster_run import netns_clean_main

        return netns_clean_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.validate:
        return validate_bundle(args.bundle)

    from runtime.bundle import load_manifest
    from runtime.cluster.config import load_cluster_config

    _check_hooks(args)
    manifest = load_manifest(args.bundle)
    if args.cluster:
        if args.role:
            raise UserError("--cluster and --role exclude each other")
        from runtime.cli.cluster_run import run_cluster

        return run_cluster(args, manifest)
    if not args.role or not args.config:
        raise UserError("give --validate, --video V --cluster local:N, or --role R --config cluster.yaml")
    cluster = _client_config(load_cluster_config(args.config), args)
    if args.role == "master":
        from runtime.cluster.master import serve

        return serve(manifest, cluster, args.schedule_log)
    if args.role == "server":
        from runtime.cluster.server import serve

        if not args.name:
            raise UserError("--role server needs --name (its entry in the config's servers)")
        from runtime.cluster.emulation import parse_cost_schedule

        return serve(args.bundle, manifest, cluster, args.name,
                     parse_cost_schedule(args.cost_schedule) if args.cost_schedule else ())
    if not cluster.master.endpoint:
        raise UserError(f"{args.config}: master.endpoint is required for a client")
    run_client(args.bundle, manifest, cluster, cluster.master.endpoint, args)
    return 0


if __name__ == "__main__":
    run_cli(main)
