"""An ONNX COCO detector described by data (:class:`DetectorSpec`), run with onnxruntime.

The spec says how to feed the model (input name and size, RGB/BGR, value range, mean/std, NHWC/NCHW,
stretch or letterbox resize) and how to read its output:

- ``xyxy_score_class``: [1, N, 6] rows ``x1, y1, x2, y2, score, class`` in input pixels (or 0–1 with
  ``boxes_normalized``), e.g. the teacher (:data:`factory.paths.TEACHER_MODEL`) or a YOLO export with
  built-in NMS;
- ``yolo``: raw YOLO heads, [1, N, 4+1+C] (v5/v7: cx, cy, w, h, objectness, C class scores) or
  [1, 4+C, N] (v8 and later: no objectness), boxes in input pixels.

Detections are cut at ``min_score`` and pass a class-wise greedy NMS (IoU ``nms_iou``), then are mapped
back to frame pixels as ``[x, y, w, h]`` and labelled with the detector's class names
(:class:`runtime.detections.Detections`). :data:`PRESETS` holds ready specs (``teacher-centernet``,
``yolo``). Mapping COCO classes onto ParaLoupe's classes (CONVENTIONS.md) is :func:`class_map`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from runtime.config import bounded, from_mapping
from runtime.detections import Detections
from runtime.errors import UserError
from runtime.geometry import Letterbox, rects_to_boxes

COCO80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]
"""COCO-80 class names in the detectors' index order (index i ↔ COCO-style category id i + 1 here)."""

DEFAULT_CLASSES = {"person": ["person"], "vehicle": ["car", "truck", "bus", "motorcycle"]}
"""ParaLoupe class → detector class names (CONVENTIONS.md: vehicle = car, truck, bus, motorcycle)."""


@dataclass
class DetectorSpec:
    """How to run one ONNX detector; the defaults describe the teacher (``teacher-centernet``)."""

    input_name: str = "tower_0/images:0"  # model input to feed ("" = the model's first input)
    output_name: str = "tower_0/detections:0"  # output to read ("" = the model's first output)
    input_width: int = bounded(512, "model input width, pixels", ge=1)
    input_height: int = bounded(512, "model input height, pixels", ge=1)
    layout: Literal["nhwc", "nchw"] = "nhwc"  # input tensor layout
    channels: Literal["rgb", "bgr"] = "rgb"  # channel order the model expects
    value_range: Literal["0-255", "0-1"] = "0-255"  # pixel scale before mean/std
    mean: list[float] = bounded([0.0, 0.0, 0.0], "subtracted per channel (after value_range scaling)")
    std: list[float] = bounded([1.0, 1.0, 1.0], "divides per channel (after mean)")
    resize: Literal["stretch", "letterbox"] = "stretch"  # whole frame stretched, or letterboxed (square)
    pad_value: int = bounded(114, "letterbox padding value (0-255)", ge=0, le=255)
    output: Literal["xyxy_score_class", "yolo"] = "xyxy_score_class"  # output layout, see module doc
    boxes_normalized: bool = False  # xyxy_score_class boxes in 0-1 of the input instead of pixels
    class_names: list[str] | None = None  # the model's class names in index order (None = COCO-80)
    nms_iou: float = bounded(0.5, "class-wise NMS IoU threshold", gt=0.0, le=1.0)
    threads: int = bounded(1, "onnxruntime intra-op threads (0 = onnxruntime's default; 1 suits a shared CPU)",
                           ge=0)

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        if len(self.mean) != 3 or len(self.std) != 3 or any(s == 0 for s in self.std):
            raise UserError(f"{where}: mean and std need 3 values each, std non-zero")
        if self.resize == "letterbox" and self.input_width != self.input_height:
            raise UserError(f"{where}.resize: letterbox needs a square input, got "
                            f"{self.input_width}x{self.input_height}")

    @property
    def names(self) -> list[str]:
        """The model's class names in index order."""
        return list(self.class_names) if self.class_names is not None else list(COCO80)


PRESETS: dict[str, DetectorSpec] = {
    "teacher-centernet": DetectorSpec(),
    # A YOLO export (ultralytics/YOLOv5/v7 style): NCHW RGB 0-1, 640 letterbox, raw heads.
    "yolo": DetectorSpec(input_name="", output_name="", input_width=640, input_height=640, layout="nchw",
                         channels="rgb", value_range="0-1", resize="letterbox", output="yolo"),
}


def spec_from_mapping(data: Mapping[str, object] | None, where: str) -> DetectorSpec:
    """A :class:`DetectorSpec` from a params mapping (unknown keys rejected by name)."""
    return from_mapping(DetectorSpec, data, where)


def class_map(names: list[str], classes: Mapping[str, list[str]]) -> dict[int, str]:
    """Detector class index → ParaLoupe class for the classes named in ``classes`` (others absent)."""
    index = {n: i for i, n in enumerate(names)}
    out: dict[int, str] = {}
    for target, sources in classes.items():
        for name in sources:
            if name not in index:
                raise UserError(f"classes.{target}: {name!r} is not a class of the detector")
            out[index[name]] = target
    return out


def nms_classwise(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS run per class (boxes ``[x1, y1, x2, y2]``), in descending score."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    for cls in np.unique(classes):
        idx = order[classes[order] == cls]
        while idx.size:
            i = idx[0]
            keep.append(int(i))
            rest = idx[1:]
            if not rest.size:
                break
            xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
            yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
            xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
            yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
            inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_r = (boxes[rest, 2] - boxes[rest, 0]) * (boxes[rest, 3] - boxes[rest, 1])
            ious = inter / np.maximum(area_i + area_r - inter, 1e-12)
            idx = rest[ious <= iou]
    keep_arr = np.array(keep, dtype=np.int64)
    return keep_arr[np.argsort(-scores[keep_arr], kind="stable")] if keep_arr.size else keep_arr


def decode_output(out: np.ndarray, spec: DetectorSpec, where: str = "output"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw model output in ``spec.output`` layout → (boxes ``x1, y1, x2, y2`` in input pixels, scores, class
    indices), uncut and before NMS. A shape the layout cannot read is a UserError naming ``where``."""
    out = np.asarray(out, dtype=np.float32)
    if out.ndim == 3 and out.shape[0] == 1:
        out = out[0]
    if out.ndim != 2:
        raise UserError(f"{where}: shape {list(out.shape)} cannot be read as layout '{spec.output}'")
    if spec.output == "xyxy_score_class":
        if out.shape[1] != 6:
            raise UserError(f"{where}: layout xyxy_score_class needs [1, N, 6], got {list(out.shape)}")
        boxes = out[:, :4].astype(np.float64)
        if spec.boxes_normalized:
            boxes *= [spec.input_width, spec.input_height, spec.input_width, spec.input_height]
        return boxes, out[:, 4].astype(np.float64), out[:, 5].astype(np.int64)
    nc = len(spec.names)
    if out.shape[0] in (4 + nc, 5 + nc) and out.shape[1] not in (4 + nc, 5 + nc):
        out = out.T  # [4+C, N] (YOLOv8 and later) → [N, 4+C]
    if out.shape[1] == 5 + nc:
        cls_scores = out[:, 5:] * out[:, 4:5]
    elif out.shape[1] == 4 + nc:
        cls_scores = out[:, 4:]
    else:
        raise UserError(f"{where}: layout yolo with {nc} classes needs [1, N, {4 + nc}|{5 + nc}] or "
                        f"[1, {4 + nc}, N], got {list(out.shape)}")
    classes = cls_scores.argmax(axis=1) if len(cls_scores) else np.zeros(0, dtype=np.int64)
    scores = cls_scores[np.arange(len(classes)), classes]
    cx, cy, w, h = (out[:, i].astype(np.float64) for i in range(4))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, scores.astype(np.float64), classes.astype(np.int64)


class Detector:
    """An onnxruntime session plus its :class:`DetectorSpec`: ``detector(frame_bgr) -> Detections`` (boxes in
    frame pixels, labels ``spec.names``, by descending score)."""

    def __init__(self, model: str | Path, spec: DetectorSpec, min_score: float = 0.2) -> None:
        import onnxruntime as ort

        model = Path(model)
        if not model.is_file():
            raise UserError(f"{model}: model not found")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if spec.threads:
            options.intra_op_num_threads = spec.threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise UserError(f"{model}: cannot load ONNX model ({str(exc).splitlines()[0][:160]})") from None
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = spec.input_name or next(iter(inputs))
        self.output_name = spec.output_name or outputs[0]
        if self.input_name not in inputs:
            raise UserError(f"{model}: no input named {spec.input_name!r} (inputs: {', '.join(inputs)})")
        if self.output_name not in outputs:
            raise UserError(f"{model}: no output named {spec.output_name!r} (outputs: {', '.join(outputs)})")
        self.model = model
        self.spec = spec
        self.min_score = float(min_score)
        scale = 1.0 if spec.value_range == "0-255" else 1.0 / 255.0
        self._scale = np.float32(scale)
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self._std = np.asarray(spec.std, dtype=np.float32)

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, Letterbox | None]:
        """The input tensor for a BGR uint8 frame, and the letterbox used (None when stretched)."""
        import cv2

        spec = self.spec
        image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if spec.channels == "rgb" else frame
        box = None
        if spec.resize == "letterbox":
            box = Letterbox.fit(frame.shape[1], frame.shape[0], spec.input_width)
            image = box.apply(image, spec.pad_value)
        else:
            image = cv2.resize(image, (spec.input_width, spec.input_height), interpolation=cv2.INTER_LINEAR)
        x = image.astype(np.float32)
        if self._scale != 1.0:
            x *= self._scale
        if self._mean.any() or (self._std != 1.0).any():
            x = (x - self._mean) / self._std
        if spec.layout == "nchw":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None]), box

    def decode(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw output → (boxes ``x1, y1, x2, y2`` in input pixels, scores, class indices), uncut."""
        return decode_output(out, self.spec, f"{self.model}: output {self.output_name}")

    def __call__(self, frame: np.ndarray) -> Detections:
        """Detect on one BGR uint8 frame: score ≥ ``min_score``, class-wise NMS, boxes in frame pixels."""
        x, box = self.preprocess(frame)
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        boxes, scores, classes = self.decode(out)
        ok = scores >= self.min_score
        boxes, scores, classes = boxes[ok], scores[ok], classes[ok]
        keep = nms_classwise(boxes, scores, classes, self.spec.nms_iou)
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        xywh = rects_to_boxes(boxes)
        if box is not None:
            xywh = box.boxes_to_source(xywh)
        else:
            sx = frame.shape[1] / self.spec.input_width
            sy = frame.shape[0] / self.spec.input_height
            xywh = xywh * [sx, sy, sx, sy]
        return Detections(xywh, [self.spec.names[int(c)] for c in classes], scores)


def with_overrides(spec: DetectorSpec, **changes: object) -> DetectorSpec:
    """A copy of ``spec`` with ``changes`` (e.g. ``threads=1``)."""
    return dataclasses.replace(spec, **changes)
