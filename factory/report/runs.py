"""One replay run (video × frames × model × input side × generator × patch-config overrides), cached as JSON.

A :class:`RunSpec` names a run (``generator`` ``sahi``: SAHI's slices of the baseline, no generator);
:func:`run_all` executes those whose cache file is missing through
:func:`runtime.replay.replay` (in-process, no sockets: the detections are what the cluster would aggregate)
and returns :class:`RunResult` records. The cache key hashes the spec, the resolved patch config, the bundle
checksum, the sha256 of the video and of its ground truth, the digest of the runtime code a run executes and
:data:`CACHE_VERSION`, so a new bundle, changed code or a changed param re-runs exactly the runs it affects and
re-rendering the report is instant.

Per frame a run keeps the aggregated detections (frame pixels), the number and kinds of patches, the host
inference time of each patch (ms, ncnn, ``threads`` threads) and the patch-generation time (ms, generation +
JPEG encoding, as :func:`runtime.replay.replay` measures it).
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.report.cluster_run import runtime_digest
from runtime.atomic import write_json
from runtime.bundle import file_sha256
from runtime.detections import Detections
from runtime.manifest import Manifest
from runtime.modes import Mode

CACHE_VERSION = 1
LASTDET_BOOT = f"{Mode.LASTDET}+boot"  # lastDet that sends ParaLoupe's bootstrap tiles while it has no detection
TRACKED = "whole+tracker"  # whole frames through the loop's tracker ("baseline + the same tracker")


@dataclass(frozen=True)
class RunSpec:
    """One replay: ``model`` is a manifest name; ``size`` its input side (another side than the manifest's
    runs the same fully convolutional network letterboxed to it); ``generator`` None = the whole frame;
    ``overrides`` are (key, value) PatchConfig changes, values JSON-able."""

    video: str
    frames: tuple[int, int]
    model: str
    size: int
    generator: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()


@dataclass
class RunEnv:
    """What a worker process needs to execute runs (picklable)."""

    bundle_dir: str
    manifest: Manifest
    videos: dict[str, tuple[str, str]]  # name -> (video path, annotations path)
    patches: dict[str, Any]  # the resolved base PatchConfig as a mapping
    threads: int = 1
    cache_dir: str = "cache"
    _digests: dict[str, str] = field(default_factory=dict)

    def digest(self, path: str) -> str:
        """sha256 of a file (memoised)."""
        if path not in self._digests:
            self._digests[path] = file_sha256(path)
        return self._digests[path]


@dataclass
class RunResult:
    """A finished run: per frame ``dets`` ([x, y, w, h, label, score] rows), ``patches`` (count), ``kinds``,
    ``infer_ms`` (per patch, host), ``gen_ms``, ``skipped``; ``wall_s`` of the run."""

    spec: RunSpec
    frame_ids: list[int]
    dets: list[list[list[Any]]]
    patches: list[int]
    kinds: list[list[str]]
    infer_ms: list[list[float]]
    gen_ms: list[float]
    skipped: list[bool]
    wall_s: float = 0.0
    ranked: list[list[list[Any]]] = field(default_factory=list)  # per frame, before the score cuts (AP); may be []

    def predictions(self) -> dict[int, Detections]:
        """The run's detections per frame, as the evaluator takes them."""
        return _to_detections(self.frame_ids, self.dets)

    def ranked_predictions(self) -> dict[int, Detections]:
        """Per frame what average precision ranks: the detections before the score cuts where the run kept them
        (``ranked``), else :meth:`predictions`."""
        if not self.ranked:
            return self.predictions()
        return _to_detections(self.frame_ids, self.ranked)

    @property
    def patches_per_frame(self) -> float:
        """Mean patches per frame over all frames (a skipped frame counts 0)."""
        return float(np.mean(self.patches)) if self.patches else 0.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["spec"] = spec_json(self.spec)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        s = data["spec"]
        spec = RunSpec(s["video"], tuple(s["frames"]), s["model"], s["size"], s["generator"],
                       tuple((k, _freeze(v)) for k, v in s["overrides"]))
        return cls(spec, **{k: v for k, v in data.items() if k != "spec"})


def _to_detections(frame_ids: Sequence[int], frames: Sequence[Sequence[Sequence[Any]]]) -> dict[int, Detections]:
    """``[x, y, w, h, label, score]`` rows per frame → :class:`Detections` by frame id."""
    out = {}
    for fid, rows in zip(frame_ids, frames, strict=False):
        boxes = np.array([r[:4] for r in rows], dtype=np.float64).reshape(-1, 4)
        out[fid] = Detections(boxes, [str(r[4]) for r in rows], np.array([r[5] for r in rows], dtype=np.float64), fid)
    return out


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def spec_json(spec: RunSpec) -> dict[str, Any]:
    """The spec as plain JSON data."""
    return json.loads(json.dumps(dataclasses.asdict(spec)))


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the code a run executes: every ``runtime/**/*.py`` (:func:`runtime_digest`, as the cluster
    runs' key; a list of modules once missed ``runtime/loop_config.py``, where the loop's defaults live, and
    re-used stale replays) and this module."""
    digest = hashlib.sha256(runtime_digest().encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def cache_key(spec: RunSpec, env: RunEnv) -> str:
    """Hex key of a run: spec, resolved patch config, bundle checksum, video and ground-truth digests and
    the digest of the code it runs (:func:`code_digest`)."""
    video, gt = env.videos[spec.video]
    body = {"v": CACHE_VERSION, "spec": spec_json(spec), "patches": env.patches, "threads": env.threads,
            "bundle": env.manifest.checksum, "video": env.digest(video), "gt": env.digest(gt),
            "code": code_digest()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]


def make_detector(env: RunEnv, model: str, size: int) -> Any:
    """The ncnn detector of ``model`` letterboxed to ``size`` (a copy of its manifest entry at that side)."""
    from runtime.infer import Detector

    manifest = env.manifest
    if manifest.model(model).input_size != size:
        manifest = manifest.resized(model, size)
    return Detector(env.bundle_dir, model, manifest, env.threads)


def make_generator(env: RunEnv, name: str | None, config: Any) -> Any:
    """The patch generator of a run (None = the whole frame); objectness M from the bundle when present."""
    from runtime.patches import make_generator as make

    if name is None or name in (Mode.SAHI, TRACKED):  # sahi: its own loop (runtime.sahi_loop); tracked: whole frames
        return None
    if name in (LASTDET_BOOT, Mode.LASTDET):  # runtime lastDet bootstraps by default; plain = without
        return make(Mode.LASTDET, dataclasses.replace(config, bootstrap=name == LASTDET_BOOT))
    model = env.manifest.objectness_model()  # None: the prior (said in the report)
    return make(name, config, model)


def _baseline_pass_detector(env: RunEnv, spec: RunSpec) -> Any:
    """The detector of ParaLoupe's baseline pass (the bundle's baseline at ``loop.whole_side``, as the client
    picks it), or None for other generators and bundles without a baseline."""
    from runtime.loop_config import LoopConfig

    side = LoopConfig().whole_side
    bases = env.manifest.models_of_kind("baseline")
    if spec.generator != Mode.PARALOUPE or not bases:
        return None
    at_side = [m for m in bases if env.manifest.model(m).input_size >= side]
    return make_detector(env, at_side[0] if at_side else bases[-1], side)


def execute(spec: RunSpec, env: RunEnv) -> RunResult:
    """Replay one run (no cache involved)."""
    from runtime.config import from_mapping
    from runtime.patches.config import PatchConfig
    from runtime.replay import replay
    from runtime.video import iter_frames, video_info

    t0 = time.perf_counter()
    cfg = from_mapping(PatchConfig, {**env.patches, **{k: _thaw(v) for k, v in spec.overrides}}, "patches")
    detector = make_detector(env, spec.model, spec.size)
    generator = make_generator(env, spec.generator, cfg)
    video = env.videos[spec.video][0]
    frames = iter_frames(video, range(*spec.frames))
    res = RunResult(spec, [], [], [], [], [], [], [])
    sahi = spec.generator == Mode.SAHI  # slices at the baseline's side ``size``, as `--mode sahi --baseline-side`
    for step in replay(frames, detector, generator, cfg, baseline=_baseline_pass_detector(env, spec),
                       fps=video_info(video)[2] or 25.0, mode=Mode.SAHI if sahi else None,
                       tracked=spec.generator == TRACKED,
                       **({"whole_frame_side": spec.size} if sahi else {})):
        d = step.detections
        res.frame_ids.append(int(d.frame))
        res.dets.append([[round(float(v), 1) for v in b] + [lab, round(float(s), 4)]
                         for b, lab, s in zip(d.boxes, d.labels, d.scores, strict=False)])
        res.patches.append(len(step.rects))
        res.kinds.append(list(step.kinds))
        res.infer_ms.append([round(float(v), 3) for v in step.infer_ms])
        res.gen_ms.append(round(float(step.gen_ms), 3))
        res.skipped.append(bool(step.skipped))
        r = step.ranked if step.ranked is not None else d
        res.ranked.append([[round(float(v), 1) for v in b] + [lab, round(float(sc), 4)]
                           for b, lab, sc in zip(r.boxes, r.labels, r.scores, strict=False)])
    res.wall_s = round(time.perf_counter() - t0, 2)
    return res


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


def _execute_to_cache(spec: RunSpec, env: RunEnv, path: str) -> float:
    res = execute(spec, env)
    write_json(Path(path), res.to_json())
    return res.wall_s


def run_all(specs: Sequence[RunSpec], env: RunEnv, workers: int = 1,
            log: Callable[[str], None] = lambda _m: None) -> dict[RunSpec, RunResult]:
    """Every spec's result, executing the uncached ones (``workers`` processes) and caching them."""
    cache = Path(env.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    unique = list(dict.fromkeys(specs))
    paths = {s: cache / f"{cache_key(s, env)}.json" for s in unique}
    todo = [s for s in unique if not paths[s].exists()]
    log(f"{len(unique)} runs, {len(unique) - len(todo)} cached, {len(todo)} to replay")
    t0 = time.perf_counter()

    def done(i: int, spec: RunSpec, wall: float) -> None:
        log(f"[{i}/{len(todo)}] {spec.video} {spec.frames[0]}:{spec.frames[1]} {spec.model}@{spec.size} "
            f"{spec.generator or 'whole-frame'} {dict(spec.overrides) or ''} {wall:.1f}s "
            f"(total {time.perf_counter() - t0:.0f}s)")

    if workers <= 1 or len(todo) <= 1:
        for i, spec in enumerate(todo, 1):
            done(i, spec, _execute_to_cache(spec, env, str(paths[spec])))
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork after ncnn/OpenMP threads in the parent
        with futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            jobs = {pool.submit(_execute_to_cache, s, env, str(paths[s])): s for s in todo}
            for i, job in enumerate(futures.as_completed(jobs), 1):
                done(i, jobs[job], job.result())
    out = {}
    for s in unique:
        out[s] = RunResult.from_json(json.loads(paths[s].read_text()))
        out[s].spec = s
    return out
