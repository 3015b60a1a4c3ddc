"""Difficulty knobs of the synthetic world (params.yaml ``world.scene``); the defaults are the benchmark.

Units: metres and metres per second in the world, pixels on screen, fractions of the frame area for sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runtime.config import bounded
from runtime.errors import UserError


@dataclass
class SceneConfig:
    """What the world looks like and how hard it is."""

    persons: int = bounded(12, "walking people alive at once (on sidewalks and crossings)", ge=0, le=200)
    vehicles: int = bounded(6, "moving vehicles alive at once", ge=0, le=100)
    parked: int = bounded(3, "parked vehicles per layout (never move)", ge=0, le=30)
    max_depth_m: float = bounded(140.0, "farthest spawn distance; sets the smallest objects", gt=20, le=400)
    person_speed_mps: tuple[float, float] = (0.9, 1.8)
    vehicle_speed_mps: tuple[float, float] = (5.0, 14.0)
    stop_rate_per_s: float = bounded(0.04, "chance per second that an actor starts a pause", ge=0, le=1)
    crossing_share: float = bounded(0.3, "share of new pedestrians that cross the road", ge=0, le=1)
    camera_height_m: tuple[float, float] = (2.5, 5.0)
    dashcam_height_m: float = bounded(1.5, "camera height of a moving (dashcam) video", gt=0.3, le=5)
    horizon: tuple[float, float] = (0.28, 0.42)
    zoom_range: tuple[float, float] = (1.0, 1.3)
    pan_px: float = bounded(60.0, "amplitude of the moving camera's pan, frame pixels", ge=0, le=400)
    noise_sigma: tuple[float, float] = (2.0, 6.0)
    brightness: tuple[float, float] = (0.65, 1.15)
    shadows: bool = True
    blur_sigma: float = bounded(0.6, "optics blur, pixels (0 = off)", ge=0, le=3)
    crowd_occlusion: float = bounded(0.7, "objects occluded beyond this fraction are iscrowd", gt=0, le=1)
    min_box_area_px: float = bounded(20.0, "visible boxes smaller than this are iscrowd (too small to see)", ge=0)
    codec: Literal["mp4v", "avc1", "MJPG"] = "mp4v"

    def validate(self, where: str) -> None:
        """Check the ranges (lo <= hi, positive where needed); errors name the key."""
        for name in ("person_speed_mps", "vehicle_speed_mps", "camera_height_m", "horizon", "zoom_range",
                     "noise_sigma", "brightness"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise UserError(f"{where}.{name}: expected [lo, hi] with 0 <= lo <= hi, got [{lo}, {hi}]")
        if not 0.05 <= self.horizon[0] <= self.horizon[1] <= 0.7:
            raise UserError(f"{where}.horizon: must lie within [0.05, 0.7] of the frame height")
        if self.zoom_range[0] < 1.0:
            raise UserError(f"{where}.zoom_range: zoom must be >= 1.0")


@dataclass(frozen=True)
class VideoSpec:
    """One video to generate: frames, size (pixels), frame rate, camera kind, seed and layout switch."""

    seed: int
    frames: int
    width: int = 960
    height: int = 540
    fps: float = 25.0
    camera: Literal["static", "moving"] = "static"
    switch_layout_at: int | None = None

    def validate(self, where: str = "video") -> None:
        if self.frames <= 0:
            raise UserError(f"{where}.frames: must be > 0, got {self.frames}")
        if not (64 <= self.width <= 4096 and 64 <= self.height <= 4096):
            raise UserError(f"{where}.size: {self.width}x{self.height} outside 64..4096")
        if self.fps <= 0:
            raise UserError(f"{where}.fps: must be > 0, got {self.fps}")
        if self.camera not in ("static", "moving"):
            raise UserError(f"{where}.camera: must be static or moving, got {self.camera!r}")
        if self.switch_layout_at is not None and not 0 < self.switch_layout_at < self.frames:
            raise UserError(f"{where}.switch_layout_at: must be in (0, frames), got {self.switch_layout_at}")
