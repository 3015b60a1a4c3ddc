"""Motion boxes per frame, independent of the detector: where new objects may be.

:class:`MotionDetector` works on a grey copy of each frame downscaled to ``cfg.width`` px wide (240 by default:
1/16 of the pixels of 960×540, from the frame's halving pyramid; MOG2 there costs 0.4 ms on one core, about 1 ms
at 320 px and 8 ms or more on the full frame). Each call picks its mode from the camera motion the
caller passes (``warp``: the 2×3 affine from the previous frame to this one in full-frame px, e.g. from
:class:`runtime.tracker.CameraMotion`):

- **subtractor** — the camera is still (the warp moves no frame corner by more than ``cfg.moving_px``):
  OpenCV's MOG2 background subtractor (shadows off, ``cfg.mixtures`` modes) gives a per-pixel foreground
  mask; moving objects come out as whole silhouettes, so their boxes are tight.
- **difference** — the camera moves: a reduced frame from ``cfg.diff_gap`` frames back (1: the previous frame)
  is warped onto this one by the caller's affines (composed over the gap, rescaled to the reduced frame), and
  a pixel moved where the two differ by more than ``cfg.diff_threshold`` grey levels. The border band that the
  warp brought in from outside the reference frame is ignored. A gap of a few frames makes slow objects move
  by more than the sub-pixel misalignment that warp estimation and interpolation leave (a walker moves ~1
  reduced px per frame); an object yields the union of its positions then and now (a box that is a little
  too large), the static background (almost) nothing.

A background model is only valid for the viewpoint it was learnt at, so after the camera moved (or a reset,
or a frame where more than ``cfg.max_fraction`` moved: lighting, a bump, a wrong warp) the subtractor is
recreated and relearns; for its first ``cfg.relearn_frames`` frames motion comes from differencing (with the
still camera's warps). The first frame after a reset has no reference and gives no boxes.

The mask is cleaned by a 3×3 median (isolated pixels), fragments less than ``cfg.merge_px`` apart are joined
by a dilation, the bounding rectangles of the outer contours give the boxes (shrunk back by the dilation),
boxes smaller than ``cfg.min_area`` px² are dropped and the ``cfg.max_boxes`` largest kept, largest first.
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from runtime.discovery.config import DiscoveryConfig
from runtime.video import FrameGrey

VALID_MARGIN_PX = 2  #: the warp-invalidated border is widened by this much, reduced px (interpolation, blur)
_K3 = np.ones((3, 3), np.uint8)
_EYE = np.eye(3)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2×3 affine ``outer ∘ inner`` (apply ``inner`` first)."""
    return (np.vstack([outer, _EYE[2]]) @ np.vstack([inner, _EYE[2]]))[:2]


def camera_shift_px(warp: np.ndarray | None, frame_w: int, frame_h: int) -> float:
    """Largest displacement of a frame corner under ``warp`` (2×3, full-frame px), px; 0 for None."""
    if warp is None:
        return 0.0
    a = np.asarray(warp, dtype=np.float64).reshape(2, 3)
    corners = np.array([[0.0, 0.0, 1.0], [frame_w, 0.0, 1.0], [0.0, frame_h, 1.0], [frame_w, frame_h, 1.0]])
    moved = corners @ a.T
    return float(np.hypot(*(moved - corners[:, :2]).T).max())


def scale_warp(warp: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """The affine ``warp`` (full-frame px) expressed in the px of a frame resized by ``sx``, ``sy``.

    OpenCV pixel coordinates put pixel centres on integers, so a resize maps ``x`` to ``u = s·x + (s − 1)/2``;
    with ``S = diag(sx, sy)`` and that offset ``c``: ``A' = S·A·S⁻¹``, ``t' = S·t + c − A'·c``.
    """
    a = np.asarray(warp, dtype=np.float64).reshape(2, 3)
    s = np.array([sx, sy])
    lin = a[:, :2] * s[:, None] / s[None, :]
    c = (s - 1.0) / 2.0
    out = np.empty((2, 3))
    out[:, :2] = lin
    out[:, 2] = s * a[:, 2] + c - lin @ c
    return out


class MotionDetector:
    """Stateful per-camera motion detector: feed every frame in order, get motion boxes (see module docstring).

    After a call, ``mode`` is ``"none"`` (no reference frame yet, or a global change), ``"subtractor"`` or
    ``"difference"``, and ``mask`` the cleaned foreground mask (uint8 0/255, reduced size) it used.
    """

    def __init__(self, cfg: DiscoveryConfig | None = None) -> None:
        self.cfg = cfg if cfg is not None else DiscoveryConfig()
        self.mode = "none"
        self.mask: np.ndarray | None = None
        #: the last ``diff_gap`` reduced frames, each with the affine (reduced px) onto the newest frame
        self._history: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.cfg.diff_gap)
        self._size: tuple[int, int] = (0, 0)
        self._subtractor: cv2.BackgroundSubtractorMOG2 | None = None
        self._learned = 0
        self._ones: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the reference frames and the background model (after a cut or a seek)."""
        self._history.clear()
        self._subtractor = None
        self._learned = 0
        self.mode = "none"
        self.mask = None

    def detect(self, frame: np.ndarray | FrameGrey, warp: np.ndarray | None = None) -> np.ndarray:
        """Motion boxes ``(n, 4)`` float64 ``[x, y, w, h]`` in full-frame px, largest first.

        ``frame``: BGR or grey uint8, any size (a size change resets the detector), or its :class:`FrameGrey`
        (shared with the camera-motion estimate). ``warp``: the 2×3 affine
        (full-frame px) mapping a point of the previous frame onto the same scene point in ``frame``; None for
        a camera known to be still.
        """
        frame = FrameGrey.of(frame)
        h, w = frame.height, frame.width
        grey, sx, sy = frame.reduced(self.cfg.width)
        if (w, h) != self._size:
            self.reset()
            self._size = (w, h)
        step = np.eye(2, 3) if warp is None else scale_warp(np.asarray(warp), sx, sy)
        for i, (old, to_now) in enumerate(self._history):
            self._history[i] = (old, _compose(step, to_now))
        reference = self._history[0] if self._history else None
        self._history.append((grey, np.eye(2, 3)))
        foreground = None
        if camera_shift_px(warp, w, h) > self.cfg.moving_px:
            self._subtractor, self._learned = None, 0  # the background model is stale: relearn once still
        else:
            foreground = self._learn(grey)
        mask = None
        if foreground is not None and self._learned > self.cfg.relearn_frames:
            mask, self.mode = foreground, "subtractor"
        elif reference is not None:
            mask, self.mode = self._difference(reference[0], grey, reference[1]), "difference"
        if mask is None:
            self.mode, self.mask = "none", None
            return np.zeros((0, 4))
        mask = cv2.medianBlur(mask, 3)
        if cv2.countNonZero(mask) > self.cfg.max_fraction * mask.size:
            self._subtractor, self._learned = None, 0
            self.mode, self.mask = "none", mask
            return np.zeros((0, 4))
        self.mask = mask
        return self._boxes(mask, sx, sy, w, h)

    def _learn(self, grey: np.ndarray) -> np.ndarray:
        """Feed the background subtractor (created on demand, relearning from scratch); its foreground mask."""
        if self._subtractor is None:
            self._subtractor = cv2.createBackgroundSubtractorMOG2(self.cfg.history, self.cfg.var_threshold, False)
            self._subtractor.setNMixtures(self.cfg.mixtures)
            self._learned = 0
        self._learned += 1
        return self._subtractor.apply(grey)

    def _difference(self, ref: np.ndarray, grey: np.ndarray, warp: np.ndarray) -> np.ndarray:
        """Pixels where ``grey`` and ``ref`` aligned by ``warp`` (reduced px) differ by > the threshold, 0/255."""
        rh, rw = grey.shape
        valid = None
        if np.abs(warp - _EYE[:2]).max() > 1e-6:
            ref = cv2.warpAffine(ref, warp, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            if self._ones is None or self._ones.shape != grey.shape:
                self._ones = np.full(grey.shape, 255, np.uint8)
            valid = cv2.warpAffine(self._ones, warp, (rw, rh), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            valid = cv2.erode(valid, _K3, iterations=VALID_MARGIN_PX, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        _, mask = cv2.threshold(cv2.absdiff(grey, ref), self.cfg.diff_threshold, 255, cv2.THRESH_BINARY)
        return mask if valid is None else cv2.bitwise_and(mask, valid)

    def _boxes(self, mask: np.ndarray, sx: float, sy: float, w: int, h: int) -> np.ndarray:
        """Outer contours of ``mask`` after the merge dilation → full-frame boxes, filtered and sorted."""
        rh, rw = mask.shape
        r = int(math.ceil(self.cfg.merge_px * max(sx, sy) / 2.0))
        joined = cv2.dilate(mask, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) if r > 0 else mask
        contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return np.zeros((0, 4))
        st = np.array([cv2.boundingRect(c) for c in contours], dtype=np.float64).reshape(-1, 4)
        x0, y0 = st[:, 0], st[:, 1]
        x1, y1 = x0 + st[:, 2], y0 + st[:, 3]
        # The dilation grew each component by r on every side the frame edge did not cut: take it back.
        x0 = np.where(x0 > 0, x0 + r, 0.0)
        y0 = np.where(y0 > 0, y0 + r, 0.0)
        x1 = np.where(x1 < rw, x1 - r, float(rw))
        y1 = np.where(y1 < rh, y1 - r, float(rh))
        x1, y1 = np.maximum(x1, x0 + 1), np.maximum(y1, y0 + 1)
        boxes = np.stack([x0 / sx, y0 / sy, x1 / sx, y1 / sy], axis=1)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0.0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0.0, h)
        boxes[:, 2:] -= boxes[:, :2]
        area = boxes[:, 2] * boxes[:, 3]
        keep = np.flatnonzero(area >= self.cfg.min_area)
        keep = keep[np.argsort(-area[keep], kind="stable")][: self.cfg.max_boxes]
        return boxes[keep]
