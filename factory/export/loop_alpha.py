"""A mini detector's accuracy α as the closed loop sees it: F1 of the runtime's loop on held-out videos.

The scheduler gives each patch the model with the best α that fits the SLO, so α must rank the minis as they
perform on the patches the loop sends them. F1 on the patch set does not (its random tiles and tiny objects
favour the larger inputs, while in the loop the 160-px mini did better on every held-out video). Here each
mini runs :class:`runtime.loop.ClosedLoop` — the cluster client's own loop, default ``loop``/``patches``
settings — on the given videos with every patch sent to it and the baseline tiles to ``baseline``; α = the F1
(CONVENTIONS evaluation) pooled over the videos' frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runtime.coco import load_coco
from runtime.evaluate import Counts, evaluate
from runtime.infer import Detector
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopConfig, LoopSettings
from runtime.manifest import Manifest
from runtime.modes import Mode
from runtime.patches.config import PatchConfig
from runtime.patches.objectness import ObjectnessModel
from runtime.replay import run_loop
from runtime.video import iter_frames, parse_frames, video_info


def closed_loop_f1(export_dir: str | Path, manifest: Manifest, mini: str, baseline: str,
                   sources: Sequence[tuple[Path, Path, str | None]], objectness: ObjectnessModel | None,
                   threads: int = 1) -> dict[str, float]:
    """F1 / precision / recall of the closed loop with ``mini`` on every patch and ``baseline`` (resized to
    the loop's ``whole_side``) on the tiles, over ``sources`` — ``(video, COCO annotations, frames A:B or
    None)`` — pooled (micro) over their frames."""
    loop_cfg = LoopConfig()
    detectors = {"mini": Detector(export_dir, mini, manifest, threads),
                 "baseline": Detector(export_dir, baseline, manifest.resized(baseline, loop_cfg.whole_side), threads)}
    pooled = Counts()
    for video, gt_path, span in sources:
        gt = load_coco(gt_path)
        lo, hi = min(gt.frames), max(gt.frames) + 1
        wanted = parse_frames(span, f"{gt_path}: frames")
        if wanted is not None:
            lo, hi = max(lo, wanted.start), min(hi, wanted.stop)
        _, _, fps = video_info(video)
        loop = ClosedLoop(LoopSettings(Mode.PARALOUPE, PatchConfig(), loop=loop_cfg, fps=fps or 25.0), objectness)
        preds = {s.detections.frame: s.detections
                 for s in run_loop(loop, iter_frames(video, range(lo, hi)), detectors)}
        pooled.add(evaluate(gt, preds, frames=(lo, hi)).overall)
    return {"f1": pooled.f1, "precision": pooled.precision, "recall": pooled.recall}

