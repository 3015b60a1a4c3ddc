"""The ParaLoupe paper's numbers (§IV, ../shared/paper/ParaLoupe.txt) that the report puts beside ours.

Accuracy there is F1 in percent on Yoda + Udacity videos with YOLOv7 ground truth, latency on real devices
(Jetson Xavier NX, Raspberry Pi 4B, XiaoMi 11 Lite = Snapdragon 732G). Ratios are ×, gains relative.
"""

from __future__ import annotations

from runtime.modes import Mode

SHORT = {"jetson-xavier-nx": "Jetson", "raspberry-pi-4b": "RPi", "snapdragon-732g": "XiaoMi", "host": "host"}

# Fig. 14: relative F1 gain of ParaLoupe over Baseline at the same latency budget (ms).
GAIN_AT_BUDGET = {"jetson-xavier-nx": (30.0, 0.451), "raspberry-pi-4b": (250.0, 0.446),
                  "snapdragon-732g": (50.0, 0.424)}
# Fig. 15: latency speedup at comparable accuracy (≥ 82 %), with ParaLoupe's accuracy drop (points).
SPEEDUP = {"jetson-xavier-nx": (2.8, 3.9), "raspberry-pi-4b": (14.1, 4.6), "snapdragon-732g": (2.7, 3.6)}
# Fig. 13 (Jetson): (F1 %, latency ms) — Baseline YOLOv7; upper bounds for the other two.
TRADEOFF_JETSON = {"Baseline": "95.6 % at 155.3 ms", "ParaLoupe_mini": "≤ 53.8 % at ≤ 17.7 ms",
                   "ParaLoupe": "up to 82.4 % at ≤ 18.1 ms"}
# Fig. 16: label -> (F1 %, per-patch latency ms); None where the text gives no number.
SOURCES = {"Baseline-320-S1": (87.2, 46.0), "Baseline-320-S4": (93.1, None), "mini-160-S4": (None, 14.0),
           "ParaLoupe-160-PG": (76.0, None), "ParaLoupe-240-PG": (84.8, 22.0)}
SOURCES_NOTE = "ParaLoupe-240-PG vs Baseline-320-S1: 2.4 points lower F1 at 2.1× speedup"
# Fig. 17: generator -> (patches per frame, F1 %); None where the text gives no number.
GENERATORS: dict[str, tuple[float, float | None]] = {
    Mode.EP8: (8.0, 78.0), Mode.LASTDET: (4.9, 74.0), Mode.PARALOUPE: (5.3, 76.0), Mode.EP1: (1.0, None),
    Mode.EP2: (2.0, None), Mode.EP4: (4.0, None), Mode.EP6: (6.0, None)}
# Fig. 19 (Jetson as the sole server): max patches -> (end-to-end ms, F1 %).
MAX_PATCHES = {6: (62.5, 68.3), 1: (30.8, 18.1)}
# Fig. 21: (input side, RoIs) -> F1 %.
ROIS = {(160, 6): 80.6, (320, 3): 76.7}
# Fig. 28: mean patch-generation latency (ms) on (Jetson, RPi).
GEN_MS: dict[str, tuple[float, float]] = {Mode.EP2: (48.6, 49.8), Mode.LASTDET: (60.1, 70.1),
                                           Mode.PARALOUPE: (74.7, 62.5)}
