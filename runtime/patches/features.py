"""Indicative features of objectness on a coarse grid (paper §III-C2): f_edge, f_diff, f_hist.

Grid. A frame of W × H pixels is divided into ``gw × gh`` cells, ``gw = max(1, round(W / cell))`` and
``gh = max(1, round(H / cell))``, so a cell is about ``cell`` pixels square and the grid tiles the frame
exactly (cell (i, j) spans x in [j·W/gw, (j+1)·W/gw), y in [i·H/gh, (i+1)·H/gh)). The frame is turned grey
and downsampled with ``cv2.INTER_AREA`` to ``(gw·sub) × (gh·sub)`` pixels (:func:`grey_grid_image`: by the
integer factor cell/sub — a power of two by repeated 2×2 means, :meth:`runtime.video.FrameGrey.halved` — then a
bilinear fix-up of the last pixel or so); each
cell is then ``sub × sub`` pixels of that small image. The per-cell means of f_edge and f_diff are OpenCV's
(absolute differences, then INTER_AREA by the integer factor ``sub``: exact block means, :func:`cell_means`); the
box occupancy and the logistic map are numba kernels (``@njit(cache=True)``). Each has a plain-numpy reference
(``*_ref``) that the tests compare.

Units. Features are per cell, float32:

- ``f_edge``: mean absolute forward difference (|I[y, x+1] − I[y, x]| + |I[y+1, x] − I[y, x]|) of the small
  grey image over the cell, in grey levels (0–510) — texture density.
- ``f_diff``: mean absolute difference between the small grey images of this and the previous frame over the
  cell, in grey levels (0–255).
- ``f_hist``: fraction of the cell covered by boxes (0–1) accumulated with exponential decay over the
  detections seen so far (:func:`box_occupancy` + an EMA in :class:`runtime.patches.proposer`).

The logistic model takes them through :func:`feature_stack`, which scales them to roughly unit range.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit

from runtime.video import FrameGrey, frame_size

EDGE_SCALE = 32.0  # grey levels: f_edge / EDGE_SCALE is the model's edge input
DIFF_SCALE = 16.0  # grey levels: f_diff / DIFF_SCALE is the model's difference input
FEATURE_CAP = 4.0  # scaled edge and diff inputs are capped at this value
N_FEATURES = 3  # edge, diff, hist (the model adds a bias)


def grid_shape(frame_w: int, frame_h: int, cell: int) -> tuple[int, int]:
    """``(gh, gw)``: grid rows and columns for a ``frame_w`` × ``frame_h`` frame and cells of ``cell`` px."""
    return max(1, int(round(frame_h / cell))), max(1, int(round(frame_w / cell)))


def as_grey(frame: np.ndarray | FrameGrey) -> np.ndarray:
    """A 2-D uint8 grey image of ``frame`` (H, W), (H, W, 1), (H, W, 3 BGR) or (H, W, 4 BGRA), or the grey copy a
    :class:`runtime.video.FrameGrey` already holds (one conversion per frame for every stage)."""
    if isinstance(frame, FrameGrey):
        return frame.grey()
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        frame = cv2.cvtColor(np.ascontiguousarray(frame[:, :, :4] if frame.shape[2] >= 4 else frame[:, :, :3]),
                             code)
    if frame.ndim != 2 or frame.size == 0:
        raise ValueError(f"expected an image (H, W[, C]), got shape {frame.shape}")
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return frame


def grey_grid_image(frame: np.ndarray | FrameGrey, cell: int, sub: int) -> np.ndarray:
    """The grey frame downsampled (area) to ``(gh·sub, gw·sub)`` uint8 pixels, ``sub`` per cell side."""
    shared = frame if isinstance(frame, FrameGrey) else FrameGrey(as_grey(frame))
    grey = shared.grey()
    h, w = grey.shape
    gh, gw = grid_shape(w, h, cell)
    target = (gw * sub, gh * sub)
    factor = cell // sub if cell % sub == 0 else 0
    if factor > 1 and w // factor >= target[0] - sub and h // factor >= target[1] - sub and w >= factor \
            and h >= factor:
        # an integer area factor; a power of two comes from the frame's halving pyramid (OpenCV's fastest
        # path), another factor from one INTER_AREA resize; the small remainder is fixed up bilinearly
        level = factor.bit_length() - 1
        if factor == 1 << level:
            small = shared.halved(level)
        else:
            small = cv2.resize(grey, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        if small.shape[::-1] == target:
            return small
        return cv2.resize(small, target, interpolation=cv2.INTER_LINEAR)
    return cv2.resize(grey, target, interpolation=cv2.INTER_AREA)


# ---- kernels (numba) and their numpy references ---------------------------------------------------------

def cell_means(image: np.ndarray, sub: int) -> np.ndarray:
    """Mean of ``image`` (H, W) float32 over each ``sub × sub`` cell, (H // sub, W // sub) float32 (a partial last
    row or column of cells left out). OpenCV's INTER_AREA by the integer factor ``sub`` is exactly that block mean
    (one float32 sum, then × 1/sub²), several times faster than a hand loop."""
    gh, gw = image.shape[0] // sub, image.shape[1] // sub
    if gh == 0 or gw == 0:
        return np.zeros((gh, gw), dtype=np.float32)
    return cv2.resize(image[:gh * sub, :gw * sub], (gw, gh), interpolation=cv2.INTER_AREA)


def cell_edges(small: np.ndarray, sub: int) -> np.ndarray:
    """f_edge per cell: mean |dx| + |dy| (forward differences, 0 at the image border) of ``small`` (uint8)."""
    h, w = small.shape
    grad = np.zeros((h, w), dtype=np.float32)
    if w > 1:
        grad[:, :-1] = cv2.absdiff(small[:, 1:], small[:, :-1])
    if h > 1:
        grad[:-1, :] += cv2.absdiff(small[1:, :], small[:-1, :])
    return cell_means(grad, sub)


def cell_edges_ref(small: np.ndarray, sub: int) -> np.ndarray:
    """Plain-numpy reference of :func:`cell_edges`."""
    s = small.astype(np.int32)
    g = np.zeros_like(s)
    g[:, :-1] += np.abs(s[:, 1:] - s[:, :-1])
    g[:-1, :] += np.abs(s[1:, :] - s[:-1, :])
    gh, gw = s.shape[0] // sub, s.shape[1] // sub
    return g[:gh * sub, :gw * sub].reshape(gh, sub, gw, sub).mean(axis=(1, 3)).astype(np.float32)


def cell_absdiff(small: np.ndarray, ref: np.ndarray, sub: int) -> np.ndarray:
    """f_diff per cell: mean |small − ref| over each ``sub × sub`` cell (same-shape uint8 images)."""
    return cell_means(cv2.absdiff(small, ref).astype(np.float32), sub)


def cell_absdiff_ref(small: np.ndarray, ref: np.ndarray, sub: int) -> np.ndarray:
    """Plain-numpy reference of :func:`cell_absdiff`."""
    d = np.abs(small.astype(np.int32) - ref.astype(np.int32))
    gh, gw = d.shape[0] // sub, d.shape[1] // sub
    return d[:gh * sub, :gw * sub].reshape(gh, sub, gw, sub).mean(axis=(1, 3)).astype(np.float32)


@njit(cache=True)
def box_occupancy(boxes: np.ndarray, frame_w: float, frame_h: float, gh: int, gw: int) -> np.ndarray:
    """Fraction (0–1) of each grid cell covered by the union-free sum of ``boxes`` (n, 4) xywh pixels, capped at 1.

    Boxes are clipped to the frame; boxes outside it or of zero size add nothing.
    """
    out = np.zeros((gh, gw), dtype=np.float32)
    cw, ch = frame_w / gw, frame_h / gh
    for k in range(boxes.shape[0]):
        x0 = min(max(boxes[k, 0], 0.0), frame_w)
        y0 = min(max(boxes[k, 1], 0.0), frame_h)
        x1 = min(max(boxes[k, 0] + boxes[k, 2], 0.0), frame_w)
        y1 = min(max(boxes[k, 1] + boxes[k, 3], 0.0), frame_h)
        if x1 <= x0 or y1 <= y0:
            continue
        j0, j1 = int(x0 / cw), min(int(math.ceil(x1 / cw)), gw)
        i0, i1 = int(y0 / ch), min(int(math.ceil(y1 / ch)), gh)
        for i in range(i0, i1):
            oy = min(y1, (i + 1) * ch) - max(y0, i * ch)
            if oy <= 0:
                continue
            for j in range(j0, j1):
                ox = min(x1, (j + 1) * cw) - max(x0, j * cw)
                if ox > 0:
                    out[i, j] += np.float32(ox * oy / (cw * ch))
    for i in range(gh):
        for j in range(gw):
            if out[i, j] > 1.0:
                out[i, j] = 1.0
    return out


def box_occupancy_ref(boxes: np.ndarray, frame_w: float, frame_h: float, gh: int, gw: int) -> np.ndarray:
    """Plain-numpy reference of :func:`box_occupancy`."""
    cw, ch = frame_w / gw, frame_h / gh
    cx0, cy0 = np.arange(gw) * cw, np.arange(gh) * ch
    out = np.zeros((gh, gw), dtype=np.float64)
    for x, y, w, h in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        x0, y0 = np.clip(x, 0, frame_w), np.clip(y, 0, frame_h)
        x1, y1 = np.clip(x + w, 0, frame_w), np.clip(y + h, 0, frame_h)
        ox = np.clip(np.minimum(x1, cx0 + cw) - np.maximum(x0, cx0), 0, None)
        oy = np.clip(np.minimum(y1, cy0 + ch) - np.maximum(y0, cy0), 0, None)
        out += np.outer(oy, ox) / (cw * ch)
    return np.minimum(out, 1.0).astype(np.float32)


@njit(cache=True)
def logistic_map(edge: np.ndarray, diff: np.ndarray, hist: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Objectness probability per cell: sigmoid(w · (feature_stack(edge, diff, hist), 1)), float32 (gh, gw)."""
    gh, gw = edge.shape
    out = np.empty((gh, gw), dtype=np.float32)
    for i in range(gh):
        for j in range(gw):
            z = (w[0] * min(edge[i, j] / EDGE_SCALE, FEATURE_CAP) + w[1] * min(diff[i, j] / DIFF_SCALE, FEATURE_CAP)
                 + w[2] * hist[i, j] + w[3])
            out[i, j] = 1.0 / (1.0 + math.exp(-z))
    return out


def feature_stack(edge: np.ndarray, diff: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """The model inputs (gh·gw, 3): edge / EDGE_SCALE and diff / DIFF_SCALE (each capped at FEATURE_CAP), hist."""
    return np.stack([np.minimum(edge / EDGE_SCALE, FEATURE_CAP), np.minimum(diff / DIFF_SCALE, FEATURE_CAP), hist],
                    axis=-1).reshape(-1, N_FEATURES).astype(np.float64)


def logistic_map_ref(edge: np.ndarray, diff: np.ndarray, hist: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Plain-numpy reference of :func:`logistic_map`."""
    x = feature_stack(edge, diff, hist)
    z = x @ np.asarray(w[:3], dtype=np.float64) + float(w[3])
    return (1.0 / (1.0 + np.exp(-z))).reshape(edge.shape).astype(np.float32)


class FeatureExtractor:
    """Per-frame f_edge and f_diff on the grid, keeping the previous small grey image.

    A frame whose size differs from the previous one resets the previous image (f_diff is 0 for it).
    """

    def __init__(self, cell: int, sub: int) -> None:
        self.cell, self.sub = int(cell), int(sub)
        self.prev: np.ndarray | None = None
        self.frame_size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the previous frame."""
        self.prev, self.frame_size = None, None

    def __call__(self, frame: np.ndarray | FrameGrey) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(small, f_edge, f_diff)`` of ``frame`` (or its :class:`FrameGrey`): the small grey image and two
        (gh, gw) float32 maps."""
        small = grey_grid_image(frame, self.cell, self.sub)
        size = frame_size(frame)
        edge = cell_edges(small, self.sub)
        if self.prev is None or self.prev.shape != small.shape or self.frame_size != size:
            diff = np.zeros_like(edge)
        else:
            diff = cell_absdiff(small, self.prev, self.sub)
        self.prev, self.frame_size = small, size
        return small, edge, diff
