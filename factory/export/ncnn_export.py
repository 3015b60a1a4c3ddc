"""pnnx export of a detector to an ncnn ``.param``/``.bin`` pair, and the manifest entry that describes it.

pnnx traces the module on a 1×3×S×S input and runs its graph passes (``optlevel=2``: constant folding,
operator fusion — conv+BN, conv+activation —, dead-code elimination, Split insertion) before writing ncnn
files. ``fp16=False`` keeps float32 weights (the int8 writer's input); ``fp16=True`` stores them as float16
(half the .bin; ncnn computes in fp32 or fp16 as the device allows).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from factory.models.detector import spec_colour
from factory.quant.ncnnfile import read_ncnn
from runtime.bundle import file_sha256
from runtime.errors import UserError


@dataclass
class NcnnFiles:
    """An exported model: its files and blob names."""

    param: Path
    bin: Path
    input_blob: str
    output_blobs: list[str]


@contextlib.contextmanager
def _quiet(log_file: Path) -> Iterator[Path]:
    """Send this process's stdout/stderr file descriptors (pnnx prints its passes from C++) to ``log_file``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_file, "w") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's warnings about constant shapes
                yield log_file
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def blob_names(param: str | Path, weights: str | Path) -> tuple[str, list[str]]:
    """(input blob, output blobs in output order) of an ncnn model."""
    model = read_ncnn(param, weights)
    inputs = model.input_blobs()
    if len(inputs) != 1:
        raise UserError(f"{param}: expected one input blob, found {inputs}")
    outputs = model.output_blobs()
    if all(o.startswith("out") and o[3:].isdigit() for o in outputs):  # pnnx: out0, out1, ... = output order
        outputs.sort(key=lambda o: int(o[3:]))
    return inputs[0], outputs


class FixedSize(nn.Module):
    """A detector's deployed ``forward`` at one square input size, its padding and cropping as constants.

    ``Detector.forward_train`` computes the padding to the backbone's multiple from the traced input shape;
    pnnx folds that shape arithmetic wrongly (a 240 input was cropped to 224 instead of padded to 256).
    Here the amounts are Python ints, so the traced graph is static; the parity check compares the ncnn
    result with the original module's ``forward``.
    """

    def __init__(self, detector: nn.Module, size: int) -> None:
        super().__init__()
        self.detector = detector
        self.size = int(size)
        self.pad = (-self.size) % int(getattr(detector, "pad_multiple", 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = self.detector
        if self.pad:
            x = F.pad(x, (0, self.pad, 0, self.pad))
        outs = []
        for head, feat, stride in zip(d.heads, d.neck(d.backbone(x)), d.strides, strict=False):
            cls, box = head(feat)
            n = self.size // stride
            outs.append(torch.cat([cls[..., :n, :n].sigmoid(), box[..., :n, :n]], dim=1))
        return tuple(outs)


def export_ncnn(model: nn.Module, input_size: int | tuple[int, int], out_dir: str | Path, stem: str, fp16: bool,
                optlevel: int = 2) -> NcnnFiles:
    """Export ``model`` (eval mode; input ``input_size`` px: a square side, or ``(height, width)``) to
    ``out_dir/stem.param`` and ``.bin``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import pnnx

    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    model = FixedSize(model.eval(), h) if hasattr(model, "heads") else model.eval()
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with tempfile.TemporaryDirectory(prefix="paraloupe-pnnx-") as tmp:
        pt = Path(tmp) / "model.pt"
        with torch.no_grad(), _quiet(Path(tmp) / "pnnx.log") as log_file:
            try:
                pnnx.export(model, str(pt), (x,), fp16=fp16, optlevel=optlevel)
            except Exception as exc:  # noqa: BLE001 - pnnx/torch.jit raise many kinds
                raise UserError(f"pnnx export of {stem} failed: {type(exc).__name__}: {exc}") from None
        param, weights = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if not (param.is_file() and weights.is_file()):
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] if log_file.exists() else []
            raise UserError(f"pnnx wrote no ncnn files for {stem} ({tail[0] if tail else 'no log'})")
        shutil.move(str(param), out_dir / f"{stem}.param")
        shutil.move(str(weights), out_dir / f"{stem}.bin")
    param, weights = out_dir / f"{stem}.param", out_dir / f"{stem}.bin"
    input_blob, outputs = blob_names(param, weights)
    return NcnnFiles(param, weights, input_blob, outputs)


def manifest_entry(spec: dict[str, Any], backbone: str, input_size: int, precision: str,
                   files: NcnnFiles, root: str | Path, macs: int, params: int, pad_value: int) -> dict[str, Any]:
    """The bundle manifest's ``models.NAME`` entry of an exported detector (file paths relative to ``root``)."""
    root = Path(root)
    decode = {"strides": list(spec["strides"]), **spec["decode"]}
    return {"backbone": backbone, "input_size": int(input_size), "precision": precision, "kind": spec["kind"],
            "files": {"param": files.param.relative_to(root).as_posix(), "bin": files.bin.relative_to(root).as_posix()},
            "sha256": {"param": file_sha256(files.param), "bin": file_sha256(files.bin)},
            "input_blob": files.input_blob, "output_blobs": list(files.output_blobs),
            "mean": [float(v) for v in spec["mean"]], "std": [float(v) for v in spec["std"]],
            "colour": spec_colour(spec), "pad_value": int(pad_value), "decode": decode,
            "macs": int(macs), "params": int(params)}
