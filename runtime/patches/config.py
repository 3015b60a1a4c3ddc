"""The ``patches`` config section: the object-centric patch generator's knobs, typed and bounded.

Load with ``runtime.config.from_mapping(PatchConfig, yaml_section, "config.yaml: patches")``; an unknown key
or an out-of-range value is a one-line error naming it. Units are in each field's help: pixels of the
original frame, grey levels (0–255), frames, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.config import bounded
from runtime.errors import UserError
from runtime.modes import JpegChroma


@dataclass
class PatchConfig:
    """Object-centric patch generator (paper §III-C); defaults as in the paper where it gives one."""

    cell: int = bounded(16, "grid cell side for the features, frame pixels", ge=4, le=256)
    sub: int = bounded(4, "pixels per cell side of the downsampled grey image the features use", ge=1, le=16)
    r_high: float = bounded(0.5, "HighConf: object box area / patch area (CONVENTIONS geometry); 0.5 measured "
                                 "best on val (0.6 left the object's edge outside the patch whenever the "
                                 "prediction was off)", ge=0.5, le=0.8)
    r_low: float = bounded(0.5, "LowConf: component box area / patch area", gt=0.0, le=1.0)
    min_patch_side: int = bounded(16, "smallest patch side, pixels", ge=1)
    low_threshold: float = bounded(0.7, "objectness probability above which a cell is a LowConf candidate",
                                   gt=0.0, lt=1.0)
    min_component_cells: int = bounded(2, "smallest LowConf connected component, cells", ge=1)
    lambda1: float = bounded(0.5, "refiner: drop a LowConf RoI whose area / frame area exceeds this (a HighConf "
                                  "patch is never dropped for its size: with the rule on every kind a close-up "
                                  "track's patch — a 330 x 180 px vehicle's box plus margin, grown to r_high, ~0.6 "
                                  "of a 960 x 540 frame — was dropped and the minis saw only the vehicle's front, a "
                                  "fragment track. 0:60 clips of the 12 val videos and vtest, b12: rule on every "
                                  "kind 0.8222, HighConf exempt 0.8287, off for every kind (1.0) 0.8274 — a LowConf "
                                  "patch over half the frame holds small motion boxes whole, so they get no patch "
                                  "of their own; tuning set 0.8293 / 0.8305 / 0.8314)", gt=0.0, le=1.0)
    lambda2: float = bounded(0.7, "refiner: drop a RoI whose IoU with an accepted patch exceeds this",
                             ge=0.0, le=1.0)
    feedback_score: float = bounded(0.5, "last detections below this score seed no HighConf patch (a low-score "
                                         "box fed back grows into a false track)", ge=0.0, le=1.0)
    track_memory: int = bounded(0, "a seeding detection keeps its HighConf patch this many detection "
                                   "updates after it was last seen (0 = only the last detections)", ge=0)
    bootstrap: bool = bounded(True, "on the first frame, and when the last tracked object is lost, send every "
                                    "refresh tile once")
    max_high: int = bounded(60, "HighConf patches are grouped until at most this many remain (if they can)",
                            ge=1)
    merge_max_area: float = bounded(0.0, "largest grouped HighConf patch, fraction of the frame area",
                                    ge=0.0, le=1.0)
    max_patches: int = bounded(60, "cap on HighConf + LowConf patches per frame, highest value first", ge=1)
    refresh_every: int = bounded(10, "every this many processed frames one refresh tile is added (0 = off)",
                                 ge=0)
    refresh_cols: int = bounded(4, "refresh tiles: columns of the frame grid", ge=1, le=16)
    refresh_rows: int = bounded(3, "refresh tiles: rows of the frame grid", ge=1, le=16)
    hist_decay: float = bounded(0.98, "f_hist: weight of the old map per detection update", ge=0.0, lt=1.0)
    skip_threshold: float = bounded(3.0, "frame skip: largest cell mean |difference| to the last processed "
                                         "frame, grey levels, below which the frame is skipped (0 = never)",
                                    ge=0.0, le=255.0)
    cost_window_s: float = bounded(300.0, "window for the fraction of frames needing inference, seconds",
                                   gt=0.0)
    high_confidence: float = bounded(1.0, "confidence level y_k of HighConf patches", gt=0.0, le=1.0)
    low_confidence: float = bounded(0.5, "confidence level y_k of LowConf, refresh and predefined patches",
                                    gt=0.0, le=1.0)
    jpeg_quality: int = bounded(90, "JPEG quality of patches in the queue (4:4:4 tuning set: 85 0.8371, 90 "
                                    "0.8382, 95 0.8378)", ge=1, le=100)
    jpeg_chroma: JpegChroma = bounded(JpegChroma.FULL, f"colour sampling of the patches' JPEG: "
                                      f"{' | '.join(JpegChroma.values())}. 4:4:4 costs ~23 % more bytes; at 4:2:0 "
                                      "the baseline scored a 7 x 16 px person in a still tile 0.13-0.37 instead of "
                                      "0.50-0.68 unencoded (4:4:4: 0.38-0.72). Tuning set of 13 videos, three "
                                      "builds: 4:2:0 0.8305 / 0.8283 / 0.8169, 4:4:4 0.8382 / 0.8361 / 0.8262")
    max_side: int = bounded(320, "patches are sent at native resolution capped at this side, pixels", ge=16)
    online_update: bool = bounded(True, "update the objectness model from each frame's detections")
    sgd_lr: float = bounded(0.5, "online update: learning rate", ge=0.0)
    sgd_max_step: float = bounded(0.05, "online update: largest L2 norm of one step", ge=0.0)
    sgd_max_drift: float = bounded(1.5, "online update: largest |w - w_offline| per weight", ge=0.0)
    predefined_rois: list[list[float]] = bounded([], "fixed RoIs [x, y, w, h] in pixels, always sent (§IV-D)")

    def validate(self, where: str) -> None:
        """Check what single-field bounds cannot (called by ``from_mapping``)."""
        for i, roi in enumerate(self.predefined_rois):
            if len(roi) != 4 or roi[2] <= 0 or roi[3] <= 0:
                raise UserError(f"{where}.predefined_rois[{i}]: expected [x, y, w, h] with w, h > 0, got {roi}")
