"""DVC stage ``objectness``: fit the patch generator's objectness model M offline (paper §III-C).

Run: ``python -m factory.stages.objectness`` (reads ``params.yaml: objectness``). Fits the logistic weights
on the training videos (the world's train videos and, when the label stage produced it, the real video's
frames [0, 500)) and writes ``<out_dir>/weights.json`` — the bundle manifest's ``objectness`` section — and
``<out_dir>/metrics.json``. ``cell``, ``sub`` and ``hist_decay`` must equal the runtime's ``patches`` config.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

from factory import paths
from factory.data.builder import Source, train_sources
from factory.objectness.fit import fit_objectness
from factory.pipeline import load_section, resolve_path
from factory.tracking import stage_run
from runtime.atomic import write_json
from runtime.coco import load_coco
from runtime.config import bounded
from runtime.errors import UserError, cli_entry, run_cli
from runtime.video import parse_frames

log = logging.getLogger("paraloupe")


def _default_sources() -> list[Source]:
    return train_sources()


@dataclass
class ObjectnessParams:
    """The ``objectness`` section: training sources and the feature grid (must match the runtime's)."""

    out_dir: str = paths.OBJECTNESS_DIR
    sources: list[Source] = field(default_factory=_default_sources)
    cell: int = bounded(16, "grid cell side, frame pixels (runtime patches.cell)", ge=4, le=256)
    sub: int = bounded(4, "pixels per cell side of the downsampled image (runtime patches.sub)", ge=1, le=16)
    hist_decay: float = bounded(0.98, "f_hist decay (runtime patches.hist_decay)", ge=0.0, lt=1.0)
    C: float = bounded(1.0, "inverse L2 regularisation strength of the logistic fit", gt=0.0)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("objectness", ObjectnessParams)
    out = resolve_path(params.out_dir)
    videos, used, skipped = [], [], []
    for i, src in enumerate(params.sources):
        video, ann = resolve_path(src.video), resolve_path(src.annotations)
        if not (video.exists() and ann.exists()):
            if src.optional:
                skipped.append(src.video)
                print(f"objectness: optional source {src.video} skipped (video or annotations absent)", file=sys.stderr)
                continue
            raise UserError(f"params.yaml: objectness.sources[{i}]: {video if not video.exists() else ann} not found")
        videos.append((video, load_coco(ann), parse_frames(src.frames, f"objectness.sources[{i}].frames")))
        used.append(f"{src.video}[{src.frames or ':'}]")
    if not videos:
        raise UserError("params.yaml: objectness.sources: no training video is available")
    with stage_run("objectness", params, out) as tracker:
        weights = fit_objectness(videos, params.cell, params.sub, params.hist_decay, params.C)
        write_json(out / "weights.json", weights)
        metrics = {"sources": used, "skipped": skipped, **weights.get("fit", {})}
        write_json(out / "metrics.json", metrics)
        tracker.metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        tracker.artifact(out / "weights.json")
        log.info("objectness: weights %s bias %.3f from %d videos", weights["weights"], weights["bias"], len(videos))
    return 0


if __name__ == "__main__":
    run_cli(main)
