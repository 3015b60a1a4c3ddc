"""Frame compositing: background view, shadows, actors in depth order, exact visible boxes, then the
camera's look (lighting, optics blur, sensor noise).

Boxes are the visible extent of each actor's pixels in the label map (a person's body envelope, see
:func:`factory.world.sprites.draw_person`) (after mutual occlusion, before blur
and noise), so a box is tight to within a pixel. ``occluded`` = share of the actor's in-frame pixels hidden
by nearer actors (cut-off at the frame edge is not occlusion). A person's keypoints get COCO visibility from
the same label map (:func:`keypoint_visibility`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from factory.world.actors import Actor
from factory.world.sprites import Sprite


@dataclass
class ObjectBox:
    """One visible actor in one frame: box [x, y, w, h] px, label, track id, occluded fraction, depth (m),
    visible pixel count and, for a person, its keypoints."""

    box: tuple[float, float, float, float]
    label: str
    track_id: int
    occluded: float
    depth: float
    visible_px: int
    keypoints: np.ndarray | None = None  # persons: (13, 3) [x, y, v] frame px, COCO visibility (keypoint_visibility)


@dataclass(frozen=True)
class Look:
    """Per-video camera look: a per-channel tone LUT (lighting, tint), blur sigma (px), noise sigma (grey levels)."""

    lut: np.ndarray
    blur_sigma: float
    noise: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def random(cls, rng: np.random.Generator, width: int, height: int, brightness: tuple[float, float],
               noise_sigma: tuple[float, float], blur_sigma: float, bank: int = 6) -> Look:
        """Draw a lighting (gain, gamma, colour tint) and a bank of sensor-noise frames for one video."""
        gain = rng.uniform(*brightness)
        gamma = rng.uniform(0.85, 1.2)
        tint = 1.0 + rng.uniform(-0.08, 0.08, 3)
        x = np.arange(256, dtype=np.float64) / 255.0
        lut = np.stack([np.clip(255 * gain * t * x ** gamma, 0, 255) for t in tint], axis=1)
        sigma = rng.uniform(*noise_sigma)
        noise = []
        for _ in range(bank):
            n = rng.normal(0, sigma, (height, width, 3)).astype(np.float32)
            noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
        return cls(lut.astype(np.uint8).reshape(256, 1, 3), blur_sigma, tuple(noise))

    def tone(self, image: np.ndarray) -> None:
        """Apply the lighting (per-channel tone curve) to the BGR ``image`` in place."""
        image[:] = cv2.LUT(image, self.lut)

    def colour(self, bgr: tuple[int, int, int]) -> tuple[int, int, int]:
        """A scene colour under this video's lighting."""
        return int(self.lut[bgr[0], 0, 0]), int(self.lut[bgr[1], 0, 1]), int(self.lut[bgr[2], 0, 2])

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        """The frame as the sensor records it (new array). Lighting is already in the pixels (:meth:`tone`)."""
        out = cv2.GaussianBlur(frame, (3, 3), self.blur_sigma) if self.blur_sigma > 0 else frame.copy()
        pos, neg = self.noise[index % len(self.noise)]
        cv2.add(out, pos, dst=out)
        cv2.subtract(out, neg, dst=out)
        return out


def draw_shadow(frame: np.ndarray, sprite: Sprite) -> None:
    """Darken an ellipse under the sprite's footprint (a ground shadow; not part of the object)."""
    h, w = sprite.rgba.shape[:2]
    cx, cy = sprite.x0 + w / 2.0, sprite.y0 + h - 1
    ax, ay = max(w * 0.55, 1.0), max(h * (0.08 if sprite.actor.kind == "person" else 0.15), 1.0)
    x0, x1 = int(max(cx - ax - 1, 0)), int(min(cx + ax + 2, frame.shape[1]))
    y0, y1 = int(max(cy - ay - 1, 0)), int(min(cy + ay + 2, frame.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    region = frame[y0:y1, x0:x1]
    mask = np.zeros(region.shape[:2], np.uint8)
    cv2.ellipse(mask, (int(cx - x0), int(cy - y0)), (int(ax), int(ay)), 0, 0, 360, 1, -1)
    cv2.copyTo((region >> 1) + (region >> 3), mask, region)


def composite(frame: np.ndarray, sprites: list[Sprite], label_map: np.ndarray,
              min_box_area: float, crowd_occlusion: float, shadows: bool = True) -> tuple[list[ObjectBox], list[bool]]:
    """Paint ``sprites`` (sorted far → near) into ``frame`` and ``label_map`` and measure the visible boxes.

    Returns the boxes and, per box, whether it is a crowd/ignore region (too occluded or too small).
    """
    label_map[:] = 0
    for sp in sprites if shadows else ():
        draw_shadow(frame, sp)
    for idx, sp in enumerate(sprites, start=1):
        h, w = sp.rgba.shape[:2]
        cv2.copyTo(cv2.cvtColor(sp.rgba, cv2.COLOR_BGRA2BGR), sp.rgba[:, :, 3],
                   frame[sp.y0:sp.y0 + h, sp.x0:sp.x0 + w])
        cv2.copyTo(np.full((h, w), idx, np.uint16), _mask(sp), label_map[sp.y0:sp.y0 + h, sp.x0:sp.x0 + w])
    boxes, crowd = [], []
    for idx, sp in enumerate(sprites, start=1):
        h, w = sp.rgba.shape[:2]
        total = cv2.countNonZero(_mask(sp).copy())
        visible = (label_map[sp.y0:sp.y0 + h, sp.x0:sp.x0 + w] == idx).view(np.uint8)
        count = cv2.countNonZero(visible)
        if count == 0 or total == 0:
            continue
        cx, cy, bw, bh = cv2.boundingRect(visible)
        bx, by = sp.x0 + cx, sp.y0 + cy
        occluded = 1.0 - count / total
        a: Actor = sp.actor
        kps = None if sp.keypoints is None else keypoint_visibility(sp.keypoints, label_map, idx)
        boxes.append(ObjectBox((float(bx), float(by), float(bw), float(bh)), a.label, a.track_id, occluded, a.z, count,
                               kps))
        crowd.append(occluded > crowd_occlusion or bw * bh < min_box_area)
    return boxes, crowd


def _mask(sp: Sprite) -> np.ndarray:
    """Where the sprite counts as its object (boxes, occlusion): its body envelope, else its alpha."""
    return sp.rgba[:, :, 3] if sp.mask is None else sp.mask


def keypoint_visibility(points: np.ndarray, label_map: np.ndarray, index: int) -> np.ndarray:
    """``(K, 2)`` frame-px points of the sprite painted as ``index`` → ``(K, 3)`` ``[x, y, v]`` (docs/keypoints.md):
    v = 0 off the frame (x = y = 0), 1 under a nearer object (a label > ``index`` at that pixel), else 2."""
    h, w = label_map.shape
    out = np.zeros((len(points), 3))
    for k, (x, y) in enumerate(points):
        if not (0 <= x < w and 0 <= y < h):
            continue
        out[k] = x, y, 1 if label_map[int(y), int(x)] > index else 2
    return out
