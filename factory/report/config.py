"""The ``evaluate`` section of params.yaml (also read by ``paraloupe-report``): typed, unknown keys rejected.

Frames are half-open ``A:B`` ranges and always contiguous: the ParaLoupe and lastDet generators track
objects from frame to frame, so a strided sample would measure something else. ``quick`` is what the DVC
stage and a plain ``paraloupe-report`` replay; ``--full`` takes ``full``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from factory import paths
from runtime.config import bounded, from_mapping
from runtime.errors import UserError
from runtime.evaluate import parse_frame_range
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.generators import generator_names

PAPER_DEVICES = ["jetson-xavier-nx", "raspberry-pi-4b", "snapdragon-732g"]
SOURCE_BASE_SIDE = 320  # Fig. 16: the paper's Baseline-320-S1/S4 input side


@dataclass
class VideoParams:
    """One evaluation video and its ground truth (COCO, image id = frame index)."""

    name: str = ""
    video: str = ""
    annotations: str = ""
    optional: bool = False  # absent files: left out with a reason in the report instead of an error
    mini: str = ""  # the camera's own mini model (paraloupe-run --mini, chosen by paraloupe-bench tune --per-mini
    #                 on the camera's training frames) for its cluster runs; empty: the scheduler picks


def _world_videos() -> list[VideoParams]:
    return [VideoParams(n, paths.world_video(n), paths.world_annotations(n))
            for n in ("test-static", "test-moving", "test-switch")]


def _seed_videos() -> list[VideoParams]:
    """The other test seeds of each camera kind (``params.yaml: world.videos``): the headline table's spread."""
    return [VideoParams(n, paths.world_video(n), paths.world_annotations(n))
            for k in (2, 3) for n in (f"test-static-{k}", f"test-moving-{k}", f"test-switch-{k}")]


def _real_video() -> VideoParams:
    """The real video with the teacher's labels; optional (absent without the shared data). Its cluster runs ask
    for the 240 mini: ``paraloupe-bench tune --per-mini`` on its training frames [200, 500) chose it (0.882
    against the 160's 0.856, fresh build of 2026-12-05)."""
    return VideoParams(paths.REAL_NAME, paths.REAL_VIDEO, paths.label_annotations(paths.REAL_NAME), optional=True,
                       mini="rpi4b-240-int8")


@dataclass
class ScopeParams:
    """How much to replay (quick or full)."""

    world_frames: str | None = "0:60"   # per world test video, A:B; null = every annotated frame
    real_frames: str = "500:650"        # within the real video's evaluation split 500:795 (CONVENTIONS)
    roi_frames: str | None = "0:60"     # Fig. 21 on the static-camera test video; null = all
    real_devices: list[str] | None = None  # device profiles for the real-video curves; null = all of `devices`
    # which precision variant runs for the accuracy: each device's own (device), the headline device's for
    # every device (headline: one accuracy run per configuration), or a fixed one; latency is always the
    # device's served row, and the report names both models where they differ
    precision: Literal["device", "headline", "fp32", "fp16", "int8"] = "headline"
    # the sweeps' points this scope replays (null = every point of `max_patches` / `rois.counts`); the quick set
    # keeps the paper's reference points (cap 1 and 6; 3 and 6 RoIs) and halves the stage's two longest sweeps
    max_patches: list[int] | None = field(default_factory=lambda: [1, 3, 6])
    roi_counts: list[int] | None = field(default_factory=lambda: [0, 3, 6])

    def validate(self, where: str) -> None:
        """Each range must parse."""
        for key in ("world_frames", "real_frames", "roi_frames"):
            value = getattr(self, key)
            if value is not None:
                try:
                    parse_frame_range(value)
                except UserError:
                    raise UserError(f"{where}.{key}: expected A:B, got {value!r}") from None


@dataclass
class RoiParams:
    """Fig. 21: predefined RoIs chosen from the TRAIN video's ground truth density, tested on ``video``."""

    video: str = "test-static"  # a name in `videos` (a static camera)
    train_annotations: str = paths.world_annotations("train-static")
    counts: list[int] = bounded([0, 1, 2, 3, 4, 5, 6], "numbers of RoIs (nested: k RoIs = the first k)")
    sizes: list[int] = bounded([160, 240, 320], "mini model input sides")
    side: int = bounded(160, "RoI side, frame pixels (square)", ge=16)
    small_area_px: float = bounded(1024.0, "objects below this box area (px²) count as small", gt=0.0)
    new_weight: float = bounded(4.0, "weight of a track's first appearance in the density map", ge=0.0)


def _headline_modes() -> list[str]:
    """The headline table's methods besides the baseline sides (issue 15): the peers, then ours."""
    return [Mode.SAHI.value, Mode.MOTION_REGIONS.value, Mode.EP8.value, Mode.LASTDET.value, Mode.MINI.value,
            Mode.PARALOUPE.value]


@dataclass
class HeadlineParams:
    """The report's first table (:mod:`factory.report.headline`): every method's per-frame end-to-end latency
    from cluster runs on one clip per video of ``cluster_videos``, beside its accuracy replayed over the quick
    set of every world test video and of ``videos`` (the other seeds: accuracy only)."""

    modes: list[str] = field(default_factory=_headline_modes)  # the baseline runs at every `baseline_sizes`
    sahi_side: int = bounded(320, "sahi: the baseline's input side = its slice side (px)", ge=16)
    tracked_sides: list[int] = bounded([480, 960], "baseline sides replayed once more through the loop's tracker "
                                                   "(\"baseline + the same tracker\": the tracker's own gain)")
    clip_frames: str = "0:40"             # the cluster clip (A:B) of each video in cluster_videos
    cluster_videos: list[str] = field(default_factory=lambda: ["test-static"])  # names in `videos`
    slo_ms: float = bounded(250.0, "per-frame SLO in device time (ms): the paper's RPi budget", gt=0.0)
    videos: list[VideoParams] = field(default_factory=_seed_videos)  # more world test seeds: accuracy only

    def validate(self, where: str) -> None:
        """Known modes (the baseline is always in) and a parseable clip (called by the config loader)."""
        for m in self.modes:
            if m not in Mode.values() or m == Mode.BASELINE.value:
                known = ", ".join(x for x in Mode.values() if x != Mode.BASELINE)
                raise UserError(f"{where}.modes: {m!r} (choose from {known}; the baseline is always in)")
        try:
            parse_frame_range(self.clip_frames)
        except UserError:
            raise UserError(f"{where}.clip_frames: expected A:B, got {self.clip_frames!r}") from None


@dataclass
class EvaluateParams:
    """The ``evaluate`` section of params.yaml."""

    bundle: str = paths.BUNDLE_DIR
    out_dir: str = paths.REPORT_DIR       # PNGs, results.json and the per-run cache (cache/)
    report: str = paths.REPORT_MD
    metrics_dir: str = paths.EVALUATE_DIR  # DVC metrics (metrics.json) and plots (*.csv)
    videos: list[VideoParams] = field(default_factory=_world_videos)
    real: VideoParams = field(default_factory=_real_video)
    keypoints: str = f"{paths.KEYPOINTS_DIR}/metrics.json"  # the keypoints stage's figures (Fig. 29/30 section)
    devices: list[str] = field(default_factory=lambda: PAPER_DEVICES + ["host"])
    headline_device: str = "raspberry-pi-4b"
    single_device: str = "jetson-xavier-nx"  # Fig. 19/20: the paper's sole server
    baseline_sizes: list[int] = bounded([320, 480, 640, 960], "baseline input sides (fully convolutional)")
    mini_sizes: list[int] = bounded([160, 240, 320], "mini model input sides")
    budgets_ms: dict[str, float] = field(default_factory=lambda: {
        "jetson-xavier-nx": 30.0, "raspberry-pi-4b": 250.0, "snapdragon-732g": 50.0})
    comparable_drop: float = bounded(0.046, "largest F1 drop (F1 units) that is still comparable", ge=0.0, le=1.0)
    target_speedup: float = bounded(5.0, "headline target: speedup on the per-patch basis", gt=0.0)
    target_gain: float = bounded(0.45, "headline target: relative F1 gain at the budget", gt=0.0)
    generators: list[str] = field(default_factory=lambda: [  # Fig. 17's order: EP-k by k, lastDet, ParaLoupe
        *(m.value for m in Mode.equal_partitions().values()), Mode.LASTDET.value, Mode.PARALOUPE.value])
    generators_size: int = bounded(160, "Fig. 17/28 mini input side (the paper's 160)", ge=16)
    lastdet_bootstrap: bool = True  # lastDet sends ParaLoupe's refresh tiles while it has no detection
    reference_size: int = bounded(240, "Fig. 18/19 mini input side", ge=16)
    max_patches: list[int] = bounded([1, 2, 3, 4, 5, 6], "Fig. 19 sweep of the HighConf+LowConf cap")
    iou_thresholds: list[float] = bounded([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "Fig. 20")
    rois: RoiParams = field(default_factory=RoiParams)
    headline: HeadlineParams = field(default_factory=HeadlineParams)
    patches: dict[str, Any] = field(default_factory=dict)  # PatchConfig overrides (runtime/patches/config.py)
    quick: ScopeParams = field(default_factory=ScopeParams)
    full: ScopeParams = field(default_factory=lambda: ScopeParams(None, "500:795", None, None, "device", None, None))
    threads: int = bounded(1, "ncnn threads per detector", ge=1)
    workers: int = bounded(1, "replay processes in parallel", ge=1, le=16)
    latency_runs: int = bounded(10, "host timing runs per baseline input side (median)", ge=3)

    def patch_config(self) -> PatchConfig:
        """The generator config: PatchConfig defaults with ``patches`` applied."""
        return from_mapping(PatchConfig, self.patches, "params.yaml: evaluate.patches")

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader); the first failing one is a UserError naming it."""
        self._check_videos(where)
        self._check_devices(where)
        self._check_sweeps(where)
        for v in self.headline.cluster_videos:
            if v not in [x.name for x in self.videos]:
                raise UserError(f"{where}.headline.cluster_videos: {v!r} is not in videos")
        self.patch_config()

    def _check_videos(self, where: str) -> None:
        """Video names are non-empty and distinct, the real video's included."""
        names = [v.name for v in self.videos + self.headline.videos] + [self.real.name]
        if len(set(names)) != len(names) or not all(names):
            raise UserError(f"{where}.videos: names must be non-empty and distinct (the real one and "
                            "headline.videos included)")

    def _check_devices(self, where: str) -> None:
        """Every device named elsewhere in the section is one of ``devices``."""
        for key in ("headline_device", "single_device"):
            if getattr(self, key) not in self.devices:
                raise UserError(f"{where}.{key}: {getattr(self, key)!r} is not in devices")
        for dev in self.budgets_ms:
            if dev not in self.devices:
                raise UserError(f"{where}.budgets_ms.{dev}: not in devices")
        for scope in ("quick", "full"):
            for dev in getattr(self, scope).real_devices or []:
                if dev not in self.devices:
                    raise UserError(f"{where}.{scope}.real_devices: {dev!r} is not in devices")

    def _check_sweeps(self, where: str) -> None:
        """Known generators, the RoI video among ``videos``, non-empty sweeps, IoU thresholds in (0, 1]."""
        for g in self.generators:
            if g not in generator_names():
                raise UserError(f"{where}.generators: {g!r} (choose from {', '.join(generator_names())})")
        if self.rois.video not in [v.name for v in self.videos]:
            raise UserError(f"{where}.rois.video: {self.rois.video!r} is not in videos")
        for key in ("baseline_sizes", "mini_sizes", "max_patches", "iou_thresholds"):
            if not getattr(self, key):
                raise UserError(f"{where}.{key}: must not be empty")
        for scope in ("quick", "full"):
            sc = getattr(self, scope)
            for key, full in (("max_patches", self.max_patches), ("roi_counts", self.rois.counts)):
                extra = sorted(set(getattr(sc, key) or []) - set(full))
                if extra:
                    raise UserError(f"{where}.{scope}.{key}: {extra} not in the sweep's points {full}")
        if any(not 0.0 < t <= 1.0 for t in self.iou_thresholds):
            raise UserError(f"{where}.iou_thresholds: each must be in (0, 1]")
