"""The ``tracker`` config section: the multi-object tracker's and camera-motion estimator's knobs, typed, bounded.

Load with ``runtime.config.from_mapping(TrackerConfig, yaml_section, "config.yaml: tracker")``; an unknown key
or an out-of-range value is a one-line error naming it. Units are in each field's help: detector scores (0–1),
IoU (0–1), seconds of video time, pixels of the original frame (px), box sides (a box's w for x and w, its h for
y and h).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.config import bounded
from runtime.errors import UserError
from runtime.modes import OutputBox


@dataclass
class TrackerConfig:
    """Two-stage (ByteTrack) IoU tracker with a constant-velocity Kalman filter and camera-motion compensation."""

    high_score: float = bounded(0.5, "detections with score >= this are associated first, to every track "
                                     "(stage 1)", ge=0.0, le=1.0)
    low_score: float = bounded(0.1, "detections with low_score <= score < high_score are associated only to the "
                                    "tracks left after stage 1 (stage 2); lower scores are dropped",
                               ge=0.0, le=1.0)
    new_track_score: float = bounded(0.6, "an unmatched, unclipped detection needs score >= this to start a "
                                          "track (>= high_score)", ge=0.0, le=1.0)
    baseline_track_score: float = bounded(0.45, "a detection the loop's baseline pass found (its box, unchanged by "
                                                "aggregation) starts a track from this score: that model's own "
                                                "threshold, not the minis' new_track_score (tuning set, four "
                                                "builds: off 0.8079, 0.45 0.8107, each build up)", ge=0.0, le=1.0)
    match_iou: float = bounded(0.3, "stage 1: least IoU between a track's predicted box and a detection "
                                    "(SORT's; ByteTrack's 0.2 let a mini's box on part of an object take the "
                                    "object's track, and the next patch shrank onto that part)", gt=0.0, le=1.0)
    match_area_ratio: float = bounded(2.0, "stage 1: a detection whose area is more than this times, or less "
                                           "than 1/this of, a track's predicted area does not match it (0 = off;"
                                           " with match_iou 0.3 +0.37 F1 points over 0.2 and off on the tuning "
                                           "set, each of four builds +0.2 to +0.5)", ge=0.0)
    low_match_iou: float = bounded(0.5, "stage 2: least IoU for a low-score detection", gt=0.0, le=1.0)
    min_hits: int = bounded(2, "strong hits (score >= high_score, unclipped, on distinct frames) a tentative "
                               "track needs before it is confirmed and reported (1 = at once)", ge=1, le=100)
    birth_confirm_score: float = bounded(0.75, "a track started by a detection scoring at least this is confirmed "
                                               "(reported) at once, as min_hits 1 would (a sure new object need not "
                                               "wait for its second frame; 1 = off). Tuning set, four builds: off "
                                               "0.8176, 0.85 0.8190, 0.8 0.8201, 0.75 0.8206 (each build up, 12 of "
                                               "13 videos on the mean), 0.65 0.8189", ge=0.0, le=1.0)
    confirm_mean_score: float = bounded(0.6, "a tentative track is confirmed (and reported from then on) only once "
                                             "the mean score of all its hits is at least this too, so a false "
                                             "positive the minis keep finding at a middling score never shows "
                                             "(Frigate's true-positive rule, on the mean); tuning set, three "
                                             "builds: off 0.791 / 0.798 / 0.792, 0.6 0.795 / 0.802 / 0.801, "
                                             "0.55 and 0.65 lower on the third; 0 = off", ge=0.0, le=1.0)
    coast_s: float = bounded(0.0, "a confirmed track missed for at most this long is still reported, at its "
                                  "predicted box and last score (det_index -1), seconds of video time (0 = only "
                                  "tracks hit in the frame)", ge=0.0)
    max_lost_s: float = bounded(1.0, "a confirmed track without a hit for longer than this is deleted, seconds "
                                     "of video time", ge=0.0)
    veto_after: int = bounded(2, "a track that this many baseline passes in a row held whole without finding "
                                 "anything on it (IoU >= veto_iou, score >= the baseline's threshold) is deleted: "
                                 "the minis' false positives do not live on their own patches (0 = never)", ge=0)
    veto_iou: float = bounded(0.5, "least IoU between a track's box and a baseline detection that backs it: "
                                   "a fragment of a larger object (a mini's box on part of a close-up vehicle) is "
                                   "not backed by the whole object's box; tuning set, three builds: 0.3 0.804 / "
                                   "0.803 / 0.794, 0.4 0.809, 0.5 0.809 / 0.811 / 0.800, 0.6 0.807", gt=0.0,
                              le=1.0)
    veto_min_side: float = bounded(24.0, "a baseline pass vetoes only tracks whose longer side at its input is at "
                                         "least this, px (smaller objects it misses too often)", ge=0.0)
    output_box: OutputBox = bounded(OutputBox.FILTERED, "box reported for a track hit in a frame: "
                                    f"{' | '.join(OutputBox.values())} (the matched detection's, or the "
                                    "Kalman posterior's: the minis' boxes jitter from frame to frame; filtered "
                                    "measured +0.7 F1 points on the tuning set, two builds)")
    std_measurement: float = bounded(0.1, "detection noise: std of centre and size, fraction of the box side "
                                          "(0.1 measured best on the tuning set of 0.05, 0.1, 0.15, 0.2)",
                                     gt=0.0, le=1.0)
    std_clipped: float = bounded(0.1, "detection noise of a box touching a patch's inner border (the part of "
                                      "an object a patch saw), fraction of the box side (0.3 and 1.0 measured "
                                      "-0.1 F1 points on the tuning set)", gt=0.0, le=10.0)
    std_baseline: float = bounded(0.05, "detection noise of a box the loop's baseline pass found (a larger model "
                                        "seeing the object at full resolution), fraction of the box side (0.05 "
                                        "measured +0.2 to +0.3 F1 points over 0.1 on the tuning set, three "
                                        "builds; 0.03 no gain)", gt=0.0, le=1.0)
    std_init_velocity: float = bounded(1.0, "a new track's velocity std, box sides per second", gt=0.0)
    q_position: float = bounded(0.25, "process noise of centre and size, box sides per sqrt(second)", ge=0.0)
    q_velocity: float = bounded(1.0, "process noise of the velocities, box sides per second per sqrt(second)",
                                ge=0.0)
    margin_speed: float = bounded(0.5, "prediction margin: px per (px/s of speed x s since the last hit)",
                                  ge=0.0)
    margin_sigmas: float = bounded(2.0, "prediction margin: this many std of the predicted centre, px", ge=0.0)
    margin_max: float = bounded(0.4, "prediction margin: at most this fraction of the predicted box's longer "
                                     "side (0 = uncapped). 0.4: a track's HighConf patch (box + margin on every "
                                     "side, grown to r_high 0.5) is then at most 2.55x the box, which keeps the "
                                     "box at >= 0.39 of the patch side, about the smallest mini's servable floor "
                                     "(0.4): a larger margin makes a patch that cannot serve its object. Since "
                                     "HighConf patches are exempt from patches.lambda1, uncapped margins of "
                                     "coasting tracks made patches over half the frame (vtest [200, 500): 35). "
                                     "b12, HighConf exempt: 0:60 clips of the 12 val videos and vtest / tuning "
                                     "set: off 0.8287 / 0.8305, 0.25 0.8257 / 0.8318, 0.35 0.8261 / 0.8313, 0.4 "
                                     "0.8300 / 0.8327, 0.5 0.8296 / 0.8337 (earlier builds, lambda1 on every "
                                     "kind: 0.25 within +-0.1 of off)",
                                ge=0.0)
    camera_motion: bool = bounded(True, "estimate the global camera motion between frames and warp the tracks "
                                        "by it (BoT-SORT camera-motion compensation)")
    cmc_width: int = bounded(240, "camera motion: frames are downscaled to this width, px (never upscaled). "
                                  "240: a quarter of 960 x 540, from the frame's halving pyramid like the motion "
                                  "boxes' (no resize of its own). Tuning set 320 0.8298, 240 0.8305 (b8 0.8294 / "
                                  "0.8283)", ge=32, le=4096)
    cmc_max_points: int = bounded(200, "camera motion: most corners tracked between frames", ge=8, le=5000)
    cmc_min_points: int = bounded(12, "camera motion: fewest RANSAC inliers for an estimate; fewer -> identity",
                                  ge=3)

    def validate(self, where: str) -> None:
        """Check what single-field bounds cannot (called by ``from_mapping``)."""
        self.output_box = OutputBox.parse(self.output_box, f"{where}.output_box")  # a plain string given in code
        if self.low_score > self.high_score:
            raise UserError(f"{where}.low_score: {self.low_score} must be <= high_score ({self.high_score})")
        if self.new_track_score < self.high_score:
            raise UserError(f"{where}.new_track_score: {self.new_track_score} must be >= high_score "
                            f"({self.high_score}): low-score boxes never start tracks")
        if self.baseline_track_score < self.low_score:
            raise UserError(f"{where}.baseline_track_score: {self.baseline_track_score} must be >= low_score "
                            f"({self.low_score})")
        if 0.0 < self.match_area_ratio < 1.0:
            raise UserError(f"{where}.match_area_ratio: {self.match_area_ratio} must be 0 (off) or >= 1")
        if self.cmc_min_points > self.cmc_max_points:
            raise UserError(f"{where}.cmc_min_points: {self.cmc_min_points} must be <= cmc_max_points "
                            f"({self.cmc_max_points})")
