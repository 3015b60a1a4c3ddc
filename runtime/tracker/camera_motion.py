"""Global camera motion between consecutive frames from sparse optical flow (BoT-SORT's sparse-flow GMC).

:class:`CameraMotion` keeps the previous (downscaled grey) frame and its corners. For each new frame it tracks
those corners with pyramidal Lucas–Kanade (``cv2.calcOpticalFlowPyrLK``), fits a 4-DoF similarity (rotation,
uniform scale, translation) with ``cv2.estimateAffinePartial2D`` + RANSAC, and returns it as a 2×3 affine in
full-resolution pixels that maps a point of the previous frame onto the same scene point in this frame
(``x' = A[:, :2] @ x + A[:, 2]``) — what :meth:`runtime.tracker.Tracker.update` takes as ``warp``.

Moving objects and parallax are RANSAC outliers. When there is no previous frame (first call, size change,
:meth:`reset`), too few corners survive, the fit fails or is implausible (scale outside 0.5–2), it returns
the identity. Speed: all work is at ``width`` px wide (default 240: 1/4 of 960×540); the corners that
were RANSAC inliers are re-used as the next frame's corners (a KLT tracker) and ``cv2.goodFeaturesToTrack``
runs again only when fewer than half of ``max_points`` are left, so most frames cost one colour
conversion, two halvings (shared with the motion boxes), one LK call and one RANSAC fit (under 1 ms at 960×540
on one core).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from runtime.tracker.config import TrackerConfig
from runtime.video import FrameGrey

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  #: the 2×3 affine of a still camera
QUALITY = 0.01            #: goodFeaturesToTrack quality level (fraction of the best corner's response)
MIN_DISTANCE_PX = 8.0     #: least distance between corners, px of the downscaled frame
LK_WINDOW_PX = 11         #: Lucas–Kanade window side, px of the downscaled frame
LK_LEVELS = 2             #: pyramid levels above the base (tracks motions up to ~20 downscaled px per frame)
RANSAC_PX = 1.0           #: RANSAC inlier threshold, px of the downscaled frame
SCALE_RANGE = (0.5, 2.0)  #: an estimate whose scale falls outside is rejected (identity)
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)


class CameraMotion:
    """Frame-to-frame camera-motion estimator (stateful: feed every frame the tracker sees, in order).

    ``width``: frames are downscaled to this width, px (never upscaled); ``max_points``: most corners tracked;
    ``min_points``: fewest RANSAC inliers for an estimate (fewer → identity).
    """

    def __init__(self, width: int = TrackerConfig.cmc_width, max_points: int = TrackerConfig.cmc_max_points,
                 min_points: int = TrackerConfig.cmc_min_points) -> None:
        if width < 1 or max_points < 1 or min_points < 3:
            raise ValueError(f"need width >= 1, max_points >= 1, min_points >= 3; got {width}, {max_points}, "
                             f"{min_points}")
        self.width = int(width)
        self.max_points = int(max_points)
        self.min_points = int(min_points)
        self.inliers = 0  #: RANSAC inliers of the last estimate (0 when it returned the identity)
        #: the last estimate had a previous frame of the same size but no fit (too few corners found again, RANSAC
        #: failed, implausible scale): the identity it returned is a guess (a scene cut, a violent jolt)
        self.lost = False
        self._prev: np.ndarray | None = None
        self._prev_size: tuple[int, int] = (0, 0)
        self._points: np.ndarray | None = None

    @classmethod
    def from_config(cls, cfg: TrackerConfig) -> CameraMotion:
        """The estimator with the ``cmc_*`` settings of ``cfg``."""
        return cls(cfg.cmc_width, cfg.cmc_max_points, cfg.cmc_min_points)

    def reset(self) -> None:
        """Forget the previous frame (after a cut or a seek): the next :meth:`estimate` returns the identity."""
        self._prev = None
        self._points = None
        self.inliers = 0
        self.lost = False

    def estimate(self, frame: np.ndarray | FrameGrey) -> np.ndarray:
        """The 2×3 affine (float64, full-resolution px) from the previous frame to ``frame`` (BGR or grey, uint8,
        or its :class:`FrameGrey`, shared with the motion detector)."""
        frame = FrameGrey.of(frame)
        grey, scale, _ = frame.reduced(self.width)
        size = (frame.height, frame.width)
        prev, points, same_size = self._prev, self._points, self._prev_size == size
        self._prev, self._prev_size = grey, size
        self.inliers = 0
        warp, kept = IDENTITY.copy(), None
        if prev is not None and same_size and points is not None and len(points) >= self.min_points:
            fitted = self._fit(prev, grey, points)
            if fitted is not None:
                small, kept = fitted
                warp = small.copy()
                warp[:, 2] /= scale
                self.inliers = len(kept)
        self.lost = prev is not None and same_size and kept is None
        self._points = kept if kept is not None and len(kept) >= self.max_points // 2 else self._detect(grey)
        return warp

    def _detect(self, grey: np.ndarray) -> np.ndarray | None:
        pts = cv2.goodFeaturesToTrack(grey, self.max_points, QUALITY, MIN_DISTANCE_PX, blockSize=3)
        return None if pts is None else pts.astype(np.float32).reshape(-1, 1, 2)

    def _fit(self, prev: np.ndarray, grey: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Similarity (downscaled px) and the inlier corners in ``grey``, or None when it cannot be estimated."""
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, grey, points, None, winSize=(LK_WINDOW_PX, LK_WINDOW_PX),
                                                  maxLevel=LK_LEVELS, criteria=_LK_CRITERIA)
        if nxt is None or status is None:
            return None
        ok = status.ravel() == 1
        if int(ok.sum()) < self.min_points:
            return None
        p0, p1 = points[ok], nxt[ok]
        affine, inl = cv2.estimateAffinePartial2D(p0, p1, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
        if affine is None or inl is None or not np.isfinite(affine).all():
            return None
        inl = inl.ravel().astype(bool)
        scale = math.sqrt(abs(float(np.linalg.det(affine[:, :2]))))
        if int(inl.sum()) < self.min_points or not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
            return None
        h, w = grey.shape
        kept = p1[inl].reshape(-1, 2)
        inside = (kept[:, 0] >= 0) & (kept[:, 0] < w) & (kept[:, 1] >= 0) & (kept[:, 1] < h)
        return affine.astype(np.float64), np.ascontiguousarray(kept[inside]).reshape(-1, 1, 2)
