"""Predefined RoIs for a fixed camera (paper §IV-D), chosen from a TRAINING video's ground truth only.

The paper sets RoIs "to areas where new objects or small objects tend to appear". The density map counts,
per ``cell``-pixel cell, the boxes covering it: small boxes (area < ``small_area_px``) weigh 1 and a track's
first appearance after the first frame adds ``new_weight``. RoIs are ``side``×``side`` squares picked greedily by
the largest window sum, each pick zeroing its window so that RoIs do not overlap.
"""

from __future__ import annotations

import numpy as np

from runtime.coco import VideoAnnotations


def density_map(gt: VideoAnnotations, small_area_px: float, new_weight: float, cell: int = 8) -> np.ndarray:
    """(H/cell, W/cell) float map of small and new objects over every frame of ``gt`` (crowd boxes skipped)."""
    gh, gw = -(-gt.height // cell), -(-gt.width // cell)
    out = np.zeros((gh, gw))
    ids = gt.frame_ids
    seen: set[int] = {int(t) for t in gt.frames[ids[0]].track_ids} if ids else set()  # present at the start
    for fid in ids:
        f = gt.frames[fid]
        for box, crowd, track in zip(f.boxes, f.iscrowd, f.track_ids, strict=False):
            if crowd:
                continue
            x, y, w, h = (float(v) for v in box)
            weight = 1.0 if w * h < small_area_px else 0.0
            if track >= 0 and int(track) not in seen:
                seen.add(int(track))
                weight += new_weight
            if weight:
                x0, y0 = max(int(x // cell), 0), max(int(y // cell), 0)
                x1, y1 = min(int(np.ceil((x + w) / cell)), gw), min(int(np.ceil((y + h) / cell)), gh)
                out[y0:y1, x0:x1] += weight
    return out


def pick_rois(density: np.ndarray, count: int, side: int, cell: int = 8) -> list[list[float]]:
    """Up to ``count`` non-overlapping square RoIs ``[x, y, w, h]`` (pixels) of side ``side``, densest first."""
    d = density.astype(float).copy()
    k = max(1, int(round(side / cell)))
    gh, gw = d.shape
    k_y, k_x = min(k, gh), min(k, gw)
    rois: list[list[float]] = []
    for _ in range(count):
        integral = np.pad(d, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        sums = (integral[k_y:, k_x:] - integral[:-k_y, k_x:] - integral[k_y:, :-k_x] + integral[:-k_y, :-k_x])
        if sums.size == 0 or sums.max() <= 0:
            break
        y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
        rois.append([float(x * cell), float(y * cell), float(k_x * cell), float(k_y * cell)])
        d[y:y + k_y, x:x + k_x] = 0.0
    return rois
