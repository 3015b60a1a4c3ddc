"""Generate a synthetic street video with exact ground truth (frames in memory, or written to disk).

``World(spec, scene).frames()`` yields ``(index, frame BGR uint8, FrameAnnotations)``; ``write_world`` writes
``video.mp4`` + ``annotations.json`` (COCO: image id = frame index, categories 1 person, 2 vehicle),
``keypoints.json`` (COCO keypoints of the persons, :mod:`factory.world.keypoints`) and optionally
``preview.png``. Everything is deterministic per seed: same seed → identical annotations and
identical frames before encoding.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from factory.world.actors import Population
from factory.world.camera import CameraPath, canvas_size
from factory.world.config import SceneConfig, VideoSpec
from factory.world.keypoints import FILE as KEYPOINTS_FILE
from factory.world.keypoints import frame_keypoints, write_keypoints
from factory.world.layout import Layout, make_layout, render_background
from factory.world.render import Look, ObjectBox, composite
from factory.world.sprites import Sprite, draw_person, draw_vehicle
from runtime.atomic import atomic_path
from runtime.coco import FrameAnnotations, VideoAnnotations, write_coco
from runtime.config import to_mapping
from runtime.errors import UserError

CATEGORIES = ["person", "vehicle"]
CATEGORY_IDS = {"person": 1, "vehicle": 2}


class World:
    """A running world for one :class:`VideoSpec`: layout, background, actors, camera path and look."""

    def __init__(self, spec: VideoSpec, scene: SceneConfig) -> None:
        spec.validate()
        self.spec, self.scene = spec, scene
        self.moving = spec.camera == "moving"
        self.canvas_w, self.canvas_h = canvas_size(spec.width, spec.height, self.moving, scene.pan_px)
        rng = np.random.default_rng([spec.seed, 7])
        self.camera = CameraPath(spec.width, spec.height, self.canvas_w, self.canvas_h, self.moving,
                                 scene.zoom_range, scene.pan_px,
                                 tuple(rng.uniform(9, 25, 3)), tuple(rng.uniform(0, 6.28, 3)))  # type: ignore[arg-type]
        self.look = Look.random(rng, spec.width, spec.height, scene.brightness, scene.noise_sigma, scene.blur_sigma)
        self.label_map = np.zeros((spec.height, spec.width), np.uint16)
        self._next_id = 1
        self.keypoints: list[dict[str, Any]] = []  # the last frame's person keypoints (factory.world.keypoints)
        self._use_layout(0)

    def _use_layout(self, index: int) -> None:
        rng = np.random.default_rng([self.spec.seed, index, 1])
        self.layout: Layout = make_layout(rng, self.scene, self.canvas_w, self.canvas_h, self.moving)
        self.background = render_background(self.layout, rng)
        self.look.tone(self.background)
        actor_rng = np.random.default_rng([self.spec.seed, index, 2])
        self.population = Population(self.layout, self.scene, actor_rng, first_id=self._next_id)

    def _to_frame(self, matrix: np.ndarray):  # noqa: ANN202 - a closure (world m → frame px)
        proj, kx, ky, bx, by = self.layout.proj, matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]

        def to_frame(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            u, v = proj.project(x, y, z)
            return kx * u + bx, ky * v + by

        return to_frame

    def render(self, index: int) -> tuple[np.ndarray, list[ObjectBox], list[bool]]:
        """Render frame ``index`` of the current state: final frame, visible boxes and their crowd flags."""
        spec = self.spec
        t = index / spec.fps
        matrix = self.camera.affine(t)
        if self.moving:
            x0, y0, w, h = self.camera.crop(t)
            frame = cv2.resize(self.background[y0:y0 + h, x0:x0 + w], (spec.width, spec.height),
                               interpolation=cv2.INTER_LINEAR)
        else:
            frame = self.background.copy()
        to_frame = self._to_frame(matrix)
        sprites: list[Sprite] = []
        actors = sorted(self.population.actors, key=_near_depth, reverse=True)
        for a in actors:
            sp = (draw_person(a, to_frame, spec.width, spec.height, self.look.colour) if a.kind == "person"
                  else draw_vehicle(a, to_frame, self.layout.proj.cam_h, spec.width, spec.height, self.look.colour))
            if sp is not None:
                sprites.append(sp)
        boxes, crowd = composite(frame, sprites, self.label_map, self.scene.min_box_area_px, self.scene.crowd_occlusion,
                                 self.scene.shadows)
        return self.look.apply(frame, index), boxes, crowd

    def frames(self) -> Iterator[tuple[int, np.ndarray, FrameAnnotations]]:
        """Yield every frame with its annotations, advancing the world by 1/fps between frames; the frame's
        person keypoints are in :attr:`keypoints` while it is current."""
        dt = 1.0 / self.spec.fps
        for index in range(self.spec.frames):
            if index and index == self.spec.switch_layout_at:
                self._next_id = self.population.next_id
                self._use_layout(1)
            elif index:
                self.population.step(dt)
            frame, boxes, crowd = self.render(index)
            self.keypoints = frame_keypoints(index, boxes, crowd)
            yield index, frame, _annotations(boxes, crowd)


def _near_depth(a: Any) -> float:
    if a.kind == "person":
        return a.z
    return a.z - (a.size[2] / 2 if a.axis == "z" else a.size[0] / 2)


def _annotations(boxes: list[ObjectBox], crowd: list[bool]) -> FrameAnnotations:
    if not boxes:
        return FrameAnnotations()
    return FrameAnnotations(np.array([b.box for b in boxes], dtype=np.float64), [b.label for b in boxes],
                            np.array(crowd, dtype=bool), np.array([b.track_id for b in boxes], dtype=np.int64),
                            np.array([b.occluded for b in boxes]), np.ones(len(boxes)))


def draw_boxes(frame: np.ndarray, ann: FrameAnnotations, thickness: int = 1) -> np.ndarray:
    """A copy of ``frame`` with ground-truth boxes: person green, vehicle orange, crowd/ignored grey."""
    out = frame.copy()
    for box, label, crowd in zip(ann.boxes, ann.labels, ann.iscrowd, strict=False):
        x, y, w, h = (int(round(v)) for v in box)
        colour = (160, 160, 160) if crowd else ((60, 220, 60) if label == "person" else (0, 140, 255))
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), colour, thickness)
    return out


def contact_sheet(tiles: list[np.ndarray], columns: int = 4, tile_width: int = 480) -> np.ndarray:
    """Tiles (BGR) resized to ``tile_width`` and laid out in a grid."""
    h, w = tiles[0].shape[:2]
    th = int(round(h * tile_width / w))
    resized = [cv2.resize(t, (tile_width, th), interpolation=cv2.INTER_AREA) for t in tiles]
    while len(resized) % columns:
        resized.append(np.zeros_like(resized[0]))
    rows = [np.hstack(resized[i:i + columns]) for i in range(0, len(resized), columns)]
    return np.vstack(rows)


def write_world(out_dir: str | Path, spec: VideoSpec, scene: SceneConfig, preview: bool = False) -> dict[str, Any]:
    """Write ``video.mp4`` and ``annotations.json`` (and ``preview.png``) into ``out_dir``; returns statistics.

    The video, preview and keypoints are written under temporary names and renamed when complete; the
    annotations file comes last, so a directory with ``annotations.json`` is complete.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = World(spec, scene)
    frames: dict[int, FrameAnnotations] = {}
    keypoints: dict[int, list[dict[str, Any]]] = {}
    keep = set(np.linspace(0, spec.frames - 1, min(12, spec.frames)).round().astype(int).tolist()) if preview else set()
    tiles = []
    render_s = 0.0
    start = time.perf_counter()
    with atomic_path(out_dir / "video.mp4") as tmp_video:
        writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*scene.codec), spec.fps,
                                 (spec.width, spec.height))
        if not writer.isOpened():
            raise UserError(f"{out_dir / 'video.mp4'}: OpenCV cannot write codec {scene.codec!r}")
        try:
            t0 = time.perf_counter()
            for index, frame, ann in world.frames():
                render_s += time.perf_counter() - t0
                frames[index] = ann
                keypoints[index] = world.keypoints
                writer.write(frame)
                if index in keep:
                    tiles.append(draw_boxes(frame, ann))
                t0 = time.perf_counter()
        finally:
            writer.release()
    total_s = time.perf_counter() - start
    if preview:
        with atomic_path(out_dir / "preview.png") as tmp_png:
            cv2.imwrite(str(tmp_png), contact_sheet(tiles))
    info = {"generator": "paraloupe-world", "spec": asdict(spec), "scene": to_mapping(scene)}
    video = VideoAnnotations(CATEGORIES, frames, spec.width, spec.height, info, dict(CATEGORY_IDS))
    write_keypoints(out_dir / KEYPOINTS_FILE, keypoints, spec.width, spec.height, info)
    write_coco(out_dir / "annotations.json", video)
    stats = video_statistics(video)
    stats.update({"render_fps": spec.frames / max(render_s, 1e-9), "total_fps": spec.frames / max(total_s, 1e-9),
                  "seconds": total_s})
    return stats


def video_statistics(video: VideoAnnotations) -> dict[str, Any]:
    """Objects per frame, object area range (% of the frame) and class counts of an annotated video."""
    area = float(video.width * video.height)
    counts, areas, crowd, per_class = [], [], 0, {c: 0 for c in video.categories}
    for fa in video.frames.values():
        normal = ~fa.iscrowd
        counts.append(int(normal.sum()))
        crowd += int(fa.iscrowd.sum())
        areas.extend((fa.boxes[normal, 2] * fa.boxes[normal, 3] / area * 100).tolist())
        for lab, n in zip(fa.labels, normal, strict=False):
            per_class[lab] += int(n)
    a = np.array(areas) if areas else np.zeros(1)
    return {"frames": len(video.frames), "objects_per_frame": float(np.mean(counts)) if counts else 0.0,
            "area_pct_min": float(a.min()), "area_pct_p05": float(np.percentile(a, 5)),
            "area_pct_median": float(np.median(a)), "area_pct_p95": float(np.percentile(a, 95)),
            "area_pct_max": float(a.max()), "share_below_0.1pct": float((a < 0.1).mean()),
            "crowd_boxes": crowd, "boxes_per_class": per_class}
