"""``paraloupe-bench patches`` — patch generators compared: speed (ms/frame) and coverage of ground truth.

Run::

    paraloupe-bench patches --video V --gt GT.json [--frames A:B] [--weights objectness.json]
        [--config patches.yaml] [--resize WxH] [--modes oracle,imperfect,closed] [--window N] [--json OUT]

The video is decoded once; every generator gets each frame in turn (so timings share the machine's load).
Detections stand in for a detector, from the ground truth (non-crowd boxes):

- ``oracle``: the last frame's ground truth;
- ``imperfect``: a 1-frame delay (the ground truth of frame t−2) with 10 % of boxes dropped at random
  (seeded, the same drops for every generator);
- ``closed``: the last frame's ground truth boxes that that frame's patches covered (what a detector
  running only on the patches could find) — shows whether a missed object is ever found again.

Per generator and mode it prints the median and p95 generation time (ms/frame, one thread, after 5
warm-up frames; patch cropping/JPEG not included unless ``--encode``), patches/frame, coverage and
well-coverage (``runtime.patches.coverage``) and ``new``: the coverage of objects not in the detections the
generator was given (best IoU < 0.3) — those only LowConf, refresh or partition patches can cover. ParaLoupe
runs without frame skipping in these rows so every frame is comparable; the extra row ``paraloupe+skip``
(oracle) skips frames as configured, a skipped frame keeps the last processed frame's patches for coverage
and adds no patches. ``warmup_ms`` is the first ParaLoupe call (numba cache load or compile).
EP-k and motion-regions (Frigate NVR's motion regions) ignore detections, so each is listed once (mode ``-``).
``--resize`` scales frames and boxes (timing at other resolutions).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from runtime.atomic import write_json
from runtime.coco import VideoAnnotations, load_coco
from runtime.config import from_mapping, read_yaml, to_mapping
from runtime.errors import UserError, cli_entry, run_cli
from runtime.evaluate import parse_frame_range
from runtime.geometry import iou_matrix
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.coverage import CoverageCount, coverage_flags
from runtime.patches.generators import FramePatches, PatchGenerator, generator_names, make_generator
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.queue import build_entries
from runtime.timing import Stopwatch
from runtime.video import open_video, parse_size

MODES = ("oracle", "imperfect", "closed")
DROP_FRACTION = 0.1
WARMUP_FRAMES = 5
NEW_IOU = 0.3


@dataclasses.dataclass
class Row:
    """One generator in one detection mode, with its running figures."""

    name: str
    mode: str
    gen: PatchGenerator
    times_ms: list[float] = dataclasses.field(default_factory=list)
    patches: int = 0
    frames: int = 0
    processed: int = 0
    cov: CoverageCount = dataclasses.field(default_factory=CoverageCount)
    new: CoverageCount = dataclasses.field(default_factory=CoverageCount)
    windows: list[CoverageCount] = dataclasses.field(default_factory=list)
    carried: FramePatches | None = None
    covered_prev: np.ndarray | None = None
    encode_ms: list[float] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        t = np.array(self.times_ms[WARMUP_FRAMES:] or self.times_ms or [0.0])
        out = {"generator": self.name, "mode": self.mode, "ms_median": float(np.median(t)),
               "ms_p95": float(np.percentile(t, 95)), "patches_per_frame": self.patches / max(self.frames, 1),
               "coverage": self.cov.coverage, "well_coverage": self.cov.well_coverage, "objects": self.cov.objects,
               "new_coverage": self.new.coverage, "new_objects": self.new.objects, "frames": self.frames,
               "inference_fraction": self.processed / max(self.frames, 1)}
        if self.encode_ms:
            out["encode_ms_median"] = float(np.median(self.encode_ms))
        if self.windows:
            out["window_coverage"] = [round(w.coverage, 4) for w in self.windows]
            out["window_well_coverage"] = [round(w.well_coverage, 4) for w in self.windows]
        return out


def _make_rows(cfg: PatchConfig, model: ObjectnessModel, modes: Sequence[str], names: Sequence[str]) -> list[Row]:
    noskip = dataclasses.replace(cfg, skip_threshold=0.0)
    blind = [n for n in names if not Mode(n).uses_detections]  # they ignore detections: one row each
    rows = []
    for mode in modes:
        for name in names:
            if name in blind:
                continue
            m = ObjectnessModel(model.w0.copy()) if name == Mode.PARALOUPE else None
            rows.append(Row(name, mode, make_generator(name, noskip, m)))
    if Mode.PARALOUPE in names and "oracle" in modes and cfg.skip_threshold > 0:
        rows.append(Row(f"{Mode.PARALOUPE}+skip", "oracle",
                        make_generator(Mode.PARALOUPE, cfg, ObjectnessModel(model.w0.copy()))))
    rows += [Row(n, "-", make_generator(n, cfg)) for n in blind]
    return rows


def _detections(row: Row, gt_prev: np.ndarray, gt_prev2: np.ndarray, keep2: np.ndarray) -> np.ndarray:
    if row.mode == "imperfect":
        return gt_prev2[keep2]
    if row.mode == "closed":
        if row.covered_prev is None:
            return gt_prev
        return gt_prev[row.covered_prev] if len(row.covered_prev) == len(gt_prev) else gt_prev
    return gt_prev


def _read_frames(cap: Any, start: int, stop: int | None,
                 resize: tuple[int, int] | None) -> Iterator[tuple[int, np.ndarray, float, float]]:
    """``(index, frame, sx, sy)`` for the frames in ``[start, stop)``, resized to ``resize`` (scale sx, sy)."""
    index = 0
    while stop is None or index < stop:
        ok, frame = cap.read()
        if not ok:
            return
        if index >= start:
            sx = sy = 1.0
            if resize is not None:
                sx, sy = resize[0] / frame.shape[1], resize[1] / frame.shape[0]
                frame = cv2.resize(frame, resize, interpolation=cv2.INTER_AREA)
            yield index, frame, sx, sy
        index += 1


def _boxes_of(gt: VideoAnnotations, fid: int, sx: float, sy: float) -> np.ndarray:
    """The non-crowd ground-truth boxes of frame ``fid``, scaled by (sx, sy)."""
    ann = gt.frames.get(fid)
    if ann is None or len(ann) == 0:
        return np.zeros((0, 4))
    b = ann.boxes[~ann.iscrowd].astype(np.float64).copy()
    b[:, [0, 2]] *= sx
    b[:, [1, 3]] *= sy
    return b


def _generate(row: Row, frame: np.ndarray, index: int, dets: np.ndarray, cfg: PatchConfig,
              encode: bool) -> tuple[FramePatches, float]:
    """Run ``row``'s generator on one frame; the patches shown for coverage and the generation time (ms)."""
    det_fid = index - 2 if row.mode == "imperfect" else index - 1
    with Stopwatch() as watch:
        out = row.gen(frame, index, dets, None, det_fid)
    dt = watch.ms
    row.times_ms.append(dt)
    row.frames += 1
    if out.skipped:
        return (row.carried if row.carried is not None else out), dt
    row.processed += 1
    row.patches += len(out)
    row.carried = out
    if encode:
        with Stopwatch() as watch:
            build_entries(frame, out, cfg.jpeg_quality, cfg.max_side, cfg.jpeg_chroma)
        row.encode_ms.append(watch.ms)
    return out, dt


def _count(row: Row, gt_now: np.ndarray, dets: np.ndarray, shown: FramePatches, w: int, h: int, window: int,
           n_done: int) -> None:
    """Add one frame's coverage (overall, of new objects, of the current window) to ``row``."""
    counted, covered, well = coverage_flags(gt_now, shown.rects, w, h)
    row.cov.add(counted, covered, well)
    row.covered_prev = covered
    if len(dets) and len(gt_now):
        is_new = iou_matrix(gt_now, dets).max(axis=1) < NEW_IOU
    else:
        is_new = np.ones(len(gt_now), dtype=bool)
    row.new.add(counted & is_new, covered, well)
    if window > 0:
        if n_done % window == 0:
            row.windows.append(CoverageCount())
        row.windows[-1].add(counted, covered, well)


def run_benchmark(video: str | Path, gt_path: str | Path, frames: tuple[int, int | None], cfg: PatchConfig,
                  model: ObjectnessModel, modes: Sequence[str], names: Sequence[str],
                  resize: tuple[int, int] | None = None, window: int = 0, encode: bool = False,
                  seed: int = 0, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every generator over ``frames`` of ``video``; returns the JSON-ready results."""
    gt = load_coco(gt_path)
    cap = open_video(video)
    rows = _make_rows(cfg, model, modes, names)
    rng = np.random.default_rng(seed)
    start, stop = frames
    end, n_done, warmup_ms, w, h = start, 0, None, 0, 0
    for index, frame, sx, sy in _read_frames(cap, start, stop, resize):
        h, w = frame.shape[:2]
        gt_now, gt_prev, gt_prev2 = (_boxes_of(gt, index - d, sx, sy) for d in (0, 1, 2))
        keep2 = rng.random(len(gt_prev2)) >= DROP_FRACTION
        for row in rows:
            dets = _detections(row, gt_prev, gt_prev2, keep2)
            shown, dt = _generate(row, frame, index, dets, cfg, encode)
            if warmup_ms is None and row.name.startswith(Mode.PARALOUPE):
                warmup_ms = dt
            _count(row, gt_now, dets, shown, w, h, window, n_done)
        n_done += 1
        end = index + 1
        if progress and n_done % 100 == 0:
            progress(f"{n_done} frames")
    cap.release()
    if n_done == 0:
        raise UserError(f"{video}: no frames in range {start}:{'' if stop is None else stop}")
    return {"video": str(video), "gt": str(gt_path), "frames": [start, end], "frame_size": [w, h],
            "warmup_ms": warmup_ms, "window": window, "config": to_mapping(cfg),
            "objectness": model.to_dict(), "rows": [r.summary() for r in rows]}


def format_table(result: dict[str, Any]) -> str:
    """The results as a fixed-width text table."""
    head = (f"{'generator':<15} {'mode':<9} {'ms med':>7} {'ms p95':>7} {'patch/f':>7} {'cover':>6} "
            f"{'well':>6} {'new':>6} {'(n new)':>7} {'infer':>6}")
    lines = [f"# {result['video']} frames {result['frames'][0]}:{result['frames'][1]} "
             f"size {result['frame_size'][0]}x{result['frame_size'][1]}, warm-up {result['warmup_ms']:.0f} ms",
             head, "-" * len(head)]
    for r in result["rows"]:
        lines.append(f"{r['generator']:<15} {r['mode']:<9} {r['ms_median']:>7.2f} {r['ms_p95']:>7.2f} "
                     f"{r['patches_per_frame']:>7.2f} {r['coverage']:>6.3f} {r['well_coverage']:>6.3f} "
                     f"{r['new_coverage']:>6.3f} {r['new_objects']:>7d} {r['inference_fraction']:>6.2f}")
    return "\n".join(lines)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-bench patches", description=__doc__.split("\n")[0])
    parser.add_argument("--video", required=True, help="input video")
    parser.add_argument("--gt", required=True, help="COCO ground truth of the video")
    parser.add_argument("--frames", default=None, help="half-open frame range A:B (default all)")
    parser.add_argument("--weights", default=None, help="objectness weights JSON (default: the neutral prior)")
    parser.add_argument("--config", default=None, help="YAML with a 'patches' section (or the section itself)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one patches config field (YAML value), repeatable")
    parser.add_argument("--generators", default=",".join(generator_names()))
    parser.add_argument("--modes", default="oracle,imperfect,closed", help=f"subset of {','.join(MODES)}")
    parser.add_argument("--resize", default=None, help="resize frames (and boxes) to WxH")
    parser.add_argument("--window", type=int, default=0, help="also report coverage per window of N frames")
    parser.add_argument("--encode", action="store_true", help="also time cropping + JPEG of the patch queue")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dropped boxes")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    import yaml

    section: dict[str, Any] = {}
    if args.config:
        data = read_yaml(args.config)
        section = data.get("patches", data) if isinstance(data.get("patches", data), dict) else {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set: expected KEY=VALUE, got {item!r}")
        section[key] = yaml.safe_load(value)
    cfg = from_mapping(PatchConfig, section, f"{args.config or '--set'}: patches")
    if args.weights:
        try:
            weights = json.loads(Path(args.weights).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{args.weights}: cannot read weights ({exc})") from None
        model = ObjectnessModel.from_dict(weights, str(args.weights))
    else:
        model = ObjectnessModel.prior()
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise UserError(f"--modes: unknown mode {bad[0]!r} (choose from {', '.join(MODES)})")
    names = [n for n in args.generators.split(",") if n]
    for n in names:
        try:
            make_generator(n, cfg)
        except ValueError as exc:
            raise UserError(f"--generators: {exc}") from None
    if not Path(args.video).exists():
        raise UserError(f"{args.video}: file not found")
    resize = parse_size(args.resize, "--resize") if args.resize else None
    result = run_benchmark(args.video, args.gt, (parse_frame_range(args.frames) or (0, None)), cfg, model, modes, names,
                           resize, args.window, args.encode, args.seed, progress=lambda s: print(s, file=sys.stderr))
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    run_cli(main)
