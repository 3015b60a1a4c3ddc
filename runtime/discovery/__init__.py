"""Discovery: where new objects may be, without the detector feedback loop.

Pure algorithm modules — arrays in, arrays out: ``config`` (the ``discovery`` section), ``motion`` (motion
boxes per frame: background subtraction for a still camera, motion-compensated frame differencing for a
moving one) and ``regions`` (Frigate-style square regions around motion boxes, merged when that saves
pixels). Typical use, once per frame, with the warp the tracker's camera-motion estimator already computed::

    boxes = detector.detect(frame, warp)                       # (n, 4) [x, y, w, h] px, largest first
    rects = motion_regions(boxes, width, height, model_side)   # (k, 4) int64 [x0, y0, x1, y1] px
"""

from runtime.discovery.config import DiscoveryConfig
from runtime.discovery.motion import MotionDetector, camera_shift_px, scale_warp
from runtime.discovery.regions import cluster_regions, cluster_regions_numpy, motion_regions, square_regions, warm_up

__all__ = ["DiscoveryConfig", "MotionDetector", "camera_shift_px", "cluster_regions", "cluster_regions_numpy",
           "motion_regions", "scale_warp", "square_regions", "warm_up"]
