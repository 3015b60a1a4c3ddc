"""Camera geometry: a pinhole over a flat ground plane, and the moving camera's pan/zoom path.

World coordinates are metres: X to the right, Y up from the ground, Z forward (depth). The canvas is the
background image in canvas pixels; a static camera's frame is the canvas itself, a moving camera sees a
panned and zoomed window of it (``frame = k · (canvas − centre) + frame_size / 2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_DEPTH_M = 0.5  # points nearer than this are clamped (never drawn, but keeps the algebra finite)


@dataclass(frozen=True)
class Projection:
    """Pinhole projection into the canvas: focal ``f`` (px), vanishing point (``vp_x``, ``horizon_y``) px,
    camera height ``cam_h`` (m), canvas size ``width`` × ``height`` px."""

    f: float
    vp_x: float
    horizon_y: float
    cam_h: float
    width: int
    height: int

    def project(self, x: np.ndarray | float, y: np.ndarray | float, z: np.ndarray | float
                ) -> tuple[np.ndarray, np.ndarray]:
        """Canvas pixel coordinates (u, v) of world points (x, y, z) in metres."""
        z = np.maximum(np.asarray(z, dtype=np.float64), MIN_DEPTH_M)
        u = self.vp_x + self.f * np.asarray(x, dtype=np.float64) / z
        v = self.horizon_y + self.f * (self.cam_h - np.asarray(y, dtype=np.float64)) / z
        return u, v

    def scale(self, z: float) -> float:
        """Pixels per metre at depth ``z`` (m)."""
        return self.f / max(z, MIN_DEPTH_M)

    @property
    def near_depth(self) -> float:
        """Depth (m) of the ground at the canvas bottom edge: nearer ground is out of view."""
        return self.f * self.cam_h / max(self.height - self.horizon_y, 1.0)

    def x_range_at(self, z: float, margin_px: float = 0.0) -> tuple[float, float]:
        """World X range (m) visible at depth ``z``, widened by ``margin_px`` canvas pixels each side."""
        lo = (-margin_px - self.vp_x) * z / self.f
        hi = (self.width + margin_px - self.vp_x) * z / self.f
        return lo, hi


@dataclass(frozen=True)
class CameraPath:
    """The moving camera's per-frame view of the canvas: zoom ``k`` and view centre, smooth in time.

    A static camera has k = 1 and the canvas centre as view centre (identity). A moving camera zooms in and
    out between ``zoom`` bounds (forward motion of a dashcam) and pans/drifts sinusoidally by up to ``pan_px``.
    """

    frame_w: int
    frame_h: int
    canvas_w: int
    canvas_h: int
    moving: bool
    zoom: tuple[float, float] = (1.0, 1.0)
    pan_px: float = 0.0
    periods_s: tuple[float, float, float] = (11.0, 17.0, 23.0)
    phases: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def view(self, t: float) -> tuple[float, float, float]:
        """Zoom k and view centre (cx, cy) in canvas px at time ``t`` (s)."""
        if not self.moving:
            return 1.0, self.canvas_w / 2.0, self.canvas_h / 2.0
        pz, px, py = self.periods_s
        a, b, c = self.phases
        lo, hi = self.zoom
        k = lo + (hi - lo) * 0.5 * (1.0 - math.cos(2 * math.pi * t / pz + a))
        cx = self.canvas_w / 2.0 + self.pan_px * math.sin(2 * math.pi * t / px + b)
        cy = self.canvas_h / 2.0 + 0.3 * self.pan_px * math.sin(2 * math.pi * t / py + c)
        # keep the view inside the canvas
        half_w, half_h = self.frame_w / (2 * k), self.frame_h / (2 * k)
        cx = min(max(cx, half_w), self.canvas_w - half_w)
        cy = min(max(cy, half_h), self.canvas_h - half_h)
        return k, cx, cy

    def crop(self, t: float) -> tuple[int, int, int, int]:
        """The integer canvas window ``(x0, y0, w, h)`` px that is resized to the frame at time ``t`` (s)."""
        k, cx, cy = self.view(t)
        w = min(int(round(self.frame_w / k)), self.canvas_w)
        h = min(int(round(self.frame_h / k)), self.canvas_h)
        x0 = min(max(int(round(cx - w / 2.0)), 0), self.canvas_w - w)
        y0 = min(max(int(round(cy - h / 2.0)), 0), self.canvas_h - h)
        return x0, y0, w, h

    def affine(self, t: float) -> np.ndarray:
        """2×3 matrix mapping canvas px to frame px at time ``t`` (s), exactly as ``cv2.resize`` maps the
        :meth:`crop` window onto the frame (pixel centres at integer coordinates)."""
        x0, y0, w, h = self.crop(t)
        sx, sy = self.frame_w / w, self.frame_h / h
        return np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])


def canvas_size(frame_w: int, frame_h: int, moving: bool, pan_px: float) -> tuple[int, int]:
    """Canvas size (px) for a frame size: the frame itself when static, with room to pan when moving."""
    if not moving:
        return frame_w, frame_h
    return int(frame_w + 2 * pan_px + 16), int(frame_h + 0.6 * pan_px + 16)
