"""Multi-object tracker for the closed loop (ByteTrack association, Kalman motion, BoT-SORT camera motion).

Pure algorithm modules — arrays in, arrays / dataclasses out, no sockets or model files:
``config`` (the ``tracker`` section), ``kalman`` (constant-velocity box filter, batched over tracks),
``association`` (class-gated IoU, greedy matcher), ``camera_motion`` (frame-to-frame global affine from
sparse optical flow) and ``tracker`` (the tracker). Typical use, once per processed frame at video time
``t = frame_index / fps`` (s)::

    warp = motion.estimate(frame) if cfg.camera_motion else None
    out = tracker.update(t, boxes, scores, labels, clipped=clipped, warp=warp)
    ahead = tracker.predict(t_next)   # boxes + margins (px) for the next frame's HighConf patches
"""

from runtime.tracker.camera_motion import IDENTITY, CameraMotion
from runtime.tracker.config import TrackerConfig
from runtime.tracker.kalman import BoxKalman, warp_states
from runtime.tracker.tracker import Tracker, TrackerOutput, TrackPredictions

__all__ = ["IDENTITY", "BoxKalman", "CameraMotion", "TrackPredictions", "Tracker", "TrackerConfig", "TrackerOutput",
           "warp_states"]
