"""Scene cuts: the camera switched view (a PTZ preset, a multiplexed feed, an edit in a recording).

After a cut nothing the loop carries over is true any more: tracks point at objects of the old view and the
background model has learnt the old scene. :class:`SceneCut` flags a processed frame as a cut when both hold:

- the global camera-motion fit failed on it (:attr:`runtime.tracker.CameraMotion.lost`: the corners of the last
  frame were not found again), which a pan, a zoom or a passing vehicle in a still view rarely causes; and
- its grey thumbnail (:data:`THUMB_SIZE`, area-averaged) differs from the last processed frame's by at least
  ``min_diff`` grey levels on average: a lost fit on a dim or textureless view is no cut.

Measured on the world videos here (``paraloupe-world``, 960×540): at a layout switch the fit fails and the
thumbnails differ by 27–54 grey levels; between ordinary frames the difference has a median of 0.1–3.6 and
the largest seen with a working fit is 38 (a moving camera jolting) — hence both conditions. Pure numpy/OpenCV
on arrays, no model.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.tracker.config import TrackerConfig
from runtime.video import FrameGrey

THUMB_SIZE = (32, 18)  #: thumbnail (width, height) px the frames are compared at
#: the thumbnail is made from the grey frame at this width, px (the camera-motion estimator's default width, so
#: the reduced frame is shared with it through :class:`runtime.video.FrameGrey`)
SOURCE_WIDTH = TrackerConfig.cmc_width


class SceneCut:
    """Scene-cut detector over one stream (stateful: feed every processed frame, in order).

    ``min_diff``: least mean absolute difference of consecutive thumbnails for a cut, grey levels (0–255).
    """

    def __init__(self, min_diff: float) -> None:
        if not min_diff > 0:
            raise ValueError(f"min_diff must be > 0 grey levels, got {min_diff}")
        self.min_diff = float(min_diff)
        self.diff = 0.0  #: the last frame's thumbnail difference, grey levels (0 for the first)
        self._prev: np.ndarray | None = None

    def reset(self) -> None:
        """A new stream: the next frame has nothing to differ from."""
        self._prev = None
        self.diff = 0.0

    def update(self, frame: np.ndarray | FrameGrey, camera_lost: bool) -> bool:
        """Whether ``frame`` (BGR or grey uint8, or its :class:`FrameGrey`) starts a new scene; ``camera_lost``:
        the camera-motion fit failed on it."""
        grey, _, _ = FrameGrey.of(frame).reduced(SOURCE_WIDTH)
        thumb = cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
        prev, self._prev = self._prev, thumb
        self.diff = float(np.abs(thumb - prev).mean()) if prev is not None else 0.0
        return bool(camera_lost) and self.diff >= self.min_diff
