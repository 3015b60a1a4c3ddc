"""The keypoints stage's ncnn files as the profile and bundle stages see them (issue 16): which of them go into
the bundle, their accuracy α and which a device serves.

The keypoints stage writes ``<keypoints_dir>/ncnn/manifest.json`` (a keypoint-only bundle: one entry per model
and precision, ``task: keypoints``, files relative to that folder) and ``<keypoints_dir>/metrics.json`` (per
trained model: test OKS AP and, per exported precision, the torch vs ncnn parity). Here:

- a file is **selected** when its parity passes: the mean distance between the keypoints decoded from torch's
  and from ncnn's heatmaps on the stage's parity crops (``mean_keypoint_px``, input px) is at most
  ``max_parity_px``. fp32 and fp16 pass (0 and < 0.1 px on the world test crops); int8 fails so far (32–64 px
  for the minis, 5–30 px for HRNet, docs/keypoints.md) and is left out, with the reason;
- its accuracy α is the model's test OKS AP (``test_ap``: the torch model's, shared by its precisions — the
  parity check is what says the ncnn file keeps it);
- a device serves the selected keypoint models in its precision, else the fp32 ones (said in a note).

The profile stage times and rows the selected files; the bundle stage copies the keypoint models its profile
has rows for (:func:`bundled_entries`). No torch here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import UserError
from runtime.manifest import Manifest, ModelSpec, parse_manifest

MANIFEST = "ncnn/manifest.json"
METRICS = "metrics.json"


@dataclass(frozen=True)
class KeypointExports:
    """The selected keypoint files of a keypoints stage output."""

    ncnn_dir: Path  # the folder the catalog's file paths are relative to
    catalog: Manifest  # the selected models only (a keypoint-only manifest, no profiles)
    accuracy: dict[str, float]  # model name → α (test OKS AP, 0–1)
    left_out: dict[str, str] = field(default_factory=dict)  # model name → why it is not selected

    @property
    def models(self) -> dict[str, ModelSpec]:
        """Selected model name → spec."""
        return self.catalog.models


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found (run the keypoints stage to its end)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None


def read_keypoint_exports(keypoints_dir: Path, max_parity_px: float) -> KeypointExports | None:
    """The keypoints stage's files under ``keypoints_dir`` whose parity passes (see the module docstring);
    None when the stage wrote no ncnn manifest there (it was not run). A model without its metrics row or
    parity figure is a one-line error naming the file and key."""
    manifest_path = keypoints_dir / MANIFEST
    if not manifest_path.is_file():
        return None
    raw = _read_json(manifest_path)
    metrics_path = keypoints_dir / METRICS
    rows = {r["model"]: r for r in _read_json(metrics_path).get("rows", [])}
    full = parse_manifest(raw, f"{manifest_path}:")
    keep: dict[str, Any] = {}
    accuracy: dict[str, float] = {}
    left_out: dict[str, str] = {}
    for name, spec in full.models.items():
        if spec.task != "keypoints":
            raise UserError(f"{manifest_path}: models.{name}.task: expected keypoints, got {spec.task}")
        base = name.removesuffix(f"-{spec.precision}")
        if base not in rows:
            raise UserError(f"{metrics_path}: rows: no row for model {base!r} (of {name})")
        check = rows[base].get("ncnn", {}).get(spec.precision, {})
        drift = check.get("mean_keypoint_px")
        if not isinstance(drift, (int, float)):
            raise UserError(f"{metrics_path}: rows.{base}.ncnn.{spec.precision}.mean_keypoint_px: missing")
        if drift > max_parity_px:
            left_out[name] = f"parity fails: mean keypoint drift {drift:.2f} px > {max_parity_px:g} px"
            continue
        keep[name] = raw["models"][name]
        accuracy[name] = round(float(rows[base]["test_ap"]), 4)
    catalog = parse_manifest({"classes": raw["classes"], "models": keep}, f"{manifest_path}:")
    return KeypointExports(manifest_path.parent, catalog, accuracy, left_out)


def keypoint_serves(models: Mapping[str, ModelSpec], precision: str) -> tuple[list[str], str]:
    """The keypoint models a device of ``precision`` serves (manifest order) and a note when it falls back to
    fp32 (or, without fp32 files, to every model)."""
    mine = [n for n, m in models.items() if m.precision == precision]
    if mine or not models:
        return mine, ""
    fp32 = [n for n, m in models.items() if m.precision == "fp32"]
    if fp32:
        return fp32, f"no keypoint model in {precision}: the fp32 ones"
    return list(models), f"no keypoint model in {precision} or fp32: every one"


def bundled_entries(keypoints_dir: Path, names: Iterable[str]) -> tuple[Path, dict[str, Any]]:
    """The ncnn folder and the raw manifest entries (deep copies in that manifest's order, files relative to that
    folder) of the keypoint models ``names`` — those the profile stage rowed. A name the keypoints stage's
    manifest lacks is an error (the profile is older than the keypoint files: re-run the profile stage)."""
    manifest_path = keypoints_dir / MANIFEST
    wanted = list(names)
    if not wanted:
        return manifest_path.parent, {}
    models = _read_json(manifest_path).get("models", {})
    missing = [n for n in wanted if n not in models]
    if missing:
        raise UserError(f"{manifest_path}: models.{missing[0]}: profiled but not exported (re-run the profile "
                        f"stage)")
    return manifest_path.parent, {n: json.loads(json.dumps(e)) for n, e in models.items() if n in wanted}
