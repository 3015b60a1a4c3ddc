"""A tiny but real bundle for the cluster tests and the local demo: a 4-layer conv detector exported with
pnnx to ncnn, two mini models (input 64 and 96) and a baseline (input 160), with made-up device profiles.

The detector is untrained (fixed seed): its boxes are arbitrary but deterministic — enough to exercise
transport, scheduling, pacing and aggregation, not accuracy. Run as a script to write one::

    python tests/runtime/cluster/tiny_bundle.py /tmp/tiny-bundle
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.manifest import Manifest

CLASSES = ["person", "vehicle"]
DECODE = {"strides": [16], "score_threshold": 0.5, "top_k": 20, "nms_iou": 0.5, "max_detections": 5}
MEAN, STD = [127.5, 127.5, 127.5], [127.5, 127.5, 127.5]
# model name -> (kind, input size); device -> model -> (latency ms, accuracy). Latencies are invented but
# ordered like the paper's devices (Jetson and the phone fast, the Raspberry Pi slow).
MODELS = {"tiny-64-fp32": ("mini", 64), "tiny-96-fp32": ("mini", 96), "baseline-160-fp32": ("baseline", 160)}
PROFILES = {
    "jetson-xavier-nx": {"tiny-64-fp32": (8.0, 0.80), "tiny-96-fp32": (12.0, 0.86), "baseline-160-fp32": (60.0, 0.9)},
    "raspberry-pi-4b": {"tiny-64-fp32": (25.0, 0.80), "tiny-96-fp32": (40.0, 0.86), "baseline-160-fp32": (240.0, 0.9)},
    "snapdragon-732g": {"tiny-64-fp32": (10.0, 0.80), "tiny-96-fp32": (15.0, 0.86), "baseline-160-fp32": (80.0, 0.9)},
}


def export_tiny(folder: Path, fp16: bool = False) -> tuple[Path, Path]:
    """pnnx-export the tiny detector (weights stored in fp16 with ``fp16``); returns (param, bin)."""
    import pnnx
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers = []
            for cin, cout in ((3, 8), (8, 16), (16, 16), (16, 16)):
                layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU()]
            self.body = nn.Sequential(*layers)
            self.cls = nn.Conv2d(16, len(CLASSES), 1)
            self.reg = nn.Conv2d(16, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.body(x)
            return torch.cat([torch.sigmoid(self.cls(f)), torch.relu(self.reg(f)) + 0.5], 1)

    torch.manual_seed(0)
    model = Tiny().eval()
    with torch.no_grad():
        model.reg.bias.fill_(1.0)
    x = torch.rand(1, 3, 64, 64)
    target = folder / "tiny.pt"
    pnnx.export(model, str(target), (x,), fp16=fp16)
    return folder / "tiny.ncnn.param", folder / "tiny.ncnn.bin"


def build_tiny_bundle(bundle: Path) -> Path:
    """Write the tiny bundle into ``bundle`` (created) and return it."""
    from runtime.bundle import file_sha256, write_manifest

    bundle = Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        param, weights = export_tiny(Path(tmp))
        shutil.copy(param, bundle / "tiny.param")
        shutil.copy(weights, bundle / "tiny.bin")
    text = (bundle / "tiny.param").read_text().split()
    in_blob, out_blob = "in0", "out0"
    assert in_blob in text and out_blob in text, "pnnx blob names changed"
    models = {}
    for name, (kind, size) in MODELS.items():
        models[name] = {"backbone": "tiny" if kind == "mini" else "baseline", "input_size": size,
                        "precision": "fp32", "kind": kind, "files": {"param": "tiny.param", "bin": "tiny.bin"},
                        "sha256": {"param": file_sha256(bundle / "tiny.param"),
                                   "bin": file_sha256(bundle / "tiny.bin")},
                        "input_blob": in_blob, "output_blobs": [out_blob], "mean": MEAN, "std": STD,
                        "colour": "rgb", "pad_value": 114, "decode": dict(DECODE), "macs": 0, "params": 0}
    profiles = {dev: {"estimated": True, "threads": 1, "source": "tests/runtime/cluster/tiny_bundle.py (invented)",
                      "models": {m: {"latency_ms": lat, "memory_mb": 10.0, "accuracy": acc}
                                 for m, (lat, acc) in rows.items()}} for dev, rows in PROFILES.items()}
    devices = {dev: {"flops": 0.0, "serves": list(rows), "cost": 0.0} for dev, rows in PROFILES.items()}
    write_manifest(bundle, {"classes": CLASSES, "factory": {"git_commit": "test", "params_sha256": "", "created": ""},
                            "models": models, "profiles": profiles, "devices": devices})
    return bundle


def build_precision_bundle(bundle: Path, size: int = 64) -> Path:
    """A bundle of the tiny detector in each precision: ``tiny-<size>-fp32``, ``-fp16`` (pnnx fp16 export) and
    ``-int8`` (the factory's int8 writer, calibrated on random inputs). Needs pnnx and the factory."""
    import numpy as np

    from factory.quant.int8 import quantize_ncnn
    from runtime.bundle import file_sha256, write_manifest

    bundle = Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    for precision in ("fp32", "fp16"):
        with tempfile.TemporaryDirectory() as tmp:
            param, weights = export_tiny(Path(tmp), fp16=precision == "fp16")
            shutil.copy(param, bundle / f"tiny-{precision}.param")
            shutil.copy(weights, bundle / f"tiny-{precision}.bin")
    rng = np.random.default_rng(0)
    calib = [rng.uniform(-1, 1, (3, size, size)).astype(np.float32) for _ in range(8)]
    quantize_ncnn(bundle / "tiny-fp32.param", bundle / "tiny-fp32.bin", bundle / "tiny-int8.param",
                  bundle / "tiny-int8.bin", "in0", calib, method="percentile", min_weights=0)
    models = {}
    for precision in ("fp32", "fp16", "int8"):
        files = {"param": f"tiny-{precision}.param", "bin": f"tiny-{precision}.bin"}
        models[f"tiny-{size}-{precision}"] = {
            "backbone": "tiny", "input_size": size, "precision": precision, "kind": "mini", "files": files,
            "sha256": {k: file_sha256(bundle / f) for k, f in files.items()}, "input_blob": "in0",
            "output_blobs": ["out0"], "mean": MEAN, "std": STD, "colour": "rgb", "pad_value": 114,
            "decode": dict(DECODE), "macs": 0, "params": 0}
    write_manifest(bundle, {"classes": CLASSES, "factory": {"git_commit": "test", "params_sha256": "", "created": ""},
                            "models": models, "profiles": {}, "devices": {}})
    return bundle


def fake_manifest(models: Mapping[str, str],
                  profiles: Mapping[str, Mapping[str, float | tuple[float, float]]] | None = None,
                  serves: Mapping[str, list[str]] | None = None) -> Manifest:
    """A typed manifest whose files do not exist (master, local-cluster and pace-factor tests): ``models`` name →
    kind (input 64 px, fp32), ``profiles`` device → model → latency (ms; accuracy 0.8) or (latency, accuracy),
    ``serves`` device → the models its ``devices`` entry serves."""
    from runtime.manifest import parse_manifest

    entries = {name: {"backbone": "tiny", "input_size": 64, "precision": "fp32", "kind": kind,
                      "files": {"param": "none.param", "bin": "none.bin"}, "sha256": {"param": "", "bin": ""},
                      "input_blob": "in0", "output_blobs": ["out0"], "mean": MEAN, "std": STD, "colour": "rgb",
                      "pad_value": 114, "decode": dict(DECODE), "macs": 0, "params": 0}
               for name, kind in models.items()}
    def row(value: float | tuple[float, float]) -> dict[str, float]:
        t, a = value if isinstance(value, tuple) else (value, 0.8)
        return {"latency_ms": t, "accuracy": a}

    rows = {dev: {"estimated": True, "models": {m: row(v) for m, v in lat.items()}}
            for dev, lat in (profiles or {}).items()}
    devices = {dev: {"flops": 0.0, "serves": list(names), "cost": 0.0} for dev, names in (serves or {}).items()}
    return parse_manifest({"classes": CLASSES, "models": entries, "profiles": rows, "devices": devices}, "fake:")


if __name__ == "__main__":
    print(build_tiny_bundle(Path(sys.argv[1])))
