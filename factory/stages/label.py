"""DVC stage ``label``: the teacher labels a real video → ``<out_dir>/<name>/annotations.json``.

Run: ``python -m factory.stages.label`` (reads the ``label`` section of params.yaml). Writes
``<out_dir>/<name>/annotations.json`` (ground truth, CONVENTIONS.md), ``<out_dir>/<name>/raw.json``
(every detection ≥ ``raw_score``), ``<out_dir>/metrics.json`` and ``<out_dir>/status.json``. When the video
or the model is absent (the shared data of :data:`factory.paths.SHARED_DIR` is not on this machine) the stage
succeeds without labelling: status.json says ``skipped`` and why, and stale labels of an earlier run are removed.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field

from factory import paths
from factory.pipeline import load_section, resolve_path
from factory.teacher.detector import DEFAULT_CLASSES, Detector, DetectorSpec
from factory.teacher.labels import agreement, label_video, to_ground_truth
from runtime.atomic import write_json
from runtime.coco import load_coco, write_coco
from runtime.config import bounded
from runtime.errors import cli_entry, run_cli
from runtime.video import parse_frames


@dataclass
class LabelParams:
    """The ``label`` section of params.yaml."""

    video: str = paths.REAL_VIDEO  # real video to label
    model: str = paths.TEACHER_MODEL  # ONNX COCO detector (the teacher)
    name: str = paths.REAL_NAME  # output sub-folder of out_dir
    out_dir: str = paths.LABEL_DIR
    frames: str | None = None  # half-open A:B (or A:B:S) of frames to label; null = all
    score: float = bounded(0.40, "ground-truth score cut (CONVENTIONS.md)", ge=0.0, le=1.0)
    raw_score: float = bounded(0.20, "score cut of the raw reference file", ge=0.0, le=1.0)
    classes: dict[str, list[str]] = bounded(DEFAULT_CLASSES, "ParaLoupe class -> detector class names")
    detector: DetectorSpec = field(default_factory=DetectorSpec)  # how to run the model (teacher default)
    reference: str | None = paths.TEACHER_REFERENCE  # optional labels to compare with (agreement figure)

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        parse_frames(self.frames, f"{where}.frames")


def run(params: LabelParams) -> dict:
    """Label the video of ``params``; returns the metrics (or the skip status)."""
    from factory.tracking import stage_run

    out_dir = resolve_path(params.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / params.name
    video, model = resolve_path(params.video), resolve_path(params.model)
    missing = [f"{what} {path} is absent" for what, path in (("video", video), ("model", model))
               if not path.is_file()]
    with stage_run("label", params, out_dir) as tracker:
        if missing:
            if target.exists():
                shutil.rmtree(target)
            status = {"status": "skipped", "reason": "; ".join(missing)}
            write_json(out_dir / "metrics.json", {"skipped": 1})
            write_json(out_dir / "status.json", status)
            tracker.tags({"skipped": status["reason"]})
            print(f"label: skipped ({status['reason']})", file=sys.stderr)
            return status
        detector = Detector(model, params.detector, min_score=min(params.raw_score, params.score))
        result = label_video(video, detector, parse_frames(params.frames), params.classes, params.score)
        write_coco(target / "raw.json", result.raw)
        write_coco(target / "annotations.json", result.gt)
        counts = {c: 0 for c in result.gt.categories}
        for fa in result.gt.frames.values():
            for label in fa.labels:
                counts[label] += 1
        metrics: dict = {"frames": result.frames, "ms_per_frame": round(result.ms_per_frame, 2),
                         "wall_s": round(result.seconds, 2), "boxes": counts,
                         "boxes_per_frame": round(sum(counts.values()) / result.frames, 3)}
        ref_path = resolve_path(params.reference) if params.reference else None
        if ref_path is not None and ref_path.is_file():
            ref = to_ground_truth(load_coco(ref_path), params.classes, params.score)
            agree = agreement(result.gt, ref, 2.0, result.gt.frame_ids)
            metrics["agreement_2px"] = {k: round(v, 4) for k, v in agree.items()}
        write_json(out_dir / "metrics.json", metrics)
        write_json(out_dir / "status.json", {"status": "done", "video": str(video), "model": str(model)})
        tracker.metrics(metrics)
        tracker.artifact(out_dir / "metrics.json")
        tracker.artifact(target / "annotations.json", params.name)
        print(f"label: {result.frames} frames, {sum(counts.values())} boxes, {result.ms_per_frame:.1f} ms/frame "
              f"-> {target / 'annotations.json'}", file=sys.stderr)
        return metrics


@cli_entry
def main(argv: list[str] | None = None) -> int:
    """Entry point: read the ``label`` params section, run, exit 0 (also when skipped)."""
    run(load_section("label", LabelParams))
    return 0


if __name__ == "__main__":
    run_cli(main)
