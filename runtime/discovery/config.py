"""The ``discovery`` config section: motion detection and motion regions, typed and bounded.

Load with ``runtime.config.from_mapping(DiscoveryConfig, yaml_section, "config.yaml: discovery")``; an unknown
key or an out-of-range value is a one-line error naming it. Units are in each field's help: pixels of the
original (full-resolution) frame (px, px²), pixels of the downscaled motion frame (reduced px), grey levels
(0–255), frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.config import bounded


@dataclass
class DiscoveryConfig:
    """Motion boxes (background subtraction or motion-compensated frame differencing) and their regions."""

    width: int = bounded(240, "motion work runs on grey frames downscaled to this width, px (never upscaled); "
                              "cost grows with its square. 240: a quarter of 960 x 540 (the halving pyramid, "
                              "0.04 ms), MOG2 0.4 ms against 1 ms at 320; the loop 0.4-0.9 ms/frame faster. "
                              "Tuning set 320 0.8260, 240 0.8298 (b8 0.8286 / 0.8294, b6 0.8187 / 0.8181); at 160 "
                              "moving objects break into fragments", ge=32, le=4096)
    history: int = bounded(100, "background subtractor (MOG2) history, frames: a still object blends into the "
                                "background after about this many frames", ge=2, le=100000)
    var_threshold: float = bounded(16.0, "background subtractor: squared Mahalanobis distance (difference² / the "
                                         "pixel's variance) above which a pixel is foreground", gt=0.0, le=10000.0)
    mixtures: int = bounded(3, "background subtractor: Gaussian modes per pixel (MOG2's default is 5; fewer are "
                                "faster and absorb slow textured objects less)", ge=1, le=8)
    relearn_frames: int = bounded(5, "after a reset (start, camera motion, global change) the subtractor learns "
                                     "for this many frames while motion comes from frame differencing", ge=1,
                                  le=10000)
    diff_threshold: int = bounded(25, "frame differencing: a pixel moved when the aligned frames differ there by "
                                      "more than this, grey levels", ge=1, le=254)
    diff_gap: int = bounded(2, "frame differencing compares with the frame this many frames back (1 = the "
                               "previous one), aligned by the warps in between: slow objects move further",
                            ge=1, le=30)
    moving_px: float = bounded(1.0, "the camera counts as moving when the caller's warp displaces a frame corner "
                                    "by more than this, px; then frame differencing is used and the subtractor "
                                    "relearns once the camera is still", ge=0.0)
    merge_px: float = bounded(12.0, "motion fragments less than this far apart become one box, px", ge=0.0,
                              le=1000.0)
    min_area: float = bounded(100.0, "motion boxes with a smaller area are dropped, px²", ge=0.0)
    max_boxes: int = bounded(32, "most motion boxes per frame (the largest are kept)", ge=1, le=10000)
    max_fraction: float = bounded(0.5, "when more than this fraction of the frame moves, the frame is a "
                                       "global change (lighting, a camera bump, a wrong warp): no boxes, and the "
                                       "subtractor relearns", gt=0.0, le=1.0)
    region_scale: float = bounded(1.35, "a region's side is this times the longer side of its boxes' union "
                                        "(Frigate's 1.35), and at least the model input side", ge=1.0, le=10.0)
    merge_area_ratio: float = bounded(1.0, "two regions merge only when the merged region's area is at most this "
                                           "times the sum of theirs (UFPMP-Det: 1)", gt=0.0, le=4.0)
    min_member_fraction: float = bounded(0.05, "every box of a merged region larger than the model input keeps at "
                                               "least this fraction of the region's area (Frigate: 5 %)", ge=0.0,
                                         le=1.0)
    region_min_side: int = bounded(160, "motion-regions generator: smallest region side, px — the smallest mini "
                                        "model input side the devices serve, so a region is never upscaled into "
                                        "the model (Frigate: the model input side)", ge=8, le=4096)
