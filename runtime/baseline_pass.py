"""A patch mode's baseline pass (discovery that does not depend on feedback): which tiles of the frame go to the
baseline model on a processed frame — a rotating ``loop.whole_grid`` every ``loop.whole_every`` frames (the whole
grid on a scene cut), a still camera's finer ``loop.still_grid`` tiles while small tracks are about, and, while
the camera moves, the whole frame for close-up tracks (``loop.large_whole``). Stateful (the rotations), pure
otherwise: the caller hands in the tracks and the camera's state."""

from __future__ import annotations

import numpy as np

from runtime.frame_plan import BASELINE_TILE, LARGE_FRAME, STILL_TILE, WHOLE_FRAME, Entry
from runtime.geometry import centres_per_rect
from runtime.loop_config import LoopConfig
from runtime.patches.config import PatchConfig
from runtime.patches.queue import encode_patch
from runtime.patches.refiner import grid_tiles


class BaselinePass:
    """The baseline entries of one stream's processed frames (:meth:`reset` starts a new stream)."""

    def __init__(self, loop: LoopConfig, patches: PatchConfig) -> None:
        self.loop = loop
        self.patches = patches
        self.reset()

    def reset(self) -> None:
        """A new stream: every rotation from its start."""
        self.processed = 0  # processed frames seen (a pass every ``loop.whole_every`` of them)
        self.passes = 0  # passes sent (their tiles rotate through the grid)
        self.still_rotated = 0  # ``loop.still_grid`` tiles sent in rotation (the next one starts from here)
        self.small_turns = 0  # still_grid tiles sent for holding small tracks (``loop.still_small_tiles``)
        self.follow = 0  # processed frames still to get a pass because tracks started (``loop.whole_follow``)

    def tracks_started(self) -> None:
        """This frame's detections started tracks: the next ``loop.whole_follow`` processed frames get a pass."""
        self.follow = self.loop.whole_follow

    def entries(self, frame: np.ndarray, cut: bool, camera_still: bool, tracks: np.ndarray,
                proposes: bool) -> list[Entry]:
        """The baseline entries of a processed ``frame`` ((H, W, 3) BGR uint8): none unless a pass is due; ``cut``:
        the frame is a scene cut (the whole grid at once); ``tracks`` (n, 4) ``[x, y, w, h]`` px the live tracks;
        ``proposes``: the tiles report down to ``loop.candidate_score``."""
        out = self._due(frame, cut, camera_still, tracks, proposes)
        self.processed += 1
        return out

    def _due(self, frame: np.ndarray, cut: bool, camera_still: bool, tracks: np.ndarray,
             proposes: bool) -> list[Entry]:
        """:meth:`entries` before the frame is counted: the pass's tiles when one is due, else none."""
        lc, cfg = self.loop, self.patches
        follow, self.follow = self.follow > 0, max(self.follow - 1, 0)
        if not lc.whole_every or (self.processed % lc.whole_every and not follow and not cut):
            return []
        h, w = frame.shape[:2]
        cols, rows = lc.whole_grid
        tiles = grid_tiles(cols, rows, w, h, lc.whole_overlap)
        if lc.whole_frame_too and len(tiles) > 1:
            tiles = np.concatenate([np.array([[0, 0, w, h]], dtype=np.int64), tiles])
        start = self.passes * lc.whole_tiles
        self.passes += 1
        count = len(tiles) if cut else min(lc.whole_tiles, len(tiles))
        chosen = [tiles[(start + i) % len(tiles)] for i in range(count)]
        kinds = [WHOLE_FRAME if r[2] - r[0] == w and r[3] - r[1] == h else BASELINE_TILE for r in chosen]
        if lc.still_grid and not cut and camera_still:
            small = self._small_tracks(tracks, w / cols, h / rows)
            if lc.still_below <= 0.0 or len(small):  # a view with small objects about
                chosen += self._still_tiles(grid_tiles(*lc.still_grid, w, h, lc.whole_overlap), small)
                kinds += [STILL_TILE] * (len(chosen) - len(kinds))
        floor = lc.candidate_score if proposes else None
        entries = [Entry(tuple(int(v) for v in r), kind, 1.0,
                         encode_patch(np.ascontiguousarray(frame[r[1]:r[3], r[0]:r[2]]), cfg.jpeg_quality,
                                      lc.whole_side, cfg.jpeg_chroma),
                         "baseline", floor) for r, kind in zip(chosen, kinds, strict=True)]
        if WHOLE_FRAME not in kinds and not camera_still and self._close_up(tracks):
            entries.append(Entry((0, 0, w, h), LARGE_FRAME, 1.0,
                                 encode_patch(frame, cfg.jpeg_quality, lc.whole_side, cfg.jpeg_chroma), "baseline",
                                 lc.tracker.low_score))  # its low-score boxes extend tracks (two-stage association)
        return entries

    def _close_up(self, tracks: np.ndarray) -> bool:
        """Whether some track's longer side is at least ``loop.large_whole`` px of the frame (0: off)."""
        return self.loop.large_whole > 0.0 and len(tracks) > 0 and float(tracks[:, 2:].max()) >= self.loop.large_whole

    def _small_tracks(self, tracks: np.ndarray, cell_w: float, cell_h: float) -> np.ndarray:
        """(k, 4) ``[x, y, w, h]`` px: the ``tracks`` whose longer side, at the coarse grid's input scale (cells
        ``cell_w`` × ``cell_h`` px), is below ``loop.still_below``."""
        scale = self.loop.whole_side / max(cell_w, cell_h)
        return tracks[tracks[:, 2:].max(axis=1, initial=0.0) * scale < self.loop.still_below]

    def _still_tiles(self, fine: np.ndarray, small: np.ndarray) -> list[np.ndarray]:
        """This pass's ``loop.still_tiles`` tiles of the finer grid ``fine`` (t, 4): ``loop.still_small_tiles``
        of them, in turn, among the tiles holding the ``small`` tracks' centres (the most first), the rest in
        rotation."""
        lc = self.loop
        count = min(lc.still_tiles, len(fine))
        ranked = np.zeros(0, dtype=np.int64)
        if lc.still_small_tiles:  # off by default: no ranking work on the pass
            holding = centres_per_rect(small, fine)
            ranked = np.argsort(-holding, kind="stable")[:int((holding > 0).sum())]
        picked_small = min(lc.still_small_tiles, count, len(ranked))
        rotated = count - picked_small
        picks = [fine[(self.still_rotated + i) % len(fine)] for i in range(rotated)]
        self.still_rotated += rotated
        picks += [fine[ranked[(self.small_turns + i) % len(ranked)]] for i in range(picked_small)]
        self.small_turns += picked_small
        return picks
