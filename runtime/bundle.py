"""The deployment bundle: model files plus a versioned, hash-checked ``manifest.json``.

The factory writes it; the runtime learns everything about models from it (files, blob names, input size,
normalisation, colour order, decoding parameters, classes, device profiles, objectness weights) — nothing
about a model is hard-coded in ``runtime/``.

Schema (version :data:`SCHEMA_VERSION`)::

    {"schema_version": 1, "classes": ["person", "vehicle"],
     "factory": {"git_commit": str, "params_sha256": str, "created": ISO time},
     "models": {NAME: {"backbone": str, "input_size": int, "precision": "fp32"|"fp16"|"int8",
                       "kind": "mini"|"baseline", "files": {"param": rel path, "bin": rel path},
                       "sha256": {"param": hex, "bin": hex}, "input_blob": str, "output_blobs": [str],
                       "mean": [3 floats], "std": [3 floats], "colour": "rgb"|"bgr", "pad_value": int,
                       "decode": {...}, "macs": int, "params": int}},
     "profiles": {DEVICE: {"estimated": bool, "threads": int, "source": str,
                           "models": {NAME: {"latency_ms": float, "memory_mb": float, "accuracy": float}}}},
     "devices": {DEVICE: {"flops": float, "serves": [NAME], "cost": float}},
     "objectness": {...},
     "checksum": sha256 of the canonical JSON of everything else}

``checksum`` makes a hand-edited manifest detectable; every model file is checked against its sha256.
Model names follow CONVENTIONS.md: ``(backbone, input_size, precision)``, e.g. ``rpi4b-240-int8``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtime.atomic import write_json
from runtime.errors import UserError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "fp16", "int8")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_checksum(manifest: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the manifest without its ``checksum``."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_manifest(bundle_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Stamp the schema version and checksum and write ``manifest.json`` atomically."""
    manifest = dict(manifest)
    manifest["schema_version"] = SCHEMA_VERSION
    manifest["checksum"] = manifest_checksum(manifest)
    target = Path(bundle_dir) / MANIFEST
    write_json(target, manifest, indent=1)
    return target


def _require(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise UserError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise UserError(f"{where}.{key}: unexpected value {value!r}")
    return value


def load_manifest(bundle_dir: str | Path, check_files: bool = True) -> dict[str, Any]:
    """Read and validate ``bundle_dir/manifest.json``.

    Checks the schema version, the checksum, every model's fields and — with ``check_files`` — that every
    model file exists and matches its sha256. Errors are one-line :class:`UserError` naming file and field.
    """
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no manifest (is {bundle_dir} a bundle?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: not a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(f"{path}: schema_version {version!r} is not supported (this runtime reads {SCHEMA_VERSION})")
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise UserError(f"{path}: checksum mismatch (the manifest was edited by hand or is corrupt)")
    classes = _require(manifest, "classes", list, str(path))
    if not classes or not all(isinstance(c, str) for c in classes):
        raise UserError(f"{path}: classes: expected a non-empty list of names")
    models = _require(manifest, "models", dict, str(path))
    for name, model in models.items():
        where = f"{path}: models.{name}"
        if not isinstance(model, dict):
            raise UserError(f"{where}: expected an object")
        _require(model, "input_size", int, where)
        if _require(model, "precision", str, where) not in PRECISIONS:
            raise UserError(f"{where}.precision: {model['precision']!r} is not one of {', '.join(PRECISIONS)}")
        _require(model, "input_blob", str, where)
        _require(model, "output_blobs", list, where)
        _require(model, "decode", dict, where)
        for key in ("mean", "std"):
            if len(_require(model, key, list, where)) != 3:
                raise UserError(f"{where}.{key}: expected 3 values")
        files = _require(model, "files", dict, where)
        hashes = _require(model, "sha256", dict, where)
        for role in ("param", "bin"):
            rel = _require(files, role, str, f"{where}.files")
            if check_files:
                file = bundle_dir / rel
                if not file.is_file():
                    raise UserError(f"{file}: missing model file of {name}")
                if file_sha256(file) != _require(hashes, role, str, f"{where}.sha256"):
                    raise UserError(f"{file}: sha256 mismatch (tampered or corrupt file of {name})")
    for device, profile in (manifest.get("profiles") or {}).items():
        where = f"{path}: profiles.{device}"
        for name, row in _require(profile, "models", dict, where).items():
            if name not in models:
                raise UserError(f"{where}.models.{name}: not a model of this bundle")
            for key in ("latency_ms", "accuracy"):
                value = _require(row, key, (int, float), f"{where}.models.{name}")
                if not value >= 0:
                    raise UserError(f"{where}.models.{name}.{key}: must be >= 0, got {value}")
    return manifest
