"""The bundle manifest as typed dataclasses (schema version :data:`SCHEMA_VERSION`), and the questions the
runtime and the factory ask of it.

``manifest.json`` (written by the factory, read through :func:`runtime.bundle.load_manifest`) is loaded once,
strictly, with :func:`runtime.config.from_mapping` into :class:`Manifest`: an unknown or missing key, a wrong
type or an out-of-range value is a one-line :class:`~runtime.errors.UserError` naming the key path
(``manifest.json: models.rpi4b-160-int8.input_sise: unknown key (known: ...)``). The sections are in
:mod:`runtime.manifest_sections`. Shape::

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.config import from_mapping
from runtime.errors import UserError
from runtime.manifest_sections import (
    PRECISIONS,
    TASKS,
    DecodeParams,
    DeviceInfo,
    DeviceProfile,
    FactoryInfo,
    ModelFiles,
    ModelHashes,
    ModelSpec,
    ObjectnessFit,
    ObjectnessSection,
    Precision,
    ProfileRow,
    Task,
    key_at,
)

if TYPE_CHECKING:
    from runtime.patches.objectness import ObjectnessModel

SCHEMA_VERSION = 1


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
            raise UserError(f"{key_at(where, 'classes')}: expected a non-empty list of names")
        for device, profile in self.profiles.items():
            for name in profile.models:
                if name not in self.models:
                    raise UserError(f"{key_at(where, 'profiles', device, 'models', name)}: not a model of this bundle")

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


__all__ = [
    "SCHEMA_VERSION",
    "Manifest",
    "asked_models",
    "network_of",
    "parse_manifest",
    "DecodeParams",
    "DeviceInfo",
    "DeviceProfile",
    "FactoryInfo",
    "ModelFiles",
    "ModelHashes",
    "ModelSpec",
    "ObjectnessFit",
    "ObjectnessSection",
    "PRECISIONS",
    "Precision",
    "ProfileRow",
    "TASKS",
    "Task",
]
