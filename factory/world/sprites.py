"""Drawings of people and vehicles into small BGRA buffers (alpha 255 exactly where the object is).

Each actor is drawn at its frame position through ``to_frame`` (world metres → frame pixels), clipped to
the frame. Vehicles are 3-D boxes with their visible faces (near face, one side, roof) and details (windows,
lights, plate, wheels) projected exactly; people are 2-D figures (head, hair, torso, two-segment arms and
legs: :mod:`factory.world.figure`) scaled by their depth, with a walking gait. Sub-pixel accuracy via
OpenCV's fixed-point ``shift``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from factory.world.actors import Actor
from factory.world.figure import Figure, Limb, person_figure

SHIFT = 4
ONE = 1 << SHIFT
_UNIT_COS = np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False))
_UNIT_SIN = np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))
ToFrame = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Palette = Callable[[tuple[int, int, int]], tuple[int, int, int]]  # scene colour -> colour under the video's lighting


@dataclass
class Sprite:
    """An actor's pixels: ``rgba`` (h, w, 4) placed with its top-left at frame pixel (``x0``, ``y0``); for a
    person also the body-envelope ``mask`` and the exact keypoints."""

    actor: Actor
    x0: int
    y0: int
    rgba: np.ndarray
    mask: np.ndarray | None = None  # (h, w) uint8 where the object counts for boxes/occlusion; None = alpha
    keypoints: np.ndarray | None = None  # (13, 2) body points, frame px (persons; runtime.keypoints.BODY)


class _Buffer:
    """A local drawing surface for one sprite, addressed in frame pixels."""

    def __init__(self, x0: int, y0: int, w: int, h: int, palette: Palette) -> None:
        self.x0, self.y0, self.palette = x0, y0, palette
        self.img = np.zeros((h, w, 4), np.uint8)

    def _pts(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        pts = np.empty((len(u), 2), np.int32)
        np.rint((u - self.x0) * ONE, out=pts[:, 0], casting="unsafe")
        np.rint((v - self.y0) * ONE, out=pts[:, 1], casting="unsafe")
        return pts

    def poly(self, u: np.ndarray, v: np.ndarray, colour: tuple[int, int, int]) -> None:
        cv2.fillPoly(self.img, [self._pts(u, v)], (*self.palette(colour), 255), cv2.LINE_8, SHIFT)

    def line(self, u0: float, v0: float, u1: float, v1: float, colour: tuple[int, int, int], width: float) -> None:
        """A thick segment drawn as a polygon (width in frame pixels), so thin limbs stay sub-pixel exact."""
        dx, dy = u1 - u0, v1 - v0
        n = math.hypot(dx, dy) or 1.0
        ox, oy = -dy / n * width / 2, dx / n * width / 2
        self.poly(np.array([u0 + ox, u1 + ox, u1 - ox, u0 - ox]), np.array([v0 + oy, v1 + oy, v1 - oy, v0 - oy]),
                  colour)

    def circle(self, u: float, v: float, r: float, colour: tuple[int, int, int]) -> None:
        self.poly(u + r * _UNIT_COS, v + r * _UNIT_SIN, colour)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, c * factor)) for c in colour)  # type: ignore[return-value]


def _bounds(us: np.ndarray, vs: np.ndarray, frame_w: int, frame_h: int) -> tuple[int, int, int, int] | None:
    x0, y0 = max(int(math.floor(us.min())) - 1, 0), max(int(math.floor(vs.min())) - 1, 0)
    x1, y1 = min(int(math.ceil(us.max())) + 2, frame_w), min(int(math.ceil(vs.max())) + 2, frame_h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def draw_person(a: Actor, to_frame: ToFrame, frame_w: int, frame_h: int, palette: Palette) -> Sprite | None:
    """Draw a walking person standing at (a.x, a.z); None when out of the frame.

    The visible pixels come from the jointed figure (:mod:`factory.world.figure`: two-segment limbs); the
    sprite's ``mask`` — what the label map, and so the box and the occluded share, are measured from — is
    the body envelope (:func:`draw_envelope`), the straight-limbed figure of earlier versions, so the
    detection ground truth of a seed does not depend on how the limbs bend (docs/keypoints.md).
    """
    width, height, _ = a.size
    fu, fv = to_frame(np.array([a.x, a.x]), np.array([0.0, height]), np.array([a.z, a.z]))
    u, v_foot, v_top = float(fu[0]), float(fv[0]), float(fv[1])
    H = v_foot - v_top
    if H < 2.0:
        return None
    W = H * width / height
    box = _bounds(np.array([u - W, u + W]), np.array([v_top - 1, v_foot + 1]), frame_w, frame_h)
    if box is None:
        return None
    fig = person_figure(a, u, v_top, v_foot)
    buf = _Buffer(box[0], box[1], box[2] - box[0], box[3] - box[1], palette)
    c = a.colours
    limb = fig.limb
    for leg, shade in zip(fig.legs, (0.8, 1.0), strict=True):
        colour = _shade(c["legs"], shade)
        buf.line(*leg.root, *leg.mid, colour, limb * 1.15)
        buf.line(*leg.mid, *leg.end, colour, limb * 1.05)
        buf.circle(*leg.mid, limb * 0.55, colour)
        if H > 24 and leg.toe is not None:  # shoes
            buf.line(*leg.end, *leg.toe, (30, 30, 30), limb)
    far, near = fig.arms
    if fig.side:  # the far arm hangs behind the torso, darker (tells the sides apart)
        _arm(buf, far, _shade(c["shirt"], 0.7), c["skin"], limb, H)
    _torso(buf, fig, c["shirt"])
    for arm in (near,) if fig.side else (far, near):
        _arm(buf, arm, _shade(c["shirt"], 0.9), c["skin"], limb, H)
    _head(buf, fig, c["skin"], c["hair"])
    _hair(buf, fig, c["hair"], a.direction)
    mask = _Buffer(box[0], box[1], box[2] - box[0], box[3] - box[1], palette)
    draw_envelope(mask, fig)
    return Sprite(a, buf.x0, buf.y0, buf.img, mask.img[:, :, 3].copy(), fig.keypoints())


def _arm(buf: _Buffer, arm: Limb, colour: tuple[int, int, int], skin: tuple[int, int, int], limb: float,
         H: float) -> None:
    buf.line(*arm.root, *arm.mid, colour, limb)
    buf.line(*arm.mid, *arm.end, colour, limb * 0.9)
    buf.circle(*arm.mid, limb * 0.45, colour)
    if H > 24:
        buf.circle(*arm.end, limb * 0.55, skin)


def _hair(buf: _Buffer, fig: Figure, hair: tuple[int, int, int], direction: int) -> None:
    """Where the figure faces, inside the head circle: seen from the back the head is all hair, from the side
    the back half is; from the front the face stays skin (so front and back, left and right differ)."""
    (u, hv), r = fig.head, fig.head_r
    if fig.side:
        ang = np.linspace(np.pi / 2, 3 * np.pi / 2, 7) if direction > 0 else np.linspace(-np.pi / 2, np.pi / 2, 7)
        buf.poly(u + r * np.cos(ang), hv + r * np.sin(ang), hair)
    elif direction > 0:  # walking away from the camera
        buf.circle(u, hv, r, hair)


def _torso(buf: _Buffer, fig: Figure, colour: tuple[int, int, int]) -> None:
    tw, hw = 0.95 * fig.width, 0.8 * fig.width
    u, H = fig.u, fig.height
    buf.poly(np.array([u - tw / 2, u + tw / 2, u + hw / 2, u - hw / 2]),
             np.array([fig.shoulder_v, fig.shoulder_v, fig.hip_v + 0.03 * H, fig.hip_v + 0.03 * H]), colour)


def _head(buf: _Buffer, fig: Figure, skin: tuple[int, int, int], hair: tuple[int, int, int]) -> None:
    (u, hv), r = fig.head, fig.head_r
    buf.circle(u, hv, r, skin)
    buf.poly(np.array([u - r, u + r, u + r * 0.9, u - r * 0.9]),
             np.array([hv - r * 0.2, hv - r * 0.2, hv - r * 1.05, hv - r * 1.05]), hair)


def draw_envelope(buf: _Buffer, fig: Figure) -> None:
    """The body envelope into ``buf``'s alpha: the figure with straight limbs root→end, exactly the drawing
    of the versions before keypoints (same calls, same order), which the detection boxes are measured on."""
    limb, H, grey = fig.limb, fig.height, (0, 0, 0)
    for leg in fig.legs:
        buf.line(*leg.root, *leg.end, grey, limb * 1.15)
        if H > 24 and leg.toe is not None:
            buf.line(*leg.end, *leg.toe, grey, limb)
    _torso(buf, fig, grey)
    for arm in fig.arms:
        buf.line(*arm.root, *arm.end, grey, limb)
        if H > 24:
            buf.circle(*arm.end, limb * 0.55, grey)
    _head(buf, fig, grey, grey)


def _box_faces(a: Actor) -> tuple[float, float, float, float, float]:
    w, h, length = a.size
    if a.axis == "z":
        return a.x - w / 2, a.x + w / 2, a.z - length / 2, a.z + length / 2, h
    return a.x - length / 2, a.x + length / 2, a.z - w / 2, a.z + w / 2, h


def draw_vehicle(a: Actor, to_frame: ToFrame, cam_h: float, frame_w: int, frame_h: int,
                 palette: Palette) -> Sprite | None:
    """Draw a vehicle as a 3-D box with visible faces and details; None when out of the frame or too near."""
    x0, x1, z0, z1, h = _box_faces(a)
    if z0 < 1.0:
        return None
    xs = np.array([x0, x1, x1, x0, x0, x1, x1, x0])
    ys = np.array([0, 0, h, h, 0, 0, h, h], dtype=np.float64)
    zs = np.array([z0, z0, z0, z0, z1, z1, z1, z1])
    us, vs = to_frame(xs, ys, zs)
    if (vs.max() - vs.min()) < 2.0:
        return None
    box = _bounds(us, vs, frame_w, frame_h)
    if box is None:
        return None
    buf = _Buffer(box[0], box[1], box[2] - box[0], box[3] - box[1], palette)
    body = a.colours["body"]
    cargo = (215, 215, 210) if a.kind == "truck" else body

    def face(px: np.ndarray, py: np.ndarray, pz: np.ndarray, colour: tuple[int, int, int]) -> None:
        u, v = to_frame(px, py, pz)
        buf.poly(u, v, colour)

    if cam_h > h:  # roof
        face(np.array([x0, x1, x1, x0]), np.full(4, h), np.array([z0, z0, z1, z1]), _shade(cargo, 1.15))
    side_x = x0 if x0 > 0 else (x1 if x1 < 0 else None)
    if side_x is not None:
        face(np.full(4, side_x), np.array([0, 0, h, h]), np.array([z0, z1, z1, z0]), _shade(cargo, 0.78))
        if a.axis == "z":
            _side_details(a, face, side_x, z0, z1, h, along_z=True)
    face(np.array([x0, x1, x1, x0]), np.array([0, 0, h, h]), np.full(4, z0), cargo)
    if a.axis == "z":
        _end_details(a, face, x0, x1, z0, h, front=a.direction < 0)
    else:
        _side_details(a, face, z0, x0, x1, h, along_z=False)
    return Sprite(a, buf.x0, buf.y0, buf.img)


def _end_details(a: Actor, face: Callable, x0: float, x1: float, z: float, h: float, front: bool) -> None:
    """Windscreen or rear window, lights, plate and wheel bottoms on the face at depth ``z``."""
    w = x1 - x0
    zz = np.full(4, z - 0.01)
    glass = (95, 80, 70) if front else (70, 60, 55)
    top = 0.9 if a.kind in ("car", "van") else 0.92
    bottom = 0.55 if a.kind in ("car", "van") else (0.5 if a.kind == "bus" else 0.7)
    if not (a.kind == "truck" and not front):
        face(np.array([x0 + 0.1 * w, x1 - 0.1 * w, x1 - 0.1 * w, x0 + 0.1 * w]),
             np.array([bottom, bottom, top, top]) * h, zz, glass)
    light = (200, 240, 250) if front else (40, 40, 210)
    for lx in (x0 + 0.05 * w, x1 - 0.2 * w):
        face(np.array([lx, lx + 0.15 * w, lx + 0.15 * w, lx]), np.array([0.3, 0.3, 0.4, 0.4]) * h, zz, light)
    face(np.array([-0.2, 0.2, 0.2, -0.2]) + (x0 + x1) / 2, np.array([0.2, 0.2, 0.28, 0.28]) * h, zz, (230, 230, 230))
    for wx in (x0 + 0.04 * w, x1 - 0.22 * w):
        face(np.array([wx, wx + 0.18 * w, wx + 0.18 * w, wx]), np.array([-0.02, -0.02, 0.12, 0.12]) * h, zz,
             (25, 25, 25))


def _side_details(a: Actor, face: Callable, plane: float, s0: float, s1: float, h: float, along_z: bool) -> None:
    """Window band and wheels on a long side; ``plane`` is its X (along_z) or Z (across), [s0, s1] its extent."""
    length = s1 - s0

    def put(ss: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int]) -> None:
        if along_z:
            face(np.full(len(ss), plane), ys, ss, colour)
        else:
            face(ss, ys, np.full(len(ss), plane - 0.01), colour)

    glass = (90, 75, 65)
    if a.kind == "bus":
        for s in np.arange(s0 + 0.6, s1 - 1.0, 1.5):
            put(np.array([s, s + 1.3, s + 1.3, s]), np.array([0.55, 0.55, 0.88, 0.88]) * h, glass)
    elif a.kind == "truck":
        cab = s1 - 2.3 if a.direction > 0 else s0
        put(np.array([cab, cab + 2.3, cab + 2.3, cab]), np.array([0.1, 0.1, 0.8, 0.8]) * h, a.colours["body"])
        put(np.array([cab + 0.4, cab + 1.9, cab + 1.9, cab + 0.4]), np.array([0.5, 0.5, 0.75, 0.75]) * h, glass)
    else:
        put(np.array([s0 + 0.22 * length, s1 - 0.2 * length, s1 - 0.25 * length, s0 + 0.28 * length]),
            np.array([0.6, 0.6, 0.92, 0.92]) * h, glass)
    r = min(0.45, 0.3 * h)
    for c in (s0 + 0.18 * length, s1 - 0.18 * length):
        put(c + r * _UNIT_COS, r + r * _UNIT_SIN - 0.05, (22, 22, 22))
        put(c + 0.5 * r * _UNIT_COS, r + 0.5 * r * _UNIT_SIN - 0.05, (140, 140, 140))
