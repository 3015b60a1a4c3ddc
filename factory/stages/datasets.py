"""DVC stage ``datasets``: the low-complexity patch set and the ImageNet-style single-object set.

Run: ``python -m factory.stages.datasets`` (reads the ``datasets`` section of params.yaml). From the
``train`` and ``val`` sources (COCO-labelled videos: the world's, and the teacher-labelled real video's
frames [0, 500) when the label stage produced them) it writes::

    <out_dir>/patches/{train,val}/annotations.json + images/*.jpg     (COCO, paper §III-B3)
    <out_dir>/imagenet/{train,val}/{person,vehicle,background}/*.jpg   (ImageNet-style class folders)
    <out_dir>/metrics.json   O(I) (Eq. 1) of the source frames and of the patches, counts per class

The sets are built in a hidden folder and moved into place only when complete. With ``imagenet_root``
set, a user's own ImageNet-style tree is checked (it must load) and counted; pretraining uses it instead.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field

from factory import paths
from factory.data.builder import Source, build_split, train_sources, world_source
from factory.data.imagenet import ImageFolder, ImagenetParams
from factory.data.patchset import PatchParams
from factory.pipeline import load_section, resolve_path
from runtime.atomic import write_json
from runtime.config import bounded
from runtime.errors import UserError, cli_entry, run_cli


@dataclass
class DatasetsParams:
    """The ``datasets`` section of params.yaml."""

    out_dir: str = paths.DATASETS_DIR
    seed: int = bounded(0, "sampling seed (frames, objects, r)", ge=0)
    max_patch_complexity: float = bounded(0.9, "the build fails when the object-centred patches' mean O(I) "
                                               "reaches this or the source frames' mean (low complexity, "
                                               "paper III-B3)", gt=0.0, le=1.0)
    train: list[Source] = field(default_factory=train_sources)
    val: list[Source] = field(default_factory=lambda: [world_source("val-static"), world_source("val-moving")])
    patches: PatchParams = field(default_factory=PatchParams)
    imagenet: ImagenetParams = field(default_factory=ImagenetParams)
    imagenet_root: str | None = None  # a user's ImageNet-style tree for pretraining (null = the built set)


def run(params: DatasetsParams) -> dict:
    """Build both splits of both sets under ``params.out_dir``; returns the metrics."""
    from factory.tracking import stage_run

    out_dir = resolve_path(params.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with stage_run("datasets", params, out_dir) as tracker:
        start = time.perf_counter()
        building = out_dir / f".building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        metrics: dict = {}
        try:
            for index, (split, sources) in enumerate((("train", params.train), ("val", params.val))):
                metrics[split] = build_split(split, sources, building / "patches" / split,
                                             building / "imagenet" / split, params.patches, params.imagenet,
                                             params.seed, index)
            for split in ("train", "val"):
                mean = metrics[split]["patches_O"].get("mean")
                frames_mean = metrics[split]["frames_O"].get("mean")
                limit = min(params.max_patch_complexity, frames_mean if frames_mean is not None else 1.0)
                if mean is not None and mean >= limit:
                    raise UserError(f"datasets.max_patch_complexity: {split} patch set has mean O(I) {mean:.3f} "
                                    f">= {limit:.3f} (raise datasets.patches.r_range or lower min_visible)")
            for part in ("patches", "imagenet"):
                shutil.rmtree(out_dir / part, ignore_errors=True)
                os.replace(building / part, out_dir / part)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        if params.imagenet_root:
            user = ImageFolder(resolve_path(params.imagenet_root))
            metrics["imagenet_root"] = {"classes": len(user.classes), "images": len(user)}
        metrics["wall_s"] = round(time.perf_counter() - start, 2)
        write_json(out_dir / "metrics.json", metrics)
        tracker.metrics({k: v for k, v in metrics.items() if k != "imagenet_root"})
        tracker.artifact(out_dir / "metrics.json")
        for split in ("train", "val"):
            tracker.artifact(out_dir / "patches" / split / "annotations.json", f"patches/{split}")
            m = metrics[split]
            print(f"datasets {split}: {m['patches']} patches (O mean {m['patches_O'].get('mean', float('nan')):.3f}"
                  f" vs frames {m['frames_O'].get('mean', float('nan')):.3f}), imagenet {m['imagenet']}"
                  + (f", skipped {[s['source'] for s in m['sources_skipped']]}" if m["sources_skipped"] else ""),
                  file=sys.stderr)
        return metrics


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Entry point: read the ``datasets`` params section and build."""
    run(load_section("datasets", DatasetsParams))
    return 0


if __name__ == "__main__":
    run_cli(main)
