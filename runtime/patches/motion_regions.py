"""``motion-regions``: Frigate NVR's way of choosing what to detect, as a patch generator for the mini models.

Per frame: the camera motion from the previous frame (:class:`runtime.tracker.CameraMotion`, so that a moving
camera's background does not read as motion) → motion boxes (:class:`runtime.discovery.MotionDetector`:
background subtraction for a still camera, motion-compensated frame differencing for a moving one) → square
regions around them (:func:`runtime.discovery.motion_regions`: side ``max(region_min_side, ⌈1.35 · object⌉)``
px, never smaller than the smallest mini model input, merged by Frigate's / UFPMP-Det's cluster rules).
Every region is a LowConf patch (:attr:`runtime.patches.refiner.PatchKind.LOW`, confidence
``PatchConfig.low_confidence``: motion is speculative), at most ``PatchConfig.max_patches`` of them, largest
motion first.

Frigate picks regions from motion alone: the detections fed back are ignored, so an object that stops moving
is no longer looked at, and the first frame after a reset (no reference yet) and a still scene give no
patches.
"""

from __future__ import annotations

import numpy as np

from runtime.discovery import DiscoveryConfig, MotionDetector, motion_regions
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.generators import FramePatches
from runtime.patches.refiner import PatchKind
from runtime.tracker import CameraMotion, TrackerConfig
from runtime.video import FrameGrey, frame_size


class MotionRegions:
    """Frigate-style motion regions of one stream (stateful: feed every frame in order; see the module docstring).

    ``config``: the ``patches`` section (``low_confidence``, ``max_patches``); ``discovery``: the motion detector
    and region settings, ``region_min_side`` (px) the smallest region side (None: the defaults); ``tracker``:
    only its ``camera_motion`` / ``cmc_*`` settings are used (None: the defaults, camera motion on).
    """

    name: str = Mode.MOTION_REGIONS.value

    def __init__(self, config: PatchConfig, discovery: DiscoveryConfig | None = None,
                 tracker: TrackerConfig | None = None) -> None:
        self.cfg = config
        self.discovery = discovery if discovery is not None else DiscoveryConfig()
        tracker = tracker if tracker is not None else TrackerConfig()
        self.camera = CameraMotion.from_config(tracker) if tracker.camera_motion else None
        self.motion = MotionDetector(self.discovery)
        self.last_boxes = np.zeros((0, 4))  #: the last frame's motion boxes, (n, 4) [x, y, w, h] px

    def reset(self) -> None:
        """A new stream: forget the reference frames, the background model and the camera's last frame."""
        self.motion.reset()
        if self.camera is not None:
            self.camera.reset()
        self.last_boxes = np.zeros((0, 4))

    def __call__(self, frame: np.ndarray | FrameGrey, frame_id: int, detections: np.ndarray | None = None,
                 scores: np.ndarray | None = None, det_frame_id: int | None = None) -> FramePatches:
        """This frame's regions; ``detections``, ``scores`` and ``det_frame_id`` are ignored (Frigate's region
        choice does not use detections)."""
        w, h = frame_size(frame)
        warp = self.camera.estimate(frame) if self.camera is not None else None
        boxes = self.motion.detect(frame, warp)
        self.last_boxes = boxes
        rects = motion_regions(boxes, w, h, self.discovery.region_min_side, self.discovery)[: self.cfg.max_patches]
        return FramePatches(frame_id, w, h, rects.astype(np.int64), np.full(len(rects), self.cfg.low_confidence),
                            PatchKind.LOW.fill(len(rects)))
