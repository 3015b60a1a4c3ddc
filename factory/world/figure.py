"""A walking person's joints in frame pixels: the skeleton the sprite is drawn from and the keypoint ground truth.

The figure stands at frame column ``u`` with its feet at row ``v_foot`` and the top of its hair at ``v_top``
(height ``H = v_foot - v_top`` px, half-width ``W`` px). Seen from the side (``axis == 'x'``) the legs swing
along the direction of travel, the knees bend forward (more while a foot is lifted) and the elbows bend
back; seen from the front or the back (``axis == 'z'``) limbs hang nearly straight with a slight outward
elbow. Left and right follow from the direction of travel (docs/keypoints.md): walking to the right in the
image shows the person's right side; walking towards the camera shows the person's left on the image right.

The hips, shoulders, wrists, ankles and head are exactly where the pre-keypoint figure had its limb ends, so
the detection ground truth (the body envelope, :func:`factory.world.sprites.draw_envelope`) is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from factory.world.actors import Actor
from runtime.keypoints import BODY_NAMES

KNEE_BEND = 0.02  # forward knee offset of a standing leg, fraction of the height H
KNEE_LIFT = 0.8  # extra forward knee offset per pixel of foot lift (a lifted foot bends its knee)
ELBOW_BEND_SIDE = 0.03  # backward elbow offset seen from the side, fraction of H
ELBOW_BEND_FRONT = 0.012  # outward elbow offset seen from the front, fraction of H


@dataclass
class Limb:
    """One arm or leg: root (shoulder/hip), middle joint (elbow/knee) and end (wrist/ankle), frame px,
    whether it is the person's left one, and for a leg the shoe tip."""

    root: tuple[float, float]
    mid: tuple[float, float]
    end: tuple[float, float]
    left: bool
    toe: tuple[float, float] | None = None  # a leg's shoe tip (drawn from ``end``), px


@dataclass
class Figure:
    """A person's drawing geometry, frame px: legs and arms in drawing order (``sgn`` = +1 then −1), head
    centre and radius, torso rows, limb thickness, and the gait values the envelope needs."""

    u: float
    v_top: float
    v_foot: float
    width: float  # W: half the drawn figure's width budget, px
    side: bool
    swing: float
    limb: float
    hip_v: float
    shoulder_v: float
    legs: list[Limb]
    arms: list[Limb]
    head: tuple[float, float]
    head_r: float

    @property
    def height(self) -> float:
        return self.v_foot - self.v_top

    def keypoints(self) -> np.ndarray:
        """``(13, 2)`` body points in :data:`runtime.keypoints.BODY_NAMES` order (nose = head centre)."""
        pts: dict[str, tuple[float, float]] = {"nose": self.head}
        for arm in self.arms:
            s = "left" if arm.left else "right"
            pts[f"{s}_shoulder"], pts[f"{s}_elbow"], pts[f"{s}_wrist"] = arm.root, arm.mid, arm.end
        for leg in self.legs:
            s = "left" if leg.left else "right"
            pts[f"{s}_hip"], pts[f"{s}_knee"], pts[f"{s}_ankle"] = leg.root, leg.mid, leg.end
        return np.array([pts[n] for n in BODY_NAMES], dtype=np.float64)


def _bend(root: tuple[float, float], end: tuple[float, float], toward: tuple[float, float], amount: float
          ) -> tuple[float, float]:
    """The middle of root→end pushed ``amount`` px along the segment's normal on the side of ``toward``."""
    mx, my = (root[0] + end[0]) / 2, (root[1] + end[1]) / 2
    dx, dy = end[0] - root[0], end[1] - root[1]
    n = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / n, dx / n
    if nx * toward[0] + ny * toward[1] < 0:
        nx, ny = -nx, -ny
    return mx + nx * amount, my + ny * amount


def person_figure(a: Actor, u: float, v_top: float, v_foot: float) -> Figure:
    """The joints of person ``a`` drawn with its feet at (``u``, ``v_foot``) and its top at ``v_top`` (px)."""
    width, height, _ = a.size
    H = v_foot - v_top
    W = H * width / height
    side = a.axis == "x"
    swing = math.sin(a.phase) * (0.42 if side else 0.12) * (1.0 if a.speed > 0.2 else 0.0)
    limb = max(H * 0.085, 0.8)
    hip_v, shoulder_v = v_foot - 0.52 * H, v_foot - 0.81 * H
    leg = 0.52 * H
    forward = (float(a.direction), 0.0)
    legs, arms = [], []
    for sgn in (1, -1):
        left = sgn == a.direction if side else sgn == -a.direction
        fx = u + sgn * (swing * leg if side else 0.18 * W + swing * 0.3 * W)
        lift = max(0.0, sgn * math.cos(a.phase)) * 0.05 * H
        hip = (u + (0 if side else sgn * 0.15 * W), hip_v)
        ankle = (fx, v_foot - lift - limb / 2)
        knee = (_bend(hip, ankle, forward, KNEE_BEND * H + KNEE_LIFT * lift) if side
                else ((hip[0] + ankle[0]) / 2, (hip[1] + ankle[1]) / 2))
        toe = (fx + (0.08 * H * a.direction if side else 0), v_foot - lift - limb / 4)
        legs.append(Limb(hip, knee, ankle, left, toe))
    for sgn in (1, -1):
        left = sgn == a.direction if side else sgn == -a.direction
        sx = u + sgn * (0.1 * W if side else 0.47 * W)
        hand_dx = -swing * 0.3 * H * sgn if side else sgn * 0.12 * W
        shoulder, wrist = (sx, shoulder_v + limb / 2), (sx + hand_dx, v_foot - 0.45 * H)
        elbow = (_bend(shoulder, wrist, (-forward[0], 0.0), ELBOW_BEND_SIDE * H) if side
                 else _bend(shoulder, wrist, (float(sgn), 0.0), ELBOW_BEND_FRONT * H))
        arms.append(Limb(shoulder, elbow, wrist, left))
    r = max(0.065 * H, 0.7)
    return Figure(u, v_top, v_foot, W, side, swing, limb, hip_v, shoulder_v, legs, arms, (u, v_top + r * 1.05), r)
