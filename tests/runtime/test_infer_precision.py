"""ncnn options follow the manifest's model precision (not ncnn's defaults), and each precision still infers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.bundle import load_manifest, manifest_checksum
from runtime.errors import UserError
from runtime.infer import Detector, precision_options
from tests.runtime.cluster.tiny_bundle import build_precision_bundle

FP16 = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic")


@pytest.fixture(scope="module")
def precision_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pnnx")
    return build_precision_bundle(tmp_path_factory.mktemp("precisions") / "bundle")


def test_precision_options_table() -> None:
    fp32, fp16, int8 = (precision_options(p) for p in ("fp32", "fp16", "int8"))
    assert not any(fp32[f] for f in FP16) and not fp32["use_int8_inference"] and not fp32["use_bf16_storage"]
    assert all(fp16[f] for f in FP16) and not fp16["use_int8_inference"]
    assert int8["use_int8_inference"] and not any(int8[f] for f in FP16)
    with pytest.raises(ValueError):
        precision_options("fp8")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_detector_sets_options_and_infers(precision_bundle: Path, precision: str) -> None:
    manifest = load_manifest(precision_bundle)
    det = Detector(precision_bundle, f"tiny-64-{precision}", manifest)
    assert det.precision == precision
    for flag, value in precision_options(precision).items():
        assert getattr(det.net.opt, flag) == value, flag
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    out = det(image).detections
    assert out.boxes.shape[1] == 4 and len(out.labels) == len(out.scores)
    ref = Detector(precision_bundle, "tiny-64-fp32", manifest)
    x, _ = ref.preprocess(image)
    a, b = ref.raw(x)[0].ravel(), det.raw(x)[0].ravel()
    assert a.shape == b.shape and np.isfinite(b).all()
    cos = float((a - a.mean()) @ (b - b.mean()) / (np.linalg.norm(a - a.mean()) * np.linalg.norm(b - b.mean())))
    assert cos > {"fp32": 0.9999, "fp16": 0.999, "int8": 0.95}[precision]
    if precision == "int8":  # the quantized layers really ran in int8
        assert np.abs(a - b).max() > 0


def test_unknown_precision_is_a_user_error(precision_bundle: Path, tmp_path: Path) -> None:
    data = json.loads((precision_bundle / "manifest.json").read_text())
    data["models"]["tiny-64-fp32"]["precision"] = "fp8"
    data["checksum"] = manifest_checksum(data)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"models\.tiny-64-fp32\.precision: 'fp8' is not one of"):
        load_manifest(tmp_path, check_files=False)
