"""The closed loop's settings: the ``loop`` section of the client config (:class:`LoopConfig`, typed, one default
per key) and what :class:`runtime.loop.ClosedLoop` needs besides the frames (:class:`LoopSettings`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.config import bounded
from runtime.discovery import DiscoveryConfig
from runtime.errors import UserError
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.tracker import TrackerConfig


@dataclass
class LoopConfig:
    """The ``loop`` section: how a patch mode learns from its detections and finds new objects."""

    track: bool = bounded(True, "feed detections through the tracker: HighConf patches on the tracks' "
                                 "predictions (camera motion compensated), output = confirmed tracks")
    motion: bool = bounded(True, "add a patch around every motion region no other patch holds (discovery)")
    motion_served: float = bounded(0.0, "a motion box counts as held by a patch only when its longer side is at "
                                        "least this fraction of the patch's longer side (the scale a mini serves: "
                                        "its servable_px lower bound / input side, 64 / 160 = 0.4 here); smaller, "
                                        "it gets a region of its own (0 = held whole is enough). Tuning set "
                                        "(b10): 0 F1 0.8305, patch recall 0.830, 16.7 patches/frame; 0.4 0.8312, "
                                        "0.838, 20.2; 0.25 0.8317, 0.835, 19.3 (b8 at 0.4: 0.8283 -> 0.8285, "
                                        "0.827 -> 0.838); vtest [200, 500) on the 4 x RPi cluster, two runs each: "
                                        "F1 0.901 -> 0.904, p50 41-42 -> 44 ms: off, as the p50 is vtest's "
                                        "thinnest margin", ge=0.0, le=1.0)
    budget: bool = bounded(True, "cap each frame's patches at what the live servers can infer within the SLO "
                                 "(their mini latencies; a whole-frame pass reserved first)")
    whole_every: int = bounded(3, "every this many processed frames part of the frame also goes to the baseline "
                                  "model (discovery that does not depend on feedback; 0 = never). Tuning set of "
                                  "13 videos (ninth session, 4 x RPi): 3 F1 0.794, 2 0.801, 1 0.802; with the "
                                  "160 mini of another training seed 3 0.801, 2 0.799 (3 costs ~0.3 points), "
                                  "while the cluster's p50 falls 79 -> 54 -> 42 ms on vtest [200, 500), 78 -> 66 "
                                  "-> 48 ms on val-moving (p90 stays 71-80 ms): 3 keeps a frame's p50 at a third "
                                  "of the 640 baseline's", ge=0)
    whole_follow: int = bounded(0, "a frame whose detections started a track is followed by a baseline pass on each "
                                   "of the next this many processed frames as well (new objects come in groups: "
                                   "look again while they do; 0 = off). Tuning set of 13 videos: 1 F1 0.806 "
                                   "(+1.3 +- 0.4 points; another seed's mini +0.3 +- 0.3) with 42-74 % of the "
                                   "frames passed, so the cluster's p50 is a pass frame's (vtest [200, 500) 43 -> "
                                   "69 ms, val-switch 55 -> 77); with whole_every 6 F1 0.800 at 24-61 % (p50 "
                                   "unchanged on vtest and val-moving, val-static-4 65 -> 87 ms)", ge=0)
    large_whole: float = bounded(64.0, "while the camera moves (its warp shifts a frame corner by more than "
                                       "discovery.moving_px), a baseline pass on a frame with a track whose longer "
                                       "side is at least this, px of the frame, also sends the whole frame at "
                                       "whole_side; its boxes whose longer side at that input is at least this "
                                       "many px (192 px of a 960-px-wide frame) join the frame's detections "
                                       "(they may start and extend tracks) but review no track. Close-up objects, "
                                       "which the minis find poorly (a 150 x 350 px person: 7 of 124 frames) and "
                                       "no tile holds whole, seen whole at a scale the baseline knows (0 = off). "
                                       "Tuning set (b12): off 0.8253, 64 0.8293 (the five moving cameras -0.2 to "
                                       "+2.2). Sent on every frame instead of pass frames: 48 0.8323, 64 0.8327, "
                                       "96 0.8306, 128 0.8285, but test-moving's cluster p50 33 -> 69 ms (a whole "
                                       "frame at 320 is 37 ms on a raspberry-pi-4b)", ge=0.0)
    whole_side: int = bounded(320, "input side of that baseline pass, px (the bundle's baseline at this side)",
                              ge=32)
    whole_grid: list[int] = bounded([3, 2], "the pass covers the frame in [columns, rows] tiles (SAHI-like: "
                                            "small objects grow by the grid's factor at the same input side)")
    whole_overlap: float = bounded(0.0, "each tile of that grid grows into its neighbours by this fraction of a "
                                        "cell, so objects crossing a cell border lie whole in a tile", ge=0.0,
                                   le=1.0)
    whole_frame_too: bool = bounded(False, "the whole frame joins that grid's tiles in the rotation (at the same "
                                          "input side), so objects larger than a tile or standing across tile "
                                          "borders are seen too")
    still_grid: list[int] = bounded([6, 4], "while the camera is still (its warp shifts a frame corner by at most "
                                            "discovery.moving_px), each baseline pass also sends still_tiles tiles "
                                            "of this finer [columns, rows] grid, in rotation: small still objects, "
                                            "which no motion box shows and no coarse tile shows large enough, seen "
                                            "at a larger scale ([] = off). Tuning set of 13 videos (twentieth "
                                            "session, 4 x RPi, still_tiles 2): off 0.8183, [6, 4] 0.8284, [4, 3] "
                                            "0.8269, [8, 6] 0.8206; [6, 4] with still_tiles 3 on three builds: "
                                            "+1.1 / +0.7 / +0.5 points, gained on the still cameras (val-static "
                                            "+3.7 to +7.7); the finer grid as whole_grid instead: 0.8134 (moving "
                                            "cameras -2 to -5)")
    still_below: float = bounded(24.0, "the finer grid is sent only while some track's longer side, at the coarse "
                                       "grid's baseline input, is below this, px (tracker.veto_min_side's size: "
                                       "smaller, the baseline does not see it): a view with small objects about "
                                       "(0 = whenever the camera is still). Tuning set (start_cut on): 0 0.8296, 24 "
                                       "0.8292, 32 0.8293; with every default 0.8260 (b8 0.8286); vtest [200, 500) "
                                       "on the 4 x RPi cluster: finer grid off p50 / p90 43 / 76 ms, always 45 / "
                                       "110, 24 43 / 77 (F1 0.899 / 0.895 / 0.899)", ge=0.0)
    still_tiles: int = bounded(2, "tiles of still_grid per baseline pass (each ~37 ms on a raspberry-pi-4b). Tuning "
                                  "set with [6, 4]: 1 0.8254, 2 0.8284, 3 0.8297, 4 0.8307 (b8: 2 0.8294, 3 0.8308); "
                                  "2 keeps a pass frame's device time near what it was", ge=1)
    still_small_tiles: int = bounded(0, "of each pass's still_tiles, this many go, in turn, to the still_grid tiles "
                                        "holding the centres of small tracks (still_below decides which), the "
                                        "most first; the rest rotate through the grid: far, small objects stand "
                                        "together (a street's vanishing point), their tile is looked at again "
                                        "sooner. Tuning set, three builds (b10 / b8 / b6): 0 0.8382 / 0.8361 / "
                                        "0.8262, 1 0.8410 / 0.8404 / 0.8274 (val-static +0.8 / +1.7 / +1.5); but "
                                        "on the untuned videos 1 loses on test-static and test-switch (in-process "
                                        "-0.9 / -1.0, precision down 2 points) and reads -0.4 to +1.6 on the "
                                        "six extra ones (mean +0.4): off", ge=0)
    cut_confirm_score: float = bounded(0.45, "on a scene cut (cut_diff) the tracks that the whole baseline grid's "
                                             "boxes scoring at least this start are reported at once, as the "
                                             "baseline alone would report them: the loop has nothing else to go by "
                                             "on a new view (0 = off: tracker.birth_confirm_score applies). Tuning "
                                             "set, four builds: off 0.8205, 0.45 0.8211 (val-switch +0.8 on each "
                                             "build, val-switch-3 +0.3; a false cut on val-static-2 -0.3), 0.6 "
                                             "0.8205", ge=0.0, le=1.0)
    start_cut: bool = bounded(False, "a stream's first processed frame is handled as a scene cut: the whole "
                                     "baseline grid at once, its boxes scoring cut_confirm_score reported at once "
                                     "(a new stream is a new view). Twentieth session, 60-frame clips: the 12 "
                                     "tuning world videos 0.7988 -> 0.8039, but vtest [0, 480) in 8 clips 0.8924 "
                                     "-> 0.8825 (7 of 8 down: the baseline's boxes at 0.45 are not sure enough "
                                     "on the real video); whole tuning set 0.8284 -> 0.8296")
    whole_tiles: int = bounded(3, "tiles of that grid sent per pass, in rotation (the whole grid is covered "
                                  "every ceil(columns·rows / this) passes); tuning set, three builds: 2 "
                                  "0.783-0.789, 3 0.791-0.798, 4 0.789-0.795, 6 0.780-0.795 (with "
                                  "tracker.std_baseline 0.05); 3 costs about 4-10 ms of p50", ge=1)
    cut_diff: float = bounded(20.0, "scene cut (the camera switched view): a processed frame on which the camera-"
                                    "motion fit fails and whose 32x18 grey thumbnail differs from the last one's by "
                                    "at least this mean, grey levels, starts the loop over as a new stream would — "
                                    "tracks, motion model and candidates dropped — and gets the whole baseline grid "
                                    "at once (runtime.discovery.scene_cut; 0 = off). Cuts measure 27-54 on the world "
                                    "videos' layout switches; tuning set, four builds: off 0.8131, 20 0.8154 (val-"
                                    "switch-2 +1.4, val-switch-3 +1.0, no cut found on a moving camera)", ge=0.0,
                              le=255.0)
    output_min_score: float = bounded(0.5, "tracked output: a confirmed track's detection in this frame is "
                                           "reported when it scores at least this", ge=0.0, le=1.0)
    output_contain: float = bounded(0.6, "tracked output: a confirmed track's box of which a larger box of its "
                                         "class in the same output covers at least this share of its area is not "
                                         "reported (a fragment or duplicate of one object; the track lives on) "
                                         "unless a baseline entry has found that track (an object partly "
                                         "hidden behind a nearer one); tuning set, four builds, with that "
                                         "exemption: 0.8 0.8107, 0.7 0.8121, 0.6 0.8131, 0.5 0.8134; "
                                         "0 = off", ge=0.0, le=1.0)
    mini_start_score: float = bounded(0.7, "a detection no baseline pass confirmed (IoU >= 0.5) starts a "
                                            "track only at this score (the minis' false positives must not "
                                            "seed their own patches)", ge=0.0, le=1.0)
    candidate_score: float = bounded(0.2, "the baseline pass reports boxes down to this score (below its model's "
                                          "own threshold); each no track holds becomes a candidate: the next frame "
                                          "puts a LowConf patch on it, and a mini detection there (IoU >= "
                                          "verify_iou) may start a track — a cheap proposal checked by a closer "
                                          "look (1 = off)", ge=0.0, le=1.0)
    verify_iou: float = bounded(0.3, "least IoU between a mini detection and a candidate that lets the detection "
                                     "start a track", gt=0.0, le=1.0)
    candidates_moving: bool = bounded(False, "propose candidates while the camera moves too (its warp shifts a "
                                             "frame corner by more than discovery.moving_px); off: measured, the "
                                             "minis confirm mostly junk there (val-moving F1 0.64 -> 0.49)")
    border_px: float = bounded(2.0, "a box within this of a patch's inner border is clipped there, px", ge=0.0)
    zoom_below: float = bounded(0.0, "a detection no track took whose longer side is below this fraction of the "
                                     "longer side of the smallest mini patch holding it (an object seen small in a "
                                     "neighbour's patch) becomes a candidate like the baseline pass's: the next "
                                     "frame looks at it closely (0 = off)", ge=0.0, le=1.0)
    motion_verifies: bool = bounded(True, "a mini detection that a motion box of its frame overlaps (IoU >= "
                                          "verify_iou) may start a track like one on a candidate: something moves "
                                          "there (still things the minis mistake for objects never do). Tuning "
                                          "set, four builds: off 0.8154, on 0.8168 (each build up, 9 of 13 "
                                          "videos); a vehicle entering a still view was found by the 160 mini at "
                                          "0.51-0.69 for 25 frames before one box reached mini_start_score")
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)

    @property
    def pass_tiles(self) -> int:
        """The most baseline tiles one pass sends (a scene cut's whole grid aside): what a budget reserves."""
        return self.whole_tiles + (self.still_tiles if self.still_grid else 0)

    def validate(self, where: str) -> None:
        """Check what single-field bounds cannot (called by ``from_mapping``)."""
        if len(self.whole_grid) != 2 or min(self.whole_grid) < 1:
            raise UserError(f"{where}.whole_grid: expected [columns, rows] >= 1, got {self.whole_grid}")
        if self.still_grid and (len(self.still_grid) != 2 or min(self.still_grid) < 1):
            raise UserError(f"{where}.still_grid: expected [] or [columns, rows] >= 1, got {self.still_grid}")
        if self.still_small_tiles > self.still_tiles:
            raise UserError(f"{where}.still_small_tiles: at most still_tiles ({self.still_tiles}), got "
                            f"{self.still_small_tiles}")


@dataclass
class LoopSettings:
    """What the loop needs besides the frames: the mode, the generator's config, the side (px) whole frames
    are encoded at, and the aggregator's settings (the client config's ``merge_iou``, ``merge_contain``,
    ``min_score``; the score floor applies in patch modes only — whole-frame modes keep the model's own
    tuned threshold)."""

    mode: Mode = Mode.PARALOUPE
    patches: PatchConfig = field(default_factory=PatchConfig)
    whole_frame_side: int = 960
    merge_iou: float = 0.5
    merge_contain: float = 0.8
    min_score: float = 0.5
    loop: LoopConfig = field(default_factory=LoopConfig)
    fps: float = 25.0  # the stream's frame rate: video time = frame id / fps (s)
    track_whole: bool = False  # a whole-frame mode's detections through the same tracker ("baseline + tracker")
