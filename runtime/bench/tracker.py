"""``paraloupe-bench tracker`` — the tracker's cost per frame (camera motion + association + Kalman) and, on a
synthetic panning scene with known identities, its id switches with and without camera-motion compensation.

Run::

    paraloupe-bench tracker [--frames-synthetic 300] [--seed 0]
    paraloupe-bench tracker --video V --gt GT.json [--frames A:B] [--resize 960x540]
    (either: [--config tracker.yaml] [--set KEY=VALUE ...] [--json OUT])

Synthetic (default): a 960×540 view of a textured scene panned by a smooth sweep plus hand-shake jitter
(up to ~15 px per frame), 8 solid boxes moving at up to 60 px/s, 30 fps. Detections: the true boxes plus noise
(2 % of the side), 10 % missed, 15 % with a low score (0.15–0.5), one false positive every third frame.
With ``--video``, the detections are the ground truth / teacher boxes of each frame with their scores
(class = category index), frames and boxes resized to ``--resize``.

Each frame runs ``CameraMotion.estimate`` (when ``camera_motion`` is on), ``Tracker.update`` and
``Tracker.predict`` for the next frame — one thread (``cv2.setNumThreads(1)``), frame decoding and scene
drawing not timed. Rows: ``cmc`` (the configured tracker, compensation on) and ``no-cmc`` (the same without
it). Per row: median / p90 / p99 ms per frame after 5 warm-up frames (total, and camera motion alone),
confirmed tracks per frame, and on the synthetic scene ``id_switches`` (a true object reported under a
different id than the last time it was reported, at most ``max_lost_s`` earlier), ``reentries`` (the same
after a longer gap: the object left the view, a new id is expected) and ``reported`` (fraction of detected
object-frames that came out under a confirmed track). Table on stderr, JSON on stdout (and in OUT).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from runtime.bench.common import add_config_args, add_scene_args, check_synthetic_frames, report
from runtime.coco import load_coco
from runtime.config import load_section, to_mapping
from runtime.errors import UserError, cli_entry, run_cli
from runtime.timing import Stopwatch
from runtime.tracker import CameraMotion, Tracker, TrackerConfig
from runtime.video import iter_frames, parse_frames, parse_size, video_info

WARMUP_FRAMES = 5
SYNTH_SIZE = (960, 540)
SYNTH_FPS = 30.0

#: One frame of a benchmark: (video time s, BGR frame, boxes (m, 4) px, scores, labels, true object id or -1)
Frame = tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def synthetic_frames(n: int, seed: int = 0, size: tuple[int, int] = SYNTH_SIZE, objects: int = 8) -> Iterator[Frame]:
    """The synthetic panning scene of the module docstring, frame by frame (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    w, h = size
    pad = 160
    small = rng.integers(0, 256, ((h + 2 * pad) // 6, (w + 2 * pad) // 6, 3), dtype=np.uint8)
    scene = cv2.GaussianBlur(cv2.resize(small, (w + 2 * pad, h + 2 * pad), interpolation=cv2.INTER_CUBIC), (0, 0), 1.2)
    sides = rng.uniform(30, 120, (objects, 1)) * np.array([[0.5, 1.0]])
    pos = rng.uniform([pad, pad], [w + pad - 130, h + pad - 130], (objects, 2))
    vel = rng.uniform(-60, 60, (objects, 2))
    colours = rng.integers(0, 256, (objects, 3))
    jitter = np.zeros(2)
    for k in range(n):
        t = k / SYNTH_FPS
        jitter = 0.8 * jitter + rng.normal(0, 5.0, 2)
        cam = np.array([pad + 0.8 * pad * math.sin(t), pad + 0.5 * pad * math.sin(t / 1.5)]) + jitter
        cam = np.clip(cam, 0, 2 * pad)
        ox, oy = int(round(cam[0])), int(round(cam[1]))
        frame = scene[oy:oy + h, ox:ox + w].copy()
        pos += vel / SYNTH_FPS
        low, high = np.array([0, 0]), np.array([w + 2 * pad, h + 2 * pad]) - sides
        vel = np.where((pos < low) | (pos > high), -vel, vel)
        pos = np.clip(pos, low, high)
        boxes = np.concatenate([pos - [ox, oy], sides], axis=1)
        for b, c in zip(boxes, colours, strict=True):
            x0, y0 = int(max(b[0], 0)), int(max(b[1], 0))
            x1, y1 = int(min(b[0] + b[2], w)), int(min(b[1] + b[3], h))
            if x1 > x0 and y1 > y0:
                frame[y0:y1, x0:x1] = c
        visible = (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 0] + boxes[:, 2] <= w) & \
                  (boxes[:, 1] + boxes[:, 3] <= h) & (rng.random(objects) >= 0.1)
        ids = np.flatnonzero(visible)
        det = boxes[ids] + rng.normal(0, 0.02, (len(ids), 4)) * boxes[ids][:, [2, 3, 2, 3]]
        scores = np.where(rng.random(len(ids)) < 0.15, rng.uniform(0.15, 0.5, len(ids)), rng.uniform(0.7, 0.95,
                                                                                                      len(ids)))
        if k % 3 == 0:
            fw, fh = rng.uniform(20, 80), rng.uniform(20, 80)
            det = np.vstack([det, [rng.uniform(0, w - fw), rng.uniform(0, h - fh), fw, fh]])
            scores = np.append(scores, rng.uniform(0.1, 0.6))
            ids = np.append(ids, -1)
        yield t, frame, det, scores, np.zeros(len(ids), dtype=np.int64), ids.astype(np.int64)


def video_frames(video: str, gt_path: str, frames: range | None, resize: tuple[int, int] | None) -> Iterator[Frame]:
    """Frames of ``video`` with the boxes of ``gt_path`` (COCO) as detections, resized to ``resize`` (W, H)."""
    gt = load_coco(gt_path)
    _, _, fps = video_info(video)
    fps = fps if fps > 0 else 30.0
    for index, frame in iter_frames(video, frames):
        sx = sy = 1.0
        if resize is not None:
            sx, sy = resize[0] / frame.shape[1], resize[1] / frame.shape[0]
            frame = cv2.resize(frame, resize, interpolation=cv2.INTER_AREA)
        ann = gt.frames.get(index)
        if ann is None or len(ann) == 0:
            boxes, scores, labels = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
        else:
            boxes = ann.boxes.astype(np.float64) * [sx, sy, sx, sy]
            scores = ann.scores.astype(np.float64)
            labels = np.array([gt.categories.index(lab) for lab in ann.labels], dtype=np.int64)
        yield index / fps, frame, boxes, scores, labels, np.full(len(boxes), -1, dtype=np.int64)


@dataclasses.dataclass
class Row:
    """One tracker configuration with its running figures."""

    name: str
    tracker: Tracker
    motion: CameraMotion | None
    total_ms: list[float] = dataclasses.field(default_factory=list)
    cmc_ms: list[float] = dataclasses.field(default_factory=list)
    reported: int = 0
    truth: int = 0
    tracks: int = 0
    switches: int = 0
    reentries: int = 0
    last_seen: dict[int, tuple[int, float]] = dataclasses.field(default_factory=dict)

    def step(self, frame: Frame, dt_next: float) -> None:
        """Time one frame (camera motion + update + next-frame prediction) and count ids."""
        t, image, boxes, scores, labels, truth = frame
        total = Stopwatch()
        with Stopwatch() as cmc:
            warp = self.motion.estimate(image) if self.motion is not None else None
        out = self.tracker.update(t, boxes, scores, labels, warp=warp)
        self.tracker.predict(t + dt_next)
        self.total_ms.append(total.ms)
        self.cmc_ms.append(cmc.ms)
        self.tracks += len(out)
        self.truth += int((truth >= 0).sum())
        for tid, d in zip(out.ids.tolist(), out.det_index.tolist(), strict=True):
            obj = int(truth[d])
            if obj < 0:
                continue
            self.reported += 1
            last_tid, last_t = self.last_seen.get(obj, (tid, t))
            if last_tid != tid:
                if t - last_t <= self.tracker.cfg.max_lost_s:
                    self.switches += 1
                else:
                    self.reentries += 1
            self.last_seen[obj] = (tid, t)

    def summary(self, frames: int, known_ids: bool) -> dict[str, Any]:
        tot = np.array(self.total_ms[WARMUP_FRAMES:] or self.total_ms or [0.0])
        cmc = np.array(self.cmc_ms[WARMUP_FRAMES:] or self.cmc_ms or [0.0])
        out: dict[str, Any] = {
            "row": self.name, "ms_median": float(np.median(tot)), "ms_p90": float(np.percentile(tot, 90)),
            "ms_p99": float(np.percentile(tot, 99)), "cmc_ms_median": float(np.median(cmc)),
            "cmc_ms_p90": float(np.percentile(cmc, 90)), "tracks_per_frame": self.tracks / max(frames, 1)}
        if known_ids:
            out["id_switches"] = self.switches
            out["reentries"] = self.reentries
            out["reported"] = self.reported / max(self.truth, 1)
        return out


def run_benchmark(frames: Iterator[Frame], cfg: TrackerConfig, fps: float, known_ids: bool) -> dict[str, Any]:
    """Run both rows over ``frames``; returns the JSON-ready results."""
    cv2.setNumThreads(1)
    rows = [Row("cmc", Tracker(cfg), CameraMotion.from_config(cfg)),
            Row("no-cmc", Tracker(dataclasses.replace(cfg, camera_motion=False)), None)]
    n, size = 0, (0, 0)
    for frame in frames:
        size = (frame[1].shape[1], frame[1].shape[0])
        for row in rows:
            row.step(frame, 1.0 / fps)
        n += 1
    if n == 0:
        raise UserError("tracker benchmark: no frames")
    return {"frames": n, "frame_size": list(size), "fps": fps, "threads": 1,
            "machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'})",
            "config": to_mapping(cfg), "rows": [r.summary(n, known_ids) for r in rows]}


def format_table(result: dict[str, Any]) -> str:
    """The results as a fixed-width text table."""
    head = (f"{'row':<7} {'ms med':>7} {'ms p90':>7} {'ms p99':>7} {'cmc med':>7} {'cmc p90':>7} {'trk/f':>6} "
            f"{'idsw':>5} {'re-in':>5}")
    lines = [f"# {result['source']}: {result['frames']} frames {result['frame_size'][0]}x{result['frame_size'][1]} "
             f"on {result['machine']}, one thread", head, "-" * len(head)]
    for r in result["rows"]:
        lines.append(f"{r['row']:<7} {r['ms_median']:>7.2f} {r['ms_p90']:>7.2f} {r['ms_p99']:>7.2f} "
                     f"{r['cmc_ms_median']:>7.2f} {r['cmc_ms_p90']:>7.2f} {r['tracks_per_frame']:>6.2f} "
                     f"{r.get('id_switches', '-'):>5} {r.get('reentries', '-'):>5}")
    return "\n".join(lines)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-bench tracker", description=__doc__.split("\n\n")[0])
    add_scene_args(parser, "input video (default: the synthetic panning scene)",
                   "resize video frames and boxes to WxH (default 960x540)", "synthetic frames (default 300)",
                   "seed of the synthetic scene (default 0)")
    parser.add_argument("--gt", default=None, help="COCO boxes of the video, used as the detections")
    add_config_args(parser, "tracker")
    args = parser.parse_args(argv)
    cfg = load_section(TrackerConfig, args.config, "tracker", args.set)
    if args.video:
        if not args.gt:
            raise UserError("--video needs --gt (the boxes used as detections)")
        fps = video_info(args.video)[2] or 30.0
        source = video_frames(args.video, args.gt, parse_frames(args.frames), parse_size(args.resize, "--resize"))
        result = run_benchmark(source, cfg, fps, known_ids=False)
        result["source"] = str(args.video)
    else:
        check_synthetic_frames(args.frames_synthetic, WARMUP_FRAMES)
        result = run_benchmark(synthetic_frames(args.frames_synthetic, args.seed), cfg, SYNTH_FPS, known_ids=True)
        result["source"] = f"synthetic seed {args.seed}"
    report(result, format_table(result), args.json)
    return 0


if __name__ == "__main__":
    run_cli(main)
