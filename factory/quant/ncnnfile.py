"""Reading and writing ncnn ``.param`` / ``.bin`` pairs layer by layer (what ``ncnn2int8`` does internally).

A ``.param`` file is a magic line (7767517), a ``layers blobs`` count line, then one line per layer::

    Type  name  n_bottom n_top  bottom... top...  k=v ...      (array values: -23300-k=n,v1,..,vn)

The ``.bin`` file holds the layers' weights in layer order, each array as ncnn's ``ModelBin::load(w, type)``
reads it: ``type 0`` arrays start with a 4-byte tag (0 = float32, 0x01306B47 = float16, 0x000D4B38 = int8,
data padded to 4 bytes); ``type 1`` arrays are raw float32. :data:`WEIGHT_LAYOUT` says, per layer type, which
arrays a layer stores; a layer type with weights that is not listed there is an error, never a silent
misread of the rest of the file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.atomic import atomic_open
from runtime.errors import UserError

MAGIC = 7767517
TAG_FP32 = 0
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38


def _p(layer: Layer, key: int, default: int = 0) -> int:
    return int(float(layer.params.get(key, default)))


# Layer type -> function(layer) -> list of (array name, element count, ModelBin type).
WEIGHT_LAYOUT: dict[str, Callable[[Layer], list[tuple[str, int, int]]]] = {
    "Convolution": lambda ly: [("weight", _p(ly, 6), 0)] + ([("bias", _p(ly, 0), 1)] if _p(ly, 5) else []),
    "ConvolutionDepthWise": lambda ly: [("weight", _p(ly, 6), 0)] + ([("bias", _p(ly, 0), 1)] if _p(ly, 5) else []),
    "Deconvolution": lambda ly: [("weight", _p(ly, 6), 0)] + ([("bias", _p(ly, 0), 1)] if _p(ly, 5) else []),
    "DeconvolutionDepthWise": lambda ly: [("weight", _p(ly, 6), 0)] + ([("bias", _p(ly, 0), 1)] if _p(ly, 5) else []),
    "InnerProduct": lambda ly: [("weight", _p(ly, 2), 0)] + ([("bias", _p(ly, 0), 1)] if _p(ly, 1) else []),
    "BatchNorm": lambda ly: [(k, _p(ly, 0), 1) for k in ("slope", "mean", "var", "bias")],
    "Scale": lambda ly: ([("scale", _p(ly, 0), 1)] if _p(ly, 0) != -233 else [])
    + ([("bias", _p(ly, 0), 1)] if _p(ly, 1) else []),
    "PReLU": lambda ly: [("slope", _p(ly, 0), 1)],
    "MemoryData": lambda ly: [("data", max(_p(ly, 0), 1) * max(_p(ly, 1), 1) * max(_p(ly, 11), 1) * max(_p(ly, 2), 1),
                               1)],
    "InstanceNorm": lambda ly: [(k, _p(ly, 0), 1) for k in ("gamma", "beta")] if _p(ly, 2, 1) else [],
    "GroupNorm": lambda ly: [(k, _p(ly, 1), 1) for k in ("gamma", "beta")] if _p(ly, 3, 1) else [],
    "LayerNorm": lambda ly: [(k, _p(ly, 0), 1) for k in ("gamma", "beta")] if _p(ly, 2, 1) else [],
}
# Layer types known to carry no weights (anything else not in WEIGHT_LAYOUT is refused).
NO_WEIGHTS = {"Input", "Split", "Concat", "Crop", "Slice", "ReLU", "Sigmoid", "Clip", "Swish", "HardSwish",
              "HardSigmoid", "TanH", "Mish", "ELU", "GELU", "SELU", "Softmax", "Pooling", "Eltwise", "BinaryOp",
              "UnaryOp", "Interp", "Reshape", "Permute", "Flatten", "Padding", "Noop", "Dropout", "Exp", "Log",
              "Power", "ShuffleChannel", "Packing", "Quantize", "Dequantize", "Requantize", "Reduction",
              "Squeeze", "ExpandDims", "Tile", "Cast", "PixelShuffle", "Reorg", "Threshold", "AbsVal", "Bias",
              "Erf", "CopyTo"}


@dataclass
class Layer:
    """One layer line of a ``.param`` file with its weight arrays (name → (ndarray, tag))."""

    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, str]
    weights: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)

    def line(self) -> str:
        """The layer's ``.param`` line."""
        head = f"{self.type:<24} {self.name:<24} {len(self.bottoms)} {len(self.tops)}"
        blobs = " ".join(self.bottoms + self.tops)
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        return " ".join(p for p in (head, blobs, params) if p)


@dataclass
class NcnnModel:
    """A parsed ncnn model: its layers in file order and the number of blobs."""

    layers: list[Layer]
    blob_count: int

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def input_blobs(self) -> list[str]:
        """Top blobs of the ``Input`` layers."""
        return [t for layer in self.layers if layer.type == "Input" for t in layer.tops]

    def output_blobs(self) -> list[str]:
        """Blobs produced but consumed by no layer, in file order."""
        consumed = {b for layer in self.layers for b in layer.bottoms}
        return [t for layer in self.layers for t in layer.tops if t not in consumed]


def _parse_params(tokens: list[str], where: str) -> dict[int, str]:
    params: dict[int, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise UserError(f"{where}: bad parameter {token!r}")
        params[int(key)] = value
    return params


def _read_array(data: memoryview, offset: int, count: int, kind: int, where: str) -> tuple[np.ndarray, int, int]:
    """One array at ``offset``: (values as float32 or int8, tag, new offset)."""
    if kind == 1:
        end = offset + 4 * count
        if end > len(data):
            raise UserError(f"{where}: .bin ends early")
        return np.frombuffer(data[offset:end], dtype="<f4").copy(), TAG_FP32, end
    if offset + 4 > len(data):
        raise UserError(f"{where}: .bin ends early")
    (tag,) = struct.unpack_from("<I", data, offset)
    offset += 4
    if tag == TAG_FP32:
        dtype, size = "<f4", 4 * count
    elif tag == TAG_FP16:
        dtype, size = "<f2", 2 * count
    elif tag == TAG_INT8:
        dtype, size = "i1", count
    else:
        raise UserError(f"{where}: weight tag {tag:#x} is not supported (float32, float16 or int8 expected)")
    end = offset + size
    if end > len(data):
        raise UserError(f"{where}: .bin ends early")
    values = np.frombuffer(data[offset:end], dtype=dtype).copy()
    return (values if tag == TAG_INT8 else values.astype(np.float32)), tag, end + (-size) % 4


def read_ncnn(param: str | Path, weights: str | Path) -> NcnnModel:
    """Parse ``param`` and walk ``weights`` into per-layer arrays (a one-line error on anything unknown)."""
    param, weights = Path(param), Path(weights)
    lines = [ln.split() for ln in param.read_text().splitlines() if ln.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise UserError(f"{param}: not an ncnn param file (magic {MAGIC} missing)")
    n_layers, n_blobs = (int(v) for v in lines[1])
    data = memoryview(weights.read_bytes())
    layers: list[Layer] = []
    offset = 0
    for tokens in lines[2:2 + n_layers]:
        kind, name, nb, nt = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        where = f"{param}: layer {name} ({kind})"
        layer = Layer(kind, name, tokens[4:4 + nb], tokens[4 + nb:4 + nb + nt],
                      _parse_params(tokens[4 + nb + nt:], where))
        if kind in WEIGHT_LAYOUT:
            for array, count, how in WEIGHT_LAYOUT[kind](layer):
                values, tag, offset = _read_array(data, offset, count, how, where)
                layer.weights[array] = (values, tag)
            for array, count in int8_scale_arrays(layer):
                values, _, offset = _read_array(data, offset, count, 1, where)
                layer.weights[array] = (values, TAG_FP32)
        elif kind not in NO_WEIGHTS:
            raise UserError(f"{where}: layer type not supported by the int8 writer")
        layers.append(layer)
    if len(layers) != n_layers:
        raise UserError(f"{param}: {n_layers} layers announced, {len(layers)} found")
    if offset != len(data):
        raise UserError(f"{weights}: {len(data) - offset} bytes left after the last layer (layout mismatch)")
    return NcnnModel(layers, n_blobs)


def _write_array(out: bytearray, values: np.ndarray, tag: int, kind: int) -> None:
    if kind == 1:
        out += np.asarray(values, dtype="<f4").tobytes()
        return
    out += struct.pack("<I", tag)
    if tag == TAG_FP32:
        raw = np.asarray(values, dtype="<f4").tobytes()
    elif tag == TAG_FP16:
        raw = np.asarray(values, dtype="<f2").tobytes()
    elif tag == TAG_INT8:
        raw = np.asarray(values, dtype="i1").tobytes()
    else:
        raise ValueError(f"tag {tag:#x}")
    out += raw + b"\0" * ((-len(raw)) % 4)


def int8_scale_arrays(layer: Layer) -> list[tuple[str, int]]:
    """The scale arrays an int8 layer (``8=`` set) stores after its weights: (name, count)."""
    term = _p(layer, 8)
    if not term or layer.type not in ("Convolution", "ConvolutionDepthWise", "InnerProduct"):
        return []
    # weight scales: depthwise 8=1|101 one per group (7=), 8=2|102 a single one; otherwise one per output (0=)
    per = (_p(layer, 7, 1) if term % 100 == 1 else 1) if layer.type == "ConvolutionDepthWise" else _p(layer, 0)
    return [("weight_scales", per), ("bottom_scales", 1)] + ([("top_scales", 1)] if term > 100 else [])


def write_ncnn(model: NcnnModel, param: str | Path, weights: str | Path) -> None:
    """Write ``model`` as ``param`` / ``weights``. Int8 layers (``8=`` set) get their scales appended after
    their own arrays, as ncnn's loaders read them: ``weight_scales`` then ``bottom_scales``."""
    text = [str(MAGIC), f"{len(model.layers)} {model.blob_count}"] + [layer.line() for layer in model.layers]
    out = bytearray()
    for layer in model.layers:
        if layer.type not in WEIGHT_LAYOUT:
            continue
        for array, _count, how in WEIGHT_LAYOUT[layer.type](layer):
            values, tag = layer.weights[array]
            _write_array(out, values, tag, how)
        for extra, _count in int8_scale_arrays(layer):
            _write_array(out, layer.weights[extra][0], TAG_FP32, 1)
    with atomic_open(param) as handle:
        handle.write("\n".join(text) + "\n")
    with atomic_open(weights, "wb") as handle:
        handle.write(bytes(out))
