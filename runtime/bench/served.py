"""Patch recall: which ground-truth objects a frame's mini patches *serve* (CONVENTIONS: whole inside a patch and,
once it is letterboxed to the smallest mini's input, the longer side within that mini's servable range), and why
each missed object was missed — no patch served it (the generator's miss) or it was served but not detected (the
model's). Pure counting: arrays in, counts out; :mod:`runtime.bench.loop` feeds it every frame.

The split by object size (:data:`SIDE_BINS`, the object's longer side in frame px) says which objects the loop
cannot reach: for each bin the fraction served, found, and found when served / when not served.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.errors import UserError
from runtime.geometry import iou_matrix, longer_sides

#: upper edges of the object-size bins of :attr:`Served.by_side` (longer side, frame px); the last bin is open
SIDE_BINS = (16, 24, 32, 48, 64, 96)


@dataclass
class SideCounts:
    """One size bin's counts: objects, served, found (IoU >= 0.5 with a reported detection), found and served."""

    objects: int = 0
    served: int = 0
    found: int = 0
    found_served: int = 0

    def figures(self) -> dict[str, float | int]:
        """The bin's fractions: served, found, found when served, found when not served (0 where undefined)."""
        unserved = self.objects - self.served
        return {"objects": self.objects, "served": self.served / max(self.objects, 1),
                "found": self.found / max(self.objects, 1),
                "found_if_served": self.found_served / max(self.served, 1),
                "found_if_unserved": (self.found - self.found_served) / max(unserved, 1)}


def side_bin_names() -> list[str]:
    """The bins' names, e.g. ``<16``, ``16-24``, ..., ``>=96`` (px)."""
    return [f"<{SIDE_BINS[0]}", *(f"{a}-{b}" for a, b in zip(SIDE_BINS[:-1], SIDE_BINS[1:], strict=True)),
            f">={SIDE_BINS[-1]}"]


@dataclass
class Served:
    """Patch-recall counts: objects, objects served by any mini patch, by kind, and misses split by cause."""

    objects: int = 0
    served: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    missed_unserved: int = 0
    missed_served: int = 0
    missed_uncovered: int = 0  # of missed_unserved: whole in no mini patch at all (a coverage miss, not a size one)
    missed_too_small: int = 0  # of missed_unserved: whole in some patch, below the range in every one (no own patch)
    by_side: list[SideCounts] = field(default_factory=lambda: [SideCounts() for _ in range(len(SIDE_BINS) + 1)])

    def side_figures(self) -> dict[str, dict[str, float | int]]:
        """:meth:`SideCounts.figures` per size bin, by :func:`side_bin_names`."""
        return {name: c.figures() for name, c in zip(side_bin_names(), self.by_side, strict=True)}


#: the servable range (fractions of the mini's input side) of a bundle whose minis have none measured
DEFAULT_SERVABLE = (0.1, 1.0)


def servable_fractions(given: str | None, servable_px: list[float] | None, input_side: int,
                       mini: str) -> tuple[float, float]:
    """The servable range as fractions of the input side: ``given`` (``LO:HI``), else the bundle's measured
    ``servable_px`` of ``mini``, else :data:`DEFAULT_SERVABLE` (with a warning on stderr)."""
    if given is not None:
        try:
            lo, hi = (float(v) for v in given.split(":"))
        except ValueError:
            raise UserError(f"--servable: expected LO:HI fractions, got {given!r}") from None
        return lo, hi
    if servable_px is not None:
        return servable_px[0] / input_side, servable_px[1] / input_side
    print(f"warning: bundle model {mini} has no servable_px (an older export): patch recall uses the default "
          f"{DEFAULT_SERVABLE[0]}:{DEFAULT_SERVABLE[1]} of its input side", file=sys.stderr)
    return DEFAULT_SERVABLE


def inside_and_side(boxes: np.ndarray, rects: np.ndarray, input_side: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, p) whether object box i ``[x, y, w, h]`` px lies whole in patch j ``[x0, y0, x1, y1]``, and its longer
    side once patch j is letterboxed to ``input_side`` (px)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    inside = ((boxes[:, 0:1] >= rects[None, :, 0]) & (boxes[:, 1:2] >= rects[None, :, 1])
              & (boxes[:, 0:1] + boxes[:, 2:3] <= rects[None, :, 2])
              & (boxes[:, 1:2] + boxes[:, 3:4] <= rects[None, :, 3]))
    scale = input_side / np.maximum(longer_sides(rects), 1e-9)
    return inside, boxes[:, 2:4].max(axis=1)[:, None] * scale[None, :]


def served_mask(boxes: np.ndarray, rects: np.ndarray, input_side: int, lo: float, hi: float) -> np.ndarray:
    """(n, p) True where object box i ``[x, y, w, h]`` px lies whole in patch j ``[x0, y0, x1, y1]`` and its
    longer side, scaled by ``input_side / longer patch side`` (the letterbox), is within ``[lo, hi] ×
    input_side``."""
    inside, side = inside_and_side(boxes, rects, input_side)
    return within(inside, side, input_side, lo, hi)


def within(inside: np.ndarray, side: np.ndarray, input_side: int, lo: float, hi: float) -> np.ndarray:
    """``inside`` where the scaled longer ``side`` (px) is within ``[lo, hi] × input_side``."""
    return inside & (side >= lo * input_side) & (side <= hi * input_side)


def count_frame(served: Served, gt: Any, dets: Any, rects: np.ndarray, kinds: list[str], side: int, lo: float,
                hi: float) -> None:
    """Add one frame's patch-recall counts (non-crowd objects of ``gt``; ``dets`` what the frame reported;
    ``rects`` (p, 4) its mini patches ``[x0, y0, x1, y1]`` px of ``kinds``; ``side`` the mini's input side, px;
    ``lo``, ``hi`` its servable range, fractions of ``side``)."""
    if gt is None:
        return
    keep = ~np.asarray(gt.iscrowd, dtype=bool)
    boxes = gt.boxes[keep]
    inside, scaled = inside_and_side(boxes, rects, side)
    mask = within(inside, scaled, side, lo, hi)
    hit = mask.any(axis=1)
    served.objects += len(boxes)
    served.served += int(hit.sum())
    for kind in set(kinds):
        cols = np.array([k == kind for k in kinds])
        served.by_kind[kind] = served.by_kind.get(kind, 0) + int(mask[:, cols].any(axis=1).sum())
    found = (iou_matrix(boxes, dets.boxes).max(axis=1) >= 0.5) if len(dets.boxes) and len(boxes) else \
        np.zeros(len(boxes), dtype=bool)
    covered = inside.any(axis=1)
    small = covered & ~(inside & (scaled >= lo * side)).any(axis=1)
    served.missed_unserved += int((~found & ~hit).sum())
    served.missed_uncovered += int((~found & ~covered).sum())
    served.missed_too_small += int((~found & ~hit & small).sum())
    served.missed_served += int((~found & hit).sum())
    bins = np.searchsorted(np.asarray(SIDE_BINS, dtype=np.float64), boxes[:, 2:4].max(axis=1), side="right")
    n = len(served.by_side)
    per_bin = [np.bincount(bins, weights=w, minlength=n).astype(int)
               for w in (None, hit, found, hit & found)]
    for c, (objects, hits, finds, both) in zip(served.by_side, zip(*per_bin, strict=True), strict=True):
        c.objects += int(objects)
        c.served += int(hits)
        c.found += int(finds)
        c.found_served += int(both)


def side_table(by_side: dict[str, dict[str, float | int]]) -> str:
    """:meth:`Served.side_figures` as a text table: one row per size bin (objects, served, found, found when
    served / not served)."""
    rows = ["object side (px) | objects | served | found | found if served | found if not served"]
    for name, f in by_side.items():
        rows.append(f"{name:>16} | {f['objects']:7d} | {f['served']:6.3f} | {f['found']:5.3f} | "
                    f"{f['found_if_served']:16.3f} | {f['found_if_unserved']:19.3f}")
    return "\n".join(rows)
