"""Moving actors: people on sidewalks and crossings, vehicles in lanes and on the cross street, parked cars.

Positions are on the ground plane in metres (X right, Z forward); speeds in m/s; time steps in seconds.
Actors spawn at the far end (tiny, near the horizon), at the near edge (entering from below), or from the
sides on the cross street, so objects enter and leave the frame; some pause now and then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from factory.world.config import SceneConfig
from factory.world.layout import LANE_WIDTH_M, Layout

# kind: (width, height, length) in metres
VEHICLE_SIZES = {"car": (1.8, 1.5, 4.4), "van": (2.0, 2.2, 5.2), "bus": (2.55, 3.2, 12.0), "truck": (2.5, 3.5, 8.5)}
VEHICLE_MIX = (("car", 0.6), ("van", 0.2), ("bus", 0.08), ("truck", 0.12))
VEHICLE_COLOURS = [(40, 40, 200), (200, 200, 200), (30, 30, 30), (160, 80, 20), (40, 140, 40), (230, 230, 230),
                   (20, 160, 230), (120, 120, 120), (60, 40, 120), (10, 80, 160)]


@dataclass
class Actor:
    """One object in the world. ``axis`` is the direction of travel ('z' along the road, 'x' across it)."""

    track_id: int
    kind: str  # person, car, van, bus, truck
    x: float
    z: float
    axis: str
    direction: int
    speed: float
    cruise: float
    size: tuple[float, float, float]  # width, height, length (m)
    colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    parked: bool = False
    pause_s: float = 0.0
    phase: float = 0.0
    crossing_to: float | None = None

    @property
    def label(self) -> str:
        return "person" if self.kind == "person" else "vehicle"


class Population:
    """Keeps the scene populated: spawns, moves and retires actors, deterministically per generator."""

    def __init__(self, layout: Layout, cfg: SceneConfig, rng: np.random.Generator, first_id: int = 1) -> None:
        self.layout, self.cfg, self.rng = layout, cfg, rng
        self.actors: list[Actor] = []
        self.next_id = first_id
        for _ in range(cfg.parked):
            self._spawn_parked()
        for _ in range(cfg.persons):
            self._spawn_person(initial=True)
        for _ in range(cfg.vehicles):
            self._spawn_vehicle(initial=True)

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _vehicle_kind(self) -> str:
        names, weights = zip(*VEHICLE_MIX, strict=False)
        return str(self.rng.choice(names, p=np.array(weights) / sum(weights)))

    def _vehicle_colours(self) -> dict[str, tuple[int, int, int]]:
        base = VEHICLE_COLOURS[self.rng.integers(len(VEHICLE_COLOURS))]
        jitter = self.rng.integers(-20, 21, 3)
        return {"body": tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter, strict=False))}  # type: ignore[dict-item]

    def _person_colours(self) -> dict[str, tuple[int, int, int]]:
        r = self.rng
        skin = [(60, 90, 140), (90, 130, 190), (120, 165, 215), (50, 70, 100)][r.integers(4)]
        return {"skin": skin, "shirt": tuple(int(v) for v in r.integers(20, 236, 3)),
                "legs": tuple(int(v) for v in r.integers(15, 140, 3)),
                "hair": [(20, 20, 20), (30, 50, 90), (120, 140, 170), (60, 60, 60)][r.integers(4)]}

    def _depth(self, initial: bool, toward: bool) -> float:
        lay = self.layout
        if initial:
            return float(self.rng.uniform(lay.min_depth, lay.max_depth))
        if toward:
            return lay.max_depth * float(self.rng.uniform(0.85, 1.0))
        return lay.min_depth * float(self.rng.uniform(0.8, 1.0))

    def _spawn_parked(self) -> None:
        kind = "car" if self.rng.random() < 0.75 else "van"
        z = float(self.rng.uniform(self.layout.proj.near_depth * 0.9, self.layout.max_depth * 0.5))
        if any(a.parked and abs(a.z - z) < 7 for a in self.actors):
            return
        self.actors.append(Actor(self._new_id(), kind, self.layout.parking_x + float(self.rng.uniform(-0.3, 0.3)), z,
                                 "z", int(self.rng.choice([-1, 1])), 0.0, 0.0, VEHICLE_SIZES[kind],
                                 self._vehicle_colours(), parked=True))

    def _spawn_person(self, initial: bool = False) -> None:
        r, lay, cfg = self.rng, self.layout, self.cfg
        speed = float(r.uniform(*cfg.person_speed_mps))
        size = (float(r.uniform(0.42, 0.55)), float(r.uniform(1.55, 1.92)), 0.3)
        if r.random() < cfg.crossing_share:
            c0, c1 = lay.crossing_z if (lay.cross_street is None or r.random() < 0.6) else lay.cross_street
            z = float(r.uniform(c0 + 0.5, c1 - 0.5))
            left, right = lay.sidewalks[0][0] + 1.0, lay.sidewalks[1][1] - 1.0
            start, goal = (left, right) if r.random() < 0.5 else (right, left)
            x = float(r.uniform(left, right)) if initial else start
            direction = 1 if goal > x else -1
            self.actors.append(Actor(self._new_id(), "person", x, z, "x", direction, speed, speed, size,
                                     self._person_colours(), phase=float(r.uniform(0, 6.3)), crossing_to=goal))
            return
        toward = r.random() < 0.5
        x0, x1 = lay.sidewalks[int(r.integers(2))]
        self.actors.append(Actor(self._new_id(), "person", float(r.uniform(x0 + 0.3, x1 - 0.3)),
                                 self._depth(initial, toward), "z", -1 if toward else 1, speed, speed, size,
                                 self._person_colours(), phase=float(r.uniform(0, 6.3))))

    def _spawn_vehicle(self, initial: bool = False) -> None:
        r, lay, cfg = self.rng, self.layout, self.cfg
        kind = self._vehicle_kind()
        speed = float(r.uniform(*cfg.vehicle_speed_mps))
        if lay.cross_street is not None and r.random() < 0.3:
            z0, z1 = lay.cross_street
            direction = 1 if r.random() < 0.5 else -1
            z = (z0 + z1) / 2 + (-1.8 if direction > 0 else 1.8)
            lo, hi = lay.proj.x_range_at(z, margin_px=50)
            length = VEHICLE_SIZES[kind][2]
            x = float(r.uniform(lo, hi)) if initial else (lo - length if direction > 0 else hi)
            self.actors.append(Actor(self._new_id(), kind, x, z, "x", direction, speed, speed, VEHICLE_SIZES[kind],
                                     self._vehicle_colours()))
            return
        lane_x, direction = lay.lanes[int(r.integers(len(lay.lanes)))]
        z = self._depth(initial, toward=direction < 0)
        if any(not a.parked and a.axis == "z" and abs(a.x - lane_x) < 1 and abs(a.z - z) < 12 for a in self.actors
               if a.kind != "person"):
            return
        self.actors.append(Actor(self._new_id(), kind, lane_x + float(r.uniform(-0.3, 0.3)), z, "z", direction, speed,
                                 speed, VEHICLE_SIZES[kind], self._vehicle_colours()))

    def step(self, dt: float) -> None:
        """Advance every actor by ``dt`` seconds, retire those gone, spawn replacements."""
        cfg, r = self.cfg, self.rng
        keep = []
        for a in self.actors:
            if a.parked:
                keep.append(a)
                continue
            if a.pause_s > 0:
                a.pause_s -= dt
                target = 0.0
            else:
                if r.random() < cfg.stop_rate_per_s * dt:
                    a.pause_s = float(r.uniform(1.0, 4.0))
                target = a.cruise if a.pause_s <= 0 else 0.0
                if a.kind != "person" and self._blocked(a):
                    target = 0.0
            accel = 1.5 if a.kind == "person" else 3.0
            a.speed += float(np.clip(target - a.speed, -accel * dt * 2, accel * dt))
            step = a.speed * dt * a.direction
            if a.axis == "z":
                a.z += step
            else:
                a.x += step
            if a.kind == "person":
                a.phase += abs(step) / 0.7 * np.pi
                if a.crossing_to is not None and (a.x - a.crossing_to) * a.direction >= 0:
                    a.axis, a.crossing_to = "z", None
                    a.direction = 1 if r.random() < 0.5 else -1
            if self._alive(a):
                keep.append(a)
        self.actors = keep
        persons = sum(a.kind == "person" for a in keep)
        vehicles = sum(a.kind != "person" and not a.parked for a in keep)
        if persons < cfg.persons and r.random() < 0.5:
            self._spawn_person()
        if vehicles < cfg.vehicles and r.random() < 0.3:
            self._spawn_vehicle()

    def _blocked(self, a: Actor) -> bool:
        """True when another vehicle is just ahead in the same lane (keep a gap of 4 m)."""
        for b in self.actors:
            if b is a or b.kind == "person" or b.axis != a.axis:
                continue
            if a.axis == "z" and abs(b.x - a.x) < LANE_WIDTH_M / 2:
                ahead = (b.z - a.z) * a.direction
                if 0 < ahead < (a.size[2] if a.direction > 0 else b.size[2]) + 4.0:
                    return True
            if a.axis == "x" and abs(b.z - a.z) < 1.0:
                ahead = (b.x - a.x) * a.direction
                if 0 < ahead < (a.size[2] if a.direction > 0 else b.size[2]) + 4.0:
                    return True
        return False

    def _alive(self, a: Actor) -> bool:
        lay = self.layout
        if a.axis == "z":
            return lay.min_depth * 0.7 < a.z < lay.max_depth * 1.05
        lo, hi = lay.proj.x_range_at(a.z, margin_px=80)
        return lo - a.size[2] - 1 < a.x < hi + 1
