"""The tiny bundle plus two tiny keypoint models (``task: keypoints``): an untrained stand-in mini keypoint net
(input 64×32) exported to ncnn twice — as ``kp-tiny-64x32-fp32`` (kind mini) and ``kp-base-64x32-fp32`` (kind
baseline) — beside the tiny detectors, with no keypoint profile rows (the servers estimate their latency). The
net is untrained (fixed seed): enough to exercise cropping, transport, scheduling and mapping, not accuracy.
Needs torch, pnnx and the factory (the tests skip without them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

MINI, BASE = "kp-tiny-64x32-fp32", "kp-base-64x32-fp32"


def build_keypoint_bundle(tiny_bundle: Path, out: Path) -> Path:
    """A copy of ``tiny_bundle`` in ``out`` with :data:`MINI` and :data:`BASE` added; returns ``out``."""
    import torch

    from factory.keypoints.export import export_keypoint_ncnn, manifest_entry
    from factory.keypoints.model import KeypointNet, mini_spec
    from runtime.bundle import write_manifest

    shutil.copytree(tiny_bundle, out)
    data = json.loads((out / "manifest.json").read_text())
    data.pop("checksum", None)
    torch.manual_seed(0)
    model = KeypointNet(mini_spec("standin", (64, 32), head_width=8, backbone_kwargs={"width": 8})).eval()
    files = export_keypoint_ncnn(model, out, "kp-tiny", fp16=False)
    data["models"][MINI] = manifest_entry(model, "standin", "fp32", files, out, macs=0)
    data["models"][BASE] = dict(data["models"][MINI], kind="baseline")
    write_manifest(out, data)
    return out


STAGE_MODEL = "kp-tiny-64x32"
"""The one model of :func:`build_keypoint_stage_output` (files ``<STAGE_MODEL>-fp32``, ``-fp16``, ``-int8``)."""


def build_keypoint_stage_output(out: Path, test_ap: float = 0.3, int8_drift_px: float = 40.0) -> Path:
    """What the keypoints stage writes that the profile and bundle stages read, for one untrained stand-in mini
    (input 64×32): ``<out>/ncnn/`` with its fp32, fp16 and int8 files (the int8 entry reuses the fp32 files) and
    their ``manifest.json``, and ``<out>/metrics.json`` (test OKS AP ``test_ap``; parity 0 / 0.05 px for fp32 /
    fp16, ``int8_drift_px`` for int8). Returns ``out``."""
    import torch

    from factory.keypoints.export import export_keypoint_ncnn, manifest_entry
    from factory.keypoints.model import KeypointNet, mini_spec
    from runtime.bundle import write_manifest

    ncnn_dir = out / "ncnn"
    ncnn_dir.mkdir(parents=True)
    torch.manual_seed(0)
    model = KeypointNet(mini_spec("standin", (64, 32), head_width=8, backbone_kwargs={"width": 8})).eval()
    catalog = {}
    for precision in ("fp32", "fp16"):
        files = export_keypoint_ncnn(model, ncnn_dir, f"{STAGE_MODEL}-{precision}", fp16=precision == "fp16")
        catalog[f"{STAGE_MODEL}-{precision}"] = manifest_entry(model, "standin", precision, files, ncnn_dir, macs=0)
    catalog[f"{STAGE_MODEL}-int8"] = dict(catalog[f"{STAGE_MODEL}-fp32"], precision="int8")
    write_manifest(ncnn_dir, {"classes": ["person"], "models": catalog})
    drift = {"fp32": 0.0, "fp16": 0.05, "int8": int8_drift_px}
    row = {"model": STAGE_MODEL, "kind": "mini", "test_ap": test_ap,
           "ncnn": {p: {"mean_keypoint_px": d, "max_keypoint_px": 2 * d} for p, d in drift.items()}}
    (out / "metrics.json").write_text(json.dumps({"rows": [row]}))
    return out
