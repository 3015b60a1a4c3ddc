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
