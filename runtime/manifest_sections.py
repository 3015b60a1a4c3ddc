"""The sections of the bundle manifest (:class:`runtime.manifest.Manifest`) as typed, frozen dataclasses: a
model's spec (files, hashes, preprocessing, decoding), a device's profile rows, a target device, the objectness
model M, the factory's provenance. Loaded strictly by :func:`runtime.config.from_mapping` (unknown or missing key,
wrong type, out-of-range value: a one-line error naming the key path)."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from runtime.config import bounded, key_path, to_mapping
from runtime.decode import decode
from runtime.errors import UserError
from runtime.keypoints import KeypointInfo

if TYPE_CHECKING:
    from runtime.patches.objectness import ObjectnessModel

Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

_DECODE_DEFAULTS = {n: p.default for n, p in inspect.signature(decode).parameters.items() if p.default is not p.empty}


def _required(help: str = "", **bounds: float) -> Any:
    """A dataclass field without a default (a required manifest key), with a description and bounds."""
    return field(metadata={"help": help, **bounds})


def key_at(where: str, *keys: object) -> str:
    """``where`` extended by ``keys``, one path step each (``manifest.json: models.NAME.decode``)."""
    for key in keys:
        where = key_path(where, key)
    return where


@dataclass(frozen=True)
class ModelFiles:
    """A model's ncnn files, paths relative to the bundle folder."""

    param: str
    bin: str

    def items(self) -> tuple[tuple[str, str], ...]:
        """``(role, relative path)`` of both files: ``("param", ...), ("bin", ...)``."""
        return ("param", self.param), ("bin", self.bin)


@dataclass(frozen=True)
class ModelHashes:
    """Hex sha256 of a model's two files."""

    param: str
    bin: str


@dataclass(frozen=True)
class DecodeParams:
    """Decoding of the raw outputs (:func:`runtime.decode.decode`); absent keys take that function's defaults."""

    strides: list[int] = _required("stride of each output blob, input px per cell", gt=0)
    score_threshold: float = bounded(_DECODE_DEFAULTS["score_threshold"], "lowest score kept", ge=0, le=1)
    top_k: int = bounded(_DECODE_DEFAULTS["top_k"], "(cell, class) pairs kept per level", ge=1)
    nms_iou: float = bounded(_DECODE_DEFAULTS["nms_iou"], "class-wise NMS IoU", ge=0, le=1)
    max_detections: int = bounded(_DECODE_DEFAULTS["max_detections"], "boxes kept per image", ge=1)

    def options(self) -> dict[str, Any]:
        """The keywords of :func:`runtime.decode.decode` other than ``strides`` (and ``classes``, the manifest's)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "strides"}


Task = Literal["detection", "keypoints"]
TASKS: tuple[str, ...] = get_args(Task)


@dataclass(frozen=True)
class ModelSpec:
    """One model (``models.NAME``): files, blobs, preprocessing and decoding."""

    backbone: str  # alias of the searched backbone (``rpi4b``), or ``baseline``
    input_size: int = _required("square input side S (px)", gt=0)
    precision: Precision = _required("storage and arithmetic of the ncnn files")
    kind: Literal["mini", "baseline"] = _required("mini detector (patches) or whole-frame baseline")
    files: ModelFiles = _required("the .param / .bin files")
    sha256: ModelHashes = _required("their hex sha256")
    input_blob: str = _required("ncnn input blob name")
    output_blobs: list[str] = _required("ncnn output blob names, one per feature level")
    mean: tuple[float, float, float] = _required("per-channel mean, 0–255 pixel scale")
    std: tuple[float, float, float] = _required("per-channel std, 0–255 pixel scale")
    colour: Literal["rgb", "bgr"] = _required("channel order the network expects")
    pad_value: int = _required("letterbox padding grey level (0–255)", ge=0, le=255)
    decode: DecodeParams = _required("decoding of the outputs")
    macs: int = _required("multiply-accumulates of one inference", ge=0)
    params: int = _required("network parameters", ge=0)
    servable_px: list[float] | None = bounded(None, "minis: [lo, hi] longer object side at the input (px) where "
                                                    "its recall on the held-out patch set is >= 0.8 (export "
                                                    "stage); None: not measured, the runtime's default applies")
    task: Task = "detection"  # what the outputs are; every detection consumer asks for detection models only
    keypoints: KeypointInfo | None = None  # task keypoints: the keypoint convention and decoding

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the loader)."""
        if self.servable_px is not None and (len(self.servable_px) != 2
                                             or not 0 <= self.servable_px[0] < self.servable_px[1]):
            raise UserError(f"{key_at(where, 'servable_px')}: expected [lo, hi] px with 0 <= lo < hi, "
                            f"got {self.servable_px}")
        if any(v == 0 for v in self.std):
            raise UserError(f"{key_at(where, 'std')}: must be non-zero")
        if (self.task == "keypoints") != (self.keypoints is not None):
            raise UserError(f"{key_at(where, 'keypoints')}: required exactly when task is keypoints (task {self.task})")
        if len(self.decode.strides) != len(self.output_blobs):
            raise UserError(f"{key_at(where, 'decode', 'strides')}: expected one stride per output blob "
                            f"({len(self.output_blobs)})")


@dataclass(frozen=True)
class ProfileRow:
    """One model on one device (``profiles.DEVICE.models.NAME``, paper §III-D1)."""

    latency_ms: float = _required("t: one per-patch inference call (ms)", ge=0)
    accuracy: float = _required("α: held-out F1 (minis: in the closed loop on held-out videos)", ge=0)
    memory_mb: float = bounded(0.0, "peak memory above the process before loading (MB)", ge=0)
    estimated: bool = False  # true: scaled from host by the FLOPS ratio (``estimate`` says how)
    estimate: str | None = None
    latency_p90_ms: float | None = bounded(None, "90th percentile of the timed calls (ms)", ge=0)
    net_ms: float | None = bounded(None, "median of the ncnn forward alone (ms)", ge=0)
    runs: int | None = bounded(None, "timed runs", ge=1)
    warmup: int | None = bounded(None, "untimed runs before them", ge=0)


@dataclass(frozen=True)
class DeviceProfile:
    """One device's profile (``profiles.DEVICE``): the models it was profiled with."""

    models: dict[str, ProfileRow]
    estimated: bool  # true: rows scaled from host; false once ``paraloupe-profile`` measured it on the device
    threads: int | None = bounded(None, "ncnn threads of the measurement", ge=1)
    source: str = ""  # how the rows were made

    def latencies(self) -> dict[str, float]:
        """Model name → t (ms)."""
        return {name: row.latency_ms for name, row in self.models.items()}


@dataclass(frozen=True)
class DeviceInfo:
    """One target device (``devices.DEVICE``), from the factory's profile stage."""

    flops: float = _required("FLOPS of the device (estimates scale host latency by the ratio)", ge=0)
    serves: list[str] = _required("models a server on this device serves by default")
    cost: float = _required("initial computational cost c_i", ge=0)
    precision: Precision | None = None  # the precision that suits it
    backbone: str | None = None  # alias of its searched backbone
    serves_note: str | None = None  # why ``serves`` fell back to other backbones


@dataclass(frozen=True)
class ObjectnessFit:
    """How the factory fitted the objectness weights."""

    cells: int = _required("training cells", ge=0)
    positive_fraction: float = _required("fraction of object cells", ge=0, le=1)
    train_accuracy_balanced: float = _required("balanced accuracy on the training cells", ge=0, le=1)


@dataclass(frozen=True)
class ObjectnessSection:
    """The patch generator's prediction model M (``objectness``), read by
    :class:`runtime.patches.objectness.ObjectnessModel`."""

    weights: list[float]  # w_edge, w_diff, w_hist
    bias: float
    version: int = 1
    features: list[str] = field(default_factory=lambda: ["edge", "diff", "hist"])
    edge_scale: float | None = None
    diff_scale: float | None = None
    feature_cap: float | None = None
    fit: ObjectnessFit | None = None
    cell: int | None = bounded(None, "grid cell side the weights were fitted at (px)", ge=1)
    sub: int | None = bounded(None, "pixels per cell side of the downsampled image", ge=1)
    hist_decay: float | None = bounded(None, "f_hist decay the weights were fitted at", ge=0, le=1)

    def model(self) -> ObjectnessModel:
        """The checked :class:`~runtime.patches.objectness.ObjectnessModel` of these weights."""
        from runtime.patches.objectness import ObjectnessModel

        data = {k: v for k, v in to_mapping(self).items() if v is not None}
        return ObjectnessModel.from_dict(data, "manifest: objectness")


@dataclass(frozen=True)
class FactoryInfo:
    """Provenance of the bundle."""

    git_commit: str  # the factory's commit (``+dirty`` when tracked files differed)
    params_sha256: str  # sha256 of params.yaml
    created: str  # ISO time
