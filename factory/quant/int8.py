"""Post-training int8 quantization of an fp32 ncnn model, written in ncnn's own int8 format.

What ``ncnn2int8`` writes (ncnn ``tools/quantize``), reproduced here because the tool ships in neither the
pip wheel nor Debian: for each quantized ``Convolution`` / ``ConvolutionDepthWise`` / ``InnerProduct``

- the weights become int8 (tag 0x000D4B38), quantized per output channel (per group for depthwise) with
  scale ``127 / max|w|``;
- the layer line gets ``8=2`` (convolution, fully connected) or ``8=1`` (depthwise);
- after the bias come the float32 weight scales, then one float32 ``bottom_blob_int8_scale`` (127 / the
  calibrated threshold of the layer's input, see :mod:`factory.quant.calibrate`).

When ``ncnn2table`` and ``ncnn2int8`` are on PATH, :func:`quantize_with_ncnn_tools` uses them instead.
Layers can be kept in fp32 (``skip``): ncnn's int8 kernels only pay off where the layer's arithmetic
outweighs the per-layer quantize/dequantize of its input and output.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.quant.calibrate import Method, calibrate
from factory.quant.ncnnfile import TAG_INT8, Layer, NcnnModel, read_ncnn, write_ncnn
from runtime.errors import UserError

QUANTIZABLE = {"Convolution": "2", "ConvolutionDepthWise": "1", "InnerProduct": "2"}


@dataclass
class QuantReport:
    """What was quantized: layer names, skipped layers with the reason, and the input scales used."""

    quantized: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    bottom_scales: dict[str, float] = field(default_factory=dict)
    fused: list[str] = field(default_factory=list)  # layers that output int8 (requantized)
    tool: str = "paraloupe"


def weight_scales(weights: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel int8 weights and scales ``127 / max|w|`` (1 where a channel is all zero)."""
    w = np.asarray(weights, dtype=np.float32).reshape(channels, -1)
    absmax = np.abs(w).max(axis=1)
    scales = np.where(absmax > 0, 127.0 / np.maximum(absmax, 1e-30), 1.0).astype(np.float32)
    q = np.clip(np.round(w * scales[:, None]), -127, 127).astype(np.int8)
    return q.reshape(-1), scales


def _channels(layer: Layer) -> int:
    if layer.type == "ConvolutionDepthWise":
        return int(layer.params.get(7, 1))
    return int(layer.params[0])


def _skip_reason(layer: Layer, skip_depthwise: bool, min_weights: int, skip: Sequence[str]) -> str | None:
    if layer.name in skip:
        return "listed in skip"
    if int(float(layer.params.get(8, 0))):
        return "already int8"
    if layer.weights["weight"][1] == TAG_INT8:
        return "already int8"
    if layer.type == "ConvolutionDepthWise":
        if skip_depthwise:
            return "depthwise (kept fp32)"
        group, out = int(layer.params.get(7, 1)), int(layer.params[0])
        if group != out:
            return "grouped convolution (not depthwise)"
    per_channel = layer.weights["weight"][0].size // _channels(layer)
    if per_channel < min_weights:
        return f"{per_channel} weights per output channel < {min_weights}"
    return None


def plan(model: NcnnModel, skip_depthwise: bool = False, min_weights: int = 0,
         skip: Sequence[str] = ()) -> tuple[list[Layer], dict[str, str]]:
    """The layers to quantize and the skipped ones with a reason."""
    chosen, skipped = [], {}
    for layer in model.layers:
        if layer.type not in QUANTIZABLE:
            continue
        reason = _skip_reason(layer, skip_depthwise, min_weights, skip)
        if reason:
            skipped[layer.name] = reason
        else:
            chosen.append(layer)
    return chosen, skipped


def quantize_ncnn(param: str | Path, weights: str | Path, out_param: str | Path, out_weights: str | Path,
                  input_blob: str, inputs: Sequence[np.ndarray], method: Method = "kl", percentile: float = 99.99,
                  kl_step: int = 4, skip_depthwise: bool = False, min_weights: int = 0,
                  skip: Sequence[str] = (), requantize: bool = False) -> QuantReport:
    """Quantize the fp32 model ``param``/``weights`` to int8 (see the module docstring), calibrating the
    activations on ``inputs`` ((3, S, S) float32, preprocessed as at inference)."""
    model = read_ncnn(param, weights)
    for layer in model.layers:
        if layer.type in QUANTIZABLE and layer.weights["weight"][1] not in (0,):
            raise UserError(f"{param}: layer {layer.name}: int8 needs an fp32 export (export with fp16=False)")
    chosen, skipped = plan(model, skip_depthwise, min_weights, skip)
    blobs = sorted({layer.bottoms[0] for layer in chosen})
    scales = calibrate(param, weights, input_blob, blobs, inputs, method, percentile, kl_step) if blobs else {}
    for layer in chosen:
        q, ws = weight_scales(layer.weights["weight"][0], _channels(layer))
        layer.weights["weight"] = (q, TAG_INT8)
        layer.weights["weight_scales"] = (ws, 0)
        layer.weights["bottom_scales"] = (np.array([scales[layer.bottoms[0]]], dtype=np.float32), 0)
        layer.params[8] = QUANTIZABLE[layer.type]
    fused = _fuse_requantize(model, chosen) if requantize else []
    write_ncnn(model, out_param, out_weights)
    return QuantReport([layer.name for layer in chosen], skipped,
                       {layer.name: float(layer.weights["bottom_scales"][0][0]) for layer in chosen}, fused)


def _consumers(model: NcnnModel) -> dict[str, list[Layer]]:
    """Blob → the layers that read it, looking through ``Split`` layers (which only share the blob)."""
    direct: dict[str, list[Layer]] = {}
    for layer in model.layers:
        for b in layer.bottoms:
            direct.setdefault(b, []).append(layer)

    def resolve(blob: str) -> list[Layer]:
        out = []
        for layer in direct.get(blob, []):
            out += [c for t in layer.tops for c in resolve(t)] if layer.type == "Split" else [layer]
        return out

    return {blob: resolve(blob) for blob in direct}


def _fuse_requantize(model: NcnnModel, chosen: list[Layer]) -> list[str]:
    """Let an int8 layer whose output feeds only int8 layers emit int8 directly (``8=10x``, top scale = the
    consumers' input scale), saving a dequantize + quantize pair per edge."""
    quantized = {id(layer) for layer in chosen}
    consumers = _consumers(model)
    fused = []
    for layer in chosen:
        users = consumers.get(layer.tops[0], [])
        if not users or not all(id(u) in quantized for u in users):
            continue
        if int(layer.params.get(9, 0)) not in (0, 1):  # requantize fuses only none / ReLU here
            continue
        scale = float(users[0].weights["bottom_scales"][0][0])
        for u in users:
            u.weights["bottom_scales"] = (np.array([scale], dtype=np.float32), 0)
        layer.weights["top_scales"] = (np.array([scale], dtype=np.float32), 0)
        layer.params[8] = str(100 + int(layer.params[8]))
        fused.append(layer.name)
    return fused


def ncnn_tools() -> tuple[str, str] | None:
    """Paths of ``ncnn2table`` and ``ncnn2int8`` when both are on PATH."""
    table, int8 = shutil.which("ncnn2table"), shutil.which("ncnn2int8")
    return (table, int8) if table and int8 else None


def quantize_with_ncnn_tools(tools: tuple[str, str], param: str | Path, weights: str | Path, out_param: str | Path,
                             out_weights: str | Path, images: Sequence[np.ndarray], size: int, mean: Sequence[float],
                             std: Sequence[float], colour: str, method: Method = "kl") -> QuantReport:
    """ncnn's own ``ncnn2table`` (calibration on ``images``: letterboxed BGR uint8 canvases of ``size``) then
    ``ncnn2int8``. Percentile calibration is not one of ncnn2table's methods: it falls back to KL."""
    table_tool, int8_tool = tools
    import cv2

    with tempfile.TemporaryDirectory(prefix="paraloupe-ncnn2table-") as tmp:
        tmp_dir = Path(tmp)
        listing = []
        for i, image in enumerate(images):
            path = tmp_dir / f"{i:05d}.png"
            cv2.imwrite(str(path), image)
            listing.append(str(path))
        (tmp_dir / "images.txt").write_text("\n".join(listing) + "\n")
        table = tmp_dir / "model.table"
        fmt = lambda v: "[" + ",".join(f"{x:g}" for x in v) + "]"  # noqa: E731
        cmd = [table_tool, str(param), str(weights), str(tmp_dir / "images.txt"), str(table),
               f"mean={fmt(mean)}", f"norm={fmt([1.0 / s for s in std])}", f"shape=[{size},{size},3]",
               f"pixel={'RGB' if colour == 'rgb' else 'BGR'}", "thread=1",
               f"method={'aciq' if method == 'maxabs' else 'kl'}"]
        for step in (cmd, [int8_tool, str(param), str(weights), str(out_param), str(out_weights), str(table)]):
            run = subprocess.run(step, capture_output=True, text=True)
            if run.returncode != 0:
                raise UserError(f"{Path(step[0]).name} failed ({run.returncode}): {run.stderr.strip()[-300:]}")
    return QuantReport(tool="ncnn2table+ncnn2int8")
