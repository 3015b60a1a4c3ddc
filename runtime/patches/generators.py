"""Patch generators behind one interface: ParaLoupe (object-centric), EP-k (equal partition), lastDet,
motion regions (Frigate NVR's).

Every generator is a :class:`PatchGenerator`, called once per frame::

    gen = make_generator(Mode.PARALOUPE, PatchConfig(), manifest.objectness_model())
    out = gen(frame, frame_id, detections=boxes_xywh, scores=None, det_frame_id=frame_id - 1)

``frame`` is (H, W) grey or (H, W, 3) BGR uint8; its size may change between calls (state is reset).
``detections`` are the most recent detections (n, 4) ``[x, y, w, h]`` pixels (None or empty = none;
boxes partly or fully outside the frame are clipped or dropped); ``det_frame_id`` is the frame they belong
to, so that the online update pairs them with that frame's features (None = the previous call's frame).
The result :class:`FramePatches` holds rectangles ``[x0, y0, x1, y1]`` in pixels, confidence levels and
kinds (:class:`runtime.patches.refiner.PatchKind`); ``skipped`` frames (ParaLoupe's frame skipping) have no
patches and carry the last results over.

- ``paraloupe``: features → M → HighConf + LowConf → refiner (+ refresh tile, predefined RoIs), with frame
  skipping, the decayed f_hist and the bounded online update of M (see the modules of this package). Only
  detections scoring at least ``feedback_score`` seed HighConf patches; when none does (the first frame, or
  every track just lost) all refresh tiles are sent once (``bootstrap``).
- ``ep-k``: the CONVENTIONS layouts (columns × rows, :attr:`runtime.modes.Mode.ep_layout`: ep-1 1×1, ep-2 2×1,
  ep-4 2×2, ep-6 3×2, ep-8 4×2); every tile has confidence 1.0 (nothing is speculative about covering the
  whole frame).
- ``lastdet``: HighConf patches only, through the same grouping and refiner (λ2, cap; λ1 spares HighConf), no LowConf,
  refresh or skipping — except the same ``bootstrap`` sweep, without which it could never start.
- ``motion-regions``: Frigate NVR's regions — motion boxes → squares of at least the smallest mini input side,
  clustered — as LowConf patches; it ignores detections (:mod:`runtime.patches.motion_regions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from runtime.discovery.config import DiscoveryConfig
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.features import FeatureExtractor, box_occupancy, grid_shape
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.proposer import TrackMemory, high_conf_rois, low_conf_rois, sanitize_boxes
from runtime.patches.refiner import (
    PatchKind,
    grid_tiles,
    merge_high,
    predefined_rects,
    refine,
    refresh_tile,
)
from runtime.patches.skipping import FrameSkipper
from runtime.video import FrameGrey, frame_size

EP_LAYOUTS = Mode.ep_layouts()  # k: (columns, rows), CONVENTIONS.md (declared by runtime.modes.Mode)


@dataclass
class FramePatches:
    """The patches of one frame: ``rects`` (k, 4) int64 ``[x0, y0, x1, y1]`` px, ``confidence`` (k,),
    ``kinds`` (k,) int8 :class:`runtime.patches.refiner.PatchKind` values."""

    frame_id: int
    frame_w: int
    frame_h: int
    rects: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.int64))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    skipped: bool = False

    def __len__(self) -> int:
        return len(self.rects)

    def kind_names(self) -> list[str]:
        """The kind of each patch as a word (high, low, refresh, predefined, partition)."""
        return [PatchKind(int(k)).word for k in self.kinds]


class PatchGenerator(Protocol):
    """What every patch generator is (see the module docstring for the arguments): called once per frame of
    one stream, ``reset()`` starts a new stream; ``name`` is its :class:`runtime.modes.Mode` value."""

    name: str

    def __call__(self, frame: np.ndarray | FrameGrey, frame_id: int, detections: np.ndarray | None = None,
                 scores: np.ndarray | None = None, det_frame_id: int | None = None) -> FramePatches: ...

    def reset(self) -> None: ...


class Bootstrap:
    """When to sweep every refresh tile once (``PatchConfig.bootstrap``): on the first frame, and on the frame
    where the last tracked object is lost — without it a tracker that tracks nothing could never start."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new stream: the next call is the first frame."""
        self._started, self._tracking = False, False

    def __call__(self, tracking: bool) -> bool:
        """True when this frame (``tracking``: anything seeds a HighConf patch) needs the sweep."""
        sweep = not tracking and (not self._started or self._tracking)
        self._started, self._tracking = True, tracking
        return sweep


class EqualPartition:
    """EP-k: the frame cut into the CONVENTIONS layout for k."""

    def __init__(self, k: int) -> None:
        if k not in EP_LAYOUTS:
            raise ValueError(f"EP-k needs k in {sorted(EP_LAYOUTS)}, got {k}")
        self.k, self.name = k, Mode.equal_partitions()[k].value

    def reset(self) -> None:
        """Nothing to forget."""

    def __call__(self, frame: np.ndarray | FrameGrey, frame_id: int, detections: np.ndarray | None = None,
                 scores: np.ndarray | None = None, det_frame_id: int | None = None) -> FramePatches:
        w, h = frame_size(frame)
        rects = grid_tiles(*EP_LAYOUTS[self.k], w, h)
        return FramePatches(frame_id, w, h, rects, np.ones(len(rects)),
                            PatchKind.PARTITION.fill(len(rects)))


class LastDet:
    """lastDet: HighConf patches from the last detections only."""

    name: str = Mode.LASTDET.value

    def __init__(self, config: PatchConfig) -> None:
        self.cfg = config
        self.reset()

    def reset(self) -> None:
        """Forget whether anything was tracked (the next empty frame bootstraps again)."""
        self.bootstrap = Bootstrap()

    def __call__(self, frame: np.ndarray | FrameGrey, frame_id: int, detections: np.ndarray | None = None,
                 scores: np.ndarray | None = None, det_frame_id: int | None = None) -> FramePatches:
        c = self.cfg
        w, h = frame_size(frame)
        boxes, sc = sanitize_boxes(detections, w, h, scores)
        seed = sc >= c.feedback_score
        rects, values = high_conf_rois(boxes[seed], sc[seed], c.r_high, w, h, c.min_patch_side)
        rects, values = merge_high(rects, values, w, h, c.lambda2, c.max_high, c.merge_max_area)
        keep = refine(rects, values, np.zeros(len(rects), dtype=np.int8), w, h, c.lambda1, c.lambda2, c.max_patches)
        if self.bootstrap(bool(seed.any())) and c.bootstrap:  # every refresh tile once, as ParaLoupe
            tiles = grid_tiles(c.refresh_cols, c.refresh_rows, w, h)
            return FramePatches(frame_id, w, h, tiles, np.full(len(tiles), c.low_confidence),
                                PatchKind.REFRESH.fill(len(tiles)))
        return FramePatches(frame_id, w, h, rects[keep], np.full(len(keep), c.high_confidence),
                            PatchKind.HIGH.fill(len(keep)))


class ParaLoupeGenerator:
    """The object-centric patch generator (paper §III-C), stateful across frames of one stream."""

    name: str = Mode.PARALOUPE.value

    def __init__(self, config: PatchConfig, model: ObjectnessModel | None = None) -> None:
        self.cfg = config
        self.model = model if model is not None else ObjectnessModel.prior()
        self.features = FeatureExtractor(config.cell, config.sub)
        self.skipper = FrameSkipper(config.skip_threshold, config.sub)
        self.memory = TrackMemory(config.track_memory)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: previous frame, f_hist, online updates, refresh position."""
        self.features.reset()
        self.skipper.reset()
        self.memory.reset()
        self.model.reset()
        self._seeds = (np.zeros((0, 4)), np.zeros(0))
        self.hist: np.ndarray | None = None
        self.frame_size: tuple[int, int] | None = None
        self.processed = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # frame id -> (edge, diff), last few
        self._last_det_frame: int | None = None
        self._last_frame_id: int | None = None
        self.last_prob: np.ndarray | None = None
        self.bootstrap = Bootstrap()

    def _learn(self, boxes: np.ndarray, scores: np.ndarray, det_frame_id: int | None, w: int, h: int) -> None:
        """Fold new detections into the track memory and f_hist; if enabled, one online SGD step of M."""
        if det_frame_id is None:
            det_frame_id = self._last_frame_id
        if det_frame_id is not None and det_frame_id == self._last_det_frame:
            return  # the same detections again (e.g. carried over a skipped frame)
        self._last_det_frame = det_frame_id
        keep = scores >= self.cfg.feedback_score
        self._seeds = self.memory.update(boxes[keep], scores[keep])
        gh, gw = self.hist.shape
        occ = box_occupancy(boxes[keep], float(w), float(h), gh, gw)
        if self.cfg.online_update and det_frame_id in self._cache:
            edge, diff = self._cache[det_frame_id]
            self.model.sgd_step(edge, diff, self._hist_norm(), occ, self.cfg.sgd_lr, self.cfg.sgd_max_step,
                                self.cfg.sgd_max_drift)
        d = self.cfg.hist_decay
        self.hist = d * self.hist + (1.0 - d) * occ

    def _hist_norm(self) -> np.ndarray:
        top = float(self.hist.max())
        return (self.hist / top).astype(np.float32) if top > 0 else self.hist

    def __call__(self, frame: np.ndarray | FrameGrey, frame_id: int, detections: np.ndarray | None = None,
                 scores: np.ndarray | None = None, det_frame_id: int | None = None) -> FramePatches:
        c = self.cfg
        w, h = frame_size(frame)
        if self.frame_size != (w, h):  # new stream geometry: grid-shaped state no longer applies
            self.reset()
            self.frame_size = (w, h)
            self.hist = np.zeros(grid_shape(w, h, c.cell), dtype=np.float32)
        small, edge, diff = self.features(frame)
        boxes, sc = sanitize_boxes(detections, w, h, scores)
        self._learn(boxes, sc, det_frame_id, w, h)
        self._cache[frame_id] = (edge, diff)
        for old in [k for k in self._cache if k < frame_id - 4 or k > frame_id]:
            del self._cache[old]
        self._last_frame_id = frame_id
        if not self.skipper.needs_inference(small):
            return FramePatches(frame_id, w, h, skipped=True)

        prob = self.model.predict(edge, diff, self._hist_norm())
        self.last_prob = prob
        seed_boxes, seed_scores = sanitize_boxes(self._seeds[0], w, h, self._seeds[1])
        hi_rects, hi_vals = high_conf_rois(seed_boxes, seed_scores, c.r_high, w, h, c.min_patch_side)
        hi_rects, hi_vals = merge_high(hi_rects, hi_vals, w, h, c.lambda2, c.max_high, c.merge_max_area)
        lo_rects, lo_vals = low_conf_rois(prob, hi_rects, c.low_threshold, c.min_component_cells, c.r_low, w, h,
                                          c.min_patch_side)
        rects = np.concatenate([hi_rects, lo_rects])
        kinds = np.concatenate([PatchKind.HIGH.fill(len(hi_rects)), PatchKind.LOW.fill(len(lo_rects))])
        keep = refine(rects, np.concatenate([hi_vals, lo_vals]), kinds, w, h, c.lambda1, c.lambda2, c.max_patches)
        rects, kinds = rects[keep], kinds[keep]

        extra = [predefined_rects(c.predefined_rois, w, h)]
        extra_kinds = [PatchKind.PREDEFINED.fill(len(extra[0]))]
        if self.bootstrap(len(seed_boxes) > 0) and c.bootstrap:  # nothing tracked: look everywhere
            tiles = grid_tiles(c.refresh_cols, c.refresh_rows, w, h)
        else:
            tile = refresh_tile(self.processed, c.refresh_every, c.refresh_cols, c.refresh_rows, w, h)
            tiles = np.zeros((0, 4), dtype=np.int64) if tile is None else tile.reshape(1, 4)
        extra.append(tiles)
        extra_kinds.append(PatchKind.REFRESH.fill(len(tiles)))
        self.processed += 1
        rects = np.concatenate([rects] + extra)
        kinds = np.concatenate([kinds] + extra_kinds)
        conf = np.where(kinds == PatchKind.HIGH, c.high_confidence, c.low_confidence)
        return FramePatches(frame_id, w, h, rects, conf, kinds)


def generator_names() -> list[str]:
    """All generator names :func:`make_generator` accepts (the patch-generator :class:`Mode` values)."""
    return [m.value for m in Mode.generators()]


def make_generator(mode: Mode | str, config: PatchConfig | None = None, model: ObjectnessModel | None = None,
                   discovery: DiscoveryConfig | None = None) -> PatchGenerator:
    """A fresh generator for a patch-generator ``mode`` (see :func:`generator_names`); any other name, a
    whole-frame mode included, is a ValueError. ``model`` is ParaLoupe's objectness M (None: the prior);
    ``discovery`` the motion-regions settings (None: the defaults)."""
    names = generator_names()
    if mode not in names:
        raise ValueError(f"unknown patch generator {str(mode)!r} (choose from {', '.join(names)})")
    mode = Mode(mode)
    config = config or PatchConfig()
    if mode is Mode.PARALOUPE:
        return ParaLoupeGenerator(config, model)
    if mode is Mode.LASTDET:
        return LastDet(config)
    if mode is Mode.MOTION_REGIONS:
        from runtime.patches.motion_regions import MotionRegions  # it imports FramePatches from this module

        return MotionRegions(config, discovery)
    return EqualPartition(mode.ep_k or 0)  # every other generator mode is an EP-k one
