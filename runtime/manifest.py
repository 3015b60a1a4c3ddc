"""The bundle manifest as typed dataclasses (schema version :data:`SCHEMA_VERSION`), and the questions the
runtime and the factory ask of it.

``manifest.json`` (written by the factory, read through :func:`runtime.bundle.load_manifest`) is loaded once,
strictly, with :func:`runtime.config.from_mapping` into :class:`Manifest`: an unknown or missing key, a wrong
type or an out-of-range value is a one-line :class:`~runtime.errors.UserError` naming the key path
(``manifest.json: models.rpi4b-160-int8.input_sise: unknown key (known: ...)``). Shape::

    Manifest          classes, models {NAME: ModelSpec}, profiles {DEVICE: DeviceProfile},
                      devices {DEVICE: DeviceInfo}, objectness (ObjectnessSection | None),
                      factory (FactoryInfo | None), schema_version, checksum
    ModelSpec         backbone, input_size (px), precision, kind, files / sha256 (ModelFiles / ModelHashes),
                      input_blob, output_blobs, mean / std (0–255 scale), colour, pad_value, decode
                      (DecodeParams), macs, params, task (detection | keypoints; absent = detection),
                      keypoints (KeypointInfo: names, body slots, skeleton, sigmas, input_hw, stride)
    DeviceProfile     estimated, threads, source, models {NAME: ProfileRow (latency_ms, memory_mb, accuracy, ...)}

A model is named ``(backbone, input_size, precision)``, e.g. ``rpi4b-240-int8`` (CONVENTIONS.md). Keypoint
models (issue 16) sit beside the detectors with ``task: keypoints``; every helper that lists models for the
detection pipeline (kinds, models_of_kind, listed_models, models_served_by) lists only its ``task``
(default detection), so a bundle with keypoint models runs detection unchanged. Consumers
ask the :class:`Manifest` helpers (:meth:`Manifest.profile`, :meth:`Manifest.models_served_by`,
:meth:`Manifest.latency_ms`, ...) rather than walking the sections themselves.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from runtime.config import bounded, from_mapping, key_path, to_mapping
from runtime.decode import decode
from runtime.errors import UserError
from runtime.keypoints import KeypointInfo

if TYPE_CHECKING:
    from runtime.patches.objectness import ObjectnessModel

SCHEMA_VERSION = 1
Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def network_of(name: str) -> str:
    """A model name less its precision (CONVENTIONS: a model is ``backbone-side-precision``): the network its
    precision variants share, ``rpi4b-240`` for ``rpi4b-240-int8``; a name without such a suffix is its own."""
    stem, _, precision = name.rpartition("-")
    return stem if stem and precision in PRECISIONS else name


def asked_models(served: Iterable[str], asked: Iterable[str]) -> set[str]:
    """The models of ``served`` (one device's) that answer a request for ``asked``: those named, else the same
    networks in another precision (:func:`network_of`), else none (the caller falls back to its own choice)."""
    served, asked = set(served), set(asked)
    named = served & asked
    if named:
        return named
    networks = {network_of(m) for m in asked}
    return {m for m in served if network_of(m) in networks}


_DECODE_DEFAULTS = {n: p.default for n, p in inspect.signature(decode).parameters.items() if p.default is not p.empty}


def _required(help: str = "", **bounds: float) -> Any:
    """A dataclass field without a default (a required manifest key), with a description and bounds."""
    return field(metadata={"help": help, **bounds})


def _at(where: str, *keys: object) -> str:
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
            raise UserError(f"{_at(where, 'servable_px')}: expected [lo, hi] px with 0 <= lo < hi, "
                            f"got {self.servable_px}")
        if any(v == 0 for v in self.std):
            raise UserError(f"{_at(where, 'std')}: must be non-zero")
        if (self.task == "keypoints") != (self.keypoints is not None):
            raise UserError(f"{_at(where, 'keypoints')}: required exactly when task is keypoints (task {self.task})")
        if len(self.decode.strides) != len(self.output_blobs):
            raise UserError(f"{_at(where, 'decode', 'strides')}: expected one stride per output blob "
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


@dataclass(frozen=True)
class Manifest:
    """A bundle's ``manifest.json`` (the export folder's ``models.json`` is one without profiles)."""

    classes: list[str]
    models: dict[str, ModelSpec]
    profiles: dict[str, DeviceProfile] = field(default_factory=dict)
    devices: dict[str, DeviceInfo] = field(default_factory=dict)
    objectness: ObjectnessSection | None = None
    factory: FactoryInfo | None = None
    schema_version: int = SCHEMA_VERSION
    checksum: str = ""  # sha256 of the canonical JSON of everything else

    def validate(self, where: str) -> None:
        """Cross-section checks (called by the loader): classes named, profile rows of known models."""
        if not self.classes or not all(self.classes):
            raise UserError(f"{_at(where, 'classes')}: expected a non-empty list of names")
        for device, profile in self.profiles.items():
            for name in profile.models:
                if name not in self.models:
                    raise UserError(f"{_at(where, 'profiles', device, 'models', name)}: not a model of this bundle")

    # ------------------------------------------------------------------ models

    def model(self, name: str) -> ModelSpec:
        """The spec of model ``name``; an unknown name is a one-line error listing the bundle's models."""
        if name not in self.models:
            raise UserError(f"model {name!r} is not in the bundle (have: {', '.join(self.models)})")
        return self.models[name]

    def models_of_task(self, task: str) -> list[str]:
        """The models of ``task`` (detection | keypoints), in manifest order."""
        if task not in TASKS:
            raise UserError(f"task {task!r}: expected one of {', '.join(TASKS)}")
        return [n for n, s in self.models.items() if s.task == task]

    def kinds(self, task: str = "detection") -> dict[str, str]:
        """Model name → kind (``mini`` | ``baseline``) of the models of ``task``."""
        return {name: self.models[name].kind for name in self.models_of_task(task)}

    def check_mini(self, name: str, where: str) -> None:
        """UserError ``{where} '{name}' is not a mini model of the bundle (have: ...)`` unless ``name`` is one."""
        if self.kinds().get(name) != "mini":
            raise UserError(f"{where} {name!r} is not a mini model of the bundle "
                            f"(have: {', '.join(self.models_of_kind('mini'))})")

    def models_of_kind(self, kind: str, task: str = "detection") -> list[str]:
        """The models of ``kind`` and ``task``, by ascending input side (px), models of one side in manifest order
        (the baseline is exported at several sides, each in every precision: ``baseline-320-fp32``, ...)."""
        return sorted((n for n in self.models_of_task(task) if self.models[n].kind == kind),
                      key=lambda n: self.models[n].input_size)

    def variant(self, name: str, precision: str) -> str | None:
        """The model with the same kind, backbone and input side as ``name`` in ``precision``, or None."""
        spec = self.models[name]
        for other, s in self.models.items():
            if (s.task, s.kind, s.backbone, s.input_size, s.precision) == (spec.task, spec.kind, spec.backbone,
                                                                            spec.input_size, precision):
                return other
        return None

    def resized(self, name: str, size: int) -> Manifest:
        """A copy in which model ``name`` letterboxes to ``size`` px (a fully convolutional network runs at any
        side)."""
        spec = dataclasses.replace(self.model(name), input_size=int(size))
        return dataclasses.replace(self, models={**self.models, name: spec})

    # ------------------------------------------------------------------ profiles and devices

    def profile(self, device: str) -> DeviceProfile | None:
        """``device``'s profile, or None when the bundle has none."""
        return self.profiles.get(device)

    def row(self, device: str, model: str) -> ProfileRow | None:
        """The profile row of ``model`` on ``device``, or None."""
        profile = self.profiles.get(device)
        return None if profile is None else profile.models.get(model)

    def latency_ms(self, device: str, model: str) -> float | None:
        """t of ``model`` on ``device`` from its profile (ms), or None when not profiled."""
        row = self.row(device, model)
        return None if row is None else row.latency_ms

    def latency_or_estimate(self, device: str, model: str, host_ms: float | None = None
                            ) -> tuple[float | None, str]:
        """t of ``model`` on ``device`` (ms) and where it comes from: the device's profile row (``profile``);
        else the measured ``host`` row scaled by the FLOPS ratio host / device (``devices.*.flops``, as the
        profile stage estimates); else ``host_ms`` (measured by the caller on this host) scaled the same way
        (× 1 when a FLOPS figure is missing). ``(None, "none")`` when none applies (a bundle built before the
        profile stage rowed keypoint models has none for them)."""
        t = self.latency_ms(device, model)
        if t is not None:
            return t, "profile"
        host_flops = self.devices["host"].flops if "host" in self.devices else 0.0
        dev_flops = self.devices[device].flops if device in self.devices else 0.0
        ratio = host_flops / dev_flops if host_flops > 0 and dev_flops > 0 else 1.0
        how = f"x {ratio:.4g} (FLOPS ratio host/{device})" if ratio != 1.0 else "x 1 (no FLOPS ratio)"
        host = self.profiles.get("host")
        if device != "host" and host is not None and not host.estimated and model in host.models:
            return host.models[model].latency_ms * ratio, f"host profile row {how}"
        if host_ms is not None:
            return host_ms * (1.0 if device == "host" else ratio), f"measured on this host {how}"
        return None, "none"

    def latencies(self, device: str) -> dict[str, float]:
        """Model → t (ms) of ``device``'s profile; empty without one."""
        profile = self.profiles.get(device)
        return {} if profile is None else profile.latencies()

    def accuracy(self, device: str, model: str) -> float:
        """α of ``model`` on ``device``; for a device without that row the mean over the devices that profile it
        (accuracy belongs to the model, not the host), else 0."""
        row = self.row(device, model)
        if row is not None:
            return row.accuracy
        values = [p.models[model].accuracy for p in self.profiles.values() if model in p.models]
        return float(np.mean(values)) if values else 0.0

    def model_accuracy(self, model: str) -> float:
        """α of ``model`` from the bundle's rows, measured rows first (in profile order), else 0."""
        rows = sorted((p.models[model] for p in self.profiles.values() if model in p.models),
                      key=lambda r: r.estimated)
        return rows[0].accuracy if rows else 0.0

    def known_devices(self) -> set[str]:
        """Devices named in ``devices`` or ``profiles``."""
        return set(self.devices) | set(self.profiles)

    def listed_models(self, device: str, task: str = "detection") -> list[str]:
        """The ``task`` models ``device``'s profile lists, else those its ``devices`` entry serves."""
        profile, info = self.profiles.get(device), self.devices.get(device)
        listed = list(profile.models) if profile else []
        ours = set(self.models_of_task(task))
        return [m for m in (listed or (info.serves if info else [])) if m in ours]

    def models_served_by(self, device: str, override: Sequence[str] | None = None, task: str = "detection"
                         ) -> list[str]:
        """Models of ``task`` a server on ``device`` serves: ``override`` if given, else the bundle's
        ``devices.serves`` plus the baseline models profiled on that device, else every model profiled there,
        else every model — for keypoints (not profiled yet) every model in the device's precision, else every
        one (always only models of ``task``; an override naming another task's model is an error)."""
        ours = self.models_of_task(task)
        if override:
            for name in override:
                if name not in self.models:
                    raise UserError(f"server models: {name!r} is not in the bundle (have: {', '.join(self.models)})")
                if name not in ours:
                    raise UserError(f"server models: {name!r} is a {self.models[name].task} model, not {task}")
            return list(override)
        known = set(ours)
        profiled = list(self.profiles[device].models) if device in self.profiles else []
        serves = list(self.devices[device].serves) if device in self.devices else []
        if serves and (task == "detection" or any(m in known for m in serves)):
            serves += [m for m in profiled if m in known and self.models[m].kind == "baseline" and m not in serves]
            return [m for m in serves if m in known]
        listed = [m for m in profiled if m in known]
        if listed or task == "detection":
            return listed or ours
        # keypoint models not profiled yet: those in the device's precision, else every one
        precision = self.devices[device].precision if device in self.devices else None
        return [m for m in ours if self.models[m].precision == precision] or ours

    def objectness_model(self) -> ObjectnessModel | None:
        """The patch generator's model M from the ``objectness`` section, or None when the bundle has none."""
        return None if self.objectness is None else self.objectness.model()


def parse_manifest(data: Mapping[str, Any], where: str) -> Manifest:
    """Typed, strict load of a manifest mapping of the current schema (no checksum or file checks);
    ``where`` prefixes every error (a file name ending in ``:``)."""
    return from_mapping(Manifest, data, where)
