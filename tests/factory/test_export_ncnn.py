"""pnnx export, torch vs ncnn parity, the int8 writer (ncnn's format) and its calibration, on a tiny detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factory.export.checks import parity
from factory.export.ncnn_export import export_ncnn, manifest_entry
from factory.models.detector import build_detector, mini_spec
from factory.quant.calibrate import ActivationStats, kl_threshold_bin
from factory.quant.int8 import quantize_ncnn
from factory.quant.ncnnfile import TAG_INT8, read_ncnn, write_ncnn
from runtime.infer import Detector
from runtime.manifest import parse_manifest

CLASSES = ["person", "vehicle"]
SIZE = 80  # a multiple of the stride (16) but not of the backbone's 32: the padded path


def _images(count: int, seed: int = 0) -> list[np.ndarray]:
    """Synthetic 'patches': textured background with a bright box, BGR uint8, assorted sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        h, w = rng.integers(40, 120, 2)
        img = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
        y0, x0 = rng.integers(0, h // 3), rng.integers(0, w // 3)
        img[y0:y0 + h // 2, x0:x0 + w // 2] = rng.integers(120, 255, 3)
        out.append(img)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    torch.manual_seed(0)
    model = build_detector(mini_spec("standin", CLASSES, SIZE, 16, 16, 1, {"width": 8})).eval()
    with torch.no_grad():  # untrained but input-dependent outputs: spread the weights and the prior bias out
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    m.bias.zero_()
    out = tmp_path_factory.mktemp("export")
    bundle: dict = {"classes": CLASSES, "models": {}}
    files = {p: export_ncnn(model, SIZE, out, f"tiny-{SIZE}-{p}", fp16=p == "fp16") for p in ("fp32", "fp16")}
    for p, f in files.items():
        bundle["models"][f"tiny-{SIZE}-{p}"] = manifest_entry(model.spec, "tiny", SIZE, p, f, out, 0, 0, 114)
    det = Detector(out, f"tiny-{SIZE}-fp32", parse_manifest(bundle, "models.json:"))
    calib = [det.preprocess(im)[0] for im in _images(24, seed=1)]
    report = quantize_ncnn(files["fp32"].param, files["fp32"].bin, out / "tiny-int8.param", out / "tiny-int8.bin",
                           files["fp32"].input_blob, calib, method="percentile", min_weights=0, requantize=True)
    entry = dict(bundle["models"][f"tiny-{SIZE}-fp32"], precision="int8",
                 files={"param": "tiny-int8.param", "bin": "tiny-int8.bin"})
    bundle["models"][f"tiny-{SIZE}-int8"] = entry
    return {"model": model, "out": out, "bundle": parse_manifest(bundle, "models.json:"), "files": files,
            "report": report}


def _centred_cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    x = np.concatenate([o.ravel() - o.mean() for o in a])
    y = np.concatenate([o.ravel() - o.mean() for o in b])
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def test_fp32_parity_on_real_inputs(exported: dict) -> None:
    det = Detector(exported["out"], f"tiny-{SIZE}-fp32", exported["bundle"])
    check = parity(exported["model"], det, _images(6))
    assert check["max_abs_diff"] < 1e-3
    assert det.raw(det.preprocess(_images(1)[0])[0])[0].shape == (len(CLASSES) + 4, SIZE // 16, SIZE // 16)


def test_fp16_is_half_the_size_and_close(exported: dict) -> None:
    f32, f16 = exported["files"]["fp32"], exported["files"]["fp16"]
    assert f16.bin.stat().st_size < 0.6 * f32.bin.stat().st_size
    det = Detector(exported["out"], f"tiny-{SIZE}-fp16", exported["bundle"])
    assert parity(exported["model"], det, _images(4))["cosine_min"] > 0.999


def test_int8_format_and_cosine(exported: dict) -> None:
    out, report = exported["out"], exported["report"]
    model = read_ncnn(out / "tiny-int8.param", out / "tiny-int8.bin")
    int8 = [layer for layer in model.layers if layer.params.get(8)]
    assert int8 and len(int8) == len(report.quantized)
    for layer in int8:
        assert layer.weights["weight"][1] == TAG_INT8
        assert layer.params[8] in ("1", "2", "101", "102")
        assert layer.weights["bottom_scales"][0][0] > 0
    assert (out / "tiny-int8.bin").stat().st_size < 0.5 * exported["files"]["fp32"].bin.stat().st_size
    det = Detector(out, f"tiny-{SIZE}-int8", exported["bundle"])
    for image in _images(4, seed=3):
        x, _ = det.preprocess(image)
        with torch.no_grad():
            ref = [o[0].numpy() for o in exported["model"](torch.from_numpy(x)[None])]
        assert _centred_cosine(ref, det.raw(x)) > 0.98


def test_param_bin_round_trip_is_byte_identical(exported: dict, tmp_path) -> None:
    for files in (exported["files"]["fp32"], exported["files"]["fp16"]):
        model = read_ncnn(files.param, files.bin)
        write_ncnn(model, tmp_path / "m.param", tmp_path / "m.bin")
        assert (tmp_path / "m.bin").read_bytes() == files.bin.read_bytes()
        assert read_ncnn(tmp_path / "m.param", tmp_path / "m.bin").layers[-1].line() == model.layers[-1].line()
    out = exported["out"]  # an int8 file (scales after the weights) reads back as well
    model = read_ncnn(out / "tiny-int8.param", out / "tiny-int8.bin")
    write_ncnn(model, tmp_path / "q.param", tmp_path / "q.bin")
    assert (tmp_path / "q.bin").read_bytes() == (out / "tiny-int8.bin").read_bytes()


def test_truncated_bin_is_refused(exported: dict, tmp_path) -> None:
    files = exported["files"]["fp32"]
    (tmp_path / "cut.bin").write_bytes(files.bin.read_bytes()[:-64])
    with pytest.raises(Exception, match="ends early|bytes left"):
        read_ncnn(files.param, tmp_path / "cut.bin")


def test_calibration_thresholds() -> None:
    rng = np.random.default_rng(0)
    values = [np.concatenate([rng.normal(0, 1, 20000), [40.0]]).astype(np.float32)]  # one far outlier
    stats = ActivationStats(["x"])
    stats.add_max(values)
    stats.add_hist(values)
    assert stats.thresholds("maxabs")[0] == pytest.approx(40.0)
    for method in ("kl", "percentile"):
        t = stats.thresholds(method)[0]
        assert 2.0 < t < 10.0, method  # clips the outlier, keeps the bulk
    hist = np.zeros(2048)
    hist[:300] = 1.0
    assert 290 <= kl_threshold_bin(hist) <= 310  # nothing beyond the data is kept, nothing inside it cut


def test_calibration_leaves_non_finite_activations_out() -> None:
    rng = np.random.default_rng(1)
    clean = rng.normal(0, 1, 5000).astype(np.float32)
    dirty = np.concatenate([clean, [np.nan, np.inf, -np.inf]]).astype(np.float32)
    reference, stats = ActivationStats(["x"]), ActivationStats(["x"])
    for s, v in ((reference, clean), (stats, dirty)):
        s.add_max([v])
        s.add_hist([v])
    assert stats.nonfinite[0] == 3
    assert stats.absmax[0] == pytest.approx(reference.absmax[0])
    np.testing.assert_array_equal(stats.hist, reference.hist)
    for method in ("kl", "percentile", "maxabs"):
        assert stats.thresholds(method)[0] == pytest.approx(reference.thresholds(method)[0])


def test_ncnn_tools_are_used_when_on_path(exported: dict, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from factory.quant.int8 import ncnn_tools, quantize_with_ncnn_tools

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    (bin_dir / "ncnn2table").write_text(f'#!/bin/sh\necho "ncnn2table $@" >> {log}\necho "x 1.0" > "$4"\n')
    (bin_dir / "ncnn2int8").write_text(f'#!/bin/sh\necho "ncnn2int8 $@" >> {log}\ncp "$1" "$3"; cp "$2" "$4"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    tools = ncnn_tools()
    assert tools is not None
    files = exported["files"]["fp32"]
    report = quantize_with_ncnn_tools(tools, files.param, files.bin, tmp_path / "q.param", tmp_path / "q.bin",
                                      _images(2), SIZE, [127.5] * 3, [127.5] * 3, "rgb")
    calls = log.read_text()
    assert report.tool == "ncnn2table+ncnn2int8" and (tmp_path / "q.bin").is_file()
    assert f"shape=[{SIZE},{SIZE},3]" in calls and "pixel=RGB" in calls and "ncnn2int8" in calls


def test_closed_loop_alpha_runs_the_runtime_loop(tiny_bundle, tiny_video) -> None:
    from factory.export.loop_alpha import closed_loop_f1
    from runtime.bundle import load_manifest

    manifest = load_manifest(tiny_bundle)
    gt = tiny_video.parent / "annotations.json"
    whole = closed_loop_f1(tiny_bundle, manifest, "tiny-64-fp32", "baseline-160-fp32", [(tiny_video, gt, None)], None)
    part = closed_loop_f1(tiny_bundle, manifest, "tiny-64-fp32", "baseline-160-fp32", [(tiny_video, gt, "0:4")], None)
    for r in (whole, part):
        assert set(r) == {"f1", "precision", "recall"} and all(0.0 <= v <= 1.0 for v in r.values())
    # pooling two sources counts both: the same clip twice keeps the figures
    twice = closed_loop_f1(tiny_bundle, manifest, "tiny-64-fp32", "baseline-160-fp32",
                           [(tiny_video, gt, "0:4"), (tiny_video, gt, "0:4")], None)
    assert twice == pytest.approx(part)
