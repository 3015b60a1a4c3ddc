"""One frame's plan in the closed loop: the entries to infer (:class:`Entry`), the frame's :class:`FramePlan`, and
how many patches a frame gets (:func:`patch_budget` from the live cluster's latencies, :func:`keep_within` by
:data:`KIND_PRIORITY`). Pure data and arithmetic: no model, no socket."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.patches.generators import FramePatches
from runtime.patches.refiner import PatchKind

#: The kind word of a whole-frame entry (modes ``mini`` and ``baseline``, a patch mode's 1×1 baseline pass).
WHOLE_FRAME = "frame"
#: The kind word of a tile of a patch mode's baseline pass.
BASELINE_TILE = "keyframe"
#: The kind word of a tile of a still camera's finer grid (``loop.still_grid``), sent with a baseline pass.
STILL_TILE = "still"
#: The kind word of the whole frame sent to the baseline for close-up tracks (``loop.large_whole``).
LARGE_FRAME = "large"
#: The kind words of a patch mode's baseline entries (every other kind is a mini patch).
BASELINE_KINDS = (WHOLE_FRAME, BASELINE_TILE, STILL_TILE, LARGE_FRAME)


@dataclass
class Entry:
    """One thing to infer: ``rect`` (x0, y0, x1, y1) frame px, ``kind`` (a patch kind word or ``frame``),
    ``confidence`` y_k, ``jpeg`` the bytes sent (s_k = their count), ``model_kind`` the family of models that
    infers it (``mini`` for patches, ``baseline`` for whole-frame passes of a patch mode, the mode's own
    otherwise), ``min_score`` the score down to which its detections are wanted (None: the model's own
    threshold)."""

    rect: tuple[int, int, int, int]
    kind: str
    confidence: float
    jpeg: bytes
    model_kind: str = "mini"
    min_score: float | None = None


@dataclass
class FramePlan:
    """One frame's entries to infer; ``skipped``: nothing to infer (the last detections carry over);
    ``gen_ms``: patch generation + JPEG encoding time (ms, this host); ``patch_ms``: patch generation alone
    (camera motion, tracker predictions, motion boxes, generator, budget — no cropping or JPEG), ms."""

    frame_id: int
    frame_w: int
    frame_h: int
    entries: list[Entry] = field(default_factory=list)
    skipped: bool = False
    gen_ms: float = 0.0
    patch_ms: float = 0.0


#: Which patches a budget keeps first: tracked objects, then discovery, then the rest.
KIND_PRIORITY = {PatchKind.HIGH: 0, PatchKind.LOW: 1, PatchKind.PREDEFINED: 2, PatchKind.PARTITION: 2,
                 PatchKind.REFRESH: 3}


def patch_budget(slo_ms: float, latencies_ms: list[float], reserved_ms: float = 0.0) -> int:
    """How many patches the cluster can infer within ``slo_ms``: per device ``floor(slo_ms / t)`` with ``t`` its
    fastest mini's latency (ms), summed, less what ``reserved_ms`` of device time (a whole-frame pass) takes on
    the fastest device; at least 1."""
    if not latencies_ms:
        return 1
    total = sum(int(slo_ms // max(t, 1e-3)) for t in latencies_ms)
    return max(1, total - int(np.ceil(reserved_ms / max(min(latencies_ms), 1e-3))))


def keep_within(patches: FramePatches, budget: int | None) -> FramePatches:
    """``patches`` cut to ``budget`` by :data:`KIND_PRIORITY` (stable: the generator's order within a kind)."""
    if budget is None or len(patches) <= budget:
        return patches
    rank = np.array([KIND_PRIORITY[PatchKind(int(k))] for k in patches.kinds])
    keep = np.sort(np.argsort(rank, kind="stable")[:budget])
    return FramePatches(patches.frame_id, patches.frame_w, patches.frame_h, patches.rects[keep],
                        patches.confidence[keep], patches.kinds[keep], patches.skipped)
