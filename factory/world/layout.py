"""The street layout (roads, lanes, sidewalks, crossing, buildings, trees, distractors) and its background.

A layout is drawn once into the canvas; everything on it is static scenery that is NOT an object: poles,
signs, cones, bins, trees, shadows, lane marks, windows — so that edges alone do not find objects.
All sizes are in metres unless a name says ``_px``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from factory.world.camera import Projection
from factory.world.config import SceneConfig

LANE_WIDTH_M = 3.4
SIDEWALK_M = 3.2


@dataclass
class Layout:
    """Where things are: road edges (X, m), lanes (centre X, direction +1 away / -1 toward), sidewalks,
    the zebra crossing and cross street (Z bands, m), plus the static scenery drawn into the background."""

    proj: Projection
    road_left: float
    road_right: float
    lanes: list[tuple[float, int]]
    parking_x: float
    crossing_z: tuple[float, float]
    cross_street: tuple[float, float] | None
    sidewalks: list[tuple[float, float]]
    max_depth: float
    buildings: list[dict] = field(default_factory=list)

    @property
    def min_depth(self) -> float:
        """Nearest depth (m) at which actors live: a little nearer than the visible ground, to enter from below."""
        return 0.55 * self.proj.near_depth


def make_layout(rng: np.random.Generator, cfg: SceneConfig, canvas_w: int, canvas_h: int, moving: bool) -> Layout:
    """Draw a random street layout for a canvas of ``canvas_w`` × ``canvas_h`` px."""
    horizon = rng.uniform(*cfg.horizon) * canvas_h
    cam_h = cfg.dashcam_height_m if moving else rng.uniform(*cfg.camera_height_m)
    f = canvas_w * rng.uniform(0.85, 1.15)
    vp_x = canvas_w * (rng.uniform(0.42, 0.58) if moving else rng.uniform(0.3, 0.7))
    proj = Projection(f, vp_x, horizon, cam_h, canvas_w, canvas_h)
    n_lanes = int(rng.integers(2, 5))
    # the camera stands over a sidewalk or the road's edge (static) or in a lane (dashcam)
    offset = -rng.uniform(0.5, 1.5) * LANE_WIDTH_M if moving else rng.uniform(-n_lanes * LANE_WIDTH_M - 4, 4.0)
    road_left = offset
    road_right = offset + n_lanes * LANE_WIDTH_M + LANE_WIDTH_M  # + a parking lane on the right
    lanes = []
    for i in range(n_lanes):
        direction = 1 if (i >= n_lanes // 2) != (rng.random() < 0.15) else -1
        lanes.append((road_left + (i + 0.5) * LANE_WIDTH_M, direction))
    parking_x = road_right - 0.5 * LANE_WIDTH_M
    near = proj.near_depth
    z0 = near * rng.uniform(1.1, 1.8)
    crossing = (z0, z0 + 4.0)
    cross_street = None
    if rng.random() < 0.7:
        zc = rng.uniform(2.5, 5.0) * near + 10
        cross_street = (zc, zc + rng.uniform(9.0, 14.0))
    sidewalks = [(road_left - SIDEWALK_M, road_left), (road_right, road_right + SIDEWALK_M)]
    return Layout(proj, road_left, road_right, lanes, parking_x, crossing, cross_street, sidewalks, cfg.max_depth_m)


def _quad(proj: Projection, x0: float, x1: float, z0: float, z1: float, y: float = 0.0) -> np.ndarray:
    """Canvas polygon (int32, 4×2) of the horizontal rectangle X∈[x0,x1], Z∈[z0,z1] at height y."""
    xs = np.array([x0, x1, x1, x0])
    zs = np.array([z0, z0, z1, z1])
    u, v = proj.project(xs, np.full(4, y), zs)
    return np.stack([u, v], axis=1).round().astype(np.int32)


def _facade(proj: Projection, x: float, z0: float, z1: float, y0: float, y1: float) -> np.ndarray:
    """Canvas polygon of the vertical rectangle at X = x spanning Z∈[z0,z1], Y∈[y0,y1]."""
    u, v = proj.project(np.full(4, x), np.array([y0, y0, y1, y1]), np.array([z0, z1, z1, z0]))
    return np.stack([u, v], axis=1).round().astype(np.int32)


def _texture(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """Multi-scale noise (float32, h×w×1): blotches plus grain, zero mean."""
    low = cv2.resize(rng.standard_normal((max(h // 24, 2), max(w // 24, 2))).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(rng.standard_normal((max(h // 4, 2), max(w // 4, 2))).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_LINEAR)
    fine = rng.standard_normal((h, w)).astype(np.float32)
    return (strength * (0.6 * low + 0.3 * mid + 0.25 * fine))[:, :, None]


def _colour(rng: np.random.Generator, base: tuple[int, int, int], spread: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in base)  # type: ignore[return-value]


def render_background(layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Draw the static scene into a BGR uint8 canvas."""
    p = layout.proj
    w, h = p.width, p.height
    hy = int(round(p.horizon_y))
    img = np.zeros((h, w, 3), np.uint8)
    sky_top, sky_low = np.array(_colour(rng, (200, 170, 140), 30)), np.array(_colour(rng, (225, 215, 205), 15))
    ramp = np.linspace(0, 1, max(hy, 1))[:, None, None]
    img[:hy] = (sky_top * (1 - ramp) + sky_low * ramp).astype(np.uint8)
    img[hy:] = _colour(rng, (70, 110, 85), 20)  # grass / verge
    far = layout.max_depth * 6
    road = _colour(rng, (88, 90, 92), 12)
    cv2.fillPoly(img, [_quad(p, layout.road_left, layout.road_right, 0.3, far)], road)
    for x0, x1 in layout.sidewalks:
        cv2.fillPoly(img, [_quad(p, x0, x1, 0.3, far)], _colour(rng, (165, 168, 170), 12))
        for z in np.arange(1.0, 60.0, 1.5):  # paving joints
            cv2.polylines(img, [_quad(p, x0, x1, z, z + 0.02)], True, (140, 143, 146), 1)
    if layout.cross_street is not None:
        z0, z1 = layout.cross_street
        cv2.fillPoly(img, [_quad(p, -400.0, 400.0, z0, z1)], road)
        for z in (z0 + 0.1, z1 - 0.1):
            cv2.fillPoly(img, [_quad(p, -400.0, 400.0, z, z + 0.15)], (200, 200, 200))
    for x in (layout.road_left + 0.2, layout.road_right - LANE_WIDTH_M):
        cv2.fillPoly(img, [_quad(p, x, x + 0.15, 0.3, far)], (215, 215, 215))
    for i in range(1, len(layout.lanes)):
        x = layout.road_left + i * LANE_WIDTH_M
        yellow = layout.lanes[i][1] != layout.lanes[i - 1][1]
        for z in np.arange(0.5, layout.max_depth * 2, 9.0):
            zz = z if not yellow else z - 0.5
            cv2.fillPoly(img, [_quad(p, x - 0.07, x + 0.07, zz, zz + (9.0 if yellow else 3.0))],
                         (60, 200, 230) if yellow else (225, 225, 225))
    c0, c1 = layout.crossing_z
    for x in np.arange(layout.road_left + 0.3, layout.road_right - 0.3, 1.0):
        cv2.fillPoly(img, [_quad(p, x, x + 0.5, c0, c1)], (230, 230, 230))
    _draw_buildings(img, layout, rng)
    _draw_scenery(img, layout, rng)
    tex = _texture(rng, h, w, 7.0)
    out = np.clip(img.astype(np.float32) + tex, 0, 255).astype(np.uint8)
    return out


def _draw_buildings(img: np.ndarray, layout: Layout, rng: np.random.Generator) -> None:
    p = layout.proj
    sides = [(layout.sidewalks[0][0] - rng.uniform(2, 8), -1), (layout.sidewalks[1][1] + rng.uniform(2, 8), 1)]
    blocks = []
    for x_face, side in sides:
        z = rng.uniform(0.5, 1.0) * p.near_depth
        while z < layout.max_depth * 2.5:
            length = rng.uniform(8, 30)
            cs = layout.cross_street
            if cs is not None and z < cs[1] and z + length > cs[0]:
                z = cs[1] + 2.0
                continue
            if rng.random() < 0.85:
                blocks.append((z, x_face, side, length, rng.uniform(6, 25)))
            z += length + rng.uniform(0, 6)
    for z, x_face, side, length, height in sorted(blocks, key=lambda b: -b[0]):
        colour = _colour(rng, [(90, 110, 160), (150, 150, 150), (170, 190, 205), (110, 120, 130)][rng.integers(4)], 20)
        front_depth = 12.0
        x_back = x_face + side * front_depth
        end_face = np.array(p.project(np.array([x_face, x_back, x_back, x_face]), np.array([0, 0, height, height]),
                                      np.full(4, z))).T.round().astype(np.int32)
        cv2.fillPoly(img, [end_face], tuple(int(c * 0.75) for c in colour))
        cv2.fillPoly(img, [_facade(p, x_face, z, z + length, 0, height)], colour)
        win = _colour(rng, (80, 70, 60), 25)
        lit = rng.random() < 0.3
        for fy in np.arange(1.2, height - 1.5, 3.0):
            for wz in np.arange(z + 1.0, z + length - 1.5, 2.6):
                shade = (120, 200, 230) if lit and rng.random() < 0.3 else win
                cv2.fillPoly(img, [_facade(p, x_face, wz, wz + 1.3, fy, fy + 1.5)], shade)
        cv2.fillPoly(img, [_facade(p, x_face, z + length * 0.4, z + length * 0.4 + 1.6, 0, 2.3)], (50, 45, 40))


def _draw_scenery(img: np.ndarray, layout: Layout, rng: np.random.Generator) -> None:
    """Trees, street lights, signs, cones, bins and shadows: distractors, never annotated."""
    p = layout.proj
    for z, kind, x in sorted(_scenery_items(layout, rng), key=lambda it: -it[0]):
        s = p.scale(z)
        u, v = p.project(x, 0.0, z)
        draw = _SCENERY.get(kind)
        if draw is not None:
            draw(img, float(u), float(v), s, x, z, layout, rng)
        if kind in ("shadow", "tree", "lamp"):
            poly = _quad(p, x - 1.5, x + 2.5, z - 1.0, z + 2.0)
            shadow = img.copy()
            cv2.fillPoly(shadow, [poly], (0, 0, 0))
            cv2.addWeighted(img, 0.75, shadow, 0.25, 0, dst=img)


def _scenery_items(layout: Layout, rng: np.random.Generator) -> list[tuple[float, str, float]]:
    """Where the distractors stand: ``(depth Z m, kind, X m)`` — lamps and street furniture on the
    sidewalks, cones on the right lane, manholes on the road."""
    p = layout.proj
    items = []
    for side, (x0, x1) in zip((-1, 1), layout.sidewalks, strict=False):
        x_edge = x1 - 0.4 if side < 0 else x0 + 0.4
        for z in np.arange(rng.uniform(3, 12), layout.max_depth * 1.2, rng.uniform(18, 30)):
            items.append((z, "lamp", x_edge))
        for z in rng.uniform(0.6 * p.near_depth, layout.max_depth, int(rng.integers(3, 8))):
            kind = ["tree", "tree", "sign", "bin", "shadow", "bench"][rng.integers(6)]
            # trees stand beyond the sidewalk, the rest anywhere on it
            x = (x0 - 1.2 if side < 0 else x1 + 1.2) if kind == "tree" else rng.uniform(x0 + 0.3, x1 - 0.3)
            items.append((z, kind, x))
    for z in rng.uniform(p.near_depth, 0.6 * layout.max_depth, int(rng.integers(2, 6))):
        items.append((z, "cone", layout.road_right - LANE_WIDTH_M + rng.uniform(-0.5, 0.5)))
    for z in rng.uniform(p.near_depth, layout.max_depth * 0.5, int(rng.integers(2, 5))):
        items.append((z, "manhole", rng.uniform(layout.road_left + 1, layout.road_right - 1)))
    return items


# Each drawer gets the item's foot point (u, v) in canvas px, the scale s (px per metre at its depth), its
# X and Z (m), the layout and the generator (for the random parts).

def _draw_lamp(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
               rng: np.random.Generator) -> None:
    """A street light: pole, arm over the road, lit lamp."""
    top = v - 7.0 * s
    cv2.line(img, (int(u), int(v)), (int(u), int(top)), (70, 72, 75), max(1, int(0.15 * s)))
    arm = 1.5 * s * (1 if x < layout.road_left + 1 else -1)
    cv2.line(img, (int(u), int(top)), (int(u + arm), int(top)), (70, 72, 75), max(1, int(0.1 * s)))
    cv2.ellipse(img, (int(u + arm), int(top + 0.1 * s)), (max(1, int(0.3 * s)), max(1, int(0.1 * s))), 0, 0, 360,
                (200, 230, 240), -1)


def _draw_tree(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
               rng: np.random.Generator) -> None:
    """A trunk and a crown of five random discs."""
    cv2.line(img, (int(u), int(v)), (int(u), int(v - 3.0 * s)), (40, 60, 90), max(1, int(0.3 * s)))
    for _ in range(5):
        du, dv = rng.normal(0, 0.8 * s), rng.normal(-4.2 * s, 0.6 * s)
        cv2.circle(img, (int(u + du), int(v + dv)), max(1, int(rng.uniform(1.0, 1.8) * s)),
                   _colour(rng, (50, 120, 60), 25), -1)


def _draw_sign(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
               rng: np.random.Generator) -> None:
    """A post with a round (no entry) or square (information) sign."""
    cv2.line(img, (int(u), int(v)), (int(u), int(v - 2.6 * s)), (120, 120, 120), max(1, int(0.07 * s)))
    r = max(1, int(0.35 * s))
    if rng.random() < 0.5:
        cv2.circle(img, (int(u), int(v - 2.6 * s)), r, (40, 40, 210), -1)
        cv2.circle(img, (int(u), int(v - 2.6 * s)), max(1, r // 2), (240, 240, 240), -1)
    else:
        cv2.rectangle(img, (int(u - r), int(v - 2.6 * s - r)), (int(u + r), int(v - 2.6 * s + r)), (160, 90, 20),
                      -1)


def _draw_bin(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
              rng: np.random.Generator) -> None:
    """A litter bin."""
    cv2.rectangle(img, (int(u - 0.3 * s), int(v - 0.9 * s)), (int(u + 0.3 * s), int(v)),
                  _colour(rng, (50, 80, 50), 20), -1)


def _draw_bench(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
                rng: np.random.Generator) -> None:
    """A bench: seat and backrest."""
    cv2.rectangle(img, (int(u - 0.8 * s), int(v - 0.5 * s)), (int(u + 0.8 * s), int(v - 0.4 * s)), (40, 70, 110),
                  -1)
    cv2.rectangle(img, (int(u - 0.8 * s), int(v - 0.9 * s)), (int(u + 0.8 * s), int(v - 0.75 * s)), (40, 70, 110),
                  -1)


def _draw_cone(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
               rng: np.random.Generator) -> None:
    """A traffic cone with a white band."""
    pts = np.array([[u - 0.2 * s, v], [u + 0.2 * s, v], [u, v - 0.7 * s]]).round().astype(np.int32)
    cv2.fillPoly(img, [pts], (20, 110, 240))
    cv2.line(img, (int(u - 0.1 * s), int(v - 0.35 * s)), (int(u + 0.1 * s), int(v - 0.35 * s)), (240, 240, 240),
             max(1, int(0.06 * s)))


def _draw_manhole(img: np.ndarray, u: float, v: float, s: float, x: float, z: float, layout: Layout,
                  rng: np.random.Generator) -> None:
    """A manhole cover, foreshortened by the camera height."""
    cv2.ellipse(img, (int(u), int(v)), (max(1, int(0.35 * s)), max(1, int(0.35 * s * layout.proj.cam_h / max(z, 1)))),
                0, 0, 360, (55, 55, 58), -1)


_SCENERY = {"lamp": _draw_lamp, "tree": _draw_tree, "sign": _draw_sign, "bin": _draw_bin, "bench": _draw_bench,
            "cone": _draw_cone, "manhole": _draw_manhole}
"""Scenery kind → drawer; ``shadow`` draws only the ground shadow that trees and lamps also cast."""
