"""Patch Refiner (paper §III-C4): filter proposed RoIs, cap them, add refresh and predefined patches.

Rectangles are ``[x0, y0, x1, y1]`` integer pixels (half-open). Candidates are taken HighConf first, then
LowConf, each by descending value. A candidate is dropped when its area / frame area exceeds ``lambda1`` (LowConf
only: a tracked object's HighConf patch is never dropped for its size — a close-up object's box plus margin, grown
to ``r_high``, can cover more than half the frame, and a mini still serves it) or its IoU with an already accepted
patch exceeds ``lambda2``; acceptance stops at ``max_patches`` (Fig. 19).

Grouping (before the rules above). Crowds of small objects would need one patch each, so HighConf patches
are merged greedily: while two HighConf patches overlap with IoU > ``lambda2`` (the refiner would otherwise
drop one and lose its object), or while there are more than ``max_high`` of them, the pair whose bounding
rectangle adds the least area is replaced by that rectangle — only if it stays within ``merge_max_area`` of
the frame (default 1/8, an EP-8 tile). A merged patch's value is the sum of its members' values, so a
group outranks a single object under the cap. Each member keeps its CONVENTIONS margin; only groups break
the single-object rule, and only where objects are small and close.

Periodic refresh (so that an object missed once is not missed forever). The frame is cut into a fixed
``cols × rows`` grid of tiles (the EP layout; 1 × 1 is a full-frame refresh). On every ``refresh_every``-th
processed frame the next tile in raster order is added as a low-confidence patch, so the whole frame is
looked at once every ``refresh_every · cols · rows`` processed frames (default 10 · 4 = 40 frames, 4 s at
10 fps) at a cost of 1 / refresh_every patches per frame (0.1). Refresh tiles and predefined RoIs (config,
§IV-D) are always added: they are exempt from λ1, λ2 and the cap (a crowded scene must not starve them).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from runtime.geometry import iou_matrix, rects_to_boxes


class PatchKind(IntEnum):
    """Where a patch came from. ``FramePatches.kinds`` holds the values as int8 (the refiner sorts on them:
    HighConf before LowConf); :attr:`word` is the name used in patch metadata and reports."""

    HIGH = 0  # HighConf: around a tracked object (from the last detections)
    LOW = 1  # LowConf: a component of the objectness map M
    REFRESH = 2  # a periodic refresh tile (or the bootstrap sweep)
    PREDEFINED = 3  # a predefined RoI (config)
    PARTITION = 4  # an EP-k tile

    @property
    def word(self) -> str:
        """``high``, ``low``, ``refresh``, ``predefined`` or ``partition``."""
        return self.name.lower()

    def fill(self, n: int) -> np.ndarray:
        """``n`` copies of this kind, as the int8 array ``FramePatches.kinds`` holds."""
        return np.full(n, self.value, dtype=np.int8)


def grid_tiles(cols: int, rows: int, frame_w: int, frame_h: int, overlap: float = 0.0) -> np.ndarray:
    """The ``cols × rows`` equal partition of the frame, raster order, as rects (cols·rows, 4) int64; with
    ``overlap`` > 0 every tile grows into its neighbours by that fraction of a cell's width (height), so an
    object up to that size crossing a cell border lies whole in some tile (SAHI's overlapping slices)."""
    xs = np.linspace(0, frame_w, cols + 1)
    ys = np.linspace(0, frame_h, rows + 1)
    gx, gy = overlap * frame_w / cols, overlap * frame_h / rows
    tiles = [[max(xs[c] - gx, 0), max(ys[r] - gy, 0), min(xs[c + 1] + gx, frame_w), min(ys[r + 1] + gy, frame_h)]
             for r in range(rows) for c in range(cols)]
    return np.round(np.array(tiles, dtype=np.float64)).astype(np.int64)


def refine(rects: np.ndarray, values: np.ndarray, kinds: np.ndarray, frame_w: int, frame_h: int,
           lambda1: float, lambda2: float, max_patches: int) -> np.ndarray:
    """Indices of the accepted candidates, in acceptance order (HighConf first, then by value); ``lambda1`` drops
    the large candidates of every kind but HighConf."""
    rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    if len(rects) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((-np.asarray(values, dtype=np.float64), np.asarray(kinds)))
    boxes = rects_to_boxes(rects)
    area_frac = boxes[:, 2] * boxes[:, 3] / float(frame_w * frame_h)
    too_large = (area_frac > lambda1) & (np.asarray(kinds) != PatchKind.HIGH)
    iou = iou_matrix(boxes, boxes)
    accepted: list[int] = []
    for k in order:
        if len(accepted) >= max_patches:
            break
        if too_large[k]:
            continue
        if accepted and iou[k, accepted].max() > lambda2:
            continue
        accepted.append(int(k))
    return np.array(accepted, dtype=np.int64)


@njit(cache=True)
def _merge_kernel(r: np.ndarray, v: np.ndarray, limit: float, lambda2: float, max_high: int) -> int:
    """In-place greedy grouping of rects ``r`` (n, 4) float64 with values ``v``; returns the count kept."""
    n = r.shape[0]
    while n > 1:
        best_must, bi_must, bj_must = np.inf, -1, -1
        best_any, bi_any, bj_any = np.inf, -1, -1
        for i in range(n):
            ai = (r[i, 2] - r[i, 0]) * (r[i, 3] - r[i, 1])
            for j in range(i + 1, n):
                aj = (r[j, 2] - r[j, 0]) * (r[j, 3] - r[j, 1])
                uarea = ((max(r[i, 2], r[j, 2]) - min(r[i, 0], r[j, 0]))
                         * (max(r[i, 3], r[j, 3]) - min(r[i, 1], r[j, 1])))
                if uarea > limit:
                    continue
                iw = max(min(r[i, 2], r[j, 2]) - max(r[i, 0], r[j, 0]), 0.0)
                ih = max(min(r[i, 3], r[j, 3]) - max(r[i, 1], r[j, 1]), 0.0)
                inter = iw * ih
                iou = inter / max(ai + aj - inter, 1e-12)
                cost = uarea - ai - aj + inter
                if iou > lambda2 and cost < best_must:
                    best_must, bi_must, bj_must = cost, i, j
                if cost < best_any:
                    best_any, bi_any, bj_any = cost, i, j
        if bi_must >= 0:
            i, j = bi_must, bj_must
        elif n > max_high and bi_any >= 0:
            i, j = bi_any, bj_any
        else:
            break
        x0, y0 = min(r[i, 0], r[j, 0]), min(r[i, 1], r[j, 1])
        x1, y1 = max(r[i, 2], r[j, 2]), max(r[i, 3], r[j, 3])
        r[i, 0], r[i, 1], r[i, 2], r[i, 3] = x0, y0, x1, y1
        v[i] += v[j]
        for k in range(j, n - 1):
            r[k, :] = r[k + 1, :]
            v[k] = v[k + 1]
        n -= 1
    return n


def merge_high(rects: np.ndarray, values: np.ndarray, frame_w: int, frame_h: int, lambda2: float,
               max_high: int, merge_max_area: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy grouping of HighConf rects (see the module docstring); returns ``(rects, values)``."""
    r = np.ascontiguousarray(np.asarray(rects, dtype=np.float64).reshape(-1, 4)).copy()
    v = np.asarray(values, dtype=np.float64).reshape(-1).copy()
    if len(r) < 2:
        return r.astype(np.int64), v
    n = _merge_kernel(r, v, float(merge_max_area * frame_w * frame_h), float(lambda2), int(max_high))
    return r[:n].astype(np.int64), v[:n]


def merge_high_ref(rects: np.ndarray, values: np.ndarray, frame_w: int, frame_h: int, lambda2: float,
                   max_high: int, merge_max_area: float) -> tuple[np.ndarray, np.ndarray]:
    """Plain-numpy reference of :func:`merge_high`."""
    r = np.asarray(rects, dtype=np.float64).reshape(-1, 4).copy()
    v = np.asarray(values, dtype=np.float64).reshape(-1).copy()
    limit = merge_max_area * frame_w * frame_h
    while len(r) > 1:
        area = (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])
        ux0, uy0 = np.minimum(r[:, None, 0], r[None, :, 0]), np.minimum(r[:, None, 1], r[None, :, 1])
        ux1, uy1 = np.maximum(r[:, None, 2], r[None, :, 2]), np.maximum(r[:, None, 3], r[None, :, 3])
        uarea = (ux1 - ux0) * (uy1 - uy0)
        iw = np.clip(np.minimum(r[:, None, 2], r[None, :, 2]) - np.maximum(r[:, None, 0], r[None, :, 0]), 0, None)
        ih = np.clip(np.minimum(r[:, None, 3], r[None, :, 3]) - np.maximum(r[:, None, 1], r[None, :, 1]), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-12)
        cost = uarea - area[:, None] - area[None, :] + inter
        allowed = (uarea <= limit) & ~np.eye(len(r), dtype=bool)
        must = allowed & (iou > lambda2)
        pool = must if must.any() else (allowed if len(r) > max_high else None)
        if pool is None or not pool.any():
            break
        i, j = np.unravel_index(np.argmin(np.where(pool, cost, np.inf)), cost.shape)
        r[i] = [ux0[i, j], uy0[i, j], ux1[i, j], uy1[i, j]]
        v[i] += v[j]
        r, v = np.delete(r, j, axis=0), np.delete(v, j)
    return r.astype(np.int64), v


def refresh_tile(processed_index: int, every: int, cols: int, rows: int, frame_w: int,
                 frame_h: int) -> np.ndarray | None:
    """The refresh tile rect (4,) for the ``processed_index``-th processed frame (0-based), or None."""
    if every <= 0 or (processed_index + 1) % every != 0:
        return None
    tile = ((processed_index + 1) // every - 1) % (cols * rows)
    return grid_tiles(cols, rows, frame_w, frame_h)[tile]


def predefined_rects(rois: list[list[float]], frame_w: int, frame_h: int) -> np.ndarray:
    """Predefined RoIs ``[x, y, w, h]`` as rects clipped to the frame; ones outside it are dropped."""
    out = []
    for x, y, w, h in rois:
        x0, y0 = int(round(min(max(x, 0), frame_w))), int(round(min(max(y, 0), frame_h)))
        x1, y1 = int(round(min(max(x + w, 0), frame_w))), int(round(min(max(y + h, 0), frame_h)))
        if x1 > x0 and y1 > y0:
            out.append([x0, y0, x1, y1])
    return np.array(out, dtype=np.int64).reshape(-1, 4)
