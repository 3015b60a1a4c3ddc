"""ncnn inference of one bundle model on one image — everything from the manifest, nothing hard-coded.

Pipeline for a BGR uint8 image (a patch or a whole frame) of any size::

    colour (manifest "colour": rgb|bgr) → Letterbox.fit(w, h, input_size).apply(pad_value)
    → (pixel − mean) / std (0–255 scale, manifest) → CHW float32 → ncnn (input_blob → output_blobs)
    → runtime.decode.decode(outputs, **manifest "decode", manifest "classes") → boxes in input pixels
    → Letterbox.boxes_to_source → clipped to the image → :class:`Inference` (detections in image px, infer_ms)

ncnn's options follow the model's manifest ``precision`` (:func:`precision_options`), not ncnn's defaults
(which, on ARM, store and compute an fp32 model in fp16): ``fp32`` runs in fp32; ``fp16`` turns fp16
storage, packing and arithmetic on; ``int8`` turns int8 inference on (its non-quantized layers run in fp32).

``decode`` in the manifest (:class:`runtime.manifest.DecodeParams`) holds ``strides`` (one per output blob) and
the other keywords of :func:`runtime.decode.decode` (score_threshold, top_k, nms_iou, max_detections); the
loader has already refused unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.decode import decode
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.geometry import Letterbox, clip_boxes
from runtime.manifest import PRECISIONS, Manifest
from runtime.timing import Stopwatch

_FP16 = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic")
_INT8 = ("use_int8_inference", "use_int8_storage", "use_int8_packed", "use_int8_arithmetic")
_BF16 = ("use_bf16_storage", "use_bf16_packed")


def precision_options(precision: str) -> dict[str, bool]:
    """The ``ncnn.Option`` flags for a model stored in ``precision`` (fp32 | fp16 | int8): fp16 flags on only
    for fp16, int8 flags only for int8, bf16 always off."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    flags = {name: precision == "fp16" for name in _FP16}
    flags.update({name: precision == "int8" for name in _INT8})
    flags.update({name: False for name in _BF16})
    return flags


def load_net(param: str | Path, weights: str | Path, precision: str, threads: int = 1, what: str = "") -> Any:
    """An ``ncnn.Net`` of ``param`` / ``weights`` on ``threads`` CPU threads with the flags of ``precision``
    (:func:`precision_options`; a flag an older ncnn lacks keeps its default); a file ncnn cannot load is a
    one-line error naming ``param`` (and ``what``, e.g. the model's name)."""
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = int(threads)
    net.opt.use_vulkan_compute = False
    for flag, value in precision_options(precision).items():
        if hasattr(net.opt, flag):  # an older ncnn without bf16/int8-packing flags: its default stays
            setattr(net.opt, flag, value)
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise UserError(f"{param}: ncnn cannot load {what or 'it'}")
    return net


@dataclass
class Inference:
    """One image through a detector: its ``detections`` in the image's own pixels and ``infer_ms``, the wall
    time of preprocessing, network and decoding (ms, this host)."""

    detections: Detections
    infer_ms: float = 0.0


class Detector:
    """One manifest model loaded in ncnn. ``threads``: ncnn CPU threads."""

    def __init__(self, bundle_dir: str | Path, name: str, manifest: Manifest, threads: int = 1) -> None:
        import ncnn

        spec = manifest.model(name)
        self.name = name
        self.spec = spec
        self.classes = list(manifest.classes)
        self.size = spec.input_size
        self.input_hw = (spec.input_size, spec.input_size)  # network input (height, width) px
        self.input_blob = spec.input_blob
        self.output_blobs = list(spec.output_blobs)
        self.mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 1, 3)
        self.std = np.asarray(spec.std, dtype=np.float32).reshape(1, 1, 3)
        self.colour = spec.colour
        self.pad_value = spec.pad_value
        self.precision = spec.precision
        self.strides = list(spec.decode.strides)
        self.decode_params = spec.decode.options()
        bundle_dir = Path(bundle_dir)
        self.net = load_net(bundle_dir / spec.files.param, bundle_dir / spec.files.bin, self.precision, threads,
                            f"model {name}")
        self._ncnn = ncnn

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The (3, S, S) float32 network input of a BGR uint8 image and the letterbox used."""
        import cv2

        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if self.colour == "rgb":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        box = Letterbox.fit(image.shape[1], image.shape[0], self.size)
        x = (box.apply(image, self.pad_value).astype(np.float32) - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(2, 0, 1)), box

    def raw(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the network on a preprocessed (3, S, S) input; one array per output blob."""
        ex = self.net.create_extractor()
        ex.input(self.input_blob, self._ncnn.Mat(x))
        outs = []
        for blob in self.output_blobs:
            ret, mat = ex.extract(blob)
            if ret != 0:
                raise UserError(f"model {self.name}: ncnn could not extract blob {blob!r}")
            outs.append(np.array(mat))
        return outs

    def __call__(self, image: np.ndarray, min_score: float | None = None) -> Inference:
        """Detections of a BGR uint8 image (H, W, 3) in its own pixels, timed; ``min_score`` lowers the model's
        score threshold for this call (None or higher: the manifest's threshold)."""
        watch = Stopwatch()
        x, box = self.preprocess(image)
        outs = self.raw(x)
        for i, out in enumerate(outs):
            if out.ndim != 3 or out.shape[0] != len(self.classes) + 4:
                raise UserError(f"model {self.name}: output {i} has shape {out.shape}, expected "
                                f"({len(self.classes) + 4}, H, W) for {len(self.classes)} classes")
        params = self.decode_params
        if min_score is not None and min_score < params["score_threshold"]:
            params = {**params, "score_threshold": float(min_score)}
        dets = decode(outs, self.strides, self.classes, **params)
        boxes = clip_boxes(box.boxes_to_source(dets.boxes), image.shape[1], image.shape[0])
        keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        return Inference(Detections(boxes, dets.labels, dets.scores).select(keep), watch.ms)


def time_model(detector: Any, runs: int = 5, warmup: int = 2) -> float:
    """Median latency (ms) of ``detector`` (a :class:`Detector` or a keypoint model: anything with ``input_hw``
    called on a BGR image) on a mid-grey image of its input size on this host."""
    image = np.full((*detector.input_hw, 3), 127, dtype=np.uint8)
    times = []
    for i in range(warmup + runs):
        with Stopwatch() as watch:
            detector(image)
        if i >= warmup:
            times.append(watch.ms)
    return float(np.median(times))


def load_detectors(bundle_dir: str | Path, manifest: Manifest, names: list[str],
                   threads: int = 1) -> dict[str, Detector]:
    """Several models of one bundle by name."""
    return {name: Detector(bundle_dir, name, manifest, threads) for name in names}
