"""``paraloupe-bench motion`` — the motion detector's cost per frame and, on synthetic scenes, what it finds.

Run::

    paraloupe-bench motion [--frames-synthetic 300] [--seed 0]
    paraloupe-bench motion --video V [--frames A:B] [--resize 960x540] [--no-cmc]
    (either: [--min-side 192] [--config discovery.yaml] [--set KEY=VALUE ...] [--json OUT])

(or ``python -m runtime.bench.motion ...`` with the same options).

Synthetic (default): two 960×540 scenes of a textured background with 6 textured rectangles moving at
30–120 px/s (30 fps) in separate lanes, plus grey noise (σ = 2 levels): ``static`` (a still camera, no warp)
and ``pan`` (the camera pans 6 px right and 2 px down per frame, bouncing at the scene's edge; the exact
warp is passed, as a perfect camera-motion estimate would). With ``--video``: the video's frames resized to
``--resize``, each warp from :class:`runtime.tracker.CameraMotion` (timed apart, as ``cmc``: the tracker pays
for it anyway), or none with ``--no-cmc``.

Each frame runs ``MotionDetector.detect`` and ``motion_regions`` (regions of side >= ``--min-side``) on one
thread (``cv2.setNumThreads(1)``); scene drawing and decoding are not timed. Per row: median / p90 / p99 ms per
frame after 5 warm-up frames (motion + regions, and each alone; wall clock, and the thread's CPU time, which
other processes on a shared machine disturb less), boxes and regions per frame, the frames per
mode, and on the synthetic scenes ``recall`` (true boxes with a motion box of IoU >= 0.5, after warm-up),
``hit`` (true boxes whose centre lies in a motion box) and ``flagged`` (mean fraction of the frame covered by
motion boxes). Table on stderr, JSON on stdout (and in OUT).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from runtime.bench.common import add_config_args, add_scene_args, check_synthetic_frames, report
from runtime.config import load_section, to_mapping
from runtime.discovery import DiscoveryConfig, MotionDetector, motion_regions, warm_up
from runtime.errors import UserError, cli_entry, run_cli
from runtime.geometry import iou_matrix
from runtime.tracker import IDENTITY, CameraMotion
from runtime.video import iter_frames, parse_frames, parse_size

WARMUP_FRAMES = 5
SYNTH_SIZE = (960, 540)
PAN_STEP = (6, 2)  #: camera motion of the ``pan`` scene, px per frame (x, y)


@dataclasses.dataclass
class SynthFrame:
    """One synthetic frame: BGR image, the warp from the previous frame (2×3, px), the true moving boxes."""

    frame: np.ndarray
    warp: np.ndarray
    boxes: np.ndarray


def _texture(rng: np.random.Generator, w: int, h: int, cell: int, sigma: float) -> np.ndarray:
    small = rng.integers(0, 256, (max(h // cell, 2), max(w // cell, 2), 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), sigma)


def synthetic_frames(n: int, seed: int = 0, pan: bool = False, size: tuple[int, int] = SYNTH_SIZE,
                     objects: int = 6, noise: float = 2.0) -> Iterator[SynthFrame]:
    """The synthetic scene of the module docstring, frame by frame (deterministic for a seed).

    Objects move in their own horizontal lane (they never overlap), bouncing at the scene's edges; the true
    boxes are those fully inside the frame, [x, y, w, h] px. ``pan``: the camera moves by ``PAN_STEP``.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    pad = 120 if pan else 0
    sw, sh = w + 2 * pad, h + 2 * pad
    scene = _texture(rng, sw, sh, 6, 1.2)
    lane = sh / objects
    sides = np.column_stack([rng.uniform(40, 110, objects), rng.uniform(0.4, 0.7, objects) * lane])
    pos = np.column_stack([rng.uniform(0, sw - sides[:, 0]), np.arange(objects) * lane + (lane - sides[:, 1]) / 2])
    vel = rng.uniform(1.0, 4.0, objects) * rng.choice([-1.0, 1.0], objects)
    looks = [cv2.convertScaleAbs(_texture(rng, int(s[0]) + 1, int(s[1]) + 1, 8, 1.0), alpha=1.6, beta=-60)
             for s in sides]
    cam, step = np.array([pad, pad]), np.array(PAN_STEP if pan else (0, 0))
    for _ in range(n):
        prev_cam = cam.copy()
        if pan:
            step = np.where((cam + step < 0) | (cam + step > 2 * pad), -step, step)
            cam = cam + step
        pos[:, 0] += vel
        vel = np.where((pos[:, 0] < 0) | (pos[:, 0] > sw - sides[:, 0]), -vel, vel)
        pos[:, 0] = np.clip(pos[:, 0], 0, sw - sides[:, 0])
        canvas = scene.copy()
        for p, s, look in zip(pos, sides, looks, strict=True):
            x0, y0 = int(round(p[0])), int(round(p[1]))
            canvas[y0:y0 + int(s[1]), x0:x0 + int(s[0])] = look[:int(s[1]), :int(s[0])]
        frame = canvas[cam[1]:cam[1] + h, cam[0]:cam[0] + w]
        if noise > 0:
            frame = np.clip(frame + rng.normal(0.0, noise, (h, w, 1)), 0, 255).astype(np.uint8)
        boxes = np.column_stack([np.round(pos) - cam, sides.astype(int)]).astype(np.float64)
        inside = (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 0] + boxes[:, 2] <= w) & \
                 (boxes[:, 1] + boxes[:, 3] <= h)
        warp = IDENTITY.copy()
        warp[:, 2] = prev_cam - cam  # content moves against the camera
        yield SynthFrame(np.ascontiguousarray(frame), warp, boxes[inside])


@dataclasses.dataclass
class Row:
    """One benchmark row with its running figures."""

    name: str
    detector: MotionDetector
    min_side: int
    motion_ms: list[float] = dataclasses.field(default_factory=list)
    region_ms: list[float] = dataclasses.field(default_factory=list)
    cmc_ms: list[float] = dataclasses.field(default_factory=list)
    cpu_ms: list[float] = dataclasses.field(default_factory=list)
    boxes: int = 0
    regions: int = 0
    modes: dict[str, int] = dataclasses.field(default_factory=dict)
    truth: int = 0
    found: int = 0
    hits: int = 0
    flagged: list[float] = dataclasses.field(default_factory=list)

    def step(self, frame: np.ndarray, warp: np.ndarray | None, truth: np.ndarray | None) -> None:
        """Time one frame (motion + regions) and score it against ``truth`` boxes when given."""
        h, w = frame.shape[:2]
        c0, t0 = time.thread_time(), time.perf_counter()
        boxes = self.detector.detect(frame, warp)
        t1 = time.perf_counter()
        rects = motion_regions(boxes, w, h, self.min_side, self.detector.cfg)
        t2, c2 = time.perf_counter(), time.thread_time()
        self.cpu_ms.append((c2 - c0) * 1000.0)
        self.motion_ms.append((t1 - t0) * 1000.0)
        self.region_ms.append((t2 - t1) * 1000.0)
        self.boxes += len(boxes)
        self.regions += len(rects)
        self.modes[self.detector.mode] = self.modes.get(self.detector.mode, 0) + 1
        if truth is None or len(self.motion_ms) <= WARMUP_FRAMES:
            return
        mask = np.zeros((h, w), bool)
        for x, y, bw, bh in boxes.astype(int):
            mask[y:y + bh, x:x + bw] = True
        self.flagged.append(float(mask.mean()))
        self.truth += len(truth)
        if len(truth) and len(boxes):
            self.found += int((iou_matrix(truth, boxes).max(axis=1) >= 0.5).sum())
            cx = (truth[:, 0] + truth[:, 2] / 2).astype(int).clip(0, w - 1)
            cy = (truth[:, 1] + truth[:, 3] / 2).astype(int).clip(0, h - 1)
            self.hits += int(mask[cy, cx].sum())

    def summary(self, frames: int) -> dict[str, Any]:
        def stats(values: list[float]) -> np.ndarray:
            return np.array(values[WARMUP_FRAMES:] or values or [0.0])

        mot, reg, cpu = stats(self.motion_ms), stats(self.region_ms), stats(self.cpu_ms)
        tot = mot + reg
        out: dict[str, Any] = {
            "row": self.name, "ms_median": float(np.median(tot)), "ms_p90": float(np.percentile(tot, 90)),
            "ms_p99": float(np.percentile(tot, 99)), "motion_ms_median": float(np.median(mot)),
            "motion_ms_p90": float(np.percentile(mot, 90)), "regions_ms_median": float(np.median(reg)),
            "regions_ms_p90": float(np.percentile(reg, 90)), "cpu_ms_median": float(np.median(cpu)),
            "cpu_ms_p90": float(np.percentile(cpu, 90)), "boxes_per_frame": self.boxes / max(frames, 1),
            "regions_per_frame": self.regions / max(frames, 1), "modes": dict(sorted(self.modes.items()))}
        if self.cmc_ms:
            out["cmc_ms_median"] = float(np.median(stats(self.cmc_ms)))
        if self.truth:
            out["recall"] = self.found / self.truth
            out["hit"] = self.hits / self.truth
            out["flagged"] = float(np.mean(self.flagged))
        return out


def run_synthetic(cfg: DiscoveryConfig, n: int, seed: int, min_side: int) -> list[dict[str, Any]]:
    """The ``static`` and ``pan`` rows on ``n`` synthetic frames each."""
    rows = []
    for name, pan in (("static", False), ("pan", True)):
        row = Row(name, MotionDetector(cfg), min_side)
        for f in synthetic_frames(n, seed, pan=pan):
            row.step(f.frame, f.warp if pan else None, f.boxes)
        rows.append(row.summary(n))
    return rows


def run_video(cfg: DiscoveryConfig, video: str, frames: range | None, resize: tuple[int, int] | None,
              cmc: bool, min_side: int) -> tuple[list[dict[str, Any]], int, tuple[int, int]]:
    """One row over the video's frames; returns the rows, the frame count and the frame size (W, H)."""
    row = Row("video" if cmc else "video-no-cmc", MotionDetector(cfg), min_side)
    motion = CameraMotion() if cmc else None
    n, size = 0, (0, 0)
    for _, frame in iter_frames(video, frames):
        if resize is not None:
            frame = cv2.resize(frame, resize, interpolation=cv2.INTER_AREA)
        size = (frame.shape[1], frame.shape[0])
        warp = None
        if motion is not None:
            t0 = time.perf_counter()
            warp = motion.estimate(frame)
            row.cmc_ms.append((time.perf_counter() - t0) * 1000.0)
        row.step(frame, warp, None)
        n += 1
    if n == 0:
        raise UserError(f"{video}: no frames")
    return [row.summary(n)], n, size


def format_table(result: dict[str, Any]) -> str:
    """The results as a fixed-width text table."""
    head = (f"{'row':<13} {'ms med':>7} {'ms p90':>7} {'ms p99':>7} {'mot med':>7} {'reg med':>7} {'cpu med':>7} "
            f"{'cpu p90':>7} {'box/f':>6} "
            f"{'reg/f':>6} {'recall':>6} {'hit':>6} {'flag':>6}")
    lines = [f"# {result['source']}: {result['frames']} frames {result['frame_size'][0]}x{result['frame_size'][1]} "
             f"on {result['machine']}, one thread", head, "-" * len(head)]

    def opt(r: dict[str, Any], key: str) -> str:
        return f"{r[key]:>6.3f}" if key in r else f"{'-':>6}"

    for r in result["rows"]:
        lines.append(f"{r['row']:<13} {r['ms_median']:>7.2f} {r['ms_p90']:>7.2f} {r['ms_p99']:>7.2f} "
                     f"{r['motion_ms_median']:>7.2f} {r['regions_ms_median']:>7.2f} {r['cpu_ms_median']:>7.2f} "
                     f"{r['cpu_ms_p90']:>7.2f} {r['boxes_per_frame']:>6.2f} "
                     f"{r['regions_per_frame']:>6.2f} {opt(r, 'recall')} {opt(r, 'hit')} {opt(r, 'flagged')}")
    return "\n".join(lines)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-bench motion", description=__doc__.split("\n\n")[0])
    add_scene_args(parser, "input video (default: the synthetic scenes)",
                   "resize video frames to WxH (default 960x540)", "synthetic frames per scene (default 300)",
                   "seed of the synthetic scenes (default 0)")
    parser.add_argument("--no-cmc", action="store_true", help="video: pass no warp (a camera known to be still)")
    parser.add_argument("--min-side", type=int, default=192, help="least region side, px (default 192)")
    add_config_args(parser, "discovery")
    args = parser.parse_args(argv)
    cfg = load_section(DiscoveryConfig, args.config, "discovery", args.set)
    if args.min_side < 1:
        raise UserError(f"--min-side must be >= 1, got {args.min_side}")
    cv2.setNumThreads(1)
    warm_up()
    if args.video:
        rows, n, size = run_video(cfg, args.video, parse_frames(args.frames), parse_size(args.resize, "--resize"),
                                  not args.no_cmc, args.min_side)
        source = str(args.video)
    else:
        check_synthetic_frames(args.frames_synthetic, WARMUP_FRAMES)
        n, size = args.frames_synthetic, SYNTH_SIZE
        rows = run_synthetic(cfg, n, args.seed, args.min_side)
        source = f"synthetic seed {args.seed}"
    result = {"source": source, "frames": n, "frame_size": list(size), "threads": 1, "min_side": args.min_side,
              "machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'})",
              "config": to_mapping(cfg), "rows": rows}
    report(result, format_table(result), args.json)
    return 0


if __name__ == "__main__":
    run_cli(main)
