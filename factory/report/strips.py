"""Frame strips — look, don't only read: a few frames of a video, downscaled, with what one method sent and found.

One PNG per method and video. Each tile is a frame scaled to ``width`` px (default 480) showing

- the frame's patches where the prediction line carries ``patch_rects`` (``paraloupe-run --out``; thin, coloured
  by kind as ``--save-video`` draws them: :data:`runtime.draw.PATCH_COLOURS`); lines without them (``paraloupe-bench
  loop --out``, the report's replay cache) show detections only;
- the ground truth (thin white boxes; crowd regions grey), the detections (green, label and score) and every
  *missed* object circled in red — a non-crowd ground-truth box that no detection of its class matches at IoU ≥
  ``iou`` (:func:`runtime.evaluate.match_objects`, the evaluator's own matching);
- a caption bar: frame index, TP/FP/FN of the frame and, where known, its patches by kind.

Frames: ``count`` ground-truth frames evenly spread over a half-open range (:func:`pick_frames`); tiles side by
side up to 3, 2×2 for 4, else ``ceil(sqrt(n))`` columns (:class:`Layout`). A title bar names the method, a legend
bar closes the strip. :func:`render_strip` is pure (arrays in, array out); :func:`write_png` writes atomically;
:func:`strips_from_files` is ``paraloupe-report strips``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from runtime.atomic import atomic_path
from runtime.coco import FrameAnnotations, VideoAnnotations, load_coco
from runtime.detections import Detections
from runtime.draw import DETECTION_COLOUR, FONT, PATCH_COLOURS, draw_detections, draw_patches
from runtime.errors import UserError
from runtime.evaluate import FP, TP, Counts, match_objects
from runtime.predictions import read_with_key
from runtime.video import iter_frames

GT_COLOUR = (255, 255, 255)
CROWD_COLOUR = (128, 128, 128)
MISSED_COLOUR = (0, 0, 255)  # red circles (thicker than the red keyframe rectangle, and round)
BAR_COLOUR = (32, 32, 32)
TEXT_COLOUR = (240, 240, 240)
TITLE_PX, CAPTION_PX, LEGEND_PX = 24, 18, 18  # bar heights (px)
TEXT_SCALE = 0.4
LEGEND = [("high", PATCH_COLOURS["high"]), ("low", PATCH_COLOURS["low"]), ("refresh", PATCH_COLOURS["refresh"]),
          ("keyframe/frame", PATCH_COLOURS["keyframe"]), ("still tile", PATCH_COLOURS["still"]),
          ("detection", DETECTION_COLOUR),
          ("ground truth", GT_COLOUR), ("missed (circled)", MISSED_COLOUR)]
_PATCH_WORDS = {"high", "low", "refresh", "keyframe/frame", "still tile"}


@dataclass(frozen=True)
class Layout:
    """Where everything lies in a strip of ``count`` tiles of frames ``frame_w`` × ``frame_h`` px drawn
    ``tile_w`` px wide."""

    frame_w: int
    frame_h: int
    count: int
    tile_w: int = 480

    @property
    def scale(self) -> float:
        """Tile px per frame px."""
        return self.tile_w / self.frame_w

    @property
    def tile_h(self) -> int:
        return max(1, round(self.frame_h * self.scale))

    @property
    def cols(self) -> int:
        return self.count if self.count <= 3 else 2 if self.count == 4 else math.ceil(math.sqrt(self.count))

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.cols)

    @property
    def width(self) -> int:
        return self.cols * self.tile_w

    @property
    def legend_lines(self) -> list[list[int]]:
        """The legend's items (indices into :data:`LEGEND`) per line, wrapped to the strip's width."""
        lines: list[list[int]] = [[]]
        x = 4
        for i, (name, _) in enumerate(LEGEND):
            w = 18 + cv2.getTextSize(name, FONT, TEXT_SCALE, 1)[0][0] + 12
            if lines[-1] and x + w > self.width:
                lines.append([])
                x = 4
            lines[-1].append(i)
            x += w
        return lines

    @property
    def height(self) -> int:
        return TITLE_PX + self.rows * (CAPTION_PX + self.tile_h) + len(self.legend_lines) * LEGEND_PX

    def origin(self, i: int) -> tuple[int, int]:
        """Top-left (x, y) of tile ``i``'s image in the strip (its caption bar lies just above)."""
        row, col = divmod(i, self.cols)
        return col * self.tile_w, TITLE_PX + row * (CAPTION_PX + self.tile_h) + CAPTION_PX


def pick_frames(ids: Sequence[int], count: int) -> list[int]:
    """``count`` of ``ids`` (ascending) evenly spread, first and last included; all of them when fewer."""
    ids = sorted(ids)
    if count >= len(ids):
        return ids
    return [ids[round(k * (len(ids) - 1) / max(count - 1, 1))] for k in range(count)]


def missed_circle(box: Sequence[float], scale: float) -> tuple[tuple[int, int], int]:
    """Centre (tile px) and radius (px) of the circle around a missed ``[x, y, w, h]`` box (frame px)."""
    x, y, w, h = (float(v) * scale for v in box)
    return (round(x + w / 2), round(y + h / 2)), max(6, round(math.hypot(w, h) / 2) + 4)


def _text(img: np.ndarray, text: str, org: tuple[int, int], width: int, scale: float = TEXT_SCALE) -> None:
    """``text`` at ``org``, cut with ``...`` to fit ``width`` px."""
    while text and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width - org[0] - 2:
        text = text[:-4] + "..." if len(text) > 4 else ""
    cv2.putText(img, text, org, FONT, scale, TEXT_COLOUR, 1, cv2.LINE_AA)


def draw_tile(frame: np.ndarray, truth: FrameAnnotations, dets: Detections, layout: Layout,
              rects: Sequence[Sequence[Any]] | None = None, iou: float = 0.5) -> tuple[np.ndarray, Counts]:
    """One tile (``layout.tile_w`` wide) and the frame's TP/FP/FN (see the module docstring)."""
    img = cv2.resize(frame, (layout.tile_w, layout.tile_h), interpolation=cv2.INTER_AREA)
    s = layout.scale
    draw_patches(img, rects or [], s)
    for (x, y, w, h), crowd in zip(truth.boxes, truth.iscrowd, strict=True):
        cv2.rectangle(img, (round(x * s), round(y * s)), (round((x + w) * s), round((y + h) * s)),
                      CROWD_COLOUR if crowd else GT_COLOUR, 1)
    draw_detections(img, dets, s, thickness=1)
    matched, outcome = match_objects(truth, dets.boxes, dets.labels, dets.scores, iou)
    missed = ~matched & ~np.asarray(truth.iscrowd, dtype=bool).reshape(-1)
    for box in truth.boxes[missed]:
        centre, radius = missed_circle(box, s)
        cv2.circle(img, centre, radius, MISSED_COLOUR, 2)
    return img, Counts(int((outcome == TP).sum()), int((outcome == FP).sum()), int(missed.sum()))


def render_strip(images: Sequence[tuple[int, np.ndarray]], gt: VideoAnnotations, preds: Mapping[int, Detections],
                 title: str, rects: Mapping[int, Sequence[Sequence[Any]]] | None = None,
                 kinds: Mapping[int, Sequence[str]] | None = None, width: int = 480,
                 iou: float = 0.5) -> tuple[np.ndarray, Counts]:
    """The strip (BGR) of ``images`` (``(frame index, BGR frame)``, all of one size) and the TP/FP/FN pooled over
    them. ``rects``: each frame's ``[x0, y0, x1, y1, kind]`` patches (frame px); ``kinds``: each frame's patch
    kinds for the caption where the rectangles are unknown. A frame missing from ``preds`` has no detections."""
    if not images:
        raise UserError(f"strip {title!r}: no frame to draw")
    h, w = images[0][1].shape[:2]
    layout = Layout(w, h, len(images), width)
    strip = np.full((layout.height, layout.width, 3), BAR_COLOUR, dtype=np.uint8)
    _text(strip, title, (6, TITLE_PX - 7), layout.width, 0.5)
    total = Counts()
    for i, (fid, frame) in enumerate(images):
        dets = preds.get(fid) or Detections.empty(fid)
        frame_rects = (rects or {}).get(fid)
        tile, c = draw_tile(frame, gt.frames.get(fid) or FrameAnnotations(), dets, layout, frame_rects, iou)
        total.add(c)
        x, y = layout.origin(i)
        strip[y:y + layout.tile_h, x:x + layout.tile_w] = tile
        words = [str(r[4]) for r in frame_rects] if frame_rects is not None else (kinds or {}).get(fid)
        caption = f"frame {fid}  TP {c.tp} FP {c.fp} FN {c.fn}"
        if words is not None:
            caption += f"  {len(words)} patch{'' if len(words) == 1 else 'es'}" + ("" if not words else ": " + " ".join(
                f"{n} {k}" for k, n in sorted(Counter(words).items())))
        _text(strip, caption, (x + 4, y - 5), x + layout.tile_w)
    y = layout.height - len(layout.legend_lines) * LEGEND_PX
    for line in layout.legend_lines:
        x = 4
        for i in line:
            name, colour = LEGEND[i]
            if colour == MISSED_COLOUR and name.startswith("missed"):
                cv2.circle(strip, (x + 6, y + 9), 5, colour, 2)
            else:  # patch kinds as outlines, boxes as filled swatches
                cv2.rectangle(strip, (x, y + 5), (x + 12, y + 13), colour, 2 if name in _PATCH_WORDS else -1)
            _text(strip, name, (x + 18, y + 13), layout.width)
            x += 18 + cv2.getTextSize(name, FONT, TEXT_SCALE, 1)[0][0] + 12
        y += LEGEND_PX
    return strip, total


def load_frames(video: str | Path, ids: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """The BGR frames ``ids`` of ``video`` (decoded sequentially up to the last); a missing one is a UserError."""
    got = dict(iter_frames(video, set(ids)))
    for fid in ids:
        if fid not in got:
            raise UserError(f"{video}: has no frame {fid}")
    return [(fid, got[fid]) for fid in ids]


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write ``image`` (BGR) as a PNG at ``path``, atomically; returns the path."""
    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise UserError(f"{path}: cannot write the PNG")
    return path


def check_rects(value: Any, where: str) -> list[list[Any]]:
    """A line's ``patch_rects`` as ``[[x0, y0, x1, y1, kind], ...]``; anything else is a UserError at ``where``."""
    ok = isinstance(value, list) and all(
        isinstance(r, list) and len(r) == 5 and isinstance(r[4], str)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r[:4]) for r in value)
    if not ok:
        raise UserError(f"{where}: patch_rects is not a list of [x0, y0, x1, y1, kind]")
    return value


def strips_from_files(video: str | Path, gt_path: str | Path, preds: Mapping[str, str | Path], out_dir: str | Path,
                      name: str, frames: tuple[int, int] | None = None, count: int = 4,
                      width: int = 480) -> dict[str, Path]:
    """``<out_dir>/<name>-<label>.png`` for each ``label → prediction file`` of ``preds`` (same frames for all:
    ``count`` ground-truth frames spread over ``frames``, by default the range the first file predicts)."""
    gt = load_coco(gt_path)
    loaded = {}
    for label, path in preds.items():
        dets, raw = read_with_key(path, "patch_rects")
        loaded[label] = (path, dets, {f: check_rects(v, f"{path}: frame {f}") for f, v in raw.items()})
    if frames is None:
        path, dets, _ = next(iter(loaded.values()))
        known = [f for f in dets if f in gt.frames]
        if not known:
            raise UserError(f"{path}: no predicted frame is in the ground truth {gt_path}")
        frames = (min(known), max(known) + 1)
    frames = (frames[0], min(frames[1], max(gt.frame_ids, default=-1) + 1))
    ids = pick_frames([f for f in gt.frame_ids if frames[0] <= f < frames[1]], count)
    if not ids:
        raise UserError(f"--frames {frames[0]}:{frames[1]}: no ground-truth frame of {gt_path} in range")
    images = load_frames(video, ids)
    out = {}
    for label, (path, dets, rects) in loaded.items():
        title = f"{name} | {label} | {Path(path).name} | frames {frames[0]}:{frames[1]}"
        strip, _ = render_strip(images, gt, dets, title, rects, width=width)
        out[label] = write_png(Path(out_dir) / f"{name}-{label}.png", strip)
    return out
