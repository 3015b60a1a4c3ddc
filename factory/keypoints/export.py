"""ncnn export of a keypoint model (pnnx, fp32 and fp16) with a parity check against torch.

pnnx traces the model on a 1×3×H×W input (the model's own, non-square size) and writes ``<stem>.param`` /
``<stem>.bin``; the output blob is the (13, H/4, W/4) heatmap stack. Parity: the same letterboxed test crops
through torch and ncnn (1 thread, fp16 arithmetic off for fp32 files); reported as the largest absolute
heatmap difference and the largest distance between the decoded keypoints (input px).
int8 (:func:`export_int8`) is quantized from the fp32 files with the project's own int8 writer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factory.data.keypointset import KeypointSet
from factory.export.ncnn_export import NcnnFiles, blob_names, export_ncnn
from factory.keypoints.data import HeatmapDataset, to_tensor
from factory.keypoints.model import KeypointNet
from runtime.errors import UserError
from runtime.infer import load_net
from runtime.keypoints import decode_heatmaps


def export_keypoint_ncnn(model: KeypointNet, out_dir: str | Path, stem: str, fp16: bool) -> NcnnFiles:
    """Export ``model`` at its input size to ``out_dir/stem.{param,bin}`` (fp16 weights when ``fp16``)."""
    h, w = model.spec["input"]
    return export_ncnn(model, (int(h), int(w)), out_dir, stem, fp16)


def _net(files: NcnnFiles, precision: str) -> Any:
    return load_net(files.param, files.bin, precision)


def ncnn_heatmaps(net: Any, files: NcnnFiles, x: np.ndarray) -> np.ndarray:
    """Run the ncnn net on one (3, H, W) float32 input; the (13, H/4, W/4) heatmaps."""
    import ncnn

    data = np.ascontiguousarray(x, dtype=np.float32)  # ncnn.Mat borrows this buffer: keep it alive
    ex = net.create_extractor()
    ex.input(files.input_blob, ncnn.Mat(data))
    ret, mat = ex.extract(files.output_blobs[0])
    if ret != 0:
        raise UserError(f"{files.param}: ncnn could not extract {files.output_blobs[0]!r}")
    return np.array(mat)


@torch.no_grad()
def parity(model: KeypointNet, files: NcnnFiles, precision: str, crops: KeypointSet, count: int = 8,
           runs: int = 10) -> dict[str, float]:
    """Torch vs ncnn on the first ``count`` crops: largest heatmap |diff|, largest and mean keypoint distance
    (input px; an arg-max on a flat map can jump), and the ncnn median latency on this host (ms, 1 thread,
    ``runs`` runs)."""
    net = _net(files, precision)
    data = HeatmapDataset(crops, model.spec, train=False)
    stride = model.spec["stride"]
    worst_map, worst_px, dists = 0.0, 0.0, []
    x = None
    for i in range(min(count, len(crops))):
        image, _, _ = data.sample(i)
        x = to_tensor(image, model.spec)
        ref = model.eval()(x[None])[0].numpy()
        got = ncnn_heatmaps(net, files, x.numpy().copy())
        if got.shape != ref.shape:
            raise UserError(f"{files.param}: ncnn output {got.shape}, torch {ref.shape}")
        worst_map = max(worst_map, float(np.abs(got - ref).max()))
        d = decode_heatmaps(got, stride)[:, :2] - decode_heatmaps(ref, stride)[:, :2]
        dist = np.sqrt((d ** 2).sum(axis=1))
        worst_px, dists = max(worst_px, float(dist.max())), dists + dist.tolist()
    times = []
    for _ in range(runs if x is not None else 0):
        t0 = time.perf_counter()
        ncnn_heatmaps(net, files, x.numpy())  # type: ignore[union-attr]
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"max_abs_heatmap": worst_map, "max_keypoint_px": worst_px,
            "mean_keypoint_px": float(np.mean(dists)) if dists else 0.0,
            "ncnn_ms": float(np.median(times)) if times else 0.0}


def manifest_entry(model: KeypointNet, name_backbone: str, precision: str, files: NcnnFiles, root: str | Path,
                   macs: int, pad_value: int = 114) -> dict[str, Any]:
    """The bundle manifest's ``models.NAME`` entry of an exported keypoint model (``task: keypoints``; file
    paths relative to ``root``; mean/std on the 0–255 scale; ``input_size`` = the input's longer side)."""
    from runtime.bundle import file_sha256
    from runtime.keypoints import BODY, COCO_NAMES, SIGMAS, SKELETON

    spec, root = model.spec, Path(root)
    h, w = spec["input"]
    return {"backbone": name_backbone, "input_size": int(max(h, w)), "precision": precision, "kind": spec["kind"],
            "files": {"param": files.param.relative_to(root).as_posix(), "bin": files.bin.relative_to(root).as_posix()},
            "sha256": {"param": file_sha256(files.param), "bin": file_sha256(files.bin)},
            "input_blob": files.input_blob, "output_blobs": list(files.output_blobs),
            "mean": [round(v * 255.0, 4) for v in spec["mean"]], "std": [round(v * 255.0, 4) for v in spec["std"]],
            "colour": "rgb", "pad_value": int(pad_value), "decode": {"strides": [int(spec["stride"])]},
            "macs": int(macs), "params": int(sum(p.numel() for p in model.parameters())), "task": "keypoints",
            "keypoints": {"names": list(COCO_NAMES), "body": list(BODY), "skeleton": [list(e) for e in SKELETON],
                          "sigmas": list(SIGMAS), "input_hw": [int(h), int(w)], "stride": int(spec["stride"])}}


def export_int8(model: KeypointNet, fp32: NcnnFiles, out_dir: str | Path, stem: str, calibration: KeypointSet,
                count: int = 100) -> tuple[NcnnFiles, dict[str, Any]]:
    """int8 files from the fp32 export (:func:`factory.quant.int8.quantize_ncnn` with the export stage's default
    recipe: per-channel weight scales, 99.99th-percentile activation scales over ``count`` calibration crops
    spread evenly over the set, letterboxed as at inference; layers with < 32 weights per output channel and
    the int8 → int8 requantization as there). KL over 32 crops gave unusable heatmaps (max |diff| ≈ 1)."""
    from factory.quant.int8 import quantize_ncnn

    data = HeatmapDataset(calibration, model.spec, train=False)
    picks = np.linspace(0, len(calibration) - 1, min(count, len(calibration))).round().astype(int)
    inputs = [to_tensor(data.sample(int(i))[0], model.spec).numpy() for i in picks]
    out_dir = Path(out_dir)
    param, weights = out_dir / f"{stem}.param", out_dir / f"{stem}.bin"
    report = quantize_ncnn(fp32.param, fp32.bin, param, weights, fp32.input_blob, inputs, method="percentile",
                           min_weights=32, requantize=True)
    input_blob, outputs = blob_names(param, weights)
    return NcnnFiles(param, weights, input_blob, outputs), {"layers_int8": len(report.quantized),
                                                            "layers_fp32": len(report.skipped)}
