"""Real multi-process cluster experiments of the report (paper §IV-E/F: Fig. 22, 23, 24 and the end-to-end
per-frame tables): each run is one ``paraloupe-run --cluster local:N`` subprocess — a master, N server
processes and the client on loopback, servers emulating the bundle's device profiles (CONVENTIONS.md: replies
paced to the profiled latency × one common slow-down factor, which the run's summary reports).

Runs (all on the primary world video, ``test-static``; quick = short frame ranges, full = whole videos):

- ``fig22``: each paper device alone (``local:1``), then the 4-server cluster (Jetson, phone, RPi-1, RPi-2 as
  in the paper) with the uniform scheduler, the frame-level baseline distribution (``--mode baseline``) and
  Markov — frames as fast as served (per-frame latency without camera queueing);
- ``fig23``: the 4-server cluster, Markov, frames offered at ``fps`` like a camera, one server's cost c_i = 1
  for the first half (``--cost-schedule``); the master's decisions are logged (``--schedule-log``);
- ``fig24``: the same cluster at ``fps``; the Jetson, phone and RPi-1 servers are killed (kill -9,
  ``--kill-schedule``) at 1/4, 2/4 and 3/4 of the run;
- ``scale``: 4 × RPi vs 1 × RPi at pace factor 1 (CONVENTIONS: the RPi profile allows it), at the default and
  at a 250 ms SLO: measured per-frame ratio vs the ideal ceil(K/4)/K;
- ``head-*``: the per-frame headline table's runs, every method on 4 × RPi and on the mixed cluster
  (:mod:`factory.report.cluster_headline`); a run whose arguments equal an earlier one's is not run again;
- ``netns-fig22-*``, ``netns-fig23-cost``, ``netns-fig24-kill`` (only with ``netns=True``, ``paraloupe-report
  --netns``): the Fig. 22–24 runs again with ``--cluster netns:N --link 300mbit`` — each process in its own
  network namespace, server links tbf-shaped to the paper's 300 Mbit/s Wi-Fi. Needs root; where namespaces
  cannot be made the results say why (:func:`netns_unavailable`) and these runs are skipped.

Every run's summary, per-frame predictions (latency, patch count) and schedule log are cached under
``out_dir/cluster/NAME-KEY/``, KEY = hash of the run's arguments and the bundle checksum: an unchanged bundle
and set-up replays nothing (:mod:`factory.report.cluster_run`; the netns variant: :mod:`factory.report.cluster_netns`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory.report.cluster_netns import NETNS_LINK, NETNS_PREFIX, netns_unavailable, netns_variant
from factory.report.cluster_run import run_key, run_one, runtime_digest
from runtime.errors import UserError
from runtime.modes import Mode, Solver

if TYPE_CHECKING:
    from runtime.manifest import Manifest

#: The paper's four servers (§IV-E/F): Jetson, XiaoMi (phone), RPi-1, RPi-2.
CLUSTER_DEVICES = ("jetson-xavier-nx", "snapdragon-732g", "raspberry-pi-4b", "raspberry-pi-4b")
SINGLE_DEVICES = ("jetson-xavier-nx", "raspberry-pi-4b", "snapdragon-732g")
QUICK_REAL_FRAMES = 40  # quick mode: real-video Fig. 22 on this many frames
SCALE_TIGHT_SLO_MS = 250.0  # the 4-vs-1 pair run again under this SLO (ms)
SCALE_DEVICE = "raspberry-pi-4b"
COST_DEVICE = "jetson-xavier-nx"  # the server Markov uses most (see cluster_figures: fig23's reading)
HIGH_COST = 1.0
WARMUP = 5  # frames left out of the percentiles (paraloupe-run's default --warmup)
PACE_MARGIN = 1.5  # head-room over the bundle's host/device latency ratio (this VM runs other work too)


@dataclasses.dataclass(frozen=True)
class Scope:
    """How much one mode runs: frame ranges (None = whole video) and the camera rates of fig23/24."""

    fig22_frames: str | None
    single_frames: int | None  # fig22's one-device runs: the first N frames of its clip (None: all of it)
    scale_frames: str | None  # the 4-vs-1 RPi pairs (F = 1); quick: = the headline clip, so its ParaLoupe run is shared
    fig23_frames: int  # frames 0:N offered at fig23_fps; the cost is high for the first half
    fig23_fps: float
    fig24_frames: int  # frames 0:N offered at fig24_fps; kills at 1/4, 2/4, 3/4
    fig24_fps: float


# fig24 at 2.5 fps: two emulated RPis keep up with ~3 patches per frame, one does not (paper: ~100 ms with two
# servers left, growing to seconds with one).
QUICK = Scope(fig22_frames="0:40", single_frames=20, scale_frames="0:40", fig23_frames=100, fig23_fps=10.0,
              fig24_frames=60, fig24_fps=2.5)
FULL = Scope(fig22_frames=None, single_frames=None, scale_frames=None, fig23_frames=400, fig23_fps=10.0,
             fig24_frames=400, fig24_fps=2.5)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One ``paraloupe-run --cluster local:N`` run."""

    name: str
    video: str
    n: int
    devices: tuple[str, ...]
    frames: str | None = None
    gt: str | None = None
    mode: str = Mode.PARALOUPE
    scheduler: str = Solver.MARKOV
    offer_fps: float = 0.0
    cost_schedule: str | None = None
    kill_schedule: str | None = None
    schedule_log: bool = False
    pace_factor: float | None = None
    slo_ms: float | None = None
    cluster: str = "local"  # --cluster KIND:N: "local" (loopback) or "netns" (namespaces, shaped links)
    link: str | None = None  # --link (netns only)
    baseline_side: int | None = None  # --baseline-side (modes baseline, sahi)
    mini: str | None = None  # --mini (patch modes: the camera's own mini model; None = the scheduler picks)

    def args(self, bundle: str) -> list[str]:
        """The command's arguments except the output paths (these are the cache key's)."""
        a = ["--bundle", bundle, "--video", self.video, "--cluster", f"{self.cluster}:{self.n}",
             "--devices", ",".join(self.devices), "--mode", self.mode, "--scheduler", self.scheduler,
             "--warmup", str(WARMUP), "--quiet"]
        if self.link:
            a += ["--link", self.link]
        if self.slo_ms is not None:
            a += ["--slo-ms", f"{self.slo_ms:g}"]
        if self.baseline_side:
            a += ["--baseline-side", str(self.baseline_side)]
        if self.mini:
            a += ["--mini", self.mini]
        if self.frames:
            a += ["--frames", self.frames]
        if self.gt:
            a += ["--gt", self.gt]
        if self.offer_fps:
            a += ["--offer-fps", f"{self.offer_fps:g}"]
        if self.cost_schedule:
            a += ["--cost-schedule", self.cost_schedule]
        if self.kill_schedule:
            a += ["--kill-schedule", self.kill_schedule]
        if self.pace_factor:
            a += ["--pace-factor", f"{self.pace_factor:g}"]
        return a


def _video_list(videos: Any) -> list[dict[str, Any]]:
    """Normalise ``videos``: a mapping name → path, or objects/mappings with name, video, annotations (and
    optionally ``mini``, the camera's own mini model)."""
    out = []
    items = videos.items() if isinstance(videos, Mapping) else [(None, v) for v in videos]
    for name, v in items:
        mini = None
        if isinstance(v, (str, Path)):
            path, ann = str(v), None
        elif isinstance(v, Mapping):
            name, path, ann, mini = v.get("name", name), str(v["video"]), v.get("annotations"), v.get("mini")
        else:
            name, path, ann = getattr(v, "name", name), str(v.video), getattr(v, "annotations", None)
            mini = getattr(v, "mini", None)
        name = name or Path(path).parent.name
        if not ann:
            guess = Path(path).with_name("annotations.json")
            ann = str(guess) if guess.exists() else None
        out.append({"name": str(name), "video": path, "annotations": str(ann) if ann else None,
                    "mini": mini or None})
    return out


def _primary(videos: list[dict[str, Any]]) -> dict[str, Any]:
    for v in videos:
        if v["name"] == "test-static":
            return v
    if not videos:
        raise UserError("cluster experiments: no video given")
    return videos[0]


def pace_factor_for(manifest: Manifest, devices: Iterable[str] = (*CLUSTER_DEVICES, *SINGLE_DEVICES),
                    margin: float = PACE_MARGIN) -> float | None:
    """One slow-down for every run (CONVENTIONS: one common factor, so ratios between devices hold across
    runs): the bundle's measured ``host`` latencies over the devices' profiled ones (the factor ``local:N``
    would measure, :func:`runtime.cluster.emulation.common_pace_factor`) × ``margin``, rounded up to 0.5 —
    deterministic for a bundle, so the run cache holds. None without a host profile (each run measures)."""
    from runtime.cluster.emulation import common_pace_factor

    host_ms = manifest.latencies("host")
    if not host_ms:
        return None
    factor = common_pace_factor(manifest, sorted(set(devices) - {"host"}), host_ms) * margin
    return max(1.0, math.ceil(factor * 2.0) / 2.0)


def _first(frames: str | None, n: int | None) -> str | None:
    """The first ``n`` frames of the range ``frames`` (``A:B``; None = from 0); ``n`` None: ``frames`` as is."""
    if n is None:
        return frames
    lo, hi = (int(x) for x in frames.split(":")[:2]) if frames else (0, n)
    return f"{lo}:{min(hi, lo + n)}"


def plan_runs(videos: Any, quick: bool, real: Any = None, real_frames: str = "500:795",
              pace_factor: float | None = None, netns: bool = False, params: Any = None) -> list[RunSpec]:
    """The runs of one report, in the order they run; ``params`` (the ``evaluate`` params): the headline
    table's runs too (:func:`factory.report.cluster_headline.plan_headline`); ``netns``: the Fig. 22–24 runs
    again on a netns cluster (:func:`netns_variant`), last."""
    scope = QUICK if quick else FULL
    vids = _video_list(videos)
    v = _primary(vids)
    video, gt = v["video"], v["annotations"]
    specs: list[RunSpec] = []

    pf = pace_factor

    def fig22(prefix: str, video: str, gt: str | None, frames: str | None, mini: str | None = None) -> None:
        single = _first(frames, scope.single_frames)
        for d in SINGLE_DEVICES:
            specs.append(RunSpec(f"{prefix}single-{d}", video, 1, (d,), single, gt, pace_factor=pf, mini=mini))
        specs.append(RunSpec(f"{prefix}uniform", video, 4, CLUSTER_DEVICES, frames, gt, scheduler=Solver.UNIFORM,
                             pace_factor=pf, mini=mini))
        specs.append(RunSpec(f"{prefix}baseline", video, 4, CLUSTER_DEVICES, frames, gt, mode=Mode.BASELINE,
                             pace_factor=pf))
        specs.append(RunSpec(f"{prefix}markov", video, 4, CLUSTER_DEVICES, frames, gt, pace_factor=pf, mini=mini))

    fig22("fig22-", video, gt, scope.fig22_frames, v["mini"])
    half = scope.fig23_frames / scope.fig23_fps / 2.0
    specs.append(RunSpec("fig23-cost", video, 4, CLUSTER_DEVICES, f"0:{scope.fig23_frames}", gt,
                         offer_fps=scope.fig23_fps, cost_schedule=f"{COST_DEVICE}:{HIGH_COST:g}@0-{half:g}",
                         schedule_log=True, pace_factor=pf))
    q = scope.fig24_frames / scope.fig24_fps / 4.0
    kills = ",".join(f"server-{i}@{q * (i + 1):g}" for i in range(3))  # Jetson, phone, RPi-1; RPi-2 stays
    specs.append(RunSpec("fig24-kill", video, 4, CLUSTER_DEVICES, f"0:{scope.fig24_frames}", gt,
                         offer_fps=scope.fig24_fps, kill_schedule=kills, schedule_log=True, pace_factor=pf))
    for n in (4, 1):  # F = 1 (CONVENTIONS: the RPi profile allows it); at a tight SLO Markov must spread the
        # patches (at 500 ms it may pack them on one server); the 4 × RPi one is also the headline's ParaLoupe run
        specs.append(RunSpec(f"scale-{n}x-rpi", video, n, (SCALE_DEVICE,), scope.scale_frames, gt, pace_factor=1.0))
        specs.append(RunSpec(f"scale-{n}x-rpi-slo{SCALE_TIGHT_SLO_MS:g}", video, n, (SCALE_DEVICE,),
                             scope.scale_frames, gt, pace_factor=1.0, slo_ms=SCALE_TIGHT_SLO_MS))
    if real is not None:  # quick: the first QUICK_REAL_FRAMES of the range keep the stage short
        r = _video_list([real])[0]
        frames = real_frames
        if quick and real_frames:
            from runtime.video import parse_frames

            span = parse_frames(real_frames, "evaluate real_frames")
            frames = f"{span.start}:{min(span.stop, span.start + QUICK_REAL_FRAMES)}"
        if Path(r["video"]).exists():
            fig22("real-fig22-", r["video"], r["annotations"] if r["annotations"] and
                  Path(r["annotations"]).exists() else None, frames, r["mini"])
    if params is not None and getattr(params, "headline", None) is not None:
        from factory.report.cluster_headline import plan_headline

        specs += plan_headline(vids, params, pf)
    if netns:
        specs += netns_variant(specs)
    return specs


def run_cluster_experiments(bundle_dir: str | Path, videos: Any, out_dir: str | Path, quick: bool,
                            real: Any = None, real_frames: str = "500:795",
                            only: Iterable[str] | None = None, cache_dir: str | Path | None = None,
                            netns: bool = False, params: Any = None,
                            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Run (or load from the cache) every cluster experiment; returns ``{"runs": {name: record}, "quick",
    "scope", "wall_s", ...}`` for :func:`factory.report.cluster_figures.cluster_figures`.

    ``videos``: name → path, or records with ``name``, ``video``, ``annotations`` (the primary is
    ``test-static``, else the first); ``real``: the real video's record, run for Fig. 22 (quick mode: its first
    QUICK_REAL_FRAMES frames);
    ``only``: run names (prefixes) to run, for tests; ``cache_dir``: where the runs are cached (in
    ``cluster/``; default ``out_dir``); ``netns``: also the Fig. 22–24 runs on ``--cluster netns:N`` (skipped, with
    the reason in ``results["netns"]["skipped"]``, where namespaces cannot be made). ``numbers`` in the result:
    :func:`cluster_numbers` (headline figures, the netns variant's under ``numbers["netns"]``).
    """
    from factory.report.cluster_numbers import cluster_numbers
    from runtime.bundle import load_manifest

    bundle = str(bundle_dir)
    manifest = load_manifest(bundle)
    checksum = f"{manifest.checksum}:{runtime_digest()}"  # a runtime change (defaults too) re-runs
    pf = pace_factor_for(manifest)
    cache = Path(cache_dir if cache_dir is not None else out_dir) / "cluster"
    cache.mkdir(parents=True, exist_ok=True)
    skipped = netns_unavailable() if netns else None
    if skipped:
        log(f"[cluster] netns variant skipped: {skipped}")
    specs = plan_runs(videos, quick, real, real_frames, pf, netns=netns and not skipped, params=params)
    if only is not None:
        prefixes = tuple(only)
        specs = [s for s in specs if s.name.startswith(prefixes)]
    scope = QUICK if quick else FULL
    t0 = time.monotonic()
    runs: dict[str, Any] = {}
    same: dict[str, str] = {}  # cache key → the first run with these arguments
    for s in specs:
        if s.cluster == "netns" and skipped:
            continue
        key = run_key(s, bundle, checksum)
        if key in same and not runs[same[key]].get("error"):
            runs[s.name] = {**runs[same[key]], "name": s.name, "same_as": same[key], "cached": True}
            continue
        same.setdefault(key, s.name)
        runs[s.name] = run_one(s, bundle, checksum, cache, log)
        err = runs[s.name].get("error") or ""
        if s.cluster == "netns" and "--cluster netns" in err:  # namespaces cannot be made after all: skip the rest
            lines = err.split(": ", 1)[-1].split(" | ")
            skipped = next(x for x in lines if "--cluster netns" in x).removeprefix("error: ")
            log(f"[cluster] netns variant skipped: {skipped}")
            runs = {n: r for n, r in runs.items() if not n.startswith(NETNS_PREFIX)}
    wall = time.monotonic() - t0
    log(f"[cluster] {len(runs)} runs in {wall:.1f} s ({sum(1 for r in runs.values() if r.get('cached'))} cached)")
    results = {"runs": runs, "quick": quick, "bundle": bundle, "bundle_checksum": checksum,
               "scope": dataclasses.asdict(scope), "pace_factor": pf, "pace_margin": PACE_MARGIN,
               "cost_device": COST_DEVICE, "high_cost": HIGH_COST,
               "cluster_devices": list(CLUSTER_DEVICES), "scale_device": SCALE_DEVICE, "warmup": WARMUP,
               "wall_s": round(wall, 1), "headline_videos": [v["name"] for v in _video_list(videos)],
               "netns": {"requested": netns, "skipped": skipped, "link": NETNS_LINK, "prefix": NETNS_PREFIX,
                         "wall_s": round(sum(r.get("wall_s") or 0.0 for n, r in runs.items()
                                             if n.startswith(NETNS_PREFIX) and not r.get("cached")), 1)}}
    results["numbers"] = cluster_numbers(results)
    return results
