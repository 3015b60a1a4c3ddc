"""Frame skipping and the device's computational cost (paper §III-D1).

Skip rule. Each frame is compared with the *last processed* frame (not the previous one, so slow drift
accumulates until it counts) on the feature grid: the per-cell mean absolute difference of the downsampled
grey images, in grey levels 0–255 (:func:`runtime.patches.features.cell_absdiff`). If the largest cell value
is below ``skip_threshold`` the frame needs no inference and the last results carry over; otherwise it is
processed and becomes the new reference. Using the largest cell (not the frame mean) means one small object
moving is enough to process the frame. A threshold of 0 never skips. The first frame, and a frame whose
size differs from the reference, is always processed.

Cost. :class:`InferenceFraction` keeps ``(time_s, processed)`` for the frames of the last ``window_s``
seconds (m = 5 minutes by default) and reports the fraction processed — the cost c_i the device profiler
sends to the scheduler.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from runtime.patches.features import cell_absdiff


class FrameSkipper:
    """Decides per frame whether it needs inference (see the module docstring for the rule)."""

    def __init__(self, threshold: float, sub: int) -> None:
        self.threshold, self.sub = float(threshold), int(sub)
        self.reference: np.ndarray | None = None
        self.last_change = float("inf")  # largest cell difference of the last decision, grey levels

    def reset(self) -> None:
        """Forget the reference frame: the next frame is processed."""
        self.reference, self.last_change = None, float("inf")

    def needs_inference(self, small: np.ndarray) -> bool:
        """True when ``small`` (the downsampled grey frame) must be processed; it then becomes the reference."""
        if self.reference is None or self.reference.shape != small.shape:
            change = float("inf")
        else:
            change = float(cell_absdiff(small, self.reference, self.sub).max())
        self.last_change = change
        if self.threshold > 0.0 and change < self.threshold:
            return False
        self.reference = small
        return True


class InferenceFraction:
    """Fraction of frames needing inference over a sliding window of ``window_s`` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = float(window_s)
        self._events: deque[tuple[float, bool]] = deque()
        self._processed = 0

    def add(self, time_s: float, processed: bool) -> None:
        """Record one frame at ``time_s`` (seconds, non-decreasing) and drop those older than the window."""
        self._events.append((float(time_s), bool(processed)))
        self._processed += int(processed)
        while self._events and self._events[0][0] <= time_s - self.window_s:
            _, old = self._events.popleft()
            self._processed -= int(old)

    def fraction(self) -> float:
        """Processed frames / frames in the window (1.0 before any frame: no evidence of idleness)."""
        return self._processed / len(self._events) if self._events else 1.0
