"""The bundle manifest: schema version, checksum and file hashes are enforced with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.bundle import file_sha256, load_manifest, write_manifest
from runtime.errors import UserError


def make_bundle(tmp_path: Path) -> Path:
    (tmp_path / "m.param").write_text("7767517\n")
    (tmp_path / "m.bin").write_bytes(b"\x00" * 16)
    model = {"backbone": "host", "input_size": 240, "precision": "fp32", "kind": "mini",
             "files": {"param": "m.param", "bin": "m.bin"},
             "sha256": {"param": file_sha256(tmp_path / "m.param"), "bin": file_sha256(tmp_path / "m.bin")},
             "input_blob": "in0", "output_blobs": ["out0"], "mean": [0, 0, 0], "std": [1, 1, 1],
             "colour": "rgb", "pad_value": 114, "decode": {"strides": [8]}, "macs": 1, "params": 1}
    write_manifest(tmp_path, {"classes": ["person", "vehicle"], "models": {"host-240-fp32": model},
                              "profiles": {"host": {"estimated": False, "models": {
                                  "host-240-fp32": {"latency_ms": 3.0, "memory_mb": 5.0, "accuracy": 0.8}}}}})
    return tmp_path


def test_valid_bundle_loads(tmp_path: Path) -> None:
    manifest = load_manifest(make_bundle(tmp_path))
    assert manifest["models"]["host-240-fp32"]["input_size"] == 240


def test_tampered_bin_is_refused_naming_the_file(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    (tmp_path / "m.bin").write_bytes(b"\x01" * 16)
    with pytest.raises(UserError, match=r"m\.bin: sha256 mismatch"):
        load_manifest(tmp_path)


def test_missing_file_and_unknown_schema_and_hand_edit(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    (tmp_path / "m.param").unlink()
    with pytest.raises(UserError, match=r"m\.param: missing model file"):
        load_manifest(tmp_path)
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["classes"].append("bicycle")
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="checksum mismatch"):
        load_manifest(tmp_path, check_files=False)
    data["schema_version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="schema_version 99"):
        load_manifest(tmp_path, check_files=False)
