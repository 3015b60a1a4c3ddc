"""The deployment bundle: model files plus a versioned, hash-checked ``manifest.json``.

The factory writes it; the runtime learns everything about models from it (files, blob names, input size,
normalisation, colour order, decoding parameters, classes, device profiles, objectness weights) — nothing
about a model is hard-coded in ``runtime/``. The typed schema is :class:`runtime.manifest.Manifest`;
the JSON (version :data:`SCHEMA_VERSION`)::

    {"schema_version": 1, "classes": ["person", "vehicle"],
     "factory": {"git_commit": str, "params_sha256": str, "created": ISO time},
     "models": {NAME: {"backbone": str, "input_size": int, "precision": "fp32"|"fp16"|"int8",
                       "kind": "mini"|"baseline", "files": {"param": rel path, "bin": rel path},
                       "sha256": {"param": hex, "bin": hex}, "input_blob": str, "output_blobs": [str],
                       "mean": [3 floats], "std": [3 floats], "colour": "rgb"|"bgr", "pad_value": int,
                       "decode": {"strides": [int], "score_threshold": float, "top_k": int, "nms_iou": float,
                                  "max_detections": int}, "macs": int, "params": int}},
     "profiles": {DEVICE: {"estimated": bool, "threads": int, "source": str,
                           "models": {NAME: {"latency_ms": float, "memory_mb": float, "accuracy": float,
                                             "estimated": bool, ...}}}},
     "devices": {DEVICE: {"flops": float, "serves": [NAME], "cost": float, "precision": str, "backbone": str}},
     "objectness": {"version": 1, "features": [...], "weights": [3 floats], "bias": float, ...},
     "checksum": sha256 of the canonical JSON of everything else}

:func:`load_manifest` checks, in this order: JSON syntax, ``schema_version`` (a newer one is refused; an older
one is upgraded to the current schema), ``checksum`` (a hand-edited manifest is detected), the typed load (an
unknown or missing key is an error naming its path) and every model file's sha256. Errors are one line.
Model names follow CONVENTIONS.md: ``(backbone, input_size, precision)``, e.g. ``rpi4b-240-int8``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runtime.atomic import write_json
from runtime.errors import UserError
from runtime.manifest import SCHEMA_VERSION, Manifest, parse_manifest

MANIFEST = "manifest.json"

# schema_version v → the function lifting a version-v manifest mapping to version v + 1. Version 1 is the first,
# so there is none yet; a reader of version N upgrades every older manifest step by step before the typed load.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


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


def write_manifest(bundle_dir: str | Path, manifest: Mapping[str, Any]) -> Path:
    """Stamp the schema version and checksum and write ``manifest.json`` atomically; a manifest the loader
    would refuse is refused here, before writing."""
    manifest = dict(manifest)
    manifest["schema_version"] = SCHEMA_VERSION
    manifest["checksum"] = manifest_checksum(manifest)
    target = Path(bundle_dir) / MANIFEST
    parse_manifest(manifest, f"{target}:")
    write_json(target, manifest, indent=1)
    return target


def _check_version(version: Any, path: Path) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserError(f"{path}: schema_version {version!r} is not supported (this runtime reads {SCHEMA_VERSION})")
    if version > SCHEMA_VERSION:
        raise UserError(f"{path}: schema_version {version} is newer than {SCHEMA_VERSION}, the newest this runtime "
                        "reads (update the runtime)")
    if version != SCHEMA_VERSION and version not in UPGRADES:
        raise UserError(f"{path}: schema_version {version} is not supported (this runtime reads {SCHEMA_VERSION})")


def _upgraded(data: dict[str, Any], version: int) -> dict[str, Any]:
    """``data`` of schema ``version`` lifted step by step to :data:`SCHEMA_VERSION` (its checksum kept)."""
    while version < SCHEMA_VERSION:
        data = UPGRADES[version](data)
        version += 1
        data["schema_version"] = version
    return data


def read_manifest_data(bundle_dir: str | Path) -> dict[str, Any]:
    """The checked mapping of ``bundle_dir/manifest.json``: JSON parsed, schema version accepted (older ones
    upgraded to the current schema), checksum verified; not yet typed."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no manifest (is {bundle_dir} a bundle?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a JSON object")
    version = data.get("schema_version")
    _check_version(version, path)
    if data.get("checksum") != manifest_checksum(data):
        raise UserError(f"{path}: checksum mismatch (the manifest was edited by hand or is corrupt)")
    return _upgraded(data, version)


def check_model_files(bundle_dir: str | Path, manifest: Manifest) -> None:
    """Every model file exists and matches its sha256 (one-line error naming the file otherwise)."""
    bundle_dir = Path(bundle_dir)
    for name, spec in manifest.models.items():
        for role, rel in spec.files.items():
            file = bundle_dir / rel
            if not file.is_file():
                raise UserError(f"{file}: missing model file of {name}")
            if file_sha256(file) != getattr(spec.sha256, role):
                raise UserError(f"{file}: sha256 mismatch (tampered or corrupt file of {name})")


def load_manifest(bundle_dir: str | Path, check_files: bool = True) -> Manifest:
    """Read, check and type ``bundle_dir/manifest.json`` (see the module docstring for the order of checks);
    ``check_files``: also every model file's sha256."""
    data = read_manifest_data(bundle_dir)
    manifest = parse_manifest(data, f"{Path(bundle_dir) / MANIFEST}:")
    if check_files:
        check_model_files(bundle_dir, manifest)
    return manifest


def write_profile(bundle_dir: str | Path, device: str, profile: Mapping[str, Any]) -> Manifest:
    """Put ``profile`` (the ``profiles.DEVICE`` section: ``estimated``, ``threads``, ``source``, ``models``
    rows) into ``bundle_dir``'s manifest, every other key kept as written; re-hash, write, and return the
    manifest as loaded back."""
    data = read_manifest_data(bundle_dir)
    data.setdefault("profiles", {})[device] = dict(profile)
    write_manifest(bundle_dir, data)
    return load_manifest(bundle_dir, check_files=False)
