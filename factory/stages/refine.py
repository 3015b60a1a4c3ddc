"""DVC stage ``refine``: the minis' second training pass, with the closed loop's own mistakes as examples.

Run: ``python -m factory.stages.refine`` (reads ``params.yaml: refine``, and ``finetune`` for the training
recipe). From the first-pass checkpoints of the ``finetune`` stage (``in_dir``) it

1. runs the runtime's closed loop with each first-pass mini (torch; the baseline on the tile pass) over the
   ``videos`` (each optionally a ``frames`` range) — labelled world videos the minis never trained on, and
   the first part of the real video's training split, whose static distractors the teacher never labels
   (the first pass saw them only at the edge of object-centred patches) — and cuts a patch around every
   false positive it reports (:mod:`factory.train.mining`), labelled from the ground truth; an ``optional``
   video that is absent is skipped and listed;
2. with ``plain_patches``, also cuts the patch set (``datasets.patches`` recipe) of those videos that
   ``datasets.train`` does not hold already, so the second pass sees their layouts, not only their distractors;
3. trains every mini again with the finetune recipe on ``finetune.mini.train`` plus those sets, and
   evaluates them as the finetune stage does; the baseline's checkpoint and table rows are carried over.

Writes ``<out_dir>/<model>/model.pt`` for every model (the export stage reads this folder),
``<out_dir>/mined/`` and ``<out_dir>/plain/`` (COCO patch sets) and ``<out_dir>/metrics.json`` (the
finetune stage's table plus the mining counts). ``enabled: false`` copies the first-pass checkpoints through.
The baseline trains on the same videos in the finetune stage (``finetune.baseline.train``), so both sides of
the comparison learn from the same frames.
"""

from __future__ import annotations

import factory.torch_compat  # noqa: F401  (before timm / pytorch_lightning)

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factory import paths
from factory.data.builder import Source, build_split, refine_sources
from factory.data.imagenet import ImagenetParams
from factory.data.patchset import CocoImageWriter
from factory.models.detector import load_detector
from factory.pipeline import load_section, resolve_path
from factory.stages.datasets import DatasetsParams
from factory.stages.finetune import _print_table, evaluate_models, summarize, train_minis
from factory.stages.finetune_params import FinetuneParams
from factory.tracking import stage_run
from factory.train.mining import (
    MiningParams,
    false_positive_boxes,
    hard_patch_rects,
    loop_predictions,
    write_hard_patches,
)
from runtime.atomic import write_json
from runtime.coco import load_coco
from runtime.config import to_mapping
from runtime.errors import UserError, cli_entry, run_cli
from runtime.patches.objectness import ObjectnessModel
from runtime.video import parse_frames

log = logging.getLogger("paraloupe")


@dataclass
class RefineParams:
    """The ``refine`` section of params.yaml."""

    enabled: bool = True  # false: the first-pass checkpoints are copied through unchanged
    in_dir: str = paths.DETECTORS_DIR  # first-pass checkpoints (finetune stage)
    out_dir: str = paths.REFINED_DIR
    videos: list[Source] = field(default_factory=refine_sources)  # held-out world videos + vtest [0, 500)
    objectness: str = paths.OBJECTNESS_WEIGHTS  # the loop's objectness model M (absent: the prior)
    plain_patches: bool = True  # the videos' own patch set (datasets.patches recipe) joins the second pass
    mining: MiningParams = field(default_factory=MiningParams)


def mine(params: RefineParams, detectors: Path, classes: list[str], out: Path) -> dict[str, Any]:
    """Step 1: the hard-example patch set ``out`` from every first-pass mini's loop; returns the counts."""
    models = {p.parent.name: load_detector(p) for p in sorted(detectors.glob("*/model.pt"))}
    minis = {n: m for n, m in models.items() if m.spec["kind"] == "mini"}
    baseline = next((m for m in models.values() if m.spec["kind"] == "baseline"), None)
    weights = resolve_path(params.objectness)
    objectness = ObjectnessModel.from_dict(json.loads(weights.read_text()), str(weights)) if weights.is_file() \
        else None
    writer = CocoImageWriter(out, list(classes), params.mining.jpeg_quality, params.mining.jpeg_chroma)
    counts: dict[str, Any] = {"minis": sorted(minis), "false_positives": {}, "patches": {}, "skipped": []}
    for i, src in enumerate(params.videos):
        video, ann = resolve_path(src.video), resolve_path(src.annotations)
        if not (video.is_file() and ann.is_file()):
            missing = video if not video.is_file() else ann
            if src.optional:
                log.warning("refine: refine.videos[%d] skipped (optional): %s not found", i, missing)
                counts["skipped"].append(src.video)
                continue
            raise UserError(f"params.yaml: refine.videos[{i}]: {missing} not found")
        gt = load_coco(ann)
        frames = parse_frames(src.frames, f"params.yaml: refine.videos[{i}].frames")
        found: dict[int, list[np.ndarray]] = {}
        for model in minis.values():  # each mini's mistakes; the dedupe merges the ones they share
            for fid, boxes in false_positive_boxes(gt, loop_predictions(video, gt, model, baseline, objectness,
                                                                        frames)).items():
                found.setdefault(fid, []).append(boxes)
        boxes_by_frame = {f: np.concatenate(b) for f, b in found.items()}
        rects = hard_patch_rects(boxes_by_frame, gt.width, gt.height, params.mining)
        name = Path(src.video).parent.name
        counts["false_positives"][name] = int(sum(len(b) for b in boxes_by_frame.values()))
        counts["patches"][name] = write_hard_patches(video, gt, rects, writer, params.mining, name)
        log.info("refine: %s: %d loop false positives over %d minis -> %d patches", name,
                 counts["false_positives"][name], len(minis), counts["patches"][name])
    writer.close({"description": "ParaLoupe hard examples: the closed loop's false positives on held-out videos",
                  "sources": [s.video for s in params.videos]})
    counts["total_patches"] = int(sum(counts["patches"].values()))
    return counts


def run(params: RefineParams, finetune: FinetuneParams) -> dict[str, Any]:
    """The stage (module docstring); returns its metrics."""
    src, out = resolve_path(params.in_dir), resolve_path(params.out_dir)
    names = sorted(p.parent.name for p in src.glob("*/model.pt"))
    if not names:
        raise UserError(f"{src}: no checkpoints (run the finetune stage first)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if not params.enabled:
        for name in names:
            shutil.copytree(src / name, out / name)
        shutil.copy(src / "metrics.json", out / "metrics.json")
        log.info("refine: disabled; %d first-pass checkpoints copied to %s", len(names), out)
        return {"enabled": False}
    t0 = time.time()
    with stage_run("refine", params, out) as tracker:
        report: dict[str, Any] = {"mining": mine(params, src, finetune.classes, out / "mined")}
        report["mining"]["seconds"] = round(time.time() - t0, 1)
        extra = [str(out / "mined")]
        datasets = load_section("datasets", DatasetsParams)
        seen = {resolve_path(s.video) for s in datasets.train}  # the first pass's patch set holds these already
        plain = [s for s in params.videos if resolve_path(s.video) not in seen]
        if params.plain_patches and plain:
            report["plain"] = build_split("train", plain, out / "plain", out / ".plain-imagenet", datasets.patches,
                                          ImagenetParams(), seed=finetune.seed, split_index=0)
            shutil.rmtree(out / ".plain-imagenet", ignore_errors=True)
            extra.append(str(out / "plain"))
        recipe = dataclasses.replace(finetune, out_dir=str(out),
                                     mini=dataclasses.replace(finetune.mini, train=[*finetune.mini.train, *extra]))
        torch.set_float32_matmul_precision("high")
        if finetune.threads:
            torch.set_num_threads(finetune.threads)
        train_minis(recipe, out, tracker)
        trained = sorted(p.parent.name for p in out.glob("*/model.pt"))
        rows = evaluate_models(recipe, out, tracker, trained)
        first = json.loads((src / "metrics.json").read_text()) if (src / "metrics.json").is_file() else {"rows": []}
        rows += [r for r in first["rows"] if r["kind"] == "baseline"]
        for name in names:
            if not (out / name / "model.pt").is_file():  # the baseline (and minis the recipe no longer trains)
                shutil.copytree(src / name, out / name)
        report.update(rows=rows, summary=summarize(rows), seconds=round(time.time() - t0, 1),
                      params=to_mapping(params))
        write_json(out / "metrics.json", report)
        tracker.metrics({"mined_patches": report["mining"]["total_patches"],
                         **{k: v for k, v in report["summary"].items() if isinstance(v, (int, float))}})
        _print_table(rows)
    return report


@cli_entry
def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m factory.stages.refine", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(load_section("refine", RefineParams), load_section("finetune", FinetuneParams))
    return 0


if __name__ == "__main__":
    run_cli(main)
