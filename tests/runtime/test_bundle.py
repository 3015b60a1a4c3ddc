"""The bundle manifest: schema version, checksum, the typed load (unknown and missing keys named) and file hashes
are enforced with one-line errors; the typed manifest answers the runtime's questions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.bundle import file_sha256, load_manifest, manifest_checksum, write_manifest, write_profile
from runtime.errors import UserError
from runtime.manifest import SCHEMA_VERSION, DecodeParams, Manifest
from tests.runtime.cluster.tiny_bundle import fake_manifest

MODEL = "host-240-fp32"


def make_bundle(tmp_path: Path) -> Path:
    (tmp_path / "m.param").write_text("7767517\n")
    (tmp_path / "m.bin").write_bytes(b"\x00" * 16)
    model = {"backbone": "host", "input_size": 240, "precision": "fp32", "kind": "mini",
             "files": {"param": "m.param", "bin": "m.bin"},
             "sha256": {"param": file_sha256(tmp_path / "m.param"), "bin": file_sha256(tmp_path / "m.bin")},
             "input_blob": "in0", "output_blobs": ["out0"], "mean": [0, 0, 0], "std": [1, 1, 1],
             "colour": "rgb", "pad_value": 114, "decode": {"strides": [8]}, "macs": 1, "params": 1}
    write_manifest(tmp_path, {"classes": ["person", "vehicle"], "models": {MODEL: model},
                              "profiles": {"host": {"estimated": False, "models": {
                                  MODEL: {"latency_ms": 3.0, "memory_mb": 5.0, "accuracy": 0.8}}}}})
    return tmp_path


def rewrite(bundle: Path, edit: Callable[[dict[str, Any]], Any], rehash: bool = True) -> None:
    """Edit ``manifest.json`` in place; with ``rehash`` its checksum is recomputed (so only the edit is wrong)."""
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    if rehash:
        data["checksum"] = manifest_checksum(data)
    path.write_text(json.dumps(data))


def load_error(bundle: Path) -> str:
    with pytest.raises(UserError) as info:
        load_manifest(bundle, check_files=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{bundle / 'manifest.json'}: ")
    return message.removeprefix(f"{bundle / 'manifest.json'}: ")


def test_valid_bundle_loads_typed(tmp_path: Path) -> None:
    manifest = load_manifest(make_bundle(tmp_path))
    assert isinstance(manifest, Manifest) and manifest.schema_version == SCHEMA_VERSION
    spec = manifest.models[MODEL]
    assert spec.input_size == 240 and spec.mean == (0.0, 0.0, 0.0) and spec.files.bin == "m.bin"
    assert spec.decode == DecodeParams(strides=[8])  # absent decoding keys: runtime.decode.decode's defaults
    assert manifest.latency_ms("host", MODEL) == 3.0 and manifest.profiles["host"].estimated is False
    assert manifest.checksum == json.loads((tmp_path / "manifest.json").read_text())["checksum"]


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


def test_misspelled_key_with_a_valid_checksum_is_named(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    rewrite(tmp_path, lambda m: m["models"][MODEL].update(input_sise=m["models"][MODEL].pop("input_size")))
    message = load_error(tmp_path)
    assert message.startswith(f"models.{MODEL}.input_sise: unknown key (known: ")
    assert "input_size" in message


def test_missing_key_with_a_valid_checksum_is_named(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    rewrite(tmp_path, lambda m: m["models"][MODEL].pop("input_blob"))
    assert load_error(tmp_path) == f"models.{MODEL}.input_blob: required key is missing"
    rewrite(tmp_path, lambda m: m["models"][MODEL].update(input_blob="in0", decode={}))
    assert load_error(tmp_path) == f"models.{MODEL}.decode.strides: required key is missing"


def _row(m: dict[str, Any]) -> dict[str, Any]:
    return m["profiles"]["host"]["models"][MODEL]


def _rename_row(m: dict[str, Any]) -> None:
    m["profiles"]["host"]["models"]["other"] = m["profiles"]["host"]["models"].pop(MODEL)


@pytest.mark.parametrize("edit, message", [
    (lambda m: _row(m).update(latency_ms=-1), f"profiles.host.models.{MODEL}.latency_ms: -1.0 must be >= 0"),
    (lambda m: _row(m).update(accuracy="high"), f"profiles.host.models.{MODEL}.accuracy: expected a number"),
    (lambda m: m["models"][MODEL].update(precision="fp8"), f"models.{MODEL}.precision: 'fp8' is not one of"),
    (lambda m: m["models"][MODEL]["decode"].update(strides=[8, 16]),
     f"models.{MODEL}.decode.strides: expected one stride per output blob"),
    (lambda m: m["models"][MODEL].update(std=[1, 0, 1]), f"models.{MODEL}.std: must be non-zero"),
    (lambda m: m["models"][MODEL].update(mean=[0, 0]), f"models.{MODEL}.mean: expected 3 items"),
    (_rename_row, "profiles.host.models.other: not a model of this bundle"),
    (lambda m: m.update(classes=[]), "classes: expected a non-empty list of names"),
    (lambda m: m["models"][MODEL].update(servable_px=[64, 16]), f"models.{MODEL}.servable_px: expected [lo, hi]"),
])
def test_bad_values_with_a_valid_checksum_are_named(tmp_path: Path, edit: Callable[[dict[str, Any]], Any],
                                                    message: str) -> None:
    make_bundle(tmp_path)
    rewrite(tmp_path, edit)
    assert load_error(tmp_path).startswith(message)


def test_a_hand_edit_is_a_checksum_error_before_the_typed_load(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    rewrite(tmp_path, lambda m: m["models"][MODEL].update(input_sise=240), rehash=False)
    assert "checksum mismatch" in load_error(tmp_path)


def test_newer_schema_version_is_refused_naming_both(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    newer = SCHEMA_VERSION + 1
    rewrite(tmp_path, lambda m: m.update(schema_version=newer, future_section={}))
    message = load_error(tmp_path)
    assert f"schema_version {newer}" in message and f"newer than {SCHEMA_VERSION}" in message
    rewrite(tmp_path, lambda m: m.update(schema_version="1"))
    assert "schema_version '1' is not supported" in load_error(tmp_path)


def test_writer_refuses_what_the_loader_would(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"manifest\.json: models\.m: expected a mapping"):
        write_manifest(tmp_path, {"classes": ["person"], "models": {"m": 1}})
    assert not (tmp_path / "manifest.json").exists()


def test_write_profile_keeps_every_other_key_and_rehashes(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    before = json.loads((tmp_path / "manifest.json").read_text())
    row = {"latency_ms": 9.0, "memory_mb": 6.0, "accuracy": 0.8, "estimated": False, "runs": 30}
    manifest = write_profile(tmp_path, "raspberry-pi-4b", {"estimated": False, "threads": 4, "models": {MODEL: row},
                                                           "source": "test"})
    after = json.loads((tmp_path / "manifest.json").read_text())
    assert after["profiles"]["raspberry-pi-4b"]["models"][MODEL] == row
    assert {k: v for k, v in after.items() if k not in ("profiles", "checksum")} == \
        {k: v for k, v in before.items() if k not in ("profiles", "checksum")}
    assert after["profiles"]["host"] == before["profiles"]["host"]
    assert manifest == load_manifest(tmp_path) and manifest.latency_ms("raspberry-pi-4b", MODEL) == 9.0


def test_manifest_helpers() -> None:
    m = fake_manifest({"mini-96": "mini", "mini-64": "mini", "base": "baseline"},
                      profiles={"pi": {"mini-64": 20.0, "base": 200.0}, "nx": {"mini-96": 5.0}},
                      serves={"pi": ["mini-64"]})
    assert m.models_of_kind("mini") == ["mini-96", "mini-64"]  # equal sides keep the bundle's order
    assert m.kinds() == {"mini-96": "mini", "mini-64": "mini", "base": "baseline"}
    assert m.models_served_by("pi") == ["mini-64", "base"]  # devices.serves + its profiled baseline
    assert m.models_served_by("nx") == ["mini-96"]  # no serves: what its profile lists
    assert m.models_served_by("phone") == ["mini-96", "mini-64", "base"]  # nothing known: every model
    assert m.models_served_by("pi", ["base"]) == ["base"]
    with pytest.raises(UserError, match="server models: 'x' is not in the bundle"):
        m.models_served_by("pi", ["x"])
    assert m.latency_ms("pi", "base") == 200.0 and m.latency_ms("nx", "base") is None
    assert m.latencies("pi") == {"mini-64": 20.0, "base": 200.0} and m.latencies("phone") == {}
    assert m.accuracy("nx", "mini-64") == 0.8 and m.accuracy("nx", "other") == 0.0
    assert m.listed_models("pi") == ["mini-64", "base"] and m.known_devices() == {"pi", "nx"}
    assert m.resized("mini-64", 128).models["mini-64"].input_size == 128 and m.models["mini-64"].input_size == 64
    assert m.objectness_model() is None
    with pytest.raises(UserError, match="model 'x' is not in the bundle"):
        m.model("x")
