"""Square regions to run a detector on, from motion boxes — Frigate NVR's region logic, with UFPMP-Det's merge rule.

Each box becomes a square region centred on it, of side ``max(min_side, ⌈scale · longer side⌉)`` px
(``min_side``: the model input side, so a region is never upscaled into the model; ``scale``: context around
the object, Frigate's 1.35), shifted to lie inside the frame and clipped only where the frame is smaller than
the square. Regions are then merged, best pair first (the pair whose merge saves the most area), while a pair
passes both of:

- **area** (UFPMP-Det's union rule): the region of the two clusters' boxes together is no larger than
  ``merge_area_ratio`` × the sum of the two regions' areas — merging never costs more pixels than it saves;
- **member size** (Frigate's cluster rule): when the merged region is larger than ``min_side`` (the model input
  is then downscaled), every member box keeps at least ``min_member_fraction`` of its area, so no object is
  shrunk out of the detector's reach by a neighbour. Boxes whose merged region is just ``min_side`` always
  merge (each would get a region that large alone).

A merged region is the square of the union of its member boxes, built by the same rule, so it contains them.
Frigate seeds clusters greedily box by box; here the merge is agglomerative, largest saving first (so the
result hardly depends on the boxes' order), with the same admission tests. The merge loop is a numba kernel
(O(n³) in the number of boxes, n ≤ ``max_boxes``: ~0.1 ms for 32 boxes, where the numpy reference
:func:`cluster_regions_numpy` takes ~1.5 ms); both give the same answer. Call :func:`warm_up` once before
timing (compile or cache load). Rectangles are int64 ``[x0, y0, x1, y1]`` px, half-open.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from runtime.discovery.config import DiscoveryConfig


def _place(lo: np.ndarray, hi: np.ndarray, side: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Intervals of length ``side`` centred on ``[lo, hi)``, shifted into ``[0, limit)``, clipped if longer."""
    start = np.floor((lo + hi) / 2.0 - side / 2.0 + 0.5).astype(np.int64)
    start = np.clip(start, 0, np.maximum(limit - side, 0))
    return start, np.minimum(start + side, limit)


def _squares(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, frame_w: int, frame_h: int,
             min_side: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Placed regions (m, 4) int64 of the float extents ``[x0, x1) × [y0, y1)`` and their unclipped sides."""
    longer = np.maximum(x1 - x0, y1 - y0)
    side = np.maximum(np.ceil(scale * longer - 1e-9).astype(np.int64), int(min_side))
    rx0, rx1 = _place(x0, x1, side, frame_w)
    ry0, ry1 = _place(y0, y1, side, frame_h)
    return np.stack([rx0, ry0, rx1, ry1], axis=-1), side


def _xyxy(boxes: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.concatenate([b[:, :2], b[:, :2] + np.maximum(b[:, 2:], 0.0)], axis=1)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0.0, frame_w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0.0, frame_h)
    return out


def _area(rects: np.ndarray) -> np.ndarray:
    return ((rects[..., 2] - rects[..., 0]) * (rects[..., 3] - rects[..., 1])).astype(np.float64)


def square_regions(boxes: np.ndarray, frame_w: int, frame_h: int, min_side: int,
                   scale: float | None = None) -> np.ndarray:
    """One square region per box ``[x, y, w, h]`` (px), no merging: int64 ``(n, 4)`` ``[x0, y0, x1, y1]``."""
    scale = DiscoveryConfig().region_scale if scale is None else float(scale)
    b = _xyxy(boxes, frame_w, frame_h)
    rects, _ = _squares(b[:, 0], b[:, 1], b[:, 2], b[:, 3], frame_w, frame_h, min_side, scale)
    return rects.reshape(-1, 4)


def cluster_regions_numpy(boxes: np.ndarray, frame_w: int, frame_h: int, min_side: int,
                          cfg: DiscoveryConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy reference of :func:`cluster_regions` (same arguments, same answer; slower)."""
    cfg = _check(frame_w, frame_h, min_side, cfg)
    ext = _xyxy(boxes, frame_w, frame_h)           # union of each cluster's boxes, float px
    amin = (ext[:, 2] - ext[:, 0]) * (ext[:, 3] - ext[:, 1])  # smallest member box area per cluster, px²
    rects, _ = _squares(ext[:, 0], ext[:, 1], ext[:, 2], ext[:, 3], frame_w, frame_h, min_side, cfg.region_scale)
    member = np.arange(len(ext), dtype=np.int64)
    while len(ext) > 1:
        pair = _best_merge(ext, amin, rects, frame_w, frame_h, min_side, cfg)
        if pair is None:
            break
        i, j, merged_ext, merged_rect = pair
        ext[i], amin[i], rects[i] = merged_ext, min(amin[i], amin[j]), merged_rect
        ext, amin, rects = np.delete(ext, j, 0), np.delete(amin, j), np.delete(rects, j, 0)
        member = np.where(member == j, i, member)
        member = np.where(member > j, member - 1, member)
    return rects.reshape(-1, 4).astype(np.int64), member


def _best_merge(ext: np.ndarray, amin: np.ndarray, rects: np.ndarray, frame_w: int, frame_h: int, min_side: int,
                cfg: DiscoveryConfig) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """The admissible pair (i < j) whose merge saves the most area, its union extent and region; None if none."""
    k = len(ext)
    u = np.stack([np.minimum(ext[:, None, 0], ext[None, :, 0]), np.minimum(ext[:, None, 1], ext[None, :, 1]),
                  np.maximum(ext[:, None, 2], ext[None, :, 2]), np.maximum(ext[:, None, 3], ext[None, :, 3])],
                 axis=-1)
    merged, side = _squares(u[..., 0], u[..., 1], u[..., 2], u[..., 3], frame_w, frame_h, min_side,
                            cfg.region_scale)
    area = _area(rects)
    parts = area[:, None] + area[None, :]
    m_area = _area(merged)
    small = np.minimum(amin[:, None], amin[None, :])
    ok = np.triu(np.ones((k, k), bool), 1) & (m_area <= cfg.merge_area_ratio * parts + 1e-9)
    ok &= (side <= min_side) | (small >= cfg.min_member_fraction * m_area)
    if not ok.any():
        return None
    saving = np.where(ok, parts - m_area, -np.inf)
    i, j = np.unravel_index(int(np.argmax(saving)), saving.shape)
    return int(i), int(j), u[i, j].copy(), merged[i, j].copy()


def cluster_regions(boxes: np.ndarray, frame_w: int, frame_h: int, min_side: int,
                    cfg: DiscoveryConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Merged regions of ``boxes`` (n, 4) ``[x, y, w, h]`` px in a ``frame_w`` × ``frame_h`` frame.

    Returns ``(rects, member)``: rects int64 ``(k, 4)`` ``[x0, y0, x1, y1]`` px, and member int64 ``(n,)``, the
    index of the region holding each box. ``min_side``: least region side, px (the model input side);
    ``cfg``: ``region_scale``, ``merge_area_ratio`` and ``min_member_fraction`` (module docstring).
    """
    cfg = _check(frame_w, frame_h, min_side, cfg)
    ext = _xyxy(boxes, frame_w, frame_h)
    return _cluster_kernel(ext, int(frame_w), int(frame_h), int(min_side), float(cfg.region_scale),
                           float(cfg.merge_area_ratio), float(cfg.min_member_fraction))


def _check(frame_w: int, frame_h: int, min_side: int, cfg: DiscoveryConfig | None) -> DiscoveryConfig:
    if min_side < 1 or frame_w < 1 or frame_h < 1:
        raise ValueError(f"need min_side, frame_w, frame_h >= 1; got {min_side}, {frame_w}, {frame_h}")
    return cfg if cfg is not None else DiscoveryConfig()


@njit(cache=True)
def _square(x0: float, y0: float, x1: float, y1: float, frame_w: int, frame_h: int, min_side: int,
            scale: float, out: np.ndarray) -> int:
    """:func:`_squares` for one extent, written into ``out`` (4,); returns the unclipped side."""
    side = max(int(math.ceil(scale * max(x1 - x0, y1 - y0) - 1e-9)), min_side)
    sx = min(max(int(math.floor((x0 + x1) / 2.0 - side / 2.0 + 0.5)), 0), max(frame_w - side, 0))
    sy = min(max(int(math.floor((y0 + y1) / 2.0 - side / 2.0 + 0.5)), 0), max(frame_h - side, 0))
    out[0], out[1], out[2], out[3] = sx, sy, min(sx + side, frame_w), min(sy + side, frame_h)
    return side


# A numba kernel, kept as one flat loop nest (the same steps as cluster_regions_numpy, pair order included).
@njit(cache=True)
def _cluster_kernel(ext: np.ndarray, frame_w: int, frame_h: int, min_side: int, scale: float,  # noqa: C901
                    ratio: float, frac: float) -> tuple[np.ndarray, np.ndarray]:
    n = ext.shape[0]
    ext = ext.copy()
    amin = (ext[:, 2] - ext[:, 0]) * (ext[:, 3] - ext[:, 1])
    rects = np.empty((n, 4), np.int64)
    area = np.empty(n)
    for i in range(n):
        _square(ext[i, 0], ext[i, 1], ext[i, 2], ext[i, 3], frame_w, frame_h, min_side, scale, rects[i])
        area[i] = float((rects[i, 2] - rects[i, 0]) * (rects[i, 3] - rects[i, 1]))
    alive = np.ones(n, np.bool_)
    member = np.arange(n)
    cand = np.empty(4, np.int64)
    best_rect = np.empty(4, np.int64)
    while True:
        best, bi, bj = -np.inf, -1, -1
        for i in range(n):
            if not alive[i]:
                continue
            for j in range(i + 1, n):
                if not alive[j]:
                    continue
                u0, u1 = min(ext[i, 0], ext[j, 0]), min(ext[i, 1], ext[j, 1])
                u2, u3 = max(ext[i, 2], ext[j, 2]), max(ext[i, 3], ext[j, 3])
                side = _square(u0, u1, u2, u3, frame_w, frame_h, min_side, scale, cand)
                m_area = float((cand[2] - cand[0]) * (cand[3] - cand[1]))
                parts = area[i] + area[j]
                if m_area > ratio * parts + 1e-9:
                    continue
                if side > min_side and min(amin[i], amin[j]) < frac * m_area:
                    continue
                if parts - m_area > best:
                    best, bi, bj = parts - m_area, i, j
                    best_rect[:] = cand
        if bi < 0:
            break
        ext[bi, 0], ext[bi, 1] = min(ext[bi, 0], ext[bj, 0]), min(ext[bi, 1], ext[bj, 1])
        ext[bi, 2], ext[bi, 3] = max(ext[bi, 2], ext[bj, 2]), max(ext[bi, 3], ext[bj, 3])
        amin[bi] = min(amin[bi], amin[bj])
        rects[bi] = best_rect
        area[bi] = float((best_rect[2] - best_rect[0]) * (best_rect[3] - best_rect[1]))
        alive[bj] = False
        for k in range(n):
            if member[k] == bj:
                member[k] = bi
    index = np.cumsum(alive) - 1
    for k in range(n):
        member[k] = index[member[k]]
    return rects[alive].copy(), member


def warm_up() -> None:
    """Compile (or load from numba's cache) the merge kernel, so that a timed call measures the merge alone."""
    cluster_regions(np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 10.0, 10.0]]), 64, 64, 32)


def motion_regions(boxes: np.ndarray, frame_w: int, frame_h: int, min_side: int,
                   cfg: DiscoveryConfig | None = None) -> np.ndarray:
    """Merged square regions (int64 ``(k, 4)`` ``[x0, y0, x1, y1]`` px) of motion boxes; see :func:`cluster_regions`."""
    return cluster_regions(boxes, frame_w, frame_h, min_side, cfg)[0]
