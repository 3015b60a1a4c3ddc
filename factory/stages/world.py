"""DVC stage ``world``: generate the synthetic train/val/test videos (``python -m factory.stages.world``).

Reads ``params.yaml: world``; writes ``<out_dir>/<name>/{video.mp4, annotations.json, preview.png}`` for
every video and ``<out_dir>/metrics.json`` (generation speed, objects per frame, area range). Seeds must be
distinct, so the test videos share nothing with the training ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import cv2

from factory import paths
from factory.pipeline import load_section, resolve_path
from factory.tracking import stage_run
from factory.world.config import SceneConfig, VideoSpec
from factory.world.generate import write_world
from runtime.atomic import write_json
from runtime.config import bounded
from runtime.errors import UserError, cli_entry, run_cli
from runtime.video import parse_size

log = logging.getLogger("paraloupe")


@dataclass
class VideoParams:
    """One world video: seed, frame count, size ``WxH`` (px), frame rate, camera kind, layout switch frame."""

    seed: int
    frames: int = bounded(300, "frames to generate", ge=1)
    size: str = "960x540"
    fps: float = bounded(25.0, "frames per second", gt=0)
    camera: Literal["static", "moving"] = "static"
    switch_layout_at: int | None = None


def _default_videos() -> dict[str, VideoParams]:
    """The benchmark's videos: train and val to fit and tune on, test only to report (distinct seeds); three
    test seeds per camera kind (``test-<kind>``, ``-2``, ``-3``) give the report's spread."""
    return {
        "train-static": VideoParams(seed=101, frames=600, camera="static"),
        "train-moving": VideoParams(seed=102, frames=600, camera="moving"),
        "train-static-2": VideoParams(seed=103, frames=600, camera="static"),
        "train-moving-2": VideoParams(seed=104, frames=600, camera="moving"),
        # held out from the minis' first pass: the refine stage mines the loop's mistakes on them
        "mine-static": VideoParams(seed=401, frames=300, camera="static"),
        "mine-moving": VideoParams(seed=402, frames=300, camera="moving"),
        "mine-static-2": VideoParams(seed=403, frames=300, camera="static"),
        "mine-moving-2": VideoParams(seed=404, frames=300, camera="moving"),
        "val-static": VideoParams(seed=201, frames=200, camera="static"),
        "val-moving": VideoParams(seed=202, frames=200, camera="moving"),
        # more tuning videos: the closed loop's choices (the minis' alpha among them) swing by +-2 F1 points
        # from one 200-frame video to the next
        "val-static-2": VideoParams(seed=211, frames=200, camera="static"),
        "val-moving-2": VideoParams(seed=212, frames=200, camera="moving"),
        "val-switch": VideoParams(seed=213, frames=200, camera="static", switch_layout_at=100),
        "val-moving-3": VideoParams(seed=214, frames=200, camera="moving"),
        # six more (ninth session): single videos swing by up to 9 points between nearly equal settings
        "val-static-3": VideoParams(seed=215, frames=200, camera="static"),
        "val-moving-4": VideoParams(seed=216, frames=200, camera="moving"),
        "val-switch-2": VideoParams(seed=217, frames=200, camera="static", switch_layout_at=100),
        "val-static-4": VideoParams(seed=218, frames=200, camera="static"),
        "val-moving-5": VideoParams(seed=219, frames=200, camera="moving"),
        "val-switch-3": VideoParams(seed=220, frames=200, camera="static", switch_layout_at=100),
        "test-static": VideoParams(seed=301, frames=400, camera="static"),
        "test-moving": VideoParams(seed=302, frames=400, camera="moving"),
        "test-switch": VideoParams(seed=303, frames=400, camera="static", switch_layout_at=200),
        **{f"test-{kind}-{n}": VideoParams(seed=seed, frames=400, camera="moving" if kind == "moving" else "static",
                                           switch_layout_at=200 if kind == "switch" else None)
           for n, first in ((2, 304), (3, 307)) for seed, kind in zip(range(first, first + 3),
                                                                       ("static", "moving", "switch"), strict=True)},
    }


@dataclass
class WorldParams:
    """The ``world`` section: where to write, the scene knobs and the videos by name."""

    out_dir: str = paths.WORLD_DIR
    preview: bool = True  # also write preview.png, a contact sheet of 12 frames with their boxes
    scene: SceneConfig = field(default_factory=SceneConfig)  # difficulty knobs; the defaults are the benchmark
    videos: dict[str, VideoParams] = field(default_factory=_default_videos)

    def validate(self, where: str) -> None:
        if not self.videos:
            raise UserError(f"{where}.videos: at least one video is needed")
        seeds: dict[int, str] = {}
        for name, video in self.videos.items():
            if video.seed in seeds:
                raise UserError(f"{where}.videos.{name}.seed: {video.seed} is also used by {seeds[video.seed]}")
            seeds[video.seed] = name
            spec(video).validate(f"{where}.videos.{name}")


def spec(video: VideoParams) -> VideoSpec:
    """The generator's spec of one video."""
    width, height = parse_size(video.size)
    return VideoSpec(video.seed, video.frames, width, height, video.fps, video.camera, video.switch_layout_at)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("world", WorldParams)
    cv2.setNumThreads(1)  # one core per video: the speed figures are one-core figures
    out = resolve_path(params.out_dir)
    with stage_run("world", params, out) as tracker:
        metrics: dict[str, dict] = {}
        for name, video in params.videos.items():
            stats = write_world(out / name, spec(video), params.scene, preview=params.preview)
            log.info("world %s: %d frames, %.1f objects/frame, %.0f frames/s", name, stats["frames"],
                     stats["objects_per_frame"], stats["render_fps"])
            metrics[name] = stats
            tracker.metrics({f"{name}.{k}": v for k, v in stats.items()})
            tracker.artifact(out / name / "preview.png", folder=f"previews/{name}")
        write_json(out / "metrics.json", metrics)
        tracker.artifact(out / "metrics.json")
    return 0


if __name__ == "__main__":
    run_cli(main)
